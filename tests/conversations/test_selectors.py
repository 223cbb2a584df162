"""Reads about contacts and their conversations (conversations.selectors)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from conversations import selectors
from conversations.models import Contact, Message

pytestmark = pytest.mark.django_db

WA_ID = "263771234567"


@pytest.fixture
def contact():
    return Contact.objects.create(whatsapp_id=WA_ID, last_inbound_at=timezone.now())


def test_service_window(contact):
    assert selectors.is_within_service_window(contact)
    contact.last_inbound_at = timezone.now() - timedelta(hours=24, seconds=1)
    assert not selectors.is_within_service_window(contact)
    contact.last_inbound_at = None
    assert not selectors.is_within_service_window(contact)
    assert selectors.service_window_ends_at(contact) is None


def test_recent_messages_are_the_last_ones_oldest_first(contact):
    for i in range(55):
        Message.objects.create(
            contact=contact, direction="in", message_type="text", text=str(i), status="received"
        )
    recent = selectors.recent_messages(contact, limit=50)
    assert [m.text for m in recent] == [str(i) for i in range(5, 55)]


def _inbound(contact, number: str, text: str = "hi") -> Message:
    return Message.objects.create(
        contact=contact, direction="in", message_type="text", text=text, status="received",
        business_number_id=number,
    )  # fmt: skip


def test_last_inbound_business_number_is_the_latest_among_the_given(contact):
    assert selectors.last_inbound_business_number(contact, among=["111"]) is None
    _inbound(contact, "111")
    _inbound(contact, "222")
    _inbound(contact, "")  # a number we did not know
    assert selectors.last_inbound_business_number(contact, among=["111", "222"]) == "222"
    assert selectors.last_inbound_business_number(contact, among=["111"]) == "111"
    assert selectors.last_inbound_business_number(contact, among=[]) is None
    other = Contact.objects.create(whatsapp_id="263772222222")
    assert selectors.last_inbound_business_number(other, among=["111", "222"]) is None


def test_outbound_since_last_inbound_counts_only_this_window_and_not_failures(contact):
    def outbound(status: str, age: timedelta) -> None:
        message = Message.objects.create(
            contact=contact, direction="out", message_type="template", status=status,
            flow_step="reengagement_template",
        )  # fmt: skip
        Message.objects.filter(pk=message.pk).update(created_at=timezone.now() - age)

    step = "reengagement_template"
    assert not selectors.outbound_since_last_inbound(contact, flow_step=step)
    outbound("accepted", timedelta(hours=2))  # before the contact last wrote
    outbound("failed", timedelta(0))
    assert not selectors.outbound_since_last_inbound(contact, flow_step=step)
    outbound("pending", timedelta(0))
    assert selectors.outbound_since_last_inbound(contact, flow_step=step)
    assert not selectors.outbound_since_last_inbound(contact, flow_step="staff")
    contact.last_inbound_at = None  # never wrote: every earlier send counts
    assert selectors.outbound_since_last_inbound(contact, flow_step=step)
