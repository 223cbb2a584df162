"""Every word a traveller reads about paying, in one place.

The money core answers with codes (``CheckoutOutcome``, ``RefusalReason``); this module
words them, for the chat, the payment form's screens and the receipts alike. The texts are
plain format strings with named placeholders, so a later ``gettext`` can wrap each constant
(``_(PROMPT_SENT).format(...)``) without touching the code that picks them.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from django.utils import timezone

from customer_data.checkout import CheckoutOutcome, CheckoutResult, RefusalReason
from customer_data.models import Payment, PaymentMethod, PaymentStatus

from .selectors import money

# --- names -----------------------------------------------------------------------------------

METHOD_NAMES: Mapping[str, str] = {
    PaymentMethod.PAYNOW_ECOCASH: "EcoCash",
    PaymentMethod.PAYNOW_ONEMONEY: "OneMoney",
    PaymentMethod.PAYNOW_INNBUCKS: "InnBucks",
    PaymentMethod.PAYNOW_CARD: "card",
    PaymentMethod.BANK_TRANSFER: "bank transfer",
    PaymentMethod.OMARI: "Omari",
    PaymentMethod.CASH: "cash",
}
MOBILE_MONEY = "mobile money"
PURPOSE_LABELS: Mapping[str, str] = {
    "full": "Full payment",
    "deposit": "Deposit",
    "balance": "Balance",
}


def method_name(method: str) -> str:
    return METHOD_NAMES.get(method, MOBILE_MONEY if method.startswith("paynow_") else "payment")


def method_family(method: str) -> str:
    """ "mobile money" for EcoCash, OneMoney and InnBucks; else the method's own name."""
    express = {PaymentMethod.PAYNOW_ECOCASH, PaymentMethod.PAYNOW_ONEMONEY,
               PaymentMethod.PAYNOW_INNBUCKS}  # fmt: skip
    return MOBILE_MONEY if method in express else method_name(method)


def purpose_label(purpose: str) -> str:
    return PURPOSE_LABELS.get(purpose, purpose.replace("_", " ").capitalize() or "Payment")


def article(word: str) -> str:
    """ "an EcoCash", "a OneMoney": by sound, as the traveller reads it."""
    return "an" if word[:1].lower() in "aeiu" or word.lower().startswith("inn") else "a"


def mask_phone_for_payer(phone: str) -> str:
    """``0771234123`` -> ``077…123``: enough for the payer to recognise their number."""
    phone = phone or ""
    return f"{phone[:3]}…{phone[-3:]}" if len(phone) >= 7 else "your phone"


def _local_time(value: datetime | None, pattern: str) -> str:
    return f"{timezone.localtime(value):{pattern}}" if value else ""


# --- what happened when a payment was asked for (CheckoutOutcome) ----------------------------

PROMPT_SENT = (
    "📲 We sent {article} {network} payment request for {amount} to {phone}. Approve it on "
    "your phone with your PIN to pay for booking {booking}."
)
CODE_TO_ENTER = (
    "To pay {amount} for booking {booking} with InnBucks, open the InnBucks app and enter "
    "this authorisation code: *{code}*{until}."
)
CODE_VALID_UNTIL = " (valid until {time})"
CODE_DEEP_LINK = "Or tap to open InnBucks directly: {link}"
CARD_LINK = (
    "💳 Pay {amount} for booking {booking} by card on Paynow's secure page: tap *{button}* "
    "below. Visa and Mastercard are accepted."
)
CARD_BUTTON = "Pay by card"  # Meta: a CTA button label has at most 20 characters
AWAITING_PROOF = (
    "✅ Got it. Our team will check your payment of {amount} for {booking} and confirm here, "
    "usually within a few hours."
)
UNCONFIRMED = (
    "We couldn't confirm the payment request with Paynow just now. If a prompt arrives on "
    "your phone, approve it; we'll confirm your payment here automatically."
)
RECEIPT_FOLLOWS = "I'll send your receipt here as soon as the payment is confirmed."

# --- why a payment request was refused (RefusalReason) ---------------------------------------

REFUSALS: Mapping[RefusalReason, str] = {
    RefusalReason.INVALID_AMOUNT: "Sorry, that amount can't be paid. Please choose again.",
    RefusalReason.AMOUNT_OVER_BALANCE: (
        "That's more than the {balance} still due on booking {booking}."
    ),
    RefusalReason.PAYMENT_PENDING: (
        "A payment of {pending} for booking {booking} is still waiting for approval. Approve "
        "or decline it first, or try again in a few minutes."
    ),
    RefusalReason.BOOKING_CANCELLED: (
        "Booking {booking} is cancelled, so there is nothing to pay."
    ),
    RefusalReason.METHOD_UNAVAILABLE: (
        "Sorry, {method} payments aren't available right now. Please try again later, or "
        "choose another way to pay."
    ),
    RefusalReason.INVALID_PHONE: (
        "That phone number doesn't look like a Zimbabwean mobile number "
        "(e.g. 0771234567 or +263 77 123 4567)."
    ),
    RefusalReason.WRONG_NETWORK: (
        "{prefix}… is not {article} {network} number. {network} numbers start with {prefixes}."
    ),
    RefusalReason.INVALID_EMAIL: "Please enter a valid e-mail address for the receipt.",
    RefusalReason.GATEWAY_REFUSED: (
        "Sorry, the payment could not be started, so no money was taken. Please check the "
        "details (and your balance), then try again or choose another way to pay."
    ),
}
# Reasons the payer fixes by correcting what they typed (the form shows itself again).
CORRECTABLE = frozenset(
    {RefusalReason.INVALID_PHONE, RefusalReason.WRONG_NETWORK, RefusalReason.INVALID_EMAIL}
)
BOOKING_NOT_FOUND = "Sorry, I couldn't find that booking."


def refusal_text(result: CheckoutResult, *, method: str, booking_reference: str) -> str:
    """Why ``result`` (refused) was refused, for the payer."""
    reason = result.reason or RefusalReason.GATEWAY_REFUSED
    network = method_name(method)
    phone = result.payer.phone
    return REFUSALS[reason].format(
        balance=money(result.balance_due),
        pending=money(result.pending_amount),
        booking=booking_reference,
        method=method_family(method),
        prefix=phone[:3],
        article=article(network),
        network=network,
        prefixes=" or ".join(result.accepted_prefixes),
    )


def outcome_text(result: CheckoutResult, *, method: str, booking_reference: str) -> str:
    """What the payer reads once a payment was asked for: what to do now, or why not."""
    if result.refused or result.payment is None:
        return refusal_text(result, method=method, booking_reference=booking_reference)
    payment = result.payment
    amount = money(payment.amount, payment.currency)
    outcome = result.outcome
    if outcome == CheckoutOutcome.CODE_TO_ENTER:
        until = _local_time(result.code_expires, "%d %b %H:%M")
        text = CODE_TO_ENTER.format(
            amount=amount,
            booking=booking_reference,
            code=result.code,
            until=CODE_VALID_UNTIL.format(time=until) if until else "",
        )
        if result.deep_link:
            text += "\n\n" + CODE_DEEP_LINK.format(link=result.deep_link)
        return f"{text}\n\n{RECEIPT_FOLLOWS}"
    if outcome == CheckoutOutcome.REDIRECT:
        return CARD_LINK.format(amount=amount, booking=booking_reference, button=CARD_BUTTON)
    if outcome == CheckoutOutcome.AWAITING_PROOF:
        return AWAITING_PROOF.format(amount=amount, booking=booking_reference)
    if outcome == CheckoutOutcome.UNAVAILABLE:
        return UNCONFIRMED
    network = method_name(method)
    text = PROMPT_SENT.format(
        article=article(network),
        network=network,
        amount=amount,
        phone=mask_phone_for_payer(payment.phone_number),
        booking=booking_reference,
    )
    return f"{text}\n\n{RECEIPT_FOLLOWS}"


# --- the payment form (a WhatsApp Flow) ------------------------------------------------------

FORM_CTA = "Pay now"
FORM_BODY = (
    "{purpose} for booking {booking} ({tour}): {amount}.\n\n"
    "Tap “{cta}” to pay with EcoCash, OneMoney or InnBucks."
)
FORM_CHOOSE_METHOD = "Choose EcoCash, OneMoney or InnBucks."
FORM_IN_PROGRESS = (
    "Your payment is being started. Please wait a moment, then check WhatsApp (or press Pay "
    "again to see where it is)."
)
FORM_UNEXPECTED = (
    "Something went wrong on our side and the payment was not started. Please try again in a "
    "few minutes, or choose another way to pay in the chat."
)
_FORM_NOT_VALID = "This payment form is not valid. Please ask for a new one in the chat."
TOKEN_MESSAGES: Mapping[str, str] = {
    "malformed": _FORM_NOT_VALID,
    "forged": _FORM_NOT_VALID,
    "unknown": _FORM_NOT_VALID,
    "expired": "This payment form has expired. Please ask for a new one in the chat.",
    "completed": "This payment form was already used. Check the chat for your payment.",
    "submitted_different": (
        "This payment form was already submitted. Approve the request on your phone, "
        "or ask for a new form in the chat."
    ),
}
FORM_NOT_STARTED = (
    "The payment for booking {booking} was not started. You can try again, or choose another "
    "way to pay."
)
FORM_PAID = "Thank you! We've received {amount} for booking {booking}."
FORM_ENDED = (
    "The payment of {amount} for booking {booking} did not go through ({status}). You can try "
    "again, or choose another way to pay."
)


def token_message(reason: str) -> str:
    return TOKEN_MESSAGES.get(reason, _FORM_NOT_VALID)


def form_body(*, purpose: str, booking: str, tour: str, amount: str) -> str:
    return FORM_BODY.format(
        purpose=purpose_label(purpose), booking=booking, tour=tour, amount=amount, cta=FORM_CTA
    )


# --- receipts: how a payment ended ------------------------------------------------------------

RECEIPT_FACTS = (
    "Amount: {amount}\n"
    "Booking: {booking} - {tour}, {date}\n"
    "Paid so far: {paid} of {total}\n"
    "Remaining: {remaining}"
)
RECEIPT_PAID = "✅ Payment received ({method}) - thank you!\n\n{facts}"
RECEIPT_PAY_REST = "You can pay the rest any time before your trip."
RECEIPT_FULLY_PAID = "Your booking is fully paid. See you in Victoria Falls! 🌍"
RECEIPT_PROOF_REJECTED = (
    "❌ We couldn't confirm your {method} payment of {amount} for booking {booking}. Please "
    "check the proof of payment, or talk to our team."
)
RECEIPT_NOT_PAID = "❌ Your {method} payment of {amount} for booking {booking} {why}. {after}"
RECEIPT_WHY: Mapping[str, str] = {
    PaymentStatus.FAILED: "didn't go through",
    PaymentStatus.CANCELLED: "was cancelled",
    PaymentStatus.EXPIRED: "expired before it was approved",
}
RECEIPT_NO_MONEY_TAKEN = "No money was taken."
RECEIPT_TELL_US = (
    "If you approved it after all and money left your account, tell us: we'll match it to "
    "your booking."
)
RECEIPT_TRY_AGAIN = "Would you like to try again?"
BUTTON_PAY_BALANCE = "Pay balance"
BUTTON_MAIN_MENU = "Main menu"
BUTTON_TRY_AGAIN = "Try again"
BUTTON_AGENT = "Talk to an agent"


def receipt_facts(payment: Payment) -> str:
    booking = payment.booking
    return RECEIPT_FACTS.format(
        amount=money(payment.amount),
        booking=booking.booking_reference,
        tour=booking.tour.name,
        date=f"{booking.start_date:%d %b %Y}",
        paid=money(booking.amount_paid),
        total=money(booking.total_amount),
        remaining=money(booking.balance_due),
    )


def receipt_not_paid(payment: Payment) -> str:
    booking = payment.booking
    name = method_name(payment.payment_method)
    if payment.payment_method in (PaymentMethod.BANK_TRANSFER, PaymentMethod.OMARI):
        return RECEIPT_PROOF_REJECTED.format(
            method=name, amount=money(payment.amount), booking=booking.booking_reference
        )
    return RECEIPT_NOT_PAID.format(
        method=name,
        amount=money(payment.amount),
        booking=booking.booking_reference,
        why=RECEIPT_WHY.get(payment.status, "did not complete"),
        after=RECEIPT_TELL_US
        if payment.status == PaymentStatus.EXPIRED
        else RECEIPT_NO_MONEY_TAKEN,
    )


# --- manual methods ---------------------------------------------------------------------------

MANUAL_INSTRUCTIONS = (
    "To pay by {method}:\n\n{details}\n\n"
    "Reference: *{booking}* (please quote it)\n"
    "Amount: {balance} in full, or at least the deposit of {deposit} to secure your booking."
)


# --- the booking flow's payment steps (engine templates: ``{{ name }}`` placeholders) -------

ASK_PAYMENT_OPTION = (
    "How would you like to pay for *{{ booking_reference }}*? Amount due: {{ balance_due }}."
)
PAYMENT_OPTIONS_BUTTON = "Payment options"
PAYNOW_SECTION = "Mobile Money (Paynow)"  # the deployment guide's section title
CARD_SECTION = "Card (Paynow)"
OTHER_SECTION = "Other ways to pay"
# Meta limits a list row title to 24 characters: the guide's "Pay 50% Deposit via Paynow"
# (26) reads "Pay 50% Deposit", with "via Paynow" in its description.
ROW_PAYNOW_FULL = "Pay Full via Paynow"
ROW_PAYNOW_FULL_DESCRIPTION = "{{ balance_due }} by EcoCash, OneMoney or InnBucks"
ROW_PAYNOW_DEPOSIT = "Pay {{ deposit_percent }}% Deposit"
ROW_PAYNOW_DEPOSIT_DESCRIPTION = "via Paynow: {{ deposit_amount }} now, the rest later"
ROW_CARD_FULL = "Pay Full by Card"
ROW_CARD_FULL_DESCRIPTION = "{{ balance_due }} by Visa or Mastercard, on Paynow's page"
ROW_CARD_DEPOSIT = "Pay {{ deposit_percent }}% by Card"
ROW_CARD_DEPOSIT_DESCRIPTION = "Deposit: {{ deposit_amount }} now by card, the rest later"
ROW_OMARI = "Omari"
ROW_OMARI_DESCRIPTION = "Pay with Omari, then send us the proof"
ROW_BANK_TRANSFER = "Bank Transfer"
ROW_BANK_TRANSFER_DESCRIPTION = "Pay into our bank account, then send the proof"
ROW_PAY_LATER = "Pay later"
ROW_PAY_LATER_DESCRIPTION = "Keep the booking and pay another time"
ASK_MOBILE_MONEY_SERVICE = (
    "You're paying {{ amount_label }} for {{ booking_reference }}. "
    "Which mobile money service will you use?"
)
ASK_PAYER_PHONE = "📱 Which mobile number should receive the payment request? (e.g. 0771234567)"
ASK_RECEIPT_EMAIL = "📧 And the e-mail address for your receipt?"
ASK_TRY_AGAIN = "Would you like to try again?"
BUTTON_OTHER_PAYMENT = "Other payment"
BUTTON_PAY_LATER = "Pay later"
ASK_PROOF = (
    "When you've paid, send a photo or PDF of the proof of payment here. "
    "Reply *later* if you'll send it another time."
)
ASK_PROOF_AGAIN = "Please send the proof of payment as a photo or PDF, or reply *later*."
ASK_PROOF_AMOUNT = "Thanks! How much did you pay?"
BUTTON_FULL_AMOUNT = "Full amount"
BUTTON_DEPOSIT_ONLY = "Deposit only"
PROOF_LATER = (
    "No problem. When you have it, reply *pay* and choose {{ booking_reference }} to send the "
    "proof of payment."
)
PAY_LATER = (
    "No problem. Your booking {{ booking_reference }} is saved. When you're ready, reply *pay* "
    "or choose *Pay a balance* in the menu."
)
FULLY_PAID = "Booking {{ booking_reference }} is fully paid, so there's nothing more to pay. 🎉"
