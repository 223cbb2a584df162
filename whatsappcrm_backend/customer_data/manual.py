"""The manual methods' gateway: bank transfer, Omari, cash, other.

Nothing outside is called: the payer pays on their own and sends a proof (or staff record a
payment they received), the payment waits as pending, and staff settle it in the admin
(*Mark as received* or *Reject*), through the state machine.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta

from django.core.exceptions import ValidationError
from django.core.validators import validate_email

from .gateways import (
    CheckoutOutcome,
    GatewayResponse,
    GatewayStatus,
    Payer,
    PaymentRefused,
    RefusalReason,
)
from .models import MANUAL_METHODS, Payment

PHONE_MAX = 20  # Payment.phone_number


class ManualGateway:
    """Awaiting proof; settled by staff."""

    methods = frozenset(str(method) for method in MANUAL_METHODS)
    settles_itself = False

    def __repr__(self) -> str:
        return "ManualGateway()"

    def unavailable_reason(self, method: str) -> str:
        return ""

    def validate(self, *, method: str, payer: Payer) -> Payer:
        phone, email = payer.phone.strip(), payer.email.strip()
        if len(phone) > PHONE_MAX:
            raise PaymentRefused(RefusalReason.INVALID_PHONE, f"longer than {PHONE_MAX}")
        if email:
            try:
                validate_email(email)
            except ValidationError:
                raise PaymentRefused(RefusalReason.INVALID_EMAIL) from None
        return Payer(phone=phone, email=email)

    def repeat_window(self) -> timedelta:
        # A second proof is a second payment (or, over the balance, refused): never merged.
        return timedelta(0)

    def prepare(self, payment: Payment, payer: Payer) -> None:
        return None

    def start(self, payment: Payment, payer: Payer) -> GatewayResponse:
        return GatewayResponse(CheckoutOutcome.AWAITING_PROOF)

    def describe(self, payment: Payment) -> GatewayResponse:
        return GatewayResponse(CheckoutOutcome.AWAITING_PROOF)

    def check(self, payment: Payment) -> GatewayStatus:
        return GatewayStatus(
            reachable=True, payment_status=payment.status, detail="settled by staff"
        )

    def verify_callback(self, body: bytes, headers: Mapping[str, str]) -> bool:
        return False  # nobody calls back about a bank transfer

    def staff_details(self, payment: Payment) -> list[tuple[str, str]]:
        return [("Settled by", "Staff: Mark as received, or Reject, once the money is checked")]

    def log_fields(self, payment: Payment) -> dict[str, str]:
        return {}


manual_gateway = ManualGateway()
