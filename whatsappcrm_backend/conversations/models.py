"""Contacts: the people who write to the business on WhatsApp."""

from django.db import models
from django.utils import timezone


class Contact(models.Model):
    whatsapp_id = models.CharField(
        "WhatsApp ID",
        max_length=32,
        unique=True,
        help_text="The wa_id: digits, country code first.",
    )
    name = models.CharField("profile name", max_length=255, blank=True)
    first_seen = models.DateTimeField(default=timezone.now, editable=False)
    last_seen = models.DateTimeField(null=True, blank=True)
    last_inbound_at = models.DateTimeField(
        null=True,
        blank=True,
        help_text="When the contact last wrote to us; free-form replies are allowed for 24 h.",
    )
    needs_human_intervention = models.BooleanField(default=False, db_index=True)
    bot_paused_until = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-last_seen", "-created_at"]

    def __str__(self) -> str:
        return f"{self.name} ({self.whatsapp_id})" if self.name else self.whatsapp_id


class Message(models.Model):
    """One WhatsApp message, in or out, as we recorded it.

    Outbound messages are created ``pending`` and sent in order per contact by the channel's
    send queue; ``accepted`` means the channel (Meta) answered with a ``wamid``. From there
    only its delivery statuses move the status, and only forward: accepted → sent →
    delivered → read, or ``failed`` (terminal). Inbound messages are ``received``.
    """

    class Direction(models.TextChoices):
        INBOUND = "in", "Inbound"
        OUTBOUND = "out", "Outbound"

    class Status(models.TextChoices):
        RECEIVED = "received", "Received"  # inbound
        PENDING = "pending", "Pending"  # outbound, queued, not yet accepted by Meta
        ACCEPTED = "accepted", "Accepted by Meta"
        SENT = "sent", "Sent"
        DELIVERED = "delivered", "Delivered"
        READ = "read", "Read"
        FAILED = "failed", "Failed"

    contact = models.ForeignKey(Contact, on_delete=models.CASCADE, related_name="messages")
    business_number_id = models.CharField(
        "business number ID",
        max_length=64,
        blank=True,
        help_text="The business number the message went through, as the channel identifies it "
        "(WhatsApp: Meta's phone number ID). Empty: not known yet.",
    )
    direction = models.CharField(max_length=3, choices=Direction.choices)
    wamid = models.CharField(
        "WhatsApp message ID", max_length=255, unique=True, null=True, blank=True
    )
    message_type = models.CharField(
        max_length=32,
        help_text="text, button_reply, list_reply, flow_reply, image, ... (in); "
        "text, button, list, flow, template (out).",
    )
    text = models.TextField(blank=True, help_text="The body, or a readable summary.")
    payload = models.JSONField(
        default=dict, blank=True, help_text="The inbound message object or the Graph payload."
    )
    status = models.CharField(max_length=16, choices=Status.choices, db_index=True)
    timestamp = models.DateTimeField(
        null=True, blank=True, help_text="Inbound: when the contact sent it (Meta's clock)."
    )
    accepted_at = models.DateTimeField(null=True, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)
    read_at = models.DateTimeField(null=True, blank=True)
    failed_at = models.DateTimeField(null=True, blank=True)
    error_code = models.IntegerField(null=True, blank=True)
    error_title = models.CharField(max_length=255, blank=True)
    error_details = models.TextField(blank=True)
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    flow_step = models.CharField(
        max_length=100, blank=True, help_text="Which flow step (or 'staff') sent it."
    )
    dispatched_at = models.DateTimeField(
        null=True, blank=True, help_text="Inbound: when it was handed to the bot (once)."
    )
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["created_at", "id"]
        indexes = [
            # The per-contact outbound queue: oldest pending message first.
            models.Index(
                fields=["contact", "created_at", "id"],
                name="message_outbound_queue_idx",
                condition=models.Q(direction="out", status="pending"),
            ),
            models.Index(fields=["contact", "-created_at"], name="message_contact_recent_idx"),
        ]

    def __str__(self) -> str:
        arrow = "←" if self.direction == self.Direction.INBOUND else "→"
        return f"{arrow} {self.message_type} {self.wamid or f'#{self.pk}'}"


class MessageStatusEvent(models.Model):
    """One delivery status Meta reported for one ``wamid``: the history behind Message.status.

    Stored by ``wamid`` (unique with ``status``), so a status arriving before we recorded
    Meta's answer to the send is kept and applied when the message is known.
    """

    wamid = models.CharField(max_length=255)
    status = models.CharField(max_length=16)
    message = models.ForeignKey(
        Message, null=True, blank=True, on_delete=models.CASCADE, related_name="status_events"
    )
    timestamp = models.DateTimeField()
    recipient_id = models.CharField(max_length=32, blank=True)
    error_code = models.IntegerField(null=True, blank=True)
    error_title = models.CharField(max_length=255, blank=True)
    error_details = models.TextField(blank=True)
    raw = models.JSONField(default=dict, blank=True)
    received_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["timestamp", "id"]
        constraints = [
            models.UniqueConstraint(fields=["wamid", "status"], name="unique_status_per_wamid")
        ]
        indexes = [
            models.Index(
                fields=["wamid"],
                name="status_event_orphan_idx",
                condition=models.Q(message__isnull=True),
            )
        ]

    def __str__(self) -> str:
        return f"{self.wamid} {self.status}"


class OutboundLane(models.Model):
    """The per-contact send lock: the worker holding this row's lock drains the contact's queue.

    A row of its own rather than the Contact row, so webhook updates to the contact (last
    seen, profile name) neither wait for a Graph call nor make the lock look taken.
    """

    contact = models.OneToOneField(
        Contact, primary_key=True, on_delete=models.CASCADE, related_name="outbound_lane"
    )

    def __str__(self) -> str:
        return f"lane {self.contact_id}"
