"""Writes to contacts and messages: the record of every message in and out, and the send queue.

``queue_message`` is the one way to send: the registered channel (``conversations.channel``)
checks and describes the payload at once (a violation of its limits raises in the caller),
a pending outbound ``Message`` is recorded and, after commit, the channel's send queue is
woken; it sends the contact's messages strictly in the order they were queued.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.contrib.auth.base_user import AbstractBaseUser
from django.contrib.auth.models import AnonymousUser
from django.core.files.base import ContentFile
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from . import channel
from .models import Contact, Message, MessageMedia, MessageStatusEvent, Referral
from .selectors import bot_pause_default_minutes
from .selectors import is_bot_paused as is_bot_paused  # re-exported: part of this API

logger = logging.getLogger(__name__)

# Forward-only delivery progress; ``failed`` is terminal and handled apart.
STATUS_RANK: dict[str, int] = {
    Message.Status.PENDING: 0,
    Message.Status.ACCEPTED: 1,
    Message.Status.SENT: 2,
    Message.Status.DELIVERED: 3,
    Message.Status.READ: 4,
}
_TIMESTAMP_FIELD: dict[str, str] = {
    Message.Status.SENT: "sent_at",
    Message.Status.DELIVERED: "delivered_at",
    Message.Status.READ: "read_at",
    Message.Status.FAILED: "failed_at",
}


# --- contacts ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Identity:
    """Who a message says it is from: a phone number, a business-scoped user ID, or both, with
    the profile Meta sent (any part may be missing; at least one id is not)."""

    whatsapp_id: str | None = None
    user_id: str | None = None
    profile_name: str = ""
    username: str = ""

    def __post_init__(self) -> None:
        if not (self.whatsapp_id or self.user_id):
            raise ValueError("an identity needs a phone number or a user id")


def resolve_contact(identity: Identity) -> Contact:
    """The contact this identity belongs to: found by either id, created when new, completed
    with the id it lacked, and merged when the two ids were known as two contacts.

    Runs in one transaction with both contact rows locked, so concurrent webhooks for the same
    person create or merge it once (a lost creation race is retried against the winner's row).
    """
    for attempt in range(3):
        try:
            with transaction.atomic():
                return _resolve_locked(identity)
        except IntegrityError:
            if attempt == 2:
                raise
    raise AssertionError("unreachable")


def _resolve_locked(identity: Identity) -> Contact:
    lookup = Q(pk__in=[])
    if identity.whatsapp_id:
        lookup |= Q(whatsapp_id=identity.whatsapp_id)
    if identity.user_id:
        lookup |= Q(user_id=identity.user_id)
    found = list(Contact.objects.select_for_update().filter(lookup).order_by("pk"))
    if not found:
        return Contact.objects.create(
            whatsapp_id=identity.whatsapp_id or None,
            user_id=identity.user_id or None,
            name=identity.profile_name,
            username=identity.username,
        )
    if len(found) == 2:
        by_phone = next(c for c in found if c.whatsapp_id == identity.whatsapp_id)
        by_user = next(c for c in found if c.user_id == identity.user_id)
        keep, absorbed = sorted((by_phone, by_user), key=_last_active, reverse=True)
        contact = merge_contacts(keep=keep, absorbed=absorbed)
    else:
        contact = found[0]
    changes: dict[str, Any] = {}
    if identity.whatsapp_id and contact.whatsapp_id != identity.whatsapp_id:
        changes["whatsapp_id"] = identity.whatsapp_id
    if identity.user_id and contact.user_id != identity.user_id:
        if contact.user_id:
            # Meta issues a new user id when a person changes their number: the latest wins.
            logger.info("Contact's user id changed", extra={"contact": contact.pk})
        changes["user_id"] = identity.user_id
    if identity.username and contact.username != identity.username:
        changes["username"] = identity.username
    if identity.profile_name and contact.name != identity.profile_name:
        changes["name"] = identity.profile_name
    if changes:
        Contact.objects.filter(pk=contact.pk).update(**changes, updated_at=timezone.now())
        contact.refresh_from_db()
    return contact


def touch_contact_inbound(identity: Identity, *, sent_at: datetime) -> Contact:
    """The contact wrote to us: resolve it (``resolve_contact``), refresh last-seen times.

    ``sent_at`` is Meta's timestamp of the message, capped at now; times only move forward, so
    a late redelivery of an old message does not reopen a closed 24-hour window.
    """
    sent_at = min(sent_at, timezone.now())
    contact = resolve_contact(identity)
    Contact.objects.filter(pk=contact.pk, first_seen__gt=sent_at).update(first_seen=sent_at)
    Contact.objects.filter(pk=contact.pk).filter(
        Q(last_seen__isnull=True) | Q(last_seen__lt=sent_at)
    ).update(last_seen=sent_at)
    Contact.objects.filter(pk=contact.pk).filter(
        Q(last_inbound_at__isnull=True) | Q(last_inbound_at__lt=sent_at)
    ).update(last_inbound_at=sent_at)
    contact.refresh_from_db()
    return contact


def _last_active(contact: Contact) -> tuple[datetime, int]:
    return (contact.last_inbound_at or contact.created_at, contact.pk)


def merge_contacts(*, keep: Contact, absorbed: Contact) -> Contact:
    """One person known as two contacts: move everything of ``absorbed`` onto ``keep``
    (messages, bookings, forms: every row that points at a contact), then delete it.

    Call inside a transaction holding both rows' locks. A one-to-one row (the conversation
    state, the send lane) of the kept contact wins; the absorbed one's is dropped. Generic
    over ``Contact``'s reverse relations, so an app added later cannot be forgotten here.
    Callers keep the contact that talked last (its conversation is the live one).
    """
    for relation in Contact._meta.related_objects:
        model, field = relation.related_model, relation.field
        rows = model._base_manager.filter(**{field.name: absorbed})
        if relation.one_to_one:
            if model._base_manager.filter(**{field.name: keep}).exists():
                rows.delete()
                continue
            if field.primary_key:
                # A row keyed by the contact cannot be re-pointed; a new row takes its place.
                rows.delete()
                continue
        rows.update(**{field.name: keep})
    merged = {
        "whatsapp_id": keep.whatsapp_id or absorbed.whatsapp_id,
        "user_id": keep.user_id or absorbed.user_id,
        "username": keep.username or absorbed.username,
        "name": keep.name or absorbed.name,
        "first_seen": min(keep.first_seen, absorbed.first_seen),
        "needs_human_intervention": keep.needs_human_intervention
        or absorbed.needs_human_intervention,
    }
    absorbed_id = absorbed.pk
    absorbed.delete()  # first: its ids are unique and move to the kept contact
    Contact.objects.filter(pk=keep.pk).update(**merged, updated_at=timezone.now())
    keep.refresh_from_db()
    logger.warning("Contacts merged: %s into %s", absorbed_id, keep.pk, extra={"contact": keep.pk})
    return keep


def change_number(contact: Contact, *, new_whatsapp_id: str) -> Contact:
    """The person moved to a new phone number: the contact (and with it the conversation
    state, bookings and history) now answers to it. A contact already known by the new number
    is merged in, this one kept (it holds the conversation being moved)."""
    with transaction.atomic():
        rows = list(
            Contact.objects.select_for_update()
            .filter(Q(pk=contact.pk) | Q(whatsapp_id=new_whatsapp_id))
            .order_by("pk")
        )
        current = next(c for c in rows if c.pk == contact.pk)
        other = next((c for c in rows if c.pk != contact.pk), None)
        if other is not None:
            current = merge_contacts(keep=current, absorbed=other)
        Contact.objects.filter(pk=current.pk).update(
            whatsapp_id=new_whatsapp_id, updated_at=timezone.now()
        )
        current.refresh_from_db()
    logger.info("Contact changed phone number", extra={"contact": current.pk})
    return current


def pause_bot(
    contact: Contact,
    until: datetime | None = None,
    by: AbstractBaseUser | AnonymousUser | None = None,
) -> Contact:
    """Hand the conversation to staff: the bot stays quiet until ``until`` (default: now +
    ``BOT_PAUSE_DEFAULT_MINUTES``) or until ``release_bot``."""
    until = until or timezone.now() + timedelta(minutes=bot_pause_default_minutes())
    Contact.objects.filter(pk=contact.pk).update(
        needs_human_intervention=True, bot_paused_until=until, updated_at=timezone.now()
    )
    contact.refresh_from_db()
    logger.info(
        "Bot paused until %s by %s",
        until.isoformat(),
        getattr(by, "username", None) or "system",
        extra={"contact": contact.pk},
    )
    return contact


def release_bot(contact: Contact) -> Contact:
    """Give the conversation back to the bot."""
    Contact.objects.filter(pk=contact.pk).update(
        needs_human_intervention=False, bot_paused_until=None, updated_at=timezone.now()
    )
    contact.refresh_from_db()
    logger.info("Bot released", extra={"contact": contact.pk})
    return contact


# --- inbound -----------------------------------------------------------------------------


def record_inbound_message(
    *,
    contact: Contact,
    business_number_id: str,
    wamid: str,
    message_type: str,
    text: str,
    payload: dict[str, Any],
    timestamp: datetime,
) -> tuple[Message, bool]:
    """Store an inbound message once: a second delivery of the same ``wamid`` changes nothing.

    ``business_number_id`` is the business number it was written to ("" if unknown).
    Returns ``(message, created)``.
    """
    try:
        with transaction.atomic():
            message = Message.objects.create(
                contact=contact,
                business_number_id=business_number_id,
                direction=Message.Direction.INBOUND,
                wamid=wamid,
                message_type=message_type,
                text=text,
                payload=payload,
                status=Message.Status.RECEIVED,
                timestamp=timestamp,
            )
    except IntegrityError:
        return Message.objects.get(wamid=wamid), False
    return message, True


def mark_deleted(*, contact: Contact, wamid: str, at: datetime) -> bool:
    """The contact deleted one of their messages for everyone: keep it, marked deleted (the
    record stays for staff; only the sender's own inbound messages can be marked)."""
    return bool(
        Message.objects.filter(
            contact=contact,
            wamid=wamid,
            direction=Message.Direction.INBOUND,
            deleted_at__isnull=True,
        ).update(deleted_at=at, updated_at=timezone.now())
    )


REFERRAL_LIMITS = {"ctwa_clid": 255, "source_url": 2048, "source_id": 128, "source_type": 32}


def record_referral(
    message: Message,
    *,
    ctwa_clid: str = "",
    source_url: str = "",
    source_id: str = "",
    source_type: str = "",
    headline: str = "",
    body: str = "",
    media_type: str = "",
) -> Referral:
    """Keep the ad (or post) the contact came from, on the message that carried it."""
    referral, _ = Referral.objects.get_or_create(
        message=message,
        defaults={
            "contact": message.contact,
            "ctwa_clid": ctwa_clid[:255],
            "source_url": source_url[:2048],
            "source_id": source_id[:128],
            "source_type": source_type[:32],
            "headline": headline[:512],
            "body": body,
            "media_type": media_type[:32],
            "received_at": message.timestamp or timezone.now(),
        },
    )
    return referral


# --- inbound media -----------------------------------------------------------------------


def expect_media(
    message: Message,
    *,
    channel_media_id: str,
    kind: str,
    declared_mime_type: str = "",
    declared_sha256: str = "",
    caption: str = "",
    filename: str = "",
) -> MessageMedia:
    """Note the file a message carries, to be downloaded by the channel (once per message)."""
    media, _ = MessageMedia.objects.get_or_create(
        message=message,
        defaults={
            "channel_media_id": channel_media_id[:128],
            "kind": kind[:16],
            "declared_mime_type": declared_mime_type[:128],
            "declared_sha256": declared_sha256[:128],
            "caption": caption,
            "filename": filename[:255],
        },
    )
    return media


def claim_media_download(media_id: int) -> MessageMedia | None:
    """Take the pending media row for one download attempt (None: stored, refused or given
    up already). The row lock is held until the caller's transaction ends."""
    media = (
        MessageMedia.objects.select_for_update()
        .filter(pk=media_id, status=MessageMedia.Status.PENDING)
        .first()
    )
    if media is not None:
        media.attempts += 1
        media.save(update_fields=["attempts"])
    return media


def store_media(media: MessageMedia, *, content: bytes, mime_type: str, sha256: str) -> None:
    """Keep the checked bytes in the media storage and mark the row stored."""
    media.sha256 = sha256
    media.mime_type = mime_type
    media.size = len(content)
    media.file.save(media.sha256, ContentFile(content), save=False)
    media.status = MessageMedia.Status.STORED
    media.stored_at = timezone.now()
    media.error = ""
    media.save(
        update_fields=["sha256", "mime_type", "size", "file", "status", "stored_at", "error"]
    )


def refuse_media(media: MessageMedia, *, reason: str, mime_type: str = "", size=None) -> None:
    """The file breaks our limits (size, type, checksum): recorded, never stored."""
    media.status = MessageMedia.Status.REFUSED
    media.error = reason[:255]
    media.mime_type = mime_type[:128] or media.mime_type
    media.size = size if size is not None else media.size
    media.save(update_fields=["status", "error", "mime_type", "size"])
    logger.warning("Inbound media refused: %s", reason, extra={"wamid": f"#{media.message_id}"})


def media_download_failed(media: MessageMedia, *, error: str, final: bool) -> None:
    """A download attempt failed; ``final`` gives up (staff see why)."""
    media.error = error[:255]
    fields = ["error"]
    if final:
        media.status = MessageMedia.Status.FAILED
        fields.append("status")
    media.save(update_fields=fields)


# --- outbound ----------------------------------------------------------------------------


def create_outbound_message(
    *,
    contact: Contact,
    payload: Mapping[str, Any],
    flow_step: str = "",
    business_number_id: str | None = None,
) -> Message:
    """Record a pending outbound message without waking the send queue.

    The channel checks and describes the payload (raising its ``ValueError`` subclass on a
    violation); without ``business_number_id`` it picks the number. The send queue itself
    uses this (it is already draining); everyone else calls ``queue_message``.
    """
    if business_number_id is not None and not isinstance(business_number_id, str):
        # The channel's config objects were passed here once; the number is what is recorded.
        raise TypeError(f"business_number_id must be a str, not {type(business_number_id)}")
    sender = channel.sender()
    described = sender.describe(payload)
    if described.recipient not in contact.identities:
        raise ValueError(
            f"payload is addressed to {described.recipient!r}, not to contact {contact.pk}"
        )
    return Message.objects.create(
        contact=contact,
        business_number_id=business_number_id or sender.account_for(contact),
        direction=Message.Direction.OUTBOUND,
        message_type=described.message_type,
        text=described.summary,
        payload=dict(payload),
        status=Message.Status.PENDING,
        flow_step=flow_step,
    )


def queue_message(
    contact: Contact,
    payload: Mapping[str, Any],
    flow_step: str = "",
    *,
    config: str | None = None,
) -> Message:
    """Queue a message to ``contact``; it is sent after every message queued before it.

    ``payload`` is in the channel's format (WhatsApp: a Graph ``messages`` payload, best
    built with the channel's message builders). It is checked now: a violation of the
    channel's limits raises here (the channel's ``ValueError``, e.g. ``MessageLimitError``).
    ``config`` is the business number to send through (``Message.business_number_id`` of the
    message being answered); None lets the channel pick. The send happens after the
    surrounding transaction commits (nothing is sent for a rolled-back one).
    """
    message = create_outbound_message(
        contact=contact, payload=payload, flow_step=flow_step, business_number_id=config
    )
    wake = channel.sender().wake
    contact_id = contact.pk
    transaction.on_commit(lambda: wake(contact_id))
    return message


def queue_text(contact: Contact, body: str, *, flow_step: str) -> Message:
    """Queue a plain text message (what staff type), in the channel's format."""
    payload = channel.sender().text_payload(contact.address, body)
    return queue_message(contact, payload, flow_step=flow_step)


def record_send_accepted(message: Message, *, wamid: str) -> None:
    now = timezone.now()
    message.wamid = wamid
    message.status = Message.Status.ACCEPTED
    message.accepted_at = now
    message.next_attempt_at = None
    # Accepted: any error from an earlier attempt is cleared.
    _record_send_error(
        message, code=None, title="", details="", fields=["wamid", "status", "accepted_at"]
    )


def _record_send_error(
    message: Message, *, code: int | None, title: str, details: str, fields: list[str]
) -> None:
    """Save Meta's error (or none) on the message, with the other `fields` the caller set."""
    message.error_code = code
    message.error_title = title[:255]
    message.error_details = details
    message.save(
        update_fields=[
            *fields,
            "attempts",
            "next_attempt_at",
            "error_code",
            "error_title",
            "error_details",
            "updated_at",
        ]
    )


def record_send_failed(
    message: Message, *, code: int | None, title: str, details: str = ""
) -> None:
    message.status = Message.Status.FAILED
    message.failed_at = timezone.now()
    message.next_attempt_at = None
    _record_send_error(
        message, code=code, title=title, details=details, fields=["status", "failed_at"]
    )
    logger.warning(
        "Outbound message failed: (%s) %s",
        code,
        title,
        extra={"contact": message.contact_id, "wamid": message.wamid or f"#{message.pk}"},
    )


def record_send_retry(
    message: Message, *, at: datetime, code: int | None, title: str, details: str = ""
) -> None:
    message.next_attempt_at = at
    _record_send_error(message, code=code, title=title, details=details, fields=[])


# --- delivery statuses -------------------------------------------------------------------


def record_status_event(
    *,
    wamid: str,
    status: str,
    timestamp: datetime,
    recipient_id: str = "",
    recipient_user_id: str = "",
    error_code: int | None = None,
    error_title: str = "",
    error_details: str = "",
    raw: dict[str, Any] | None = None,
) -> tuple[MessageStatusEvent, bool]:
    """Store one (wamid, status) report once, then fold it into the message if it is known.

    Returns ``(event, created)``; a repeated report changes nothing.
    """
    try:
        with transaction.atomic():
            event = MessageStatusEvent.objects.create(
                wamid=wamid,
                status=status,
                timestamp=timestamp,
                recipient_id=recipient_id,
                recipient_user_id=recipient_user_id,
                error_code=error_code,
                error_title=(error_title or "")[:255],
                error_details=error_details or "",
                raw=raw or {},
            )
    except IntegrityError:
        return MessageStatusEvent.objects.get(wamid=wamid, status=status), False
    message = Message.objects.filter(wamid=wamid).only("pk").first()
    if message is not None:
        apply_status_events(message.pk)
    return event, True


def apply_status_events(message_id: int) -> Message:
    """Fold every stored status report for the message into ``Message.status``, forward only.

    accepted → sent → delivered → read (``delivered`` may be skipped); ``failed`` ends it
    unless the message was already read. A late ``sent`` after ``read`` changes nothing.
    Idempotent: safe to run after every report and again later.
    """
    with transaction.atomic():
        message = Message.objects.select_for_update().get(pk=message_id)
        if not message.wamid:
            return message
        events = list(MessageStatusEvent.objects.filter(wamid=message.wamid))
        MessageStatusEvent.objects.filter(wamid=message.wamid, message__isnull=True).update(
            message=message
        )
        changed: set[str] = set()
        for event in sorted(events, key=lambda e: (e.timestamp, e.pk)):
            changed |= _apply_one(message, event)
        if changed:
            message.save(update_fields=[*sorted(changed), "updated_at"])
    return message


def _apply_one(message: Message, event: MessageStatusEvent) -> set[str]:
    new, current = event.status, message.status
    if current == Message.Status.FAILED or current == Message.Status.RECEIVED:
        return set()
    changed: set[str] = set()
    field = _TIMESTAMP_FIELD.get(new)
    if new == Message.Status.FAILED:
        if current == Message.Status.READ:
            return set()
        message.status = Message.Status.FAILED
        message.error_code = event.error_code
        message.error_title = event.error_title
        message.error_details = event.error_details
        changed |= {"status", "error_code", "error_title", "error_details"}
    elif new in STATUS_RANK:
        if STATUS_RANK[new] <= STATUS_RANK.get(current, 0):
            return set()
        message.status = new
        changed.add("status")
    else:
        return set()  # a status we do not track (kept in MessageStatusEvent)
    if field and getattr(message, field) is None:
        setattr(message, field, event.timestamp)
        changed.add(field)
    return changed
