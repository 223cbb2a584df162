"""Reads about contacts and their conversations."""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import Q, QuerySet
from django.utils import timezone

from .models import Contact, Message, MessageMedia, Referral

SERVICE_WINDOW = timedelta(hours=24)


def is_bot_paused(contact: Contact, *, now: datetime | None = None) -> bool:
    """True while staff have the conversation: the bot must not answer until the pause ends."""
    now = now or timezone.now()
    return contact.bot_paused_until is not None and contact.bot_paused_until > now


def bot_pause_default_minutes() -> int:
    return int(settings.BOT_PAUSE_DEFAULT_MINUTES)


def service_window_ends_at(contact: Contact) -> datetime | None:
    """When the 24-hour customer-service window closes (None: the contact never wrote)."""
    if contact.last_inbound_at is None:
        return None
    return contact.last_inbound_at + SERVICE_WINDOW


def is_within_service_window(contact: Contact, *, now: datetime | None = None) -> bool:
    """Free-form messages may only be sent within 24 h of the contact's last message."""
    ends_at = service_window_ends_at(contact)
    return ends_at is not None and (now or timezone.now()) < ends_at


def recent_messages(contact: Contact, *, limit: int = 50) -> list[Message]:
    """The contact's last ``limit`` messages, oldest first (for reading as a conversation)."""
    latest = list(
        Message.objects.filter(contact=contact)
        .select_related("media")
        .order_by("-created_at", "-id")[:limit]
    )
    return latest[::-1]


def pending_outbound(contact_id: int) -> QuerySet[Message]:
    """The contact's send queue, in the order it must go out."""
    return Message.objects.filter(
        contact_id=contact_id,
        direction=Message.Direction.OUTBOUND,
        status=Message.Status.PENDING,
    ).order_by("created_at", "id")


def next_pending_message(contact_id: int) -> Message | None:
    return pending_outbound(contact_id).select_related("contact").first()


def last_inbound_business_number(contact: Contact, *, among: Collection[str]) -> str | None:
    """The business number (one of ``among``) the contact last wrote to, if any."""
    if not among:
        return None
    return (
        Message.objects.filter(
            contact=contact,
            direction=Message.Direction.INBOUND,
            business_number_id__in=list(among),
        )
        .order_by("-created_at", "-id")
        .values_list("business_number_id", flat=True)
        .first()
    )


def outbound_since_last_inbound(contact: Contact, *, flow_step: str) -> bool:
    """Whether a message from ``flow_step`` went out (or is on its way, i.e. not failed)
    since the contact last wrote: "already sent for this window"."""
    sent = Message.objects.filter(
        contact=contact, direction=Message.Direction.OUTBOUND, flow_step=flow_step
    ).exclude(status=Message.Status.FAILED)
    if contact.last_inbound_at is not None:
        sent = sent.filter(created_at__gt=contact.last_inbound_at)
    return sent.exists()


def message_by_wamid(wamid: str) -> Message | None:
    return Message.objects.filter(wamid=wamid).first()


def contact_by_identity(*, whatsapp_id: str | None = None, user_id: str | None = None):
    """The contact known by this phone number or user id (the phone number first)."""
    if whatsapp_id:
        found = Contact.objects.filter(whatsapp_id=whatsapp_id).first()
        if found is not None:
            return found
    if user_id:
        return Contact.objects.filter(user_id=user_id).first()
    return None


def identity_taken(ids: Collection[str], *, besides: int) -> bool:
    """Whether another contact than ``besides`` has one of these phone numbers or user ids."""
    return (
        Contact.objects.filter(Q(whatsapp_id__in=list(ids)) | Q(user_id__in=list(ids)))
        .exclude(pk=besides)
        .exists()
    )


# --- media and referrals ---------------------------------------------------------------------


def media_of_message(message_id: int) -> MessageMedia | None:
    """The file an inbound message carried, whatever its state (pending, stored, refused,
    failed); None when the message carried none."""
    return MessageMedia.objects.filter(message_id=message_id).first()


def stored_media_of_message(message_id: int) -> MessageMedia | None:
    """The checked, stored file of message ``message_id`` (a proof of payment, say), or None
    while it is not stored (not downloaded yet, refused, or no file at all). Open it with
    ``media.file.open("rb")``; ``mime_type``, ``size``, ``sha256`` describe it."""
    return MessageMedia.objects.filter(
        message_id=message_id, status=MessageMedia.Status.STORED
    ).first()


def media_by_channel_id(*, contact: Contact, channel_media_id: str) -> MessageMedia | None:
    """The file the contact sent with this channel media id (what a flow keeps when it asks
    for a photo or PDF), whatever its state: it exists from the moment the message is
    recorded, before the download (which runs beside the bot) has finished."""
    return (
        MessageMedia.objects.filter(message__contact=contact, channel_media_id=channel_media_id)
        .order_by("-id")
        .first()
    )


def stored_media_by_channel_id(*, contact: Contact, channel_media_id: str) -> MessageMedia | None:
    """The stored file the contact sent with this channel media id (what a flow keeps when it
    asks for a photo or PDF), or None."""
    return MessageMedia.objects.filter(
        message__contact=contact,
        channel_media_id=channel_media_id,
        status=MessageMedia.Status.STORED,
    ).first()


def referral_before(contact_id: int, *, at: datetime) -> Referral | None:
    """The ad or post that brought the contact to us most recently before ``at`` (e.g. a
    booking's creation): what the dashboard counts bookings per ad by."""
    return (
        Referral.objects.filter(contact_id=contact_id, received_at__lte=at)
        .order_by("-received_at", "-id")
        .first()
    )
