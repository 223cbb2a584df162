"""Reconciliation: lost IPNs, lost initiation replies and abandoned payments end correctly."""

from datetime import timedelta
from decimal import Decimal
from io import StringIO

import pytest
from django.core.management import call_command
from django.utils import timezone

from customer_data.models import Booking, Payment, PaymentStatus
from paynow_integration.models import PaynowAttempt
from paynow_integration.services import reconcile_pending_payments
from tests.helpers import wait_until
from tests.paynow_integration.support import attempt, initiate

pytestmark = pytest.mark.django_db


def _status(payment):
    return Payment.objects.get(pk=payment.pk).status


def _due_now(payment):
    PaynowAttempt.objects.filter(payment=payment).update(next_check_at=None)


def test_dropped_ipn_is_recovered_by_reconciliation(paynow_config, paynow_emulator, booking_200):
    paynow_emulator.state.drop_next_updates(1)  # the Paid update never reaches us
    payment = initiate(booking_200, phone="0771111111").payment
    wait_until(
        lambda: (
            paynow_emulator.state.get_transaction(attempt(payment).paynow_reference)["status"]
            == "Paid"
        )
    )
    assert _status(payment) == PaymentStatus.PENDING
    _due_now(payment)
    summary = reconcile_pending_payments()
    assert (summary.checked, summary.resolved) == (1, 1)
    assert _status(payment) == PaymentStatus.SUCCESSFUL
    assert Booking.objects.get(pk=booking_200.pk).amount_paid == Decimal("100.00")
    assert payment.events.filter(source="reconciliation", new_status="successful").exists()


def test_paynow_down_at_initiation_then_resolved_by_trace(
    paynow_config, paynow_emulator, booking_200, settings
):
    # Paynow takes the request but its reply never comes back in time.
    settings.PAYNOW_READ_TIMEOUT = 0.3
    paynow_emulator.state.make_initiation_unavailable(
        1, mode="hang", hang_seconds=1.0, creates_transaction=True
    )
    outcome = initiate(booking_200, phone="0772222222")
    payment = outcome.payment
    assert outcome.outcome == "unavailable" and not attempt(payment).poll_url
    # The test number pays after ~0.3 s; its status update goes to a payment that has no
    # Paynow reference yet, and the trace must still find it.
    wait_until(
        lambda: (
            paynow_emulator.state.list_transactions(reference=payment.reference)[0]["status"]
            == "Paid"
        )
    )
    _due_now(payment)
    reconcile_pending_payments()
    payment.refresh_from_db()
    assert payment.status == PaymentStatus.SUCCESSFUL
    assert attempt(payment).poll_url  # learnt from the trace


def test_initiation_never_reached_paynow_fails_after_grace(
    paynow_config, paynow_emulator, booking_200
):
    paynow_emulator.state.make_initiation_unavailable(1, mode="503", creates_transaction=False)
    payment = initiate(booking_200, phone="0772222222").payment
    _due_now(payment)
    reconcile_pending_payments()  # too early to conclude anything
    assert _status(payment) == PaymentStatus.PENDING
    _due_now(payment)
    reconcile_pending_payments(now=timezone.now() + timedelta(minutes=3))
    assert _status(payment) == PaymentStatus.FAILED


def test_abandoned_payment_expires_after_one_last_poll(paynow_config, paynow_emulator, booking_200):
    payment = initiate(booking_200, phone="0772222222").payment  # nobody approves
    _due_now(payment)
    reconcile_pending_payments()
    assert _status(payment) == PaymentStatus.PENDING
    _due_now(payment)
    summary = reconcile_pending_payments(now=timezone.now() + timedelta(minutes=16))
    assert summary.expired == 1
    assert _status(payment) == PaymentStatus.EXPIRED


def test_paid_just_before_timeout_is_credited_not_expired(
    paynow_config, paynow_emulator, booking_200
):
    payment = initiate(booking_200, phone="0772222222").payment
    paynow_emulator.state.drop_next_updates(1)
    paynow_emulator.state.approve(attempt(payment).paynow_reference)
    _due_now(payment)
    reconcile_pending_payments(now=timezone.now() + timedelta(minutes=16))
    assert _status(payment) == PaymentStatus.SUCCESSFUL


def test_unreachable_paynow_never_expires_a_payment(paynow_config, paynow_emulator, booking_200):
    payment = initiate(booking_200, phone="0772222222").payment
    paynow_emulator.stop()
    _due_now(payment)
    summary = reconcile_pending_payments(now=timezone.now() + timedelta(minutes=30))
    assert summary.errors == 1
    assert _status(payment) == PaymentStatus.PENDING
    assert attempt(payment).next_check_at > timezone.now()  # backed off, will try again


def test_backoff_skips_payments_not_due(paynow_config, booking_200):
    payment = initiate(booking_200, phone="0772222222").payment
    assert attempt(payment).next_check_at > timezone.now()
    assert reconcile_pending_payments().checked == 0


def test_reconcile_command(paynow_config, paynow_emulator, booking_200):
    paynow_emulator.state.drop_next_updates(1)
    payment = initiate(booking_200, phone="0771111111").payment
    wait_until(
        lambda: (
            paynow_emulator.state.get_transaction(attempt(payment).paynow_reference)["status"]
            == "Paid"
        )
    )
    _due_now(payment)
    out = StringIO()
    call_command("reconcile_payments", stdout=out)
    assert "checked 1, resolved 1" in out.getvalue()


def test_beat_schedules_reconciliation(settings):
    from whatsappcrm.celery import app

    entry = settings.CELERY_BEAT_SCHEDULE["reconcile-paynow-payments"]
    assert entry["task"] in app.tasks


def test_a_disputed_payment_found_by_reconciliation_is_flagged_not_expired(
    paynow_config, paynow_emulator, booking_200
):
    from paynow_integration.models import PaynowStatusUpdate

    payment = initiate(booking_200, phone="0772222222").payment
    paynow_emulator.state.drop_next_updates(1)
    paynow_emulator.state.push_status(
        attempt(payment).paynow_reference, "Disputed", update_state=True
    )
    _due_now(payment)
    reconcile_pending_payments(now=timezone.now() + timedelta(minutes=30))
    assert _status(payment) == PaymentStatus.PENDING  # for staff, not for the timer
    flagged = PaynowStatusUpdate.objects.get(payment=payment, source="poll")
    assert flagged.flag == PaynowStatusUpdate.Flag.DISPUTED and flagged.valid


def test_an_innbucks_code_still_valid_is_not_expired(paynow_config, booking_200):
    payment = initiate(booking_200, method="paynow_innbucks", phone="0772222222").payment
    expires = attempt(payment).authorization_expires
    assert expires is not None
    _due_now(payment)
    reconcile_pending_payments(now=expires - timedelta(minutes=1))
    assert _status(payment) == PaymentStatus.PENDING
