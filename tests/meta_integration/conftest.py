"""Fixtures for the WhatsApp channel: a config, signed webhook posts, the WhatsApp emulator."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from django.urls import reverse

from conversations.models import Contact, Message
from meta_integration.models import MetaAppConfig
from meta_integration.signature import compute_signature
from sandbox.whatsapp import WhatsAppEmulator
from sandbox.whatsapp.testing import ControlClient
from tests.helpers import whatsapp_emulator_for
from tests.meta_integration import whatsapp_helpers as h


@pytest.fixture(autouse=True)
def eager_tasks(eager_tasks) -> None:
    """Autouse here: tasks run in-process, as without a broker; the worker tests switch this off
    (tests/conftest.py restores it)."""


@pytest.fixture(autouse=True)
def channel_only(settings) -> None:
    """These tests are about the channel: inbound messages go to its built-in handler, not
    to the flow engine (tests/flows/engine covers that)."""
    settings.INBOUND_MESSAGE_HANDLER = "meta_integration.services.dispatch.default_inbound_handler"


@pytest.fixture
def dispatched(settings, channel_only) -> list[int]:
    settings.INBOUND_MESSAGE_HANDLER = "tests.meta_integration.whatsapp_helpers.recording_handler"
    h.DISPATCHED.clear()
    return h.DISPATCHED


@pytest.fixture
def make_config(db) -> Callable[..., MetaAppConfig]:
    def make(**overrides: Any) -> MetaAppConfig:
        fields: dict[str, Any] = {
            "name": "Kalai Safaris",
            "phone_number_id": h.PHONE_NUMBER_ID,
            "waba_id": h.WABA_ID,
            "display_phone_number": "263771000000",
            "access_token": h.ACCESS_TOKEN,
            "app_secret": h.APP_SECRET,
            "verify_token": h.VERIFY_TOKEN,
            "graph_base_url": h.UNREACHABLE_GRAPH,
        }
        fields.update(overrides)
        return MetaAppConfig.objects.create(**fields)

    return make


@pytest.fixture
def config(make_config) -> MetaAppConfig:
    return make_config()


@pytest.fixture
def our_message(config):
    """The outbound message (accepted by Meta) that the status_*.json fixtures report on."""
    contact = Contact.objects.create(whatsapp_id="263771234567", name="Tendai")
    return Message.objects.create(
        contact=contact,
        business_number_id=config.phone_number_id,
        direction=Message.Direction.OUTBOUND,
        wamid=h.OUR_WAMID,
        message_type="text",
        text="Welcome to Kalai Safaris",
        payload={},
        status=Message.Status.ACCEPTED,
    )


@pytest.fixture
def webhook_url() -> str:
    return reverse("meta_integration:webhook")


@pytest.fixture
def post_webhook(client, webhook_url, django_capture_on_commit_callbacks):
    """POST a body as Meta would (signed with ``secret``), running on-commit work too."""

    def post(body: bytes, *, secret: str | None = h.APP_SECRET, signature: str | None = None):
        headers = {}
        if signature is None and secret is not None:
            signature = compute_signature(secret, body)
        if signature is not None:
            headers["HTTP_X_HUB_SIGNATURE_256"] = signature
        with django_capture_on_commit_callbacks(execute=True):
            return client.post(webhook_url, data=body, content_type="application/json", **headers)

    return post


@pytest.fixture
def emulator() -> Iterator[WhatsAppEmulator]:
    """Meta's side over real HTTP; statuses and webhooks off unless a test turns them on."""
    with whatsapp_emulator_for(h, retry_base_delay=0.2) as running:
        yield running


@pytest.fixture
def control(emulator) -> Iterator[ControlClient]:
    with ControlClient(emulator.base_url) as client:
        yield client


@pytest.fixture
def emulated_config(make_config, emulator) -> MetaAppConfig:
    return make_config(graph_base_url=emulator.base_url)
