"""The webhook's HTTP contract (views.py): the GET handshake, and each intake refusal mapped to
its status code with one log line. What intake stores and records is in services/test_webhook.py.
"""

from __future__ import annotations

import json
import logging

import pytest

from conversations.models import Contact, Message
from meta_integration import views
from meta_integration.constants import MAX_WEBHOOK_BODY_BYTES
from meta_integration.models import WebhookEvent
from meta_integration.services import webhook as intake
from tests.meta_integration.whatsapp_helpers import (
    ACCESS_TOKEN,
    APP_SECRET,
    VERIFY_TOKEN,
    fixture_bytes,
    fixture_json,
    fresh,
    table_locked,
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


# --- POST: every refusal has its status ---------------------------------------------------


def _other_number() -> bytes:
    data = fixture_json("text")
    data["entry"][0]["changes"][0]["value"]["metadata"]["phone_number_id"] = "999999999999999"
    return json.dumps(data).encode()


@pytest.mark.parametrize(
    ("case", "status", "reason"),
    [
        ("not_json", 400, "body is not UTF-8 JSON"),
        ("no_number", 400, "no metadata.phone_number_id nor entry id in the body"),
        ("not_meta_shaped", 400, "body.object: expected 'whatsapp_business_account'"),
        ("bad_signature", 403, "signature does not match"),
        ("no_signature", 403, "missing X-Hub-Signature-256"),
        ("no_app_secret", 403, "has no app secret configured"),
        ("unknown_number", 404, "is unknown"),  # the number itself is masked in logs
        ("inactive_number", 404, "is inactive"),
        ("too_large", 413, f"body of {MAX_WEBHOOK_BODY_BYTES + 1} bytes is over 3 MB"),
    ],
)
def test_each_refusal_is_mapped_to_its_status_with_one_log_line(
    case, status, reason, make_config, post_webhook, caplog
):
    make_config(
        app_secret="" if case == "no_app_secret" else APP_SECRET,
        is_active=case != "inactive_number",
    )
    body, kwargs = fixture_bytes("text"), {}
    if case == "not_json":
        body = b"{not json"
    elif case == "no_number":
        body = b'{"object": "whatsapp_business_account", "entry": []}'
    elif case == "not_meta_shaped":
        data = fixture_json("text")
        data["object"] = "instagram"  # signed and routable, but not a WhatsApp body
        body = json.dumps(data).encode()
    elif case == "bad_signature":
        kwargs = {"signature": "sha256=" + "0" * 64}
    elif case == "no_signature":
        kwargs = {"secret": None}
    elif case == "unknown_number":
        body = _other_number()
    elif case == "too_large":
        body = b" " * (MAX_WEBHOOK_BODY_BYTES + 1)
    with caplog.at_level(logging.WARNING, logger="meta_integration.views"):
        response = post_webhook(body, **kwargs)
    assert response.status_code == status
    assert response["Content-Type"].startswith("text/plain")
    refusals = [r for r in caplog.records if r.getMessage().startswith("Meta webhook refused")]
    assert len(refusals) == 1
    line = refusals[0].getMessage()
    assert line.startswith(f"Meta webhook refused ({status}): ")
    assert reason in line and line.endswith("[from 127.0.0.1]")
    assert nothing_recorded()


def test_every_refusal_intake_can_raise_has_a_status():
    """A new kind of refusal cannot reach Meta as a 500: it must be given its answer here."""
    kinds = set(intake.WebhookRejected.__subclasses__())
    assert kinds == set(views.REJECTION_STATUS)
    assert {views.rejection_status(kind("x")) for kind in kinds} == {400, 403, 404, 413}

    class NewKind(intake.WebhookMalformed):
        pass

    assert views.rejection_status(NewKind("x")) == 400  # the nearest known base's status
    assert views.rejection_status(intake.WebhookRejected("x")) == 400


@pytest.mark.postgres  # the failure is a real lock timeout (see whatsapp_helpers.table_locked)
@pytest.mark.django_db(transaction=True)
def test_a_processing_failure_answers_503_so_meta_delivers_again(config, post_webhook):
    with table_locked("conversations_contact"):
        response = post_webhook(fixture_bytes("text"))
    assert response.status_code == 503
    assert response.content == b"Service Unavailable"
    assert WebhookEvent.objects.get().exception


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
