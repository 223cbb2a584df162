"""Prices: seasonal price covering the start date, else the tour's base price; deposits."""

from dataclasses import dataclass
from datetime import date
from decimal import ROUND_HALF_UP, Decimal

from django.conf import settings
from django.db.models import DurationField, ExpressionWrapper, F

from .models import SeasonalTourPrice, Tour

CENT = Decimal("0.01")


def to_money(value: Decimal | int | str) -> Decimal:
    """Round to cents, half up (as a cashier would). Floats are refused."""
    if isinstance(value, float):
        raise TypeError("money must not be a float")
    return Decimal(value).quantize(CENT, rounding=ROUND_HALF_UP)


def deposit_for(total: Decimal) -> Decimal:
    """The deposit (DEPOSIT_PERCENT of the total, default 50%), rounded to cents."""
    return to_money(Decimal(total) * Decimal(settings.DEPOSIT_PERCENT) / Decimal(100))


@dataclass(frozen=True)
class Quote:
    tour_id: int
    start_date: date
    adults: int
    children: int
    price_per_adult: Decimal
    price_per_child: Decimal
    total: Decimal
    deposit: Decimal
    seasonal_price_id: int | None

    @property
    def is_seasonal(self) -> bool:
        return self.seasonal_price_id is not None


def quote_booking(tour: Tour, start_date: date, adults: int, children: int) -> Quote:
    if adults < 1:
        raise ValueError("a booking needs at least one adult")
    if children < 0:
        raise ValueError("the number of children cannot be negative")
    season = (
        SeasonalTourPrice.objects.filter(
            tour=tour, start_date__lte=start_date, end_date__gte=start_date
        )
        # Overlapping seasons: the narrowest (most specific) wins, then the newest.
        .order_by(ExpressionWrapper(F("end_date") - F("start_date"), DurationField()), "-id")
        .first()
    )
    if season is not None:
        adult = season.price_per_adult
        child = season.price_per_child if season.price_per_child is not None else adult
    else:
        adult = tour.base_price
        child = tour.child_price if tour.child_price is not None else adult
    total = to_money(adult * adults + child * children)
    return Quote(
        tour_id=tour.pk,
        start_date=start_date,
        adults=adults,
        children=children,
        price_per_adult=to_money(adult),
        price_per_child=to_money(child),
        total=total,
        deposit=deposit_for(total),
        seasonal_price_id=season.pk if season else None,
    )
