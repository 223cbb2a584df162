"""Usernames and business-scoped user IDs through the WhatsApp channel: webhooks without a phone
number, replies addressed by ``recipient``, statuses and send answers that name both ids, a
number change, a deletion; and the bot never answering what is not a person talking to it."""

from __future__ import annotations

import json
from copy import deepcopy

import pytest
from django.utils import timezone

from conversations import services as conversations
from conversations.models import Contact, Message
from meta_integration import messages as payloads
from meta_integration.messages import MessageLimitError
from meta_integration.services import outbound
from sandbox.whatsapp.testing import WebhookRecorder
from tests.meta_integration.whatsapp_helpers import FIXTURES

pytestmark = pytest.mark.django_db

SHAPES = FIXTURES / "webhooks"
PHONE = "263771234567"
BSUID = "ZW.4417250098311276402"
USERNAME_BSUID = "ZW.7301946628810453377"


def shape(name: str) -> dict:
    return json.loads((SHAPES / f"{name}.json").read_text())


def body(data: dict) -> bytes:
    return json.dumps(data).encode()


def value(data: dict) -> dict:
    return data["entry"][0]["changes"][0]["value"]


# --- outbound addressing ---------------------------------------------------------------------


def test_builders_address_a_phone_by_to_and_a_user_id_by_recipient():
    assert payloads.text(PHONE, "hi")["to"] == PHONE
    by_id = payloads.text(BSUID, "hi")
    assert by_id["recipient"] == BSUID and "to" not in by_id
    assert payloads.recipient_of(by_id) == BSUID


@pytest.mark.parametrize(
    ("patch", "message"),
    [
        ({"to": BSUID}, "goes in 'recipient', not 'to'"),
        ({"recipient": "263771234567"}, "is not a business-scoped user ID"),
        ({}, "to: required"),
    ],
)
def test_addressing_that_would_not_reach_anyone_is_refused(patch, message):
    payload = payloads.text(PHONE, "hi")
    del payload["to"]
    payload.update(patch)
    with pytest.raises(MessageLimitError, match=message):
        payloads.validate_payload(payload)


def test_a_reply_to_a_username_user_goes_out_with_recipient(
    emulator, emulated_config, control, post_webhook, dispatched, django_capture_on_commit_callbacks
):
    control.config(window_enforcement="off")
    username = emulator.store.username_user("tendai.moyo", "Tendai")
    _, event = emulator.user_sends(username.handle, {"type": "text", "text": "hi"})
    contacts = value(event["body"])["contacts"]
    assert "wa_id" not in contacts[0] and "from" not in value(event["body"])["messages"][0]
    assert post_webhook(body(event["body"])).status_code == 200

    contact = Contact.objects.get(user_id=username.user_id)
    assert (contact.whatsapp_id, contact.username, contact.name) == (None, "tendai.moyo", "Tendai")
    with django_capture_on_commit_callbacks(execute=True):
        conversations.queue_message(contact, payloads.text(contact.address, "Welcome!"))
    sent = Message.objects.get(direction="out")
    assert sent.status == "accepted" and sent.payload["recipient"] == username.user_id
    [received] = control.wait_for_messages(1, to=username.handle)
    assert received["payload"]["recipient"] == username.user_id
    assert "to" not in received["payload"]


def test_a_message_queued_by_user_id_goes_by_phone_once_the_number_is_known(
    emulated_config, control
):
    control.config(window_enforcement="off")
    contact = conversations.touch_contact_inbound(
        conversations.Identity(user_id=BSUID), sent_at=timezone.now()
    )
    message = conversations.create_outbound_message(
        contact=contact, payload=payloads.text(BSUID, "Your receipt")
    )
    conversations.resolve_contact(conversations.Identity(whatsapp_id=PHONE, user_id=BSUID))
    assert outbound.send_pending_messages(contact.pk).sent == 1
    message.refresh_from_db()
    assert message.payload["to"] == PHONE and "recipient" not in message.payload
    assert control.wait_for_messages(1, to=PHONE)[0]["payload"]["to"] == PHONE


# --- what Meta tells us about the ids --------------------------------------------------------


def test_a_later_message_with_both_ids_merges_the_two_contacts(config, post_webhook, dispatched):
    by_phone = Contact.objects.create(whatsapp_id=PHONE, name="Tendai")
    username_text = shape("meta_bsuid_username_text")
    assert post_webhook(body(username_text)).status_code == 200
    by_id = Contact.objects.get(user_id=USERNAME_BSUID)
    assert by_id.pk != by_phone.pk and by_id.whatsapp_id is None

    both = deepcopy(username_text)
    item = value(both)["messages"][0]
    item.update(id="wamid.BOTH-IDS-1", **{"from": PHONE})
    value(both)["contacts"][0]["wa_id"] = PHONE
    assert post_webhook(body(both)).status_code == 200

    merged = Contact.objects.get()
    assert (merged.whatsapp_id, merged.user_id, merged.username) == (
        PHONE,
        USERNAME_BSUID,
        "tendai.moyo",
    )
    assert merged.messages.count() == 2


def test_a_status_naming_both_ids_completes_our_contact(config, post_webhook, our_message):
    data = shape("pywa_status_read")  # recipient_id is our contact; contacts add the BSUID
    value(data)["statuses"][0]["recipient_user_id"] = BSUID
    assert post_webhook(body(data)).status_code == 200
    contact = Contact.objects.get(pk=our_message.contact_id)
    assert contact.user_id == BSUID
    our_message.refresh_from_db()
    assert our_message.status == "read"


def test_a_status_by_user_id_only_is_applied_to_our_message(config, post_webhook, our_message):
    Contact.objects.filter(pk=our_message.contact_id).update(user_id=USERNAME_BSUID)
    assert post_webhook(body(shape("meta_bsuid_status_read"))).status_code == 200
    our_message.refresh_from_db()
    assert our_message.status == "read"
    event = our_message.status_events.get()
    assert (event.recipient_id, event.recipient_user_id) == ("", USERNAME_BSUID)


def test_a_status_about_someone_else_never_renames_our_contact(config, post_webhook, our_message):
    data = shape("pywa_status_read")
    status = value(data)["statuses"][0]
    status.update(recipient_id="263770000001", recipient_user_id=BSUID)
    assert post_webhook(body(data)).status_code == 200
    contact = Contact.objects.get(pk=our_message.contact_id)
    assert (contact.whatsapp_id, contact.user_id) == (PHONE, None)


def test_a_send_answer_with_the_user_id_completes_the_contact(make_config):
    graph = WebhookRecorder()
    try:
        graph.handler = lambda request: (
            200,
            json.dumps(
                {
                    "messaging_product": "whatsapp",
                    "contacts": [{"input": PHONE, "wa_id": PHONE, "user_id": BSUID}],
                    "messages": [{"id": "wamid.ANSWERED-1"}],
                }
            ).encode(),
            "application/json",
        )
        make_config(graph_base_url=graph.url.rsplit("/", 1)[0])
        contact = Contact.objects.create(whatsapp_id=PHONE)
        Contact.objects.filter(pk=contact.pk).update(last_inbound_at=contact.created_at)
        conversations.create_outbound_message(contact=contact, payload=payloads.text(PHONE, "hi"))
        assert outbound.send_pending_messages(contact.pk).sent == 1
    finally:
        graph.close()
    contact.refresh_from_db()
    assert contact.user_id == BSUID


# --- messages that are not a person talking to us ------------------------------------------


def test_a_revoke_marks_the_contacts_earlier_message_deleted(config, post_webhook, dispatched):
    text = shape("pywa_text")
    assert post_webhook(body(text)).status_code == 200
    original = Message.objects.get(direction="in")
    revoke = shape("pywa_revoke")
    value(revoke)["messages"][0]["revoke"]["original_message_id"] = original.wamid
    assert post_webhook(body(revoke)).status_code == 200
    original.refresh_from_db()
    assert original.deleted_at is not None
    assert len(dispatched) == 1  # the revoke itself never reached the bot
    assert not Message.objects.filter(direction="out").exists()


def test_user_changed_number_moves_the_contact_and_later_messages_find_it(
    config, post_webhook, dispatched
):
    from flows.models import ContactFlowState

    contact = Contact.objects.create(whatsapp_id=PHONE, name="Tendai")
    ContactFlowState.objects.create(contact=contact, current_step="ask_adults")
    assert post_webhook(body(shape("meta_system_user_changed_number"))).status_code == 200
    contact.refresh_from_db()
    assert contact.whatsapp_id == "263779876543"
    assert not Message.objects.filter(direction="out").exists()  # nothing goes to the old one

    later = shape("pywa_text")
    value(later)["messages"][0]["from"] = "263779876543"
    value(later)["contacts"][0].update(wa_id="263779876543", user_id="ZW.88001")
    assert post_webhook(body(later)).status_code == 200
    assert Contact.objects.get().pk == contact.pk
    assert ContactFlowState.objects.get(contact=contact).current_step == "ask_adults"


@pytest.mark.parametrize(
    "name",
    [
        "pywa_reaction",
        "pywa_unreaction_empty",
        "pywa_revoke",
        "pywa_edit",
        "pywa_call_permission_accept",
        "pywa_system_identity_change",
    ],
)
def test_the_flow_engine_never_answers_what_is_not_a_person_talking(
    name, config, post_webhook, settings
):
    settings.INBOUND_MESSAGE_HANDLER = "flows.services.handle_inbound_message"
    assert post_webhook(body(shape(name))).status_code == 200
    inbound = Message.objects.get(direction="in")
    assert inbound.dispatched_at is not None  # looked at once, not left for the sweep
    assert not Message.objects.filter(direction="out").exists()


def test_a_status_never_merges_contacts_that_is_for_their_own_messages(
    config, post_webhook, our_message
):
    someone = Contact.objects.create(user_id=BSUID)
    data = shape("pywa_status_read")
    value(data)["statuses"][0]["recipient_user_id"] = BSUID
    assert post_webhook(body(data)).status_code == 200
    ours = Contact.objects.get(pk=our_message.contact_id)
    assert ours.user_id is None and Contact.objects.filter(pk=someone.pk).exists()
    our_message.refresh_from_db()
    assert our_message.status == "read"
