"""The payment form's services: send it, accept its submission, finish it.

The booking flow calls ``send_payment_form`` when the traveller picks a Paynow option; the data
endpoint (``flows.data_endpoint``) calls ``open_session`` and ``submit_payment_form``; the
engine routes the ``nfm_reply`` that follows to ``handle_form_completion`` (registered for
``payment_whatsapp_flow``). Payments start through the checkout
(``customer_data.checkout.request_payment``); every word the payer reads is in
``flows.copy``. Flow tokens: ``flows.form_tokens``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from typing import Any

from django.db import transaction
from django.utils import timezone

from conversations.services import queue_message
from customer_data.checkout import CheckoutResult, Payer, describe_payment, request_payment
from customer_data.gateways import payment_log_fields
from customer_data.models import Booking, Payment, PaymentEvent, PaymentStatus
from meta_integration import messages as payloads
from meta_integration.constants import FLOW_BODY_MAX
from whatsappcrm.phones import zimbabwe_mobile

from . import copy
from .definitions.payment_whatsapp_flow import FLOW_NAME, OPTION_TO_METHOD
from .engine.registry import form_completion
from .form_tokens import (
    FlowTokenInvalid,
    flow_response_of,
    flow_token_for,
    flow_token_ttl,
    new_token_id,
    token_id_from,
)
from .models import FlowFormSession, WhatsAppFlow
from .selectors import money

logger = logging.getLogger(__name__)

PAYMENT_FLOW_NAME = FLOW_NAME
_FINISHED_PAYMENT_STATES = frozenset(
    {PaymentStatus.FAILED, PaymentStatus.CANCELLED, PaymentStatus.EXPIRED}
)
# A submission claims its form while it starts the payment; a claim older than this was
# abandoned (its worker died) and can be taken over. Well past a gateway call's timeouts.
CLAIM_SECONDS = 30


def _usable(session: FlowFormSession) -> None:
    """Raise ``FlowTokenInvalid`` unless the session can still be served."""
    if session.status == FlowFormSession.Status.COMPLETED:
        raise FlowTokenInvalid("completed", session=session)
    if session.status == FlowFormSession.Status.EXPIRED:
        raise FlowTokenInvalid("expired", session=session)
    if session.expires_at <= timezone.now():
        FlowFormSession.objects.filter(
            pk=session.pk,
            status__in=[FlowFormSession.Status.SENT, FlowFormSession.Status.SUBMITTED],
        ).update(status=FlowFormSession.Status.EXPIRED)
        raise FlowTokenInvalid("expired", session=session)


def open_session(flow_token: Any) -> FlowFormSession:
    """The live form session a flow token names. Raises ``FlowTokenInvalid`` (answer 427)."""
    token_id = token_id_from(flow_token)
    session = (
        FlowFormSession.objects.select_related("booking__tour", "contact", "payment")
        .filter(token_id=token_id)
        .first()
    )
    if session is None:
        raise FlowTokenInvalid("unknown")
    _usable(session)
    return session


# --- sending the form --------------------------------------------------------------------------


def _money(amount: Any) -> Decimal:
    if isinstance(amount, float):
        raise TypeError("money must not be a float")
    try:
        value = Decimal(amount)
    except (InvalidOperation, TypeError, ValueError):
        raise ValueError(f"amount {amount!r} is not a number") from None
    if not value.is_finite() or value <= 0 or value != value.quantize(Decimal("0.01")):
        raise ValueError(f"amount {amount!r} must be positive with at most two decimals")
    return value


def send_payment_form(*, contact, booking: Booking, amount: Decimal, purpose: str) -> bool:
    """Send the payment form for ``amount`` of ``booking`` to ``contact``.

    Returns False (after logging ``payment_whatsapp_flow not found``) when no published
    ``payment_whatsapp_flow`` is registered, so the caller can offer another way to pay. A new
    form supersedes the contact's unsubmitted forms for the same booking.
    """
    flow = WhatsAppFlow.objects.filter(
        name=PAYMENT_FLOW_NAME, status=WhatsAppFlow.Status.PUBLISHED
    ).first()
    log_fields = {"booking_reference": booking.booking_reference, "contact": contact.pk}
    if flow is None:
        logger.warning("payment_whatsapp_flow not found", extra=log_fields)
        return False
    if not flow.flow_id.strip():
        logger.error(
            "payment_whatsapp_flow is published but has no Flow ID (Admin → WhatsApp Flows)",
            extra=log_fields,
        )
        return False
    amount = _money(amount)
    purpose = (purpose or "").strip()[:32]
    amount_text = money(amount)
    body = copy.form_body(
        purpose=purpose,
        booking=booking.booking_reference,
        tour=booking.tour.name,
        amount=amount_text,
    )
    with transaction.atomic():
        FlowFormSession.objects.filter(
            booking=booking, contact=contact, status=FlowFormSession.Status.SENT
        ).update(status=FlowFormSession.Status.EXPIRED)
        session = FlowFormSession.objects.create(
            token_id=new_token_id(),
            whatsapp_flow=flow,
            contact=contact,
            booking=booking,
            amount=amount,
            purpose=purpose,
            expires_at=timezone.now() + flow_token_ttl(),
        )
        payload = payloads.flow_message(
            to=contact.address,
            body=body[:FLOW_BODY_MAX],
            flow_id=flow.flow_id,
            flow_token=flow_token_for(session),
            flow_cta=copy.FORM_CTA,
            flow_action="data_exchange",
        )
        queue_message(contact, payload, flow_step="payment_form")
    logger.info("Payment form sent for %s", amount_text, extra=log_fields)
    return True


# --- the submission ----------------------------------------------------------------------------


class SubmitKind(StrEnum):
    """How the endpoint answers a Pay press."""

    STARTED = "started"  # SUCCESS: the payment request is out (or was already)
    CORRECTABLE = "correctable"  # PAYMENT again, with ``message``
    IN_PROGRESS = "in_progress"  # PAYMENT again: another press is starting it right now
    FAILED = "failed"  # ERROR, with ``message``


@dataclass(frozen=True)
class SubmitResult:
    kind: SubmitKind
    session: FlowFormSession
    message: str = ""
    payment: Payment | None = None
    checkout: CheckoutResult | None = None
    repeated: bool = False


def method_for_option(option: Any) -> str | None:
    """``ecocash`` (the form's option id) -> ``paynow_ecocash``; None if not a form method."""
    if not isinstance(option, str):
        return None
    option = option.strip().lower()
    if option in OPTION_TO_METHOD:
        return OPTION_TO_METHOD[option]
    return option if option in OPTION_TO_METHOD.values() else None


def _same_request(payment: Payment, method: str | None, phone_number: str, email: str) -> bool:
    return (
        payment.payment_method == method
        and payment.phone_number == zimbabwe_mobile(phone_number)
        and payment.email.strip().lower() == email.strip().lower()
    )


def _lock(session: FlowFormSession) -> FlowFormSession:
    return (
        FlowFormSession.objects.select_for_update(of=("self",))
        .select_related("booking__tour", "contact", "payment")
        .get(pk=session.pk)
    )


def _release_claim(session: FlowFormSession) -> None:
    """No payment started: the form can be submitted again (e.g. with a corrected number)."""
    FlowFormSession.objects.filter(pk=session.pk).update(claimed_at=None)


def _claim(session: FlowFormSession, method, phone_number, email) -> SubmitResult | None:
    """Take the form for this submission, before anything else happens; or the answer when
    it cannot be taken (a repeat of what was already started, or another press starting it).
    Raises ``FlowTokenInvalid`` for a form already used for other details."""
    with transaction.atomic():
        locked = _lock(session)
        _usable(locked)
        previous = locked.payment
        if (
            locked.status == FlowFormSession.Status.SUBMITTED
            and previous is not None
            and previous.status not in _FINISHED_PAYMENT_STATES
        ):
            if _same_request(previous, method, phone_number, email):
                logger.info(
                    "Payment form submitted again; answering payment %s",
                    previous.pk,
                    extra=payment_log_fields(previous),
                )
                return SubmitResult(
                    SubmitKind.STARTED,
                    locked,
                    payment=previous,
                    checkout=describe_payment(previous),
                    repeated=True,
                )
            raise FlowTokenInvalid("submitted_different", session=locked)
        now = timezone.now()
        if locked.claimed_at is not None and now - locked.claimed_at < timedelta(
            seconds=CLAIM_SECONDS
        ):
            logger.info(
                "Payment form pressed again while its payment is being started",
                extra={"booking_reference": locked.booking.booking_reference},
            )
            return SubmitResult(SubmitKind.IN_PROGRESS, locked, message=copy.FORM_IN_PROGRESS)
        # Committed with this block: a press arriving meanwhile gets IN_PROGRESS at once.
        locked.claimed_at = now
        locked.save(update_fields=["claimed_at"])
    return None


def submit_payment_form(
    *, session: FlowFormSession, payment_method: Any, phone_number: str, email: str
) -> SubmitResult:
    """Start the payment for a form submission (the amount is the session's).

    The form is claimed first, under its row lock and before any gateway call, whatever the
    details: a second press while the first is being started is answered at once (no
    waiting in the request), a repeat of a started submission answers that payment again (no
    second prompt) and one with other details is refused (``FlowTokenInvalid``). The
    checkout then runs outside any lock. Everything else is a ``SubmitResult``.
    """
    method = method_for_option(payment_method)
    answered = _claim(session, method, phone_number, email)
    if answered is not None:
        return answered
    if method is None:
        _release_claim(session)
        return SubmitResult(SubmitKind.CORRECTABLE, session, message=copy.FORM_CHOOSE_METHOD)
    booking = session.booking
    result = request_payment(
        booking=booking,
        amount=session.amount,
        method=method,
        payer=Payer(phone=phone_number, email=email),
        source=PaymentEvent.Source.FLOW,
    )
    if result.refused:
        _release_claim(session)
        message = copy.refusal_text(
            result, method=method, booking_reference=booking.booking_reference
        )
        correctable = result.reason in copy.CORRECTABLE
        logger.info(
            "Payment form refused (%s)",
            result.reason,
            extra={"booking_reference": booking.booking_reference},
        )
        return SubmitResult(
            SubmitKind.CORRECTABLE if correctable else SubmitKind.FAILED,
            session,
            message=message,
            payment=result.payment,
            checkout=result,
        )
    payment = result.payment
    assert payment is not None  # a request that was not refused has its payment
    with transaction.atomic():
        locked = _lock(session)
        # A payment reused from an older form of the same booking moves to this form.
        FlowFormSession.objects.filter(payment=payment).exclude(pk=locked.pk).update(payment=None)
        locked.payment = payment
        locked.status = FlowFormSession.Status.SUBMITTED
        locked.submitted_at = timezone.now()
        locked.claimed_at = None
        locked.save(update_fields=["payment", "status", "submitted_at", "claimed_at"])
    logger.info(
        "Payment form submitted; payment %s %s",
        payment.pk,
        "repeated" if result.repeated else result.outcome,
        extra=payment_log_fields(payment),
    )
    return SubmitResult(
        SubmitKind.STARTED, locked, payment=payment, checkout=result, repeated=result.repeated
    )


# --- completion (the nfm_reply) ----------------------------------------------------------------


def completion_text(session: FlowFormSession) -> str:
    """What the chat says once the form is closed."""
    booking = session.booking
    payment = session.payment
    if payment is None:
        return copy.FORM_NOT_STARTED.format(booking=booking.booking_reference)
    amount = money(payment.amount, payment.currency)
    if payment.status == PaymentStatus.SUCCESSFUL:
        return copy.FORM_PAID.format(amount=amount, booking=booking.booking_reference)
    if payment.status in _FINISHED_PAYMENT_STATES:
        return copy.FORM_ENDED.format(
            amount=amount,
            booking=booking.booking_reference,
            status=payment.get_status_display().lower(),
        )
    return copy.outcome_text(
        describe_payment(payment),
        method=payment.payment_method,
        booking_reference=booking.booking_reference,
    )


@form_completion(PAYMENT_FLOW_NAME)
def handle_form_completion(contact, message) -> None:
    """Continue the conversation after a payment form closes (its ``nfm_reply``).

    Tells the payer what happens next (approve the prompt, or the InnBucks code) and marks the
    session completed. A second completion of the same form does nothing.
    """
    response = flow_response_of(message)
    if response is None:
        logger.warning(
            "Flow completion without a readable response_json",
            extra={"contact": contact.pk, "wamid": getattr(message, "wamid", "") or "-"},
        )
        return
    try:
        token_id = token_id_from(response.get("flow_token"))
    except FlowTokenInvalid as exc:
        logger.warning(
            "Flow completion with an invalid flow token (%s)",
            exc.reason,
            extra={"contact": contact.pk, "booking_reference": "-"},
        )
        return
    with transaction.atomic():
        session = (
            FlowFormSession.objects.select_for_update(of=("self",))
            .select_related("booking__tour", "payment")
            .filter(token_id=token_id, contact=contact)
            .first()
        )
        if session is None:
            logger.warning(
                "Flow completion for an unknown form session",
                extra={"contact": contact.pk, "booking_reference": "-"},
            )
            return
        if session.completed_at is not None:
            logger.info(
                "Duplicate completion of a payment form ignored",
                extra={"booking_reference": session.booking.booking_reference},
            )
            return
        session.completed_at = timezone.now()
        session.status = (
            FlowFormSession.Status.COMPLETED
            if session.payment_id is not None
            else FlowFormSession.Status.EXPIRED
        )
        session.save(update_fields=["status", "completed_at"])
        queue_message(
            contact,
            payloads.text(contact.address, completion_text(session)),
            flow_step="payment_form_completed",
            config=getattr(message, "business_number_id", None),
        )
    logger.info(
        "Payment form completed (%s)",
        session.status,
        extra={"booking_reference": session.booking.booking_reference},
    )
