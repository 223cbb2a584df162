"""Latency of Paynow's result URL (IPN) under concurrent load, on this machine.

    .venv/bin/python benchmarks/ipn_latency.py [--tasks celery|eager] [--count 200]
        [--concurrency 8] [--workers 2] [--threads 4] [--worker-concurrency 2]
        [--redis-db N] [--deadline 300] [--database-url postgres://...]

Starts, all on loopback: the Paynow emulator (its own process), our app under gunicorn
(``--workers`` processes x ``--threads`` threads, as in production) and, with ``--tasks celery``,
a Celery worker on ``redis://127.0.0.1:6379/<--redis-db>`` (the first empty database of 15..10
when not given). With ``--tasks eager`` there is no broker: the confirmation runs inside the
request, as in ``make run``.

Before the clock starts it makes ``--count`` bookings (plus a few for warming up), each with a
pending EcoCash payment started through ``PaynowService().initiate_payment`` (numbers
0772000001.., which the emulator keeps ``Sent``), approves every transaction in the emulator
with its drop-updates fault armed (so the emulator's own updates are lost and only ours arrive,
while its poll URL answers ``Paid``), and signs one ``Paid`` status update per payment as Paynow
does. Then it plays Paynow: POSTs them to /crm-api/paynow/ipn/ with ``--concurrency`` in flight.

It prints the answer time (HTTP round trip: median, p90, p99, max), and the processing time
(``PaynowStatusUpdate.processing_ms``, receipt to applied status, after the confirming poll:
median, p95, max, interpolated as the dashboard does). Finally it checks that every payment is
successful exactly once and that each booking's ``amount_paid`` equals the sum of its successful
payments: prints OK or FAILED, and exits non-zero on failure.

Bounded: a fixed number of requests, a 10 s timeout each, and a ``--deadline`` for the whole run;
everything started is stopped at the end. The database is a fresh one made for the run
(PostgreSQL on 127.0.0.1 by default; dropped afterwards); the Redis keys the run made are deleted.
Bookings have a WhatsApp contact but no WhatsApp number is configured, so the receipt is queued
and fails at once without calling Meta. The rate limit is raised for the run (one client sends
everything); its middleware still runs.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from decimal import Decimal
from urllib.parse import urlencode

import harness

IPN_PATH = "/crm-api/paynow/ipn/"
AMOUNT = Decimal("100.00")
REDIS_HOST, REDIS_PORT = "127.0.0.1", 6379
REDIS_MARKER = "bench:ipn_latency:owner"
REDIS_KEY_PATTERNS = ("celery*", "_kombu*", "unacked*", REDIS_MARKER)


# --- Paynow's side -----------------------------------------------------------------------------


def paynow_load(url: str, bodies: list[bytes], concurrency: int, deadline: float):
    """POST every body with `concurrency` in flight: [(seconds, "200" or an error), ...]."""
    headers = {"Content-Type": "application/x-www-form-urlencoded", "User-Agent": "Paynow"}
    return harness.run_load(
        url,
        bodies,
        concurrency,
        deadline,
        request=lambda body: (body, headers),
        outcome=lambda _body, response: str(response.status_code),
    )


def signed_ipn(payment) -> bytes:
    """Paynow's status update for `payment`, as the emulator would send it: `Paid`, hashed."""
    from paynow_integration.sdk import compute_hash

    fields = [
        ("reference", payment.reference),
        ("amount", f"{payment.amount:.2f}"),
        ("paynowreference", payment.paynow_reference),
        ("pollurl", payment.poll_url),
        ("status", "Paid"),
    ]
    fields.append(("hash", compute_hash(fields, harness.INTEGRATION_KEY)))
    return urlencode(fields).encode("ascii")


def summarise_answers(results: list[tuple[float, str]], concurrency: int) -> str:
    return harness.latency_row(
        "IPN answer",
        results,
        "200",
        concurrency,
        16,
        lambda results: f"no 200 answers {sorted({outcome for _, outcome in results})}",
    )


def summarise_processing(values: list[int], expected: int) -> str:
    if not values:
        return f"{'IPN processing':<16} {0:>5}   none processed (of {expected})"
    ordered = sorted(float(v) for v in values)
    ms = [
        round(v, 1)
        for v in (statistics.median(ordered), harness.percentile(ordered, 95), ordered[-1])
    ]
    return (
        f"{'IPN processing':<16} {len(values):>5} {ms[0]:>9} {ms[1]:>9} {ms[2]:>9}"
        f" {expected - len(values):>7}"
    )


# --- set-up ------------------------------------------------------------------------------------


def _claim_redis_db(wanted: int | None) -> int:
    """An empty Redis database for the broker, claimed with a marker key."""
    import redis

    for db in [wanted] if wanted is not None else range(15, 9, -1):
        client = redis.Redis(host=REDIS_HOST, port=REDIS_PORT, db=db, socket_timeout=5)
        try:
            if client.dbsize() == 0 and client.set(REDIS_MARKER, os.getpid(), nx=True):
                return db
        finally:
            client.close()
    where = f"database {wanted}" if wanted is not None else "databases 15..10"
    raise SystemExit(f"Redis {where} on {REDIS_HOST}:{REDIS_PORT} not empty; pick --redis-db")


def _release_redis_db(db: int | None) -> int:
    """Delete the keys the run made in its Redis database (broker queues, bindings, marker)."""
    if db is None:
        return 0
    import redis

    client = redis.Redis(host=REDIS_HOST, port=REDIS_PORT, db=db, socket_timeout=5)
    try:
        keys = {key for pattern in REDIS_KEY_PATTERNS for key in client.scan_iter(match=pattern)}
        return client.delete(*keys) if keys else 0
    finally:
        client.close()


def _wait_for_worker(deadline: float) -> None:
    from whatsappcrm.celery import app

    while time.monotonic() < deadline:
        if app.control.ping(timeout=0.5):
            return
        time.sleep(0.2)
    raise SystemExit("the Celery worker did not start")


def prepare(count: int, paynow_remote_url: str, deadline: float) -> list:
    """Bookings with one pending Paynow payment each, started through PaynowService."""
    from paynow_integration.services import PaynowService

    harness.create_paynow_config(paynow_remote_url)
    service = PaynowService()
    payments = []
    for n, booking in harness.create_bookings(count, "2637820"):
        if time.monotonic() > deadline:
            raise SystemExit(f"deadline passed while preparing payments ({n} of {count})")
        outcome = service.initiate_payment(
            booking, AMOUNT, "paynow_ecocash", f"0772{n + 1:06d}", "bench@example.com"
        )
        if not outcome.started:
            raise SystemExit(f"payment {n} not started: {outcome.state}: {outcome.message}")
        payments.append(outcome.payment)
    return payments


def approve_silently(control_url: str, payments: list, deadline: float) -> None:
    """Approve every transaction in the emulator while dropping its own status updates."""
    import httpx

    with httpx.Client(base_url=control_url, timeout=10) as control:
        control.post("/faults/drop-updates", json={"count": len(payments)}).raise_for_status()
        for payment in payments:
            control.post(f"/transactions/{payment.paynow_reference}/approve").raise_for_status()
        wanted = {payment.paynow_reference for payment in payments}
        while time.monotonic() < deadline:
            transactions = control.get("/transactions").json()["transactions"]
            dropped = {
                t["paynowreference"]
                for t in transactions
                if t["status"] == "Paid" and any(d["outcome"] == "dropped" for d in t["deliveries"])
            }
            if wanted <= dropped and control.get("/faults").json()["drop_updates"] == 0:
                return
            time.sleep(0.1)
    raise SystemExit("the emulator did not approve (and drop the updates of) every payment")


def wait_processed(references: list[str], deadline: float) -> bool:
    """Wait until every IPN for `references` is processed (True), or the deadline (False)."""
    from paynow_integration.models import PaynowStatusUpdate

    while time.monotonic() < deadline:
        done = PaynowStatusUpdate.objects.filter(
            source=PaynowStatusUpdate.Source.IPN, reference__in=references, processed=True
        ).count()
        if done >= len(references):
            return True
        time.sleep(0.05)
    return False


def check(payments: list) -> list[str]:
    """Every payment successful exactly once; amount_paid = sum of successful payments."""
    from django.db.models import Count, Q, Sum

    from customer_data.models import Booking, Payment, PaymentEvent, PaymentStatus
    from paynow_integration.models import PaynowStatusUpdate

    problems = []
    ids = [payment.pk for payment in payments]
    rows = Payment.objects.filter(pk__in=ids).annotate(
        successes=Count(
            "events",
            filter=Q(events__new_status=PaymentStatus.SUCCESSFUL, events__applied=True),
        )
    )
    for payment in rows:
        if payment.status != PaymentStatus.SUCCESSFUL or payment.successes != 1:
            problems.append(
                f"payment {payment.reference}: {payment.status}, "
                f"{payment.successes} applied successful transitions"
            )
    if len(rows) != len(ids):
        problems.append(f"{len(ids) - len(rows)} payments missing")
    bookings = Booking.objects.filter(payments__pk__in=ids).distinct()
    for booking in bookings:
        paid = Payment.objects.filter(booking=booking, status=PaymentStatus.SUCCESSFUL).aggregate(
            total=Sum("amount")
        )["total"] or Decimal("0.00")
        if booking.amount_paid != paid:
            problems.append(
                f"booking {booking.booking_reference}: amount_paid {booking.amount_paid} != {paid}"
            )
    updates = PaynowStatusUpdate.objects.filter(
        source=PaynowStatusUpdate.Source.IPN, reference__in=[p.reference for p in payments]
    )
    bad = updates.exclude(valid=True, processed=True, flag="", error="")
    if bad.exists():
        problems.append(f"{bad.count()} IPNs invalid, unprocessed, flagged or in error")
    if updates.count() != len(payments):
        problems.append(f"{updates.count()} IPNs stored for {len(payments)} payments")
    others = PaymentEvent.objects.filter(payment_id__in=ids, applied=True).exclude(
        new_status__in=["", PaymentStatus.PENDING, PaymentStatus.SUCCESSFUL]
    )
    if others.exists():
        problems.append(f"{others.count()} other applied transitions")
    return problems


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tasks", choices=("celery", "eager"), default="celery")
    parser.add_argument("--count", type=int, default=200, help="timed IPNs (one per payment)")
    parser.add_argument("--warmup", type=int, default=16, help="untimed IPNs sent first")
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--workers", type=int, default=2, help="gunicorn processes")
    parser.add_argument("--threads", type=int, default=4, help="gunicorn threads per process")
    parser.add_argument("--worker-concurrency", type=int, default=2, help="Celery processes")
    parser.add_argument("--redis-db", type=int, help="broker database (default: an empty one)")
    parser.add_argument("--deadline", type=float, default=300.0, help="seconds for the whole run")
    harness.add_run_arguments(parser)
    args = parser.parse_args()
    if args.serve:
        harness.serve(args.serve, args.workers, args.threads)
        return 0

    deadline = time.monotonic() + args.deadline
    count = max(1, min(args.count, 2000))
    warmup = max(0, min(args.warmup, 100))
    concurrency = max(1, min(args.concurrency, 64))
    port, paynow_port = harness.free_port(), harness.free_port()
    site_url = f"http://127.0.0.1:{port}"
    paynow_url = f"http://127.0.0.1:{paynow_port}"
    redis_db = _claim_redis_db(args.redis_db) if args.tasks == "celery" else None
    broker_url = f"redis://{REDIS_HOST}:{REDIS_PORT}/{redis_db}" if redis_db is not None else ""
    database_name = None
    processes = harness.Processes()
    try:
        database_url, database_name = harness.fresh_database(args.database_url, "bench_ipn")
        os.environ.update(harness.environment(database_url, site_url, broker_url))

        import django

        django.setup()
        from django.core.management import call_command
        from django.db import connection, connections
        from django.db.models import Max, Min

        from paynow_integration.models import PaynowStatusUpdate

        call_command("migrate", verbosity=0)
        with connection.cursor() as cursor:
            cursor.execute("SHOW server_version")
            postgres_version = cursor.fetchone()[0].split()[0]
        processes.start(
            "bench_ipn_paynow.log",
            [sys.executable, "-m", "sandbox.paynow", "--host", "127.0.0.1",
             "--port", str(paynow_port), "--integration-id", harness.INTEGRATION_ID,
             "--integration-key", harness.INTEGRATION_KEY, "--auth-email", harness.MERCHANT_EMAIL,
             "--time-scale", "0.01"],
        )  # fmt: skip
        harness.wait_for(paynow_url + "/_control/config", min(deadline, time.monotonic() + 30))
        payments = prepare(warmup + count, paynow_url + "/interface/remotetransaction", deadline)
        approve_silently(paynow_url + "/_control", payments, deadline)
        bodies = [signed_ipn(payment) for payment in payments]
        connections.close_all()

        processes.start(
            "bench_ipn_server.log",
            harness.serve_command(__file__, port, args.workers, args.threads),
        )
        if args.tasks == "celery":
            processes.start(
                "bench_ipn_worker.log",
                [sys.executable, "-m", "celery", "-A", "whatsappcrm", "worker",
                 "--loglevel", "WARNING", "--concurrency", str(args.worker_concurrency),
                 "--hostname", f"bench-ipn-{os.getpid()}@%h",
                 "--without-gossip", "--without-mingle"],
                cwd=harness.REPO / "whatsappcrm_backend",
            )  # fmt: skip
            _wait_for_worker(min(deadline, time.monotonic() + 60))
        harness.wait_for(site_url + "/healthz", min(deadline, time.monotonic() + 60))
        url = site_url + IPN_PATH

        warm_refs = [payment.reference for payment in payments[:warmup]]
        paynow_load(url, bodies[:warmup], concurrency, deadline)  # connections, caches, imports
        wait_processed(warm_refs, deadline)

        timed = payments[warmup:]
        timed_refs = [payment.reference for payment in timed]
        started = time.monotonic()
        answers = paynow_load(url, bodies[warmup:], concurrency, deadline)
        answered = time.monotonic()
        finished = wait_processed(timed_refs, deadline)
        updates = PaynowStatusUpdate.objects.filter(
            source=PaynowStatusUpdate.Source.IPN, valid=True, reference__in=timed_refs
        )
        processing = list(
            updates.filter(processing_ms__isnull=False).values_list("processing_ms", flat=True)
        )
        span = updates.aggregate(first=Min("received_at"), last=Max("processed_at"))
        problems = check(payments)
        if not finished:
            problems.insert(0, "deadline passed before every IPN was processed")
        connections.close_all()
    finally:
        processes.stop_all()
        harness.drop_database(args.database_url, database_name)
        _release_redis_db(redis_db)

    tasks = (
        f"Celery worker ({args.worker_concurrency} processes, prefork) on {broker_url}"
        if args.tasks == "celery"
        else "eager (in the request, no broker)"
    )
    print(
        f"Paynow IPN on 127.0.0.1: gunicorn {args.workers} workers x {args.threads} threads; "
        f"tasks {tasks}; PostgreSQL {postgres_version}; Paynow emulator in its own process; "
        f"{os.cpu_count()} CPUs, Python {sys.version.split()[0]}"
    )
    print(harness.latency_header("measure", 16))
    print(summarise_answers(answers, concurrency))
    print(f"{'measure':<16} {'n':>5} {'median ms':>9} {'p95 ms':>9} {'max ms':>9} {'missing':>7}")
    print(summarise_processing(processing, len(timed)))
    answer_s = answered - started
    line = f"{len(timed)} IPNs answered in {answer_s:.2f} s ({len(timed) / answer_s:.0f}/s)"
    if finished and span["first"] and span["last"]:
        applied_s = (span["last"] - span["first"]).total_seconds()
        line += f"; first received to last applied {applied_s:.2f} s"
        line += f" ({len(timed) / applied_s:.0f}/s)"
    print(line)
    if problems:
        print(f"Check: FAILED ({len(problems)} problems)")
        for problem in problems[:20]:
            print(f"  {problem}")
        return 1
    print(
        f"Check: OK - {len(payments)} payments ({warmup} warm-up) successful exactly once; "
        "every booking's amount_paid equals its successful payments"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
