"""Named actions flow definitions can run (``{"type": "action", "action": name}``).

Each action gets the runner's ``ActionContext`` (contact, context, say/send) and the step's
``params``, and returns an ``ActionResult`` whose ``outcome`` is one of those it registered.
Actions touch the database only through the owning apps' services; the context stays plain
data (ids, strings, numbers), never model instances.
"""

from __future__ import annotations

import logging
from datetime import date
from decimal import Decimal
from enum import StrEnum

from django.conf import settings

from conversations import selectors as conversation_selectors
from customer_data import services as bookings_service
from customer_data.checkout import (
    CheckoutOutcome,
    CheckoutResult,
    Payer,
    RefusalReason,
    request_payment,
)
from customer_data.gateways import payment_log_fields
from customer_data.models import Booking, PaymentEvent, PaymentMethod, Tour, Traveler
from customer_data.pricing import deposit_for
from customer_data.pricing import quote_booking as price_quote

from . import copy, payment_form, selectors
from .engine.registry import ActionResult, action
from .engine.steps import RETURN_TO_KEY
from .selectors import money

logger = logging.getLogger(__name__)


class PaymentStepOutcome(StrEnum):
    """Where a flow goes after asking for a payment (``initiate_paynow_payment``)."""

    STARTED = "started"  # prompt sent, code to enter, card link sent
    UNCONFIRMED = "unconfirmed"  # the gateway did not answer; checks will resolve it
    REFUSED = "refused"  # the gateway refused: no money was taken
    INVALID_PHONE = "invalid_phone"
    INVALID_EMAIL = "invalid_email"
    METHOD_UNAVAILABLE = "method_unavailable"
    INVALID_AMOUNT = "invalid_amount"  # over the balance, or others still pending
    NOTHING_TO_PAY = "nothing_to_pay"  # the booking is gone or cancelled


# The one table from the checkout's answer to the flow's next step (the words: flows.copy).
STEP_FOR_REASON: dict[RefusalReason, PaymentStepOutcome] = {
    RefusalReason.INVALID_AMOUNT: PaymentStepOutcome.INVALID_AMOUNT,
    RefusalReason.AMOUNT_OVER_BALANCE: PaymentStepOutcome.INVALID_AMOUNT,
    RefusalReason.PAYMENT_PENDING: PaymentStepOutcome.INVALID_AMOUNT,
    RefusalReason.BOOKING_CANCELLED: PaymentStepOutcome.NOTHING_TO_PAY,
    RefusalReason.METHOD_UNAVAILABLE: PaymentStepOutcome.METHOD_UNAVAILABLE,
    RefusalReason.INVALID_PHONE: PaymentStepOutcome.INVALID_PHONE,
    RefusalReason.WRONG_NETWORK: PaymentStepOutcome.INVALID_PHONE,
    RefusalReason.INVALID_EMAIL: PaymentStepOutcome.INVALID_EMAIL,
    RefusalReason.GATEWAY_REFUSED: PaymentStepOutcome.REFUSED,
}
STEP_FOR_OUTCOME: dict[CheckoutOutcome, PaymentStepOutcome] = {
    CheckoutOutcome.PROMPT_SENT: PaymentStepOutcome.STARTED,
    CheckoutOutcome.CODE_TO_ENTER: PaymentStepOutcome.STARTED,
    CheckoutOutcome.REDIRECT: PaymentStepOutcome.STARTED,
    CheckoutOutcome.AWAITING_PROOF: PaymentStepOutcome.STARTED,
    CheckoutOutcome.UNAVAILABLE: PaymentStepOutcome.UNCONFIRMED,
}
# Asked again on its own, then straight back to the payment (``return_if_editing``).
ASKED_AGAIN = frozenset({PaymentStepOutcome.INVALID_PHONE, PaymentStepOutcome.INVALID_EMAIL})


def step_outcome(result: CheckoutResult) -> PaymentStepOutcome:
    if result.refused:
        return STEP_FOR_REASON[result.reason or RefusalReason.GATEWAY_REFUSED]
    return STEP_FOR_OUTCOME[result.outcome]


@action("set_context")
def set_context(run, **values) -> ActionResult:
    """Store the step's params in the context (e.g. where an edit returns to)."""
    return ActionResult(updates=values)


# --- booking -------------------------------------------------------------------------------


def _traveller_kind(number: int, adults: int) -> str:
    return "adult" if number <= adults else "child"


@action("start_travellers")
def start_travellers(run) -> ActionResult:
    adults, children = int(run.context["adults"]), int(run.context.get("children", 0))
    return ActionResult(
        updates={
            "travellers": [],
            "traveller_number": 1,
            "traveller_total": adults + children,
            "traveller_kind": _traveller_kind(1, adults),
        }
    )


@action("save_traveller")
def save_traveller(run) -> ActionResult:
    ctx = run.context
    number, adults = int(ctx["traveller_number"]), int(ctx["adults"])
    travellers = list(ctx.get("travellers", []))
    travellers.append(
        {
            "name": ctx["traveller_name"],
            "age": int(ctx["traveller_age"]),
            "nationality": ctx.get("traveller_nationality", ""),
            "id_number": ctx.get("traveller_id", ""),
            "type": _traveller_kind(number, adults),
        }
    )
    return ActionResult(
        updates={
            "travellers": travellers,
            "traveller_number": number + 1,
            "traveller_kind": _traveller_kind(number + 1, adults),
        }
    )


def _plural(count: int, word: str) -> str:
    if word == "child":
        return f"{count} {'child' if count == 1 else 'children'}"
    return f"{count} {word}{'' if count == 1 else 's'}"


@action("quote_booking", outcomes=("ok", "tour_unavailable"))
def quote_booking(run) -> ActionResult:
    """Price the booking with the pricing service and write the summary."""
    ctx = run.context
    tour = Tour.objects.filter(pk=ctx.get("tour_id"), is_active=True).first()
    if tour is None:
        run.say("Sorry, that tour is no longer available. Please choose another one.")
        return ActionResult("tour_unavailable")
    adults, children = int(ctx["adults"]), int(ctx.get("children", 0))
    start = date.fromisoformat(ctx["travel_date"])
    quote = price_quote(tour, start, adults, children)
    lines = [
        "*Your booking*",
        f"Tour: {tour.name}",
        f"Date: {start:%d %b %Y}",
        f"Travellers: {_plural(adults, 'adult')}"
        + (f", {_plural(children, 'child')}" if children else ""),
    ]
    for i, t in enumerate(ctx.get("travellers", []), start=1):
        extra = ", ".join(
            x for x in (t.get("nationality"), t.get("id_number") and f"ID {t['id_number']}") if x
        )
        lines.append(f"  {i}. {t['name']} ({t['age']}{', ' + extra if extra else ''})")
    lines.append(f"E-mail: {ctx.get('email', '')}")
    price = f"{adults} x {money(quote.price_per_adult)}"
    if children:
        price += f" + {children} x {money(quote.price_per_child)}"
    lines.append(f"Price: {price} = *{money(quote.total)}*")
    if quote.is_seasonal:
        lines.append("(seasonal price for your date)")
    lines.append(f"Deposit to secure it: {money(quote.deposit)}")
    return ActionResult(
        updates={
            "tour_name": tour.name,
            "summary": "\n".join(lines),
            "quote_total": money(quote.total),
            "quote_deposit": money(quote.deposit),
        }
    )


@action("create_booking", outcomes=("created", "failed"))
def create_booking(run) -> ActionResult:
    """Create the Booking and its Travelers (customer_data.services.create_booking)."""
    ctx = run.context
    existing = selectors.booking_for_contact(run.contact, ctx.get("booking_id"))
    if existing is not None:  # confirmed twice: keep the first booking
        return ActionResult("created", updates=selectors.booking_facts(existing))
    tour = Tour.objects.filter(pk=ctx.get("tour_id")).first()
    travellers = [
        bookings_service.TravelerDetails(
            name=t["name"],
            age=t.get("age"),
            nationality=t.get("nationality", ""),
            id_number=t.get("id_number", ""),
            traveler_type=Traveler.TravelerType.CHILD
            if t.get("type") == "child"
            else Traveler.TravelerType.ADULT,
        )
        for t in ctx.get("travellers", [])
    ]
    try:
        if tour is None:
            raise bookings_service.PaymentValidationError("That tour is no longer available.")
        booking = bookings_service.create_booking(
            tour=tour,
            start_date=date.fromisoformat(ctx["travel_date"]),
            adults=int(ctx["adults"]),
            children=int(ctx.get("children", 0)),
            contact=run.contact,
            email=ctx.get("email", ""),
            travelers=travellers,
        )
    except bookings_service.PaymentValidationError as exc:
        run.say(f"Sorry, I couldn't create the booking: {exc}")
        return ActionResult("failed")
    logger.info(
        "Booking created from WhatsApp",
        extra={"booking_reference": booking.booking_reference, "contact": run.contact.pk},
    )
    return ActionResult("created", updates=selectors.booking_facts(booking))


# --- bookings and payments -----------------------------------------------------------------


@action("load_bookings", outcomes=("found", "none"))
def load_bookings(run, unpaid_only: bool = False) -> ActionResult:
    bookings = selectors.contact_bookings(run.contact, unpaid_only=unpaid_only)
    if not bookings:
        return ActionResult("none")
    lines = []
    for b in bookings:
        status = selectors.booking_status_label(b)
        balance = f", balance {money(b.balance_due)}" if b.balance_due > 0 else ""
        lines.append(
            f"• *{b.booking_reference}* - {b.tour.name}, {b.start_date:%d %b %Y} - "
            f"{status}{balance}"
        )
    return ActionResult(
        "found", updates={"bookings_text": "\n".join(lines), "unpaid_only": unpaid_only}
    )


@action("load_booking", outcomes=("ok", "nothing_due", "not_found"))
def load_booking(run) -> ActionResult:
    booking = selectors.booking_for_contact(run.contact, run.context.get("booking_id"))
    if booking is None:
        run.say("Sorry, I couldn't find that booking.")
        return ActionResult("not_found")
    facts = selectors.booking_facts(booking)
    if booking.payment_status == Booking.PaymentStatus.CANCELLED:
        run.say(f"Booking {booking.booking_reference} is cancelled, so there is nothing to pay.")
        return ActionResult("nothing_due", updates=facts)
    if booking.balance_due <= 0:
        return ActionResult("nothing_due", updates=facts)
    return ActionResult("ok", updates=facts)


def amount_due_now(booking: Booking, purpose: str) -> tuple[Decimal, str]:
    """What to pay now for ``purpose`` ("full" or "deposit"): the balance, or what is missing
    to reach the deposit; a deposit already reached means paying the balance."""
    amount = booking.balance_due
    if purpose == "deposit":
        missing = deposit_for(booking.total_amount) - booking.amount_paid
        if missing > 0:
            return min(missing, amount), "deposit"
        return amount, "balance"
    return amount, "balance" if booking.amount_paid > 0 else purpose


@action("set_payment_amount", outcomes=("ok", "nothing_due"))
def set_payment_amount(run, purpose: str = "full") -> ActionResult:
    """The amount to pay now: the whole balance, or the deposit (less anything paid)."""
    booking = selectors.booking_for_contact(run.contact, run.context.get("booking_id"))
    if booking is None or booking.balance_due <= 0:
        return ActionResult("nothing_due")
    amount, purpose = amount_due_now(booking, purpose)
    return ActionResult(
        updates={"amount": str(amount), "amount_label": money(amount), "purpose": purpose}
    )


@action("send_payment_form", outcomes=("sent", "not_found"))
def send_payment_form(run) -> ActionResult:
    """Send the payment WhatsApp Flow (native form); ``not_found`` falls back to the chat."""
    booking = selectors.booking_for_contact(run.contact, run.context.get("booking_id"))
    sent = payment_form.send_payment_form(
        contact=run.contact,
        booking=booking,
        amount=Decimal(run.context["amount"]),
        purpose=run.context.get("purpose", "full"),
    )
    return ActionResult("sent" if sent else "not_found")


def _payment_messages(result: CheckoutResult, *, method: str, booking_reference: str) -> list:
    """The message(s) that tell the payer what happened: text, or the card link button."""
    text = copy.outcome_text(result, method=method, booking_reference=booking_reference)
    if result.outcome == CheckoutOutcome.REDIRECT and result.redirect_url:
        return [
            {
                "kind": "cta_url",
                "body": text,
                "display_text": copy.CARD_BUTTON,
                "url": result.redirect_url,
            }
        ]
    return [text]


@action("initiate_paynow_payment", outcomes=tuple(PaymentStepOutcome))
def initiate_paynow_payment(run, method: str = "") -> ActionResult:
    """Ask the checkout for a Paynow payment of the chosen amount (the guide's action).

    The method is ``method`` (a step parameter, e.g. ``paynow_card``) or the one the
    traveller chose (``paynow_method``); phone and e-mail come from the conversation, the
    e-mail from the booking when none was asked. The checkout runs after this
    conversation's transaction commits (deferred): no database lock is held while the
    gateway is called, and the payment row is visible before its callback can arrive.
    """
    ctx = run.context
    booking_id, amount = ctx.get("booking_id"), Decimal(ctx["amount"])
    method = method or ctx.get("paynow_method", "")
    phone, email = ctx.get("paynow_phone", ""), ctx.get("paynow_email", "")
    this_step = run.step_name

    def start_payment() -> ActionResult:
        booking = selectors.booking_for_contact(run.contact, booking_id)
        if booking is None:
            return ActionResult(
                PaymentStepOutcome.NOTHING_TO_PAY, messages=[copy.BOOKING_NOT_FOUND]
            )
        result = request_payment(
            booking=booking,
            amount=amount,
            method=method,
            payer=Payer(phone=phone, email=email or booking.email),
            source=PaymentEvent.Source.FLOW,
        )
        outcome = step_outcome(result)
        updates: dict[str, str] = {}
        if outcome in ASKED_AGAIN:
            updates[RETURN_TO_KEY] = this_step
        if result.payment is not None:
            updates["payment_reference"] = result.payment.reference
        messages = _payment_messages(
            result, method=method, booking_reference=booking.booking_reference
        )
        return ActionResult(outcome, updates=updates, messages=messages)

    return ActionResult(deferred=start_payment)


@action("manual_payment_instructions")
def manual_payment_instructions(run, method: str = PaymentMethod.BANK_TRANSFER) -> ActionResult:
    """Bank transfer / Omari: how to pay, quoting the booking reference."""
    ctx = run.context
    if method == PaymentMethod.OMARI:
        details = settings.OMARI_PAYMENT_DETAILS
    else:
        details = settings.BANK_TRANSFER_DETAILS
    run.say(
        copy.MANUAL_INSTRUCTIONS.format(
            method=copy.method_name(method),
            details=details,
            booking=ctx.get("booking_reference", ""),
            balance=ctx.get("balance_due", ""),
            deposit=ctx.get("deposit_amount", ""),
        )
    )
    return ActionResult(updates={"manual_method": method})


@action("record_proof_of_payment", outcomes=("recorded", "failed"))
def record_proof_of_payment(run) -> ActionResult:
    """A proof of payment arrived: a pending manual payment for staff to approve or reject.

    Through the checkout like every payment, so after this conversation's transaction
    commits (deferred).
    """
    ctx = run.context
    booking_id = ctx.get("booking_id")
    proof = dict(ctx.get("proof") or {})
    proof_amount = ctx.get("proof_amount", "full")
    method = ctx.get("manual_method", PaymentMethod.BANK_TRANSFER)
    caption = f" - '{proof['caption']}'" if proof.get("caption") else ""
    notes = (
        f"Proof of payment sent on WhatsApp ({proof.get('type', 'image')} "
        f"{proof.get('id', '')}){caption}"
    )

    def record() -> ActionResult:
        booking = selectors.booking_for_contact(run.contact, booking_id)
        if booking is None:
            return ActionResult("failed", messages=[copy.BOOKING_NOT_FOUND])
        amount, _ = amount_due_now(booking, proof_amount)
        result = request_payment(
            booking=booking,
            amount=amount,
            method=method,
            payer=Payer(),
            source=PaymentEvent.Source.FLOW,
            notes=notes,
            evidence={"proof": proof},
        )
        text = copy.outcome_text(result, method=method, booking_reference=booking.booking_reference)
        if result.refused or result.payment is None:
            return ActionResult("failed", messages=[text])
        # The file itself (recorded with its message; its download may still be running).
        media = conversation_selectors.media_by_channel_id(
            contact=run.contact, channel_media_id=str(proof.get("id", ""))
        )
        if media is not None:
            bookings_service.attach_proof(
                payment=result.payment, media_id=media.pk, source=PaymentEvent.Source.FLOW
            )
        logger.info(
            "Proof of payment recorded; waiting for staff",
            extra=payment_log_fields(result.payment),
        )
        return ActionResult("recorded", updates={"amount_label": money(amount)}, messages=[text])

    return ActionResult(deferred=record)
