"""Latency of the WhatsApp Flows data endpoint under concurrent load, on this machine.

    .venv/bin/python benchmarks/flow_endpoint_latency.py [--requests 400] [--submits 100]
        [--concurrency 8] [--workers 2] [--threads 4] [--database-url postgres://...]

Starts, all on loopback: the Paynow emulator, our app under gunicorn (``--workers`` processes x
``--threads`` threads, as in production), then plays Meta's client: every request encrypted and
signed as Meta does (prepared before the clock starts). It measures ``ping`` and ``INIT`` and
``data_exchange`` (a real Paynow express checkout against the emulator, one booking per submit)
with ``--concurrency`` requests in flight, and prints median, p90, p99 and max per action.

Bounded: a fixed number of requests, a 10 s timeout each (Meta's), and a ``--deadline`` for the
whole run; everything started is stopped at the end. The database is a fresh one made for the run
(PostgreSQL on 127.0.0.1 by default; dropped afterwards).
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import statistics
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO / "whatsappcrm_backend"), str(REPO)]

APP_SECRET = "bench-app-secret"  # noqa: S105 - a throwaway secret for loopback
INTEGRATION_ID = "20817"
INTEGRATION_KEY = "0f3a5c2e-8b1d-4e6f-9a7c-2d4b6e8f0a1c"
MERCHANT_EMAIL = "merchant@kalaisafaris.example"
ENDPOINT_PATH = "/crm-api/flows/paynow-payment-webhook/"
META_TIMEOUT_SECONDS = 10.0


def _environment(database_url: str, site_url: str) -> dict[str, str]:
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
        "CELERY_BROKER_URL": "",
        # One load generator on one IP: the per-IP webhook limit would measure itself.
        "RATE_LIMIT_REQUESTS": "1000000",
        "PYTHONPATH": os.pathsep.join([str(REPO / "whatsappcrm_backend"), str(REPO)]),
    }


# --- the server process (gunicorn, configured from the environment) ----------------------------


def serve(port: int, workers: int, threads: int) -> None:
    """Run our app under gunicorn with the Flows key from BENCH_FLOW_PRIVATE_KEY."""
    import django
    from gunicorn.app.base import BaseApplication

    django.setup()
    from django.conf import settings

    settings.WHATSAPP_FLOW_PRIVATE_KEY = os.environ["BENCH_FLOW_PRIVATE_KEY"]
    settings.CELERY_TASK_ALWAYS_EAGER = True
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


# --- Meta's side -----------------------------------------------------------------------------


def encrypt(payload: dict, public_pem: bytes) -> tuple[bytes, bytes, bytes]:
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


def decrypt(text: bytes, key: bytes, iv: bytes) -> dict:
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    flipped = bytes(b ^ 0xFF for b in iv)
    return json.loads(AESGCM(key).decrypt(flipped, base64.b64decode(text), None))


def run_load(url: str, requests: list[tuple[bytes, bytes, bytes]], concurrency: int, deadline):
    import httpx

    from meta_integration.signature import compute_signature

    def one(item) -> tuple[float, str]:
        body, key, iv = item
        if time.monotonic() > deadline:
            return 0.0, "deadline"
        headers = {
            "Content-Type": "application/json",
            "X-Hub-Signature-256": compute_signature(APP_SECRET, body),
        }
        started = time.perf_counter()
        try:
            response = client.post(url, content=body, headers=headers)
        except httpx.HTTPError as exc:
            return time.perf_counter() - started, type(exc).__name__
        elapsed = time.perf_counter() - started
        if response.status_code != 200:
            return elapsed, f"HTTP {response.status_code}"
        answer = decrypt(response.content, key, iv)
        return elapsed, answer.get("screen") or (answer.get("data") or {}).get("status", "?")

    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    with httpx.Client(timeout=META_TIMEOUT_SECONDS, limits=limits) as client:
        with ThreadPoolExecutor(max_workers=concurrency) as pool:
            return list(pool.map(one, requests))


def summarise(name: str, results: list[tuple[float, str]], expected: str, concurrency: int):
    ok = sorted(t for t, outcome in results if outcome == expected)
    errors = len(results) - len(ok)
    if not ok:
        return f"{name:<14} {len(results):>5} {concurrency:>4}   no successful requests ({errors})"
    q = statistics.quantiles(ok, n=100, method="inclusive") if len(ok) > 1 else [ok[0]] * 99
    ms = [round(v * 1000, 1) for v in (statistics.median(ok), q[89], q[98], ok[-1])]
    return (
        f"{name:<14} {len(results):>5} {concurrency:>4} {ms[0]:>9} {ms[1]:>9} {ms[2]:>9}"
        f" {ms[3]:>9} {errors:>7}"
    )


# --- set-up ------------------------------------------------------------------------------------


def _fresh_database(base_url: str) -> tuple[str, str | None]:
    """A new PostgreSQL database for the run: (its URL, its name to drop afterwards)."""
    if not base_url.startswith("postgres"):
        return base_url, None
    import psycopg

    name = f"bench_flows_{os.getpid()}"
    admin_url = base_url.rsplit("/", 1)[0] + "/postgres"
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return base_url.rsplit("/", 1)[0] + f"/{name}", name


def _drop_database(base_url: str, name: str | None) -> None:
    if name is None:
        return
    import psycopg

    with psycopg.connect(base_url.rsplit("/", 1)[0] + "/postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_for(url: str, deadline: float) -> None:
    import httpx

    while time.monotonic() < deadline:
        try:
            if httpx.get(url, timeout=1).status_code < 500:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise SystemExit(f"server at {url} did not start")


def prepare(submits: int, inits: int, paynow_remote_url: str):
    """Rows the requests need: Meta and Paynow configs, the flow, bookings, form sessions."""
    from django.utils import timezone

    from conversations.models import Contact
    from customer_data import services
    from customer_data.models import Tour
    from flows.definitions.payment_whatsapp_flow import PAYMENT_WHATSAPP_FLOW
    from flows.models import FlowFormSession, WhatsAppFlow
    from flows.payment_form import new_token_id, sign_flow_token
    from meta_integration.models import MetaAppConfig
    from paynow_integration.models import PaynowConfig

    MetaAppConfig.objects.create(phone_number_id="1", app_secret=APP_SECRET)
    PaynowConfig.objects.create(
        integration_id=INTEGRATION_ID,
        integration_key=INTEGRATION_KEY,
        api_base_url=paynow_remote_url,
        auth_email=MERCHANT_EMAIL,
        is_active=True,
    )
    flow = WhatsAppFlow.objects.create(
        name="payment_whatsapp_flow",
        flow_id="1",
        status="PUBLISHED",
        flow_json=PAYMENT_WHATSAPP_FLOW,
    )
    tour = Tour.objects.create(name="Victoria Falls Guided Tour", base_price=Decimal("100.00"))
    tokens = []
    for n in range(submits + inits):
        contact = Contact.objects.create(whatsapp_id=f"2637812{n:05d}", name=f"Bench {n}")
        booking = services.create_booking(
            tour=tour,
            start_date=date.today() + timedelta(days=30),
            adults=2,
            contact=contact,
            email="bench@example.com",
        )
        session = FlowFormSession.objects.create(
            token_id=new_token_id(),
            whatsapp_flow=flow,
            contact=contact,
            booking=booking,
            amount=Decimal("100.00"),
            purpose="deposit",
            expires_at=timezone.now() + timedelta(hours=1),
        )
        tokens.append(sign_flow_token(session.token_id))
    return tokens[:submits], tokens[submits:]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=400, help="ping and INIT requests each")
    parser.add_argument("--submits", type=int, default=100, help="data_exchange requests")
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--deadline", type=float, default=240.0, help="seconds for the whole run")
    parser.add_argument(
        "--database-url",
        default=os.environ.get("BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/postgres"),
        help="PostgreSQL server to make a fresh database on",
    )
    parser.add_argument("--serve", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.serve, args.workers, args.threads)
        return 0

    deadline = time.monotonic() + args.deadline
    requests_n = max(1, min(args.requests, 5000))
    submits_n = max(1, min(args.submits, 1000))
    port = _free_port()
    site_url = f"http://127.0.0.1:{port}"
    database_url, database_name = _fresh_database(args.database_url)
    env = _environment(database_url, site_url)
    os.environ.update(env)

    import django

    django.setup()
    from django.core.management import call_command

    from flows.crypto import generate_key_pair
    from sandbox.paynow import PaynowEmulator

    server = None
    log = open(REPO / "var" / "bench_flow_endpoint.log", "w")
    try:
        call_command("migrate", verbosity=0)
        private_pem, public_pem = generate_key_pair()
        with PaynowEmulator(
            integration_id=INTEGRATION_ID,
            integration_key=INTEGRATION_KEY,
            auth_email=MERCHANT_EMAIL,
            time_scale=0.01,
        ) as paynow:
            submit_tokens, init_tokens = prepare(submits_n, min(requests_n, 200), paynow.remote_url)
            from django.db import connections

            connections.close_all()
            server = subprocess.Popen(  # noqa: S603 - our own script
                [
                    sys.executable,
                    __file__,
                    "--serve",
                    str(port),
                    "--workers",
                    str(args.workers),
                    "--threads",
                    str(args.threads),
                ],
                env={**os.environ, "BENCH_FLOW_PRIVATE_KEY": private_pem.decode()},
                stdout=log,
                stderr=subprocess.STDOUT,
            )
            _wait_for(site_url + "/healthz", min(deadline, time.monotonic() + 60))
            url = site_url + ENDPOINT_PATH

            ping = [
                encrypt({"version": "3.0", "action": "ping"}, public_pem) for _ in range(requests_n)
            ]
            inits = [
                encrypt(
                    {
                        "version": "3.0",
                        "action": "INIT",
                        "flow_token": init_tokens[n % len(init_tokens)],
                    },
                    public_pem,
                )
                for n in range(requests_n)
            ]
            submits = [
                encrypt(
                    {
                        "version": "3.0",
                        "action": "data_exchange",
                        "screen": "PAYMENT",
                        "data": {
                            "payment_method": "ecocash",
                            "phone": "0781234567",
                            "email": "bench@example.com",
                        },
                        "flow_token": token,
                    },
                    public_pem,
                )
                for token in submit_tokens
            ]
            run_load(url, ping[:20], args.concurrency, deadline)  # warm up connections and caches
            results = {
                "ping": run_load(url, ping, args.concurrency, deadline),
                "INIT": run_load(url, inits, args.concurrency, deadline),
                "data_exchange": run_load(url, submits, args.concurrency, deadline),
            }
    finally:
        if server is not None:
            server.terminate()
            try:
                server.wait(10)
            except subprocess.TimeoutExpired:
                server.kill()
        log.close()
        from django.db import connections

        connections.close_all()
        _drop_database(args.database_url, database_name)

    cpu = os.cpu_count()
    print(
        f"Flows data endpoint on 127.0.0.1: gunicorn {args.workers} workers x {args.threads} "
        f"threads, {cpu} CPUs, Python {sys.version.split()[0]}, PostgreSQL; "
        "data_exchange against the Paynow emulator"
    )
    print(
        f"{'action':<14} {'n':>5} {'conc':>4} {'median ms':>9} {'p90 ms':>9} {'p99 ms':>9}"
        f" {'max ms':>9} {'errors':>7}"
    )
    print(summarise("ping", results["ping"], "active", args.concurrency))
    print(summarise("INIT", results["INIT"], "PAYMENT", args.concurrency))
    print(summarise("data_exchange", results["data_exchange"], "SUCCESS", args.concurrency))
    return 0


if __name__ == "__main__":
    sys.exit(main())
