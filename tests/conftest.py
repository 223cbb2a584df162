"""Shared test plumbing: service markers and small factories for the money core."""

import os
from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.conf import settings

IN_CI = os.environ.get("CI", "").lower() == "true"


def _uses_postgres() -> bool:
    return "postgresql" in settings.DATABASES["default"]["ENGINE"]


def _has_broker() -> bool:
    return bool(settings.CELERY_BROKER_URL)


def _has_browser() -> bool:
    return any(os.path.exists(p) for p in ("/usr/bin/chromium", "/usr/bin/chromium-browser"))


_REQUIREMENTS = {
    "postgres": (_uses_postgres, "needs PostgreSQL: set DATABASE_URL=postgres://..."),
    "redis": (_has_broker, "needs a Celery broker: set CELERY_BROKER_URL=redis://..."),
    "browser": (_has_browser, "needs Chromium (apt-get install chromium)"),
}


def pytest_runtest_setup(item):
    for marker, (available, why) in _REQUIREMENTS.items():
        if item.get_closest_marker(marker) and not available():
            if IN_CI:
                pytest.fail(f"{why} (under CI=true this test must run, not skip)")
            pytest.skip(why)


@pytest.fixture
def eager_tasks():
    """Run Celery tasks in-process, as without a broker (restored after the test)."""
    from whatsappcrm.celery import app as celery_app

    before = celery_app.conf.task_always_eager
    celery_app.conf.task_always_eager = True
    yield
    celery_app.conf.task_always_eager = before


@pytest.fixture
def make_tour(db):
    from customer_data.models import Tour

    def make(**overrides):
        fields = {
            "name": "Victoria Falls Guided Tour",
            "base_price": Decimal("50.00"),
            "child_price": Decimal("25.00"),
            "duration_days": 1,
        }
        fields.update(overrides)
        return Tour.objects.create(**fields)

    return make


@pytest.fixture
def make_booking(db, make_tour):
    from customer_data import services

    def make(total=None, adults=2, children=0, tour=None, **kwargs):
        tour = tour or make_tour()
        if total is not None:
            tour.base_price = Decimal(total) / adults
            tour.child_price = None
            tour.save()
        return services.create_booking(
            tour=tour,
            start_date=date.today() + timedelta(days=30),
            adults=adults,
            children=children,
            **kwargs,
        )

    return make


@pytest.fixture
def paynow_emulator():
    """The Paynow emulator on a free port; time_scale 0.01 makes "paid after 5 s" 50 ms."""
    from sandbox.paynow import PaynowEmulator
    from tests.paynow_integration.support import INTEGRATION_ID, INTEGRATION_KEY, MERCHANT_EMAIL

    with PaynowEmulator(
        integration_id=INTEGRATION_ID,
        integration_key=INTEGRATION_KEY,
        auth_email=MERCHANT_EMAIL,
        time_scale=0.01,
    ) as emulator:
        yield emulator


@pytest.fixture
def paynow_config(db, paynow_emulator):
    """The active Paynow configuration, pointing at the emulator."""
    from paynow_integration.models import PaynowConfig
    from tests.paynow_integration.support import INTEGRATION_ID, INTEGRATION_KEY, MERCHANT_EMAIL

    return PaynowConfig.objects.create(
        integration_id=INTEGRATION_ID,
        integration_key=INTEGRATION_KEY,
        api_base_url=paynow_emulator.remote_url,
        auth_email=MERCHANT_EMAIL,
        is_active=True,
    )
