"""Acknowledgement throughput of Meta's webhook and Paynow's result URL (IPN), ours beside the
bare-stack yardstick, in one run on this machine.

    .venv/bin/python benchmarks/ack.py [--quick | --full] [--duration 15] [--connections 16,64]
        [--bodies N] [--profile] [--json PATH] [--database-url ...] [--redis-url ...]

Starts, all on loopback and each under gunicorn with ``deploy/gunicorn.conf.py`` (3 workers):
our app (production settings, PostgreSQL, Redis broker and cache, no Celery worker: what it
enqueues waits in the run's own Redis keys) and the yardstick in ``benchmarks/bare/`` (the least
a Django view must do: verify the signature, one INSERT for a webhook, one locked UPDATE for an
IPN). Both get the same load: ``wrk -t1 -c16`` and ``-c64`` for ``--duration`` seconds, cycling
through distinct pre-signed bodies (identical ones would take our redelivery path): Meta text
messages from many contacts, Paynow ``Paid`` status updates. Then one webhook body with 1,000
messages, timed to the answer.

Prints req/s, p50/p99/max, requests over 1 s, CPU-ms per request (user + system time of the
gunicorn master and workers, recycled ones included) and the ratio ours/bare; and checks that
every acknowledged event was stored once and handed to a task. With ``--profile`` it then runs
ours under cProfile (``benchmarks/profiled_wsgi.py``, on bodies not sent before) and prints where
a request's time goes (wall time, so waits for PostgreSQL and Redis count).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from decimal import Decimal
from pathlib import Path

import harness

WEBHOOK_PATH = "/crm-api/meta/webhook/"
IPN_PATH = "/crm-api/paynow/ipn/"
CONTACTS = 500  # distinct senders in the webhook bodies
BIG_BODY_MESSAGES = 1000
FORM = "application/x-www-form-urlencoded"


def webhook_requests(count: int) -> list[tuple[str, str, str, bytes]]:
    """`count` distinct signed Meta webhooks, one text message each, from CONTACTS senders."""
    now = int(time.time())
    out = []
    for n in range(count):
        wa_id = f"26377{n % CONTACTS:07d}"
        body = harness.webhook_body(
            [harness.text_message(wa_id, f"Hello, is the sunset cruise on tonight? ({n})", now)],
            {wa_id: f"Traveller {n % CONTACTS}"},
        )
        out.append(("X-Hub-Signature-256", harness.meta_signature(body), "application/json", body))
    return out


def ipn_requests(count: int, reference: str, paynow_url: str) -> list[tuple[str, str, str, bytes]]:
    """`count` distinct signed Paynow ``Paid`` updates for references ``<reference><n>``."""
    out = []
    for n in range(count):
        body = harness.paynow_status_update(
            f"{reference}{n}",
            Decimal("100.00"),
            f"{9_000_000 + n}",
            f"{paynow_url}/interface/poll?guid=bench-{n}",
        )
        out.append(("-", "-", FORM, body))
    return out


def big_body(index: int) -> bytes:
    """One webhook with BIG_BODY_MESSAGES text messages from 100 contacts (Meta batches)."""
    now = int(time.time())
    messages, profiles = [], {}
    for n in range(BIG_BODY_MESSAGES):
        wa_id = f"26378{index:02d}{n % 100:05d}"
        profiles[wa_id] = f"Batch {n % 100}"
        messages.append(harness.text_message(wa_id, f"Backlog message {n}", now))
    return harness.webhook_body(messages, profiles)


def post_timed(url: str, body: bytes) -> tuple[float, int]:
    import httpx

    headers = {
        "Content-Type": "application/json",
        "X-Hub-Signature-256": harness.meta_signature(body),
    }
    started = time.perf_counter()
    response = httpx.post(url, content=body, headers=headers, timeout=60)
    return time.perf_counter() - started, response.status_code


def migrate_bare(env: dict[str, str], payments: int) -> None:
    """The yardstick's tables, and `payments` pending payment rows BARE-0.. for its IPNs."""
    subprocess.run(
        [sys.executable, "-m", "django", "migrate", "--verbosity", "0"],
        env=env,
        cwd=harness.REPO,
        check=True,
    )
    import psycopg

    with psycopg.connect(env["DATABASE_URL"], autocommit=True) as conn:
        conn.execute(
            "INSERT INTO bare_barepayment (reference, amount, status) "
            "SELECT 'BARE-' || g, 100.00, 'pending' FROM generate_series(0, %s) g",
            (payments - 1,),
        )


def bare_counts(database_url: str) -> dict[str, int]:
    import psycopg

    with psycopg.connect(database_url) as conn:
        events = conn.execute("SELECT count(*) FROM bare_bareevent").fetchone()[0]
        paid = conn.execute(
            "SELECT count(*) FROM bare_barepayment WHERE status = 'Paid'"
        ).fetchone()[0]
    return {"events": events, "payments_updated": paid}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=int, help="seconds per wrk run (default 15)")
    parser.add_argument("--connections", default="16,64", help="wrk -c values, comma-separated")
    parser.add_argument("--bodies", type=int, help="distinct signed bodies per endpoint")
    parser.add_argument("--workers", type=int, default=3, help="gunicorn workers (both stacks)")
    parser.add_argument("--profile", action="store_true", help="also profile ours (cProfile)")
    harness.add_common_arguments(parser)
    args = parser.parse_args()
    duration = args.duration or harness.size(args, 1, 15, 15)
    warmup = harness.size(args, 1, 2, 3)
    bodies = args.bodies or harness.size(args, 1500, 40000, 40000)
    big_bodies = harness.size(args, 1, 3, 5)
    connections = [int(c) for c in args.connections.split(",") if c.strip()]
    deadline = time.monotonic() + args.deadline
    facts_start = harness.machine_facts()

    redis = harness.RedisRun(args.redis_url)
    redis.check()
    port_ours, port_bare = harness.free_port(), harness.free_port()
    site = f"http://127.0.0.1:{port_ours}"
    bare_site = f"http://127.0.0.1:{port_bare}"
    paynow_url = "http://127.0.0.1:9"  # never called: acknowledging an IPN polls nothing
    processes = harness.Processes()
    ours_name = bare_name = None
    work = harness.LOG_DIR / f"ack-{os.getpid()}"
    work.mkdir(parents=True, exist_ok=True)
    results: dict = {"benchmark": "ack", "machine_start": facts_start, "runs": [], "checks": {}}
    try:
        ours_url, ours_name = harness.fresh_database(args.database_url, args.db_prefix, "ack")
        bare_url, bare_name = harness.fresh_database(args.database_url, args.db_prefix, "bare")
        env = harness.app_environment(
            ours_url, site, broker_url=redis.url, cache_url=args.cache_url, key_prefix=redis.prefix
        )
        bare_env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "benchmarks.bare.settings",
            "DATABASE_URL": bare_url,
            "BARE_APP_SECRET": harness.META_APP_SECRET,
            "BARE_PAYNOW_KEY": harness.INTEGRATION_KEY,
            "PYTHONPATH": os.pathsep.join(harness.SOURCE_DIRS),
        }
        harness.setup_django(env)
        from django.core.management import call_command
        from django.db import connections as db_connections

        call_command("migrate", verbosity=0)
        harness.create_meta_config()
        harness.create_paynow_config(paynow_url + "/interface/remotetransaction")
        db_connections.close_all()
        migrate_bare(bare_env, bodies)
        results["postgres"] = harness.postgres_version(ours_url)

        files = {}
        for name, requests in (
            ("webhook", webhook_requests(bodies)),
            ("ipn-ours", ipn_requests(bodies, "PAY-BENCH", paynow_url)),
            ("ipn-bare", ipn_requests(bodies, "BARE-", paynow_url)),
        ):
            files[name] = work / f"{name}.requests"
            harness.write_requests(files[name], requests)

        servers = {
            "bare": harness.start_gunicorn(
                processes, "ack-bare.log", "benchmarks.bare.wsgi:application", port_bare,
                bare_env, workers=args.workers, deadline=deadline,
            ),
            "ours": harness.start_gunicorn(
                processes, "ack-ours.log", "whatsappcrm.wsgi:application", port_ours, env,
                workers=args.workers, deadline=deadline,
            ),
        }  # fmt: skip
        bases = {"bare": bare_site, "ours": site}
        offsets: dict[tuple[str, Path], int] = {}  # per stack and file: bodies already sent

        def load(stack: str, path: str, file: Path, conns: int, seconds: int) -> dict:
            run = harness.run_wrk(
                bases[stack] + path, file, connections=conns, duration=seconds,
                server_pid=servers[stack].pid, offset=offsets.get((stack, file), 0),
            )  # fmt: skip
            # The next run starts after every body this one may have sent (in flight or timed
            # out ones included: the server may have stored them).
            offsets[(stack, file)] = (
                offsets.get((stack, file), 0) + run["requests"] + run["socket_errors"] + conns
            )
            return run

        sent = {("ours", "webhook"): 0, ("ours", "ipn"): 0}
        in_flight = {("ours", "webhook"): 0, ("ours", "ipn"): 0}
        for endpoint, path in (("webhook", WEBHOOK_PATH), ("ipn", IPN_PATH)):
            for stack in ("bare", "ours"):  # warm-up: connections, imports, caches
                file = files["webhook" if endpoint == "webhook" else f"ipn-{stack}"]
                run = load(stack, path, file, 4, warmup)
                if stack == "ours":
                    sent[(stack, endpoint)] += run["requests"]
                    in_flight[(stack, endpoint)] += 4 + run["socket_errors"]
            for conns in connections:
                for stack in ("bare", "ours"):
                    if time.monotonic() > deadline:
                        raise SystemExit("deadline passed during the wrk runs")
                    file = files["webhook" if endpoint == "webhook" else f"ipn-{stack}"]
                    run = load(stack, path, file, conns, duration)
                    run.update(endpoint=endpoint, stack=stack)
                    results["runs"].append(run)
                    print(
                        f"  {endpoint:<8} {stack:<5} -c{conns:<3} {run['rps']:>8} req/s  "
                        f"p99 {run['p99_ms']} ms  load {run['load_after']}",
                        flush=True,
                    )
                    if stack == "ours":
                        sent[(stack, endpoint)] += run["requests"]
                        # unanswered (in flight at the end, timed out): stored or not
                        in_flight[(stack, endpoint)] += conns + run["socket_errors"]
        big = {"ours": [], "bare": []}
        for index in range(big_bodies):
            body = big_body(index)
            for stack in ("bare", "ours"):
                big[stack].append(post_timed(bases[stack] + WEBHOOK_PATH, body))
        results["big_body"] = {
            stack: {
                "messages": BIG_BODY_MESSAGES,
                "bytes": len(big_body(0)),
                "seconds": [round(t, 3) for t, _ in answers],
                "statuses": [s for _, s in answers],
            }
            for stack, answers in big.items()
        }
        for process in servers.values():
            processes.stop(process)
        results["checks"] = check(sent, in_flight, bodies, big_bodies, redis, bare_url)
        statuses = results["big_body"]["ours"]["statuses"]
        results["checks"]["1,000-message bodies acknowledged"] = {
            "ok": statuses == [200] * big_bodies,
            "detail": f"HTTP {statuses}",
        }
        if args.profile:  # after the checks, on bodies no run has sent yet
            starts = {name: offsets.get(("ours", file), 0) for name, file in files.items()}
            results["profile"] = profile_ours(env, files, starts, deadline)
        db_connections.close_all()
    finally:
        processes.stop_all()
        harness.drop_database(args.database_url, ours_name)
        harness.drop_database(args.database_url, bare_name)
        results["redis_keys_removed"] = redis.release()
        for file in work.glob("*.requests"):
            file.unlink()

    results["machine_end"] = harness.machine_facts()
    results["ok"] = all(c["ok"] for c in results["checks"].values())
    print_table(results)
    harness.write_json(args, results)
    return 0 if results["ok"] else 1


def check(sent, in_flight, bodies, big_bodies, redis, bare_url) -> dict:
    """Stored once, handed over once: what every acknowledged request must have left behind."""
    from django.db.models import Count

    from conversations.models import Message
    from meta_integration.models import WebhookEvent
    from paynow_integration.models import PaynowStatusUpdate

    checks = {}
    events = WebhookEvent.objects.aggregate(n=Count("id"), valid=Count("id", filter=~_q_invalid()))
    answered = sent[("ours", "webhook")]
    low = min(answered, bodies) + big_bodies
    high = min(answered + in_flight[("ours", "webhook")], bodies) + big_bodies
    checks["webhooks stored once"] = {
        "ok": low <= events["n"] <= high and events["valid"] == events["n"],
        "detail": f"{events['n']} events for {answered} answered requests over {bodies} distinct "
        f"bodies (+{big_bodies} big); {events['valid']} with a valid signature",
    }
    inbound = Message.objects.filter(direction=Message.Direction.INBOUND).count()
    expected_inbound = events["n"] - big_bodies + big_bodies * BIG_BODY_MESSAGES
    checks["one inbound message per webhook message"] = {
        "ok": inbound == expected_inbound,
        "detail": f"{inbound} inbound messages, {expected_inbound} expected",
    }
    ipns = PaynowStatusUpdate.objects.filter(valid=True, processed=False).count()
    answered_ipn = sent[("ours", "ipn")]
    checks["IPNs stored"] = {
        "ok": answered_ipn <= ipns <= answered_ipn + in_flight[("ours", "ipn")]
        and not PaynowStatusUpdate.objects.exclude(valid=True).exists(),
        "detail": f"{ipns} valid IPNs stored for {answered_ipn} answered requests "
        f"(+ at most {in_flight[('ours', 'ipn')]} unanswered)",
    }
    queued = redis.queue_length()
    checks["every stored event handed to a task"] = {
        "ok": queued == inbound + ipns,
        "detail": f"{queued} tasks queued for {inbound} messages + {ipns} IPNs (no worker ran)",
    }
    bare = bare_counts(bare_url)
    checks["yardstick stored its webhooks and updated its payments"] = {
        "ok": bare["events"] > 0 and bare["payments_updated"] > 0,
        "detail": f"{bare['events']} events, {bare['payments_updated']} payments updated",
    }
    return checks


def _q_invalid():
    from django.db.models import Q

    return Q(valid=False)


def profile_ours(
    env: dict[str, str], files: dict[str, Path], starts: dict[str, int], deadline: float
) -> dict:
    """Ours under cProfile (one worker per endpoint run): where a request's time goes."""
    import profile_summary

    out = {}
    for endpoint, path, name in (
        ("webhook", WEBHOOK_PATH, "webhook"),
        ("ipn", IPN_PATH, "ipn-ours"),
    ):
        file = files[name]
        profile_dir = harness.LOG_DIR / f"profile-{endpoint}-{os.getpid()}"
        profile_dir.mkdir(parents=True, exist_ok=True)
        for old in profile_dir.glob("*.prof"):
            old.unlink()
        port = harness.free_port()
        processes = harness.Processes()
        try:
            server = harness.start_gunicorn(
                processes, f"profile-{endpoint}.log", "benchmarks.profiled_wsgi:application", port,
                {**env, "BENCH_PROFILE_DIR": str(profile_dir)}, workers=3, deadline=deadline,
            )  # fmt: skip
            run = harness.run_wrk(
                f"http://127.0.0.1:{port}{path}", file, connections=16, duration=10,
                server_pid=server.pid, offset=starts[name],
            )  # fmt: skip
        finally:
            processes.stop_all()
        summary = profile_summary.summarise(sorted(profile_dir.glob("*.prof")))
        summary["requests"] = run["requests"]
        out[endpoint] = summary
        print(f"\nProfile of ours, {endpoint} acknowledgement ({run['requests']} requests):")
        print(profile_summary.render(summary))
    return out


def print_table(results: dict) -> None:
    runs = results["runs"]
    print()
    print(f"Acknowledgement, gunicorn deploy/gunicorn.conf.py, PostgreSQL {results['postgres']}")
    print(
        f"{'endpoint':<8} {'conns':>5} {'stack':<5} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8}"
        f" {'max ms':>8} {'>1s':>5} {'non-2xx':>7} {'CPU ms/req':>10} {'ours/bare':>9}"
    )
    for run in runs:
        ratio = ""
        if run["stack"] == "ours":
            bare = next(
                r
                for r in runs
                if r["stack"] == "bare"
                and r["endpoint"] == run["endpoint"]
                and r["connections"] == run["connections"]
            )
            ratio = f"{run['rps'] / bare['rps']:.2f}" if bare["rps"] else "-"
        print(
            f"{run['endpoint']:<8} {run['connections']:>5} {run['stack']:<5} {run['rps']:>8}"
            f" {run['p50_ms']:>8} {run['p99_ms']:>8} {run['max_ms']:>8} {run['over_1s']:>5}"
            f" {run['non_2xx'] + run['socket_errors']:>7} {run['cpu_ms_per_request']:>10}"
            f" {ratio:>9}"
        )
    for stack, big in results["big_body"].items():
        seconds = ", ".join(f"{s:.3f}" for s in big["seconds"])
        print(
            f"1,000-message webhook body ({big['bytes']:,} bytes), {stack}: answered in "
            f"{seconds} s (HTTP {sorted(set(big['statuses']))})"
        )
    for name, check in results["checks"].items():
        print(f"Check {'OK    ' if check['ok'] else 'FAILED'} {name}: {check['detail']}")
    print(json.dumps({"load_start": results["machine_start"]["load_average"],
                      "load_end": results["machine_end"]["load_average"]}))  # fmt: skip


if __name__ == "__main__":
    sys.exit(main())
