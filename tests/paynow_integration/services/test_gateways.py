"""Paynow's gateways against the Paynow emulator, through the guide's door
(``PaynowService.initiate_payment``, which is the checkout): Express Checkout (mobile money)
and web checkout (cards)."""

from decimal import Decimal

import httpx
import pytest

from customer_data.checkout import CheckoutOutcome, Payer, RefusalReason, request_payment
from customer_data.gateways import gateway_for
from customer_data.models import Payment, PaymentEvent, PaymentStatus
from paynow_integration.models import PaynowAttempt
from paynow_integration.services import PaynowService
from tests.paynow_integration.support import attempt, initiate

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    "raw", ["0771234567", "263771234567", "+263 77 123 4567", "+263-77-123-4567", "771234567"]
)
def test_phone_forms_normalise(paynow_config, booking_200, raw):
    result = initiate(booking_200, phone=raw)
    assert result.payment.phone_number == "0771234567"
    assert result.payer.phone == "0771234567"


@pytest.mark.parametrize(
    "method, phone, reason, prefixes",
    [
        ("paynow_ecocash", "0711234567", RefusalReason.WRONG_NETWORK, ("077", "078")),
        ("paynow_onemoney", "0771234567", RefusalReason.WRONG_NETWORK, ("071",)),
        ("paynow_ecocash", "12345", RefusalReason.INVALID_PHONE, ()),
        ("paynow_ecocash", "+27 82 123 4567", RefusalReason.INVALID_PHONE, ()),
        ("paynow_ecocash", "07712345678", RefusalReason.INVALID_PHONE, ()),
        ("paynow_ecocash", "077 abc", RefusalReason.INVALID_PHONE, ()),
    ],
)
def test_payer_details_are_refused_with_a_reason(
    paynow_config, booking_200, method, phone, reason, prefixes
):
    result = initiate(booking_200, method=method, phone=phone)
    assert (result.outcome, result.reason) == (CheckoutOutcome.REFUSED, reason)
    assert result.accepted_prefixes == prefixes
    assert result.payment is None and not Payment.objects.exists()


def test_a_wrong_network_keeps_the_number_in_local_form(paynow_config, booking_200):
    result = initiate(booking_200, method="paynow_onemoney", phone="+263 77 123 4567")
    assert result.reason == RefusalReason.WRONG_NETWORK
    assert result.payer.phone == "0771234567"  # the payer is told "077… is not OneMoney"


def test_the_door_refuses_methods_that_are_not_paynow(paynow_config, booking_200):
    result = initiate(booking_200, method="bank_transfer")
    assert result.reason == RefusalReason.METHOD_UNAVAILABLE
    assert not Payment.objects.exists()


def test_email_validation(paynow_config, booking_200):
    result = initiate(booking_200, email="not-an-email")
    assert result.reason == RefusalReason.INVALID_EMAIL


def test_disabled_paynow_refuses(paynow_config, booking_200, settings):
    settings.PAYNOW_ENABLED = False
    result = initiate(booking_200)
    assert result.reason == RefusalReason.METHOD_UNAVAILABLE
    assert "PAYNOW_ENABLED" in result.gateway_message  # for staff and logs


def test_not_configured(db, booking_200):
    result = initiate(booking_200)
    assert result.reason == RefusalReason.METHOD_UNAVAILABLE
    assert "configuration" in result.gateway_message


def test_success_keeps_paynow_state_on_the_attempt_and_logs(
    paynow_config, booking_200, caplog, settings
):
    with caplog.at_level("INFO"):
        result = initiate(booking_200, phone="+263 77 222 2222")
    payment = result.payment
    assert result.outcome == CheckoutOutcome.PROMPT_SENT and not result.repeated
    assert payment.status == PaymentStatus.PENDING
    assert payment.phone_number == "0772222222"
    kept = attempt(payment)
    assert kept.poll_url.startswith("http://127.0.0.1:")
    assert kept.paynow_reference and kept.instructions
    assert kept.merchant_trace and len(kept.merchant_trace) == 32
    assert kept.config == paynow_config and kept.kind == PaynowAttempt.Kind.EXPRESS
    assert result.gateway_message == kept.instructions  # Paynow's words: for staff only
    record = next(r for r in caplog.records if r.getMessage() == "Payment initiated successfully")
    assert record.payment_id == str(payment.pk)
    assert record.booking_reference == booking_200.booking_reference
    assert record.paynow_reference == kept.paynow_reference
    assert paynow_config.integration_key not in caplog.text


def test_request_carries_our_callback_urls(paynow_config, paynow_emulator, booking_200, settings):
    settings.SITE_URL = "https://backend.kalaisafaris.com"
    payment = initiate(booking_200, phone="0772222222").payment
    txn = paynow_emulator.state.list_transactions(reference=payment.reference)[0]
    assert txn["resulturl"] == "https://backend.kalaisafaris.com/crm-api/paynow/ipn/"
    assert txn["returnurl"].startswith("https://backend.kalaisafaris.com/crm-api/paynow/return/")
    assert Decimal(txn["amount"]) == Decimal("100.00")
    assert txn["method"] == "ecocash"


def test_innbucks_returns_a_code_to_enter(paynow_config, booking_200):
    result = initiate(booking_200, method="paynow_innbucks", phone="0772222222")
    assert result.outcome == CheckoutOutcome.CODE_TO_ENTER
    kept = attempt(result.payment)
    assert result.code and kept.authorization_code == result.code
    assert kept.authorization_expires is not None
    assert result.code_expires == kept.authorization_expires
    assert result.deep_link.endswith(f"pymInnCode={result.code}")


def test_gateway_refusal_fails_the_payment_and_keeps_paynows_text(paynow_config, booking_200):
    result = initiate(booking_200, phone="0774444444")  # test number: insufficient balance
    assert (result.outcome, result.reason) == (
        CheckoutOutcome.REFUSED,
        RefusalReason.GATEWAY_REFUSED,
    )
    assert "Insufficient balance" in result.gateway_message
    result.payment.refresh_from_db()
    assert result.payment.status == PaymentStatus.FAILED
    assert "Insufficient balance" in result.payment.notes  # the guide's failed-payments query
    assert result.payment.events.filter(
        new_status=PaymentStatus.FAILED, source=PaymentEvent.Source.GATEWAY
    ).exists()


def test_repeated_request_reuses_pending_payment(paynow_config, paynow_emulator, booking_200):
    first = initiate(booking_200, phone="0772222222")
    second = initiate(booking_200, phone="0772222222")
    assert second.repeated and second.payment.pk == first.payment.pk
    assert second.outcome == CheckoutOutcome.PROMPT_SENT
    assert len(paynow_emulator.state.list_transactions(phone="0772222222")) == 1


def test_other_pending_payment_blocks_overpaying(paynow_config, booking_200):
    initiate(booking_200, amount="150.00", phone="0772222222")
    result = initiate(booking_200, amount="100.00", phone="0781234567")
    assert result.reason == RefusalReason.PAYMENT_PENDING
    assert result.pending_amount == Decimal("150.00")


def test_paynow_down_leaves_payment_pending_without_second_push(
    paynow_config, paynow_emulator, booking_200
):
    paynow_emulator.state.make_initiation_unavailable(1, mode="503")
    result = initiate(booking_200, phone="0772222222")
    assert result.outcome == CheckoutOutcome.UNAVAILABLE
    result.payment.refresh_from_db()
    assert result.payment.status == PaymentStatus.PENDING
    # Asking again returns the same attempt: never a second push for it.
    again = initiate(booking_200, phone="0772222222")
    assert again.payment.pk == result.payment.pk
    assert again.outcome == CheckoutOutcome.UNAVAILABLE and again.repeated


@pytest.mark.django_db(transaction=True)
def test_initiating_inside_a_transaction_is_refused(paynow_config, booking_200):
    """Paynow must never hear of a payment our database has not committed."""
    from django.db import transaction

    with pytest.raises(RuntimeError), transaction.atomic():
        initiate(booking_200, phone="0772222222")
    assert not Payment.objects.exists()


def test_paynow_service_is_only_a_door_into_the_checkout():
    import inspect

    source = inspect.getsource(PaynowService)
    assert "request_payment(" in source and "objects.create" not in source


# --- web checkout (cards) --------------------------------------------------------------------


def _card(booking, amount="100.00", email="tendai@example.com"):
    return request_payment(
        booking=booking,
        amount=Decimal(amount),
        method="paynow_card",
        payer=Payer(email=email),
        source=PaymentEvent.Source.FLOW,
    )


def test_card_payment_redirects_to_paynows_checkout_page(
    paynow_config, paynow_emulator, booking_200, settings
):
    settings.PAYNOW_CARD_ENABLED = True
    result = _card(booking_200)
    assert result.outcome == CheckoutOutcome.REDIRECT
    kept = attempt(result.payment)
    assert kept.kind == PaynowAttempt.Kind.WEB and kept.config == paynow_config
    assert result.redirect_url == kept.browser_url
    assert result.redirect_url.startswith(f"{paynow_emulator.base_url}/Payment/ConfirmPayment/")
    assert kept.poll_url and kept.paynow_reference
    txn = paynow_emulator.state.list_transactions(reference=result.payment.reference)[0]
    assert txn["returnurl"].endswith(
        f"/crm-api/paynow/return/?reference={result.payment.reference}"
    )
    page = httpx.get(result.redirect_url)
    assert page.status_code == 200 and result.payment.reference in page.text


def test_cards_are_off_unless_switched_on(paynow_config, booking_200, settings):
    settings.PAYNOW_CARD_ENABLED = False
    result = _card(booking_200)
    assert result.reason == RefusalReason.METHOD_UNAVAILABLE
    assert "PAYNOW_CARD_ENABLED" in result.gateway_message
    assert not Payment.objects.exists()


def test_card_payment_counts_as_a_paynow_payment_in_the_guides_query(
    paynow_config, booking_200, settings
):
    settings.PAYNOW_CARD_ENABLED = True
    payment = _card(booking_200).payment
    assert payment.get_payment_method_display() == "Paynow - Card"
    assert Payment.objects.filter(payment_method__startswith="paynow_").get() == payment


def test_card_checkout_unanswered_is_refused_since_nobody_has_the_page(
    paynow_config, paynow_emulator, booking_200, settings
):
    settings.PAYNOW_CARD_ENABLED = True
    paynow_emulator.state.make_initiation_unavailable(1, mode="503")
    result = _card(booking_200)
    assert result.reason == RefusalReason.GATEWAY_REFUSED
    result.payment.refresh_from_db()
    assert result.payment.status == PaymentStatus.FAILED  # the balance is free again
    assert _card(booking_200).outcome == CheckoutOutcome.REDIRECT


# --- the rest of the interface -----------------------------------------------------------------


def test_staff_details_and_log_fields_of_a_paynow_payment(paynow_config, booking_200):
    payment = initiate(booking_200, method="paynow_innbucks", phone="0772222222").payment
    gateway = gateway_for(payment.payment_method)
    details = dict(gateway.staff_details(payment))
    kept = attempt(payment)
    assert details["Paynow reference"] == kept.paynow_reference
    assert details["InnBucks code"] == kept.authorization_code
    assert details["Merchant trace"] == kept.merchant_trace
    assert details["Configuration"] == str(paynow_config)
    assert gateway.log_fields(payment) == {"paynow_reference": kept.paynow_reference}


def test_a_callback_is_verified_by_its_hash(paynow_config, booking_200):
    from urllib.parse import urlencode

    from paynow_integration.sdk import compute_hash
    from tests.paynow_integration.support import INTEGRATION_KEY

    fields = [("reference", "PAY-1"), ("amount", "1.00"), ("status", "Paid")]
    signed = urlencode([*fields, ("hash", compute_hash(fields, INTEGRATION_KEY))]).encode()
    forged = urlencode([*fields, ("hash", compute_hash(fields, "other"))]).encode()
    gateway = gateway_for("paynow_ecocash")
    assert gateway.verify_callback(signed, {}) is True
    assert gateway.verify_callback(forged, {}) is False
    assert gateway.verify_callback(b"%%%", {}) is False
    assert gateway_for("bank_transfer").verify_callback(signed, {}) is False


def test_check_asks_paynow_and_applies_what_it_confirms(
    paynow_config, paynow_emulator, booking_200
):
    payment = initiate(booking_200, phone="0772222222").payment
    paynow_emulator.state.drop_next_updates(1)
    paynow_emulator.state.approve(attempt(payment).paynow_reference)
    status = gateway_for(payment.payment_method).check(payment)
    assert status.reachable and status.gateway_status == "Paid"
    assert status.payment_status == PaymentStatus.SUCCESSFUL
    assert Payment.objects.get(pk=payment.pk).status == PaymentStatus.SUCCESSFUL
    assert attempt(payment).check_attempts == 1


def test_check_with_paynow_unreachable_changes_nothing(paynow_config, paynow_emulator, booking_200):
    payment = initiate(booking_200, phone="0772222222").payment
    paynow_emulator.stop()
    status = gateway_for(payment.payment_method).check(payment)
    assert not status.reachable and status.payment_status == PaymentStatus.PENDING
