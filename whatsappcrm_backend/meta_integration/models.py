"""WhatsApp Cloud API configuration (one row per business phone number) and the webhook log."""

from __future__ import annotations

from django.db import models

from whatsappcrm.fields import EncryptedTextField
from whatsappcrm.webhook_log import WebhookLog

DEFAULT_API_VERSION = "v23.0"
DEFAULT_GRAPH_BASE_URL = "https://graph.facebook.com"


class MetaAppConfig(models.Model):
    """One WhatsApp business phone number and the Meta app credentials used for it.

    Inbound webhooks are routed to a config by ``metadata.phone_number_id``; outbound messages
    go to ``{graph_base_url}/{api_version}/{phone_number_id}/messages``.
    """

    name = models.CharField(max_length=100, blank=True, help_text="A label for staff.")
    phone_number_id = models.CharField(
        "phone number ID",
        max_length=64,
        unique=True,
        help_text="Meta's phone_number_id (not the phone number itself).",
    )
    waba_id = models.CharField("WhatsApp Business Account ID", max_length=64, blank=True)
    display_phone_number = models.CharField(max_length=32, blank=True)
    access_token = EncryptedTextField(
        blank=True, help_text="System-user access token (stored encrypted)."
    )
    app_secret = EncryptedTextField(
        blank=True,
        help_text="App secret: signs every webhook. Without it, webhooks are refused.",
    )
    previous_app_secret = EncryptedTextField(
        blank=True,
        help_text="The previous app secret, still accepted while a rotation is under way.",
    )
    verify_token = models.CharField(
        max_length=255,
        blank=True,
        help_text="The token typed into Meta's webhook settings for the GET handshake.",
    )
    api_version = models.CharField(max_length=16, default=DEFAULT_API_VERSION)
    graph_base_url = models.URLField(
        "Graph API base URL",
        default=DEFAULT_GRAPH_BASE_URL,
        help_text="Point it at the WhatsApp emulator to move every Graph call there.",
    )
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "Meta app config"
        ordering = ["phone_number_id"]

    def __str__(self) -> str:
        label = self.name or self.display_phone_number or "WhatsApp number"
        return f"{label} ({self.phone_number_id})"

    @property
    def webhook_secrets(self) -> list[str]:
        """Every secret a webhook signature may be made with; empty when none is set."""
        return [s for s in (self.app_secret, self.previous_app_secret) if s]

    @property
    def messages_url(self) -> str:
        base = self.graph_base_url.rstrip("/")
        return f"{base}/{self.api_version}/{self.phone_number_id}/messages"


class WebhookEvent(WebhookLog):
    """Every signed-or-not webhook POST for a known number, stored before it is trusted.

    The shared log's fields (received at, remote IP, headers, body, ``valid`` signature,
    processed, exception and traceback) plus Meta's own: ``body_sha256`` recognises Meta's
    redeliveries of one body (counted in ``delivery_count``), ``phone_number_id`` routed it.
    Processing is a separate step (``services.webhook.process_webhook_event``), so a failed
    event can be replayed from the admin.
    """

    last_received_at = models.DateTimeField(null=True, blank=True)
    delivery_count = models.PositiveIntegerField(default=1)
    body_sha256 = models.CharField("dedupe key (sha256 of the body)", max_length=64, unique=True)
    phone_number_id = models.CharField(max_length=64, blank=True, db_index=True)
    config = models.ForeignKey(
        MetaAppConfig,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="webhook_events",
    )

    def __str__(self) -> str:
        return f"webhook {self.pk} ({self.phone_number_id or '?'})"


class SkippedWebhookItem(models.Model):
    """A message, status or change inside an accepted webhook that could not be read.

    Kept as it came, with where it was and why, so staff see it and nothing is lost; the rest
    of the delivery was processed and Meta got its 200.
    """

    event = models.ForeignKey(WebhookEvent, on_delete=models.CASCADE, related_name="skipped_items")
    kind = models.CharField(max_length=16, help_text="message, status, change, ...")
    path = models.CharField(max_length=200, help_text="Where in the body it was.")
    reason = models.CharField(max_length=500)
    wamid = models.CharField("WhatsApp message ID", max_length=255, blank=True)
    raw = models.JSONField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["event", "path"], name="skipped_item_once_per_event")
        ]

    def __str__(self) -> str:
        return f"{self.kind} at {self.path}"


class TemplateStatus(models.TextChoices):
    """``message_template_status_update`` events, from Meta's webhook reference."""

    APPROVED = "APPROVED", "Approved"
    PENDING = "PENDING", "In review"
    REJECTED = "REJECTED", "Rejected"
    PAUSED = "PAUSED", "Paused"
    DISABLED = "DISABLED", "Disabled"
    FLAGGED = "FLAGGED", "Flagged (at risk)"
    IN_APPEAL = "IN_APPEAL", "In appeal"
    REINSTATED = "REINSTATED", "Reinstated"
    LOCKED = "LOCKED", "Locked"
    LIMIT_EXCEEDED = "LIMIT_EXCEEDED", "Template limit exceeded"
    ARCHIVED = "ARCHIVED", "Archived"
    UNARCHIVED = "UNARCHIVED", "Unarchived"
    PENDING_DELETION = "PENDING_DELETION", "Being deleted"
    DELETED = "DELETED", "Deleted"
    UNKNOWN = "UNKNOWN", "Unknown"


# A template in one of these states cannot be sent: the bot that relies on it is stuck.
UNSENDABLE_TEMPLATE_STATUSES = frozenset(
    {
        TemplateStatus.REJECTED,
        TemplateStatus.PAUSED,
        TemplateStatus.DISABLED,
        TemplateStatus.ARCHIVED,
        TemplateStatus.PENDING_DELETION,
        TemplateStatus.DELETED,
    }
)


class MessageTemplate(models.Model):
    """A message template as Meta last reported it (status, quality, category)."""

    waba_id = models.CharField("WhatsApp Business Account ID", max_length=64)
    template_id = models.CharField(max_length=64)
    name = models.CharField(max_length=512)
    language = models.CharField(max_length=32, blank=True)
    category = models.CharField(max_length=32, blank=True)
    status = models.CharField(
        max_length=32, choices=TemplateStatus.choices, default=TemplateStatus.UNKNOWN
    )
    status_reason = models.CharField(max_length=255, blank=True)
    quality_score = models.CharField(max_length=16, blank=True, help_text="GREEN, YELLOW, RED.")
    status_changed_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name", "language"]
        constraints = [
            models.UniqueConstraint(fields=["waba_id", "template_id"], name="one_row_per_template")
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.language})" if self.language else self.name

    @property
    def sendable(self) -> bool:
        return self.status not in UNSENDABLE_TEMPLATE_STATUSES


class AccountUpdate(models.Model):
    """A webhook change other than messages: account, template, call, preference updates.

    Meta sends most of these without ``metadata`` (no phone number ID); they are stored as
    received and, for templates, folded into ``MessageTemplate``.
    """

    event = models.ForeignKey(
        WebhookEvent, on_delete=models.CASCADE, related_name="account_updates"
    )
    path = models.CharField(max_length=200)
    waba_id = models.CharField("WhatsApp Business Account ID", max_length=64)
    field = models.CharField(max_length=64, db_index=True)
    update_type = models.CharField(
        max_length=64, blank=True, help_text="The change's event (APPROVED, ACCOUNT_DELETED, ...)."
    )
    template = models.ForeignKey(
        MessageTemplate, null=True, blank=True, on_delete=models.SET_NULL, related_name="updates"
    )
    summary = models.CharField(max_length=500, blank=True)
    value = models.JSONField(default=dict)
    received_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-received_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["event", "path"], name="account_update_once_per_event")
        ]

    def __str__(self) -> str:
        return f"{self.field} {self.update_type}".strip()
