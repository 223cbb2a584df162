"""Where a request's time goes, from cProfile files: the share of request time inside each of a
few named places (SQL, Redis, Celery publish, logging, our services...), and the top functions."""

from __future__ import annotations

import pstats
from pathlib import Path

# (label, file fragment, function name): time *inside* these calls, as a share of the request.
# A fragment may name a module or a package (``services`` before and after it became one).
PLACES = [
    ("whole request (Django handler)", "django/core/handlers/wsgi.py", "__call__"),
    ("SQL: every statement (CursorWrapper.execute)", "django/db/backends/utils.py", "_execute"),
    (
        "SQL: connection health check",
        "django/db/backends/base/base.py",
        "close_if_health_check_failed",
    ),
    ("SQL: commit", "django/db/backends/base/base.py", "commit"),
    ("Redis: every command (rate limit, cache)", "redis/client.py", "execute_command"),
    ("Celery: publishing tasks (apply_async)", "celery/app/task.py", "apply_async"),
    ("logging: every record", "logging/__init__.py", "handle"),
    ("rate-limit check (middleware)", "monitoring/ratelimit.py", "_check"),
    ("Fernet decrypt (encrypted config fields)", "cryptography/fernet.py", "decrypt"),
    ("Meta: receive_webhook", "meta_integration/services", "receive_webhook"),
    ("Meta: store the raw event", "meta_integration/services", "_store_event"),
    (
        "Meta: record messages (process_webhook_event)",
        "meta_integration/services",
        "process_webhook_event",
    ),
    ("conversations: touch_contact_inbound", "conversations/services", "touch_contact_inbound"),
    (
        "conversations: record_inbound_message",
        "conversations/services",
        "record_inbound_message",
    ),
    ("Paynow: record_status_message", "paynow_integration/services", "record_status_message"),
    ("Paynow: get_active_config", "paynow_integration/services", "get_active_config"),
    ("Paynow: verify_hash", "paynow_integration/sdk.py", "verify_hash"),
]


def summarise(files: list[Path]) -> dict:
    if not files:
        return {"files": 0, "places": [], "top_own": [], "top_self": []}
    stats = pstats.Stats(str(files[0]))
    for file in files[1:]:
        stats.add(str(file))
    entries = stats.stats  # {(file, line, name): (cc, nc, tt, ct, callers)}

    def inside(fragment: str, name: str) -> tuple[float, int]:
        total, calls = 0.0, 0
        for (file, _line, func), (_cc, nc, _tt, ct, _callers) in entries.items():
            if func == name and fragment in file:
                total += ct
                calls += nc
        return total, calls

    whole, requests = inside(*PLACES[0][1:])
    places = []
    for label, fragment, name in PLACES:
        seconds, calls = inside(fragment, name)
        if calls:
            places.append(
                {
                    "place": label,
                    "share": round(seconds / whole, 3) if whole else None,
                    "ms_per_request": round(seconds * 1000 / requests, 2) if requests else None,
                    "calls_per_request": round(calls / requests, 2) if requests else None,
                }
            )
    ours = sorted(
        (
            (ct, nc, f"{Path(file).parent.name}/{Path(file).name}:{func}")
            for (file, _l, func), (_cc, nc, _tt, ct, _c) in entries.items()
            if "whatsappcrm_backend" in file
        ),
        reverse=True,
    )[:15]
    own = sorted(
        (
            (tt, nc, f"{Path(file).name}:{func}")
            for (file, _l, func), (_cc, nc, tt, _ct, _c) in entries.items()
        ),
        reverse=True,
    )[:12]
    return {
        "files": len(files),
        "request_ms": round(whole * 1000 / requests, 2) if requests else None,
        "requests_profiled": requests,
        "places": places,
        "top_own": [
            {
                "function": f,
                "share": round(ct / whole, 3),
                "calls_per_request": round(nc / requests, 2),
            }
            for ct, nc, f in ours
        ],
        "top_self": [
            {
                "function": f,
                "share": round(tt / whole, 3),
                "calls_per_request": round(nc / requests, 2),
            }
            for tt, nc, f in own
        ],
    }


def render(summary: dict) -> str:
    lines = [
        f"  {summary.get('requests_profiled')} requests, {summary.get('request_ms')} ms each "
        "under the profiler (wall time in the Django handler)"
    ]
    lines.append(f"  {'share':>6} {'ms/req':>7} {'calls/req':>9}  place")
    for place in summary["places"]:
        lines.append(
            f"  {place['share']:>6.1%} {place['ms_per_request']:>7} {place['calls_per_request']:>9}"
            f"  {place['place']}"
        )
    lines.append("  our code, by time inside (cumulative):")
    for row in summary["top_own"]:
        lines.append(f"  {row['share']:>6.1%} {row['calls_per_request']:>7}x  {row['function']}")
    lines.append("  functions by own time:")
    for row in summary["top_self"]:
        lines.append(f"  {row['share']:>6.1%} {row['calls_per_request']:>7}x  {row['function']}")
    return "\n".join(lines)
