"""Paynow services: initiating payments, applying status updates, reconciliation.

`PaynowService.initiate_payment` is the one path every caller uses (flows, admin, commands).
Status updates (IPN, poll, trace) all end in `apply_status_update`, which moves payments
only through the money core's state machine.
"""

from __future__ import annotations

import logging
import re
import secrets
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from typing import Any
from urllib.parse import urlencode

import httpx
from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import transaction
from django.db.models import Sum
from django.utils import timezone

from customer_data import services as money
from customer_data.models import (
    PAYNOW_METHODS,
    Booking,
    Payment,
    PaymentEvent,
    PaymentStatus,
)
from whatsappcrm.logging import mask_phone

from . import constants as C
from .models import PaynowConfig, PaynowStatusUpdate
from .sdk import (
    PaynowError,
    PaynowGatewayError,
    PaynowHashMismatch,
    PaynowProtocolError,
    PaynowSDK,
    PaynowUnavailable,
    StatusUpdate,
    parse_form,
)

logger = logging.getLogger(__name__)

IPN_PATH = "/crm-api/paynow/ipn/"
RETURN_PATH = "/crm-api/paynow/return/"

# Zimbabwean mobile prefixes (after 07): 1 NetOne (OneMoney), 3 Telecel, 7/8 Econet (EcoCash).
NETWORK_PREFIXES = {
    "paynow_ecocash": ("077", "078"),
    "paynow_onemoney": ("071",),
    "paynow_innbucks": ("071", "073", "077", "078"),
}
NETWORK_NAMES = {"paynow_ecocash": "EcoCash", "paynow_onemoney": "OneMoney", "paynow_innbucks": ""}


class PaynowNotConfigured(Exception):
    """No active Paynow configuration: staff must add one in the admin."""


class PaynowValidationError(ValueError):
    """A request we refuse before talking to Paynow; `message` is safe to show the payer.

    `field` names what to correct (phone, email, amount, payment_method) so a form can
    point at it.
    """

    def __init__(self, message: str, *, field: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.field = field


@dataclass(frozen=True)
class InitiationOutcome:
    """What happened when we asked Paynow to start a payment.

    `state` is "started" (the prompt is on its way), "refused" (Paynow said no; payment
    failed) or "unconfirmed" (we could not reach Paynow; the payment stays pending and
    reconciliation resolves it). `message` is written for the payer.
    """

    payment: Payment
    state: str
    message: str
    instructions: str = ""
    authorization_code: str = ""
    deep_link: str = ""
    reused: bool = False

    @property
    def started(self) -> bool:
        return self.state == "started"


def get_active_config() -> PaynowConfig:
    config = PaynowConfig.objects.filter(is_active=True).first()
    if config is None:
        raise PaynowNotConfigured("No active Paynow configuration (Admin → Paynow Configurations).")
    return config


def sdk_for(config: PaynowConfig) -> PaynowSDK:
    timeout = httpx.Timeout(
        float(settings.PAYNOW_READ_TIMEOUT),
        connect=float(settings.PAYNOW_CONNECT_TIMEOUT),
    )
    return PaynowSDK(
        config.integration_id,
        config.integration_key,
        remote_url=config.api_base_url,
        timeout=timeout,
    )


def site_url(path: str) -> str:
    return settings.SITE_URL.rstrip("/") + path


def normalize_phone(raw: str) -> str:
    """A Zimbabwean mobile number in any common form -> the local form `07XXXXXXXX`."""
    digits = re.sub(r"[\s\-().]", "", str(raw or ""))
    if digits.startswith("+"):
        digits = digits[1:]
    if not digits.isdigit():
        raise PaynowValidationError(
            "That phone number doesn't look right. Use a Zimbabwean mobile number, "
            "e.g. 0771234567.",
            field="phone",
        )
    if digits.startswith("00263"):
        digits = digits[5:]
    elif digits.startswith("263"):
        digits = digits[3:]
    elif digits.startswith("0"):
        digits = digits[1:]
    if not re.fullmatch(r"7[1378]\d{7}", digits):
        raise PaynowValidationError(
            "That phone number doesn't look like a Zimbabwean mobile number "
            "(e.g. 0771234567 or +263 77 123 4567).",
            field="phone",
        )
    return "0" + digits


def validate_payment_request(
    *, booking: Booking, amount: Decimal, payment_method: str, phone_number: str, email: str
) -> tuple[Decimal, str, str]:
    """Check a Paynow request; returns (amount, phone in local form, e-mail)."""
    if not settings.PAYNOW_ENABLED:
        raise PaynowValidationError(
            "Mobile money payments are not available right now.", field="payment_method"
        )
    if payment_method not in PAYNOW_METHODS:
        raise PaynowValidationError("Choose EcoCash, OneMoney or InnBucks.", field="payment_method")
    phone = normalize_phone(phone_number)
    if not phone.startswith(NETWORK_PREFIXES[payment_method]):
        name = NETWORK_NAMES[payment_method]
        prefixes = " or ".join(NETWORK_PREFIXES[payment_method])
        raise PaynowValidationError(
            f"{phone[:3]}… is not an {name} number. {name} numbers start with {prefixes}.",
            field="phone",
        )
    email = (email or "").strip()
    try:
        validate_email(email)
    except ValidationError:
        raise PaynowValidationError(
            "Please enter a valid e-mail address for the receipt.", field="email"
        ) from None
    if isinstance(amount, float):
        raise TypeError("money must not be a float")
    try:
        amount = Decimal(amount)
    except (ArithmeticError, ValueError, TypeError):
        raise PaynowValidationError("The amount is not a number.", field="amount") from None
    if not amount.is_finite() or amount <= 0:
        raise PaynowValidationError("The amount must be more than zero.", field="amount")
    if amount != amount.quantize(Decimal("0.01")):
        raise PaynowValidationError(
            "The amount can have at most two decimal places.", field="amount"
        )
    return amount, phone, email


def _pending_paynow_payments(booking: Booking):
    cutoff = timezone.now() - pending_timeout()
    return Payment.objects.filter(
        booking=booking,
        status=PaymentStatus.PENDING,
        payment_method__in=PAYNOW_METHODS,
        created_at__gte=cutoff,
    )


def pending_timeout() -> timedelta:
    return timedelta(minutes=float(settings.PAYNOW_PENDING_TIMEOUT))


def _log_fields(payment: Payment) -> dict[str, str]:
    return {
        "payment_id": str(payment.pk),
        "booking_reference": payment.booking.booking_reference,
        "paynow_reference": payment.paynow_reference or "-",
    }


class PaynowService:
    """Payments through one Paynow integration (the active configuration by default)."""

    def __init__(self, config: PaynowConfig | None = None) -> None:
        self.config = config or get_active_config()

    def initiate_payment(
        self,
        booking: Booking,
        amount: Decimal,
        payment_method: str,
        phone_number: str,
        email: str,
        *,
        source: str = PaymentEvent.Source.FLOW,
    ) -> InitiationOutcome:
        """Validate, create the pending payment, then ask Paynow to push the prompt.

        Raises `PaynowValidationError` for a request to correct. A repeat of the same
        request while the first is still pending returns the first payment (no second
        prompt). Paynow's refusal and an unreachable Paynow are outcomes, not exceptions.
        """
        amount, phone, email = validate_payment_request(
            booking=booking,
            amount=amount,
            payment_method=payment_method,
            phone_number=phone_number,
            email=email,
        )
        window = timedelta(seconds=float(settings.PAYNOW_DUPLICATE_WINDOW))
        # durable: the pending payment must be committed before Paynow hears of it (its
        # status update may arrive at once), and no lock may be held across the call. A
        # caller inside a transaction gets a RuntimeError, not a silently lost payment.
        with transaction.atomic(durable=True):
            # The booking lock serialises concurrent requests for one booking.
            locked = Booking.objects.select_for_update().get(pk=booking.pk)
            pending = _pending_paynow_payments(locked)
            same = pending.filter(
                amount=amount,
                payment_method=payment_method,
                phone_number=phone,
                created_at__gte=timezone.now() - window,
            ).first()
            if same is not None:
                logger.info(
                    "Paynow request repeated; reusing pending payment %s",
                    same.pk,
                    extra=_log_fields(same),
                )
                return self._outcome_for_existing(same)
            waiting = pending.aggregate(total=Sum("amount"))["total"] or Decimal("0")
            if waiting and amount + waiting > locked.balance_due:
                raise PaynowValidationError(
                    f"A payment of {waiting} for booking {locked.booking_reference} is still "
                    "waiting for approval. Approve or decline it on your phone first, or try "
                    "again in a few minutes.",
                    field="amount",
                )
            try:
                payment = money.create_payment(
                    booking=locked,
                    amount=amount,
                    payment_method=payment_method,
                    source=source,
                    phone_number=phone,
                    email=email,
                    merchant_trace=secrets.token_hex(16),
                    next_check_at=timezone.now() + timedelta(seconds=30),
                )
            except money.PaymentValidationError as exc:
                raise PaynowValidationError(str(exc), field="amount") from exc
        return self._push(payment)

    def _outcome_for_existing(self, payment: Payment) -> InitiationOutcome:
        return InitiationOutcome(
            payment=payment,
            state="started" if payment.paynow_reference else "unconfirmed",
            message=payment.instructions or "Your payment request is on its way.",
            instructions=payment.instructions,
            authorization_code=payment.authorization_code,
            deep_link=_deep_link(payment.authorization_code),
            reused=True,
        )

    def _push(self, payment: Payment) -> InitiationOutcome:
        booking = payment.booking
        with sdk_for(self.config) as sdk:
            try:
                result = sdk.express_checkout(
                    reference=payment.reference,
                    amount=payment.amount,
                    method=C.PAYMENT_METHOD_TO_PAYNOW[payment.payment_method],
                    phone=payment.phone_number,
                    auth_email=self.config.auth_email or payment.email,
                    result_url=site_url(IPN_PATH),
                    return_url=site_url(f"{RETURN_PATH}?reference={payment.reference}"),
                    merchant_trace=payment.merchant_trace,
                    additional_info=f"Booking {booking.booking_reference}",
                )
            except PaynowGatewayError as exc:
                logger.warning(
                    "Paynow refused payment %s: %s",
                    payment.pk,
                    exc.message,
                    extra=_log_fields(payment),
                )
                money.transition_payment(
                    payment_id=payment.pk,
                    new_status=PaymentStatus.FAILED,
                    source=PaymentEvent.Source.GATEWAY,
                    message=f"Paynow: {exc.message}",
                    raw_data={"fields": list(exc.raw_fields)},
                )
                payment.refresh_from_db()
                return InitiationOutcome(
                    payment=payment,
                    state="refused",
                    message=f"Paynow could not start the payment: {exc.message}",
                )
            except (PaynowUnavailable, PaynowHashMismatch, PaynowError) as exc:
                # The request may or may not have reached Paynow: never push again; trace it.
                logger.warning(
                    "Paynow initiation for payment %s unconfirmed (%s); reconciliation will "
                    "trace it",
                    payment.pk,
                    type(exc).__name__,
                    extra=_log_fields(payment),
                )
                money.record_gateway_message(
                    payment_id=payment.pk,
                    source=PaymentEvent.Source.GATEWAY,
                    message=f"Initiation unconfirmed: {type(exc).__name__}: {exc}",
                    next_check_at=timezone.now() + timedelta(seconds=15),
                )
                payment.refresh_from_db()
                return InitiationOutcome(
                    payment=payment,
                    state="unconfirmed",
                    message="We couldn't confirm the payment request with Paynow just now. "
                    "If a prompt arrives on your phone, approve it; we will confirm your "
                    "payment automatically.",
                )
        payment = money.record_gateway_message(
            payment_id=payment.pk,
            source=PaymentEvent.Source.GATEWAY,
            message="Paynow accepted the payment request",
            raw_data={"fields": list(result.raw_fields)},
            poll_url=result.poll_url,
            paynow_reference=result.paynow_reference or "",
            instructions=result.instructions or "",
            authorization_code=result.authorization_code or "",
            authorization_expires=result.authorization_expires,
            gateway_status=result.status,
        )
        logger.info("Payment initiated successfully", extra=_log_fields(payment))
        return InitiationOutcome(
            payment=payment,
            state="started",
            message=payment.instructions or "Check your phone and approve the payment.",
            instructions=payment.instructions,
            authorization_code=payment.authorization_code,
            deep_link=result.innbucks_deep_link or "",
        )


def _deep_link(code: str) -> str:
    return C.INNBUCKS_DEEP_LINK_TEMPLATE.format(code=code) if code else ""


# --- status updates ----------------------------------------------------------------------


def record_status_message(
    *, body: bytes, headers: dict[str, str], remote_ip: str | None
) -> tuple[PaynowStatusUpdate, int]:
    """Store a status message from our result URL, verify it, and decide the HTTP answer.

    Returns the stored row and the status code to answer: 200 when stored and valid (or
    stored and flagged for staff), 403 on a bad hash, 400 when unreadable. Processing
    (confirmation by poll, applying the status) happens afterwards, in a task.
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
        _reject(entry, f"Unreadable body: {exc}")
        return entry, 400
    problem = _malformed(fields)
    if problem:
        _reject(entry, f"Malformed status update: {problem}")
        return entry, 400
    values = {key.lower(): value for key, value in fields}
    # Searchable in the admin even when the message turns out to be forged.
    entry.reference = values.get("reference", "")
    entry.paynow_reference = values.get("paynowreference", "")
    entry.status = values.get("status", "")
    try:
        config = get_active_config()
    except PaynowNotConfigured:
        _reject(entry, "No active Paynow configuration to verify with")
        return entry, 503  # stored; Paynow retries once staff configure it
    if not sdk_for(config).verify_ipn_callback(fields):
        # Nothing from an unverified message goes into the log line (it is attacker text).
        logger.warning("Invalid IPN signature", extra={"booking_reference": "-"})
        _reject(entry, "Invalid IPN signature", valid=False)
        return entry, 403
    entry.valid = True
    entry.amount = Decimal(values["amount"]) if "amount" in values else None
    entry.save()
    if not entry.reference or entry.amount is None or not entry.status:
        _finish(entry, error="Missing reference, amount or status")
        return entry, 400
    return entry, 200


_AMOUNT = re.compile(r"[0-9]{1,10}\.[0-9]{2}", re.ASCII)
_FIELD_LIMITS = {"reference": 64, "paynowreference": 64, "status": 32}


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


def _reject(entry: PaynowStatusUpdate, error: str, *, valid: bool | None = None) -> None:
    entry.valid = valid
    entry.error = error
    entry.processed = True
    entry.processed_at = timezone.now()
    entry.save()


def _finish(entry: PaynowStatusUpdate, *, error: str = "", flag: str = "") -> None:
    entry.processed = True
    entry.processed_at = timezone.now()
    entry.processing_ms = int((entry.processed_at - entry.received_at).total_seconds() * 1000)
    if error:
        entry.error = error
    if flag:
        entry.flag = flag
    entry.save()


def process_status_message(entry_id: int) -> None:
    """Act on a stored, valid status message: confirm by polling and apply it (idempotent)."""
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
                extra=_log_fields(payment),
            )
            _finish(entry, flag=PaynowStatusUpdate.Flag.UNKNOWN_REFERENCE)
            return
        if entry.amount != payment.amount:
            logger.warning(
                "Paynow status update amount %s differs from payment amount %s; not credited",
                entry.amount,
                payment.amount,
                extra=_log_fields(payment),
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
        confirmed = _confirm_by_poll(payment)  # raises PaynowError: the task retries
        if confirmed is None:
            confirmed = update
    flag = apply_status_update(
        payment=payment, update=confirmed, source=PaymentEvent.Source.IPN, raw={"ipn": entry.body}
    )
    _finish(entry, flag=flag)


def _needs_confirmation(update: StatusUpdate) -> bool:
    """Only updates that would move money or end a payment are worth a round trip."""
    return update.outcome not in (None, C.OUTCOME_PENDING)


def ask_paynow(sdk: PaynowSDK, payment: Payment) -> StatusUpdate | None:
    """Paynow's current word on a payment: a poll of the poll URL *we stored* (never one from
    a message), or, before we have one (the initiation reply was lost or overtaken), a trace
    by merchant trace. None when Paynow has no such transaction (or we have neither)."""
    if payment.poll_url:
        update = sdk.poll(payment.poll_url)
    elif payment.merchant_trace:
        update = sdk.trace(payment.merchant_trace)
    else:
        return None
    if update is not None and update.reference != payment.reference:
        raise PaynowHashMismatch("Paynow answered for a different reference")
    return update


def _confirm_by_poll(payment: Payment) -> StatusUpdate | None:
    """The true status before we act on a status update; None for payments Paynow cannot
    tell us about. A transaction trace cannot find yet is retried later."""
    if not (payment.poll_url or payment.merchant_trace):
        return None
    with sdk_for(get_active_config()) as sdk:
        confirmed = ask_paynow(sdk, payment)
    if confirmed is None:
        raise PaynowProtocolError("trace found no transaction for this payment yet")
    return confirmed


def apply_status_update(
    *, payment: Payment, update: StatusUpdate, source: str, raw: dict[str, Any] | None = None
) -> str:
    """Apply a verified Paynow status to a payment; returns a staff flag ("" for none).

    Statuses map as PROTOCOLS.md says. A payment never moves backwards; `Disputed`, a
    reported refund and unknown statuses are recorded and flagged, never credited.
    """
    raw = {"fields": list(update.raw_fields), **(raw or {})}
    fields: dict[str, Any] = {"gateway_status": update.status}
    if update.paynow_reference and not payment.paynow_reference:
        fields["paynow_reference"] = update.paynow_reference
    if update.amount != payment.amount:
        money.record_gateway_message(
            payment_id=payment.pk,
            source=source,
            message=f"Paynow reports amount {update.amount}, not {payment.amount}: not credited",
            raw_data=raw,
        )
        return PaynowStatusUpdate.Flag.AMOUNT_MISMATCH
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
            **fields,
        )
        return flag
    # The transition's own event records this message; only the gateway's fields are kept.
    Payment.objects.filter(pk=payment.pk).update(**fields, updated_at=timezone.now())
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
            extra=_log_fields(payment),
        )
        return PaynowStatusUpdate.Flag.CONFLICTING_STATUS
    return ""


# --- reconciliation ----------------------------------------------------------------------


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


def reconcile_pending_payments(*, now=None, limit: int = 200) -> ReconciliationSummary:
    """Poll pending Paynow payments that are due, trace lost initiations, expire old ones.

    A lost IPN therefore ends in the right state without staff. Safe to run concurrently
    with IPNs and with itself: every change goes through the state machine.
    """
    now = now or timezone.now()
    summary = ReconciliationSummary()
    due = (
        Payment.objects.filter(status=PaymentStatus.PENDING, payment_method__in=PAYNOW_METHODS)
        .exclude(next_check_at__gt=now)
        .order_by("next_check_at", "created_at")[:limit]
    )
    try:
        config = get_active_config()
    except PaynowNotConfigured:
        logger.warning("Reconciliation skipped: no active Paynow configuration")
        return summary
    with sdk_for(config) as sdk:
        for payment in due:
            summary.checked += 1
            try:
                _reconcile_one(sdk, payment, now, summary)
            except PaynowError as exc:
                summary.errors += 1
                logger.warning(
                    "Reconciliation could not check payment %s: %s",
                    payment.pk,
                    type(exc).__name__,
                    extra=_log_fields(payment),
                )
                # Never expire what we could not check: the payer may have paid.
    if summary.checked:
        logger.info("Paynow reconciliation: %s", summary)
    return summary


def _schedule_next_check(payment: Payment, now) -> None:
    attempts = payment.check_attempts + 1
    Payment.objects.filter(pk=payment.pk).update(
        last_checked_at=now, check_attempts=attempts, next_check_at=now + _backoff(attempts)
    )


def _reconcile_one(sdk: PaynowSDK, payment: Payment, now, summary: ReconciliationSummary) -> None:
    _schedule_next_check(payment, now)
    via = PaynowStatusUpdate.Source.POLL if payment.poll_url else PaynowStatusUpdate.Source.TRACE
    update = ask_paynow(sdk, payment)
    if update is None:
        grace = timedelta(seconds=float(settings.PAYNOW_TRACE_GRACE))
        if now - payment.created_at >= grace:
            # Paynow never created it: no prompt was sent and no money can move.
            money.transition_payment(
                payment_id=payment.pk,
                new_status=PaymentStatus.FAILED,
                source=PaymentEvent.Source.RECONCILIATION,
                message="Paynow has no record of this payment request (trace: NotFound)",
            )
            summary.failed += 1
        return
    if update.poll_url and not payment.poll_url:
        money.record_gateway_message(
            payment_id=payment.pk,
            source=PaymentEvent.Source.RECONCILIATION,
            message="Found by trace",
            poll_url=update.poll_url,
        )
    flag = apply_status_update(
        payment=payment, update=update, source=PaymentEvent.Source.RECONCILIATION, raw={"via": via}
    )
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
        return
    payment.refresh_from_db()
    if payment.status != PaymentStatus.PENDING:
        summary.resolved += 1
        return
    _expire_if_abandoned(payment, now, summary)


def _expire_if_abandoned(payment: Payment, now, summary: ReconciliationSummary) -> None:
    if now - payment.created_at < pending_timeout():
        return
    if payment.authorization_expires and now < payment.authorization_expires:
        return  # an InnBucks code can still be used: the payer may yet pay
    result = money.transition_payment(
        payment_id=payment.pk,
        new_status=PaymentStatus.EXPIRED,
        source=PaymentEvent.Source.RECONCILIATION,
        message=f"Still pending after {pending_timeout()} (last Paynow status: "
        f"{payment.gateway_status or 'unknown'})",
    )
    if result.applied:
        summary.expired += 1
        logger.info(
            "Payment %s expired (phone %s)",
            payment.pk,
            mask_phone(payment.phone_number),
            extra=_log_fields(payment),
        )
