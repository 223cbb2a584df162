"""Create the demo catalogue (Victoria Falls tours, USD prices, a seasonal price); idempotent.

`--admin` also creates a local superuser and prints its credentials (kept in
var/local-admin.json, which is not committed, so a second run prints the same ones).
"""

import json
import secrets
from datetime import date
from decimal import Decimal
from pathlib import Path

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand
from django.db import transaction

from customer_data.models import SeasonalTourPrice, Tour

TOURS = [
    {
        "name": "Victoria Falls Guided Tour",
        "category": Tour.Category.SIGHTSEEING,
        "description": "A guided walk through the rainforest to the 16 viewpoints of the Falls.",
        "base_price": "50.00",
        "child_price": "25.00",
        "duration_days": 1,
        "location": "Victoria Falls Rainforest",
    },
    {
        "name": "Zambezi Sunset Cruise",
        "category": Tour.Category.CRUISE,
        "description": "Two hours on the upper Zambezi with drinks and snacks at sunset.",
        "base_price": "85.00",
        "child_price": "45.00",
        "duration_days": 1,
        "location": "Upper Zambezi River",
    },
    {
        "name": "White Water Rafting",
        "category": Tour.Category.ADVENTURE,
        "description": "A full day on the rapids of the Batoka Gorge (ages 15 and up).",
        "base_price": "150.00",
        "child_price": None,
        "duration_days": 1,
        "location": "Batoka Gorge",
    },
    {
        "name": "Flight of Angels Helicopter Flight",
        "category": Tour.Category.SCENIC_FLIGHT,
        "description": "Thirteen minutes over the Falls and the gorges.",
        "base_price": "180.00",
        "child_price": "180.00",
        "duration_days": 1,
        "location": "Victoria Falls",
    },
    {
        "name": "Chobe Day Safari",
        "category": Tour.Category.WILDLIFE,
        "description": "Boat and game drive in Chobe National Park, Botswana, with lunch.",
        "base_price": "190.00",
        "child_price": "120.00",
        "duration_days": 1,
        "location": "Chobe National Park",
    },
    {
        "name": "Hwange 3-Day Safari",
        "category": Tour.Category.WILDLIFE,
        "description": "Three days of game drives in Hwange National Park, full board.",
        "base_price": "650.00",
        "child_price": "420.00",
        "duration_days": 3,
        "location": "Hwange National Park",
    },
]


def _money(value):
    return None if value is None else Decimal(value)


class Command(BaseCommand):
    help = "Create the demo tour catalogue (idempotent); --admin adds a local superuser."

    def add_arguments(self, parser):
        parser.add_argument("--admin", action="store_true", help="also create a local superuser")

    @transaction.atomic
    def handle(self, *args, admin=False, **options):
        created = 0
        for spec in TOURS:
            defaults = {
                **spec,
                "base_price": _money(spec["base_price"]),
                "child_price": _money(spec["child_price"]),
            }
            _, was_created = Tour.objects.update_or_create(name=spec["name"], defaults=defaults)
            created += was_created
        hwange = Tour.objects.get(name="Hwange 3-Day Safari")
        this_year = date.today().year
        for year in (this_year, this_year + 1):
            SeasonalTourPrice.objects.update_or_create(
                tour=hwange,
                start_date=date(year, 7, 1),
                end_date=date(year, 10, 31),
                defaults={
                    "price_per_adult": Decimal("780.00"),
                    "price_per_child": Decimal("500.00"),
                },
            )
        self.stdout.write(
            f"Demo catalogue: {len(TOURS)} tours ({created} new), peak-season prices for Hwange."
        )
        if admin:
            self._ensure_admin()

    def _ensure_admin(self):
        path = Path(settings.REPO_DIR) / "var" / "local-admin.json"
        User = get_user_model()
        saved = json.loads(path.read_text()) if path.is_file() else None
        user = User.objects.filter(username=saved["username"] if saved else "admin").first()
        if saved is None or user is None or not user.check_password(saved["password"]):
            saved = {"username": "admin", "password": secrets.token_urlsafe(12)}
            user = user or User(username=saved["username"], email="admin@localhost")
            user.is_staff = user.is_superuser = True
            user.set_password(saved["password"])
            user.save()
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(saved))
            path.chmod(0o600)
        self.stdout.write(
            f"Local admin: username {saved['username']!r}, password {saved['password']!r} "
            f"(saved in {path})"
        )
