"""Helpers for the money-core tests (import as `tests.customer_data.support`)."""

from __future__ import annotations

from decimal import Decimal

from customer_data.checkout import Payer, request_payment
from customer_data.models import Payment, PaymentEvent, PaymentMethod

# A Zimbabwean Econet number that Paynow's test mode never settles by itself.
QUIET_NUMBER = "0781234567"


def pay(
    booking,
    amount: str | Decimal = "50.00",
    method: str = PaymentMethod.CASH,
    *,
    phone: str = "",
    email: str = "tendai@example.com",
    source: str = PaymentEvent.Source.FLOW,
) -> Payment:
    """A pending payment, started through the checkout like every payment (Paynow methods
    need the `paynow_config` fixture: the emulator answers)."""
    if method.startswith("paynow_") and not phone:
        phone = QUIET_NUMBER
    result = request_payment(
        booking=booking,
        amount=Decimal(amount),
        method=method,
        payer=Payer(phone=phone, email=email),
        source=source,
    )
    assert result.started, result
    return result.payment
