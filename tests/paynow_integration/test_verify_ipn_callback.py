"""`PaynowSDK.verify_ipn_callback`, the guide's name, is the check the IPN intake applies: for
every status-update fixture (Paynow's documented shapes, `Hash=` and extra fields included),
tampered or not, under the right key or a wrong one, the IPN view's verdict is the method's."""

from __future__ import annotations

from pathlib import Path

import pytest

from paynow_integration.models import PaynowConfig, PaynowStatusUpdate
from paynow_integration.sdk import PaynowSDK, parse_form

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "paynow"
DOC_KEY = "3e9fed89-60e1-4ce5-ab6e-6b1eb2d4f977"  # the key the fixtures are hashed with
STATUS_FIXTURES = sorted(path.stem for path in FIXTURES.glob("status_*.txt"))
IPN = "/crm-api/paynow/ipn/"


def tampered(body: bytes) -> bytes:
    """The same message with one cent more: a value changed after Paynow hashed it."""
    return body.replace(b"amount=", b"amount=1", 1)


def test_the_fixtures_are_the_documented_shapes():
    assert {"status_paid", "status_paid_capital_hash", "status_paid_with_token"} <= set(
        STATUS_FIXTURES
    )


def test_verify_is_verify_ipn_callback():
    assert PaynowSDK.verify is PaynowSDK.verify_ipn_callback
    assert "constant time" in PaynowSDK.verify_ipn_callback.__doc__


@pytest.mark.django_db
@pytest.mark.parametrize("name", STATUS_FIXTURES)
@pytest.mark.parametrize("key", [DOC_KEY, "a-key-paynow-does-not-hold"])
@pytest.mark.parametrize("change", [None, tampered], ids=["as-sent", "tampered"])
def test_the_ipn_view_answers_what_verify_ipn_callback_says(client, name, key, change):
    PaynowConfig.objects.create(integration_id="1201", integration_key=key, is_active=True)
    body = (FIXTURES / f"{name}.txt").read_bytes().strip()
    if change:
        body = change(body)
    verdict = PaynowSDK("1201", key).verify_ipn_callback(parse_form(body))
    assert verdict is (key == DOC_KEY and change is None)

    response = client.post(IPN, data=body, content_type="application/x-www-form-urlencoded")

    assert response.status_code == (200 if verdict else 403)
    assert PaynowStatusUpdate.objects.get().valid is (True if verdict else False)
    if not verdict:
        assert response.content == b"Invalid IPN signature"  # the guide's symptom, word for word
