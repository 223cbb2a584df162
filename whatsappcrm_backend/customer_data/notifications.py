"""The one place that reacts to a payment's outcome for the customer.

`payment_status_changed` runs after the transaction that changed a payment commits. It
logs the outcome; the conversation layer connects its own receiver to
`customer_data.signals.payment_status_changed` to send the WhatsApp receipt, so the money
core never imports a channel.
"""

import logging

from django.dispatch import receiver

from .gateways import payment_log_fields
from .models import Payment
from .signals import payment_status_changed as payment_status_changed_signal

logger = logging.getLogger(__name__)


@receiver(payment_status_changed_signal, sender=Payment, dispatch_uid="log-payment-outcome")
def payment_status_changed(sender=Payment, *, payment: Payment, old_status, new_status, **kw):
    logger.info(
        "Payment %s for booking %s: %s -> %s (booking now %s, paid %s of %s)",
        payment.pk,
        payment.booking.booking_reference,
        old_status,
        new_status,
        payment.booking.payment_status,
        payment.booking.amount_paid,
        payment.booking.total_amount,
        extra={**payment_log_fields(payment), "status": new_status},
    )
