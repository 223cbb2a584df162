"""Recording (services.recording): every fixture in tests/fixtures/meta/, played through the
webhook with a valid signature, records exactly what it says, once; statuses only move a message
forward.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from conversations import services as conversations
from conversations.models import Contact, Message, MessageStatusEvent
from meta_integration.models import WebhookEvent
from meta_integration.services import outbound
from meta_integration.services.dispatch import UNSUPPORTED_REPLY
from tests.meta_integration.whatsapp_helpers import OUR_WAMID, fixture_bytes, fixture_json, fresh

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
    assert inbound.business_number_id == config.phone_number_id
    assert inbound.message_type == message_type
    assert inbound.text == text
    assert inbound.status == Message.Status.RECEIVED
    assert inbound.timestamp == at(epoch)
    assert inbound.payload["id"] == inbound.wamid
    assert inbound.dispatched_at is not None
    assert dispatched == [inbound.pk]
    event = WebhookEvent.objects.get()
    assert event.valid and event.processed and not event.exception and not event.traceback
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


# --- once, whatever Meta redelivers ------------------------------------------------------


def test_same_message_in_different_envelopes_is_recorded_once(config, post_webhook, dispatched):
    """Meta may re-send a message inside a new body (other bytes, same wamid)."""
    data = fixture_json("image")
    bodies = [fresh(data)]
    data["entry"][0]["changes"][0]["value"]["contacts"][0]["profile"]["name"] = "Tendai M."
    bodies.append(json.dumps(data).encode())
    bodies.append(json.dumps(data, indent=1).encode())
    for body in bodies * 2:
        assert post_webhook(body).status_code == 200

    inbound = Message.objects.get(direction=Message.Direction.INBOUND)
    assert dispatched == [inbound.pk]
    # One polite answer, not six.
    assert Message.objects.filter(direction=Message.Direction.OUTBOUND).count() == 1
    assert Contact.objects.get().name == "Tendai M."
    assert WebhookEvent.objects.count() == 3


def _text_body(*bodies_and_senders):
    data = json.loads(fixture_bytes("text"))
    value = data["entry"][0]["changes"][0]["value"]
    template = value["messages"][0]
    value["messages"] = [
        {**template, "id": f"wamid.poison{i}", "from": sender, "text": {"body": text}}
        for i, (text, sender) in enumerate(bodies_and_senders)
    ]
    return json.dumps(data).encode()


@pytest.mark.postgres  # SQLite does not enforce column lengths
def test_one_refused_item_does_not_block_the_others(config, post_webhook):
    body = _text_body(("from a 40-digit sender", "2" * 40), ("ok", "263771234567"))
    assert post_webhook(body).status_code == 200
    assert list(Message.objects.filter(direction="in").values_list("text", flat=True)) == ["ok"]


# --- delivery statuses: forward only -----------------------------------------------------


def play(post_webhook, name: str, timestamp: int | None = None) -> None:
    data = fixture_json(name)
    if timestamp is not None:
        data["entry"][0]["changes"][0]["value"]["statuses"][0]["timestamp"] = str(timestamp)
    assert post_webhook(json.dumps(data).encode()).status_code == 200


def test_statuses_in_order(our_message, post_webhook):
    seen = []
    for name in ("status_sent", "status_delivered", "status_read"):
        play(post_webhook, name)
        our_message.refresh_from_db()
        seen.append(our_message.status)
    assert seen == ["sent", "delivered", "read"]
    assert our_message.sent_at < our_message.delivered_at < our_message.read_at


def test_late_sent_after_read_changes_nothing(our_message, post_webhook):
    play(post_webhook, "status_read")
    our_message.refresh_from_db()
    read_at = our_message.read_at
    play(post_webhook, "status_sent")
    play(post_webhook, "status_delivered")
    our_message.refresh_from_db()
    assert our_message.status == "read"
    assert our_message.read_at == read_at
    assert our_message.sent_at is None and our_message.delivered_at is None
    assert MessageStatusEvent.objects.filter(message=our_message).count() == 3


def test_delivered_may_be_skipped(our_message, post_webhook):
    play(post_webhook, "status_sent")
    play(post_webhook, "status_read")
    our_message.refresh_from_db()
    assert our_message.status == "read"
    assert our_message.delivered_at is None


def test_repeated_status_is_stored_once(our_message, post_webhook):
    for _ in range(5):
        play(post_webhook, "status_delivered")
    assert MessageStatusEvent.objects.count() == 1
    our_message.refresh_from_db()
    assert our_message.status == "delivered"


def test_failed_records_meta_error_and_is_terminal(our_message, post_webhook):
    play(post_webhook, "status_sent")
    play(post_webhook, "status_failed")
    play(post_webhook, "status_delivered", timestamp=1764540200)  # nonsense after failing
    our_message.refresh_from_db()
    assert our_message.status == "failed"
    assert (our_message.error_code, our_message.error_title) == (131047, "Re-engagement message")
    assert our_message.failed_at is not None
    assert our_message.delivered_at is None


def test_failed_after_read_changes_nothing(our_message, post_webhook):
    play(post_webhook, "status_read")
    play(post_webhook, "status_failed", timestamp=1764550000)
    our_message.refresh_from_db()
    assert our_message.status == "read"
    assert our_message.error_code is None


def test_failed_131047_status_queues_the_reengagement_template(our_message, post_webhook, settings):
    settings.WHATSAPP_REENGAGEMENT_TEMPLATE = "reengage_traveller"
    settings.WHATSAPP_REENGAGEMENT_TEMPLATE_LANGUAGE = "en_GB"
    play(post_webhook, "status_failed")
    play(post_webhook, "status_failed")  # redelivered: still one template
    template = Message.objects.get(flow_step=outbound.REENGAGEMENT_STEP)
    assert template.message_type == "template"
    assert template.payload["template"] == {
        "name": "reengage_traveller",
        "language": {"code": "en_GB"},
    }
    assert template.contact == our_message.contact


def test_status_that_arrived_before_the_send_was_recorded_is_applied(config, post_webhook):
    """Meta's status webhook can beat our own record of its answer to the send."""
    play(post_webhook, "status_delivered")
    contact = Contact.objects.create(whatsapp_id="263771234567")
    message = Message.objects.create(
        contact=contact,
        business_number_id=config.phone_number_id,
        direction=Message.Direction.OUTBOUND,
        message_type="text",
        text="Welcome",
        payload={},
        status=Message.Status.PENDING,
    )
    conversations.record_send_accepted(message, wamid=OUR_WAMID)
    conversations.apply_status_events(message.pk)  # what the send queue does after commit
    message.refresh_from_db()
    assert message.status == "delivered"
    assert MessageStatusEvent.objects.get().message == message
