"""Contacts known by phone number, by business-scoped user ID (BSUID), or both: found by either,
completed when a message carries both, merged when they were two, moved to a new number."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import IntegrityError, transaction
from django.utils import timezone

from conversations import services
from conversations.models import Contact, Message, OutboundLane

pytestmark = pytest.mark.django_db

PHONE, NEW_PHONE = "263771234567", "263779876543"
BSUID = "ZW.4417250098311276402"
Identity = services.Identity


def test_a_contact_needs_an_id_and_each_id_is_unique():
    with pytest.raises(IntegrityError), transaction.atomic():
        Contact.objects.create(name="nobody")
    with pytest.raises(IntegrityError), transaction.atomic():
        Contact.objects.create(whatsapp_id="", name="blank is not none")
    Contact.objects.create(user_id=BSUID)
    with pytest.raises(IntegrityError), transaction.atomic():
        Contact.objects.create(user_id=BSUID)
    with pytest.raises(ValueError):
        Identity(profile_name="no ids")


def test_a_username_user_is_a_contact_without_a_phone_number():
    contact = services.resolve_contact(
        Identity(user_id=BSUID, profile_name="Tendai", username="tendai.moyo")
    )
    assert (contact.whatsapp_id, contact.user_id, contact.username) == (None, BSUID, "tendai.moyo")
    assert contact.address == BSUID and contact.identities == {BSUID}
    assert str(contact) == "Tendai (@tendai.moyo)"
    assert services.resolve_contact(Identity(user_id=BSUID)) == contact


def test_a_later_message_with_both_ids_completes_the_contact():
    known = services.resolve_contact(Identity(whatsapp_id=PHONE, profile_name="Tendai"))
    again = services.resolve_contact(Identity(whatsapp_id=PHONE, user_id=BSUID))
    assert again.pk == known.pk and again.user_id == BSUID
    assert again.address == PHONE  # the phone number first, as Meta prefers
    assert services.resolve_contact(Identity(user_id=BSUID)).pk == known.pk
    assert Contact.objects.count() == 1


def test_two_contacts_of_one_person_merge_and_keep_the_live_conversation(make_booking):
    from flows.models import ContactFlowState

    old = Contact.objects.create(
        whatsapp_id=PHONE, name="Tendai", last_inbound_at=timezone.now() - timedelta(days=40)
    )
    live = Contact.objects.create(
        user_id=BSUID, username="tendai.moyo", last_inbound_at=timezone.now()
    )
    booking = make_booking(contact=old)
    for contact, text in ((old, "last month"), (live, "today")):
        Message.objects.create(
            contact=contact, direction="in", message_type="text", text=text, status="received"
        )
    ContactFlowState.objects.create(contact=old, current_step="stale_step")
    ContactFlowState.objects.create(contact=live, current_step="ask_date")
    OutboundLane.objects.create(contact=old)

    merged = services.resolve_contact(Identity(whatsapp_id=PHONE, user_id=BSUID))

    assert merged.pk == live.pk  # the contact that talked last is kept
    assert (merged.whatsapp_id, merged.user_id, merged.username, merged.name) == (
        PHONE,
        BSUID,
        "tendai.moyo",
        "Tendai",
    )
    assert not Contact.objects.filter(pk=old.pk).exists()
    booking.refresh_from_db()
    assert booking.contact_id == merged.pk
    assert sorted(merged.messages.values_list("text", flat=True)) == ["last month", "today"]
    assert ContactFlowState.objects.get().contact_id == merged.pk
    assert ContactFlowState.objects.get().current_step == "ask_date"
    assert not OutboundLane.objects.exists()  # recreated on the next send


def test_a_number_change_moves_the_contact_and_its_conversation():
    from flows.models import ContactFlowState

    contact = Contact.objects.create(whatsapp_id=PHONE, user_id=BSUID, name="Tendai")
    ContactFlowState.objects.create(contact=contact, current_step="ask_adults")
    moved = services.change_number(contact, new_whatsapp_id=NEW_PHONE)
    assert moved.pk == contact.pk and moved.whatsapp_id == NEW_PHONE
    assert ContactFlowState.objects.get(contact=moved).current_step == "ask_adults"
    assert not Contact.objects.filter(whatsapp_id=PHONE).exists()


def test_a_number_change_onto_a_known_number_keeps_the_moving_conversation():
    from flows.models import ContactFlowState

    moving = Contact.objects.create(whatsapp_id=PHONE, name="Tendai")
    stranger_record = Contact.objects.create(
        whatsapp_id=NEW_PHONE, name="", last_inbound_at=timezone.now()
    )
    ContactFlowState.objects.create(contact=moving, current_step="ask_adults")
    ContactFlowState.objects.create(contact=stranger_record, current_step="main_menu")
    moved = services.change_number(moving, new_whatsapp_id=NEW_PHONE)
    assert moved.pk == moving.pk and moved.whatsapp_id == NEW_PHONE
    assert Contact.objects.count() == 1
    assert ContactFlowState.objects.get().current_step == "ask_adults"


def test_only_the_senders_own_message_can_be_marked_deleted():
    tendai = Contact.objects.create(whatsapp_id=PHONE)
    other = Contact.objects.create(whatsapp_id=NEW_PHONE)
    mine = Message.objects.create(
        contact=tendai, direction="in", wamid="wamid.MINE", message_type="text", status="received"
    )
    theirs = Message.objects.create(
        contact=other, direction="in", wamid="wamid.THEIRS", message_type="text", status="received"
    )
    now = timezone.now()
    assert services.mark_deleted(contact=tendai, wamid="wamid.MINE", at=now)
    assert not services.mark_deleted(contact=tendai, wamid="wamid.THEIRS", at=now)
    mine.refresh_from_db()
    theirs.refresh_from_db()
    assert mine.deleted_at == now and theirs.deleted_at is None
