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
import sys
import time
from datetime import timedelta
from decimal import Decimal

import harness

APP_SECRET = "bench-app-secret"  # noqa: S105 - a throwaway secret for loopback
ENDPOINT_PATH = "/crm-api/flows/paynow-payment-webhook/"


def configure_server(settings) -> None:
    """In the server: the Flows key from BENCH_FLOW_PRIVATE_KEY, and tasks run eagerly."""
    settings.WHATSAPP_FLOW_PRIVATE_KEY = os.environ["BENCH_FLOW_PRIVATE_KEY"]
    settings.CELERY_TASK_ALWAYS_EAGER = True


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


def meta_load(url: str, requests: list[tuple[bytes, bytes, bytes]], concurrency: int, deadline):
    """Send Meta's signed requests: [(seconds, screen or status, or an error), ...]."""
    from meta_integration.signature import compute_signature

    def request(item) -> tuple[bytes, dict[str, str]]:
        body, _key, _iv = item
        headers = {
            "Content-Type": "application/json",
            "X-Hub-Signature-256": compute_signature(APP_SECRET, body),
        }
        return body, headers

    def outcome(item, response) -> str:
        _body, key, iv = item
        if response.status_code != 200:
            return f"HTTP {response.status_code}"
        answer = decrypt(response.content, key, iv)
        return answer.get("screen") or (answer.get("data") or {}).get("status", "?")

    return harness.run_load(url, requests, concurrency, deadline, request, outcome)


def summarise(name: str, results: list[tuple[float, str]], expected: str, concurrency: int):
    return harness.latency_row(
        name,
        results,
        expected,
        concurrency,
        14,
        lambda results: f"no successful requests ({len(results)})",
    )


# --- set-up ------------------------------------------------------------------------------------


def prepare(submits: int, inits: int, paynow_remote_url: str):
    """Rows the requests need: Meta and Paynow configs, the flow, bookings, form sessions."""
    from django.utils import timezone

    from flows.definitions.payment_whatsapp_flow import PAYMENT_WHATSAPP_FLOW
    from flows.models import FlowFormSession, WhatsAppFlow
    from flows.payment_form import new_token_id, sign_flow_token
    from meta_integration.models import MetaAppConfig

    MetaAppConfig.objects.create(phone_number_id="1", app_secret=APP_SECRET)
    harness.create_paynow_config(paynow_remote_url)
    flow = WhatsAppFlow.objects.create(
        name="payment_whatsapp_flow",
        flow_id="1",
        status="PUBLISHED",
        flow_json=PAYMENT_WHATSAPP_FLOW,
    )
    tokens = []
    for _n, booking in harness.create_bookings(submits + inits, "2637812"):
        session = FlowFormSession.objects.create(
            token_id=new_token_id(),
            whatsapp_flow=flow,
            contact=booking.contact,
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
    harness.add_run_arguments(parser)
    args = parser.parse_args()
    if args.serve:
        harness.serve(args.serve, args.workers, args.threads, configure_server)
        return 0

    deadline = time.monotonic() + args.deadline
    requests_n = max(1, min(args.requests, 5000))
    submits_n = max(1, min(args.submits, 1000))
    port = harness.free_port()
    site_url = f"http://127.0.0.1:{port}"
    database_url, database_name = harness.fresh_database(args.database_url, "bench_flows")
    os.environ.update(harness.environment(database_url, site_url))

    import django

    django.setup()
    from django.core.management import call_command

    from flows.crypto import generate_key_pair
    from sandbox.paynow import PaynowEmulator

    processes = harness.Processes()
    try:
        call_command("migrate", verbosity=0)
        private_pem, public_pem = generate_key_pair()
        with PaynowEmulator(
            integration_id=harness.INTEGRATION_ID,
            integration_key=harness.INTEGRATION_KEY,
            auth_email=harness.MERCHANT_EMAIL,
            time_scale=0.01,
        ) as paynow:
            submit_tokens, init_tokens = prepare(submits_n, min(requests_n, 200), paynow.remote_url)
            from django.db import connections

            connections.close_all()
            processes.start(
                "bench_flow_endpoint.log",
                harness.serve_command(__file__, port, args.workers, args.threads),
                env={**os.environ, "BENCH_FLOW_PRIVATE_KEY": private_pem.decode()},
            )
            harness.wait_for(site_url + "/healthz", min(deadline, time.monotonic() + 60))
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
            meta_load(url, ping[:20], args.concurrency, deadline)  # warm up connections and caches
            results = {
                "ping": meta_load(url, ping, args.concurrency, deadline),
                "INIT": meta_load(url, inits, args.concurrency, deadline),
                "data_exchange": meta_load(url, submits, args.concurrency, deadline),
            }
    finally:
        processes.stop_all(grace=10)
        harness.drop_database(args.database_url, database_name)

    cpu = os.cpu_count()
    print(
        f"Flows data endpoint on 127.0.0.1: gunicorn {args.workers} workers x {args.threads} "
        f"threads, {cpu} CPUs, Python {sys.version.split()[0]}, PostgreSQL; "
        "data_exchange against the Paynow emulator"
    )
    print(harness.latency_header("action", 14))
    print(summarise("ping", results["ping"], "active", args.concurrency))
    print(summarise("INIT", results["INIT"], "PAYMENT", args.concurrency))
    print(summarise("data_exchange", results["data_exchange"], "SUCCESS", args.concurrency))
    return 0


if __name__ == "__main__":
    sys.exit(main())
