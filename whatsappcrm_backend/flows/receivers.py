"""Tell the traveller how a payment ended: a receipt, or what went wrong and how to retry.

Connected to ``customer_data.signals.payment_status_changed`` (sent after the change is
committed) in ``FlowsConfig.ready``. Whatever triggered the change (Paynow IPN, a poll,
reconciliation, staff approving a bank transfer in the admin), the message goes to
``booking.contact``. A failure to queue the message is logged, never raised into the
payment path.
"""

from __future__ import annotations

import logging

from customer_data.models import Payment, PaymentEvent, PaymentMethod, PaymentStatus
from meta_integration import messages as graph

from .selectors import money

logger = logging.getLogger(__name__)

NOTIFIED_STATUSES = frozenset(
    {PaymentStatus.SUCCESSFUL, PaymentStatus.FAILED, PaymentStatus.CANCELLED, PaymentStatus.EXPIRED}
)
METHOD_NAMES = {
    PaymentMethod.PAYNOW_ECOCASH: "EcoCash",
    PaymentMethod.PAYNOW_ONEMONEY: "OneMoney",
    PaymentMethod.PAYNOW_INNBUCKS: "InnBucks",
    PaymentMethod.BANK_TRANSFER: "bank transfer",
    PaymentMethod.OMARI: "Omari",
}
WHY = {
    PaymentStatus.FAILED: "didn't go through",
    PaymentStatus.CANCELLED: "was cancelled",
    PaymentStatus.EXPIRED: "expired before it was approved",
}


def receipt_payload(payment: Payment) -> dict:
    booking = payment.booking
    to = booking.contact.whatsapp_id
    facts = (
        f"Amount: {money(payment.amount)}\n"
        f"Booking: {booking.booking_reference} - {booking.tour.name}, "
        f"{booking.start_date:%d %b %Y}\n"
        f"Paid so far: {money(booking.amount_paid)} of {money(booking.total_amount)}\n"
        f"Remaining: {money(booking.balance_due)}"
    )
    method = METHOD_NAMES.get(payment.payment_method, payment.get_payment_method_display())
    if payment.status == PaymentStatus.SUCCESSFUL:
        body = f"✅ Payment received ({method}) - thank you!\n\n{facts}"
        if booking.balance_due > 0:
            return graph.reply_buttons(
                to,
                body + "\n\nYou can pay the rest any time before your trip.",
                [(f"pay:{booking.pk}", "Pay balance"), ("cmd:menu", "Main menu")],
            )
        return graph.text(
            to, body + "\n\nYour booking is fully paid. See you in Victoria Falls! 🌍"
        )
    if payment.payment_method in (PaymentMethod.BANK_TRANSFER, PaymentMethod.OMARI):
        opening = (
            f"❌ We couldn't confirm your {method} payment of {money(payment.amount)} for booking "
            f"{booking.booking_reference}. Please check the proof of payment, or talk to our team."
        )
    else:
        opening = (
            f"❌ Your {method} payment of {money(payment.amount)} for booking "
            f"{booking.booking_reference} {WHY.get(payment.status, 'did not complete')}. "
            + (
                "If you approved it after all and money left your account, tell us: "
                "we'll match it to your booking."
                if payment.status == PaymentStatus.EXPIRED
                else "No money was taken."
            )
        )
    return graph.reply_buttons(
        to,
        f"{opening}\n\n{facts}\n\nWould you like to try again?",
        [(f"pay:{booking.pk}", "Try again"), ("cmd:agent", "Talk to an agent")],
    )


def _told_at_initiation(payment: Payment, new_status: str) -> bool:
    """Paynow refused the request while we were starting it: whoever started it (the chat or
    the payment form) has already explained that to the payer, with the ways to go on."""
    last = (
        payment.events.filter(applied=True, new_status=new_status)
        .order_by("-created_at", "-id")
        .first()
    )
    return (
        new_status == PaymentStatus.FAILED
        and last is not None
        and last.source == PaymentEvent.Source.GATEWAY
    )


def send_payment_receipt(sender, *, payment: Payment, old_status: str, new_status: str, **kwargs):
    if new_status not in NOTIFIED_STATUSES or old_status == new_status:
        return
    try:
        payment = Payment.objects.select_related("booking__contact", "booking__tour").get(
            pk=payment.pk
        )
        contact = payment.booking.contact
        if contact is None or _told_at_initiation(payment, new_status):
            return
        from conversations.services import queue_message

        queue_message(contact, receipt_payload(payment), flow_step=f"payment_receipt:{new_status}")
        logger.info(
            "Payment outcome sent to the traveller",
            extra={
                "payment_id": str(payment.pk),
                "booking_reference": payment.booking.booking_reference,
                "paynow_reference": payment.paynow_reference or "-",
                "status": new_status,
            },
        )
    except Exception:
        logger.exception(
            "Could not send the payment outcome",
            extra={"payment_id": str(payment.pk), "status": new_status},
        )
