"""Helpers for the Paynow integration tests (import as `tests.paynow_integration.support`)."""

from decimal import Decimal

INTEGRATION_ID = "20817"
INTEGRATION_KEY = "0f3a5c2e-8b1d-4e6f-9a7c-2d4b6e8f0a1c"
MERCHANT_EMAIL = "merchant@kalaisafaris.example"


def initiate(booking, amount="100.00", method="paynow_ecocash", phone="0771111111", email=None):
    """A Paynow payment through the guide's door (``PaynowService.initiate_payment``), which
    is the checkout; returns its ``CheckoutResult``."""
    from paynow_integration.services import PaynowService

    return PaynowService().initiate_payment(
        booking, Decimal(amount), method, phone, email or "tendai@example.com"
    )


def attempt(payment):
    """The payment's Paynow attempt, fresh from the database."""
    from paynow_integration.models import PaynowAttempt

    return PaynowAttempt.objects.get(payment_id=payment.pk)
