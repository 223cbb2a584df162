"""Writes to contacts and messages: the record of every message in and out, and the send queue.

``queue_message`` is the one way to send: the registered channel (``conversations.channel``)
checks and describes the payload at once (a violation of its limits raises in the caller),
a pending outbound ``Message`` is recorded and, after commit, the channel's send queue is
woken; it sends the contact's messages strictly in the order they were queued.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from django.contrib.auth.base_user import AbstractBaseUser
from django.contrib.auth.models import AnonymousUser
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from . import channel
from .models import Contact, Message, MessageStatusEvent
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


def touch_contact_inbound(*, whatsapp_id: str, profile_name: str, sent_at: datetime) -> Contact:
    """The contact wrote to us: create it on first contact, refresh name and last-seen times.

    ``sent_at`` is Meta's timestamp of the message, capped at now; times only move forward, so
    a late redelivery of an old message does not reopen a closed 24-hour window.
    """
    sent_at = min(sent_at, timezone.now())
    contact, _ = Contact.objects.get_or_create(
        whatsapp_id=whatsapp_id,
        defaults={"name": profile_name, "first_seen": sent_at},
    )
    if profile_name and contact.name != profile_name:
        Contact.objects.filter(pk=contact.pk).update(name=profile_name, updated_at=timezone.now())
    Contact.objects.filter(pk=contact.pk).filter(
        Q(last_seen__isnull=True) | Q(last_seen__lt=sent_at)
    ).update(last_seen=sent_at)
    Contact.objects.filter(pk=contact.pk).filter(
        Q(last_inbound_at__isnull=True) | Q(last_inbound_at__lt=sent_at)
    ).update(last_inbound_at=sent_at)
    contact.refresh_from_db()
    return contact


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
    if described.recipient != contact.whatsapp_id:
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
    payload = channel.sender().text_payload(contact.whatsapp_id, body)
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
