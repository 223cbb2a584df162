"""The payment form's services: sending the form, flow tokens, completion in the chat."""

from __future__ import annotations

import json
import logging
from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from conversations.models import Message
from customer_data.models import Payment
from flows import copy, payment_form
from flows.form_tokens import FlowTokenInvalid, sign_flow_token, token_id_from
from flows.models import FlowFormSession, WhatsAppFlow
from flows.payment_form import handle_form_completion, send_payment_form
from tests.flows import support as s


def _outbound():
    return list(Message.objects.filter(direction="out").order_by("id"))


# --- send_payment_form ---------------------------------------------------------------------


def test_without_a_published_flow_nothing_is_sent(contact, booking, caplog):
    WhatsAppFlow.objects.create(name="payment_whatsapp_flow", flow_id="1", status="DRAFT")
    with caplog.at_level(logging.WARNING):
        sent = send_payment_form(
            contact=contact, booking=booking, amount=Decimal("100.00"), purpose="deposit"
        )
    assert sent is False
    assert "payment_whatsapp_flow not found" in [r.getMessage() for r in caplog.records]
    assert not FlowFormSession.objects.exists() and _outbound() == []


def test_sends_a_flow_message_bound_to_a_new_session(
    published_flow, contact, booking, meta_config, settings, django_capture_on_commit_callbacks
):
    settings.WHATSAPP_FLOW_TOKEN_TTL = 600
    sent = send_payment_form(
        contact=contact, booking=booking, amount=Decimal("100.00"), purpose="deposit"
    )
    assert sent is True
    session = FlowFormSession.objects.get()
    assert (session.contact, session.booking, session.amount) == (contact, booking, Decimal("100"))
    assert (session.status, session.purpose, session.whatsapp_flow) == (
        "sent",
        "deposit",
        published_flow,
    )
    assert abs((session.expires_at - timezone.now()) - timedelta(seconds=600)) < timedelta(
        seconds=5
    )
    [message] = _outbound()
    interactive = message.payload["interactive"]
    params = interactive["action"]["parameters"]
    assert params["flow_id"] == published_flow.flow_id
    assert params["flow_action"] == "data_exchange" and "flow_action_payload" not in params
    assert params["flow_cta"] == "Pay now"
    assert token_id_from(params["flow_token"]) == session.token_id
    assert booking.booking_reference in interactive["body"]["text"]
    assert "USD 100.00" in interactive["body"]["text"]
    assert message.flow_step == "payment_form"


def test_a_new_form_supersedes_the_unsubmitted_one(published_flow, contact, booking, meta_config):
    send_payment_form(contact=contact, booking=booking, amount=Decimal("100.00"), purpose="deposit")
    send_payment_form(contact=contact, booking=booking, amount=Decimal("200.00"), purpose="full")
    old, new = FlowFormSession.objects.order_by("created_at", "id")
    assert (old.status, new.status) == ("expired", "sent")


def test_bad_amounts_are_refused(published_flow, contact, booking):
    for amount in (Decimal("0"), Decimal("-1"), Decimal("1.001"), "abc"):
        with pytest.raises(ValueError):
            send_payment_form(contact=contact, booking=booking, amount=amount, purpose="full")
    with pytest.raises(TypeError):
        send_payment_form(contact=contact, booking=booking, amount=1.5, purpose="full")


# --- tokens ------------------------------------------------------------------------------------


def test_token_carries_only_a_signed_id():
    token = sign_flow_token("abc123")
    assert token.startswith("abc123:") and token_id_from(token) == "abc123"
    for bad in ("abc123", "abc124:" + token.split(":")[1], 42, None, "x" * 300):
        with pytest.raises(FlowTokenInvalid):
            token_id_from(bad)


# --- handle_form_completion ----------------------------------------------------------------


def _nfm_reply(contact, meta_config, response: dict, wamid="wamid.in.1") -> Message:
    return Message.objects.create(
        contact=contact,
        business_number_id=meta_config.phone_number_id,
        direction="in",
        wamid=wamid,
        message_type="flow_reply",
        text="[form submitted]",
        payload={
            "from": contact.whatsapp_id,
            "id": wamid,
            "timestamp": "1764547200",
            "type": "interactive",
            "interactive": {
                "type": "nfm_reply",
                "nfm_reply": {
                    "name": "flow",
                    "body": "Sent",
                    "response_json": json.dumps(response),
                },
            },
        },
        status="received",
        timestamp=timezone.now(),
    )


def _started_payment(booking, method="paynow_ecocash", code="", **fields) -> Payment:
    """A payment as Paynow left it after accepting the request (rows as the checkout and
    the Paynow gateway write them)."""
    from paynow_integration.models import PaynowAttempt

    values = {
        "booking": booking,
        "amount": Decimal("100.00"),
        "payment_method": method,
        "phone_number": "0771234123",
        "email": "tendai@example.com",
    }
    values.update(fields)
    payment = Payment.objects.create(**values)
    PaynowAttempt.objects.create(
        payment=payment,
        merchant_trace=f"trace-{payment.reference}"[:32],
        paynow_reference="20000001",
        poll_url="https://www.paynow.co.zw/Interface/CheckPayment/?guid=x",
        authorization_code=code,
    )
    return payment


def test_completion_tells_the_payer_to_approve_and_is_idempotent(
    make_form, contact, booking, meta_config
):
    payment = _started_payment(booking)
    session, token = make_form(status="submitted", payment=payment)
    handle_form_completion(contact, _nfm_reply(contact, meta_config, {"flow_token": token}))
    session.refresh_from_db()
    assert session.status == "completed" and session.completed_at is not None
    [message] = _outbound()
    assert "We sent an EcoCash payment request for USD 100.00 to 077…123" in message.text
    assert "Approve it on your phone" in message.text
    assert booking.booking_reference in message.text
    # Meta may deliver the completion twice (another wamid): nothing more happens.
    handle_form_completion(
        contact, _nfm_reply(contact, meta_config, {"flow_token": token}, wamid="wamid.in.2")
    )
    assert len(_outbound()) == 1


def test_innbucks_completion_gives_the_code(make_form, contact, booking, meta_config):
    payment = _started_payment(booking, method="paynow_innbucks", code="123456789")
    _, token = make_form(status="submitted", payment=payment)
    handle_form_completion(contact, _nfm_reply(contact, meta_config, {"flow_token": token}))
    [message] = _outbound()
    assert "open the InnBucks app and enter this authorisation code: *123456789*" in message.text
    assert "pymInnCode=123456789" in message.text


def test_error_screen_completion_says_nothing_was_started(make_form, contact, booking, meta_config):
    session, token = make_form()
    response = {"flow_token": token, "outcome": "error"}
    handle_form_completion(contact, _nfm_reply(contact, meta_config, response))
    session.refresh_from_db()
    assert session.status == "expired" and session.completed_at is not None
    [message] = _outbound()
    assert "was not started" in message.text


def test_completion_with_a_foreign_token_is_ignored(make_form, contact, booking, meta_config):
    make_form()
    responses = ({"flow_token": "forged:token"}, {"flow_token": sign_flow_token("nope")}, {})
    for n, response in enumerate(responses):
        handle_form_completion(contact, _nfm_reply(contact, meta_config, response, f"wamid.{n}"))
    assert _outbound() == []


def test_completion_text_for_a_paid_payment(make_form, booking):
    payment = _started_payment(booking, status="successful")
    session, _ = make_form(status="submitted", payment=payment)
    assert payment_form.completion_text(session).startswith("Thank you!")


def test_phone_mask_for_the_payer():
    assert copy.mask_phone_for_payer("0771234123") == "077…123"
    assert copy.mask_phone_for_payer("") == "your phone"


def test_module_constants_match_the_contract():
    assert payment_form.PAYMENT_FLOW_NAME == "payment_whatsapp_flow"
    assert s.ENDPOINT_PATH == "/crm-api/flows/paynow-payment-webhook/"


# --- the claim: taken before any gateway call, a second press answered at once -----------------


def test_a_press_while_another_is_starting_the_payment_is_answered_at_once(
    make_form, booking, paynow_config, paynow_emulator
):
    from flows.payment_form import CLAIM_SECONDS, SubmitKind, submit_payment_form

    session, _ = make_form()
    FlowFormSession.objects.filter(pk=session.pk).update(claimed_at=timezone.now())
    result = submit_payment_form(
        session=session, payment_method="ecocash", phone_number="0781234567", email="t@example.com"
    )
    assert result.kind == SubmitKind.IN_PROGRESS
    assert result.message == copy.FORM_IN_PROGRESS
    assert not Payment.objects.exists()
    assert paynow_emulator.state.list_transactions() == []  # Paynow was not asked
    # A claim whose worker died long ago is taken over.
    FlowFormSession.objects.filter(pk=session.pk).update(
        claimed_at=timezone.now() - timedelta(seconds=CLAIM_SECONDS + 1)
    )
    taken = submit_payment_form(
        session=session, payment_method="ecocash", phone_number="0781234567", email="t@example.com"
    )
    assert taken.kind == SubmitKind.STARTED and taken.payment is not None
    session.refresh_from_db()
    assert session.claimed_at is None and session.payment == taken.payment


@pytest.mark.django_db(transaction=True)
def test_the_form_is_claimed_before_the_checkout_is_asked(
    make_form, booking, paynow_config, monkeypatch
):
    """Whatever the details: the committed claim is what a concurrent press sees."""
    from django.db import connection

    from flows import payment_form as form
    from flows.payment_form import SubmitKind, submit_payment_form

    seen = []
    real_request_payment = form.request_payment

    def spying(**kwargs):
        # Read as another request would: the claim is committed, no lock held.
        assert not connection.in_atomic_block
        seen.append(FlowFormSession.objects.values_list("claimed_at", flat=True).get())
        return real_request_payment(**kwargs)

    monkeypatch.setattr(form, "request_payment", spying)
    session, _ = make_form()
    result = submit_payment_form(
        session=session, payment_method="ecocash", phone_number="0711234567", email="t@e.com"
    )
    assert result.kind == SubmitKind.CORRECTABLE  # 071 is not EcoCash: refused by the checkout
    assert seen and seen[0] is not None
    session.refresh_from_db()
    assert session.claimed_at is None  # released: the payer corrects the number and retries


def test_an_unknown_method_is_corrected_without_asking_the_checkout(make_form, monkeypatch):
    from flows import payment_form as form
    from flows.payment_form import SubmitKind, submit_payment_form

    monkeypatch.setattr(form, "request_payment", lambda **kwargs: pytest.fail("no checkout"))
    session, _ = make_form()
    result = submit_payment_form(
        session=session, payment_method="mpesa", phone_number="0781234567", email="t@e.com"
    )
    assert (result.kind, result.message) == (SubmitKind.CORRECTABLE, copy.FORM_CHOOSE_METHOD)
    session.refresh_from_db()
    assert session.claimed_at is None
