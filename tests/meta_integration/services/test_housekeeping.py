"""Housekeeping (services.housekeeping): what the sweep finds and repairs."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.utils import timezone

from conversations import services as conversations
from conversations.models import Contact, Message
from meta_integration import messages as payloads
from meta_integration import tasks
from meta_integration.services import housekeeping
from tests.meta_integration.whatsapp_helpers import OUR_WAMID, fixture_json

pytestmark = pytest.mark.django_db


def play(post_webhook, name: str) -> None:
    assert post_webhook(json.dumps(fixture_json(name)).encode()).status_code == 200


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
    assert housekeeping.attach_orphan_statuses() == 1
    message.refresh_from_db()
    assert message.status == "read"


def _aged(message: Message, **age: float) -> Message:
    Message.objects.filter(pk=message.pk).update(created_at=timezone.now() - timedelta(**age))
    return message


def _recorded_but_not_woken(wa_id: str, text: str, **fields) -> Message:
    """A queued message whose wake-up was lost (recorded, the send queue never told)."""
    contact = Contact.objects.create(whatsapp_id=wa_id, last_inbound_at=timezone.now())
    message = conversations.create_outbound_message(
        contact=contact, payload=payloads.text(wa_id, text)
    )
    Message.objects.filter(pk=message.pk).update(**fields)
    return message


def test_a_forgotten_queue_is_found_and_woken(config):
    five_minutes_ago = timezone.now() - timedelta(minutes=5)
    forgotten = _recorded_but_not_woken("263771234567", "forgotten", created_at=five_minutes_ago)
    _recorded_but_not_woken("263772222222", "just queued")
    _recorded_but_not_woken(
        "263773333333",
        "backing off",
        created_at=five_minutes_ago,
        next_attempt_at=timezone.now() + timedelta(minutes=5),
    )
    assert housekeeping.contacts_with_due_messages() == [forgotten.contact_id]

    assert tasks.sweep_outbound_queues()["queues"] == 1  # eager: the woken queue drains now
    # This config's Graph API is unreachable: the head was tried and waits for its retry.
    forgotten.refresh_from_db()
    assert forgotten.attempts == 1 and forgotten.next_attempt_at is not None
    assert Message.objects.filter(attempts=0).count() == 2


def test_an_inbound_message_whose_task_was_lost_is_dispatched_by_the_sweep(
    config, post_webhook, dispatched
):
    contact = Contact.objects.create(whatsapp_id="263771234567")
    raw = fixture_json("text")["entry"][0]["changes"][0]["value"]["messages"][0]
    lost = _aged(
        Message.objects.create(
            contact=contact, direction="in", wamid="wamid.lost", message_type="text",
            text="Hi", status="received", payload=raw,
        ),
        minutes=10,
    )  # fmt: skip
    recent = Message.objects.create(
        contact=contact, direction="in", wamid="wamid.recent", message_type="text",
        text="Hi again", status="received",
    )  # fmt: skip
    assert housekeeping.undispatched_inbound() == [lost.pk]  # the recent one has its task
    assert tasks.sweep_outbound_queues()["inbound"] == 1
    assert dispatched == [lost.pk]
    assert Message.objects.get(pk=lost.pk).dispatched_at is not None
    assert Message.objects.get(pk=recent.pk).dispatched_at is None
