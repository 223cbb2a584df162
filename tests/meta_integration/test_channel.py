"""The WhatsApp channel's sender (meta_integration.channel): how conversations sends through it."""

from __future__ import annotations

import pytest
from django.utils import timezone

from conversations import channel as conversations_channel
from conversations import services as conversations
from conversations.models import Contact, Message
from meta_integration import messages as payloads
from meta_integration.channel import SENDER
from meta_integration.messages import MessageLimitError, Row
from tests.meta_integration.whatsapp_helpers import fixture_json, fresh

pytestmark = pytest.mark.django_db

WA_ID = "263771234567"
SECOND_NUMBER = "555000111222333"


def test_the_app_registers_its_sender_when_django_starts():
    assert conversations_channel.sender() is SENDER


@pytest.mark.parametrize(
    ("payload", "message_type", "summary"),
    [
        (payloads.text(WA_ID, "Welcome"), "text", "Welcome"),
        (payloads.reply_buttons(WA_ID, "Next?", [("book", "Book a tour")]), "button", "Next?"),
        (
            payloads.list_message(WA_ID, "Pick a tour", "Tours", [(None, [Row("vf", "Falls")])]),
            "list",
            "Pick a tour",
        ),
        (payloads.flow_message(WA_ID, "Pay now", "1234567890", "tok-1", "Pay"), "flow", "Pay now"),
        (
            payloads.template(WA_ID, "booking_reminder", "en"),
            "template",
            "[template booking_reminder]",
        ),
    ],
)
def test_describe_names_what_the_contact_will_see(payload, message_type, summary):
    described = SENDER.describe(payload)
    assert (described.recipient, described.message_type, described.summary) == (
        WA_ID,
        message_type,
        summary,
    )


def test_describe_refuses_what_meta_would_refuse():
    too_long = payloads.text(WA_ID, "ok") | {"text": {"body": "x" * 4097}}
    with pytest.raises(MessageLimitError, match="limit is 4096") as refused:
        SENDER.describe(too_long)
    assert isinstance(refused.value, ValueError)  # what conversations documents
    assert SENDER.text_max_length == 4096


def test_the_account_is_the_number_the_contact_last_wrote_to(make_config):
    first = make_config()
    second = make_config(phone_number_id=SECOND_NUMBER, verify_token="")
    contact = Contact.objects.create(whatsapp_id=WA_ID)
    assert SENDER.account_for(contact) == first.phone_number_id  # never wrote: the first
    Message.objects.create(
        contact=contact, direction="in", message_type="text", status="received",
        business_number_id=SECOND_NUMBER,
    )  # fmt: skip
    assert SENDER.account_for(contact) == SECOND_NUMBER
    second.is_active = False
    second.save()
    assert SENDER.account_for(contact) == first.phone_number_id
    first.is_active = False
    first.save()
    assert SENDER.account_for(contact) == ""


def test_the_reply_goes_out_through_the_number_written_to(make_config, post_webhook):
    make_config()
    make_config(phone_number_id=SECOND_NUMBER, verify_token="")
    data = fixture_json("image")  # a kind the channel's own handler answers
    data["entry"][0]["changes"][0]["value"]["metadata"]["phone_number_id"] = SECOND_NUMBER
    assert post_webhook(fresh(data)).status_code == 200
    inbound = Message.objects.get(direction="in")
    reply = Message.objects.get(direction="out")
    assert inbound.business_number_id == reply.business_number_id == SECOND_NUMBER
    # The send queue tried that number's Graph API (unreachable here): it waits to retry.
    assert reply.attempts == 1 and reply.status == "pending"


def test_a_message_for_a_number_since_removed_goes_through_the_contacts_number(
    make_config, django_capture_on_commit_callbacks
):
    config = make_config()
    contact = Contact.objects.create(whatsapp_id=WA_ID, last_inbound_at=timezone.now())
    with django_capture_on_commit_callbacks(execute=True):
        message = conversations.queue_message(
            contact, payloads.text(WA_ID, "Hello"), config="999999999999999"
        )
    message.refresh_from_db()
    assert message.business_number_id == config.phone_number_id  # re-pointed when sent
    assert message.attempts == 1  # and tried through it (unreachable here: it waits)
