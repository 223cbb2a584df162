"""Fixtures for the Paynow integration: the emulator, an active config, a live site."""

import pytest


@pytest.fixture
def live_site(live_server, settings):
    """Our app on a real port, with SITE_URL pointing at it so Paynow can call back."""
    settings.SITE_URL = live_server.url
    return live_server


@pytest.fixture
def booking_200(make_booking):
    return make_booking(total="200.00", email="tendai@example.com")
