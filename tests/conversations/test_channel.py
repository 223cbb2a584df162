"""conversations knows no channel: it sends through whichever one registered a sender, and
refuses to queue anything when none did.

``Postcards`` below is a second, complete channel with rules of its own (its own payload
shape, a 160-character limit, its own account ids), so these tests show that conversations
relies on the ``Sender`` contract only, not on WhatsApp's payloads.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

import pytest

from conversations import channel, services
from conversations.models import Contact, Message

pytestmark = pytest.mark.django_db

WA_ID = "263771234567"


class PostcardTooLong(ValueError):
    pass


class Postcards:
    """A channel whose messages are ``{"to": ..., "card": ..., "body": ...}``."""

    text_max_length = 160

    def __init__(self) -> None:
        self.woken: list[int] = []

    def describe(self, payload: Mapping[str, Any]) -> channel.OutboundDescription:
        body = str(payload.get("body", ""))
        if not body or len(body) > self.text_max_length:
            raise PostcardTooLong(f"a postcard holds 1 to 160 characters, not {len(body)}")
        return channel.OutboundDescription(
            recipient=str(payload["to"]), message_type=str(payload["card"]), summary=body
        )

    def account_for(self, contact: Contact) -> str:
        return "postbox-7"

    def wake(self, contact_id: int) -> None:
        self.woken.append(contact_id)

    def text_payload(self, recipient: str, body: str) -> dict[str, Any]:
        return {"to": recipient, "card": "plain", "body": body}


@pytest.fixture
def postcards() -> Iterator[Postcards]:
    """Postcards is the registered channel for the test (WhatsApp's sender is put back after)."""
    whatsapp = channel.unregister_sender()
    postcards = Postcards()
    channel.register_sender(postcards)
    yield postcards
    channel.unregister_sender()
    if whatsapp is not None:
        channel.register_sender(whatsapp)


@pytest.fixture
def no_channel() -> Iterator[None]:
    whatsapp = channel.unregister_sender()
    yield
    if whatsapp is not None:
        channel.register_sender(whatsapp)


@pytest.fixture
def contact() -> Contact:
    return Contact.objects.create(whatsapp_id=WA_ID)


def test_messages_go_through_the_registered_channel(
    postcards, contact, django_capture_on_commit_callbacks
):
    payload = {"to": WA_ID, "card": "falls-at-dawn", "body": "Greetings from Victoria Falls"}
    with django_capture_on_commit_callbacks(execute=True):
        message = services.queue_message(contact, payload, flow_step="souvenir")
        assert postcards.woken == []  # woken only once the transaction commits
    assert postcards.woken == [contact.pk]
    message.refresh_from_db()
    assert (message.direction, message.status) == ("out", "pending")
    assert (message.message_type, message.text) == (
        "falls-at-dawn",
        "Greetings from Victoria Falls",
    )
    assert (message.business_number_id, message.flow_step) == ("postbox-7", "souvenir")
    assert message.payload == payload

    staff = services.queue_text(contact, "Mary here", flow_step="staff")
    assert staff.payload == {"to": WA_ID, "card": "plain", "body": "Mary here"}
    replied = services.queue_message(contact, payload, config="postbox-2")
    assert replied.business_number_id == "postbox-2"  # the account given wins


def test_the_channel_refuses_for_the_caller_and_nothing_is_recorded(postcards, contact):
    with pytest.raises(PostcardTooLong, match="not 161"):
        services.queue_message(contact, {"to": WA_ID, "card": "plain", "body": "x" * 161})
    with pytest.raises(ValueError, match="not to contact"):
        services.queue_message(contact, {"to": "263779999999", "card": "plain", "body": "Hi"})
    assert not Message.objects.exists()
    assert postcards.woken == []


def test_nothing_is_queued_without_a_channel(
    no_channel, contact, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        with pytest.raises(channel.NoChannelRegistered, match="No channel has registered"):
            services.queue_message(contact, {"to": WA_ID, "body": "Hello"})
        with pytest.raises(channel.NoChannelRegistered):
            services.queue_text(contact, "Hello", flow_step="staff")
    assert callbacks == []
    assert not Message.objects.exists()


def test_one_channel_sends(no_channel):
    first, second = Postcards(), Postcards()
    channel.register_sender(first)
    channel.register_sender(first)  # again (Django may run ready() twice): no change
    with pytest.raises(channel.ChannelAlreadyRegistered, match="Postcards is registered"):
        channel.register_sender(second)
    assert channel.sender() is first
    assert channel.unregister_sender() is first
    with pytest.raises(channel.NoChannelRegistered):
        channel.sender()


def test_the_staff_form_takes_the_channels_text_limit(postcards):
    from conversations.forms import SendMessageForm

    assert SendMessageForm({"text": "x" * 160}).is_valid()
    form = SendMessageForm({"text": "x" * 161})
    assert not form.is_valid() and "at most 160 characters" in str(form.errors["text"])
    assert 'maxlength="160"' in str(form["text"])
