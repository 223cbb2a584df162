"""The payment form's services: send it, accept its submission, finish it.

The booking flow calls ``send_payment_form`` when the traveller picks a Paynow option; the data
endpoint (``flows.data_endpoint``) calls ``open_session`` and ``submit_payment_form``; the
inbound-message handler calls ``handle_form_completion`` for the ``nfm_reply`` that follows.

Flow tokens: the token Meta carries around is ``<token_id>:<signature>`` (``django.core.signing``
with a salt of its own). It carries nothing but the id; the ``FlowFormSession`` row holds the
binding to contact, booking, amount and expiry, so the amount can never come from the client
and a token can be revoked by changing the row.
"""

from __future__ import annotations

import json
import logging
import secrets
import time
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from django.conf import settings
from django.core import signing
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from conversations.services import queue_message
from customer_data.models import PAYNOW_METHODS, Booking, Payment, PaymentStatus
from meta_integration import messages as payloads
from meta_integration.constants import FLOW_BODY_MAX
from paynow_integration.services import (
    NETWORK_NAMES,
    InitiationOutcome,
    PaynowNotConfigured,
    PaynowService,
    PaynowValidationError,
    normalize_phone,
)

from .definitions.payment_whatsapp_flow import FLOW_NAME, OPTION_TO_METHOD
from .models import FlowFormSession, WhatsAppFlow
from .selectors import money

logger = logging.getLogger(__name__)

PAYMENT_FLOW_NAME = FLOW_NAME
FLOW_CTA = "Pay now"
_SIGNING_SALT = "flows.payment_form.flow_token"
_FINISHED_PAYMENT_STATES = frozenset(
    {PaymentStatus.FAILED, PaymentStatus.CANCELLED, PaymentStatus.EXPIRED}
)
CORRECTABLE_FIELDS = frozenset({"phone", "email", "payment_method"})
PURPOSE_LABELS = {
    "full": "Full payment",
    "deposit": "Deposit",
    "balance": "Balance",
}

# What the payer reads when a token is refused (HTTP 427); never the internal reason.
TOKEN_MESSAGES = {
    "malformed": "This payment form is not valid. Please ask for a new one in the chat.",
    "forged": "This payment form is not valid. Please ask for a new one in the chat.",
    "unknown": "This payment form is not valid. Please ask for a new one in the chat.",
    "expired": "This payment form has expired. Please ask for a new one in the chat.",
    "completed": "This payment form was already used. Check the chat for your payment.",
    "submitted_different": (
        "This payment form was already submitted. Approve the request on your phone, "
        "or ask for a new form in the chat."
    ),
}
NOT_CONFIGURED_MESSAGE = (
    "Mobile money payments are not available right now. Please try again later or choose "
    "another way to pay in the chat."
)
UNEXPECTED_MESSAGE = (
    "Something went wrong on our side and the payment was not started. Please try again in a "
    "few minutes, or choose another way to pay in the chat."
)


class FlowTokenInvalid(Exception):
    """A flow token we will not serve (HTTP 427). ``reason`` is for logs only."""

    def __init__(self, reason: str, *, session: FlowFormSession | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.session = session

    @property
    def user_message(self) -> str:
        return TOKEN_MESSAGES.get(self.reason, TOKEN_MESSAGES["unknown"])

    @property
    def booking_reference(self) -> str:
        return self.session.booking.booking_reference if self.session else "-"


# --- tokens ------------------------------------------------------------------------------------


def _signer() -> signing.Signer:
    return signing.Signer(salt=_SIGNING_SALT, algorithm="sha256")


def new_token_id() -> str:
    return secrets.token_urlsafe(18)


def sign_flow_token(token_id: str) -> str:
    """The flow token sent to Meta for the session ``token_id``."""
    return _signer().sign(token_id)


def token_id_from(flow_token: Any) -> str:
    """The session id inside a flow token; ``FlowTokenInvalid`` if it is not one of ours."""
    if not isinstance(flow_token, str) or ":" not in flow_token or len(flow_token) > 200:
        raise FlowTokenInvalid("malformed")
    try:
        return _signer().unsign(flow_token)
    except signing.BadSignature:
        raise FlowTokenInvalid("forged") from None


def flow_token_ttl() -> timedelta:
    return timedelta(seconds=float(settings.WHATSAPP_FLOW_TOKEN_TTL))


def flow_token_for(session: FlowFormSession) -> str:
    return sign_flow_token(session.token_id)


# A submission claims its form for this long (well past a Paynow call) ...
CLAIM_SECONDS = 30
# ... and a concurrent one waits at most this long for its outcome (Meta times out at 10 s).
CLAIM_WAIT_SECONDS = 8.0
IN_PROGRESS_MESSAGE = "Your payment is being started. Please wait a moment, then check WhatsApp."


def _release_claim(session: FlowFormSession) -> None:
    """No payment started: the form can be submitted again (e.g. with a corrected number)."""
    FlowFormSession.objects.filter(pk=session.pk, status=FlowFormSession.Status.SENT).update(
        submitted_at=None
    )


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


def find_session(flow_token: Any) -> FlowFormSession | None:
    """The session a token names, whatever its state; None for a bad token (for logging)."""
    try:
        token_id = token_id_from(flow_token)
    except FlowTokenInvalid:
        return None
    return FlowFormSession.objects.select_related("booking").filter(token_id=token_id).first()


# --- sending the form --------------------------------------------------------------------------


def purpose_label(purpose: str) -> str:
    return PURPOSE_LABELS.get(purpose, purpose.replace("_", " ").capitalize() or "Payment")


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
    body = (
        f"{purpose_label(purpose)} for booking {booking.booking_reference} "
        f"({booking.tour.name}): {amount_text}.\n\n"
        f"Tap “{FLOW_CTA}” to pay with EcoCash, OneMoney or InnBucks."
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
            to=contact.whatsapp_id,
            body=body[:FLOW_BODY_MAX],
            flow_id=flow.flow_id,
            flow_token=flow_token_for(session),
            flow_cta=FLOW_CTA,
            flow_action="data_exchange",
        )
        queue_message(contact, payload, flow_step="payment_form")
    logger.info("Payment form sent for %s", amount_text, extra=log_fields)
    return True


# --- the submission ----------------------------------------------------------------------------


@dataclass(frozen=True)
class SubmitResult:
    """What the endpoint answers for a Pay press.

    ``kind``: "started" (SUCCESS: the payment request is out, or was already), "correctable"
    (PAYMENT again with ``message``), "failed" (ERROR with ``message``).
    """

    kind: str
    session: FlowFormSession
    message: str = ""
    field: str = ""
    payment: Payment | None = None
    outcome: InitiationOutcome | None = None
    repeated: bool = False


def method_for_option(option: Any) -> str | None:
    """``ecocash`` (the form's option id) -> ``paynow_ecocash``; None if not a Paynow method."""
    if not isinstance(option, str):
        return None
    option = option.strip().lower()
    if option in OPTION_TO_METHOD:
        return OPTION_TO_METHOD[option]
    return option if option in PAYNOW_METHODS else None


def _same_request(payment: Payment, method: str, phone_number: str, email: str) -> bool:
    try:
        phone = normalize_phone(phone_number)
    except PaynowValidationError:
        return False
    return (
        payment.payment_method == method
        and payment.phone_number == phone
        and payment.email.strip().lower() == email.strip().lower()
    )


def submit_payment_form(
    *, session: FlowFormSession, payment_method: Any, phone_number: str, email: str
) -> SubmitResult:
    """Start the Paynow payment for a form submission (the amount is the session's).

    The session row is locked to decide: a repeat of a submission that already started a
    payment answers that payment again (no second push) and a different one is refused
    (``FlowTokenInvalid``). Paynow is called outside that lock, as ``PaynowService`` commits the
    payment before it talks to Paynow (so the IPN always finds it); two identical submissions
    racing there meet on the booking lock inside ``initiate_payment``, which reuses the first
    payment. Raises ``FlowTokenInvalid``; everything else is a ``SubmitResult``.
    """
    method = method_for_option(payment_method)
    if method is None:
        return SubmitResult(
            "correctable",
            session,
            message="Choose EcoCash, OneMoney or InnBucks.",
            field="payment_method",
        )
    deadline = time.monotonic() + CLAIM_WAIT_SECONDS
    while True:
        with transaction.atomic():
            locked = (
                FlowFormSession.objects.select_for_update(of=("self",))
                .select_related("booking__tour", "contact", "payment")
                .get(pk=session.pk)
            )
            _usable(locked)
            previous = locked.payment
            if locked.status == FlowFormSession.Status.SUBMITTED and (
                previous is not None and previous.status not in _FINISHED_PAYMENT_STATES
            ):
                if _same_request(previous, method, phone_number, email):
                    logger.info(
                        "Payment form submitted again; answering payment %s",
                        previous.pk,
                        extra=_log_fields(locked, previous),
                    )
                    return SubmitResult(
                        "started", locked, payment=previous, outcome=None, repeated=True
                    )
                raise FlowTokenInvalid("submitted_different", session=locked)
            # Claim the form for this submission (committed with this block): another
            # submission arriving meanwhile waits for our outcome instead of starting a
            # second payment. The Paynow call itself runs outside any lock.
            claimed_at = timezone.now()
            claimed = (
                FlowFormSession.objects.filter(pk=locked.pk)
                .filter(
                    Q(submitted_at__isnull=True)
                    | Q(submitted_at__lt=claimed_at - timedelta(seconds=CLAIM_SECONDS))
                    | Q(status=FlowFormSession.Status.SUBMITTED)
                )
                .update(submitted_at=claimed_at)
            )
        if claimed:
            break
        if time.monotonic() > deadline:
            return SubmitResult("failed", locked, message=IN_PROGRESS_MESSAGE)
        time.sleep(0.1)
    session = locked
    try:
        outcome = PaynowService().initiate_payment(
            session.booking, session.amount, method, phone_number, email
        )
    except PaynowValidationError as exc:
        logger.info(
            "Payment form rejected (%s): %s",
            exc.field or "-",
            exc.message,
            extra=_log_fields(session),
        )
        kind = "correctable" if exc.field in CORRECTABLE_FIELDS else "failed"
        _release_claim(session)
        return SubmitResult(kind, session, message=exc.message, field=exc.field)
    except PaynowNotConfigured:
        logger.error(
            "Payment form submitted but Paynow is not configured", extra=_log_fields(session)
        )
        _release_claim(session)
        return SubmitResult("failed", session, message=NOT_CONFIGURED_MESSAGE)
    if outcome.state == "refused":
        _release_claim(session)
        return SubmitResult("failed", session, message=outcome.message, payment=outcome.payment)

    with transaction.atomic():
        locked = (
            FlowFormSession.objects.select_for_update(of=("self",))
            .select_related("booking__tour", "contact", "payment")
            .get(pk=session.pk)
        )
        current = locked.payment
        if (
            current is not None
            and current.pk != outcome.payment.pk
            and locked.status == FlowFormSession.Status.SUBMITTED
            and current.status not in _FINISHED_PAYMENT_STATES
        ):
            # Another submission with other details won the race; ours stays pending.
            logger.warning(
                "Concurrent payment form submission with other details; payment %s not attached",
                outcome.payment.pk,
                extra=_log_fields(locked, outcome.payment),
            )
            raise FlowTokenInvalid("submitted_different", session=locked)
        # A payment reused from an older form of the same booking moves to this form.
        FlowFormSession.objects.filter(payment=outcome.payment).exclude(pk=locked.pk).update(
            payment=None
        )
        locked.payment = outcome.payment
        locked.status = FlowFormSession.Status.SUBMITTED
        locked.submitted_at = timezone.now()
        locked.save(update_fields=["payment", "status", "submitted_at"])
    logger.info(
        "Payment form submitted; payment %s %s",
        outcome.payment.pk,
        "reused" if outcome.reused else outcome.state,
        extra=_log_fields(locked, outcome.payment),
    )
    return SubmitResult("started", locked, payment=outcome.payment, outcome=outcome)


def _log_fields(session: FlowFormSession, payment: Payment | None = None) -> dict[str, str]:
    fields = {"booking_reference": session.booking.booking_reference}
    if payment is not None:
        fields["payment_id"] = str(payment.pk)
        fields["paynow_reference"] = payment.paynow_reference or "-"
    return fields


# --- completion (the nfm_reply) ----------------------------------------------------------------


def mask_phone_for_payer(phone: str) -> str:
    """``0771234123`` -> ``077…123``: enough for the payer to recognise their number."""
    phone = phone or ""
    return f"{phone[:3]}…{phone[-3:]}" if len(phone) >= 7 else "your phone"


def completion_text(session: FlowFormSession) -> str:
    """What the chat says once the form is closed."""
    booking = session.booking
    payment = session.payment
    if payment is None:
        return (
            f"The payment for booking {booking.booking_reference} was not started. "
            "You can try again, or choose another way to pay."
        )
    amount = money(payment.amount, payment.currency)
    if payment.status == PaymentStatus.SUCCESSFUL:
        return f"Thank you! We've received {amount} for booking {booking.booking_reference}."
    if payment.status in _FINISHED_PAYMENT_STATES:
        return (
            f"The payment of {amount} for booking {booking.booking_reference} did not go "
            f"through ({payment.get_status_display().lower()}). You can try again, or choose "
            "another way to pay."
        )
    if not payment.paynow_reference:
        return (
            "We couldn't confirm the payment request with Paynow just now. If a prompt arrives "
            "on your phone, approve it; we'll confirm your payment here automatically."
        )
    if payment.payment_method == "paynow_innbucks" and payment.authorization_code:
        expires = ""
        if payment.authorization_expires:
            local = timezone.localtime(payment.authorization_expires)
            expires = f" (valid until {local:%H:%M})"
        return (
            f"Your InnBucks code is {payment.authorization_code}{expires}. Open InnBucks and "
            f"enter it to pay {amount} for booking {booking.booking_reference}. "
            "We'll confirm here once it's paid."
        )
    network = NETWORK_NAMES.get(payment.payment_method) or "mobile money"
    return (
        f"We sent {_article(network)} {network} payment request for {amount} to "
        f"{mask_phone_for_payer(payment.phone_number)}; approve it on your phone to pay for "
        f"booking {booking.booking_reference}. We'll confirm here once it's paid."
    )


def flow_response_of(message) -> dict[str, Any] | None:
    """The parsed ``response_json`` of an inbound ``nfm_reply`` message, or None."""
    payload = getattr(message, "payload", None) or {}
    interactive = payload.get("interactive") if isinstance(payload, dict) else None
    reply = interactive.get("nfm_reply") if isinstance(interactive, dict) else None
    if not isinstance(reply, dict):
        return None
    response = reply.get("response_json")
    if isinstance(response, str):
        try:
            response = json.loads(response)
        except ValueError:
            return None
    return response if isinstance(response, dict) else None


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
                extra=_log_fields(session, session.payment),
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
            payloads.text(contact.whatsapp_id, completion_text(session)),
            flow_step="payment_form_completed",
            config=getattr(message, "config", None),
        )
    logger.info(
        "Payment form completed (%s)", session.status, extra=_log_fields(session, session.payment)
    )


def _article(word: str) -> str:
    """ "an EcoCash", "a OneMoney": by sound, as the traveller reads it."""
    return "an" if word[:1].lower() in "aeiu" or word.lower().startswith("inn") else "a"
