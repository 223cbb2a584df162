"""The data endpoint's HTTP contract, answer by answer, as Meta's client sees it."""

from __future__ import annotations

import json
import logging
from datetime import timedelta
from decimal import Decimal

import httpx
import pytest
from pywa.utils import default_flow_request_decryptor, default_flow_response_encryptor

from customer_data.models import Payment
from flows.copy import FORM_UNEXPECTED
from flows.form_tokens import sign_flow_token
from flows.models import FlowFormSession
from tests.flows import support as s


def _payments(booking):
    return list(Payment.objects.filter(booking=booking))


def _paynow_transactions(emulator) -> list[dict]:
    return httpx.get(f"{emulator.base_url}/_control/transactions").json()["transactions"]


# --- protocol ------------------------------------------------------------------------------


def test_ping_answers_active_encrypted_as_text_plain(endpoint, caplog):
    with caplog.at_level(logging.INFO):
        answer = endpoint.ping()
    assert answer.status == 200
    assert answer.content_type.startswith("text/plain")
    assert answer.answer == {"data": {"status": "active"}}
    assert "Paynow payment webhook called" in [r.getMessage() for r in caplog.records]


def test_pywa_interop_both_directions(endpoint, key_pair, make_form):
    """pywa (Meta's reference code) reads a request encrypted Meta's way exactly as we do,
    and our encrypted answer is byte-for-byte what pywa's encryptor makes of the same answer."""
    _, token = make_form()
    payload = {"version": "3.0", "action": "INIT", "flow_token": token}
    encrypted = s.encrypt_request(payload, key_pair[1])
    decrypted, aes_key, iv = default_flow_request_decryptor(
        encrypted.body["encrypted_flow_data"],
        encrypted.body["encrypted_aes_key"],
        encrypted.body["initial_vector"],
        key_pair[0].decode(),
    )
    assert decrypted == payload and aes_key == encrypted.aes_key and iv == encrypted.iv

    body = json.dumps(encrypted.body).encode()
    status, content, _ = endpoint.post(body, {"X-Hub-Signature-256": s.sign(s.APP_SECRET, body)})
    assert status == 200
    answer = s.decrypt_answer(content, aes_key, iv)
    assert answer["screen"] == "PAYMENT"
    assert content.decode() == default_flow_response_encryptor(answer, aes_key, iv)


def test_get_is_not_allowed(client, flow_key, meta_config):
    assert client.get(s.ENDPOINT_PATH).status_code == 405


# --- INIT and BACK -----------------------------------------------------------------------


def test_init_prefills_the_payment_screen_from_the_token(endpoint, make_form, booking):
    _, token = make_form(amount="100.00", purpose="deposit")
    answer = endpoint.init(token)
    assert answer.status == 200 and answer.screen == "PAYMENT"
    assert answer.data == {
        "booking_reference": booking.booking_reference,
        "tour_name": booking.tour.name,
        "purpose_label": "Deposit",
        "amount_display": "USD 100.00",
        "payment_method": "",
        "phone": "0771234567",  # the contact's WhatsApp number, in local form
        "email": "tendai@example.com",
        "error_message": "",
        "has_error": False,
    }


def test_back_shows_the_payment_screen_again(endpoint, make_form):
    _, token = make_form()
    answer = endpoint.back(token)
    assert answer.status == 200 and answer.screen == "PAYMENT"
    assert answer.data["has_error"] is False


# --- data_exchange -----------------------------------------------------------------------


def test_submit_starts_the_payment_and_completes_the_flow(
    endpoint, make_form, booking, paynow_config, paynow_emulator
):
    session, token = make_form(amount="100.00")
    answer = endpoint.submit(token, method="ecocash", phone="078 123 4567", data={"amount": "1"})
    assert answer.status == 200 and answer.screen == "SUCCESS"
    params = answer.data["extension_message_response"]["params"]
    assert params["flow_token"] == token
    assert params["booking_reference"] == booking.booking_reference
    [payment] = _payments(booking)
    assert payment.amount == Decimal("100.00")  # the session's amount, never the client's
    assert (payment.payment_method, payment.phone_number) == ("paynow_ecocash", "0781234567")
    assert params["payment_reference"] == payment.reference
    assert params["instructions"]
    session.refresh_from_db()
    assert session.status == "submitted" and session.payment_id == payment.pk
    assert session.submitted_at is not None
    [transaction] = _paynow_transactions(paynow_emulator)
    assert (transaction["amount"], transaction["phone"]) == ("100.00", "0781234567")


def test_innbucks_answer_carries_the_code(endpoint, make_form, booking, paynow_config):
    _, token = make_form()
    answer = endpoint.submit(token, method="innbucks", phone="0781234567")
    params = answer.data["extension_message_response"]["params"]
    assert len(params["authorization_code"]) == 9
    assert params["deep_link"].endswith(params["authorization_code"])


@pytest.mark.parametrize(
    ("method", "phone", "email", "expected"),
    [
        ("onemoney", "0781234567", None, "078… is not a OneMoney number"),  # wrong network
        ("ecocash", "12-34-5x", None, "Zimbabwean mobile"),  # not a phone number
        ("ecocash", "0791234567", None, "Zimbabwean mobile"),
        ("ecocash", "0781234567", "not-an-email", "valid e-mail"),
        ("mpesa", "0781234567", None, "Choose EcoCash, OneMoney or InnBucks"),
    ],
)
def test_correctable_mistake_shows_the_form_again_with_the_values_kept(
    endpoint, make_form, booking, paynow_config, method, phone, email, expected
):
    session, token = make_form()
    answer = endpoint.submit(token, method=method, phone=phone, email=email)
    assert answer.status == 200 and answer.screen == "PAYMENT"
    assert expected in answer.data["error_message"]
    assert answer.data["has_error"] is True
    assert answer.data["phone"] == phone
    assert answer.data["email"] == (email or "tendai@example.com")
    assert answer.data["payment_method"] == (method if method != "mpesa" else "")
    assert _payments(booking) == []
    session.refresh_from_db()
    assert session.status == "sent"
    # The payer corrects it and the same form goes through.
    fixed = endpoint.submit(token, method="ecocash", phone="0781234567")
    assert fixed.screen == "SUCCESS"


def test_paynow_refusal_is_the_error_screen(endpoint, make_form, booking, paynow_config, caplog):
    _, token = make_form()
    with caplog.at_level(logging.WARNING):
        answer = endpoint.submit(token, method="ecocash", phone="0774444444")
    assert answer.status == 200 and answer.screen == "ERROR"
    # Our words for the payer ("no money was taken"); Paynow's text is kept for staff.
    assert "no money was taken" in answer.data["error_message"]
    assert "Insufficient balance" not in answer.data["error_message"]
    assert "Insufficient balance" in Payment.objects.get(booking=booking).notes
    assert answer.data["booking_reference"] == booking.booking_reference
    assert any(
        getattr(r, "booking_reference", "") == booking.booking_reference for r in caplog.records
    )


def test_paynow_not_configured_is_the_error_screen(endpoint, make_form, booking):
    _, token = make_form()
    answer = endpoint.submit(token)
    assert answer.status == 200 and answer.screen == "ERROR"
    assert "aren't available right now" in answer.data["error_message"]
    assert _payments(booking) == []


def test_unexpected_failure_is_a_safe_error_screen_never_a_500(
    endpoint, make_form, booking, paynow_config, monkeypatch, caplog
):
    from flows import payment_form

    def explode(*args, **kwargs):
        raise RuntimeError("connection to db-primary:5432 failed, password=hunter2")

    monkeypatch.setattr(payment_form, "request_payment", explode)
    _, token = make_form()
    with caplog.at_level(logging.ERROR):
        answer = endpoint.submit(token)
    assert answer.status == 200 and answer.screen == "ERROR"
    assert answer.data["error_message"] == FORM_UNEXPECTED
    assert b"hunter2" not in answer.content and "hunter2" not in json.dumps(answer.answer)
    [record] = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert record.booking_reference == booking.booking_reference


def test_error_notification_is_acknowledged_and_logged(endpoint, make_form, booking, caplog):
    _, token = make_form()
    payload = {
        "version": "3.0",
        "action": "data_exchange",
        "screen": "PAYMENT",
        "flow_token": token,
        "data": {"error": "INVALID_SCREEN_DATA", "error_message": "phone missing"},
    }
    with caplog.at_level(logging.WARNING):
        answer = endpoint.send(payload)
    assert answer.status == 200 and answer.answer == {"data": {"acknowledged": True}}
    [record] = [r for r in caplog.records if "reported an error" in r.getMessage()]
    assert "INVALID_SCREEN_DATA" in record.getMessage()
    assert record.booking_reference == booking.booking_reference
    with_key = endpoint.send({**payload, "data": {"error_key": "x", "error_message": "y"}})
    assert with_key.answer == {"data": {"acknowledged": True}}


# --- signature (432) and decryption (421) --------------------------------------------------


def test_bad_or_missing_signature_is_432(endpoint):
    assert endpoint.ping(secret="not-the-app-secret").status == 432
    assert endpoint.ping(secret=None).status == 432
    assert endpoint.ping(signature="sha256=" + "0" * 64).status == 432


def test_a_config_without_app_secret_refuses(endpoint, meta_config):
    meta_config.app_secret = ""
    meta_config.save()
    assert endpoint.ping(secret="").status == 432
    assert endpoint.ping().status == 432


def test_previous_app_secret_is_accepted_during_rotation(endpoint, meta_config):
    meta_config.app_secret = "brand-new-secret"
    meta_config.previous_app_secret = s.APP_SECRET
    meta_config.save()
    assert endpoint.ping().status == 200
    assert endpoint.ping(secret="brand-new-secret").status == 200


@pytest.mark.parametrize(
    "raw_body",
    [
        b"not json at all",
        b'{"encrypted_flow_data": "!!", "encrypted_aes_key": "AAAA", "initial_vector": "AAAA"}',
        b"{}",
    ],
)
def test_garbage_is_421(endpoint, raw_body):
    answer = endpoint.ping(raw_body=raw_body)
    assert answer.status == 421 and answer.content == b""


def test_tampered_ciphertext_is_421(endpoint, key_pair):
    encrypted = s.encrypt_request({"version": "3.0", "action": "ping"}, key_pair[1])
    data = bytearray(json.loads(json.dumps(encrypted.body))["encrypted_flow_data"], "ascii")
    data[2] = ord("A") if data[2] != ord("A") else ord("B")
    body = json.dumps({**encrypted.body, "encrypted_flow_data": data.decode()}).encode()
    assert endpoint.ping(raw_body=body).status == 421


def test_request_for_another_key_is_421(endpoint, other_key_pair):
    assert endpoint.ping(public_pem=other_key_pair[1]).status == 421


def test_previous_key_still_decrypts_during_rotation(endpoint, settings, other_key_pair):
    from flows import keys

    settings.WHATSAPP_FLOW_PREVIOUS_PRIVATE_KEY = other_key_pair[0].decode()
    keys.clear_cache()
    assert endpoint.ping(public_pem=other_key_pair[1]).answer == {"data": {"status": "active"}}
    assert endpoint.ping().status == 200


def test_no_private_key_configured_is_421_and_logged(endpoint, settings, caplog):
    from flows import keys

    settings.WHATSAPP_FLOW_PRIVATE_KEY = ""
    keys.clear_cache()
    with caplog.at_level(logging.ERROR):
        assert endpoint.ping().status == 421
    assert any("no usable private key" in r.getMessage() for r in caplog.records)


# --- flow tokens (427) -----------------------------------------------------------------------


def _assert_427(answer, fragment: str):
    assert answer.status == 427
    assert fragment in answer.answer["error_msg"]  # encrypted like any answer


def test_expired_token_is_427(endpoint, make_form):
    session, token = make_form(expires_in=timedelta(seconds=-1))
    _assert_427(endpoint.init(token), "expired")
    session.refresh_from_db()
    assert session.status == "expired"
    _assert_427(endpoint.submit(token), "expired")


def test_forged_and_unknown_tokens_are_427(endpoint, make_form):
    _, token = make_form()
    token_id, signature = token.rsplit(":", 1)
    _assert_427(endpoint.init(f"{token_id}x:{signature}"), "not valid")  # forged
    _assert_427(endpoint.init(sign_flow_token("no-such-session")), "not valid")  # unknown
    _assert_427(endpoint.init("unused"), "not valid")  # Meta's default token
    _assert_427(endpoint.send({"version": "3.0", "action": "INIT"}), "not valid")


def test_a_real_session_id_with_a_forged_signature_is_427(endpoint, make_form, caplog):
    """The session exists: only the signature check can refuse this token."""
    _, token = make_form()
    token_id, signature = token.rsplit(":", 1)
    forged = f"{token_id}:{'A' * len(signature)}"
    with caplog.at_level("WARNING", logger="flows.data_endpoint"):
        _assert_427(endpoint.init(forged), "not valid")
    assert "Flow token refused (forged)" in caplog.text


def test_completed_token_is_427(endpoint, make_form):
    session, token = make_form()
    FlowFormSession.objects.filter(pk=session.pk).update(status="completed")
    _assert_427(endpoint.init(token), "already used")


def test_submitted_token_with_other_details_is_427(endpoint, make_form, booking, paynow_config):
    _, token = make_form()
    assert endpoint.submit(token, phone="0781234567").screen == "SUCCESS"
    _assert_427(endpoint.submit(token, phone="0789999999"), "already submitted")
    _assert_427(endpoint.submit(token, method="innbucks", phone="0781234567"), "already")
    assert len(_payments(booking)) == 1


# --- double submit -----------------------------------------------------------------------------


def test_double_submit_starts_one_payment(
    endpoint, make_form, booking, paynow_config, paynow_emulator
):
    _, token = make_form()
    first = endpoint.submit(token, phone="0781234567")
    second = endpoint.submit(token, phone="+263 78 123 4567")  # the same number, written otherwise
    assert first.screen == second.screen == "SUCCESS"
    first_params = first.data["extension_message_response"]["params"]
    second_params = second.data["extension_message_response"]["params"]
    assert first_params["payment_reference"] == second_params["payment_reference"]
    assert len(_payments(booking)) == 1
    assert len(_paynow_transactions(paynow_emulator)) == 1


def test_init_after_submit_shows_what_was_submitted(endpoint, make_form, paynow_config):
    _, token = make_form()
    endpoint.submit(token, method="ecocash", phone="0781234567", email="t@example.com")
    answer = endpoint.init(token)
    assert answer.screen == "PAYMENT"
    assert (answer.data["payment_method"], answer.data["phone"], answer.data["email"]) == (
        "ecocash",
        "0781234567",
        "t@example.com",
    )
