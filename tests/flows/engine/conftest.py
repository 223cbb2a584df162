"""Fixtures for the conversation engine: a WhatsApp number, loaded flows, a traveller's phone."""

from __future__ import annotations

from decimal import Decimal

import pytest

from tests.flows.engine import chat


@pytest.fixture(autouse=True)
def eager_tasks(eager_tasks) -> None:
    """Autouse here: tasks run in-process (tests/conftest.py)."""


@pytest.fixture(autouse=True)
def engine_settings(settings):
    settings.INBOUND_MESSAGE_HANDLER = "flows.services.handle_inbound_message"
    settings.PAYNOW_ENABLED = True
    settings.WHATSAPP_MARK_AS_READ = False
    return settings


@pytest.fixture
def whatsapp_number(db):
    from meta_integration.models import MetaAppConfig

    return MetaAppConfig.objects.create(
        name="Kalai Safaris",
        phone_number_id=chat.PHONE_NUMBER_ID,
        waba_id=chat.WABA_ID,
        display_phone_number="263771000000",
        access_token="EAAG-flows-engine-token",
        app_secret=chat.APP_SECRET,
        verify_token="verify-flows",
        graph_base_url="http://127.0.0.1:9",  # nothing listens: sends stay recorded, unsent
    )


@pytest.fixture
def flows(db):
    from flows.engine.loader import load_flow_definitions

    return load_flow_definitions()


@pytest.fixture
def tours(db):
    from customer_data.models import Tour

    return [
        Tour.objects.create(
            name="Victoria Falls Tour",
            base_price=Decimal("50.00"),
            child_price=Decimal("25.00"),
            duration_days=1,
        ),
        Tour.objects.create(
            name="Zambezi Sunset Cruise", base_price=Decimal("85.00"), duration_days=1
        ),
        Tour.objects.create(
            name="Mosi-oa-Tunya Rhino Walk & Game Drive", base_price=Decimal("120.00")
        ),
        Tour.objects.create(name="Closed Tour", base_price=Decimal("10.00"), is_active=False),
    ]


@pytest.fixture
def phone(client, django_capture_on_commit_callbacks, whatsapp_number, flows, tours):
    return chat.Phone(client, django_capture_on_commit_callbacks)
