"""What the latency benchmarks in this folder share: running our app on loopback and timing it.

Each benchmark (``flow_endpoint_latency.py``, ``ipn_latency.py``) makes a fresh PostgreSQL
database, starts our app under gunicorn (by re-running itself with the hidden ``--serve PORT``
option) and maybe other programs, sends a fixed set of POSTs with some in flight at once, prints
median, p90, p99 and max, and stops and drops everything it started. This module holds those
common parts; what a benchmark sends, checks and prints beyond the latency table stays in it.

Importing it puts the repository and ``whatsappcrm_backend`` on ``sys.path`` (the benchmarks run
as ``.venv/bin/python benchmarks/<name>.py``, which finds this module next to them). It imports
Django, httpx, gunicorn and psycopg only inside the functions that use them, so a benchmark can
set its environment before Django is loaded.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any, TypeVar

REPO = Path(__file__).resolve().parents[1]
SOURCE_DIRS = [str(REPO / "whatsappcrm_backend"), str(REPO)]
sys.path[:0] = SOURCE_DIRS

# The Paynow merchant both benchmarks configure (and the emulator is started with).
INTEGRATION_ID = "20817"
INTEGRATION_KEY = "0f3a5c2e-8b1d-4e6f-9a7c-2d4b6e8f0a1c"
MERCHANT_EMAIL = "merchant@kalaisafaris.example"
TIMEOUT_SECONDS = 10.0  # per request: Meta's, and the one we give Paynow's updates

Item = TypeVar("Item")


def environment(database_url: str, site_url: str, broker_url: str = "") -> dict[str, str]:
    """The settings environment for our app on loopback; no broker (eager tasks) by default."""
    return {
        "DJANGO_SETTINGS_MODULE": "whatsappcrm.settings",
        "DATABASE_URL": database_url,
        "SECRET_KEY": "bench-secret-key-not-for-production-0123456789abcdef",
        "FIELD_ENCRYPTION_KEY": "dGVzdC1vbmx5LWZpZWxkLWVuY3J5cHRpb24ta2V5ISE=",
        "SITE_URL": site_url,
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "SECURE_SSL_REDIRECT": "false",
        "DEBUG": "false",
        "LOG_LEVEL": "WARNING",
        "CELERY_BROKER_URL": broker_url,
        # One load generator on one IP: the per-IP webhook limit would measure itself.
        "RATE_LIMIT_REQUESTS": "1000000",
        "RATE_LIMIT_META_REQUESTS": "1000000",
        "PYTHONPATH": os.pathsep.join(SOURCE_DIRS),
    }


# --- command line ------------------------------------------------------------------------------


def add_run_arguments(parser) -> None:
    """``--database-url`` and the hidden ``--serve PORT`` a benchmark re-runs itself with."""
    import argparse

    parser.add_argument(
        "--database-url",
        default=os.environ.get("BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/postgres"),
        help="PostgreSQL server to make a fresh database on",
    )
    parser.add_argument("--serve", type=int, help=argparse.SUPPRESS)


def serve_command(script: str, port: int, workers: int, threads: int) -> list[str]:
    """The command that runs `script`'s server (``serve`` below) on `port`."""
    return [
        sys.executable,
        script,
        "--serve",
        str(port),
        "--workers",
        str(workers),
        "--threads",
        str(threads),
    ]


# --- the server process (gunicorn, configured from the environment) ----------------------------


def serve(port: int, workers: int, threads: int, configure: Callable[[Any], None] | None = None):
    """Run our app under gunicorn (gthread); `configure(settings)` adjusts Django's settings."""
    import django
    from gunicorn.app.base import BaseApplication

    django.setup()
    if configure is not None:
        from django.conf import settings

        configure(settings)
    from django.core.wsgi import get_wsgi_application

    application = get_wsgi_application()

    class Server(BaseApplication):
        def load_config(self) -> None:
            self.cfg.set("bind", f"127.0.0.1:{port}")
            self.cfg.set("workers", workers)
            self.cfg.set("threads", threads)
            self.cfg.set("worker_class", "gthread")
            self.cfg.set("timeout", 30)
            self.cfg.set("loglevel", "warning")

        def load(self):
            return application

    Server().run()


# --- set-up and tear-down ----------------------------------------------------------------------


def fresh_database(base_url: str, prefix: str) -> tuple[str, str | None]:
    """A new PostgreSQL database ``<prefix>_<pid>`` for the run: (its URL, its name to drop)."""
    if not base_url.startswith("postgres"):
        return base_url, None
    import psycopg

    name = f"{prefix}_{os.getpid()}"
    admin_url = base_url.rsplit("/", 1)[0] + "/postgres"
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return base_url.rsplit("/", 1)[0] + f"/{name}", name


def drop_database(base_url: str, name: str | None) -> None:
    """Close Django's connections (if Django is loaded) and drop the run's database."""
    if name is None:
        return
    if "django" in sys.modules:
        from django.db import connections

        connections.close_all()
    import psycopg

    with psycopg.connect(base_url.rsplit("/", 1)[0] + "/postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for(url: str, deadline: float) -> None:
    """Wait until `url` answers below 500, or exit when `deadline` (monotonic) passes."""
    import httpx

    while time.monotonic() < deadline:
        try:
            if httpx.get(url, timeout=1).status_code < 500:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise SystemExit(f"server at {url} did not start")


class Processes:
    """The programs a run starts, each writing to its own log in ``var/``; stopped last first."""

    def __init__(self) -> None:
        self.processes: list[subprocess.Popen] = []
        self.logs: list = []

    def start(
        self,
        log_name: str,
        command: list[str],
        env: dict[str, str] | None = None,
        cwd: Path = REPO,
    ) -> subprocess.Popen:
        """Start `command` with `env` (default: ours), its output in ``var/<log_name>``."""
        (REPO / "var").mkdir(exist_ok=True)
        log = open(REPO / "var" / log_name, "w")
        self.logs.append(log)
        process = subprocess.Popen(  # noqa: S603 - our own programs
            command,
            env=os.environ.copy() if env is None else env,
            cwd=cwd,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        self.processes.append(process)
        return process

    def stop_all(self, grace: float = 15) -> None:
        for process in reversed(self.processes):
            stop(process, grace)
        for log in self.logs:
            log.close()


def stop(process: subprocess.Popen | None, grace: float = 15) -> None:
    """Terminate `process`; kill it if it has not ended after `grace` seconds."""
    if process is None or process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(grace)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(5)


# --- rows the requests need (Django must be set up) ----------------------------------------------


def create_paynow_config(api_base_url: str):
    """The active Paynow integration, pointed at the emulator's `api_base_url`."""
    from paynow_integration.models import PaynowConfig

    return PaynowConfig.objects.create(
        integration_id=INTEGRATION_ID,
        integration_key=INTEGRATION_KEY,
        api_base_url=api_base_url,
        auth_email=MERCHANT_EMAIL,
        is_active=True,
    )


def create_bookings(count: int, whatsapp_prefix: str) -> Iterable[tuple[int, Any]]:
    """(n, booking) for `count` new bookings of one tour, each with its own WhatsApp contact.

    The contact of booking n is ``<whatsapp_prefix><n:05d>``; bookings are made as they are
    asked for, so a caller may stop early.
    """
    from conversations.models import Contact
    from customer_data import services
    from customer_data.models import Tour

    tour = Tour.objects.create(name="Victoria Falls Guided Tour", base_price=Decimal("100.00"))
    for n in range(count):
        contact = Contact.objects.create(whatsapp_id=f"{whatsapp_prefix}{n:05d}", name=f"Bench {n}")
        booking = services.create_booking(
            tour=tour,
            start_date=date.today() + timedelta(days=30),
            adults=2,
            contact=contact,
            email="bench@example.com",
        )
        yield n, booking


# --- load and latency --------------------------------------------------------------------------


def run_load(
    url: str,
    items: list[Item],
    concurrency: int,
    deadline: float,
    request: Callable[[Item], tuple[bytes, dict[str, str]]],
    outcome: Callable[[Item, Any], str],
) -> list[tuple[float, str]]:
    """POST every item with `concurrency` in flight: [(seconds, outcome), ...] in item order.

    ``request(item)`` gives the body and headers (made before the clock starts);
    ``outcome(item, response)`` names the result (after it stops). A request that fails is its
    exception's name; one not sent because `deadline` (monotonic) has passed is ``deadline``.
    """
    import httpx

    def one(item: Item) -> tuple[float, str]:
        if time.monotonic() > deadline:
            return 0.0, "deadline"
        body, headers = request(item)
        started = time.perf_counter()
        try:
            response = client.post(url, content=body, headers=headers)
        except httpx.HTTPError as exc:
            return time.perf_counter() - started, type(exc).__name__
        elapsed = time.perf_counter() - started
        return elapsed, outcome(item, response)

    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    with httpx.Client(timeout=TIMEOUT_SECONDS, limits=limits) as client:
        with ThreadPoolExecutor(max_workers=concurrency) as pool:
            return list(pool.map(one, items))


def percentile(sorted_values: list[float], pct: int) -> float:
    """Linear interpolation between ranks (PostgreSQL's percentile_cont, the dashboard's)."""
    if len(sorted_values) == 1:
        return sorted_values[0]
    return statistics.quantiles(sorted_values, n=100, method="inclusive")[pct - 1]


def latency_header(first: str, width: int) -> str:
    """The heading of the table ``latency_row`` fills, its first column `width` wide."""
    return (
        f"{first:<{width}} {'n':>5} {'conc':>4} {'median ms':>9} {'p90 ms':>9} {'p99 ms':>9}"
        f" {'max ms':>9} {'errors':>7}"
    )


def latency_row(
    name: str,
    results: list[tuple[float, str]],
    expected: str,
    concurrency: int,
    width: int,
    none_ok: Callable[[list[tuple[float, str]]], str],
) -> str:
    """Median, p90, p99 and max of the `expected` outcomes, and how many others there were.

    With no `expected` outcome at all the row ends with ``none_ok(results)`` instead.
    """
    ok = sorted(t for t, outcome in results if outcome == expected)
    errors = len(results) - len(ok)
    if not ok:
        return f"{name:<{width}} {len(results):>5} {concurrency:>4}   {none_ok(results)}"
    ms = [
        round(v * 1000, 1)
        for v in (statistics.median(ok), percentile(ok, 90), percentile(ok, 99), ok[-1])
    ]
    return (
        f"{name:<{width}} {len(results):>5} {concurrency:>4} {ms[0]:>9} {ms[1]:>9} {ms[2]:>9}"
        f" {ms[3]:>9} {errors:>7}"
    )
