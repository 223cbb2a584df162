"""A message the bot cannot handle neither loops through retries nor vanishes."""

import pytest

from conversations.models import Contact, Message
from meta_integration.services import HANDLER_FAILED_REPLY, dispatch_inbound_message
from tests.meta_integration.whatsapp_helpers import fixture_bytes

pytestmark = pytest.mark.django_db


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


def _text_body(*bodies_and_senders):
    import json

    data = json.loads(fixture_bytes("text"))
    value = data["entry"][0]["changes"][0]["value"]
    template = value["messages"][0]
    value["messages"] = [
        {**template, "id": f"wamid.poison{i}", "from": sender, "text": {"body": text}}
        for i, (text, sender) in enumerate(bodies_and_senders)
    ]
    return json.dumps(data).encode()


def test_unstorable_text_does_not_block_the_delivery(config, post_webhook):
    body = _text_body(
        ("nul\u0000byte and \ud800 lone surrogate", "263771234567"), ("ok", "263771234567")
    )
    assert post_webhook(body).status_code == 200
    texts = sorted(Message.objects.filter(direction="in").values_list("text", flat=True))
    assert texts == ["nul\ufffdbyte and \ufffd lone surrogate", "ok"]


@pytest.mark.postgres  # SQLite does not enforce column lengths
def test_one_refused_item_does_not_block_the_others(config, post_webhook):
    body = _text_body(("from a 40-digit sender", "2" * 40), ("ok", "263771234567"))
    assert post_webhook(body).status_code == 200
    assert list(Message.objects.filter(direction="in").values_list("text", flat=True)) == ["ok"]


def test_unsigned_bodies_are_kept_short(config, post_webhook):
    from meta_integration.models import WebhookEvent

    big = _text_body(("x" * 500_000, "263771234567"))
    assert post_webhook(big, secret="not-the-secret").status_code in (401, 403)
    assert len(WebhookEvent.objects.get().body) <= 64 * 1024
