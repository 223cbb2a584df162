"""The checkout (`customer_data.checkout.request_payment`): every outcome and refusal, pending
payments of any age and method against the balance, and racing requests on PostgreSQL."""

from __future__ import annotations

import threading
from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import connections
from django.utils import timezone

from customer_data import services
from customer_data.checkout import (
    CheckoutOutcome,
    Payer,
    RefusalReason,
    describe_payment,
    request_payment,
)
from customer_data.gateways import gateway_for, registered_methods
from customer_data.models import Booking, Payment, PaymentEvent, PaymentMethod, PaymentStatus
from tests.customer_data.support import QUIET_NUMBER, pay

pytestmark = pytest.mark.django_db

EMAIL = "tendai@example.com"


def ask(booking, amount="50.00", method="cash", *, phone="", email="", source="flow", **kw):
    return request_payment(
        booking=booking,
        amount=Decimal(amount) if isinstance(amount, str) else amount,
        method=method,
        payer=Payer(phone=phone, email=email),
        source=source,
        **kw,
    )


# --- amounts ---------------------------------------------------------------------------------


@pytest.mark.parametrize("amount", ["0", "-5.00", "10.005", "NaN", "Infinity", "abc"])
def test_an_amount_that_is_not_positive_cents_is_refused(make_booking, amount):
    booking = make_booking(total="200.00")
    result = request_payment(
        booking=booking,
        amount=amount if amount == "abc" else Decimal(amount),
        method="cash",
        payer=Payer(),
        source="staff",
    )
    assert (result.outcome, result.reason) == (
        CheckoutOutcome.REFUSED,
        RefusalReason.INVALID_AMOUNT,
    )
    assert result.payment is None and not Payment.objects.exists()


def test_a_float_is_a_programming_error(make_booking):
    with pytest.raises(TypeError):
        ask(make_booking(total="200.00"), 10.5)


def test_more_than_the_balance_is_refused_with_the_balance(make_booking):
    booking = make_booking(total="200.00")
    result = ask(booking, "200.01")
    assert result.reason == RefusalReason.AMOUNT_OVER_BALANCE
    assert result.balance_due == Decimal("200.00")
    assert not Payment.objects.exists()


def test_nothing_due_refuses_any_amount(make_booking):
    booking = make_booking(total="100.00")
    services.transition_payment(
        payment_id=pay(booking, "100.00").pk, new_status="successful", source="staff"
    )
    assert ask(booking, "0.01").reason == RefusalReason.AMOUNT_OVER_BALANCE


# --- pending payments count, whatever their age and method --------------------------------------


def test_a_pending_payment_of_any_method_counts_against_the_balance(make_booking, paynow_config):
    booking = make_booking(total="200.00")
    pay(booking, "150.00", "bank_transfer")  # a proof waiting for staff
    result = ask(booking, "100.00", "paynow_ecocash", phone=QUIET_NUMBER, email=EMAIL)
    assert result.reason == RefusalReason.PAYMENT_PENDING
    assert (result.pending_amount, result.balance_due) == (Decimal("150.00"), Decimal("200.00"))
    assert Payment.objects.count() == 1  # nothing written, no prompt sent
    # What still fits goes ahead.
    assert ask(booking, "50.00", "paynow_ecocash", phone=QUIET_NUMBER, email=EMAIL).started


def test_a_pending_payment_of_any_age_counts_against_the_balance(make_booking, paynow_config):
    """Before, only Paynow payments of the last 15 minutes counted: a payer could be
    charged twice for one balance."""
    booking = make_booking(total="200.00")
    old = pay(booking, "150.00", "paynow_ecocash")
    Payment.objects.filter(pk=old.pk).update(created_at=timezone.now() - timedelta(days=2))
    result = ask(booking, "100.00", "omari")
    assert result.reason == RefusalReason.PAYMENT_PENDING
    assert result.pending_amount == Decimal("150.00")


def test_ended_payments_free_the_balance(make_booking):
    booking = make_booking(total="200.00")
    first = pay(booking, "150.00", "bank_transfer")
    assert ask(booking, "100.00").reason == RefusalReason.PAYMENT_PENDING
    services.reject_payment(payment=first, actor=None)
    assert ask(booking, "100.00").outcome == CheckoutOutcome.AWAITING_PROOF


# --- methods and payers ------------------------------------------------------------------------


def test_every_payment_method_has_a_gateway():
    assert set(registered_methods()) == set(PaymentMethod.values)


def test_an_unknown_method_is_refused(make_booking):
    result = ask(make_booking(total="200.00"), method="bitcoin")
    assert result.reason == RefusalReason.METHOD_UNAVAILABLE
    assert not Payment.objects.exists()


def test_a_cancelled_booking_takes_no_payment(make_booking):
    booking = make_booking(total="200.00")
    services.cancel_booking(booking=booking)
    result = ask(booking)
    assert result.reason == RefusalReason.BOOKING_CANCELLED and result.payment is None


@pytest.mark.parametrize(
    ("method", "phone", "email", "reason"),
    [
        ("paynow_ecocash", "0711234567", EMAIL, RefusalReason.WRONG_NETWORK),
        ("paynow_ecocash", "12345", EMAIL, RefusalReason.INVALID_PHONE),
        ("paynow_ecocash", QUIET_NUMBER, "nope", RefusalReason.INVALID_EMAIL),
        ("bank_transfer", "", "nope", RefusalReason.INVALID_EMAIL),
    ],
)
def test_payer_details_the_gateway_refuses(
    make_booking, paynow_config, method, phone, email, reason
):
    result = ask(make_booking(total="200.00"), method=method, phone=phone, email=email)
    assert result.reason == reason and result.payment is None
    assert not Payment.objects.exists()


# --- outcomes ----------------------------------------------------------------------------------


def test_manual_methods_await_proof_and_mark_the_booking(make_booking, admin_user):
    booking = make_booking(total="200.00")
    result = ask(
        booking,
        "80.00",
        "bank_transfer",
        source=PaymentEvent.Source.STAFF,
        actor=admin_user,
        notes="CBZ slip 123",
        evidence={"proof": {"id": "media-1"}},
    )
    assert result.outcome == CheckoutOutcome.AWAITING_PROOF and result.started
    payment = result.payment
    assert (payment.status, payment.amount, payment.notes) == (
        "pending",
        Decimal("80.00"),
        "CBZ slip 123",
    )
    event = payment.events.get()
    assert (event.source, event.actor, event.raw_data) == (
        "staff",
        admin_user,
        {"proof": {"id": "media-1"}},
    )
    assert Booking.objects.get(pk=booking.pk).payment_status == "pending_manual"
    assert describe_payment(payment).outcome == CheckoutOutcome.AWAITING_PROOF


def test_identical_manual_requests_are_two_requests(make_booking):
    """A second proof is a second payment (or refused over the balance), never merged."""
    booking = make_booking(total="200.00")
    first, second = ask(booking, "50.00"), ask(booking, "50.00")
    assert first.payment.pk != second.payment.pk and not second.repeated


def test_prompt_sent_code_to_enter_and_repeats(make_booking, paynow_config):
    booking = make_booking(total="200.00")
    prompt = ask(booking, "50.00", "paynow_ecocash", phone="+263 78 123 4567", email=EMAIL)
    assert prompt.outcome == CheckoutOutcome.PROMPT_SENT
    assert prompt.payment.phone_number == QUIET_NUMBER
    again = ask(booking, "50.00", "paynow_ecocash", phone=QUIET_NUMBER, email=EMAIL.upper())
    assert again.repeated and again.payment.pk == prompt.payment.pk
    assert again.outcome == CheckoutOutcome.PROMPT_SENT
    code = ask(booking, "20.00", "paynow_innbucks", phone=QUIET_NUMBER, email=EMAIL)
    assert code.outcome == CheckoutOutcome.CODE_TO_ENTER and len(code.code) == 9
    assert describe_payment(code.payment).code == code.code


def test_a_repeat_after_the_window_is_a_new_request(make_booking, paynow_config, settings):
    settings.PAYNOW_DUPLICATE_WINDOW = 60
    booking = make_booking(total="200.00")
    first = ask(booking, "50.00", "paynow_ecocash", phone=QUIET_NUMBER, email=EMAIL)
    Payment.objects.filter(pk=first.payment.pk).update(
        created_at=timezone.now() - timedelta(minutes=2)
    )
    second = ask(booking, "50.00", "paynow_ecocash", phone=QUIET_NUMBER, email=EMAIL)
    assert not second.repeated and second.payment.pk != first.payment.pk


def test_unavailable_then_gateway_refused(make_booking, paynow_config, paynow_emulator):
    booking = make_booking(total="200.00")
    paynow_emulator.state.make_initiation_unavailable(1, mode="503")
    silent = ask(booking, "50.00", "paynow_ecocash", phone=QUIET_NUMBER, email=EMAIL)
    assert silent.outcome == CheckoutOutcome.UNAVAILABLE
    assert Payment.objects.get(pk=silent.payment.pk).status == PaymentStatus.PENDING
    refused = ask(booking, "50.00", "paynow_ecocash", phone="0774444444", email=EMAIL)
    assert (refused.outcome, refused.reason) == (
        CheckoutOutcome.REFUSED,
        RefusalReason.GATEWAY_REFUSED,
    )
    assert refused.payment.status == PaymentStatus.FAILED
    assert "Insufficient balance" in refused.gateway_message


def test_a_refusal_is_logged_with_its_reason(make_booking, caplog):
    booking = make_booking(total="10.00", adults=1)
    with caplog.at_level("INFO", logger="customer_data.checkout"):
        ask(booking, "50.00")
    record = next(r for r in caplog.records if r.getMessage().startswith("Payment request refused"))
    assert record.status == "amount_over_balance"
    assert record.booking_reference == booking.booking_reference


def test_the_result_holds_no_sentences_for_the_payer(make_booking, paynow_config):
    """Codes and data only: whatever the payer reads is chosen by the conversation layer."""
    result = ask(
        make_booking(total="200.00"), "50.00", "paynow_innbucks", phone=QUIET_NUMBER, email=EMAIL
    )
    assert not hasattr(result, "message")
    assert isinstance(result.outcome, CheckoutOutcome)


@pytest.mark.django_db(transaction=True)
def test_inside_a_transaction_is_refused_whatever_the_method(make_booking):
    """The payment must be committed before any gateway hears of it: one rule for all."""
    from django.db import transaction

    booking = make_booking(total="200.00")
    with pytest.raises(RuntimeError), transaction.atomic():
        ask(booking, "50.00", "cash")
    assert not Payment.objects.exists()
    assert gateway_for("cash").settles_itself is False  # staff settle manual payments


# --- two requests racing for one balance -------------------------------------------------------


def _race(work, count):
    barrier = threading.Barrier(count)
    results, errors = [], []

    def run(index):
        try:
            barrier.wait(timeout=10)
            results.append(work(index))
        except Exception as exc:  # surfaced below
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not errors, errors
    return results


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_requests_racing_for_one_balance_start_exactly_one(make_booking, paynow_config):
    booking = make_booking(total="200.00")
    requests = [
        ("paynow_ecocash", QUIET_NUMBER),  # two different payers, the whole balance each
        ("paynow_onemoney", "0711234567"),
    ]

    def work(index):
        method, phone = requests[index]
        return ask(booking, "200.00", method, phone=phone, email=EMAIL)

    results = _race(work, 2)
    outcomes = sorted((r.outcome, r.reason) for r in results)
    assert outcomes == [
        (CheckoutOutcome.PROMPT_SENT, None),
        (CheckoutOutcome.REFUSED, RefusalReason.PAYMENT_PENDING),
    ]
    assert Payment.objects.filter(booking=booking).count() == 1
    assert paynow_config.attempts.count() == 1  # one prompt: Paynow heard of one payment


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_many_manual_requests_racing_never_exceed_the_balance(make_booking):
    booking = make_booking(total="100.00")
    results = _race(lambda index: ask(booking, "30.00", "bank_transfer"), 6)
    started = [r for r in results if r.started]
    assert len(started) == 3  # 3 x 30 fit into 100; the other three are refused
    assert all(r.reason == RefusalReason.PAYMENT_PENDING for r in results if r.refused)
    pending = Payment.objects.filter(booking=booking, status="pending")
    assert sum(p.amount for p in pending) == Decimal("90.00")
