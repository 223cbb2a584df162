"""``make bench``: every benchmark, one after the other, then one table of the figures.

    .venv/bin/python benchmarks/run_all.py [--quick | --full] [--only ack,e2e_messages,...]
        [--profile] [--json PATH]

Runs ``ack.py`` (webhook and IPN acknowledgement beside the bare-stack yardstick),
``e2e_messages.py``, ``ipn_applied.py``, ``flow_endpoint_latency.py`` and ``reconciliation.py``
with the same size option (``--quick``: seconds each; default: minutes; ``--full``: the sizes
issue 14 measured), each in its own process, and prints their figures in one table with the
machine's facts and load average at the start and the end. Exits non-zero if any benchmark's
checks failed (the figures are printed anyway). Options it does not know go to every benchmark
(``--database-url``, ``--redis-url``, ...).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import harness

BENCHMARKS = ["ack", "e2e_messages", "ipn_applied", "flow_endpoint", "reconciliation"]
SCRIPTS = {
    "ack": "ack.py",
    "e2e_messages": "e2e_messages.py",
    "ipn_applied": "ipn_applied.py",
    "flow_endpoint": "flow_endpoint_latency.py",
    "reconciliation": "reconciliation.py",
}
HERE = Path(__file__).resolve().parent


def rows(name: str, r: dict) -> list[tuple[str, str, str]]:
    """(measure, figure, note) rows of one benchmark's results."""
    out = []
    if name == "ack":
        runs = {(x["endpoint"], x["stack"], x["connections"]): x for x in r["runs"]}
        for endpoint in ("webhook", "ipn"):
            for conns in sorted({x["connections"] for x in r["runs"]}):
                bare, ours = runs[(endpoint, "bare", conns)], runs[(endpoint, "ours", conns)]
                ratio = ours["rps"] / bare["rps"] if bare["rps"] else 0
                label = f"{endpoint} ack, wrk -t1 -c{conns}"
                out.append(
                    (
                        label,
                        f"ours {ours['rps']:.0f} req/s, bare {bare['rps']:.0f} req/s, "
                        f"ratio {ratio:.2f}",
                        f"p50/p99/max ours {ours['p50_ms']}/{ours['p99_ms']}/{ours['max_ms']} ms, "
                        f"bare {bare['p50_ms']}/{bare['p99_ms']}/{bare['max_ms']} ms; >1 s: ours "
                        f"{ours['over_1s']}, bare {bare['over_1s']}; CPU ms/req ours "
                        f"{ours['cpu_ms_per_request']}, bare {bare['cpu_ms_per_request']}",
                    )
                )
        for stack in ("ours", "bare"):
            big = r["big_body"][stack]
            out.append(
                (
                    f"1,000-message webhook, {stack}",
                    f"{max(big['seconds']):.3f} s to answer (worst of {len(big['seconds'])})",
                    f"{big['bytes']:,} bytes; HTTP {sorted(set(big['statuses']))}",
                )
            )
    elif name == "e2e_messages":
        out.append(
            (
                "end to end: messages to accepted replies",
                f"{r['messages_per_second']} messages/s",
                f"{r['inbound_messages']} messages, {r['contacts']} contacts, "
                f"{r['seconds']} s; {r['cpu_ms_per_message']} CPU-ms/message (web + worker)",
            )
        )
    elif name == "ipn_applied":
        a = r["answer"]
        out.append(
            (
                "end to end: IPNs applied",
                f"{r['ipns_per_second']} IPNs/s",
                f"{r['count']} IPNs, {r['concurrency']} in flight, {r['seconds']} s; answer "
                f"p50/p99/max {a.get('p50_ms')}/{a.get('p99_ms')}/{a.get('max_ms')} ms; "
                f"{r['cpu_ms_per_ipn']} CPU-ms/IPN (web + worker)",
            )
        )
    elif name == "flow_endpoint":
        for action, s in r["actions"].items():
            out.append(
                (
                    f"Flows endpoint: {action}",
                    f"p50 {s.get('p50_ms')} ms, p99 {s.get('p99_ms')} ms",
                    f"{s['n']} requests, {r['concurrency']} in flight, max {s.get('max_ms')} ms",
                )
            )
    elif name == "reconciliation":
        out.append(
            (
                "reconciliation",
                f"{r['payments_per_second']} payments/s",
                f"{r['count']} pending: one pass {r['pass_seconds']} s for "
                f"{r['checked_per_pass']}; {len(r['passes'])} passes, {r['seconds']} s; "
                f"{r['intervals_needed']} intervals of {r['interval_seconds']:g} s",
            )
        )
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--full", action="store_true")
    parser.add_argument("--only", help=f"comma-separated subset of {','.join(BENCHMARKS)}")
    parser.add_argument("--profile", action="store_true", help="ack.py --profile")
    parser.add_argument("--json", metavar="PATH", help="write every benchmark's figures here")
    args, passed_on = parser.parse_known_args()
    chosen = [b.strip() for b in args.only.split(",")] if args.only else BENCHMARKS
    size = ["--quick"] if args.quick else ["--full"] if args.full else []
    start = harness.machine_facts()
    print(f"Machine: {start['nproc']} CPUs ({start['cpu']}), {start['memory_gib']} GiB")
    print(f"Start: {start['uptime']}", flush=True)
    results: dict[str, dict] = {}
    failed = []
    with tempfile.TemporaryDirectory() as tmp:
        for name in chosen:
            out = Path(tmp) / f"{name}.json"
            command = [sys.executable, str(HERE / SCRIPTS[name]), *size, "--json", str(out)]
            if name == "ack" and args.profile:
                command.append("--profile")
            print(f"\n=== {name}: {' '.join(command[1:])}", flush=True)
            began = time.monotonic()
            code = subprocess.run([*command, *passed_on], check=False).returncode  # noqa: S603
            if out.exists():
                results[name] = json.loads(out.read_text())
                results[name]["wall_seconds"] = round(time.monotonic() - began, 1)
            if code != 0 or not results.get(name, {}).get("ok"):
                failed.append(name)
    end = harness.machine_facts()

    table = []
    for name in chosen:
        if name in results:
            table.extend(rows(name, results[name]))
        else:
            table.append((name, "did not finish", "see its output above"))
    width = max(len(m) for m, _, _ in table)
    fig = max(len(f) for _, f, _ in table)
    print("\n" + "=" * 100)
    postgres = next((r["postgres"] for r in results.values() if r.get("postgres")), "?")
    print(
        f"Benchmarks ({' '.join(size) or 'default size'}), {start['nproc']} CPUs, "
        f"Python {start['python']}, PostgreSQL {postgres}"
    )
    print(f"load average at start {start['load_average']}, at end {end['load_average']}")
    print(f"{'measure':<{width}}  {'figure':<{fig}}  details")
    for measure, figure, note in table:
        print(f"{measure:<{width}}  {figure:<{fig}}  {note}")
    for name in chosen:
        for check, c in results.get(name, {}).get("checks", {}).items():
            if not c["ok"]:
                print(f"FAILED check ({name}): {check}: {c['detail']}")
    print(f"checks: {'all held' if not failed else 'FAILED in ' + ', '.join(failed)}")
    if args.json:
        Path(args.json).write_text(
            json.dumps({"start": start, "end": end, "results": results}, indent=2, default=str)
        )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
