"""Fixtures for the Paynow client tests: an emulated Paynow on port 0 and a result-URL receiver."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from paynow_integration.sdk import PaynowSDK
from sandbox.paynow import PaynowEmulator

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "paynow"
INTEGRATION_ID = "1201"
INTEGRATION_KEY = "3e9fed89-60e1-4ce5-ab6e-6b1eb2d4f977"  # Paynow's documented test key
MERCHANT_EMAIL = "merchant@example.com"


def load_fixture(name: str) -> str:
    return (FIXTURES / f"{name}.txt").read_text(encoding="utf-8")


def wait_until(predicate: Callable[[], Any], timeout: float = 5.0, interval: float = 0.02) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout}s")
        time.sleep(interval)


class ResultReceiver:
    """A tiny HTTP server standing in for our IPN view: records bodies, answers scripted codes."""

    def __init__(self) -> None:
        self.bodies: list[bytes] = []
        self.replies: list[int] = []  # status codes to answer, in order; then 200
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                with receiver._lock:
                    receiver.bodies.append(body)
                    code = receiver.replies.pop(0) if receiver.replies else 200
                self.send_response(code)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}/crm-api/paynow/ipn/"
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    def start(self) -> ResultReceiver:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def received(self) -> list[bytes]:
        with self._lock:
            return list(self.bodies)

    def wait_for(self, count: int, timeout: float = 5.0) -> list[bytes]:
        return wait_until(lambda: len(self.received()) >= count and self.received(), timeout)


@pytest.fixture
def emulator() -> Iterator[PaynowEmulator]:
    with PaynowEmulator(
        integration_id=INTEGRATION_ID,
        integration_key=INTEGRATION_KEY,
        auth_email=MERCHANT_EMAIL,
        time_scale=0.01,
        port=0,
    ) as running:
        yield running


@pytest.fixture
def receiver() -> Iterator[ResultReceiver]:
    running = ResultReceiver().start()
    yield running
    running.stop()


@pytest.fixture
def merchant_email() -> str:
    return MERCHANT_EMAIL


@pytest.fixture(name="wait_until")
def wait_until_fixture() -> Callable[..., Any]:
    return wait_until


@pytest.fixture(name="load_fixture")
def load_fixture_fixture() -> Callable[[str], str]:
    return load_fixture


@pytest.fixture
def make_sdk(emulator: PaynowEmulator) -> Iterator[Callable[..., PaynowSDK]]:
    """PaynowSDK pointed at the emulator; override id, key, remote_url or timeout per test."""
    made: list[PaynowSDK] = []

    def make(**overrides: Any) -> PaynowSDK:
        kwargs: dict[str, Any] = {
            "integration_id": INTEGRATION_ID,
            "integration_key": INTEGRATION_KEY,
            "remote_url": emulator.remote_url,
        }
        kwargs.update(overrides)
        sdk = PaynowSDK(kwargs.pop("integration_id"), kwargs.pop("integration_key"), **kwargs)
        made.append(sdk)
        return sdk

    yield make
    for sdk in made:
        sdk.close()


@pytest.fixture
def sdk(make_sdk: Callable[..., PaynowSDK]) -> PaynowSDK:
    return make_sdk()
