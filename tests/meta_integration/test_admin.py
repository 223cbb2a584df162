"""Admin: config secrets are write-only and masked; the webhook log lists and replays events."""

from __future__ import annotations

import pytest
from django.urls import reverse

from conversations.models import Message
from meta_integration.models import MetaAppConfig, WebhookEvent
from tests.meta_integration.whatsapp_helpers import (
    ACCESS_TOKEN,
    APP_SECRET,
    OLD_APP_SECRET,
    PHONE_NUMBER_ID,
    VERIFY_TOKEN,
    fixture_bytes,
    table_locked,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff_client(client, admin_user):
    client.force_login(admin_user)
    return client


def form_data(config: MetaAppConfig, **overrides) -> dict:
    data = {
        "name": config.name,
        "phone_number_id": config.phone_number_id,
        "waba_id": config.waba_id,
        "display_phone_number": config.display_phone_number,
        "access_token": "",
        "app_secret": "",
        "previous_app_secret": "",
        "verify_token": config.verify_token,
        "api_version": config.api_version,
        "graph_base_url": config.graph_base_url,
        "is_active": "on",
    }
    data.update(overrides)
    return data


def test_pages_render_and_never_show_a_secret(staff_client, config, post_webhook):
    post_webhook(fixture_bytes("text"))
    event = WebhookEvent.objects.get()
    urls = [
        reverse("admin:index"),
        reverse("admin:meta_integration_metaappconfig_changelist"),
        reverse("admin:meta_integration_metaappconfig_add"),
        reverse("admin:meta_integration_metaappconfig_change", args=[config.pk]),
        reverse("admin:meta_integration_webhookevent_changelist"),
        reverse("admin:meta_integration_webhookevent_change", args=[event.pk]),
    ]
    for url in urls:
        response = staff_client.get(url)
        assert response.status_code == 200, url
        html = response.content.decode()
        assert ACCESS_TOKEN not in html and APP_SECRET not in html, url
    index = staff_client.get(reverse("admin:index")).content.decode()
    assert "Meta Integration" in index and "Meta app configs" in index


def test_blank_secret_on_edit_keeps_the_stored_value(staff_client, config):
    url = reverse("admin:meta_integration_metaappconfig_change", args=[config.pk])
    response = staff_client.post(url, form_data(config, name="Renamed"))
    assert response.status_code == 302
    config.refresh_from_db()
    assert config.name == "Renamed"
    assert (config.access_token, config.app_secret) == (ACCESS_TOKEN, APP_SECRET)


def test_new_app_secret_keeps_the_old_one_for_rotation(staff_client, make_config):
    config = make_config(app_secret=OLD_APP_SECRET)
    url = reverse("admin:meta_integration_metaappconfig_change", args=[config.pk])
    data = form_data(config, app_secret="new-secret-2026", keep_old_app_secret="on")
    assert staff_client.post(url, data).status_code == 302
    config.refresh_from_db()
    assert (config.app_secret, config.previous_app_secret) == ("new-secret-2026", OLD_APP_SECRET)

    data = form_data(config, clear_previous_app_secret="on")
    assert staff_client.post(url, data).status_code == 302
    config.refresh_from_db()
    assert (config.app_secret, config.previous_app_secret) == ("new-secret-2026", "")


def test_secrets_are_encrypted_at_rest(config):
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT access_token, app_secret FROM meta_integration_metaappconfig WHERE id = %s",
            [config.pk],
        )
        stored = cursor.fetchone()
    assert all(value.startswith("fernet:") for value in stored)
    assert ACCESS_TOKEN not in stored[0] and APP_SECRET not in stored[1]


def test_add_config_from_the_admin(staff_client):
    response = staff_client.post(
        reverse("admin:meta_integration_metaappconfig_add"),
        {
            "name": "Second number",
            "phone_number_id": "555000111222333",
            "access_token": "tok",
            "app_secret": "sec",
            "verify_token": VERIFY_TOKEN,
            "api_version": "v23.0",
            "graph_base_url": "https://graph.facebook.com",
            "is_active": "on",
        },
    )
    assert response.status_code == 302
    config = MetaAppConfig.objects.get(phone_number_id="555000111222333")
    assert (config.access_token, config.app_secret, config.previous_app_secret) == (
        "tok",
        "sec",
        "",
    )


def test_replay_recovers_an_event_refused_while_the_secret_was_wrong(
    staff_client, make_config, post_webhook
):
    config = make_config(app_secret="typo-in-the-secret")
    assert post_webhook(fixture_bytes("text")).status_code == 403  # signed with APP_SECRET
    assert not Message.objects.exists()
    event = WebhookEvent.objects.get()
    assert event.phone_number_id == PHONE_NUMBER_ID and not event.valid

    changelist = reverse("admin:meta_integration_webhookevent_changelist")
    action = {"action": "replay", "_selected_action": [event.pk]}
    response = staff_client.post(changelist, action, follow=True)
    assert "stored signature does not match" in response.content.decode()
    assert not Message.objects.exists()

    config.app_secret = APP_SECRET
    config.save()
    response = staff_client.post(changelist, action, follow=True)
    assert "1 event(s) replayed" in response.content.decode()
    event.refresh_from_db()
    assert event.valid and event.processed
    assert Message.objects.get().text == "Hi"
    staff_client.post(changelist, action, follow=True)  # again: idempotent
    assert Message.objects.count() == 1


@pytest.mark.postgres  # the failure is a real lock timeout (see whatsapp_helpers.table_locked)
@pytest.mark.django_db(transaction=True)
def test_a_processing_failure_shows_its_traceback_and_is_replayed_from_the_admin(
    staff_client, config, post_webhook
):
    with table_locked("conversations_contact"):
        assert post_webhook(fixture_bytes("text")).status_code == 503
    event = WebhookEvent.objects.get()
    assert not event.processed and event.exception.startswith("OperationalError")

    page = staff_client.get(reverse("admin:meta_integration_webhookevent_changelist"))
    assert "OperationalError" in page.content.decode()  # the list shows what went wrong
    detail = staff_client.get(
        reverse("admin:meta_integration_webhookevent_change", args=[event.pk])
    )
    html = detail.content.decode()
    assert "Traceback (most recent call last)" in html and "touch_contact_inbound" in html

    changelist = reverse("admin:meta_integration_webhookevent_changelist")
    action = {"action": "replay", "_selected_action": [event.pk]}
    response = staff_client.post(changelist, action, follow=True)
    assert "1 event(s) replayed" in response.content.decode()
    event.refresh_from_db()
    assert event.processed and (event.exception, event.traceback) == ("", "")
    assert Message.objects.get().text == "Hi"


def test_replay_needs_the_change_permission(client, config, post_webhook, django_user_model):
    from django.contrib.auth.models import Permission

    post_webhook(fixture_bytes("text"), signature="sha256=" + "0" * 64)  # stored, not trusted
    event = WebhookEvent.objects.get()
    viewer = django_user_model.objects.create_user("viewer", password="x", is_staff=True)
    viewer.user_permissions.add(Permission.objects.get(codename="view_webhookevent"))
    client.force_login(viewer)
    changelist = reverse("admin:meta_integration_webhookevent_changelist")
    assert client.get(changelist).status_code == 200
    assert "replay" not in client.get(changelist).content.decode()
    client.post(changelist, {"action": "replay", "_selected_action": [event.pk]})
    event.refresh_from_db()
    assert not event.valid and not event.processed


def test_staff_read_template_news_account_updates_and_skipped_items(
    staff_client, config, post_webhook
):
    from pathlib import Path

    from conversations.models import Contact
    from meta_integration.models import AccountUpdate, MessageTemplate, SkippedWebhookItem

    shapes = Path(__file__).resolve().parents[1] / "fixtures" / "meta" / "webhooks"
    for name in ("meta_template_paused", "pywa_template_quality_yellow", "courier_no_from"):
        assert post_webhook((shapes / f"{name}.json").read_bytes()).status_code == 200
    post_webhook((shapes / "meta_bsuid_username_text.json").read_bytes())

    templates = staff_client.get(reverse("admin:meta_integration_messagetemplate_changelist"))
    assert templates.status_code == 200
    assert b"reengage_traveller" in templates.content and b"Paused" in templates.content
    assert b"YELLOW" in templates.content
    template = MessageTemplate.objects.get(name="reengage_traveller")
    page = staff_client.get(
        reverse("admin:meta_integration_messagetemplate_change", args=[template.pk])
    )
    assert page.status_code == 200
    updates = staff_client.get(reverse("admin:meta_integration_accountupdate_changelist"))
    assert b"template reengage_traveller (en): PAUSED" in updates.content
    update = AccountUpdate.objects.first()
    assert (
        staff_client.get(
            reverse("admin:meta_integration_accountupdate_change", args=[update.pk])
        ).status_code
        == 200
    )
    skipped = SkippedWebhookItem.objects.get(kind="message")
    page = staff_client.get(
        reverse("admin:meta_integration_skippedwebhookitem_change", args=[skipped.pk])
    )
    assert b"neither from nor from_user_id" in page.content
    event_page = staff_client.get(
        reverse("admin:meta_integration_webhookevent_change", args=[skipped.event_id])
    )
    assert b"neither from nor from_user_id" in event_page.content

    contact = Contact.objects.get(username="tendai.moyo")
    listed = staff_client.get(reverse("admin:conversations_contact_changelist") + "?q=tendai.moyo")
    assert b"tendai.moyo" in listed.content
    page = staff_client.get(reverse("admin:conversations_contact_change", args=[contact.pk]))
    assert b"tendai.moyo" in page.content and contact.user_id.encode() in page.content
