"""The payment state machine and the booking money it moves, through the services."""

from decimal import Decimal

import pytest
from django.db import IntegrityError, transaction

from customer_data import services
from customer_data.models import Booking, Payment, PaymentEvent, PaymentMethod, PaymentStatus
from tests.customer_data.support import pay

pytestmark = pytest.mark.django_db

S = PaymentStatus
ALL = list(S.values)
ALLOWED = {
    (S.PENDING, S.SUCCESSFUL),
    (S.PENDING, S.FAILED),
    (S.PENDING, S.CANCELLED),
    (S.PENDING, S.EXPIRED),
    (S.SUCCESSFUL, S.REFUNDED),
}


def _pay(booking, amount="50.00", method=PaymentMethod.CASH):
    return pay(booking, amount, method)


def _force_status(payment, status):
    """Walk a fresh payment into `status` by allowed steps only."""
    if status == S.PENDING:
        return
    first = S.SUCCESSFUL if status in (S.SUCCESSFUL, S.REFUNDED) else status
    services.transition_payment(payment_id=payment.pk, new_status=first, source="ipn")
    if status == S.REFUNDED:
        services.transition_payment(payment_id=payment.pk, new_status=S.REFUNDED, source="staff")


@pytest.mark.parametrize("old", ALL)
@pytest.mark.parametrize("new", ALL)
def test_only_the_documented_transitions_apply(make_booking, old, new):
    booking = make_booking(total="200.00")
    payment = _pay(booking)
    _force_status(payment, old)
    events_before = PaymentEvent.objects.filter(payment=payment).count()

    result = services.transition_payment(
        payment_id=payment.pk, new_status=new, source="staff" if new == S.REFUNDED else "ipn"
    )

    payment.refresh_from_db()
    assert result.applied is ((old, new) in ALLOWED)
    assert payment.status == (new if result.applied else old)
    # Refused or applied, the attempt leaves exactly one event with the right flag.
    event = PaymentEvent.objects.filter(payment=payment).latest("id")
    assert PaymentEvent.objects.filter(payment=payment).count() == events_before + 1
    assert (event.old_status, event.new_status, event.applied) == (old, new, result.applied)


def test_success_credits_booking_and_sets_status(make_booking):
    booking = make_booking(total="200.00")
    deposit = _pay(booking, "100.00")
    services.transition_payment(payment_id=deposit.pk, new_status=S.SUCCESSFUL, source="ipn")
    booking.refresh_from_db()
    assert booking.amount_paid == Decimal("100.00")
    assert booking.payment_status == Booking.PaymentStatus.DEPOSIT_PAID

    balance = _pay(booking, "100.00")
    services.transition_payment(payment_id=balance.pk, new_status=S.SUCCESSFUL, source="ipn")
    booking.refresh_from_db()
    assert booking.amount_paid == Decimal("200.00")
    assert booking.payment_status == Booking.PaymentStatus.PAID
    balance.refresh_from_db()
    assert balance.paid_at is not None


def test_repeated_success_credits_once(make_booking):
    booking = make_booking(total="200.00")
    payment = _pay(booking, "80.00")
    results = [
        services.transition_payment(payment_id=payment.pk, new_status=S.SUCCESSFUL, source="ipn")
        for _ in range(5)
    ]
    booking.refresh_from_db()
    assert [r.applied for r in results] == [True, False, False, False, False]
    assert booking.amount_paid == Decimal("80.00")


def test_success_never_moves_backwards(make_booking):
    booking = make_booking(total="200.00")
    payment = _pay(booking, "80.00")
    services.transition_payment(payment_id=payment.pk, new_status=S.SUCCESSFUL, source="ipn")
    for later in (S.PENDING, S.CANCELLED, S.FAILED, S.EXPIRED):
        assert not services.transition_payment(
            payment_id=payment.pk, new_status=later, source="ipn"
        ).applied
    booking.refresh_from_db()
    assert booking.amount_paid == Decimal("80.00")


def test_refund_is_staff_only_and_debits(make_booking):
    booking = make_booking(total="100.00")
    payment = _pay(booking, "100.00")
    services.transition_payment(payment_id=payment.pk, new_status=S.SUCCESSFUL, source="ipn")
    with pytest.raises(ValueError, match="only staff"):
        services.transition_payment(payment_id=payment.pk, new_status=S.REFUNDED, source="ipn")
    services.refund_payment(payment=payment, actor=None)
    booking.refresh_from_db()
    assert booking.amount_paid == Decimal("0.00")
    assert booking.payment_status == Booking.PaymentStatus.REFUNDED


def test_manual_payment_pending_then_received(make_booking, admin_user):
    booking = make_booking(total="100.00")
    payment = _pay(booking, "50.00", PaymentMethod.BANK_TRANSFER)
    booking.refresh_from_db()
    assert booking.payment_status == Booking.PaymentStatus.PENDING_MANUAL
    result = services.mark_payment_received(payment=payment, actor=admin_user)
    assert result.applied
    booking.refresh_from_db()
    assert booking.payment_status == Booking.PaymentStatus.DEPOSIT_PAID
    assert payment.events.latest("id").actor == admin_user


def test_gateway_payments_cannot_be_marked_received_by_hand(
    make_booking, admin_user, paynow_config
):
    payment = _pay(make_booking(total="100.00"), "50.00", PaymentMethod.PAYNOW_ECOCASH)
    with pytest.raises(services.PaymentValidationError):
        services.mark_payment_received(payment=payment, actor=admin_user)


def test_balance_accounts_for_what_is_already_paid(make_booking):
    booking = make_booking(total="200.00")
    first = _pay(booking, "150.00")
    services.transition_payment(payment_id=first.pk, new_status=S.SUCCESSFUL, source="ipn")
    from customer_data.checkout import Payer, RefusalReason, request_payment

    refused = request_payment(
        booking=booking, amount=Decimal("60.00"), method="cash", payer=Payer(), source="staff"
    )
    assert refused.reason == RefusalReason.AMOUNT_OVER_BALANCE
    assert _pay(booking, "50.00").amount == Decimal("50.00")


def test_database_refuses_broken_money(make_booking):
    booking = make_booking(total="200.00")
    with pytest.raises(IntegrityError), transaction.atomic():
        Booking.objects.filter(pk=booking.pk).update(amount_paid=Decimal("-1"))
    with pytest.raises(IntegrityError), transaction.atomic():
        Payment.objects.create(booking=booking, amount=Decimal("0"), payment_method="cash")
    with pytest.raises(IntegrityError), transaction.atomic():
        Payment.objects.create(booking=booking, amount=Decimal("1"), payment_method="bitcoin")
    payment, other = _pay(booking), _pay(booking)
    with pytest.raises(IntegrityError), transaction.atomic():
        Payment.objects.filter(pk=other.pk).update(reference=payment.reference)


def test_booking_references_are_unique_and_unguessable(make_booking):
    refs = {make_booking().booking_reference for _ in range(30)}
    assert len(refs) == 30
    assert all(ref.startswith("BK-") and len(ref) == 11 for ref in refs)


def test_reference_collision_is_retried(make_booking, monkeypatch):
    from customer_data import models

    first = make_booking()
    codes = iter([first.booking_reference, "BK-FRESH234"])
    monkeypatch.setattr(Booking, "reference_factory", staticmethod(lambda: next(codes)))
    clash = Booking(
        tour=first.tour,
        start_date=first.start_date,
        total_amount=Decimal("10.00"),
        booking_reference=models.Booking.reference_factory(),
    )
    clash.save()
    assert clash.booking_reference == "BK-FRESH234"


def test_status_change_signal_fires_after_commit(make_booking, django_capture_on_commit_callbacks):
    from customer_data.signals import payment_status_changed

    seen = []

    def receiver(sender, payment, old_status, new_status, **kwargs):
        seen.append((payment.pk, old_status, new_status))

    payment_status_changed.connect(receiver)
    try:
        payment = _pay(make_booking(total="100.00"))
        with django_capture_on_commit_callbacks(execute=True):
            services.transition_payment(
                payment_id=payment.pk, new_status=S.SUCCESSFUL, source="ipn"
            )
            assert seen == []  # not before commit
        with django_capture_on_commit_callbacks(execute=True):
            services.transition_payment(
                payment_id=payment.pk, new_status=S.SUCCESSFUL, source="ipn"
            )  # refused: no signal
    finally:
        payment_status_changed.disconnect(receiver)
    assert seen == [(payment.pk, S.PENDING, S.SUCCESSFUL)]


def test_success_log_line_matches_the_guide(make_booking, caplog):
    payment = _pay(make_booking(total="100.00"))
    with caplog.at_level("INFO", logger="customer_data.services"):
        services.transition_payment(payment_id=payment.pk, new_status=S.SUCCESSFUL, source="ipn")
    record = next(r for r in caplog.records if "marked as successful" in r.getMessage())
    assert record.getMessage() == f"Payment {payment.pk} marked as successful"
    assert record.payment_id == str(payment.pk)
    assert record.booking_reference == payment.booking.booking_reference
