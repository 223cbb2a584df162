"""Staff on the contact page: the conversation, the "send message" form, bot handover."""

from __future__ import annotations

import pytest
from django.urls import reverse
from django.utils import timezone

from conversations import selectors
from conversations.models import Contact, Message
from meta_integration.models import MetaAppConfig

pytestmark = pytest.mark.django_db

WA_ID = "263771234567"


@pytest.fixture
def staff_client(client, admin_user):
    client.force_login(admin_user)
    return client


@pytest.fixture
def contact():
    MetaAppConfig.objects.create(
        phone_number_id="123456789012345", access_token="tok-secret-xyz", app_secret="s"
    )
    contact = Contact.objects.create(
        whatsapp_id=WA_ID, name="Tendai", last_inbound_at=timezone.now()
    )
    Message.objects.create(
        contact=contact, direction="in", message_type="text", text="Is the tour on?",
        status="received",
    )  # fmt: skip
    Message.objects.create(
        contact=contact, direction="out", message_type="text", text="Yes, 7am pickup",
        status="failed", error_code=131026, error_title="Message undeliverable",
    )  # fmt: skip
    return contact


def test_pages_render_with_the_conversation(staff_client, contact):
    for url in [
        reverse("admin:conversations_contact_changelist"),
        reverse("admin:conversations_message_changelist"),
        reverse("admin:conversations_message_change", args=[Message.objects.first().pk]),
    ]:
        assert staff_client.get(url).status_code == 200, url
    page = staff_client.get(reverse("admin:conversations_contact_change", args=[contact.pk]))
    assert page.status_code == 200
    html = page.content.decode()
    assert "Is the tour on?" in html and "Yes, 7am pickup" in html
    assert "Message undeliverable" in html
    assert "Send a message" in html and "window is open" in html
    assert "tok-secret-xyz" not in html


def test_send_message_form_queues_through_the_service_and_pauses_the_bot(
    staff_client, contact, django_capture_on_commit_callbacks
):
    url = reverse("admin:conversations_contact_send_message", args=[contact.pk])
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = staff_client.post(url, {"text": "  Hi Tendai, Mary here  ", "pause_bot": "on"})
    assert response.status_code == 302
    assert len(callbacks) == 1  # the send queue is woken after commit
    sent = Message.objects.get(flow_step="staff")
    assert (sent.direction, sent.status, sent.text) == ("out", "pending", "Hi Tendai, Mary here")
    assert sent.payload["to"] == WA_ID
    contact.refresh_from_db()
    assert selectors.is_bot_paused(contact) and contact.needs_human_intervention


def test_send_message_without_pausing_and_with_an_empty_text(staff_client, contact):
    url = reverse("admin:conversations_contact_send_message", args=[contact.pk])
    staff_client.post(url, {"text": "Noted"})
    contact.refresh_from_db()
    assert not selectors.is_bot_paused(contact)
    response = staff_client.post(url, {"text": "   "}, follow=True)
    assert "Not sent" in response.content.decode()
    assert Message.objects.filter(flow_step="staff").count() == 1


def test_release_the_bot(staff_client, contact):
    from conversations import services

    services.pause_bot(contact)
    url = reverse("admin:conversations_contact_release_bot", args=[contact.pk])
    assert staff_client.post(url).status_code == 302
    contact.refresh_from_db()
    assert not selectors.is_bot_paused(contact) and not contact.needs_human_intervention


def test_pause_action_on_the_changelist(staff_client, contact):
    staff_client.post(
        reverse("admin:conversations_contact_changelist"),
        {"action": "pause_bot_action", "_selected_action": [contact.pk]},
    )
    contact.refresh_from_db()
    assert selectors.is_bot_paused(contact)


def test_send_message_is_refused_to_anonymous(client, contact):
    url = reverse("admin:conversations_contact_send_message", args=[contact.pk])
    response = client.post(url, {"text": "spam"})
    assert response.status_code == 302 and "/admin/login/" in response["Location"]
    assert not Message.objects.filter(flow_step="staff").exists()
