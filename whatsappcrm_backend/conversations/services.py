"""Writes to contacts and messages: the record of every message in and out, and the send queue.

``queue_message`` is the one way to send: it validates the payload at once (a limit violation
raises ``MessageLimitError`` in the caller), records a pending outbound ``Message`` and, after
commit, wakes the per-contact send queue (``meta_integration.tasks.send_pending``), which sends
the contact's messages strictly in the order they were queued.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from meta_integration import messages as payloads

from .models import Contact, Message, MessageStatusEvent
from .selectors import bot_pause_default_minutes
from .selectors import is_bot_paused as is_bot_paused  # re-exported: part of this API

logger = logging.getLogger(__name__)

# Forward-only delivery progress; ``failed`` is terminal and handled apart.
STATUS_RANK = {
    Message.Status.PENDING: 0,
    Message.Status.ACCEPTED: 1,
    Message.Status.SENT: 2,
    Message.Status.DELIVERED: 3,
    Message.Status.READ: 4,
}
_TIMESTAMP_FIELD = {
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


def pause_bot(contact: Contact, until: datetime | None = None, by=None) -> Contact:
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
    config,
    wamid: str,
    message_type: str,
    text: str,
    payload: dict[str, Any],
    timestamp: datetime,
) -> tuple[Message, bool]:
    """Store an inbound message once: a second delivery of the same ``wamid`` changes nothing.

    Returns ``(message, created)``.
    """
    try:
        with transaction.atomic():
            message = Message.objects.create(
                contact=contact,
                config=config,
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


def outbound_message_type(payload: dict[str, Any]) -> str:
    """``text``, ``button``, ``list``, ``flow``, ``template``: what the contact will see."""
    kind = payload.get("type", "")
    if kind == "interactive":
        return str((payload.get("interactive") or {}).get("type", "interactive"))
    return str(kind)


def outbound_summary(payload: dict[str, Any]) -> str:
    kind = payload.get("type")
    if kind == "text":
        return str((payload.get("text") or {}).get("body", ""))
    if kind == "interactive":
        return str(((payload.get("interactive") or {}).get("body") or {}).get("text", ""))
    if kind == "template":
        return f"[template {(payload.get('template') or {}).get('name', '')}]"
    return f"[{kind}]"


def create_outbound_message(
    *, contact: Contact, payload: dict[str, Any], flow_step: str = "", config=None
) -> Message:
    """Record a pending outbound message without waking the send queue.

    The send queue itself uses this (it is already draining); everyone else calls
    ``queue_message``.
    """
    payloads.validate_payload(payload)
    if payload.get("to") != contact.whatsapp_id:
        raise ValueError(
            f"payload is addressed to {payload.get('to')!r}, not to contact {contact.pk}"
        )
    if config is None:
        from meta_integration.selectors import config_for_contact  # the channel owns configs

        config = config_for_contact(contact)
    return Message.objects.create(
        contact=contact,
        config=config,
        direction=Message.Direction.OUTBOUND,
        message_type=outbound_message_type(payload),
        text=outbound_summary(payload),
        payload=payload,
        status=Message.Status.PENDING,
        flow_step=flow_step,
    )


def queue_message(
    contact: Contact, payload: dict[str, Any], flow_step: str = "", *, config=None
) -> Message:
    """Queue a message to ``contact``; it is sent after every message queued before it.

    ``payload`` is a Graph ``messages`` payload, best built with ``meta_integration.messages``
    (``text``, ``reply_buttons``, ``list_message``, ``flow_message``, ``template``). It is
    validated now: a violation of Meta's limits raises ``MessageLimitError`` here. The send
    happens after the surrounding transaction commits (nothing is sent for a rolled-back one).
    """
    message = create_outbound_message(
        contact=contact, payload=payload, flow_step=flow_step, config=config
    )
    from meta_integration.tasks import enqueue_send  # the channel sends; see module docstring

    contact_id = contact.pk
    transaction.on_commit(lambda: enqueue_send(contact_id))
    return message


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
