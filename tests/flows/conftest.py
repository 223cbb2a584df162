"""Fixtures for the WhatsApp Flows payment form: keys, a signed-in Meta app, a booking, a form."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from flows import keys as flow_keys
from flows.crypto import generate_key_pair
from tests.flows import support as s
from tests.helpers import use_flow_private_key


@pytest.fixture(scope="session")
def key_pair() -> tuple[bytes, bytes]:
    return generate_key_pair()


@pytest.fixture(scope="session")
def other_key_pair() -> tuple[bytes, bytes]:
    return generate_key_pair()


@pytest.fixture
def flow_key(settings, key_pair):
    """Our private key configured as PEM text; the public PEM is returned."""
    use_flow_private_key(settings, key_pair[0].decode())
    yield key_pair[1]
    flow_keys.clear_cache()


@pytest.fixture
def meta_config(db):
    from meta_integration.models import MetaAppConfig

    return MetaAppConfig.objects.create(
        name="Kalai Safaris",
        phone_number_id=s.PHONE_NUMBER_ID,
        waba_id=s.WABA_ID,
        display_phone_number="263771000000",
        access_token=s.ACCESS_TOKEN,
        app_secret=s.APP_SECRET,
        graph_base_url="http://127.0.0.1:9",
    )


@pytest.fixture
def published_flow(db):
    from flows.definitions.payment_whatsapp_flow import PAYMENT_WHATSAPP_FLOW
    from flows.models import WhatsAppFlow

    return WhatsAppFlow.objects.create(
        name="payment_whatsapp_flow",
        flow_id="1187654321098765",
        sync_status="published",
        status=WhatsAppFlow.Status.PUBLISHED,
        flow_json=PAYMENT_WHATSAPP_FLOW,
    )


@pytest.fixture
def contact(db):
    from conversations.models import Contact

    return Contact.objects.create(whatsapp_id=s.WA_ID, name="Tendai")


@pytest.fixture
def booking(make_booking, contact):
    return make_booking(total="200.00", email="tendai@example.com", contact=contact)


@pytest.fixture
def make_form(published_flow, contact, booking):
    """A form session as ``send_payment_form`` makes it: ``(session, flow_token)``."""
    from flows.form_tokens import new_token_id, sign_flow_token
    from flows.models import FlowFormSession

    def make(amount="100.00", purpose="deposit", expires_in=timedelta(hours=1), **fields):
        session = FlowFormSession.objects.create(
            token_id=new_token_id(),
            whatsapp_flow=published_flow,
            contact=fields.pop("contact", contact),
            booking=fields.pop("booking", booking),
            amount=Decimal(amount),
            purpose=purpose,
            expires_at=timezone.now() + expires_in,
            **fields,
        )
        return session, sign_flow_token(session.token_id)

    return make


@pytest.fixture
def endpoint(client, flow_key, meta_config) -> s.MetaFlowsClient:
    """Meta's client talking to our endpoint through Django's test client."""

    def post(body: bytes, headers: dict) -> tuple[int, bytes, str]:
        extra = {}
        if "X-Hub-Signature-256" in headers:
            extra["HTTP_X_HUB_SIGNATURE_256"] = headers["X-Hub-Signature-256"]
        response = client.post(s.ENDPOINT_PATH, data=body, content_type="application/json", **extra)
        return response.status_code, response.content, response.get("Content-Type", "")

    return s.MetaFlowsClient(post, flow_key)
