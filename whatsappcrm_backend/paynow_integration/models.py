"""Paynow configuration, each payment's Paynow attempt, and the log of every status update we
receive (IPN, poll, trace)."""

from django.db import models
from django.db.models import Q

from whatsappcrm.fields import EncryptedTextField
from whatsappcrm.webhook_log import WebhookLog

from .constants import DEFAULT_REMOTE_URL


class PaynowConfig(models.Model):
    class Mode(models.TextChoices):
        """Where Paynow has the integration: every new one starts in test mode."""

        TEST = "test", "Test"
        LIVE = "live", "Live"

    integration_id = models.CharField("Integration ID", max_length=32)
    integration_key = EncryptedTextField(
        "Integration key", help_text="Stored encrypted; never shown again after saving."
    )
    api_base_url = models.URLField(
        "API Base URL",
        max_length=300,
        default=DEFAULT_REMOTE_URL,
        help_text="The Express Checkout URL (…/interface/remotetransaction). The web checkout, "
        "trace and other endpoints are derived from it.",
    )
    auth_email = models.EmailField(
        "Auth e-mail",
        blank=True,
        help_text="In test mode Paynow requires the merchant account's own login e-mail here.",
    )
    mode = models.CharField(
        "Mode",
        max_length=4,
        choices=Mode.choices,
        default=Mode.TEST,
        help_text="Paynow starts every new integration in test mode: payments are simulated, only "
        "Paynow's test phone numbers can pay, and the Auth e-mail must be your Paynow login "
        "e-mail. Choose Live only after Paynow has activated the integration for real payments, "
        "so that it matches what the Paynow dashboard shows.",
    )
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "Paynow Configuration"
        verbose_name_plural = "Paynow Configurations"
        constraints = [
            models.UniqueConstraint(
                fields=["is_active"], condition=Q(is_active=True), name="one_active_paynow_config"
            )
        ]

    def __str__(self) -> str:
        return f"Paynow integration {self.integration_id}" + ("" if self.is_active else " (off)")


class PaynowAttempt(models.Model):
    """What Paynow knows of one payment: our trace id, its references, poll URL, codes, and
    when reconciliation asks next. One per payment; created with the payment, before Paynow
    hears of it, so a lost reply can always be traced."""

    class Kind(models.TextChoices):
        EXPRESS = "express", "Express checkout (mobile money)"
        WEB = "web", "Web checkout (browser)"

    payment = models.OneToOneField(
        "customer_data.Payment", on_delete=models.PROTECT, related_name="paynow_attempt"
    )
    config = models.ForeignKey(
        PaynowConfig,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="attempts",
        help_text="The configuration the payment was started with (polls use it too).",
    )
    kind = models.CharField(max_length=8, choices=Kind.choices, default=Kind.EXPRESS)
    merchant_trace = models.CharField(
        max_length=32,
        unique=True,
        null=True,
        blank=True,
        editable=False,
        help_text="Unique per attempt; lets us trace an initiation whose reply was lost.",
    )
    paynow_reference = models.CharField(max_length=64, blank=True, db_index=True)
    poll_url = models.URLField(max_length=500, blank=True)
    browser_url = models.URLField(
        max_length=500, blank=True, help_text="Web checkout: Paynow's page for the payer."
    )
    gateway_status = models.CharField(
        max_length=32, blank=True, help_text="The last status Paynow reported, verbatim."
    )
    instructions = models.TextField(blank=True, help_text="Paynow's instructions for the payer.")
    authorization_code = models.CharField(
        max_length=64, blank=True, help_text="InnBucks: the code the payer enters in the app."
    )
    authorization_expires = models.DateTimeField(null=True, blank=True)
    check_attempts = models.PositiveIntegerField(default=0)
    last_checked_at = models.DateTimeField(null=True, blank=True)
    next_check_at = models.DateTimeField(
        null=True, blank=True, db_index=True, help_text="When reconciliation polls it next."
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "Paynow attempt"
        verbose_name_plural = "Paynow attempts"
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"Paynow {self.paynow_reference or '(no reference yet)'} for {self.payment_id}"


class PaynowStatusUpdate(WebhookLog):
    """A status message from Paynow, stored raw and untrusted before anything acts on it."""

    class Source(models.TextChoices):
        IPN = "ipn", "Result URL (IPN)"
        POLL = "poll", "Poll"
        TRACE = "trace", "Trace"

    class Flag(models.TextChoices):
        NONE = "", "—"
        UNKNOWN_REFERENCE = "unknown_reference", "Unknown reference"
        AMOUNT_MISMATCH = "amount_mismatch", "Amount differs from the payment"
        DISPUTED = "disputed", "Disputed"
        REFUND_REPORTED = "refund_reported", "Refund reported by Paynow"
        UNKNOWN_STATUS = "unknown_status", "Unknown status"
        CONFLICTING_STATUS = "conflicting_status", "Conflicts with the payment's final status"

    source = models.CharField(max_length=8, choices=Source.choices, default=Source.IPN)
    processing_ms = models.PositiveIntegerField(
        null=True, blank=True, help_text="From receipt to applied status, in milliseconds."
    )
    reference = models.CharField(max_length=64, blank=True, db_index=True)
    paynow_reference = models.CharField(max_length=64, blank=True, db_index=True)
    status = models.CharField(max_length=32, blank=True)
    amount = models.DecimalField(max_digits=12, decimal_places=2, null=True, blank=True)
    payment = models.ForeignKey(
        "customer_data.Payment",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="paynow_updates",
    )
    flag = models.CharField(max_length=24, choices=Flag.choices, blank=True, db_index=True)
    flag_resolved = models.BooleanField(default=False)

    class Meta(WebhookLog.Meta):
        indexes = [models.Index(fields=["paynow_reference", "status"])]

    def __str__(self) -> str:
        return f"{self.get_source_display()} {self.reference or '?'} {self.status or '?'}"
