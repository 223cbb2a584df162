"""The send queue (services.outbound) over real HTTP to the WhatsApp emulator, tasks in-process:
order, retries, the 24-hour window and its template."""

from __future__ import annotations

import logging
from datetime import timedelta

import pytest
from django.db import transaction
from django.utils import timezone

from conversations import services as conversations
from conversations.models import Contact, Message
from meta_integration import messages as payloads
from meta_integration import tasks
from meta_integration.client import (
    GraphClient,
    GraphRequestError,
    GraphRetryableError,
    OutsideWindowError,
)
from meta_integration.messages import MessageLimitError, Row
from meta_integration.services import outbound
from tests.meta_integration.whatsapp_helpers import ACCESS_TOKEN, APP_SECRET

pytestmark = pytest.mark.django_db(transaction=True)

WA_ID = "263771234567"


@pytest.fixture
def contact(emulated_config) -> Contact:
    return Contact.objects.create(whatsapp_id=WA_ID, name="Tendai", last_inbound_at=timezone.now())


def texts_received(control, wa_id=WA_ID) -> list[str]:
    return [m["text"] for m in control.messages(to=wa_id)]


def make_due(contact: Contact) -> None:
    Message.objects.filter(contact=contact, status=Message.Status.PENDING).update(
        next_attempt_at=timezone.now() - timedelta(seconds=1)
    )


def test_every_kind_of_message_reaches_the_simulated_user(contact, control):
    sent = [
        payloads.text(WA_ID, "Welcome to Kalai Safaris"),
        payloads.reply_buttons(WA_ID, "What next?", [("book", "Book a tour"), ("menu", "Menu")]),
        payloads.list_message(
            WA_ID, "Pick a tour", "Tours", [(None, [Row("vf", "Victoria Falls", "From USD 150")])]
        ),
        payloads.flow_message(WA_ID, "Pay now", "1234567890", "tok-1", "Pay"),
        payloads.template(WA_ID, "booking_reminder", "en"),
    ]
    for payload in sent:
        conversations.queue_message(contact, payload, flow_step="test")

    received = control.wait_for_messages(5, to=WA_ID)
    assert [m["payload"] for m in received] == sent
    ours = list(Message.objects.filter(contact=contact).order_by("created_at", "id"))
    assert [m.status for m in ours] == ["accepted"] * 5
    assert [m.wamid for m in ours] == [m["wamid"] for m in received]
    assert [m.message_type for m in ours] == ["text", "button", "list", "flow", "template"]
    assert all(m.accepted_at and m.attempts == 1 and m.flow_step == "test" for m in ours)


def test_three_replies_keep_their_order_when_the_first_meets_130429(contact, control, settings):
    settings.WHATSAPP_SEND_RETRY_BASE_SECONDS = 60
    control.faults(rate_limit=1)
    with transaction.atomic():
        for text in ("one", "two", "three"):
            conversations.queue_message(contact, payloads.text(WA_ID, text))
    # Each queued message woke the queue; the head met 130429 and the others did not overtake.
    assert texts_received(control) == []
    first = Message.objects.get(text="one")
    assert first.status == "pending" and first.attempts == 1
    assert first.error_code == 130429
    assert first.next_attempt_at > timezone.now() + timedelta(seconds=50)
    assert Message.objects.filter(status="pending").count() == 3

    make_due(contact)
    tasks.send_pending(contact.pk)

    assert texts_received(control) == ["one", "two", "three"]
    first.refresh_from_db()
    assert first.status == "accepted" and first.attempts == 2 and first.error_code is None


def test_pair_rate_limit_and_server_errors_are_retried(contact, control, settings):
    settings.WHATSAPP_SEND_RETRY_BASE_SECONDS = 0
    control.faults(pair_rate_limit=1, server_error=1)
    conversations.queue_message(contact, payloads.text(WA_ID, "hello"))
    for _ in range(2):
        make_due(contact)
        tasks.send_pending(contact.pk)
    message = Message.objects.get()
    assert message.status == "accepted" and message.attempts == 3
    assert texts_received(control) == ["hello"]


def test_gives_up_after_max_attempts(contact, control, settings):
    settings.WHATSAPP_SEND_RETRY_BASE_SECONDS = 0
    settings.WHATSAPP_SEND_MAX_ATTEMPTS = 2
    control.faults(server_error=5)
    conversations.queue_message(contact, payloads.text(WA_ID, "first"))
    conversations.queue_message(contact, payloads.text(WA_ID, "second"))
    make_due(contact)
    tasks.send_pending(contact.pk)
    first, second = Message.objects.order_by("id")
    assert first.status == "failed" and first.attempts == 2
    assert first.error_title.startswith("Gave up after 2 attempts")
    # The next message went on after the first was given up (it met the remaining faults).
    assert second.attempts >= 1


def test_a_refused_message_fails_and_the_next_one_still_goes(contact, control, emulator):
    emulator.access_token = "rotated-token"  # our stored token is now refused (401, code 190)
    conversations.queue_message(contact, payloads.text(WA_ID, "refused"))
    emulator.access_token = ACCESS_TOKEN
    conversations.queue_message(contact, payloads.text(WA_ID, "accepted"))
    refused, accepted = Message.objects.order_by("id")
    assert refused.status == "failed" and refused.error_code == 190 and refused.attempts == 1
    assert accepted.status == "accepted"
    assert texts_received(control) == ["accepted"]


def test_outside_the_window_free_text_is_not_sent(contact, control):
    Contact.objects.filter(pk=contact.pk).update(
        last_inbound_at=timezone.now() - timedelta(hours=25)
    )
    contact.refresh_from_db()
    conversations.queue_message(contact, payloads.text(WA_ID, "Are you still there?"))
    message = Message.objects.get()
    assert message.status == "failed" and message.error_code == 131047
    assert "no re-engagement template is configured" in message.error_title
    assert message.attempts == 0
    assert texts_received(control) == []


def test_outside_the_window_the_template_goes_instead(contact, control, settings):
    settings.WHATSAPP_REENGAGEMENT_TEMPLATE = "reengage_traveller"
    settings.WHATSAPP_REENGAGEMENT_TEMPLATE_LANGUAGE = "en"
    Contact.objects.filter(pk=contact.pk).update(last_inbound_at=None)  # never wrote
    contact.refresh_from_db()
    with transaction.atomic():
        conversations.queue_message(contact, payloads.text(WA_ID, "Your booking is confirmed"))
        conversations.queue_message(contact, payloads.text(WA_ID, "Pay the deposit here"))
    received = control.messages(to=WA_ID)
    assert [m["type"] for m in received] == ["template"]  # one template, not two
    assert received[0]["template"]["name"] == "reengage_traveller"
    free_text = Message.objects.filter(message_type="text")
    assert {m.status for m in free_text} == {"failed"}
    assert all("template 'reengage_traveller' sent instead" in m.error_title for m in free_text)
    template = Message.objects.get(message_type="template")
    assert template.status == "accepted"
    assert template.flow_step == outbound.REENGAGEMENT_STEP


def test_meta_answering_131047_falls_back_to_the_template(contact, control, settings, emulator):
    """Our clock says the window is open, Meta's says it is closed: Meta wins."""
    settings.WHATSAPP_REENGAGEMENT_TEMPLATE = "reengage_traveller"
    control.config(window_enforcement="sync")  # the simulated user never wrote
    conversations.queue_message(contact, payloads.text(WA_ID, "Hello again"))
    text = Message.objects.get(message_type="text")
    assert text.status == "failed" and text.error_code == 131047 and text.attempts == 1
    assert [m["type"] for m in control.messages(to=WA_ID)] == ["template"]


def test_queue_message_fails_loudly_on_a_limit_violation(contact, control):
    too_many_buttons = payloads.text(WA_ID, "x")
    too_many_buttons.update(
        type="interactive",
        interactive={
            "type": "button",
            "body": {"text": "Pick one"},
            "action": {
                "buttons": [
                    {"type": "reply", "reply": {"id": f"b{i}", "title": f"Option {i}"}}
                    for i in range(4)
                ]
            },
        },
    )
    with pytest.raises(MessageLimitError, match="limit is 3"):
        conversations.queue_message(contact, too_many_buttons)
    assert not Message.objects.exists()
    assert control.messages() == []


def test_client_errors_are_typed(emulated_config, control, emulator):
    with GraphClient(emulated_config) as client:
        result = client.send(payloads.text(WA_ID, "direct"))
        assert result.wamid.startswith("wamid.")
        control.faults(rate_limit=1)
        with pytest.raises(GraphRetryableError) as retryable:
            client.send(payloads.text(WA_ID, "x"))
        assert retryable.value.code == 130429
        control.config(window_enforcement="sync")
        with pytest.raises(OutsideWindowError) as window:
            client.send(payloads.text("263779999999", "x"))
        assert window.value.code == 131047 and window.value.details
        with pytest.raises(MessageLimitError):
            client.send(payloads.text(WA_ID, "x") | {"text": {"body": "x" * 4097}})
    emulated_config.graph_base_url = "http://127.0.0.1:9"
    with GraphClient(emulated_config) as client, pytest.raises(GraphRetryableError):
        client.send(payloads.text(WA_ID, "x"))
    emulated_config.graph_base_url = emulator.base_url
    emulated_config.phone_number_id = "000000000000000"
    with GraphClient(emulated_config) as client, pytest.raises(GraphRequestError) as unknown:
        client.send(payloads.text(WA_ID, "x"))
    assert not isinstance(unknown.value, GraphRetryableError)


def test_no_secret_in_the_logs_while_sending(contact, control, caplog):
    control.faults(rate_limit=1)
    with caplog.at_level(logging.DEBUG):
        conversations.queue_message(contact, payloads.text(WA_ID, "hello"))
        make_due(contact)
        tasks.send_pending(contact.pk)
    assert "Message accepted by Meta" in caplog.text
    assert ACCESS_TOKEN not in caplog.text and APP_SECRET not in caplog.text
