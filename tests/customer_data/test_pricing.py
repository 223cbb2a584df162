from datetime import date
from decimal import Decimal

import pytest
from django.test import override_settings

from customer_data.models import SeasonalTourPrice
from customer_data.pricing import deposit_for, quote_booking

pytestmark = pytest.mark.django_db


@pytest.fixture
def high_season_tour(make_tour):
    """USD 650 (children 420), USD 780 for everyone from 1 July to 31 October 2027."""
    tour = make_tour(base_price=Decimal("650.00"), child_price=Decimal("420.00"))
    SeasonalTourPrice.objects.create(
        tour=tour,
        start_date=date(2027, 7, 1),
        end_date=date(2027, 10, 31),
        price_per_adult=Decimal("780.00"),
    )
    return tour


def test_base_price_outside_season(high_season_tour):
    quote = quote_booking(high_season_tour, date(2027, 6, 30), adults=2, children=1)
    assert (quote.price_per_adult, quote.price_per_child) == (Decimal("650.00"), Decimal("420.00"))
    assert quote.total == Decimal("1720.00")
    assert not quote.is_seasonal


@pytest.mark.parametrize("day", [date(2027, 7, 1), date(2027, 8, 15), date(2027, 10, 31)])
def test_seasonal_price_covers_its_dates_inclusive(high_season_tour, day):
    quote = quote_booking(high_season_tour, day, adults=1, children=1)
    # Seasonal child price blank: the seasonal adult price applies to children too.
    assert quote.total == Decimal("1560.00")
    assert quote.is_seasonal


def test_narrowest_overlapping_season_wins(make_tour):
    tour = make_tour(base_price=Decimal("100.00"))
    SeasonalTourPrice.objects.create(
        tour=tour, start_date=date(2027, 1, 1), end_date=date(2027, 12, 31), price_per_adult=110
    )
    SeasonalTourPrice.objects.create(
        tour=tour, start_date=date(2027, 12, 20), end_date=date(2027, 12, 31), price_per_adult=150
    )
    assert quote_booking(tour, date(2027, 12, 25), 1, 0).total == Decimal("150.00")
    assert quote_booking(tour, date(2027, 6, 1), 1, 0).total == Decimal("110.00")


def test_child_price_blank_means_adult_price(make_tour):
    tour = make_tour(base_price=Decimal("150.00"), child_price=None)
    assert quote_booking(tour, date(2027, 1, 5), 1, 2).total == Decimal("450.00")


@pytest.mark.parametrize(
    "total, percent, deposit",
    [
        ("200.00", "50", "100.00"),
        ("85.01", "50", "42.51"),  # half a cent rounds up
        ("99.99", "30", "30.00"),
        ("0.01", "50", "0.01"),
    ],
)
def test_deposit_rounds_to_cents(total, percent, deposit):
    with override_settings(DEPOSIT_PERCENT=Decimal(percent)):
        assert deposit_for(Decimal(total)) == Decimal(deposit)


def test_quote_refuses_nonsense(make_tour):
    tour = make_tour()
    with pytest.raises(ValueError):
        quote_booking(tour, date(2027, 1, 1), adults=0, children=1)
