"""PaynowService.initiate_payment against the Paynow emulator (Express Checkout)."""

from decimal import Decimal

import pytest

from customer_data.models import Payment, PaymentStatus
from paynow_integration.services import PaynowNotConfigured, PaynowValidationError, normalize_phone
from tests.paynow_integration.support import initiate

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    "raw", ["0771234567", "263771234567", "+263 77 123 4567", "+263-77-123-4567", "771234567"]
)
def test_phone_forms_normalise(raw):
    assert normalize_phone(raw) == "0771234567"


@pytest.mark.parametrize(
    "method, phone, field, text",
    [
        ("paynow_ecocash", "0711234567", "phone", "not an EcoCash number"),
        ("paynow_onemoney", "0771234567", "phone", "not an OneMoney number"),
        ("paynow_ecocash", "12345", "phone", "Zimbabwean mobile"),
        ("paynow_ecocash", "+27 82 123 4567", "phone", "Zimbabwean mobile"),
        ("paynow_ecocash", "07712345678", "phone", "Zimbabwean mobile"),
        ("paynow_ecocash", "077 abc", "phone", "doesn't look right"),
        ("bank_transfer", "0771234567", "payment_method", "EcoCash, OneMoney or InnBucks"),
    ],
)
def test_validation_messages(paynow_config, booking_200, method, phone, field, text):
    with pytest.raises(PaynowValidationError) as caught:
        initiate(booking_200, method=method, phone=phone)
    assert caught.value.field == field
    assert text in caught.value.message
    assert not Payment.objects.exists()


@pytest.mark.parametrize(
    "amount, text",
    [("0.00", "more than zero"), ("10.001", "two decimal"), ("200.01", "balance"), ("-1", "zero")],
)
def test_amount_validation(paynow_config, booking_200, amount, text):
    with pytest.raises(PaynowValidationError, match=text):
        initiate(booking_200, amount=amount)
    assert not Payment.objects.exists()


def test_email_validation(paynow_config, booking_200):
    with pytest.raises(PaynowValidationError, match="e-mail") as caught:
        initiate(booking_200, email="not-an-email")
    assert caught.value.field == "email"


def test_disabled_paynow_refuses(paynow_config, booking_200, settings):
    settings.PAYNOW_ENABLED = False
    with pytest.raises(PaynowValidationError, match="not available"):
        initiate(booking_200)


def test_not_configured(db, booking_200):
    with pytest.raises(PaynowNotConfigured):
        initiate(booking_200)


def test_success_stores_gateway_fields_and_logs(paynow_config, booking_200, caplog, settings):
    with caplog.at_level("INFO"):
        outcome = initiate(booking_200, phone="+263 77 222 2222")
    payment = outcome.payment
    assert outcome.started and not outcome.reused
    assert payment.status == PaymentStatus.PENDING
    assert payment.phone_number == "0772222222"
    assert payment.poll_url.startswith("http://127.0.0.1:")
    assert payment.paynow_reference
    assert payment.instructions
    assert payment.merchant_trace and len(payment.merchant_trace) == 32
    record = next(r for r in caplog.records if r.getMessage() == "Payment initiated successfully")
    assert record.payment_id == str(payment.pk)
    assert record.booking_reference == booking_200.booking_reference
    assert record.paynow_reference == payment.paynow_reference
    assert paynow_config.integration_key not in caplog.text


def test_request_carries_our_callback_urls(paynow_config, paynow_emulator, booking_200, settings):
    settings.SITE_URL = "https://backend.kalaisafaris.com"
    payment = initiate(booking_200, phone="0772222222").payment
    txn = paynow_emulator.state.list_transactions(reference=payment.reference)[0]
    assert txn["resulturl"] == "https://backend.kalaisafaris.com/crm-api/paynow/ipn/"
    assert txn["returnurl"].startswith("https://backend.kalaisafaris.com/crm-api/paynow/return/")
    assert Decimal(txn["amount"]) == Decimal("100.00")
    assert txn["method"] == "ecocash"


def test_innbucks_returns_authorisation_code(paynow_config, booking_200):
    outcome = initiate(booking_200, method="paynow_innbucks", phone="0772222222")
    assert outcome.authorization_code
    assert outcome.payment.authorization_code == outcome.authorization_code
    assert outcome.payment.authorization_expires is not None
    assert outcome.deep_link.endswith(f"pymInnCode={outcome.authorization_code}")


def test_gateway_refusal_fails_the_payment(paynow_config, booking_200):
    outcome = initiate(booking_200, phone="0774444444")  # test number: insufficient balance
    assert outcome.state == "refused"
    assert "Insufficient balance" in outcome.message
    outcome.payment.refresh_from_db()
    assert outcome.payment.status == PaymentStatus.FAILED
    assert "Insufficient balance" in outcome.payment.notes


def test_repeated_request_reuses_pending_payment(paynow_config, paynow_emulator, booking_200):
    first = initiate(booking_200, phone="0772222222")
    second = initiate(booking_200, phone="0772222222")
    assert second.reused and second.payment.pk == first.payment.pk
    assert len(paynow_emulator.state.list_transactions(phone="0772222222")) == 1


def test_other_pending_payment_blocks_overpaying(paynow_config, booking_200):
    initiate(booking_200, amount="150.00", phone="0772222222")
    with pytest.raises(PaynowValidationError, match="still waiting for approval"):
        initiate(booking_200, amount="100.00", phone="0781234567")


def test_paynow_down_leaves_payment_pending_without_second_push(
    paynow_config, paynow_emulator, booking_200
):
    paynow_emulator.state.make_initiation_unavailable(1, mode="503")
    outcome = initiate(booking_200, phone="0772222222")
    assert outcome.state == "unconfirmed"
    outcome.payment.refresh_from_db()
    assert outcome.payment.status == PaymentStatus.PENDING
    # Asking again returns the same attempt: never a second push for it.
    again = initiate(booking_200, phone="0772222222")
    assert again.payment.pk == outcome.payment.pk


@pytest.mark.django_db(transaction=True)
def test_initiating_inside_a_transaction_is_refused(paynow_config, booking_200):
    """Paynow must never hear of a payment our database has not committed."""
    from django.db import transaction

    with pytest.raises(RuntimeError), transaction.atomic():
        initiate(booking_200, phone="0772222222")
    assert not Payment.objects.exists()
