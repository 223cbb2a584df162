"""Fixtures for the emulator tests: Paynow emulators on port 0 and a result-URL receiver; a
WhatsApp emulator with its webhook recorder, control client and Graph API client."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from sandbox.paynow import PaynowEmulator
from sandbox.whatsapp import WhatsAppEmulator
from sandbox.whatsapp.testing import ControlClient, WebhookRecorder
from tests.helpers import ResultReceiver, wait_until
from tests.sandbox.whatsapp_ids import ACCESS_TOKEN, APP_SECRET, PHONE_NUMBER_ID, WABA_ID

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


@pytest.fixture
def recorder() -> Iterator[WebhookRecorder]:
    recorder = WebhookRecorder()
    yield recorder
    recorder.close()


@pytest.fixture
def emulator_options() -> dict[str, Any]:
    """Per-module WhatsAppEmulator options on top of the defaults (override the fixture)."""
    return {"status_delay": 0.02}


@pytest.fixture
def emulator(
    recorder: WebhookRecorder, emulator_options: dict[str, Any]
) -> Iterator[WhatsAppEmulator]:
    options: dict[str, Any] = {
        "webhook_url": recorder.url,
        "app_secret": APP_SECRET,
        "access_token": ACCESS_TOKEN,
        "phone_number_id": PHONE_NUMBER_ID,
        "waba_id": WABA_ID,
        "retry_base_delay": 0.01,
        **emulator_options,
    }
    with WhatsAppEmulator(**options) as emulator:
        yield emulator


@pytest.fixture
def control(emulator: WhatsAppEmulator) -> Iterator[ControlClient]:
    with ControlClient(emulator.base_url) as client:
        yield client


@pytest.fixture
def graph(emulator: WhatsAppEmulator) -> Iterator[httpx.Client]:
    with httpx.Client(
        base_url=emulator.graph_url,
        headers={"Authorization": f"Bearer {ACCESS_TOKEN}"},
        timeout=10,
    ) as client:
        yield client
