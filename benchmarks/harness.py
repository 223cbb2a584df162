"""What the benchmarks in this folder share: a fresh database, our app (and the bare-stack
yardstick) under gunicorn as deployed, emulators, a Celery worker, load, and the figures.

Every benchmark (``ack.py``, ``e2e_messages.py``, ``ipn_applied.py``, ``flow_endpoint_latency.py``,
``reconciliation.py``; ``run_all.py`` runs them all for ``make bench``) makes a fresh PostgreSQL
database ``<prefix>_<kind>_<pid>``, starts what it measures as separate processes on loopback,
loads them, checks that nothing was lost, prints its own table and, with ``--json PATH``, writes
its figures for ``run_all.py``. Everything it started is stopped, and its database and Redis keys
removed, at the end.

The benchmarks reach our code only through public surfaces: HTTP endpoints, management commands,
Celery task names (the web-worker wire contract), and model rows. So they keep working while the
code behind those surfaces is restructured.

Our app runs with production settings: ``benchmarks/app_settings.py`` is ``whatsappcrm.settings``
with one change, a Redis key prefix of the run's own for the broker (so a run never shares a
queue with anything else in that Redis database). Gunicorn runs with ``deploy/gunicorn.conf.py``
(``WEB_CONCURRENCY`` workers, gthread, ``max_requests`` and all), bound to 127.0.0.1.

Importing this module puts the repository and ``whatsappcrm_backend`` on ``sys.path`` (the
benchmarks run as ``.venv/bin/python benchmarks/<name>.py``). It imports Django, httpx and psycopg
only inside the functions that use them, so a benchmark can set its environment first.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import platform
import secrets
import signal
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlencode

REPO = Path(__file__).resolve().parents[1]
BACKEND = REPO / "whatsappcrm_backend"
SOURCE_DIRS = [str(BACKEND), str(REPO)]
sys.path[:0] = [p for p in SOURCE_DIRS if p not in sys.path]
GUNICORN_CONF = REPO / "deploy" / "gunicorn.conf.py"
LOG_DIR = REPO / "var" / "bench"

# The Paynow merchant the benchmarks configure (and start the emulator with).
INTEGRATION_ID = "20817"
INTEGRATION_KEY = "0f3a5c2e-8b1d-4e6f-9a7c-2d4b6e8f0a1c"
MERCHANT_EMAIL = "merchant@kalaisafaris.example"
# The WhatsApp number the benchmarks configure (and start the emulator with).
META_APP_SECRET = "bench-app-secret"  # noqa: S105 - a throwaway secret for loopback
META_ACCESS_TOKEN = "bench-access-token"  # noqa: S105
META_PHONE_NUMBER_ID = "106540352242922"
META_WABA_ID = "102290129340398"
META_DISPLAY_NUMBER = "263771000000"
TIMEOUT_SECONDS = 10.0  # per request: Meta's, and the one we give Paynow's updates

Item = TypeVar("Item")


# --- command line ------------------------------------------------------------------------------


def add_common_arguments(parser) -> None:
    """Options every benchmark takes: where PostgreSQL and Redis are, sizes, JSON output."""
    parser.add_argument(
        "--database-url",
        default=os.environ.get("BENCH_DATABASE_URL")
        or os.environ.get("DATABASE_URL")
        or "postgres://postgres@127.0.0.1:5432/postgres",
        help="PostgreSQL server to make the run's fresh database on (its own database is unused)",
    )
    parser.add_argument(
        "--db-prefix",
        default=os.environ.get("BENCH_DB_PREFIX", "bench"),
        help="prefix of the databases the run creates and drops",
    )
    parser.add_argument(
        "--redis-url",
        default=os.environ.get("BENCH_REDIS_URL")
        or os.environ.get("CELERY_BROKER_URL")
        or "redis://127.0.0.1:6379/15",
        help="Redis database for the broker (the run's keys carry a prefix of their own)",
    )
    parser.add_argument(
        "--cache-url",
        default=os.environ.get("BENCH_CACHE_URL") or os.environ.get("CACHE_URL") or "",
        help="the shared cache (rate limits) as in production; default: the --redis-url database",
    )
    parser.add_argument("--quick", action="store_true", help="a tiny load: seconds (the tests)")
    parser.add_argument("--full", action="store_true", help="the sizes issue 14 measured")
    parser.add_argument("--json", metavar="PATH", help="write the figures as JSON to PATH")
    parser.add_argument("--deadline", type=float, default=900.0, help="seconds for the whole run")


def size(args, quick, default, full):
    """The value for the run's size: ``--quick``, ``--full`` or neither."""
    return quick if args.quick else full if args.full else default


def write_json(args, result: dict) -> None:
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2, default=str))


# --- the machine -------------------------------------------------------------------------------


def load_average() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def machine_facts() -> dict[str, Any]:
    """What a reader needs to compare figures: cores, CPU, memory, load, versions."""
    model = ""
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            model = line.split(":", 1)[1].strip()
            break
    mem_kb = 0
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            mem_kb = int(line.split()[1])
    uptime = subprocess.run(["uptime"], capture_output=True, text=True, check=False).stdout.strip()  # noqa: S607
    return {
        "nproc": os.cpu_count(),
        "cpu": model,
        "memory_gib": round(mem_kb / 1024 / 1024, 1),
        "load_average": load_average(),
        "uptime": uptime,
        "python": platform.python_version(),
        "kernel": platform.release(),
    }


_CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def _stat_fields(pid: int) -> list[str] | None:
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return text[text.rindex(")") + 2 :].split()  # after "pid (comm) "


def tree_cpu_seconds(root_pid: int) -> float:
    """CPU seconds (user + system) used so far by `root_pid` and every process below it.

    Reaped children count through the parent's cutime/cstime, so a gunicorn worker recycled
    during the run (``max_requests``) still counts, its boot included.
    """
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            fields = _stat_fields(int(entry.name))
            if fields:
                children.setdefault(int(fields[1]), []).append(int(entry.name))
    total = 0
    stack, first = [root_pid], True
    while stack:
        pid = stack.pop()
        fields = _stat_fields(pid)
        if fields is None:
            continue
        # fields[11..14]: utime, stime, cutime, cstime (proc(5), counted from field 3)
        total += int(fields[11]) + int(fields[12])
        if first:  # only the root's reaped children: a live child is counted itself
            total += int(fields[13]) + int(fields[14])
            first = False
        stack.extend(children.get(pid, []))
    return total / _CLOCK_TICKS


# --- databases ---------------------------------------------------------------------------------


def _server_url(base_url: str, name: str) -> str:
    return base_url.rsplit("/", 1)[0] + f"/{name}"


def fresh_database(base_url: str, prefix: str, kind: str) -> tuple[str, str]:
    """A new PostgreSQL database ``<prefix>_<kind>_<pid>``: (its URL, its name)."""
    import psycopg

    if not base_url.startswith("postgres"):
        raise SystemExit("the benchmarks run on PostgreSQL (--database-url postgres://...)")
    name = f"{prefix}_{kind}_{os.getpid()}"
    with psycopg.connect(_server_url(base_url, "postgres"), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    return _server_url(base_url, name), name


def drop_database(base_url: str, name: str | None) -> None:
    """Close Django's connections (if Django is loaded) and drop the run's database."""
    if name is None:
        return
    if "django" in sys.modules:
        from django.db import connections

        connections.close_all()
    import psycopg

    with psycopg.connect(_server_url(base_url, "postgres"), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def postgres_version(database_url: str) -> str:
    import psycopg

    with psycopg.connect(database_url) as conn:
        return conn.execute("SHOW server_version").fetchone()[0].split()[0]


# --- Redis -------------------------------------------------------------------------------------


class RedisRun:
    """The run's share of a Redis database: a key prefix of its own, deleted at the end."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.prefix = f"bench{os.getpid()}-{secrets.token_hex(3)}:"

    def _client(self):
        import redis

        return redis.Redis.from_url(self.url, socket_timeout=5)

    def check(self) -> None:
        client = self._client()
        try:
            client.ping()
        except Exception as exc:
            raise SystemExit(f"Redis at {self.url} does not answer: {exc}") from None
        finally:
            client.close()

    def queue_length(self, queue: str = "celery") -> int:
        client = self._client()
        try:
            return int(client.llen(self.prefix + queue))
        finally:
            client.close()

    def release(self) -> int:
        """Delete every key of the run (queues, bindings, unacked tasks)."""
        client = self._client()
        try:
            keys = list(client.scan_iter(match=self.prefix + "*", count=1000))
            for start in range(0, len(keys), 500):
                client.delete(*keys[start : start + 500])
            return len(keys)
        finally:
            client.close()


# --- our app's environment ---------------------------------------------------------------------


def app_environment(
    database_url: str,
    site_url: str,
    *,
    broker_url: str = "",
    cache_url: str = "",
    key_prefix: str = "",
    extra: dict[str, str] | None = None,
) -> dict[str, str]:
    """The environment our app (web, worker, the bench process itself) runs with."""
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "benchmarks.app_settings",
        "DATABASE_URL": database_url,
        "SECRET_KEY": "bench-secret-key-not-for-production-0123456789abcdef",
        "FIELD_ENCRYPTION_KEY": "dGVzdC1vbmx5LWZpZWxkLWVuY3J5cHRpb24ta2V5ISE=",
        "SITE_URL": site_url,
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "SECURE_SSL_REDIRECT": "false",
        "DEBUG": "false",
        "LOG_LEVEL": "INFO",
        "CELERY_BROKER_URL": broker_url,
        "CACHE_URL": cache_url or broker_url or "",
        "BENCH_REDIS_KEY_PREFIX": key_prefix,
        # One load generator on one IP: the per-IP limit would measure itself; its
        # middleware and counters still run.
        "RATE_LIMIT_REQUESTS": "100000000",
        "RATE_LIMIT_META_REQUESTS": "100000000",
        "PYTHONPATH": os.pathsep.join(SOURCE_DIRS),
        "PYTHONUNBUFFERED": "1",
    }
    if not env["CACHE_URL"]:
        env.pop("CACHE_URL")
    env.update(extra or {})
    return env


def setup_django(env: dict[str, str]) -> None:
    """Load Django in this process with `env` (our app's settings)."""
    os.environ.update(env)
    import logging

    import django

    django.setup()
    # The bench process's own HTTP calls are not news; our app's log lines stay as deployed.
    logging.getLogger("httpx").setLevel(logging.WARNING)


# --- processes ---------------------------------------------------------------------------------


class Processes:
    """The programs a run starts, each writing to its own log in ``var/bench/``; stopped last
    started first."""

    def __init__(self) -> None:
        self.processes: list[subprocess.Popen] = []
        self.logs: list = []

    def start(
        self, log_name: str, command: list[str], env: dict[str, str], cwd: Path = REPO
    ) -> subprocess.Popen:
        LOG_DIR.mkdir(parents=True, exist_ok=True)
        log = open(LOG_DIR / log_name, "w")
        self.logs.append(log)
        process = subprocess.Popen(  # noqa: S603 - our own programs
            command, env=env, cwd=cwd, stdout=log, stderr=subprocess.STDOUT
        )
        self.processes.append(process)
        return process

    def stop(self, process: subprocess.Popen, grace: float = 20) -> None:
        stop(process, grace)

    def stop_all(self, grace: float = 20) -> None:
        for process in reversed(self.processes):
            stop(process, grace)
        for log in self.logs:
            log.close()


def stop(process: subprocess.Popen | None, grace: float = 20) -> None:
    """Terminate `process` (SIGTERM: gunicorn and Celery shut down gracefully); kill it if it
    has not ended after `grace` seconds."""
    if process is None or process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(grace)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(5)


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for(url: str, deadline: float, process: subprocess.Popen | None = None) -> None:
    """Wait until `url` answers below 500, or exit when `deadline` (monotonic) passes."""
    import httpx

    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise SystemExit(f"the server for {url} exited ({process.returncode}); see var/bench/")
        try:
            if httpx.get(url, timeout=1).status_code < 500:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise SystemExit(f"server at {url} did not start")


def start_gunicorn(
    processes: Processes,
    log_name: str,
    wsgi_app: str,
    port: int,
    env: dict[str, str],
    *,
    workers: int = 3,
    deadline: float,
) -> subprocess.Popen:
    """gunicorn with ``deploy/gunicorn.conf.py`` (its workers, threads, recycling, logging),
    bound to 127.0.0.1:`port`; waits until it answers."""
    env = {**env, "WEB_CONCURRENCY": str(workers), "PORT": str(port)}
    command = [
        sys.executable, "-m", "gunicorn", "--config", str(GUNICORN_CONF),
        "--bind", f"127.0.0.1:{port}", wsgi_app,
    ]  # fmt: skip
    process = processes.start(log_name, command, env)
    wait_for(f"http://127.0.0.1:{port}/healthz", min(deadline, time.monotonic() + 90), process)
    return process


def start_worker(
    processes: Processes,
    log_name: str,
    env: dict[str, str],
    *,
    concurrency: int = 2,
    deadline: float,
) -> subprocess.Popen:
    """A Celery worker as deployed (docker-compose.yml: prefork, 2 processes, recycled every
    500 tasks), on the run's broker keys; waits until it is ready."""
    command = [
        sys.executable, "-m", "celery", "--app=whatsappcrm", "worker", "--loglevel=INFO",
        f"--concurrency={concurrency}", "--max-tasks-per-child=500",
        "--without-gossip", "--without-mingle", "-n", f"bench{os.getpid()}@%h",
    ]  # fmt: skip
    process = processes.start(log_name, command, env, cwd=BACKEND)
    log_path = LOG_DIR / log_name
    limit = min(deadline, time.monotonic() + 90)
    while b" ready." not in log_path.read_bytes():
        if process.poll() is not None or time.monotonic() > limit:
            raise SystemExit(f"the Celery worker did not start; see {log_path}")
        time.sleep(0.2)
    return process


def start_paynow_emulator(processes: Processes, port: int, *, deadline: float):
    command = [
        sys.executable, "-m", "sandbox.paynow", "--host", "127.0.0.1", "--port", str(port),
        "--integration-id", INTEGRATION_ID, "--integration-key", INTEGRATION_KEY,
        "--auth-email", MERCHANT_EMAIL, "--time-scale", "0.01",
    ]  # fmt: skip
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    process = processes.start("paynow-emulator.log", command, env)
    wait_for(f"http://127.0.0.1:{port}/_control/config", min(deadline, time.monotonic() + 30))
    return process


def start_whatsapp_emulator(
    processes: Processes, port: int, webhook_url: str, *, status_delay: str, deadline: float
):
    command = [
        sys.executable, "-m", "sandbox.whatsapp", "--host", "127.0.0.1", "--port", str(port),
        "--webhook-url", webhook_url, "--app-secret", META_APP_SECRET,
        "--access-token", META_ACCESS_TOKEN, "--phone-number-id", META_PHONE_NUMBER_ID,
        "--waba-id", META_WABA_ID, "--display-phone-number", META_DISPLAY_NUMBER,
        "--status-delay", status_delay, "--retry-base-delay", "0.5", "--log-level", "WARNING",
    ]  # fmt: skip
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    process = processes.start("whatsapp-emulator.log", command, env)
    wait_for(f"http://127.0.0.1:{port}/_control/health", min(deadline, time.monotonic() + 30))
    return process


# --- the protocols, as Meta and Paynow speak them (written here, not imported from our app) ----


def meta_signature(body: bytes, secret: str = META_APP_SECRET) -> str:
    """``X-Hub-Signature-256``: ``sha256=`` + hex HMAC-SHA256(app secret, raw body).
    Source: Meta, Webhooks, "Validating Payloads" (developers.facebook.com/docs/graph-api/webhooks/
    getting-started#validating-payloads)."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def paynow_hash(fields: Sequence[tuple[str, str]], key: str = INTEGRATION_KEY) -> str:
    """Paynow's hash: SHA-512, uppercase hex, of every value but ``hash`` in order, then the
    integration key. Source: Paynow developer docs, "Generating Hash"
    (developers.paynow.co.zw/docs/integration_generation.html)."""
    parts = [value for name, value in fields if name.lower() != "hash"]
    return hashlib.sha512(("".join(parts) + key).encode()).hexdigest().upper()


def paynow_status_update(
    reference: str, amount: Decimal, paynow_reference: str, poll_url: str, status: str = "Paid"
) -> bytes:
    """A status update as Paynow posts it to the result URL (fields in Paynow's order, hashed).
    Shape: tests/fixtures/paynow/status_paid.txt (from Paynow's docs)."""
    fields = [
        ("reference", reference),
        ("amount", f"{amount:.2f}"),
        ("paynowreference", paynow_reference),
        ("pollurl", poll_url),
        ("status", status),
    ]
    fields.append(("hash", paynow_hash(fields)))
    return urlencode(fields).encode("ascii")


_WAMID_SEQ = iter(range(1, 1 << 62))


def wamid(wa_id: str) -> str:
    """A distinct id shaped like Meta's: ``wamid.`` + base64 of a small binary blob."""
    blob = b"\x18\x0c" + wa_id.encode()[:15] + b"\x15\x02\x00\x12\x18\x14" + secrets.token_bytes(10)
    return "wamid." + base64.b64encode(blob + next(_WAMID_SEQ).to_bytes(6, "big")).decode()


def text_message(wa_id: str, text: str, timestamp: int | None = None) -> dict:
    return {
        "from": wa_id,
        "id": wamid(wa_id),
        "timestamp": str(timestamp or int(time.time())),
        "type": "text",
        "text": {"body": text},
    }


def list_reply_message(wa_id: str, row_id: str, title: str, context_id: str = "") -> dict:
    message = {
        "from": wa_id,
        "id": wamid(wa_id),
        "timestamp": str(int(time.time())),
        "type": "interactive",
        "interactive": {"type": "list_reply", "list_reply": {"id": row_id, "title": title}},
    }
    if context_id:
        message["context"] = {"from": META_DISPLAY_NUMBER, "id": context_id}
    return message


def webhook_body(
    messages: list[dict],
    profiles: dict[str, str],
    phone_number_id: str = META_PHONE_NUMBER_ID,
    *,
    statuses: list[dict] | None = None,
) -> bytes:
    """Meta's ``messages`` webhook envelope around `messages` (profile names by wa_id), or
    around `statuses`. Shape: tests/fixtures/meta/text.json, multiple_messages.json and
    status_delivered.json (Meta's webhook reference)."""
    value: dict[str, Any] = {
        "messaging_product": "whatsapp",
        "metadata": {
            "display_phone_number": META_DISPLAY_NUMBER,
            "phone_number_id": phone_number_id,
        },
    }
    if statuses is not None:
        value["statuses"] = statuses
    else:
        value["contacts"] = [
            {"profile": {"name": name}, "wa_id": wa_id} for wa_id, name in profiles.items()
        ]
        value["messages"] = messages
    body = {
        "object": "whatsapp_business_account",
        "entry": [
            {
                "id": META_WABA_ID,
                "changes": [{"value": value, "field": "messages"}],
            }
        ],
    }
    return json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode()


# --- rows the requests need (Django loaded, our settings) ---------------------------------------


def create_meta_config(graph_base_url: str = "http://127.0.0.1:9"):
    """The WhatsApp number, as staff enter it in the admin (model row)."""
    from meta_integration.models import MetaAppConfig

    return MetaAppConfig.objects.create(
        name="Bench",
        phone_number_id=META_PHONE_NUMBER_ID,
        waba_id=META_WABA_ID,
        display_phone_number=META_DISPLAY_NUMBER,
        access_token=META_ACCESS_TOKEN,
        app_secret=META_APP_SECRET,
        verify_token="bench-verify",  # noqa: S106
        graph_base_url=graph_base_url,
        is_active=True,
    )


def create_paynow_config(api_base_url: str):
    """The active Paynow integration, pointed at the emulator's `api_base_url` (model row)."""
    from paynow_integration.models import PaynowConfig

    return PaynowConfig.objects.create(
        integration_id=INTEGRATION_ID,
        integration_key=INTEGRATION_KEY,
        api_base_url=api_base_url,
        auth_email=MERCHANT_EMAIL,
        is_active=True,
    )


def create_bookings(count: int, whatsapp_prefix: str, amount: Decimal = Decimal("200.00")) -> list:
    """`count` bookings of one tour, each with its own WhatsApp contact (model rows)."""
    from conversations.models import Contact
    from customer_data.models import Booking, Tour

    tour = Tour.objects.create(name="Victoria Falls Guided Tour", base_price=amount / 2)
    contacts = Contact.objects.bulk_create(
        Contact(whatsapp_id=f"{whatsapp_prefix}{n:06d}", name=f"Bench {n}") for n in range(count)
    )
    start = date.today() + timedelta(days=30)
    bookings = [
        Booking(
            tour=tour,
            contact=contact,
            start_date=start,
            end_date=start,
            number_of_adults=2,
            total_amount=amount,
            email="bench@example.com",
        )
        for contact in contacts
    ]
    return Booking.objects.bulk_create(bookings, batch_size=1000)


def money_invariant_problems() -> list[str]:
    """Every booking's ``amount_paid`` equals its successful payments minus refunds."""
    from django.db.models import Q, Sum

    from customer_data.models import Booking, PaymentStatus

    rows = Booking.objects.annotate(
        paid=Sum("payments__amount", filter=Q(payments__status=PaymentStatus.SUCCESSFUL))
    ).values_list("booking_reference", "amount_paid", "paid")
    return [
        f"booking {ref}: amount_paid {amount_paid} != successful payments {paid or 0}"
        for ref, amount_paid, paid in rows
        if amount_paid != (paid or Decimal("0.00"))
    ]


# --- paying through the payment form (the WhatsApp Flows data endpoint, over HTTP) -------------


def flow_key_pair() -> tuple[bytes, bytes]:
    """A 2048-bit RSA key pair for the Flows endpoint: (private PEM, public PEM)."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    public = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return private, public


def flow_encrypt(payload: dict, public_pem: bytes) -> tuple[bytes, bytes, bytes]:
    """A data-endpoint request as Meta's client makes it: AES-128-GCM body, RSA-OAEP(SHA-256)
    key. Source: Meta, "Implementing Endpoints for Flows" (request decryption)."""
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import padding
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    key, iv = os.urandom(16), os.urandom(16)
    wrapped = serialization.load_pem_public_key(public_pem).encrypt(
        key,
        padding.OAEP(mgf=padding.MGF1(hashes.SHA256()), algorithm=hashes.SHA256(), label=None),
    )
    body = {
        "encrypted_flow_data": base64.b64encode(
            AESGCM(key).encrypt(iv, json.dumps(payload).encode(), None)
        ).decode(),
        "encrypted_aes_key": base64.b64encode(wrapped).decode(),
        "initial_vector": base64.b64encode(iv).decode(),
    }
    return json.dumps(body).encode(), key, iv


def flow_decrypt(text: bytes, key: bytes, iv: bytes) -> dict:
    """Our answer: AES-GCM with the bit-flipped IV, base64 (same Meta page)."""
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    flipped = bytes(b ^ 0xFF for b in iv)
    return json.loads(AESGCM(key).decrypt(flipped, base64.b64decode(text), None))


def create_payment_form(bookings: list, amount: Decimal) -> list[str]:
    """The payment form for each booking, as the bot sends it: a form session (model row) and
    its signed flow token, one per booking."""
    from django.utils import timezone

    from flows.definitions.payment_whatsapp_flow import PAYMENT_WHATSAPP_FLOW
    from flows.form_tokens import new_token_id, sign_flow_token
    from flows.models import FlowFormSession, WhatsAppFlow

    flow = WhatsAppFlow.objects.filter(name="payment_whatsapp_flow").first()
    if flow is None:
        flow = WhatsAppFlow.objects.create(
            name="payment_whatsapp_flow",
            flow_id="1",
            status="PUBLISHED",
            flow_json=PAYMENT_WHATSAPP_FLOW,
        )
    sessions = [
        FlowFormSession(
            token_id=new_token_id(),
            whatsapp_flow=flow,
            contact=booking.contact,
            booking=booking,
            amount=amount,
            purpose="deposit",
            expires_at=timezone.now() + timedelta(hours=2),
        )
        for booking in bookings
    ]
    FlowFormSession.objects.bulk_create(sessions, batch_size=1000)
    return [sign_flow_token(session.token_id) for session in sessions]


def submit_payment_forms(
    url: str, tokens: list[str], public_pem: bytes, *, concurrency: int, deadline: float
) -> list[tuple[float, str]]:
    """Submit each form with EcoCash, as the traveller does in WhatsApp (the data endpoint's
    ``data_exchange``): each starts one pending Paynow payment through our real path."""
    requests = [
        flow_encrypt(
            {
                "version": "3.0",
                "action": "data_exchange",
                "screen": "PAYMENT",
                "data": {
                    "payment_method": "ecocash",
                    "phone": f"078{n % 10_000_000:07d}",
                    "email": "bench@example.com",
                },
                "flow_token": token,
            },
            public_pem,
        )
        for n, token in enumerate(tokens)
    ]
    return flow_load(url, requests, concurrency, deadline)


def flow_load(url: str, requests: list[tuple[bytes, bytes, bytes]], concurrency: int, deadline):
    """Send Meta's signed Flows requests: [(seconds, screen or status, or an error), ...]."""

    def request(item) -> tuple[bytes, dict[str, str]]:
        body, _key, _iv = item
        headers = {"Content-Type": "application/json", "X-Hub-Signature-256": meta_signature(body)}
        return body, headers

    def outcome(item, response) -> str:
        _body, key, iv = item
        if response.status_code != 200:
            return f"HTTP {response.status_code}"
        answer = flow_decrypt(response.content, key, iv)
        return answer.get("screen") or (answer.get("data") or {}).get("status", "?")

    return run_load(url, requests, concurrency, deadline, request, outcome)


def approve_silently(control_url: str, paynow_references: Iterable[str], deadline: float) -> None:
    """The payer approves each prompt in the emulator, whose own status updates are dropped
    (lost IPNs): Paynow now answers ``Paid`` to a poll, and no update has reached us."""
    import httpx

    wanted = set(paynow_references)
    with httpx.Client(base_url=control_url, timeout=30) as control:
        control.post("/faults/drop-updates", json={"count": len(wanted)}).raise_for_status()

        def approve(ref: str) -> None:
            control.post(f"/transactions/{ref}/approve").raise_for_status()

        with ThreadPoolExecutor(max_workers=8) as pool:
            list(pool.map(approve, wanted))
        while time.monotonic() < deadline:
            if control.get("/faults").json()["drop_updates"] == 0:
                return
            time.sleep(0.1)
    raise SystemExit("the emulator did not approve (and drop the updates of) every payment")


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

    ``request(item)`` gives the body and headers; ``outcome(item, response)`` names the result.
    A request that fails is its exception's name; one not sent because `deadline` (monotonic)
    has passed is ``deadline``.
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


def percentile(sorted_values: list[float], pct: float) -> float:
    """Linear interpolation between ranks (PostgreSQL's percentile_cont, the dashboard's)."""
    if not sorted_values:
        return float("nan")
    if len(sorted_values) == 1:
        return sorted_values[0]
    rank = (len(sorted_values) - 1) * pct / 100
    low = int(rank)
    high = min(low + 1, len(sorted_values) - 1)
    return sorted_values[low] + (sorted_values[high] - sorted_values[low]) * (rank - low)


def latency_summary(results: list[tuple[float, str]], expected: str) -> dict[str, Any]:
    """n, errors, and p50/p90/p99/max in ms of the `expected` outcomes."""
    ok = sorted(t for t, outcome in results if outcome == expected)
    others: dict[str, int] = {}
    for _t, outcome in results:
        if outcome != expected:
            others[outcome] = others.get(outcome, 0) + 1
    summary: dict[str, Any] = {"n": len(results), "ok": len(ok), "errors": others}
    if ok:
        summary.update(
            p50_ms=round(statistics.median(ok) * 1000, 1),
            p90_ms=round(percentile(ok, 90) * 1000, 1),
            p99_ms=round(percentile(ok, 99) * 1000, 1),
            max_ms=round(ok[-1] * 1000, 1),
        )
    return summary


def latency_line(name: str, summary: dict[str, Any], width: int = 16) -> str:
    if not summary.get("ok"):
        return f"{name:<{width}} {summary['n']:>6}   no successful requests {summary['errors']}"
    return (
        f"{name:<{width}} {summary['n']:>6} {summary['p50_ms']:>9} {summary['p90_ms']:>9}"
        f" {summary['p99_ms']:>9} {summary['max_ms']:>9} {sum(summary['errors'].values()):>7}"
    )


def latency_header(first: str, width: int = 16) -> str:
    return (
        f"{first:<{width}} {'n':>6} {'p50 ms':>9} {'p90 ms':>9} {'p99 ms':>9} {'max ms':>9}"
        f" {'errors':>7}"
    )


def wait_until(condition: Callable[[], bool], deadline: float, interval: float = 0.1) -> bool:
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(interval)
    return condition()


# --- wrk ---------------------------------------------------------------------------------------

WRK_SCRIPT = Path(__file__).resolve().parent / "signed_requests.lua"


def write_requests(path: Path, requests: Iterable[tuple[str, str, str, bytes]]) -> int:
    """The file ``signed_requests.lua`` cycles through: (header, value, content type, body)."""
    count = 0
    with path.open("wb") as out:
        for name, value, content_type, body in requests:
            if b"\n" in body or b"\t" in body:
                raise ValueError("a request body for wrk must be one line without tabs")
            out.write(f"{name or '-'}\t{value or '-'}\t{content_type}\t".encode() + body + b"\n")
            count += 1
    return count


def run_wrk(
    url: str,
    requests_file: Path,
    *,
    connections: int,
    duration: int,
    server_pid: int,
    offset: int = 0,
    threads: int = 1,
) -> dict[str, Any]:
    """``wrk -t1 -c<connections> -d<duration>s`` with the signed requests; the figures, and the
    CPU the server's process tree used, per request. `offset`: the first request to send (the
    ones before it were sent by earlier runs)."""
    import shutil

    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed (Debian: apt-get install -y wrk)")
    command = [
        "wrk", f"-t{threads}", f"-c{connections}", f"-d{max(1, int(duration))}s",
        "--timeout", "10s", "-s", str(WRK_SCRIPT), url,
    ]  # fmt: skip
    cpu_before = tree_cpu_seconds(server_pid)
    load_before = load_average()
    finished = subprocess.run(  # noqa: S603 - wrk, with our arguments
        command,
        env={**os.environ, "WRK_REQUESTS": str(requests_file), "WRK_OFFSET": str(offset)},
        capture_output=True,
        text=True,
        timeout=duration + 60,
        check=False,
    )
    cpu_after = tree_cpu_seconds(server_pid)
    line = next((ln for ln in finished.stdout.splitlines() if ln.startswith("WRK_JSON ")), None)
    if line is None:
        raise SystemExit(f"wrk failed ({finished.returncode}): {finished.stdout}{finished.stderr}")
    raw = json.loads(line[len("WRK_JSON ") :])
    seconds = raw["duration_us"] / 1e6
    count = raw["requests"]
    errors = sum(raw[k] for k in ("connect_errors", "read_errors", "write_errors", "timeouts"))
    return {
        "connections": connections,
        "duration_s": round(seconds, 2),
        "requests": count,
        "rps": round(count / seconds, 1) if seconds else 0.0,
        "p50_ms": round(raw["p50_us"] / 1000, 1),
        "p90_ms": round(raw["p90_us"] / 1000, 1),
        "p99_ms": round(raw["p99_us"] / 1000, 1),
        "max_ms": round(raw["max_us"] / 1000, 1),
        "over_1s": raw["over_1s"],
        "non_2xx": raw["status_errors"],
        "socket_errors": errors,
        "cpu_ms_per_request": round((cpu_after - cpu_before) * 1000 / count, 2) if count else None,
        "load_before": load_before,
        "load_after": load_average(),
    }


# --- pending Paynow payments, started as travellers start them ---------------------------------

FLOWS_PATH = "/crm-api/flows/paynow-payment-webhook/"


def start_pending_payments(
    site: str, paynow_url: str, count: int, public_pem: bytes, *, amount: Decimal, deadline: float
) -> list[dict]:
    """`count` bookings, each with a payment form submitted with EcoCash through our Flows data
    endpoint (so each starts a pending Paynow payment by our real path, and the emulator holds
    its transaction, ``Sent``). Returns the emulator's transactions (Paynow's view of them)."""
    import httpx

    bookings = create_bookings(count, "2637840", amount=amount * 2)
    tokens = create_payment_form(bookings, amount)
    from django.db import connections

    connections.close_all()
    answers = submit_payment_forms(
        site + FLOWS_PATH, tokens, public_pem, concurrency=8, deadline=deadline
    )
    refused = [outcome for _t, outcome in answers if outcome != "SUCCESS"]
    if refused:
        raise SystemExit(f"{len(refused)} payment forms not accepted, e.g. {refused[:5]}")
    with httpx.Client(timeout=60) as client:
        transactions = client.get(paynow_url + "/_control/transactions").json()["transactions"]
    if len(transactions) != count:
        raise SystemExit(f"{len(transactions)} Paynow transactions for {count} payment forms")
    return transactions
