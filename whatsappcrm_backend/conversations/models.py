"""Contacts, the record of their messages (in and out), and what came with those messages:
media files and ad referrals."""

from django.core.files.storage import Storage, storages
from django.db import models
from django.db.models import Q
from django.utils import timezone


class Contact(models.Model):
    """A person who writes to the business, known by a phone number, a user id, or both.

    Since WhatsApp's usernames (2026) a user may be known only by a business-scoped user ID
    (BSUID, e.g. ``US.13491208655302741918``): Meta then withholds the phone number. Each id is
    unique when present and at least one is always there (a database constraint); a later
    message that carries both merges what was known apart (``services.resolve_contact``).
    """

    whatsapp_id = models.CharField(
        "phone number (wa_id)",
        max_length=32,
        unique=True,
        null=True,
        blank=True,
        help_text="The wa_id: digits, country code first. Empty when the contact uses a "
        "username and WhatsApp does not share their number.",
    )
    user_id = models.CharField(
        "business-scoped user ID",
        max_length=160,
        unique=True,
        null=True,
        blank=True,
        help_text="WhatsApp's id for this person with our business (e.g. US.1349…).",
    )
    username = models.CharField(
        max_length=64, blank=True, help_text="The WhatsApp username they chose, if any."
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
        constraints = [
            models.CheckConstraint(
                condition=Q(whatsapp_id__isnull=False) | Q(user_id__isnull=False),
                name="contact_has_an_id",
            ),
            # NULL, never "", for an id that is not known: "" would collide in the unique index.
            models.CheckConstraint(
                condition=~Q(whatsapp_id="") & ~Q(user_id=""), name="contact_ids_not_blank"
            ),
        ]

    def __str__(self) -> str:
        handle = self.whatsapp_id or (f"@{self.username}" if self.username else self.user_id)
        return f"{self.name} ({handle})" if self.name else str(handle)

    @property
    def address(self) -> str:
        """What the channel reaches the contact by: the phone number when known (Meta's
        preference too), else the business-scoped user ID."""
        return self.whatsapp_id or self.user_id or ""

    @property
    def identities(self) -> frozenset[str]:
        """Every id an outbound payload may be addressed to for this contact."""
        return frozenset(i for i in (self.whatsapp_id, self.user_id) if i)


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
    deleted_at = models.DateTimeField(
        null=True, blank=True, help_text="Inbound: when the contact deleted it for everyone."
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
    recipient_user_id = models.CharField(
        max_length=160, blank=True, help_text="The recipient's business-scoped user ID."
    )
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


MEDIA_STORAGE = "inbound_media"  # the STORAGES entry (settings.py) inbound files are kept in


def media_storage() -> Storage:
    """Where inbound media files live: ``STORAGES["inbound_media"]`` (a private local folder
    by default, S3-compatible storage when configured; never a public URL)."""
    return storages[MEDIA_STORAGE]


def _media_path(instance: "MessageMedia", filename: str) -> str:
    # Never the sender's file name: a content-addressed name in a dated folder.
    return f"inbound/{timezone.now():%Y/%m}/{instance.sha256 or instance.channel_media_id}"


class MessageMedia(models.Model):
    """The file an inbound message carried (a photo, a PDF), once it is downloaded and checked.

    Created ``pending`` when the message is recorded; the channel downloads it, checks its size,
    type and checksum, and stores it (``stored``) or says why not (``refused``: the file breaks
    our limits; ``failed``: it could not be fetched, retried a few times).
    """

    class Status(models.TextChoices):
        PENDING = "pending", "Waiting to be downloaded"
        STORED = "stored", "Stored"
        REFUSED = "refused", "Refused (size, type or checksum)"
        FAILED = "failed", "Could not be downloaded"

    message = models.OneToOneField(Message, on_delete=models.CASCADE, related_name="media")
    channel_media_id = models.CharField(
        "media ID", max_length=128, help_text="The channel's id of the file (Meta's media ID)."
    )
    kind = models.CharField(max_length=16, help_text="image, document, audio, video, sticker.")
    declared_mime_type = models.CharField(max_length=128, blank=True)
    declared_sha256 = models.CharField(max_length=128, blank=True)
    caption = models.TextField(blank=True)
    filename = models.CharField(
        max_length=255, blank=True, help_text="The name the sender gave the file (documents)."
    )
    status = models.CharField(
        max_length=16, choices=Status.choices, default=Status.PENDING, db_index=True
    )
    file = models.FileField(storage=media_storage, upload_to=_media_path, blank=True)
    mime_type = models.CharField(max_length=128, blank=True)
    size = models.PositiveIntegerField(null=True, blank=True)
    sha256 = models.CharField("SHA-256 (hex) of the stored bytes", max_length=64, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    error = models.CharField(max_length=255, blank=True)
    stored_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = "message media"
        verbose_name_plural = "message media"
        constraints = [
            models.CheckConstraint(
                condition=~Q(status="stored") | (~Q(file="") & Q(size__isnull=False)),
                name="stored_media_has_a_file",
            )
        ]

    def __str__(self) -> str:
        return f"{self.kind} of message {self.message_id} ({self.status})"

    @property
    def is_image(self) -> bool:
        return self.mime_type.startswith("image/")


class Referral(models.Model):
    """Where a conversation came from: the ad (click-to-WhatsApp) or post the contact tapped.

    Meta puts it on the first message the contact sends after tapping; ``ctwa_clid`` is the
    click id the ads side reports conversions with.
    """

    message = models.OneToOneField(Message, on_delete=models.CASCADE, related_name="referral")
    contact = models.ForeignKey(Contact, on_delete=models.CASCADE, related_name="referrals")
    ctwa_clid = models.CharField("click ID (ctwa_clid)", max_length=255, blank=True)
    source_url = models.CharField(max_length=2048, blank=True)
    source_id = models.CharField(max_length=128, blank=True)
    source_type = models.CharField(max_length=32, blank=True, help_text="ad or post.")
    headline = models.CharField(max_length=512, blank=True)
    body = models.TextField(blank=True)
    media_type = models.CharField(max_length=32, blank=True)
    received_at = models.DateTimeField(help_text="When the message carrying it was sent.")

    class Meta:
        ordering = ["-received_at", "-id"]
        indexes = [models.Index(fields=["contact", "received_at"], name="referral_contact_idx")]

    def __str__(self) -> str:
        return self.headline or self.source_id or self.ctwa_clid or f"referral {self.pk}"
