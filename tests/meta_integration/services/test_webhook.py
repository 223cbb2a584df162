"""Intake (services.webhook): route, verify on the raw bytes, store once, process, replay.

Bodies are the fixtures of tests/fixtures/meta/ (shapes from Meta's webhook documentation),
posted as Meta would through the webhook URL; the view's status codes are in test_views.py.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging

import pytest

from conversations.models import Contact, Message
from meta_integration.constants import MAX_WEBHOOK_BODY_BYTES
from meta_integration.models import WebhookEvent
from meta_integration.services import webhook as intake
from meta_integration.signature import compute_signature
from tests.meta_integration.whatsapp_helpers import (
    APP_SECRET,
    OLD_APP_SECRET,
    fixture_bytes,
    fixture_json,
    table_locked,
)

pytestmark = pytest.mark.django_db


def nothing_recorded() -> bool:
    return not Message.objects.exists() and not Contact.objects.exists()


# --- authentication ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "signature",
    [
        "sha256=" + "0" * 64,
        "sha256=nothex",
        "sha1=" + "0" * 40,
        "",
        compute_signature("some-other-secret", fixture_bytes("text")),
    ],
)
def test_bad_signature_is_refused_and_nothing_is_recorded(
    config, post_webhook, signature, caplog, dispatched
):
    with caplog.at_level(logging.WARNING):
        response = post_webhook(fixture_bytes("text"), signature=signature)
    assert response.status_code == 403
    assert nothing_recorded()
    assert dispatched == []
    assert "Meta webhook refused (403)" in caplog.text
    event = WebhookEvent.objects.get()  # kept, untrusted, for diagnosis and replay
    assert not event.valid and not event.processed


def test_missing_signature_is_refused(config, post_webhook, caplog):
    with caplog.at_level(logging.WARNING):
        response = post_webhook(fixture_bytes("text"), secret=None)
    assert response.status_code == 403
    assert nothing_recorded()
    assert "missing X-Hub-Signature-256" in caplog.text


def test_a_signature_over_other_bytes_is_refused(config, post_webhook):
    body = fixture_bytes("text")
    tampered = body.replace(b'"Hi"', b'"Hi, refund me"')
    response = post_webhook(tampered, signature=compute_signature(APP_SECRET, body))
    assert response.status_code == 403
    assert nothing_recorded()


def test_config_without_app_secret_is_refused_never_waved_through(
    make_config, post_webhook, caplog
):
    make_config(app_secret="")
    with caplog.at_level(logging.WARNING):
        # What an attacker would send if an empty secret were accepted: HMAC with an empty key.
        body = fixture_bytes("text")
        empty_key = "sha256=" + hmac.new(b"", body, hashlib.sha256).hexdigest()
        response = post_webhook(body, signature=empty_key)
    assert response.status_code == 403
    assert nothing_recorded()
    assert not WebhookEvent.objects.exists()
    assert "no app secret configured" in caplog.text


def test_unknown_phone_number_id_is_refused(config, post_webhook, caplog):
    data = fixture_json("text")
    data["entry"][0]["changes"][0]["value"]["metadata"]["phone_number_id"] = "999999999999999"
    with caplog.at_level(logging.WARNING):
        response = post_webhook(json.dumps(data).encode())
    assert response.status_code == 404
    assert nothing_recorded()
    assert not WebhookEvent.objects.exists()
    assert "is unknown" in caplog.text


def test_inactive_config_is_refused(make_config, post_webhook):
    make_config(is_active=False)
    assert post_webhook(fixture_bytes("text")).status_code == 404
    assert nothing_recorded()


def test_rotation_accepts_the_previous_secret(make_config, post_webhook):
    make_config(app_secret="brand-new-secret", previous_app_secret=OLD_APP_SECRET)
    assert post_webhook(fixture_bytes("text"), secret=OLD_APP_SECRET).status_code == 200
    assert post_webhook(fixture_bytes("button_reply"), secret="brand-new-secret").status_code == 200
    assert Message.objects.count() == 2


def test_after_rotation_the_old_secret_is_refused(make_config, post_webhook):
    make_config(app_secret="brand-new-secret", previous_app_secret="")
    assert post_webhook(fixture_bytes("text"), secret=OLD_APP_SECRET).status_code == 403
    assert nothing_recorded()


# --- malformed bodies ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"{not json",
        b"\xff\xfe\x00",
        b"[]",
        b"null",
        b'{"object": "whatsapp_business_account"}',
        b'{"object": "whatsapp_business_account", "entry": [{"id": "1", "changes": "x"}]}',
        b'{"object": "whatsapp_business_account", "entry": [{"changes": [{}]}]}',
    ],
)
def test_malformed_body_is_a_400_never_a_500(config, post_webhook, body, caplog):
    with caplog.at_level(logging.WARNING):
        response = post_webhook(body)
    assert response.status_code == 400
    assert nothing_recorded()
    assert "Meta webhook refused (400)" in caplog.text


def test_a_change_without_metadata_for_an_unknown_account_is_a_404(config, post_webhook):
    body = b'{"object": "whatsapp_business_account", "entry": [{"id": "1", "changes": [{}]}]}'
    assert post_webhook(body).status_code == 404  # routed by entry id: no such account
    assert nothing_recorded()


def test_a_signed_body_with_an_unreadable_message_is_accepted_and_the_item_kept(
    config, post_webhook
):
    data = fixture_json("text")
    del data["entry"][0]["changes"][0]["value"]["messages"][0]["id"]
    response = post_webhook(json.dumps(data).encode())
    assert response.status_code == 200  # Meta would redeliver a 400 for days
    assert nothing_recorded()
    event = WebhookEvent.objects.get()
    assert event.valid and event.processed and event.exception == ""
    [item] = event.skipped_items.all()
    assert (item.kind, item.path) == ("message", "entry[0].changes[0].value.messages[0]")
    assert "messages[0].id: missing" in item.reason
    assert item.raw["text"] == {"body": "Hi"}


def test_wrong_object_is_a_400(config, post_webhook):
    data = fixture_json("text")
    data["object"] = "page"
    assert post_webhook(json.dumps(data).encode()).status_code == 400
    assert nothing_recorded()


# --- storing: once per body, bounded when unsigned, storable text ---------------------------


def test_same_webhook_five_times_records_and_dispatches_once(config, post_webhook, dispatched):
    body = fixture_bytes("text")
    for _ in range(5):
        assert post_webhook(body).status_code == 200

    message = Message.objects.get()
    assert message.text == "Hi"
    assert dispatched == [message.pk]
    assert Contact.objects.count() == 1
    event = WebhookEvent.objects.get()
    assert event.delivery_count == 5


def _text_body(*bodies_and_senders):
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


def test_unsigned_bodies_are_kept_short(config, post_webhook):
    big = _text_body(("x" * 500_000, "263771234567"))
    assert post_webhook(big, secret="not-the-secret").status_code in (401, 403)
    assert len(WebhookEvent.objects.get().body) <= 64 * 1024


# --- processing and replay -------------------------------------------------------------------


def test_replay_of_a_processed_event_changes_nothing(config, post_webhook, dispatched):
    post_webhook(fixture_bytes("multiple_messages"))
    event = WebhookEvent.objects.get()
    assert intake.replay_webhook_event(event) is True
    assert Message.objects.count() == 3
    assert len(dispatched) == 3


def test_refusals_are_typed_and_carry_no_http_status(make_config):
    """Intake names what is wrong; only the view knows status codes (test_views.py)."""
    body = fixture_bytes("text")
    signed = {"X-Hub-Signature-256": compute_signature(APP_SECRET, body)}

    def receive(data: bytes, headers: dict[str, str]) -> intake.WebhookRejected:
        with pytest.raises(intake.WebhookRejected) as refused:
            intake.receive_webhook(body=data, headers=headers, remote_ip="203.0.113.9")
        return refused.value

    oversized = b" " * (MAX_WEBHOOK_BODY_BYTES + 1)
    assert type(receive(oversized, signed)) is intake.WebhookTooLarge
    assert type(receive(b"{not json", signed)) is intake.WebhookMalformed
    assert type(receive(body, signed)) is intake.WebhookUnknownNumber  # no config yet
    config = make_config(app_secret="")
    assert type(receive(body, signed)) is intake.WebhookNoSecret
    config.app_secret = APP_SECRET
    config.save()
    refused = receive(body, {"X-Hub-Signature-256": "sha256=" + "0" * 64})
    assert type(refused) is intake.WebhookSignatureInvalid
    assert refused.reason == "signature does not match"
    assert nothing_recorded()
    for rejection in (refused, *intake.WebhookRejected.__subclasses__()):
        assert not hasattr(rejection, "http_status")
    event = intake.receive_webhook(body=body, headers=signed, remote_ip="203.0.113.9")
    event.refresh_from_db()  # the untrusted copy stored above, now upgraded and processed
    assert event.valid and event.processed and event.remote_ip == "203.0.113.9"


@pytest.mark.postgres  # a lock timeout is how the database refuses here; SQLite has none
@pytest.mark.django_db(transaction=True)
def test_a_processing_failure_keeps_exception_and_traceback_and_a_redelivery_recovers(
    config, post_webhook, caplog
):
    body = fixture_bytes("text")
    with table_locked("conversations_contact"), caplog.at_level(logging.WARNING):
        response = post_webhook(body)
    assert response.status_code == 503  # Meta delivers it again later
    assert "Meta webhook event" in caplog.text and "could not be processed" in caplog.text
    event = WebhookEvent.objects.get()
    assert event.valid and not event.processed and event.processed_at is None
    assert event.exception.startswith("OperationalError: ")
    assert "lock timeout" in event.exception
    assert "Traceback (most recent call last)" in event.traceback
    assert "touch_contact_inbound" in event.traceback  # where it failed, for engineers
    assert nothing_recorded()  # what the event had recorded was rolled back

    assert post_webhook(body).status_code == 200  # Meta's redelivery, the database is back
    event.refresh_from_db()
    assert event.processed and event.delivery_count == 2
    assert (event.exception, event.traceback) == ("", "")
    assert Message.objects.get().text == "Hi"
