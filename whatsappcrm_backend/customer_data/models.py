"""Tours, bookings, travellers and payments. Money is Decimal, and constraints back the rules.

Payments start only through `customer_data.checkout.request_payment`; their status changes
only through `customer_data.services.transition_payment` (the state machine). What a gateway
knows about a payment (its references, poll URL, codes) lives in the gateway's own models.
"""

import secrets
import uuid
from decimal import Decimal

from django.conf import settings
from django.db import IntegrityError, models, transaction
from django.db.models import Q

MONEY = {"max_digits": 12, "decimal_places": 2}
_REFERENCE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O, 1/I: read over the phone


def random_code(length: int) -> str:
    return "".join(secrets.choice(_REFERENCE_ALPHABET) for _ in range(length))


def generate_booking_reference() -> str:
    """`BK-` + 8 random characters (40 bits): unguessable, short enough to read out."""
    return "BK-" + random_code(8)


def generate_payment_reference() -> str:
    """Our merchant reference sent to gateways: `PAY-` + 12 random characters (60 bits)."""
    return "PAY-" + random_code(12)


class _RetryOnReferenceCollision:
    """Regenerate a random unique reference if an insert collides with an existing one.

    The unique index makes sharing a reference impossible; this only turns the (rare)
    collision into a retry instead of an error.
    """

    reference_field: str = ""
    reference_factory = None

    def save(self, *args, **kwargs):
        if not self._state.adding:
            return super().save(*args, **kwargs)
        for attempt in range(5):
            try:
                with transaction.atomic():
                    return super().save(*args, **kwargs)
            except IntegrityError as exc:
                if self.reference_field not in str(exc) or attempt == 4:
                    raise
                setattr(self, self.reference_field, type(self).reference_factory())
        return None


class Tour(models.Model):
    class Category(models.TextChoices):
        SIGHTSEEING = "sightseeing", "Sightseeing"
        WILDLIFE = "wildlife", "Wildlife safari"
        ADVENTURE = "adventure", "Adventure"
        CRUISE = "cruise", "River cruise"
        CULTURAL = "cultural", "Cultural"
        SCENIC_FLIGHT = "scenic_flight", "Scenic flight"

    name = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    category = models.CharField(max_length=32, choices=Category.choices, blank=True)
    base_price = models.DecimalField(help_text="Price per adult.", **MONEY)
    child_price = models.DecimalField(
        null=True, blank=True, help_text="Price per child; blank means the adult price.", **MONEY
    )
    duration_days = models.PositiveSmallIntegerField(default=1)
    location = models.CharField(max_length=200, blank=True)
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(condition=Q(base_price__gte=0), name="tour_base_price_gte_0"),
            models.CheckConstraint(
                condition=Q(child_price__isnull=True) | Q(child_price__gte=0),
                name="tour_child_price_gte_0",
            ),
            models.CheckConstraint(condition=Q(duration_days__gte=1), name="tour_duration_gte_1"),
        ]

    def __str__(self) -> str:
        return self.name


class SeasonalTourPrice(models.Model):
    tour = models.ForeignKey(Tour, on_delete=models.CASCADE, related_name="seasonal_prices")
    start_date = models.DateField()
    end_date = models.DateField()
    price_per_adult = models.DecimalField(**MONEY)
    price_per_child = models.DecimalField(
        null=True, blank=True, help_text="Blank means the seasonal adult price.", **MONEY
    )

    class Meta:
        ordering = ["tour", "start_date"]
        constraints = [
            models.CheckConstraint(
                condition=Q(end_date__gte=models.F("start_date")), name="season_dates_ordered"
            ),
            models.CheckConstraint(
                condition=Q(price_per_adult__gte=0), name="season_adult_price_gte_0"
            ),
            models.CheckConstraint(
                condition=Q(price_per_child__isnull=True) | Q(price_per_child__gte=0),
                name="season_child_price_gte_0",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.tour}: {self.start_date} to {self.end_date}"


class Booking(_RetryOnReferenceCollision, models.Model):
    class PaymentStatus(models.TextChoices):
        PENDING = "pending", "Pending"
        PENDING_MANUAL = "pending_manual", "Pending manual confirmation"
        DEPOSIT_PAID = "deposit_paid", "Deposit paid"
        PAID = "paid", "Paid"
        REFUNDED = "refunded", "Refunded"
        CANCELLED = "cancelled", "Cancelled"

    class Source(models.TextChoices):
        WHATSAPP = "whatsapp", "WhatsApp"
        MANUAL_ENTRY = "manual_entry", "Manual entry"
        WEBSITE = "website", "Website"
        PHONE = "phone", "Phone call"
        EMAIL = "email", "E-mail"

    reference_field = "booking_reference"
    reference_factory = staticmethod(generate_booking_reference)

    booking_reference = models.CharField(
        max_length=16, unique=True, editable=False, default=generate_booking_reference
    )
    tour = models.ForeignKey(Tour, on_delete=models.PROTECT, related_name="bookings")
    contact = models.ForeignKey(
        "conversations.Contact",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="bookings",
    )
    start_date = models.DateField()
    end_date = models.DateField(null=True, blank=True)
    number_of_adults = models.PositiveSmallIntegerField(default=1)
    number_of_children = models.PositiveSmallIntegerField(default=0)
    total_amount = models.DecimalField(**MONEY)
    amount_paid = models.DecimalField(default=Decimal("0.00"), editable=False, **MONEY)
    payment_status = models.CharField(
        max_length=20, choices=PaymentStatus.choices, default=PaymentStatus.PENDING, db_index=True
    )
    email = models.EmailField(blank=True)
    notes = models.TextField(blank=True)
    source = models.CharField(max_length=20, choices=Source.choices, default=Source.WHATSAPP)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(
                condition=Q(amount_paid__gte=0), name="booking_amount_paid_gte_0"
            ),
            models.CheckConstraint(
                condition=Q(total_amount__gte=0), name="booking_total_amount_gte_0"
            ),
            models.CheckConstraint(
                condition=Q(number_of_adults__gte=1), name="booking_at_least_one_adult"
            ),
            models.CheckConstraint(
                condition=Q(end_date__isnull=True) | Q(end_date__gte=models.F("start_date")),
                name="booking_dates_ordered",
            ),
        ]

    def __str__(self) -> str:
        return self.booking_reference

    @property
    def balance_due(self) -> Decimal:
        return max(self.total_amount - self.amount_paid, Decimal("0.00"))


class Traveler(models.Model):
    class TravelerType(models.TextChoices):
        ADULT = "adult", "Adult"
        CHILD = "child", "Child"

    booking = models.ForeignKey(Booking, on_delete=models.CASCADE, related_name="travelers")
    name = models.CharField(max_length=200)
    age = models.PositiveSmallIntegerField(null=True, blank=True)
    nationality = models.CharField(max_length=100, blank=True)
    id_number = models.CharField("ID / passport number", max_length=64, blank=True)
    traveler_type = models.CharField(
        max_length=10, choices=TravelerType.choices, default=TravelerType.ADULT
    )
    medical_dietary_requirements = models.TextField(blank=True)

    class Meta:
        ordering = ["booking", "id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(age__isnull=True) | Q(age__lte=120), name="traveler_age_plausible"
            ),
        ]

    def __str__(self) -> str:
        return self.name


class PaymentMethod(models.TextChoices):
    BANK_TRANSFER = "bank_transfer", "Bank Transfer"
    OMARI = "omari", "Omari"
    CASH = "cash", "Cash"
    PAYNOW_ECOCASH = "paynow_ecocash", "Paynow - Ecocash"
    PAYNOW_ONEMONEY = "paynow_onemoney", "Paynow - OneMoney"
    PAYNOW_INNBUCKS = "paynow_innbucks", "Paynow - Innbucks"
    PAYNOW_CARD = "paynow_card", "Paynow - Card"
    OTHER = "other", "Other"


# Every Paynow method starts with "paynow_": the deployment guide counts them with
# `payment_method__startswith='paynow_'`, so a new one must keep the prefix.
PAYNOW_METHODS = frozenset(method for method in PaymentMethod if method.startswith("paynow_"))
MANUAL_METHODS = frozenset(
    {PaymentMethod.BANK_TRANSFER, PaymentMethod.OMARI, PaymentMethod.CASH, PaymentMethod.OTHER}
)


class PaymentStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    SUCCESSFUL = "successful", "Successful"
    FAILED = "failed", "Failed"
    CANCELLED = "cancelled", "Cancelled"
    EXPIRED = "expired", "Expired"
    REFUNDED = "refunded", "Refunded"


class Payment(_RetryOnReferenceCollision, models.Model):
    Status = PaymentStatus
    Method = PaymentMethod

    reference_field = "reference"
    reference_factory = staticmethod(generate_payment_reference)

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    booking = models.ForeignKey(Booking, on_delete=models.PROTECT, related_name="payments")
    amount = models.DecimalField(**MONEY)
    currency = models.CharField(max_length=3, default="USD")
    payment_method = models.CharField(max_length=32, choices=PaymentMethod.choices)
    status = models.CharField(
        max_length=16,
        choices=PaymentStatus.choices,
        default=PaymentStatus.PENDING,
        db_index=True,
        editable=False,
    )
    reference = models.CharField(
        max_length=64,
        unique=True,
        default=generate_payment_reference,
        help_text="Our unique merchant reference, as sent to the gateway.",
    )
    phone_number = models.CharField(
        max_length=20, blank=True, help_text="The payer's number, as the gateway was given it."
    )
    email = models.EmailField(blank=True, help_text="The payer's e-mail, for the receipt.")
    notes = models.TextField(blank=True)
    proof = models.ForeignKey(
        "conversations.MessageMedia",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="proven_payments",
        help_text="The photo or PDF the payer sent as proof (bank transfer, O'mari).",
    )
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)
    paid_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(condition=Q(amount__gt=0), name="payment_amount_gt_0"),
            models.CheckConstraint(
                condition=Q(payment_method__in=PaymentMethod.values),
                name="payment_method_known",
            ),
            models.CheckConstraint(
                condition=Q(status__in=PaymentStatus.values), name="payment_status_known"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.reference} {self.amount} {self.currency} ({self.status})"

    @property
    def is_paynow(self) -> bool:
        return self.payment_method in PAYNOW_METHODS


class PaymentEvent(models.Model):
    """One row per state change or gateway message touching a payment: its money story."""

    class Source(models.TextChoices):
        IPN = "ipn", "Paynow status update (IPN)"
        POLL = "poll", "Poll"
        STAFF = "staff", "Staff"
        FLOW = "flow", "Conversation / WhatsApp flow"
        GATEWAY = "gateway", "Gateway reply"
        RECONCILIATION = "reconciliation", "Reconciliation"
        SYSTEM = "system", "System"

    payment = models.ForeignKey(Payment, on_delete=models.PROTECT, related_name="events")
    old_status = models.CharField(max_length=16, blank=True)
    new_status = models.CharField(max_length=16, blank=True)
    applied = models.BooleanField(
        default=True, help_text="False when the change was refused (forbidden or duplicate)."
    )
    source = models.CharField(max_length=20, choices=Source.choices)
    message = models.TextField(blank=True)
    raw_data = models.JSONField(default=dict, blank=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return f"{self.payment_id}: {self.old_status or '-'} -> {self.new_status or '-'}"
