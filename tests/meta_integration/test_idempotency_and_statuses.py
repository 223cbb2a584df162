"""Meta's retries change nothing; delivery statuses only move a message forward."""

from __future__ import annotations

import json

import pytest

from conversations.models import Contact, Message, MessageStatusEvent
from meta_integration import services
from meta_integration.models import WebhookEvent
from tests.meta_integration.whatsapp_helpers import OUR_WAMID, fixture_bytes, fixture_json, fresh

pytestmark = pytest.mark.django_db


def test_same_webhook_five_times_records_and_dispatches_once(config, post_webhook, dispatched):
    body = fixture_bytes("text")
    for _ in range(5):
        assert post_webhook(body).status_code == 200

    message = Message.objects.get()
    assert message.text == "Hi"
    assert dispatched == [message.pk]
    assert Contact.objects.count() == 1
    event = WebhookEvent.objects.get()
    assert event.delivery_count == 5


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


def test_dispatch_is_once_even_when_called_again(config, post_webhook, dispatched):
    post_webhook(fixture_bytes("text"))
    message = Message.objects.get()
    assert services.dispatch_inbound_message(message.pk) is False
    assert dispatched == [message.pk]


def test_replay_of_a_processed_event_changes_nothing(config, post_webhook, dispatched):
    post_webhook(fixture_bytes("multiple_messages"))
    event = WebhookEvent.objects.get()
    assert services.replay_webhook_event(event) is True
    assert Message.objects.count() == 3
    assert len(dispatched) == 3


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
    template = Message.objects.get(flow_step=services.REENGAGEMENT_STEP)
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
        config=config,
        direction=Message.Direction.OUTBOUND,
        message_type="text",
        text="Welcome",
        payload={},
        status=Message.Status.PENDING,
    )
    from conversations import services as conversations

    conversations.record_send_accepted(message, wamid=OUR_WAMID)
    conversations.apply_status_events(message.pk)  # what the send queue does after commit
    message.refresh_from_db()
    assert message.status == "delivered"
    assert MessageStatusEvent.objects.get().message == message


def test_sweep_attaches_orphan_statuses(config, post_webhook):
    play(post_webhook, "status_read")
    contact = Contact.objects.create(whatsapp_id="263771234567")
    message = Message.objects.create(
        contact=contact,
        direction=Message.Direction.OUTBOUND,
        wamid=OUR_WAMID,
        message_type="text",
        payload={},
        status=Message.Status.ACCEPTED,
    )
    assert services.attach_orphan_statuses() == 1
    message.refresh_from_db()
    assert message.status == "read"


def test_paused_bot_leaves_the_message_to_staff(config, post_webhook, dispatched):
    from conversations import services as conversations

    contact = Contact.objects.create(whatsapp_id="263771234567")
    conversations.pause_bot(contact)
    post_webhook(fresh(fixture_json("image")))
    inbound = Message.objects.get()
    assert dispatched == [inbound.pk]  # dispatched (the flow engine decides), but no answer
    assert not Message.objects.filter(direction=Message.Direction.OUTBOUND).exists()
