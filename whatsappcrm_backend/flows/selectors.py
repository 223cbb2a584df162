"""Reads for conversations: tours and bookings as plain data, and the option providers that
fill list messages (``rows_from`` in a definition)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django.conf import settings

from customer_data.models import Booking, Tour
from meta_integration.constants import LIST_ROW_TITLE_MAX

from .engine.registry import option_provider

CURRENCY_SYMBOLS = {"USD": "USD"}


def money(amount: Decimal | str | None, currency: str | None = None) -> str:
    """``USD 1,250.00``: the way amounts are written to travellers."""
    currency = currency or settings.DEFAULT_CURRENCY
    return f"{currency} {Decimal(amount or 0):,.2f}"


def active_tours(limit: int = 10) -> list[Tour]:
    return list(Tour.objects.filter(is_active=True).order_by("name")[:limit])


def contact_bookings(contact, *, unpaid_only: bool = False, limit: int = 10) -> list[Booking]:
    bookings = Booking.objects.filter(contact=contact).select_related("tour")
    bookings = (
        bookings.exclude(payment_status=Booking.PaymentStatus.CANCELLED)
        if unpaid_only
        else bookings
    )
    result = list(bookings.order_by("-created_at")[: limit * 3])
    if unpaid_only:
        result = [b for b in result if b.balance_due > 0]
    return result[:limit]


def booking_for_contact(contact, booking_id: Any) -> Booking | None:
    """The contact's own booking with this id (never someone else's)."""
    try:
        pk = int(booking_id)
    except (TypeError, ValueError):
        return None
    return Booking.objects.select_related("tour").filter(pk=pk, contact=contact).first()


def booking_status_label(booking: Booking) -> str:
    return booking.get_payment_status_display()


def booking_facts(booking: Booking) -> dict[str, str]:
    """A booking as plain template data."""
    from customer_data.pricing import deposit_for

    return {
        "booking_id": str(booking.pk),
        "booking_reference": booking.booking_reference,
        "tour_name": booking.tour.name,
        "booking_date": booking.start_date.strftime("%d %b %Y"),
        "booking_total": money(booking.total_amount),
        "amount_paid": money(booking.amount_paid),
        "balance_due": money(booking.balance_due),
        "deposit_amount": money(deposit_for(booking.total_amount)),
        "deposit_percent": f"{Decimal(settings.DEPOSIT_PERCENT):g}",
        "booking_status": booking_status_label(booking),
    }


@option_provider("active_tours")
def active_tour_rows(run, **params) -> list[dict[str, str]]:
    rows = []
    for tour in active_tours():
        days = f"{tour.duration_days} days" if tour.duration_days > 1 else "1 day"
        description = f"{money(tour.base_price)} per adult · {days}"
        if len(tour.name) > LIST_ROW_TITLE_MAX:  # the title will be cut: name it in full here
            description = f"{tour.name} · {description}"
        rows.append({"id": str(tour.pk), "title": tour.name, "description": description})
    return rows


def _due_or_status(booking: Booking) -> str:
    if booking.balance_due > 0:
        return f"balance {money(booking.balance_due)}"
    return booking_status_label(booking)


@option_provider("contact_bookings")
def contact_booking_rows(run, **params) -> list[dict[str, str]]:
    unpaid_only = bool(run.context.get("unpaid_only"))
    return [
        {
            "id": str(b.pk),
            "title": b.booking_reference,
            "description": f"{b.tour.name} · {b.start_date:%d %b %Y} · {_due_or_status(b)}",
        }
        for b in contact_bookings(run.contact, unpaid_only=unpaid_only)
    ]
