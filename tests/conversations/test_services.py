"""Contacts and messages: first/last seen, the send queue's contract with the WhatsApp channel
(the one installed), bot handover. Any channel: test_channel.py."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.utils import timezone

from conversations import selectors, services
from conversations.models import Contact, Message
from meta_integration import messages as payloads
from meta_integration.messages import MessageLimitError
from meta_integration.models import MetaAppConfig

pytestmark = pytest.mark.django_db

WA_ID = "263771234567"


@pytest.fixture
def config():
    return MetaAppConfig.objects.create(
        phone_number_id="123456789012345", access_token="t", app_secret="s"
    )


@pytest.fixture
def contact():
    return Contact.objects.create(whatsapp_id=WA_ID, last_inbound_at=timezone.now())


def test_first_inbound_creates_the_contact_and_later_ones_only_move_forward():
    first = datetime(2026, 11, 30, 10, 0, tzinfo=UTC)
    contact = services.touch_contact_inbound(
        services.Identity(whatsapp_id=WA_ID, profile_name="Tendai"), sent_at=first
    )
    assert (contact.name, contact.first_seen, contact.last_inbound_at) == ("Tendai", first, first)

    later = first + timedelta(hours=2)
    contact = services.touch_contact_inbound(services.Identity(whatsapp_id=WA_ID), sent_at=later)
    assert contact.name == "Tendai"  # an empty profile name does not erase the known one
    assert contact.last_seen == later and contact.last_inbound_at == later

    contact = services.touch_contact_inbound(
        services.Identity(whatsapp_id=WA_ID, profile_name="Tendai M."),
        sent_at=first,  # a late redelivery
    )
    assert contact.name == "Tendai M."
    assert contact.last_inbound_at == later and contact.first_seen == first
    assert Contact.objects.count() == 1


def test_a_timestamp_from_the_future_is_capped_at_now():
    future = timezone.now() + timedelta(days=3)
    contact = services.touch_contact_inbound(services.Identity(whatsapp_id=WA_ID), sent_at=future)
    assert contact.last_inbound_at <= timezone.now()


def test_queue_message_records_a_pending_message_and_wakes_the_queue_after_commit(
    contact, config, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        message = services.queue_message(
            contact, payloads.text(WA_ID, "Hello"), flow_step="greeting"
        )
    assert len(callbacks) == 1
    assert message.status == Message.Status.PENDING
    assert (message.direction, message.message_type, message.text) == ("out", "text", "Hello")
    assert (message.flow_step, message.wamid) == ("greeting", None)
    assert message.business_number_id == config.phone_number_id  # the channel picked it
    assert list(selectors.pending_outbound(contact.pk)) == [message]


def test_queue_message_fails_loudly_on_meta_limits(contact, config):
    payload = payloads.text(WA_ID, "ok")
    payload["text"]["body"] = "x" * 4097
    with pytest.raises(MessageLimitError, match="4097 characters, limit is 4096"):
        services.queue_message(contact, payload)
    with pytest.raises(MessageLimitError):
        services.queue_message(contact, {"messaging_product": "whatsapp", "to": WA_ID})
    assert not Message.objects.exists()


def test_queue_message_refuses_a_payload_for_someone_else(contact, config):
    with pytest.raises(ValueError, match="not to contact"):
        services.queue_message(contact, payloads.text("263779999999", "Hello"))
    assert not Message.objects.exists()


def test_queue_message_sends_through_the_number_given(contact, config):
    second = MetaAppConfig.objects.create(phone_number_id="555000111222333", app_secret="s")
    message = services.queue_message(
        contact, payloads.text(WA_ID, "Hello"), config=second.phone_number_id
    )
    assert message.business_number_id == "555000111222333"
    with pytest.raises(TypeError, match="must be a str"):
        services.queue_message(contact, payloads.text(WA_ID, "Hello"), config=second)


def test_queue_text_is_the_channels_plain_text(contact, config):
    message = services.queue_text(contact, "Mary here", flow_step="staff")
    assert message.payload == payloads.text(WA_ID, "Mary here")
    assert (message.message_type, message.text, message.flow_step) == ("text", "Mary here", "staff")


def test_pause_and_release(contact, settings, admin_user):
    settings.BOT_PAUSE_DEFAULT_MINUTES = 30
    assert not selectors.is_bot_paused(contact)
    services.pause_bot(contact, by=admin_user)
    assert contact.needs_human_intervention
    assert selectors.is_bot_paused(contact)
    expected = timezone.now() + timedelta(minutes=30)
    assert abs((contact.bot_paused_until - expected).total_seconds()) < 5
    # The bot resumes by itself when the pause is over...
    assert not services.is_bot_paused(contact, now=expected + timedelta(seconds=5))
    # ...or when staff release it.
    services.release_bot(contact)
    assert not contact.needs_human_intervention and contact.bot_paused_until is None
    assert not services.is_bot_paused(contact)


def test_pause_until_a_given_time(contact):
    until = timezone.now() + timedelta(hours=3)
    services.pause_bot(contact, until=until)
    assert contact.bot_paused_until == until
