"""Every fixture in tests/fixtures/meta/, played through the webhook with a valid signature."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from conversations.models import Contact, Message, MessageStatusEvent
from meta_integration.models import WebhookEvent
from meta_integration.services import UNSUPPORTED_REPLY
from tests.meta_integration.whatsapp_helpers import OUR_WAMID, fixture_bytes

pytestmark = pytest.mark.django_db

TENDAI = "263771234567"


def at(epoch: int) -> datetime:
    return datetime.fromtimestamp(epoch, tz=UTC)


INBOUND = {
    # fixture: (message_type, text, timestamp)
    "text": ("text", "Hi", 1764540000),
    "button_reply": ("button_reply", "Book a Tour", 1764540042),
    "list_reply": ("list_reply", "Victoria Falls Tour", 1764540060),
    "flow_completion_nfm_reply": ("flow_reply", "[form submitted]", 1764540200),
    "image": ("image", "[image] Is this the meeting point?", 1764540100),
    "location": ("location", "[location] Victoria Falls Rainforest", 1764540101),
}


@pytest.mark.parametrize("name", sorted(INBOUND))
def test_inbound_fixture_records_one_message_and_the_contact(
    name, config, post_webhook, dispatched
):
    body = fixture_bytes(name)
    response = post_webhook(body)

    assert response.status_code == 200
    message_type, text, epoch = INBOUND[name]
    contact = Contact.objects.get(whatsapp_id=TENDAI)
    assert contact.name == "Tendai"
    assert contact.last_inbound_at == at(epoch)
    assert contact.last_seen == at(epoch)
    inbound = Message.objects.get(direction=Message.Direction.INBOUND)
    assert inbound.contact == contact
    assert inbound.config == config
    assert inbound.message_type == message_type
    assert inbound.text == text
    assert inbound.status == Message.Status.RECEIVED
    assert inbound.timestamp == at(epoch)
    assert inbound.payload["id"] == inbound.wamid
    assert inbound.dispatched_at is not None
    assert dispatched == [inbound.pk]
    event = WebhookEvent.objects.get()
    assert event.signature_valid and event.processed and not event.error
    assert event.body == body.decode()
    assert event.phone_number_id == config.phone_number_id

    replies = Message.objects.filter(direction=Message.Direction.OUTBOUND)
    if message_type in ("image", "location"):
        # Politely answered; the fixture's message is a year old, so the 24-hour window is
        # closed and, without a re-engagement template, the reply is failed for staff.
        reply = replies.get()
        assert reply.text == UNSUPPORTED_REPLY
        assert reply.flow_step == "unsupported_message_type"
        assert reply.status == Message.Status.FAILED
        assert reply.error_code == 131047
        assert "no re-engagement template" in reply.error_title
    else:
        assert not replies.exists()


def test_multiple_messages_fixture(config, post_webhook, dispatched):
    assert post_webhook(fixture_bytes("multiple_messages")).status_code == 200

    tendai = Contact.objects.get(whatsapp_id=TENDAI)
    chipo = Contact.objects.get(whatsapp_id="263772345678")
    assert (tendai.name, chipo.name) == ("Tendai", "Chipo")
    assert tendai.last_inbound_at == at(1764540001)
    texts = list(Message.objects.order_by("timestamp").values_list("contact__whatsapp_id", "text"))
    assert texts == [
        (TENDAI, "Hi"),
        (TENDAI, "I'd like to book the Victoria Falls tour for 2 people"),
        ("263772345678", "menu"),
    ]
    assert len(dispatched) == 3


@pytest.mark.parametrize(
    ("name", "status", "stamp_field", "epoch"),
    [
        ("status_sent", "sent", "sent_at", 1764540005),
        ("status_delivered", "delivered", "delivered_at", 1764540006),
        ("status_read", "read", "read_at", 1764540043),
        ("status_failed", "failed", "failed_at", 1764540102),
    ],
)
def test_status_fixture_moves_our_message(
    name, status, stamp_field, epoch, our_message, post_webhook, dispatched
):
    assert post_webhook(fixture_bytes(name)).status_code == 200

    our_message.refresh_from_db()
    assert our_message.status == status
    assert getattr(our_message, stamp_field) == at(epoch)
    event = MessageStatusEvent.objects.get()
    assert (event.wamid, event.status, event.message) == (OUR_WAMID, status, our_message)
    assert event.recipient_id == TENDAI
    if status == "failed":
        assert our_message.error_code == 131047
        assert our_message.error_title == "Re-engagement message"
        assert "24 hours" in our_message.error_details
        assert event.error_code == 131047
    else:
        assert our_message.error_code is None
    assert dispatched == []  # statuses are not customer messages
    assert Message.objects.count() == 1


def test_status_for_a_message_we_do_not_know_yet_is_kept(config, post_webhook):
    assert post_webhook(fixture_bytes("status_delivered")).status_code == 200
    event = MessageStatusEvent.objects.get()
    assert event.message is None and event.status == "delivered"
    assert not Message.objects.exists()
