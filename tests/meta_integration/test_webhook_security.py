"""The webhook never trusts an unsigned request, never 500s on junk, and answers the handshake."""

from __future__ import annotations

import hashlib
import hmac
import json
import logging

import pytest

from conversations.models import Contact, Message
from meta_integration.constants import MAX_WEBHOOK_BODY_BYTES
from meta_integration.models import WebhookEvent
from meta_integration.signature import compute_signature
from tests.meta_integration.whatsapp_helpers import (
    ACCESS_TOKEN,
    APP_SECRET,
    OLD_APP_SECRET,
    VERIFY_TOKEN,
    fixture_bytes,
    fixture_json,
    fresh,
)

pytestmark = pytest.mark.django_db


def nothing_recorded() -> bool:
    return not Message.objects.exists() and not Contact.objects.exists()


# --- GET verification ----------------------------------------------------------------------


def verify(client, url, **params):
    query = {
        "hub.mode": "subscribe",
        "hub.verify_token": VERIFY_TOKEN,
        "hub.challenge": "1158201444",
    }
    query.update(params)
    return client.get(url, {k: v for k, v in query.items() if v is not None})


def test_verification_answers_the_challenge_as_plain_text(client, config, webhook_url):
    response = verify(client, webhook_url)
    assert response.status_code == 200
    assert response.content == b"1158201444"
    assert response["Content-Type"].startswith("text/plain")


@pytest.mark.parametrize(
    "params",
    [
        {"hub.verify_token": "wrong-token"},
        {"hub.verify_token": None},
        {"hub.mode": "unsubscribe"},
        {"hub.mode": None},
    ],
)
def test_verification_refused(client, config, webhook_url, params, caplog):
    with caplog.at_level(logging.WARNING):
        response = verify(client, webhook_url, **params)
    assert response.status_code == 403
    assert b"1158201444" not in response.content
    assert "verification refused" in caplog.text


def test_verification_refused_for_an_inactive_config(client, make_config, webhook_url):
    make_config(is_active=False)
    assert verify(client, webhook_url).status_code == 403


def test_verification_refused_when_no_config_has_a_token(client, make_config, webhook_url):
    make_config(verify_token="")
    assert verify(client, webhook_url, **{"hub.verify_token": ""}).status_code == 403


# --- POST authentication -------------------------------------------------------------------


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
    assert not event.signature_valid and not event.processed


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


# --- POST malformed bodies -----------------------------------------------------------------


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
        b'{"object": "whatsapp_business_account", "entry": [{"id": "1", "changes": [{}]}]}',
    ],
)
def test_malformed_body_is_a_400_never_a_500(config, post_webhook, body, caplog):
    with caplog.at_level(logging.WARNING):
        response = post_webhook(body)
    assert response.status_code == 400
    assert nothing_recorded()
    assert "Meta webhook refused (400)" in caplog.text


def test_signed_body_that_is_not_meta_shaped_is_a_400(config, post_webhook):
    data = fixture_json("text")
    del data["entry"][0]["changes"][0]["value"]["messages"][0]["id"]
    response = post_webhook(json.dumps(data).encode())
    assert response.status_code == 400
    assert nothing_recorded()
    event = WebhookEvent.objects.get()
    assert event.signature_valid and not event.processed
    assert "messages[0].id: missing" in event.error


def test_wrong_object_is_a_400(config, post_webhook):
    data = fixture_json("text")
    data["object"] = "page"
    assert post_webhook(json.dumps(data).encode()).status_code == 400
    assert nothing_recorded()


def test_oversized_body_is_a_413(config, post_webhook, caplog):
    data = fixture_json("text")
    data["padding"] = "x" * MAX_WEBHOOK_BODY_BYTES
    with caplog.at_level(logging.WARNING):
        response = post_webhook(json.dumps(data).encode())
    assert response.status_code == 413
    assert nothing_recorded()
    assert not WebhookEvent.objects.exists()


def test_other_methods_are_not_allowed(client, config, webhook_url):
    assert client.put(webhook_url, data=b"{}").status_code == 405


def test_secrets_never_reach_the_logs(config, post_webhook, caplog, client, webhook_url):
    with caplog.at_level(logging.DEBUG):
        post_webhook(fresh(fixture_json("image")))  # stores, dispatches, tries to reply
        post_webhook(fixture_bytes("text"), signature="sha256=" + "1" * 64)
        verify(client, webhook_url, **{"hub.verify_token": "guess"})
    assert "Send deferred" in caplog.text  # the reply really tried the (unreachable) Graph API
    for secret in (APP_SECRET, ACCESS_TOKEN, VERIFY_TOKEN):
        assert secret not in caplog.text
