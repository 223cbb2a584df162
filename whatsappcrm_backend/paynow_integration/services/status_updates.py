"""Paynow's status messages: intake at our result URL, processing, and applying a verified
status to a payment.

``receive_status_update`` is the one intake: it stores the raw message first, whatever it
is, then verifies it; a message we refuse raises a ``StatusUpdateRejected`` subclass (the
IPN view alone turns those into HTTP answers). Processing (confirming by poll, applying) runs
afterwards in a task; a failure is recorded on the stored row (``record_failure``) and the
row stays unprocessed, to be retried or replayed. Every verified status, whether from an
IPN, a poll or a trace, ends in ``apply_status_update``, which moves payments only through
the money core's state machine.
"""

from __future__ import annotations

import logging
import re
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from customer_data import services as money
from customer_data.models import Payment, PaymentEvent

from .. import constants as C
from ..models import PaynowAttempt, PaynowConfig, PaynowStatusUpdate
from ..sdk import PaynowHashMismatch, PaynowProtocolError, PaynowSDK, StatusUpdate, parse_form
from .config import PaynowNotConfigured, config_for, get_active_config, sdk_for

logger = logging.getLogger(__name__)

_AMOUNT = re.compile(r"[0-9]{1,10}\.[0-9]{2}", re.ASCII)
_FIELD_LIMITS = {"reference": 64, "paynowreference": 64, "status": 32}


# --- intake --------------------------------------------------------------------------------


class StatusUpdateRejected(Exception):
    """A status message we refuse; it is stored (``entry``) with the reason."""

    def __init__(self, entry: PaynowStatusUpdate, reason: str) -> None:
        super().__init__(reason)
        self.entry = entry
        self.reason = reason


class UnreadableStatusUpdate(StatusUpdateRejected):
    """Not a form we can decode."""


class MalformedStatusUpdate(StatusUpdateRejected):
    """A form Paynow could not have sent (duplicated fields, NUL bytes, odd amounts, ...)."""


class StatusUpdateHashMismatch(StatusUpdateRejected):
    """The hash does not verify with our integration key: forged or for another merchant."""


class IncompleteStatusUpdate(StatusUpdateRejected):
    """Verified, but without a reference, an amount or a status."""


class StatusUpdateNotVerifiable(StatusUpdateRejected):
    """No active configuration to verify with: Paynow should send it again later."""


def verify_fields(fields: list[tuple[str, str]], config: PaynowConfig) -> bool:
    """Paynow's hash over the fields, with the configuration's integration key (the guide's
    ``verify_ipn_callback``; the client opens no connection for it)."""
    return sdk_for(config).verify_ipn_callback(fields)


def receive_status_update(
    *, body: bytes, headers: dict[str, str], remote_ip: str | None
) -> PaynowStatusUpdate:
    """Store a status message from our result URL and verify it.

    Returns the stored, valid row, ready for ``process_status_message``. Raises a
    ``StatusUpdateRejected`` subclass (the row is stored and marked) for anything else.
    """
    # Stored first, whatever it is; NUL bytes cannot be stored in PostgreSQL text columns.
    text = body.decode("utf-8", errors="replace").replace("\x00", "\ufffd")
    entry = PaynowStatusUpdate.objects.create(
        source=PaynowStatusUpdate.Source.IPN,
        body=text,
        headers={name: _printable(value) for name, value in headers.items()},
        remote_ip=remote_ip,
    )
    try:
        fields = parse_form(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise UnreadableStatusUpdate(entry, _reject(entry, f"Unreadable body: {exc}")) from None
    problem = _malformed(fields)
    if problem:
        raise MalformedStatusUpdate(entry, _reject(entry, f"Malformed status update: {problem}"))
    values = {key.lower(): value for key, value in fields}
    # Searchable in the admin even when the message turns out to be forged.
    entry.reference = values.get("reference", "")
    entry.paynow_reference = values.get("paynowreference", "")
    entry.status = values.get("status", "")
    try:
        config = get_active_config()
    except PaynowNotConfigured:
        # Stored; Paynow sends it again once staff configure Paynow.
        reason = _reject(entry, "No active Paynow configuration to verify with")
        raise StatusUpdateNotVerifiable(entry, reason) from None
    if not verify_fields(fields, config):
        # Nothing from an unverified message goes into the log line (it is attacker text).
        logger.warning("Invalid IPN signature", extra={"booking_reference": "-"})
        reason = _reject(entry, "Invalid IPN signature", valid=False)
        raise StatusUpdateHashMismatch(entry, reason)
    entry.valid = True
    entry.amount = Decimal(values["amount"]) if "amount" in values else None
    entry.save()
    if not entry.reference or entry.amount is None or not entry.status:
        _finish(entry, exception="Missing reference, amount or status")
        raise IncompleteStatusUpdate(entry, "Missing reference, amount or status")
    return entry


def _printable(value: str) -> str:
    return str(value).replace("\x00", "\ufffd")[:500]


def _malformed(fields: list[tuple[str, str]]) -> str:
    """Why a status update cannot be a real one from Paynow ("" when it can)."""
    names = [key.lower() for key, _ in fields]
    if len(names) != len(set(names)):
        return "a field appears twice"
    for key, value in fields:
        if "\x00" in key or "\x00" in value:
            return "NUL byte"
        limit = _FIELD_LIMITS.get(key.lower())
        if limit and len(value) > limit:
            return f"{key} longer than {limit} characters"
    amount = dict((k.lower(), v) for k, v in fields).get("amount")
    if amount is not None and not _AMOUNT.fullmatch(amount):
        return "amount is not a plain number with two decimals"
    return ""


def _reject(entry: PaynowStatusUpdate, reason: str, *, valid: bool | None = None) -> str:
    entry.valid = valid
    entry.exception = reason
    entry.processed = True
    entry.processed_at = timezone.now()
    entry.save()
    return reason


def _finish(entry: PaynowStatusUpdate, *, exception: str = "", flag: str = "") -> None:
    entry.processed = True
    entry.processed_at = timezone.now()
    entry.processing_ms = int((entry.processed_at - entry.received_at).total_seconds() * 1000)
    if exception:
        entry.exception = exception
    if flag:
        entry.flag = flag
    entry.save()


# --- processing ----------------------------------------------------------------------------


def process_status_message(entry_id: int) -> None:
    """Act on a stored, valid status message: confirm by polling and apply it (idempotent).

    A failure (Paynow unreachable for the confirming poll, or a bug) is recorded on the row,
    which stays unprocessed, and raised again for the task to retry.
    """
    entry = PaynowStatusUpdate.objects.get(pk=entry_id)
    try:
        _process(entry_id)
    except Exception as exc:
        entry.record_failure(exc)
        raise


def _process(entry_id: int) -> None:
    with transaction.atomic():
        entry = PaynowStatusUpdate.objects.select_for_update().get(pk=entry_id)
        if entry.processed or not entry.valid:
            return
        payment = Payment.objects.filter(reference=entry.reference).first()
        if payment is None:
            logger.warning(
                "Paynow status update for unknown reference %s flagged for staff",
                entry.reference,
                extra={"paynow_reference": entry.paynow_reference or "-"},
            )
            _finish(entry, flag=PaynowStatusUpdate.Flag.UNKNOWN_REFERENCE)
            return
        entry.payment = payment
        if not payment.is_paynow:
            logger.warning(
                "Paynow status update for a %s payment flagged for staff",
                payment.payment_method,
                extra=log_fields(payment),
            )
            _finish(entry, flag=PaynowStatusUpdate.Flag.UNKNOWN_REFERENCE)
            return
        if entry.amount != payment.amount:
            logger.warning(
                "Paynow status update amount %s differs from payment amount %s; not credited",
                entry.amount,
                payment.amount,
                extra=log_fields(payment),
            )
            _finish(entry, flag=PaynowStatusUpdate.Flag.AMOUNT_MISMATCH)
            money.record_gateway_message(
                payment_id=payment.pk,
                source=PaymentEvent.Source.IPN,
                message=f"Status update with amount {entry.amount} flagged: not credited",
                raw_data={"body": entry.body},
            )
            return
        entry.save(update_fields=["payment"])
    update = StatusUpdate(
        reference=entry.reference,
        amount=entry.amount,
        paynow_reference=entry.paynow_reference or None,
        poll_url=None,
        status=entry.status,
        raw_fields=tuple(parse_form(entry.body.encode())),
    )
    confirmed = update
    if _needs_confirmation(update) and settings.PAYNOW_CONFIRM_BY_POLL:
        # PaynowError: the task retries.
        confirmed = _confirm_by_poll(attempt_for(payment)) or update
    flag = apply_status_update(
        payment=payment, update=confirmed, source=PaymentEvent.Source.IPN, raw={"ipn": entry.body}
    )
    _finish(entry, flag=flag)


def _needs_confirmation(update: StatusUpdate) -> bool:
    """Only updates that would move money or end a payment are worth a round trip."""
    return update.outcome not in (None, C.OUTCOME_PENDING)


def attempt_for(payment: Payment) -> PaynowAttempt:
    """The payment's Paynow attempt (created with every Paynow payment)."""
    return PaynowAttempt.objects.select_related("payment__booking", "config").get(payment=payment)


def log_fields(payment: Payment, attempt: PaynowAttempt | None = None) -> dict[str, str]:
    if attempt is None:
        attempt = PaynowAttempt.objects.filter(payment=payment).first()
    return {
        "payment_id": str(payment.pk),
        "booking_reference": payment.booking.booking_reference,
        "paynow_reference": (attempt.paynow_reference if attempt else "") or "-",
    }


def ask_paynow(sdk: PaynowSDK, attempt: PaynowAttempt) -> StatusUpdate | None:
    """Paynow's current word on a payment: a poll of the poll URL *we stored* (never one from
    a message), or, before we have one (the initiation reply was lost or overtaken), a trace
    by merchant trace. None when Paynow has no such transaction (or we have neither)."""
    if attempt.poll_url:
        update = sdk.poll(attempt.poll_url)
    elif attempt.merchant_trace:
        update = sdk.trace(attempt.merchant_trace)
    else:
        return None
    if update is not None and update.reference != attempt.payment.reference:
        raise PaynowHashMismatch("Paynow answered for a different reference")
    return update


def _confirm_by_poll(attempt: PaynowAttempt) -> StatusUpdate | None:
    """The true status before we act on a status update; None for an attempt Paynow cannot
    tell us about (moved from before merchant traces, with no poll URL). A transaction a
    trace cannot find yet is retried later (PaynowProtocolError)."""
    if not (attempt.poll_url or attempt.merchant_trace):
        return None
    with sdk_for(config_for(attempt)) as sdk:
        confirmed = ask_paynow(sdk, attempt)
    if confirmed is None:
        raise PaynowProtocolError("trace found no transaction for this payment yet")
    return confirmed


def apply_status_update(
    *, payment: Payment, update: StatusUpdate, source: str, raw: dict[str, Any] | None = None
) -> str:
    """Apply a verified Paynow status to a payment; returns a staff flag ("" for none).

    Statuses map as ``constants.STATUS_TO_OUTCOME`` says (docs/DESIGN-NOTES.md has the two
    choices Paynow leaves open). A payment never moves backwards; `Disputed`, a reported
    refund and unknown statuses are recorded and flagged, never credited.
    """
    raw = {"fields": list(update.raw_fields), **(raw or {})}
    if update.amount != payment.amount:
        money.record_gateway_message(
            payment_id=payment.pk,
            source=source,
            message=f"Paynow reports amount {update.amount}, not {payment.amount}: not credited",
            raw_data=raw,
        )
        return PaynowStatusUpdate.Flag.AMOUNT_MISMATCH
    _remember(payment, update)
    outcome = update.outcome
    if outcome is None or outcome in (C.OUTCOME_PENDING, C.OUTCOME_REFUNDED):
        if update.needs_staff:
            flag = PaynowStatusUpdate.Flag.DISPUTED
        elif outcome == C.OUTCOME_REFUNDED:
            flag = PaynowStatusUpdate.Flag.REFUND_REPORTED  # refunds are confirmed by staff
        elif outcome is None:
            flag = PaynowStatusUpdate.Flag.UNKNOWN_STATUS
        else:
            flag = ""
        money.record_gateway_message(
            payment_id=payment.pk,
            source=source,
            message=f"Paynow status {update.status!r}" + (f" flagged ({flag})" if flag else ""),
            raw_data=raw,
        )
        return flag
    result = money.transition_payment(
        payment_id=payment.pk,
        new_status=outcome,
        source=source,
        message=f"Paynow status {update.status!r}",
        raw_data=raw,
    )
    if not result.applied and result.old_status != outcome:
        logger.warning(
            "Paynow status %s conflicts with payment %s already %s",
            update.status,
            payment.pk,
            result.old_status,
            extra=log_fields(payment),
        )
        return PaynowStatusUpdate.Flag.CONFLICTING_STATUS
    return ""


def _remember(payment: Payment, update: StatusUpdate) -> None:
    """Keep Paynow's word on the attempt: its last status, and its reference once known."""
    attempts = PaynowAttempt.objects.filter(payment=payment)
    attempts.update(gateway_status=update.status[:32], updated_at=timezone.now())
    if update.paynow_reference:
        attempts.filter(paynow_reference="").update(paynow_reference=update.paynow_reference[:64])
