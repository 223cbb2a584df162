"""Against the WhatsApp emulator over HTTP both ways: its signed webhooks reach our live server,
our replies reach its simulated user, and its status webhooks move our messages forward."""

from __future__ import annotations

import time

import pytest
from django.urls import reverse

from conversations import services as conversations
from conversations.models import Contact, Message
from meta_integration import messages as payloads
from meta_integration.services.dispatch import UNSUPPORTED_REPLY
from tests.meta_integration.whatsapp_helpers import wait_until

pytestmark = pytest.mark.django_db(transaction=True)

WA_ID = "263771234567"


@pytest.fixture
def wired(live_server, emulator, control, emulated_config):
    """The emulator delivers its webhooks to our webhook view on a live server."""
    emulator.webhook_url = live_server.url + reverse("meta_integration:webhook")
    control.config(status_delay=0.05, window_enforcement="sync", retry_base_delay=0.1)
    yield emulated_config
    # No webhook may land while the test database is being emptied.
    emulator.webhook_url = None
    emulator.reset()
    time.sleep(0.3)  # let a delivery already in flight finish


def test_user_message_reaches_our_database_and_our_reply_reaches_the_user(
    wired, control, dispatched
):
    answer = control.send_text(WA_ID, "Hi", name="Tendai")
    assert answer["accepted"] is True  # our webhook answered 200

    inbound = Message.objects.get(wamid=answer["wamid"])
    assert (inbound.direction, inbound.text) == ("in", "Hi")
    assert inbound.business_number_id == wired.phone_number_id
    contact = Contact.objects.get(whatsapp_id=WA_ID)
    assert contact.name == "Tendai" and contact.last_inbound_at is not None
    assert dispatched == [inbound.pk]
    # Read receipt (blue ticks) went back to Meta.
    wait_until(lambda: control.message(answer["wamid"])["message"]["read_by_business"])

    conversations.queue_message(contact, payloads.text(WA_ID, "Welcome to Kalai Safaris!"))
    received = control.wait_for_messages(1, to=WA_ID)
    assert received[0]["text"] == "Welcome to Kalai Safaris!"
    reply = Message.objects.get(direction="out")
    assert reply.wamid == received[0]["wamid"]
    # Meta's sent/delivered/read webhooks come back and move it forward.
    wait_until(lambda: Message.objects.get(pk=reply.pk).status == "read")
    reply.refresh_from_db()
    assert reply.sent_at and reply.delivered_at and reply.read_at


def test_unsupported_kind_gets_the_polite_answer(wired, control):
    control.send(WA_ID, type="image", caption="Is this the meeting point?", wait=True)
    received = control.wait_for_messages(1, to=WA_ID)
    assert received[0]["text"] == UNSUPPORTED_REPLY
    inbound = Message.objects.get(direction="in")
    assert inbound.message_type == "image"


def test_duplicate_deliveries_record_and_dispatch_once(wired, control, dispatched):
    control.faults(duplicate_webhooks=1, duplicate_times=3)
    answer = control.send_text(WA_ID, "book", name="Tendai")
    wait_until(lambda: control.deliveries(kind="message", wait_for=3, timeout=5))
    assert Message.objects.filter(direction="in").count() == 1
    assert dispatched == [Message.objects.get(wamid=answer["wamid"]).pk]


def test_webhook_signed_with_another_secret_is_refused_and_retried(wired, control, emulator):
    emulator.dispatcher.app_secret = "not-our-secret"
    control.config(max_attempts=2)
    answer = control.send_text(WA_ID, "Hi", wait=True, timeout=5)
    assert answer["accepted"] is False
    assert not Message.objects.exists()
