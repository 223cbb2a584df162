"""Small helpers shared by tests (import as `tests.helpers`)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import ModuleType
from typing import Any

from django.core.management import call_command
from django.urls import reverse

from sandbox.whatsapp import WhatsAppEmulator


def wait_until(predicate: Callable[[], Any], timeout: float = 10.0, interval: float = 0.02):
    """Poll `predicate` until it returns something truthy; fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout}s")
        time.sleep(interval)


def whatsapp_emulator_for(ids: ModuleType, **overrides: Any) -> WhatsAppEmulator:
    """A WhatsApp emulator (not started) for the Meta app whose APP_SECRET, ACCESS_TOKEN,
    PHONE_NUMBER_ID and WABA_ID the module `ids` holds: Meta's side over real HTTP, with
    delivery statuses, the 24-hour window and webhooks off unless `overrides` turn them on."""
    options: dict[str, Any] = {
        "app_secret": ids.APP_SECRET,
        "access_token": ids.ACCESS_TOKEN,
        "phone_number_id": ids.PHONE_NUMBER_ID,
        "waba_id": ids.WABA_ID,
        "display_phone_number": "263771000000",
        "status_delay": None,
        "window_enforcement": "off",
        **overrides,
    }
    return WhatsAppEmulator(**options)


def use_flow_private_key(settings: Any, private_pem: str) -> None:
    """Configure `private_pem` as our only WhatsApp Flows key (PEM text: no key files, no
    previous key), dropping cached keys. Clear the cache again after the test."""
    from flows import keys as flow_keys

    settings.WHATSAPP_FLOW_PRIVATE_KEY = private_pem
    settings.WHATSAPP_FLOW_PRIVATE_KEY_PATH = ""
    settings.WHATSAPP_FLOW_PREVIOUS_PRIVATE_KEY = ""
    settings.WHATSAPP_FLOW_PREVIOUS_PRIVATE_KEY_PATH = ""
    flow_keys.clear_cache()


def register_payment_flow_via_graph(site_url: str, stdout: Any) -> None:
    """Create and publish the payment form through the (emulated) Flows API, its data endpoint
    on our site at `site_url`."""
    call_command(
        "register_whatsapp_flow",
        "payment_whatsapp_flow",
        "--via-graph",
        "--publish",
        "--endpoint-uri",
        site_url + reverse("flows:paynow_payment_webhook"),
        stdout=stdout,
    )


def serve_posts(
    handle: Callable[[bytes, Message], tuple[int, bytes]], content_type: str = "text/plain"
) -> ThreadingHTTPServer:
    """An HTTP server on a free local port, in a daemon thread, answering each POST with
    `handle(body, headers) -> (status, body)`. Stop it with `shutdown()` and `server_close()`."""

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:
            raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            status, body = handle(raw, self.headers)
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
    ).start()
    return server


class ResultReceiver:
    """A tiny HTTP server standing in for our IPN view: records bodies, answers scripted codes."""

    def __init__(self) -> None:
        self.bodies: list[bytes] = []
        self.replies: list[int] = []  # status codes to answer, in order; then 200
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self.url = ""

    def _receive(self, body: bytes, headers: Message) -> tuple[int, bytes]:
        with self._lock:
            self.bodies.append(body)
            return (self.replies.pop(0) if self.replies else 200), b""

    def start(self) -> ResultReceiver:
        self._server = serve_posts(self._receive)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}/crm-api/paynow/ipn/"
        return self

    def stop(self) -> None:
        assert self._server is not None
        self._server.shutdown()
        self._server.server_close()

    def received(self) -> list[bytes]:
        with self._lock:
            return list(self.bodies)

    def wait_for(self, count: int, timeout: float = 5.0) -> list[bytes]:
        return wait_until(lambda: len(self.received()) >= count and self.received(), timeout)
