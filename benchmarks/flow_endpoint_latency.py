"""Latency of the WhatsApp Flows data endpoint under concurrent load, on this machine.

    .venv/bin/python benchmarks/flow_endpoint_latency.py [--quick | --full] [--requests 400]
        [--submits 100] [--concurrency 8] [--json PATH] [--database-url postgres://...]

Starts, all on loopback: the Paynow emulator and our app under gunicorn with
``deploy/gunicorn.conf.py`` (3 workers; production settings, Redis broker, no worker: what a
submit enqueues waits in the run's Redis keys). Then it plays Meta's client: every request
encrypted and signed as Meta does (prepared before the clock starts). It measures ``ping``,
``INIT`` and ``data_exchange`` (the payment form's Pay: a real Paynow express checkout against
the emulator, one booking per submit) with ``--concurrency`` requests in flight, and prints
p50, p90, p99 and max per action, and checks every answer was the expected screen.
"""

from __future__ import annotations

import argparse
import sys
import time
from decimal import Decimal

import harness


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, help="ping and INIT requests each")
    parser.add_argument("--submits", type=int, help="data_exchange requests")
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--workers", type=int, default=3)
    harness.add_common_arguments(parser)
    args = parser.parse_args()
    requests_n = args.requests or harness.size(args, 10, 400, 1000)
    submits_n = args.submits or harness.size(args, 5, 100, 200)
    deadline = time.monotonic() + args.deadline
    results: dict = {"benchmark": "flow_endpoint", "machine_start": harness.machine_facts()}

    redis = harness.RedisRun(args.redis_url)
    redis.check()
    port, paynow_port = harness.free_port(), harness.free_port()
    site = f"http://127.0.0.1:{port}"
    paynow_url = f"http://127.0.0.1:{paynow_port}"
    processes = harness.Processes()
    db_name = None
    try:
        db_url, db_name = harness.fresh_database(args.database_url, args.db_prefix, "flows")
        private_pem, public_pem = harness.flow_key_pair()
        env = harness.app_environment(
            db_url, site, broker_url=redis.url, cache_url=args.cache_url,
            key_prefix=redis.prefix, extra={"WHATSAPP_FLOW_PRIVATE_KEY": private_pem.decode()},
        )  # fmt: skip
        harness.setup_django(env)
        from django.core.management import call_command
        from django.db import connections

        call_command("migrate", verbosity=0)
        harness.create_meta_config()
        harness.create_paynow_config(paynow_url + "/interface/remotetransaction")
        results["postgres"] = harness.postgres_version(db_url)
        bookings = harness.create_bookings(submits_n + min(requests_n, 200), "2637812")
        tokens = harness.create_payment_form(bookings, Decimal("100.00"))
        submit_tokens, init_tokens = tokens[:submits_n], tokens[submits_n:]
        connections.close_all()
        harness.start_paynow_emulator(processes, paynow_port, deadline=deadline)
        harness.start_gunicorn(
            processes, "flows-web.log", "whatsappcrm.wsgi:application", port, env,
            workers=args.workers, deadline=deadline,
        )  # fmt: skip
        url = site + harness.FLOWS_PATH

        def encrypt(payload: dict):
            return harness.flow_encrypt({"version": "3.0", **payload}, public_pem)

        ping = [encrypt({"action": "ping"}) for _ in range(requests_n)]
        inits = [
            encrypt({"action": "INIT", "flow_token": init_tokens[n % len(init_tokens)]})
            for n in range(requests_n)
        ]
        submits = [
            encrypt(
                {
                    "action": "data_exchange",
                    "screen": "PAYMENT",
                    "data": {
                        "payment_method": "ecocash",
                        "phone": "0781234567",
                        "email": "bench@example.com",
                    },
                    "flow_token": token,
                }
            )
            for token in submit_tokens
        ]
        harness.flow_load(url, ping[:20], args.concurrency, deadline)  # connections, caches
        load_before = harness.load_average()
        raw = {
            "ping": (harness.flow_load(url, ping, args.concurrency, deadline), "active"),
            "INIT": (harness.flow_load(url, inits, args.concurrency, deadline), "PAYMENT"),
            "data_exchange": (
                harness.flow_load(url, submits, args.concurrency, deadline),
                "SUCCESS",
            ),
        }
        results["load_during"] = f"{load_before} -> {harness.load_average()}"
        results["actions"] = {
            name: harness.latency_summary(answers, expected)
            for name, (answers, expected) in raw.items()
        }
        results["concurrency"] = args.concurrency
        results["checks"] = {
            f"every {name} answered with {expected}": {
                "ok": results["actions"][name]["ok"] == len(answers),
                "detail": f"{results['actions'][name]['ok']} of {len(answers)}; others "
                f"{results['actions'][name]['errors']}",
            }
            for name, (answers, expected) in raw.items()
        }
    finally:
        processes.stop_all()
        harness.drop_database(args.database_url, db_name)
        results["redis_keys_removed"] = redis.release()

    results["machine_end"] = harness.machine_facts()
    results["ok"] = all(c["ok"] for c in results["checks"].values())
    print(
        f"\nFlows data endpoint: gunicorn {args.workers} workers, {args.concurrency} in flight, "
        f"data_exchange against the Paynow emulator; load {results['load_during']}"
    )
    print(harness.latency_header("action"))
    for name, summary in results["actions"].items():
        print(harness.latency_line(name, summary))
    for name, check in results["checks"].items():
        print(f"Check {'OK    ' if check['ok'] else 'FAILED'} {name}: {check['detail']}")
    harness.write_json(args, results)
    return 0 if results["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
