"""End to end: Paynow status updates (IPNs) applied, confirmed by poll and credited exactly once,
with a Celery worker on Redis, on this machine. (It replaces ``ipn_latency.py``: the answer-time
table is here too.)

    .venv/bin/python benchmarks/ipn_applied.py [--quick | --full] [--count 500]
        [--concurrency 16] [--worker-concurrency 2] [--json PATH] [--database-url ...]

Starts, all on loopback: the Paynow emulator (its own process), our app under gunicorn with
``deploy/gunicorn.conf.py`` (3 workers) and a Celery worker as deployed (prefork, 2 processes)
on the run's Redis keys.

Before the clock starts: ``--count`` bookings (plus a few for warming up), each with a payment
form submitted through our WhatsApp Flows data endpoint with EcoCash, so each has a pending
Paynow payment started by our real path. Every payer approves in the emulator, with its own
status updates dropped (lost), so Paynow's poll URL answers ``Paid`` and no update has reached
us. Then it plays Paynow: one signed ``Paid`` update per payment (shape and hash as Paynow's
docs give them), ``--concurrency`` in flight, to /crm-api/paynow/ipn/.

Prints IPNs applied per second (first update sent to last payment successful), the answer time
(p50/p90/p99/max), and checks: every payment successful, each booking credited exactly once
(``amount_paid`` equals the one payment's amount), and the money invariant for every booking.
"""

from __future__ import annotations

import argparse
import sys
import time
from decimal import Decimal

import harness

IPN_PATH = "/crm-api/paynow/ipn/"
AMOUNT = Decimal("100.00")
FORM_HEADERS = {"Content-Type": "application/x-www-form-urlencoded", "User-Agent": "Paynow"}


def send_ipns(url: str, bodies: list[bytes], concurrency: int, deadline: float):
    return harness.run_load(
        url,
        bodies,
        concurrency,
        deadline,
        request=lambda body: (body, FORM_HEADERS),
        outcome=lambda _body, response: str(response.status_code),
    )


def successful(references: list[str]) -> int:
    from customer_data.models import Payment, PaymentStatus

    return Payment.objects.filter(reference__in=references, status=PaymentStatus.SUCCESSFUL).count()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, help="timed IPNs (one per payment)")
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--workers", type=int, default=3, help="gunicorn workers")
    parser.add_argument("--worker-concurrency", type=int, default=2, help="Celery processes")
    harness.add_common_arguments(parser)
    args = parser.parse_args()
    count = args.count or harness.size(args, 6, 500, 2000)
    warmup = harness.size(args, 2, 16, 32)
    deadline = time.monotonic() + args.deadline
    results: dict = {"benchmark": "ipn_applied", "machine_start": harness.machine_facts()}

    redis = harness.RedisRun(args.redis_url)
    redis.check()
    port, paynow_port = harness.free_port(), harness.free_port()
    site = f"http://127.0.0.1:{port}"
    paynow_url = f"http://127.0.0.1:{paynow_port}"
    processes = harness.Processes()
    db_name = None
    try:
        db_url, db_name = harness.fresh_database(args.database_url, args.db_prefix, "ipn")
        private_pem, public_pem = harness.flow_key_pair()
        env = harness.app_environment(
            db_url, site, broker_url=redis.url, cache_url=args.cache_url,
            key_prefix=redis.prefix, extra={"WHATSAPP_FLOW_PRIVATE_KEY": private_pem.decode()},
        )  # fmt: skip
        harness.setup_django(env)
        from django.core.management import call_command
        from django.db import connections

        from customer_data.models import Booking

        call_command("migrate", verbosity=0)
        harness.create_meta_config()
        harness.create_paynow_config(paynow_url + "/interface/remotetransaction")
        results["postgres"] = harness.postgres_version(db_url)
        harness.start_paynow_emulator(processes, paynow_port, deadline=deadline)
        web = harness.start_gunicorn(
            processes, "ipn-web.log", "whatsappcrm.wsgi:application", port, env,
            workers=args.workers, deadline=deadline,
        )  # fmt: skip
        setup_started = time.monotonic()
        transactions = harness.start_pending_payments(
            site, paynow_url, warmup + count, public_pem, amount=AMOUNT, deadline=deadline
        )
        results["setup_payments_per_second"] = round(
            len(transactions) / (time.monotonic() - setup_started), 1
        )
        harness.approve_silently(
            paynow_url + "/_control", [t["paynowreference"] for t in transactions], deadline
        )
        bodies = [
            harness.paynow_status_update(
                t["reference"], Decimal(t["amount"]), t["paynowreference"], t["pollurl"], "Paid"
            )
            for t in transactions
        ]
        references = [t["reference"] for t in transactions]
        worker = harness.start_worker(
            processes, "ipn-worker.log", env, concurrency=args.worker_concurrency,
            deadline=deadline,
        )  # fmt: skip
        url = site + IPN_PATH
        send_ipns(url, bodies[:warmup], args.concurrency, deadline)  # connections, caches
        harness.wait_until(lambda: successful(references[:warmup]) == warmup, deadline)

        timed = references[warmup:]
        cpu_before = harness.tree_cpu_seconds(web.pid) + harness.tree_cpu_seconds(worker.pid)
        load_before = harness.load_average()
        started = time.monotonic()
        answers = send_ipns(url, bodies[warmup:], args.concurrency, deadline)
        answered = time.monotonic()
        applied = harness.wait_until(lambda: successful(timed) == len(timed), deadline, 0.05)
        finished = time.monotonic()
        cpu_after = harness.tree_cpu_seconds(web.pid) + harness.tree_cpu_seconds(worker.pid)
        results.update(
            count=count,
            concurrency=args.concurrency,
            answer=harness.latency_summary(answers, "200"),
            answered_per_second=round(count / (answered - started), 1),
            seconds=round(finished - started, 2),
            ipns_per_second=round(count / (finished - started), 1),
            cpu_ms_per_ipn=round((cpu_after - cpu_before) * 1000 / count, 1),
            load_during=f"{load_before} -> {harness.load_average()}",
        )

        checks = {}
        done = successful(references)
        checks["every payment confirmed and successful"] = {
            "ok": applied and done == len(references),
            "detail": f"{done} of {len(references)} successful",
        }
        credited = Booking.objects.filter(payments__reference__in=references).distinct()
        wrong = [b for b in credited if b.amount_paid != AMOUNT]
        checks["each booking credited exactly once"] = {
            "ok": not wrong and credited.count() == len(references),
            "detail": f"{credited.count() - len(wrong)} bookings with amount_paid {AMOUNT}"
            + (f"; e.g. {wrong[0].booking_reference}: {wrong[0].amount_paid}" if wrong else ""),
        }
        problems = harness.money_invariant_problems()
        checks["money invariant (amount_paid = successful payments)"] = {
            "ok": not problems,
            "detail": "; ".join(problems[:3]) or f"{Booking.objects.count()} bookings",
        }
        results["checks"] = checks
        connections.close_all()
    finally:
        processes.stop_all()
        harness.drop_database(args.database_url, db_name)
        results["redis_keys_removed"] = redis.release()

    results["machine_end"] = harness.machine_facts()
    results["ok"] = all(c["ok"] for c in results["checks"].values())
    print(
        f"\nIPNs applied: {count} signed Paid updates, {args.concurrency} in flight; gunicorn "
        f"{args.workers} workers, Celery {args.worker_concurrency} processes; confirmed by poll "
        f"against the Paynow emulator (setup: {results['setup_payments_per_second']} payment "
        "forms/s through the Flows endpoint)"
    )
    print(harness.latency_header("IPN answer"))
    print(harness.latency_line("IPN answer", results["answer"]))
    print(
        f"  {results['ipns_per_second']} IPNs applied/s ({results['seconds']} s from the first "
        f"update sent to the last payment successful; answered at "
        f"{results['answered_per_second']}/s); {results['cpu_ms_per_ipn']} CPU-ms per IPN "
        f"(web + worker); load {results['load_during']}"
    )
    for name, check in results["checks"].items():
        print(f"Check {'OK    ' if check['ok'] else 'FAILED'} {name}: {check['detail']}")
    harness.write_json(args, results)
    return 0 if results["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
