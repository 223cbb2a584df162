"""Named conditions for ``branch`` steps and for ``when`` on options (hide a row or button)."""

from __future__ import annotations

from decimal import Decimal

from django.conf import settings

from customer_data.models import Tour

from . import selectors
from .engine.registry import condition


@condition("paynow_enabled")
def paynow_enabled(run, **params) -> bool:
    """The rollback switch: PAYNOW_ENABLED=false hides every Paynow option."""
    return bool(settings.PAYNOW_ENABLED)


@condition("has_active_tours")
def has_active_tours(run, **params) -> bool:
    return Tour.objects.filter(is_active=True).exists()


@condition("more_travellers")
def more_travellers(run, **params) -> bool:
    return int(run.context.get("traveller_number", 1)) <= int(run.context.get("traveller_total", 0))


@condition("deposit_available")
def deposit_available(run, **params) -> bool:
    """A deposit only makes sense before anything is paid."""
    booking = selectors.booking_for_contact(run.contact, run.context.get("booking_id"))
    return (
        booking is not None and booking.amount_paid == Decimal("0.00") and booking.total_amount > 0
    )


@condition("has_balance")
def has_balance(run, **params) -> bool:
    booking = selectors.booking_for_contact(run.contact, run.context.get("booking_id"))
    return booking is not None and booking.balance_due > 0


@condition("context_is")
def context_is(run, key: str = "", value: str = "", **params) -> bool:
    return str(run.context.get(key, "")) == str(value)


@condition("context_set")
def context_set(run, key: str = "", **params) -> bool:
    """True when the context holds a non-empty value under ``key``."""
    return bool(run.context.get(key))


@condition("paynow_card_enabled")
def paynow_card_enabled(run, **params) -> bool:
    """Cards through Paynow's web checkout: PAYNOW_CARD_ENABLED (and Paynow itself) on."""
    return bool(settings.PAYNOW_ENABLED and settings.PAYNOW_CARD_ENABLED)
