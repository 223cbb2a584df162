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
