"""Fixtures for the Paynow emulator tests: emulators on port 0 and a result-URL receiver."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from sandbox.paynow import PaynowEmulator
from tests.helpers import ResultReceiver, wait_until

INTEGRATION_ID = "1201"
INTEGRATION_KEY = "3e9fed89-60e1-4ce5-ab6e-6b1eb2d4f977"
MERCHANT_EMAIL = "merchant@example.com"


@pytest.fixture
def make_paynow_emulator() -> Iterator[Callable[..., PaynowEmulator]]:
    """Start emulators with per-test options (mode, delivery_attempts, time_scale)."""
    started: list[PaynowEmulator] = []

    def make(**overrides: Any) -> PaynowEmulator:
        options: dict[str, Any] = {
            "integration_id": INTEGRATION_ID,
            "integration_key": INTEGRATION_KEY,
            "auth_email": MERCHANT_EMAIL,
            "time_scale": 0.01,
            "port": 0,
        }
        options.update(overrides)
        emulator = PaynowEmulator(**options).start()
        started.append(emulator)
        return emulator

    yield make
    for emulator in started:
        emulator.stop()


@pytest.fixture
def paynow_emulator(make_paynow_emulator: Callable[..., PaynowEmulator]) -> PaynowEmulator:
    return make_paynow_emulator()


@pytest.fixture
def ipn_receiver() -> Iterator[ResultReceiver]:
    running = ResultReceiver().start()
    yield running
    running.stop()


@pytest.fixture(name="paynow_wait_until")
def wait_until_fixture() -> Callable[..., Any]:
    return wait_until
