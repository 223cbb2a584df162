"""Fixtures for the Paynow integration: the emulator, an active config, a live site."""

import pytest

from sandbox.paynow import PaynowEmulator
from tests.paynow_integration.support import INTEGRATION_ID, INTEGRATION_KEY, MERCHANT_EMAIL


@pytest.fixture
def paynow_emulator():
    # time_scale 0.01: "success after 5 s" arrives after 50 ms.
    with PaynowEmulator(
        integration_id=INTEGRATION_ID,
        integration_key=INTEGRATION_KEY,
        auth_email=MERCHANT_EMAIL,
        time_scale=0.01,
    ) as emulator:
        yield emulator


@pytest.fixture
def paynow_config(db, paynow_emulator):
    from paynow_integration.models import PaynowConfig

    return PaynowConfig.objects.create(
        integration_id=INTEGRATION_ID,
        integration_key=INTEGRATION_KEY,
        api_base_url=paynow_emulator.remote_url,
        auth_email=MERCHANT_EMAIL,
        is_active=True,
    )


@pytest.fixture
def live_site(live_server, settings):
    """Our app on a real port, with SITE_URL pointing at it so Paynow can call back."""
    settings.SITE_URL = live_server.url
    return live_server


@pytest.fixture
def booking_200(make_booking):
    return make_booking(total="200.00", email="tendai@example.com")
