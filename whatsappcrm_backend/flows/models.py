"""Flow engine state and WhatsApp Flows (Meta's native forms).

- `Flow`: a conversation flow, loaded from `flows/definitions/*.py` by
  `load_flow_definitions`; `ContactFlowState`: where each contact is in it.
- `WhatsAppFlow`: a form registered with Meta (the guide's step 4 record).
- `FlowFormSession`: one form sent to one contact, bound to a booking and an amount by a
  signed flow token; it also measures the flow completion rate.
"""

from django.db import models
from django.db.models import Q

MONEY = {"max_digits": 12, "decimal_places": 2}


class Flow(models.Model):
    name = models.SlugField(max_length=64, unique=True)
    description = models.TextField(blank=True)
    definition = models.JSONField(help_text="The validated definition, as loaded from code.")
    trigger_keywords = models.JSONField(default=list, blank=True)
    is_active = models.BooleanField(default=True)
    version = models.CharField(max_length=64, blank=True, help_text="Hash of the definition.")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class ContactFlowState(models.Model):
    """Where one contact is in a flow. One row per contact; locked while a message is handled."""

    contact = models.OneToOneField(
        "conversations.Contact", on_delete=models.CASCADE, related_name="flow_state"
    )
    flow = models.ForeignKey(Flow, on_delete=models.SET_NULL, null=True, blank=True)
    current_step = models.CharField(max_length=100, blank=True)
    context = models.JSONField(default=dict, blank=True)
    retries = models.PositiveSmallIntegerField(default=0)
    started_at = models.DateTimeField(null=True, blank=True)
    last_activity_at = models.DateTimeField(null=True, blank=True, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        where = f"{self.flow}:{self.current_step}" if self.flow_id else "idle"
        return f"{self.contact} @ {where}"


class WhatsAppFlow(models.Model):
    class Status(models.TextChoices):
        DRAFT = "DRAFT", "Draft"
        PUBLISHED = "PUBLISHED", "Published"
        DEPRECATED = "DEPRECATED", "Deprecated"
        BLOCKED = "BLOCKED", "Blocked"
        THROTTLED = "THROTTLED", "Throttled"

    name = models.CharField(max_length=100, unique=True, help_text="e.g. payment_whatsapp_flow")
    flow_id = models.CharField("Flow ID", max_length=64, blank=True, help_text="From Meta.")
    sync_status = models.CharField(
        max_length=32,
        default="draft",
        blank=True,
        help_text="Our side of the sync with Meta, e.g. draft, published, error.",
    )
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.DRAFT)
    flow_json = models.JSONField("Flow JSON", default=dict, blank=True)
    description = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "WhatsApp Flow"
        verbose_name_plural = "WhatsApp Flows"
        ordering = ["name"]

    def __str__(self) -> str:
        return f"{self.name} ({self.status})"


class FlowFormSession(models.Model):
    """A WhatsApp Flow form sent to a contact; its flow token's server-side record."""

    class Status(models.TextChoices):
        SENT = "sent", "Sent"
        SUBMITTED = "submitted", "Submitted (payment started)"
        COMPLETED = "completed", "Completed"
        EXPIRED = "expired", "Expired"

    token_id = models.CharField(max_length=64, unique=True)
    whatsapp_flow = models.ForeignKey(WhatsAppFlow, on_delete=models.PROTECT, related_name="+")
    contact = models.ForeignKey(
        "conversations.Contact", on_delete=models.CASCADE, related_name="form_sessions"
    )
    booking = models.ForeignKey(
        "customer_data.Booking", on_delete=models.CASCADE, related_name="form_sessions"
    )
    amount = models.DecimalField(**MONEY)
    purpose = models.CharField(max_length=32, blank=True, help_text="full, deposit, balance")
    status = models.CharField(
        max_length=16, choices=Status.choices, default=Status.SENT, db_index=True
    )
    payment = models.OneToOneField(
        "customer_data.Payment",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="form_session",
    )
    expires_at = models.DateTimeField()
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    submitted_at = models.DateTimeField(null=True, blank=True)
    claimed_at = models.DateTimeField(
        null=True,
        blank=True,
        help_text="Set while a submission starts the payment (another press is told so).",
    )
    completed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(condition=Q(amount__gt=0), name="form_session_amount_gt_0")
        ]

    def __str__(self) -> str:
        return f"{self.whatsapp_flow.name} for {self.booking} ({self.status})"
