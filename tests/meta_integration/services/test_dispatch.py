"""Dispatch (services.dispatch): each inbound message reaches the bot exactly once; one the bot
cannot handle neither loops through retries nor vanishes."""

from __future__ import annotations

import pytest

from conversations import services as conversations
from conversations.models import Contact, Message
from meta_integration.services.dispatch import HANDLER_FAILED_REPLY, dispatch_inbound_message
from tests.meta_integration.whatsapp_helpers import fixture_bytes, fixture_json, fresh

pytestmark = pytest.mark.django_db


def test_dispatch_is_once_even_when_called_again(config, post_webhook, dispatched):
    post_webhook(fixture_bytes("text"))
    message = Message.objects.get()
    assert dispatch_inbound_message(message.pk) is False
    assert dispatched == [message.pk]


def test_paused_bot_leaves_the_message_to_staff(config, post_webhook, dispatched):
    contact = Contact.objects.create(whatsapp_id="263771234567")
    conversations.pause_bot(contact)
    post_webhook(fresh(fixture_json("image")))
    inbound = Message.objects.get()
    assert dispatched == [inbound.pk]  # dispatched (the flow engine decides), but no answer
    assert not Message.objects.filter(direction=Message.Direction.OUTBOUND).exists()


def exploding_handler(message):
    Contact.objects.filter(pk=message.contact_id).update(name="half-written")
    raise ValueError("a bug in the bot")


def test_a_failing_handler_hands_the_conversation_to_staff(config, post_webhook, settings):
    settings.INBOUND_MESSAGE_HANDLER = f"{__name__}.exploding_handler"
    assert post_webhook(fixture_bytes("text")).status_code == 200
    inbound = Message.objects.get(direction="in")
    assert inbound.dispatched_at is not None  # handled once: the sweep will not retry it
    assert dispatch_inbound_message(inbound.pk) is False
    contact = inbound.contact
    contact.refresh_from_db()
    assert contact.needs_human_intervention and contact.name != "half-written"
    reply = Message.objects.get(direction="out")
    assert reply.text == HANDLER_FAILED_REPLY
