"""Reconciliation: pending Paynow payments are asked about until they end.

Every minute (Celery beat) the attempts that are due are polled (or traced, when the
initiation reply never came), the answer is applied like any status update, and payments
still pending after ``PAYNOW_PENDING_TIMEOUT`` are expired. A lost IPN therefore ends in the
right state without staff. Nothing here ever expires a payment Paynow could not be asked
about: the payer may have paid.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import urlencode

from django.conf import settings
from django.utils import timezone

from customer_data import services as money
from customer_data.gateways import GatewayStatus
from customer_data.models import PAYNOW_METHODS, PaymentEvent, PaymentStatus
from whatsappcrm.logging import mask_phone

from ..models import PaynowAttempt, PaynowConfig, PaynowStatusUpdate
from ..sdk import PaynowError, PaynowSDK
from .config import PaynowNotConfigured, config_for, pending_timeout, sdk_for
from .status_updates import apply_status_update, ask_paynow, log_fields

logger = logging.getLogger(__name__)

NOT_FOUND = "NotFound"  # what we record when a trace finds no transaction


@dataclass
class ReconciliationSummary:
    checked: int = 0
    resolved: int = 0
    expired: int = 0
    failed: int = 0
    errors: int = 0

    def __str__(self) -> str:
        return (
            f"checked {self.checked}, resolved {self.resolved}, expired {self.expired}, "
            f"failed {self.failed}, errors {self.errors}"
        )


def _backoff(attempts: int) -> timedelta:
    return timedelta(seconds=min(30 * 2 ** max(attempts - 1, 0), 300))


def due_attempts(*, now: datetime, limit: int):
    return (
        PaynowAttempt.objects.filter(
            payment__status=PaymentStatus.PENDING, payment__payment_method__in=PAYNOW_METHODS
        )
        .exclude(next_check_at__gt=now)
        .select_related("payment__booking", "config")
        .order_by("next_check_at", "created_at")[:limit]
    )


def reconcile_pending_payments(*, now=None, limit: int = 200) -> ReconciliationSummary:
    """Poll pending Paynow payments that are due, trace lost initiations, expire old ones.

    Safe to run concurrently with IPNs and with itself: every change goes through the state
    machine.
    """
    now = now or timezone.now()
    summary = ReconciliationSummary()
    clients: dict[int, PaynowSDK] = {}
    try:
        for attempt in due_attempts(now=now, limit=limit):
            summary.checked += 1
            try:
                sdk = _client(clients, config_for(attempt))
            except PaynowNotConfigured:
                summary.errors += 1
                logger.warning(
                    "Reconciliation skipped payment %s: no Paynow configuration",
                    attempt.payment_id,
                    extra=log_fields(attempt.payment, attempt),
                )
                continue
            try:
                status = check_attempt(
                    sdk, attempt, now=now, source=PaymentEvent.Source.RECONCILIATION
                )
            except PaynowError as exc:
                summary.errors += 1
                logger.warning(
                    "Reconciliation could not check payment %s: %s",
                    attempt.payment_id,
                    type(exc).__name__,
                    extra=log_fields(attempt.payment, attempt),
                )
                continue  # never expire what we could not check: the payer may have paid
            _count(summary, attempt, status, now)
    finally:
        for sdk in clients.values():
            sdk.close()
    if summary.checked:
        logger.info("Paynow reconciliation: %s", summary)
    return summary


def _client(clients: dict[int, PaynowSDK], config: PaynowConfig) -> PaynowSDK:
    if config.pk not in clients:
        clients[config.pk] = sdk_for(config)
    return clients[config.pk]


def _count(
    summary: ReconciliationSummary, attempt: PaynowAttempt, status: GatewayStatus, now
) -> None:
    if status.flag:
        return  # for staff, not for the timer
    if status.payment_status != PaymentStatus.PENDING:
        if status.gateway_status == NOT_FOUND:
            summary.failed += 1
        else:
            summary.resolved += 1
        return
    if status.gateway_status != NOT_FOUND:
        _expire_if_abandoned(attempt, now, summary)


def check_attempt(
    sdk: PaynowSDK, attempt: PaynowAttempt, *, now: datetime, source: str
) -> GatewayStatus:
    """Ask Paynow about one attempt now and apply the answer; raises ``PaynowError`` when
    Paynow cannot be asked (the attempt is then simply due again after its back-off)."""
    payment = attempt.payment
    _schedule_next_check(attempt, now)
    via = PaynowStatusUpdate.Source.POLL if attempt.poll_url else PaynowStatusUpdate.Source.TRACE
    update = ask_paynow(sdk, attempt)
    if update is None:
        grace = timedelta(seconds=float(settings.PAYNOW_TRACE_GRACE))
        if now - payment.created_at >= grace:
            # Paynow never created it: no prompt was sent and no money can move.
            money.transition_payment(
                payment_id=payment.pk,
                new_status=PaymentStatus.FAILED,
                source=source,
                message="Paynow has no record of this payment request (trace: NotFound)",
            )
        payment.refresh_from_db(fields=["status"])
        return GatewayStatus(
            reachable=True, payment_status=payment.status, gateway_status=NOT_FOUND
        )
    if update.poll_url and not attempt.poll_url:
        PaynowAttempt.objects.filter(pk=attempt.pk).update(poll_url=update.poll_url)
        attempt.poll_url = update.poll_url
        money.record_gateway_message(payment_id=payment.pk, source=source, message="Found by trace")
    flag = apply_status_update(payment=payment, update=update, source=source, raw={"via": via})
    if flag:
        # Logged like an IPN so staff see it among the flagged updates; never expired.
        PaynowStatusUpdate.objects.create(
            source=via,
            body=urlencode(update.raw_fields),
            valid=True,
            processed=True,
            processed_at=timezone.now(),
            reference=update.reference[:64],
            paynow_reference=(update.paynow_reference or "")[:64],
            status=update.status[:32],
            amount=update.amount,
            payment=payment,
            flag=flag,
        )
    payment.refresh_from_db(fields=["status"])
    return GatewayStatus(
        reachable=True, payment_status=payment.status, gateway_status=update.status, flag=flag
    )


def _schedule_next_check(attempt: PaynowAttempt, now) -> None:
    attempt.check_attempts += 1
    attempt.last_checked_at = now
    attempt.next_check_at = now + _backoff(attempt.check_attempts)
    PaynowAttempt.objects.filter(pk=attempt.pk).update(
        last_checked_at=attempt.last_checked_at,
        check_attempts=attempt.check_attempts,
        next_check_at=attempt.next_check_at,
    )


def _expire_if_abandoned(attempt: PaynowAttempt, now, summary: ReconciliationSummary) -> None:
    payment = attempt.payment
    if now - payment.created_at < pending_timeout():
        return
    if attempt.authorization_expires and now < attempt.authorization_expires:
        return  # an InnBucks code can still be used: the payer may yet pay
    attempt.refresh_from_db(fields=["gateway_status"])
    result = money.transition_payment(
        payment_id=payment.pk,
        new_status=PaymentStatus.EXPIRED,
        source=PaymentEvent.Source.RECONCILIATION,
        message=f"Still pending after {pending_timeout()} (last Paynow status: "
        f"{attempt.gateway_status or 'unknown'})",
    )
    if result.applied:
        summary.expired += 1
        logger.info(
            "Payment %s expired (phone %s)",
            payment.pk,
            mask_phone(payment.phone_number),
            extra=log_fields(payment, attempt),
        )
