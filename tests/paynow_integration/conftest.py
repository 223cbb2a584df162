"""Fixtures for the Paynow integration: the client against an emulated Paynow on port 0, a
result-URL receiver, a live site for callbacks."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from paynow_integration.sdk import PaynowSDK
from sandbox.paynow import PaynowEmulator
from tests.helpers import ResultReceiver, wait_until

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "paynow"
INTEGRATION_ID = "1201"
INTEGRATION_KEY = "3e9fed89-60e1-4ce5-ab6e-6b1eb2d4f977"  # Paynow's documented test key
MERCHANT_EMAIL = "merchant@example.com"


def load_fixture(name: str) -> str:
    return (FIXTURES / f"{name}.txt").read_text(encoding="utf-8")


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


@pytest.fixture
def live_site(live_server, settings):
    """Our app on a real port, with SITE_URL pointing at it so Paynow can call back."""
    settings.SITE_URL = live_server.url
    return live_server


@pytest.fixture
def booking_200(make_booking):
    return make_booking(total="200.00", email="tendai@example.com")
