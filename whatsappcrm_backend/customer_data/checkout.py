"""The checkout: the only way a payment starts, whatever the method and whoever asks.

Chat, the WhatsApp Flow payment form, the admin, commands and seed data all call
``request_payment``. It validates the amount against the booking's balance less every
payment still pending (of any age and method), creates the pending ``Payment`` in a durable
transaction under the booking lock, commits, and only then asks the method's gateway to
start it, outside any transaction or lock (the gateway's callback may arrive at once and
must find the payment). It answers with a ``CheckoutResult``: an outcome, a reason code when
refused, and the data each outcome needs. It never returns sentences: the conversation
layer (``flows.copy``) words every outcome for the traveller.

    request_payment ─▶ amount ─▶ gateway_for(method) ─▶ validate payer
        ─▶ [durable txn, booking locked] cancelled? identical pending? balance - pending?
               create Payment + event, gateway.prepare ─▶ commit
        ─▶ gateway.start ─▶ REFUSED: payment failed (state machine) │ otherwise as answered
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from django.db import transaction
from django.db.models import Sum
from django.utils import timezone

from . import services
from .gateways import (
    CheckoutOutcome,
    GatewayResponse,
    Payer,
    PaymentGateway,
    PaymentRefused,
    RefusalReason,
    gateway_for,
    payment_log_fields,
)
from .models import MANUAL_METHODS, Booking, Payment, PaymentEvent, PaymentMethod, PaymentStatus

__all__ = [
    "CheckoutOutcome",
    "CheckoutResult",
    "Payer",
    "RefusalReason",
    "describe_payment",
    "request_payment",
]

logger = logging.getLogger(__name__)

_CENT = Decimal("0.01")
ZERO = Decimal("0.00")


@dataclass(frozen=True)
class CheckoutResult:
    """How a payment request ended. No sentences: ``outcome`` and ``reason`` are codes.

    - ``payment``: the pending (or, after a gateway refusal, failed) payment; None when the
      request was refused before one was created.
    - ``redirect_url`` (REDIRECT), ``code``/``code_expires``/``deep_link`` (CODE_TO_ENTER).
    - ``gateway_message``: the gateway's own text (its instructions or refusal), or why the
      request was refused, for staff and logs only.
    - ``repeated``: an identical request was still pending; this is its payment, started once.
    - ``payer``: the payer's details as the gateway normalised them (a phone in local form).
    - ``balance_due``/``pending_amount``: the figures behind AMOUNT_OVER_BALANCE and
      PAYMENT_PENDING; ``accepted_prefixes``: the numbers WRONG_NETWORK would take.
    """

    outcome: CheckoutOutcome
    payment: Payment | None = None
    reason: RefusalReason | None = None
    redirect_url: str = ""
    code: str = ""
    code_expires: datetime | None = None
    deep_link: str = ""
    gateway_message: str = ""
    repeated: bool = False
    payer: Payer = field(default_factory=Payer)
    balance_due: Decimal | None = None
    pending_amount: Decimal = ZERO
    accepted_prefixes: tuple[str, ...] = ()

    @property
    def refused(self) -> bool:
        return self.outcome == CheckoutOutcome.REFUSED

    @property
    def started(self) -> bool:
        """A pending payment exists for this request (the gateway may still be silent)."""
        return not self.refused and self.payment is not None


def _amount(value: Any) -> Decimal | None:
    """A positive amount in cents, or None. Floats are a programming error, not a refusal."""
    if isinstance(value, float):
        raise TypeError("money must not be a float")
    try:
        amount = Decimal(value)
    except (InvalidOperation, TypeError, ValueError):
        return None
    if not amount.is_finite() or amount <= 0 or amount != amount.quantize(_CENT):
        return None
    return amount


def _refused(
    reason: RefusalReason, *, booking: Booking, detail: str = "", **data: Any
) -> CheckoutResult:
    logger.info(
        "Payment request refused (%s)%s",
        reason,
        f": {detail}" if detail else "",
        extra={"booking_reference": booking.booking_reference, "status": str(reason)},
    )
    return CheckoutResult(CheckoutOutcome.REFUSED, reason=reason, gateway_message=detail, **data)


def _from_response(
    response: GatewayResponse, payment: Payment, payer: Payer, *, repeated: bool = False
) -> CheckoutResult:
    return CheckoutResult(
        response.outcome,
        payment=payment,
        redirect_url=response.redirect_url,
        code=response.code,
        code_expires=response.code_expires,
        deep_link=response.deep_link,
        gateway_message=response.message,
        repeated=repeated,
        payer=payer,
    )


def request_payment(
    *,
    booking: Booking,
    amount: Decimal,
    method: str,
    payer: Payer,
    source: str,
    actor=None,
    notes: str = "",
    evidence: Mapping[str, Any] | None = None,
) -> CheckoutResult:
    """Start a payment of ``amount`` for ``booking`` with ``method``; see the module doc.

    ``source`` is the ``PaymentEvent.Source`` of the request (flow, staff, system), ``actor``
    the staff user if any; ``notes`` and ``evidence`` (e.g. a proof of payment's media id)
    are kept on the payment and its first event.

    Raises ``TypeError`` for a float amount and ``RuntimeError`` when called inside a
    transaction (the payment must be committed before any gateway hears of it). Every other
    end is a ``CheckoutResult``.
    """
    value = _amount(amount)
    if value is None:
        return _refused(RefusalReason.INVALID_AMOUNT, booking=booking, detail=f"{amount!r}")
    gateway = gateway_for(method) if method in PaymentMethod.values else None
    if gateway is None:
        return _refused(
            RefusalReason.METHOD_UNAVAILABLE, booking=booking, detail=f"no gateway for {method!r}"
        )
    why = gateway.unavailable_reason(method)
    if why:
        return _refused(RefusalReason.METHOD_UNAVAILABLE, booking=booking, detail=why)
    try:
        payer = gateway.validate(method=method, payer=payer)
    except PaymentRefused as exc:
        return _refused(
            exc.reason,
            booking=booking,
            detail=exc.detail,
            payer=exc.payer or payer,
            accepted_prefixes=exc.accepted_prefixes,
        )

    # durable: the pending payment must be committed before the gateway hears of it (its
    # callback may arrive at once), and no lock may be held across the call. A caller inside
    # a transaction gets a RuntimeError, not a silently lost payment.
    try:
        with transaction.atomic(durable=True):
            outcome = _create_pending(
                booking=booking,
                amount=value,
                method=method,
                payer=payer,
                gateway=gateway,
                source=source,
                actor=actor,
                notes=notes,
                evidence=evidence,
            )
    except PaymentRefused as exc:  # from gateway.prepare: nothing was written
        return _refused(exc.reason, booking=booking, detail=exc.detail)
    if isinstance(outcome, CheckoutResult):
        return outcome
    payment, repeated = outcome
    if repeated:
        logger.info(
            "Payment request repeated; answering pending payment %s",
            payment.pk,
            extra=payment_log_fields(payment),
        )
        return _from_response(gateway.describe(payment), payment, payer, repeated=True)
    return _start(gateway, payment, payer)


def _create_pending(
    *,
    booking: Booking,
    amount: Decimal,
    method: str,
    payer: Payer,
    gateway: PaymentGateway,
    source: str,
    actor,
    notes: str,
    evidence: Mapping[str, Any] | None,
) -> tuple[Payment, bool] | CheckoutResult:
    """Inside the durable transaction: ``(payment, repeated)`` or a refusal."""
    # The booking lock serialises every request for this booking (and cancel_booking).
    locked = Booking.objects.select_for_update().get(pk=booking.pk)
    if locked.payment_status == Booking.PaymentStatus.CANCELLED:
        return _refused(RefusalReason.BOOKING_CANCELLED, booking=locked)
    pending = Payment.objects.filter(booking=locked, status=PaymentStatus.PENDING)
    window = gateway.repeat_window()
    if window:
        same = (
            pending.filter(
                amount=amount,
                payment_method=method,
                phone_number=payer.phone,
                email__iexact=payer.email,
                created_at__gte=timezone.now() - window,
            )
            .order_by("-created_at")
            .first()
        )
        if same is not None:
            return same, True
    balance = locked.balance_due
    if amount > balance:
        return _refused(
            RefusalReason.AMOUNT_OVER_BALANCE,
            booking=locked,
            detail=f"{amount} > balance {balance}",
            balance_due=balance,
        )
    waiting = pending.aggregate(total=Sum("amount"))["total"] or ZERO
    if amount + waiting > balance:
        return _refused(
            RefusalReason.PAYMENT_PENDING,
            booking=locked,
            detail=f"{amount} + pending {waiting} > balance {balance}",
            balance_due=balance,
            pending_amount=waiting,
        )
    payment = Payment.objects.create(
        booking=locked,
        amount=amount,
        payment_method=method,
        phone_number=payer.phone,
        email=payer.email,
        notes=notes,
    )
    services.record_creation(payment, source=source, raw_data=dict(evidence or {}), actor=actor)
    gateway.prepare(payment, payer)
    if method in MANUAL_METHODS:
        services.refresh_booking_status(locked.pk)  # pending manual confirmation
    return payment, False


def _start(gateway: PaymentGateway, payment: Payment, payer: Payer) -> CheckoutResult:
    """Ask the gateway (after commit, outside any lock) and record a refusal."""
    response = gateway.start(payment, payer)
    if response.outcome != CheckoutOutcome.REFUSED:
        return _from_response(response, payment, payer)
    logger.warning(
        "Gateway refused payment %s: %s",
        payment.pk,
        response.message,
        extra=payment_log_fields(payment),
    )
    services.transition_payment(
        payment_id=payment.pk,
        new_status=PaymentStatus.FAILED,
        source=PaymentEvent.Source.GATEWAY,
        message=response.message,  # the gateway's own words (e.g. "Paynow: ..."), for staff
        raw_data=dict(response.raw),
    )
    payment.refresh_from_db()
    return CheckoutResult(
        CheckoutOutcome.REFUSED,
        payment=payment,
        reason=RefusalReason.GATEWAY_REFUSED,
        gateway_message=response.message,
        payer=payer,
    )


def describe_payment(payment: Payment) -> CheckoutResult:
    """What the payer was asked to do for a pending payment (prompt, link, code, proof),
    from the gateway's stored state; for a payment that has ended, its outcome is its
    status and this only repeats what was started."""
    gateway = gateway_for(payment.payment_method)
    payer = Payer(phone=payment.phone_number, email=payment.email)
    if gateway is None:
        return CheckoutResult(CheckoutOutcome.UNAVAILABLE, payment=payment, payer=payer)
    return _from_response(gateway.describe(payment), payment, payer)
