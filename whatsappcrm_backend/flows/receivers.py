"""Tell the traveller how a payment ended: a receipt, or what went wrong and how to retry.

Connected to ``customer_data.signals.payment_status_changed`` (sent after the change is
committed) in ``FlowsConfig.ready``. Whatever triggered the change (Paynow IPN, a poll,
reconciliation, staff approving a bank transfer in the admin), the message goes to
``booking.contact``. A failure to queue the message is logged, never raised into the
payment path. The words are in ``flows.copy``.
"""

from __future__ import annotations

import logging

from conversations.services import queue_message
from customer_data.gateways import payment_log_fields
from customer_data.models import Payment, PaymentEvent, PaymentStatus
from meta_integration import messages as graph

from . import copy
from .definitions.booking_flow import PAY_ENTRY_POINT
from .engine.callbacks import Callback, command

logger = logging.getLogger(__name__)

NOTIFIED_STATUSES = frozenset(
    {PaymentStatus.SUCCESSFUL, PaymentStatus.FAILED, PaymentStatus.CANCELLED, PaymentStatus.EXPIRED}
)


def _pay_button(payment: Payment, title: str) -> tuple[str, str]:
    return Callback(PAY_ENTRY_POINT, str(payment.booking_id)).encode(), title


def receipt_payload(payment: Payment) -> dict:
    booking = payment.booking
    to = booking.contact.address
    facts = copy.receipt_facts(payment)
    if payment.status == PaymentStatus.SUCCESSFUL:
        body = copy.RECEIPT_PAID.format(
            method=copy.method_name(payment.payment_method), facts=facts
        )
        if booking.balance_due > 0:
            return graph.reply_buttons(
                to,
                f"{body}\n\n{copy.RECEIPT_PAY_REST}",
                [
                    _pay_button(payment, copy.BUTTON_PAY_BALANCE),
                    (command("menu"), copy.BUTTON_MAIN_MENU),
                ],
            )
        return graph.text(to, f"{body}\n\n{copy.RECEIPT_FULLY_PAID}")
    return graph.reply_buttons(
        to,
        f"{copy.receipt_not_paid(payment)}\n\n{facts}\n\n{copy.RECEIPT_TRY_AGAIN}",
        [_pay_button(payment, copy.BUTTON_TRY_AGAIN), (command("agent"), copy.BUTTON_AGENT)],
    )


def _told_at_initiation(payment: Payment, new_status: str) -> bool:
    """The gateway refused the request while we were starting it: whoever started it (the
    chat or the payment form) has already explained that to the payer, with the ways on."""
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
        queue_message(contact, receipt_payload(payment), flow_step=f"payment_receipt:{new_status}")
        logger.info(
            "Payment outcome sent to the traveller",
            extra={**payment_log_fields(payment), "status": new_status},
        )
    except Exception:
        logger.exception(
            "Could not send the payment outcome",
            extra={"payment_id": str(payment.pk), "status": new_status},
        )
