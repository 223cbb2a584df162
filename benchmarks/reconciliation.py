"""Reconciliation: pending Paynow payments checked against the Paynow emulator, on this machine.

    .venv/bin/python benchmarks/reconciliation.py [--quick | --full] [--count 1000]
        [--json PATH] [--database-url ...]

Before the clock starts: ``--count`` bookings, each with a payment form submitted through our
WhatsApp Flows data endpoint with EcoCash (our app under gunicorn with ``deploy/gunicorn.conf.py``
for the set-up only), so each has a pending Paynow payment started by our real path. Half the
payers approve in the emulator with its status updates dropped (lost IPNs: only a poll can find
them); the other half have not answered yet (``Sent``). It waits until every payment is due for
its first check.

Then it runs reconciliation passes, ``manage.py reconcile_payments`` (in this process, as beat's
task runs it in a worker), one after the other until every payment has been checked once, and
prints the time of one pass, payments checked per pass and per second, and how many 60 s
reconciliation intervals the whole backlog needs. Checks: every approved payment successful and
credited exactly once, every other one still pending (not expired: the payer may yet pay), and
the money invariant for every booking.
"""

from __future__ import annotations

import argparse
import io
import math
import re
import sys
import time
from decimal import Decimal

import harness

AMOUNT = Decimal("100.00")
FIRST_CHECK_SECONDS = 31  # a new Paynow payment is first due 15-30 s after it starts
_CHECKED = re.compile(r"checked (\d+)")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, help="pending Paynow payments")
    parser.add_argument("--interval", type=float, default=60.0, help="beat's interval (seconds)")
    harness.add_common_arguments(parser)
    args = parser.parse_args()
    count = args.count or harness.size(args, 10, 1000, 10000)
    deadline = time.monotonic() + args.deadline
    results: dict = {"benchmark": "reconciliation", "machine_start": harness.machine_facts()}

    redis = harness.RedisRun(args.redis_url)
    redis.check()
    port, paynow_port = harness.free_port(), harness.free_port()
    site = f"http://127.0.0.1:{port}"
    paynow_url = f"http://127.0.0.1:{paynow_port}"
    processes = harness.Processes()
    db_name = None
    try:
        db_url, db_name = harness.fresh_database(args.database_url, args.db_prefix, "recon")
        private_pem, public_pem = harness.flow_key_pair()
        env = harness.app_environment(
            db_url, site, broker_url=redis.url, cache_url=args.cache_url,
            key_prefix=redis.prefix, extra={"WHATSAPP_FLOW_PRIVATE_KEY": private_pem.decode()},
        )  # fmt: skip
        harness.setup_django(env)
        from django.core.management import call_command
        from django.db import connections

        from customer_data.models import Booking, Payment, PaymentStatus

        call_command("migrate", verbosity=0)
        harness.create_meta_config()
        harness.create_paynow_config(paynow_url + "/interface/remotetransaction")
        results["postgres"] = harness.postgres_version(db_url)
        harness.start_paynow_emulator(processes, paynow_port, deadline=deadline)
        web = harness.start_gunicorn(
            processes, "recon-web.log", "whatsappcrm.wsgi:application", port, env,
            workers=3, deadline=deadline,
        )  # fmt: skip
        setup_started = time.monotonic()
        transactions = harness.start_pending_payments(
            site, paynow_url, count, public_pem, amount=AMOUNT, deadline=deadline
        )
        created = time.monotonic()
        results["setup_payments_per_second"] = round(count / (created - setup_started), 1)
        processes.stop(web)
        paid = [t["reference"] for t in transactions[::2]]
        waiting = [t["reference"] for t in transactions[1::2]]
        harness.approve_silently(
            paynow_url + "/_control", [t["paynowreference"] for t in transactions[::2]], deadline
        )
        time.sleep(max(0.0, created + FIRST_CHECK_SECONDS - time.monotonic()))

        passes = []
        checked = 0
        load_before = harness.load_average()
        started = time.monotonic()
        while checked < count and time.monotonic() < deadline:
            out = io.StringIO()
            began = time.monotonic()
            call_command("reconcile_payments", stdout=out)
            seconds = time.monotonic() - began
            match = _CHECKED.search(out.getvalue())
            n = int(match.group(1)) if match else 0
            passes.append({"seconds": round(seconds, 2), "checked": n})
            checked += n
            if n == 0:
                break
        elapsed = time.monotonic() - started
        per_pass = passes[0]["checked"] if passes else 0
        results.update(
            count=count,
            passes=passes,
            pass_seconds=passes[0]["seconds"] if passes else None,
            checked_per_pass=per_pass,
            seconds=round(elapsed, 2),
            payments_per_second=round(checked / elapsed, 1) if elapsed else None,
            intervals_needed=math.ceil(count / per_pass) if per_pass else None,
            interval_seconds=args.interval,
            load_during=f"{load_before} -> {harness.load_average()}",
        )

        checks = {}
        checks["every payment checked"] = {
            "ok": checked >= count,
            "detail": f"{checked} checks in {len(passes)} passes for {count} payments",
        }
        ok_paid = Payment.objects.filter(reference__in=paid, status=PaymentStatus.SUCCESSFUL)
        credited = Booking.objects.filter(payments__reference__in=paid, amount_paid=AMOUNT)
        checks["approved payments found by poll, credited exactly once"] = {
            "ok": ok_paid.count() == len(paid) and credited.count() == len(paid),
            "detail": f"{ok_paid.count()} of {len(paid)} successful, {credited.count()} "
            f"bookings with amount_paid {AMOUNT}",
        }
        still = Payment.objects.filter(reference__in=waiting, status=PaymentStatus.PENDING)
        checks["unanswered payments left pending"] = {
            "ok": still.count() == len(waiting),
            "detail": f"{still.count()} of {len(waiting)} pending",
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
        f"\nReconciliation: {count} pending Paynow payments (half paid with the IPN lost), "
        f"checked against the Paynow emulator (set-up {results['setup_payments_per_second']} "
        "payment forms/s)"
    )
    print(
        f"  one pass: {results['pass_seconds']} s for {results['checked_per_pass']} payments; "
        f"all {count}: {len(results['passes'])} passes, {results['seconds']} s, "
        f"{results['payments_per_second']} payments/s; at one pass per {args.interval:g} s "
        f"the backlog needs {results['intervals_needed']} intervals; load {results['load_during']}"
    )
    for name, check in results["checks"].items():
        print(f"Check {'OK    ' if check['ok'] else 'FAILED'} {name}: {check['detail']}")
    harness.write_json(args, results)
    return 0 if results["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
