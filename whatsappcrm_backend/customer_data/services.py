"""The money rules: the state machine, the only code that changes a payment's status.

Payments are created by ``customer_data.checkout.request_payment`` (which records their
first event here).

Every status change is one transaction that locks the payment row, then the booking row
(always in that order, so concurrent changes cannot deadlock), writes a `PaymentEvent`,
and moves `booking.amount_paid` with the database's own arithmetic. The invariant:
``booking.amount_paid == sum(amount of the booking's payments whose status is successful)``.
"""

import logging
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from django.db import transaction
from django.db.models import F
from django.utils import timezone

from .gateways import payment_log_fields
from .models import (
    MANUAL_METHODS,
    Booking,
    Payment,
    PaymentEvent,
    PaymentStatus,
    Tour,
    Traveler,
)
from .pricing import deposit_for, quote_booking
from .signals import payment_status_changed

logger = logging.getLogger(__name__)

# The state machine. Terminal states have no way out; `refunded` is reachable by staff only.
ALLOWED_TRANSITIONS: dict[str, frozenset[str]] = {
    PaymentStatus.PENDING: frozenset(
        {
            PaymentStatus.SUCCESSFUL,
            PaymentStatus.FAILED,
            PaymentStatus.CANCELLED,
            PaymentStatus.EXPIRED,
        }
    ),
    PaymentStatus.SUCCESSFUL: frozenset({PaymentStatus.REFUNDED}),
    PaymentStatus.FAILED: frozenset(),
    PaymentStatus.CANCELLED: frozenset(),
    PaymentStatus.EXPIRED: frozenset(),
    PaymentStatus.REFUNDED: frozenset(),
}
STAFF_ONLY_TARGETS = frozenset({PaymentStatus.REFUNDED})


class PaymentValidationError(ValueError):
    """A staff request the money rules refuse (e.g. confirming a gateway payment by hand);
    the message is for staff."""


@dataclass(frozen=True)
class TransitionResult:
    payment: Payment
    applied: bool
    old_status: str
    new_status: str
    reason: str = ""


def _amount_delta(old_status: str, new_status: str, amount: Decimal) -> Decimal:
    if new_status == PaymentStatus.SUCCESSFUL:
        return amount
    if old_status == PaymentStatus.SUCCESSFUL:
        return -amount
    return Decimal("0.00")


def _derive_booking_status(booking: Booking) -> str:
    """The booking's payment status follows from its money, except a staff cancellation."""
    if booking.payment_status == Booking.PaymentStatus.CANCELLED:
        return Booking.PaymentStatus.CANCELLED
    paid, total = booking.amount_paid, booking.total_amount
    if paid > 0 and paid >= total:
        return Booking.PaymentStatus.PAID
    if paid > 0 and paid >= deposit_for(total):
        return Booking.PaymentStatus.DEPOSIT_PAID
    payments = booking.payments.all()
    if paid == 0 and payments.filter(status=PaymentStatus.REFUNDED).exists():
        return Booking.PaymentStatus.REFUNDED
    if payments.filter(status=PaymentStatus.PENDING, payment_method__in=MANUAL_METHODS).exists():
        return Booking.PaymentStatus.PENDING_MANUAL
    return Booking.PaymentStatus.PENDING


def refresh_booking_status(booking_id: int) -> Booking:
    """Set the booking's payment status from its money (call under the booking's lock)."""
    booking = Booking.objects.get(pk=booking_id)
    status = _derive_booking_status(booking)
    if status != booking.payment_status:
        booking.payment_status = status
        booking.save(update_fields=["payment_status", "updated_at"])
    return booking


def _event(payment, *, old, new, source, applied=True, message="", raw_data=None, actor=None):
    return PaymentEvent.objects.create(
        payment=payment,
        old_status=old,
        new_status=new,
        source=source,
        applied=applied,
        message=message,
        raw_data=raw_data or {},
        actor=actor if actor is not None and actor.is_authenticated else None,
    )


def transition_payment(
    *,
    payment_id,
    new_status: str,
    source: str,
    message: str = "",
    raw_data: dict[str, Any] | None = None,
    actor=None,
) -> TransitionResult:
    """Move a payment to `new_status` if the state machine allows it; record it either way.

    A forbidden or repeated transition is refused: it leaves an event with
    ``applied=False`` and changes nothing else. Safe to call concurrently and repeatedly.
    """
    if new_status not in PaymentStatus.values:
        raise ValueError(f"unknown payment status {new_status!r}")
    if new_status in STAFF_ONLY_TARGETS and source != PaymentEvent.Source.STAFF:
        raise ValueError(f"only staff may move a payment to {new_status!r}")
    with transaction.atomic():
        payment = Payment.objects.select_for_update().get(pk=payment_id)
        old_status = payment.status
        log_fields = {**payment_log_fields(payment), "source": source}
        if new_status not in ALLOWED_TRANSITIONS[old_status]:
            reason = (
                f"already {old_status}"
                if new_status == old_status
                else f"transition {old_status} -> {new_status} is not allowed"
            )
            _event(
                payment,
                old=old_status,
                new=new_status,
                source=source,
                applied=False,
                message=f"Refused: {reason}. {message}".strip(),
                raw_data=raw_data,
                actor=actor,
            )
            logger.info("Payment %s change refused: %s", payment.pk, reason, extra=log_fields)
            return TransitionResult(payment, False, old_status, new_status, reason)

        # Lock the booking after the payment: one global order, no deadlocks.
        Booking.objects.select_for_update().filter(pk=payment.booking_id).first()
        payment.status = new_status
        update_fields = ["status", "updated_at"]
        if new_status == PaymentStatus.SUCCESSFUL:
            payment.paid_at = timezone.now()
            update_fields.append("paid_at")
        if message and new_status in {PaymentStatus.FAILED, PaymentStatus.CANCELLED}:
            payment.notes = f"{payment.notes}\n{message}".strip()
            update_fields.append("notes")
        payment.save(update_fields=update_fields)

        delta = _amount_delta(old_status, new_status, payment.amount)
        if delta:
            Booking.objects.filter(pk=payment.booking_id).update(
                amount_paid=F("amount_paid") + delta, updated_at=timezone.now()
            )
        booking = refresh_booking_status(payment.booking_id)
        payment.booking = booking
        _event(
            payment,
            old=old_status,
            new=new_status,
            source=source,
            message=message,
            raw_data=raw_data,
            actor=actor,
        )
        transaction.on_commit(
            lambda: payment_status_changed.send(
                sender=Payment, payment=payment, old_status=old_status, new_status=new_status
            )
        )
    if new_status == PaymentStatus.SUCCESSFUL:
        logger.info("Payment %s marked as successful", payment.pk, extra=log_fields)
    else:
        logger.info("Payment %s marked as %s", payment.pk, new_status, extra=log_fields)
    return TransitionResult(payment, True, old_status, new_status)


def record_creation(
    payment: Payment, *, source: str, raw_data: dict[str, Any] | None = None, actor=None
) -> PaymentEvent:
    """The first event of a payment the checkout has just created (same transaction)."""
    return _event(
        payment,
        old="",
        new=PaymentStatus.PENDING,
        source=source,
        message="Payment created",
        raw_data=raw_data,
        actor=actor,
    )


def record_gateway_message(
    *,
    payment_id,
    source: str,
    message: str,
    raw_data: dict[str, Any] | None = None,
) -> PaymentEvent:
    """Add what a gateway said about a payment to its history, without changing its status.

    The gateway keeps its own state (references, poll URLs, codes) in its own models.
    """
    payment = Payment.objects.get(pk=payment_id)
    return _event(
        payment,
        old=payment.status,
        new="",
        source=source,
        message=message,
        raw_data=raw_data,
    )


def attach_proof(*, payment: Payment, media_id: int, source: str) -> bool:
    """Link the file the payer sent as proof (a ``conversations.MessageMedia`` id) to a manual
    payment, once: staff then see it on the payment and the booking. Not a money field; the
    event keeps the link in the payment's history. Returns whether it was attached."""
    if payment.payment_method not in MANUAL_METHODS:
        raise ValueError(f"{payment.payment_method} payments are not proven by a document")
    attached = Payment.objects.filter(pk=payment.pk, proof__isnull=True).update(
        proof_id=media_id, updated_at=timezone.now()
    )
    if attached:
        payment.proof_id = media_id
        _event(
            payment,
            old=payment.status,
            new="",
            source=source,
            message="Proof of payment attached",
            raw_data={"proof_media_id": media_id},
        )
    return bool(attached)


def mark_payment_received(*, payment: Payment, actor, note: str = "") -> TransitionResult:
    """Staff confirm a manual payment (bank transfer, Omari, cash) has arrived."""
    if payment.payment_method not in MANUAL_METHODS:
        raise PaymentValidationError(
            "Gateway payments are confirmed by the gateway, not by hand; use reconciliation."
        )
    return transition_payment(
        payment_id=payment.pk,
        new_status=PaymentStatus.SUCCESSFUL,
        source=PaymentEvent.Source.STAFF,
        message=note or "Marked as received by staff",
        actor=actor,
    )


def reject_payment(*, payment: Payment, actor, reason: str = "") -> TransitionResult:
    """Staff reject a pending manual payment (e.g. a proof of payment that does not check
    out). Gateway payments end by the gateway's word: a prompt may still be approved."""
    if payment.payment_method not in MANUAL_METHODS:
        raise PaymentValidationError(
            "Gateway payments are settled by the gateway, not by hand; reconciliation "
            "resolves or expires them."
        )
    return transition_payment(
        payment_id=payment.pk,
        new_status=PaymentStatus.FAILED,
        source=PaymentEvent.Source.STAFF,
        message=reason or "Rejected by staff",
        actor=actor,
    )


def refund_payment(*, payment: Payment, actor, reason: str = "") -> TransitionResult:
    return transition_payment(
        payment_id=payment.pk,
        new_status=PaymentStatus.REFUNDED,
        source=PaymentEvent.Source.STAFF,
        message=reason or "Refunded by staff",
        actor=actor,
    )


def cancel_booking(*, booking: Booking, actor=None, reason: str = "") -> Booking:
    """Staff cancel a booking: no new payment can start, pending manual payments are cancelled.

    Money already received stays recorded (refunds are separate, per payment). Pending
    gateway payments are left to the gateway: a prompt on the payer's phone may still be
    approved, and what is paid must be recorded (and then refunded), never lost.
    """
    with transaction.atomic():
        locked = Booking.objects.select_for_update().get(pk=booking.pk)
        locked.payment_status = Booking.PaymentStatus.CANCELLED
        note = f"Cancelled by {actor or 'staff'}" + (f": {reason}" if reason else "")
        locked.notes = f"{locked.notes}\n{note}".strip()
        locked.save(update_fields=["payment_status", "notes", "updated_at"])
        # Under the booking lock: request_payment cannot add one we would miss.
        pending_manual = list(
            Payment.objects.filter(
                booking=locked, status=PaymentStatus.PENDING, payment_method__in=MANUAL_METHODS
            ).values_list("pk", flat=True)
        )
    for payment_id in pending_manual:
        transition_payment(
            payment_id=payment_id,
            new_status=PaymentStatus.CANCELLED,
            source=PaymentEvent.Source.STAFF,
            message=reason or "Booking cancelled by staff",
            actor=actor,
        )
    logger.info("Booking %s cancelled", locked.booking_reference,
                extra={"booking_reference": locked.booking_reference})  # fmt: skip
    return locked


@dataclass(frozen=True)
class TravelerDetails:
    name: str
    age: int | None = None
    nationality: str = ""
    id_number: str = ""
    traveler_type: str = Traveler.TravelerType.ADULT
    medical_dietary_requirements: str = ""


def create_booking(
    *,
    tour: Tour,
    start_date: date,
    adults: int,
    children: int = 0,
    contact=None,
    email: str = "",
    notes: str = "",
    source: str = Booking.Source.WHATSAPP,
    travelers: list[TravelerDetails] | tuple[TravelerDetails, ...] = (),
) -> Booking:
    """Create a booking priced by `quote_booking`, with its travellers, in one transaction."""
    if not tour.is_active:
        raise PaymentValidationError(f"{tour.name} is not available for booking.")
    quote = quote_booking(tour, start_date, adults, children)
    with transaction.atomic():
        booking = Booking.objects.create(
            tour=tour,
            contact=contact,
            start_date=start_date,
            end_date=start_date + timedelta(days=max(tour.duration_days - 1, 0)),
            number_of_adults=adults,
            number_of_children=children,
            total_amount=quote.total,
            email=email,
            notes=notes,
            source=source,
        )
        Traveler.objects.bulk_create(
            Traveler(booking=booking, **vars(details)) for details in travelers
        )
    return booking
