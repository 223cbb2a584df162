"""An authenticated webhook's items, recorded once each: messages and statuses in
``conversations``, other changes in ``AccountUpdate``, unreadable items in
``SkippedWebhookItem``.

Inbound messages are unique by ``wamid`` and handed to the bot after commit (the bot decides
nothing about reactions, edits, deletions and system notices: ``dispatch`` keeps those from
it); delivery statuses are unique by (``wamid``, status) and folded into the message they
report on. Each ``record_*`` function handles one item and can run in a task of its own.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from django.db import DataError, transaction

from conversations import selectors as conversation_selectors
from conversations import services as conversations
from conversations.models import Message

from .. import tasks
from ..constants import GraphErrorCode
from ..models import MetaAppConfig, SkippedWebhookItem
from ..payloads import (
    InboundMessage,
    MessageKind,
    SkippedItem,
    StatusUpdate,
    WebhookEnvelope,
    is_wa_id,
)
from . import account_updates, outbound

logger = logging.getLogger(__name__)

# Files fetched and kept: what a traveller sends as proof of payment (a photo or a PDF).
DOWNLOADED_MEDIA_TYPES = frozenset({"image", "document"})


def record_envelope(envelope: WebhookEnvelope, *, event_id: int | None = None) -> None:
    """Record every item of the envelope, each on its own: messages, statuses, the changes
    other than messages, and what could not be read (``SkippedWebhookItem``).

    One item the database refuses is logged and skipped, never allowed to block the rest.
    Every ``record_*`` function here takes one item and can run on its own (in a task).
    """
    known = set(
        MetaAppConfig.objects.filter(
            phone_number_id__in={change.phone_number_id for change in envelope.changes}
        ).values_list("phone_number_id", flat=True)
    )
    for change in envelope.changes:
        number = change.phone_number_id if change.phone_number_id in known else ""
        for inbound in change.messages:
            _record_one(record_message, number, inbound, wamid=inbound.wamid)
        for status in change.statuses:
            _record_one(record_status, status, wamid=status.wamid)
        for error in change.errors:
            logger.warning("Meta reported an error: (%s) %s", error.code, error.title)
    if event_id is None:
        return
    for other in envelope.others:
        _record_one(account_updates.record_change, event_id, other, wamid=other.path)
    for item in envelope.all_skipped:
        _record_one(record_skipped, event_id, item, wamid=item.path)


def _record_one(record: Callable[..., None], *args: Any, wamid: str) -> None:
    """Record one item; one the database refuses (a value no real WhatsApp message has) is
    logged and skipped, not allowed to block the rest. The raw event stays stored either way."""
    try:
        with transaction.atomic():
            record(*args)
    except DataError:
        logger.exception("Webhook item %s could not be recorded; skipped", wamid[:80])


def record_skipped(event_id: int, item: SkippedItem) -> None:
    """Keep an item that could not be read, with where and why (once per event and place)."""
    SkippedWebhookItem.objects.get_or_create(
        event_id=event_id,
        path=item.path[:200],
        defaults={
            "kind": item.kind[:16],
            "reason": item.reason[:500],
            "wamid": item.wamid[:255],
            "raw": item.raw,
        },
    )
    logger.warning(
        "Webhook %s at %s could not be read; stored and skipped: %s",
        item.kind,
        item.path,
        item.reason[:200],
    )


def record_message(business_number_id: str, inbound: InboundMessage) -> None:
    """One inbound message: its contact (found, created or merged by phone number and user
    id), the message once, and what it does beyond being read: a deletion, a number change,
    a file to fetch, an ad referral. Then, after commit, the bot is told (if it is for it)."""
    contact = conversations.touch_contact_inbound(
        conversations.Identity(
            whatsapp_id=inbound.from_wa_id,
            user_id=inbound.from_user_id,
            profile_name=inbound.profile_name,
            username=inbound.username,
        ),
        sent_at=inbound.timestamp,
    )
    message, created = conversations.record_inbound_message(
        contact=contact,
        business_number_id=business_number_id,
        wamid=inbound.wamid,
        message_type=inbound_type_label(inbound),
        text=inbound_summary(inbound),
        payload=inbound.raw,
        timestamp=inbound.timestamp,
    )
    if not created:
        logger.info("Duplicate inbound message ignored", extra={"wamid": inbound.wamid})
        return
    logger.info(
        "Inbound %s message recorded",
        message.message_type,
        extra={"contact": contact.pk, "wamid": inbound.wamid},
    )
    _apply_side_effects(message, inbound)
    message_id = message.pk
    transaction.on_commit(lambda: tasks.enqueue_inbound(message_id))


def _apply_side_effects(message: Message, inbound: InboundMessage) -> None:
    contact = message.contact
    if inbound.kind == MessageKind.REVOKE and inbound.target_wamid:
        conversations.mark_deleted(
            contact=contact, wamid=inbound.target_wamid, at=inbound.timestamp
        )
    elif inbound.kind == MessageKind.SYSTEM and inbound.new_wa_id:
        conversations.change_number(contact, new_whatsapp_id=inbound.new_wa_id)
    if inbound.media is not None and inbound.type in DOWNLOADED_MEDIA_TYPES:
        media = conversations.expect_media(
            message,
            channel_media_id=inbound.media.id,
            kind=inbound.type,
            declared_mime_type=inbound.media.mime_type,
            declared_sha256=inbound.media.sha256,
            caption=inbound.media.caption,
            filename=inbound.media.filename,
        )
        media_id = media.pk
        transaction.on_commit(lambda: tasks.enqueue_media_download(media_id))
    if inbound.referral is not None:
        referral = inbound.referral
        conversations.record_referral(
            message,
            ctwa_clid=referral.ctwa_clid,
            source_url=referral.source_url,
            source_id=referral.source_id,
            source_type=referral.source_type,
            headline=referral.headline,
            body=referral.body,
            media_type=referral.media_type,
        )


def record_status(status: StatusUpdate) -> None:
    """One delivery status, once per (wamid, status); folded into our message when known."""
    _, created = conversations.record_status_event(
        wamid=status.wamid,
        status=status.status,
        timestamp=status.timestamp,
        recipient_id=status.recipient_id,
        recipient_user_id=status.recipient_user_id,
        error_code=status.error_code,
        error_title=status.error_title or "",
        error_details=status.error_details or status.error_message or "",
        raw=status.raw,
    )
    if not created:
        return
    message = conversation_selectors.message_by_wamid(status.wamid)
    if message is None:
        return
    outbound.learn_from_answer(
        message.contact,
        wa_id=status.recipient_id if is_wa_id(status.recipient_id) else "",
        user_id=status.recipient_user_id,
    )
    if (
        message.status == Message.Status.FAILED
        and message.error_code == GraphErrorCode.OUTSIDE_SERVICE_WINDOW
        and message.message_type != "template"
    ):
        # Meta accepted the send but the window had closed: reach the contact with a template.
        outbound.queue_reengagement_template(
            message.contact, business_number_id=message.business_number_id, schedule=True
        )


def inbound_type_label(inbound: InboundMessage) -> str:
    """``text``, ``button_reply``, ``list_reply``, ``flow_reply``, else Meta's own type."""
    return inbound.type if inbound.kind == MessageKind.UNSUPPORTED else str(inbound.kind)


def inbound_summary(inbound: InboundMessage) -> str:
    """What staff read for an inbound message."""
    kind = inbound.kind
    if kind == MessageKind.TEXT:
        return inbound.text or ""
    if kind in (MessageKind.BUTTON_REPLY, MessageKind.LIST_REPLY):
        return inbound.reply_title or inbound.reply_id or ""
    if kind == MessageKind.FLOW_REPLY:
        return "[form submitted]"
    if kind == MessageKind.REACTION:
        return f"[reaction {inbound.emoji}]" if inbound.emoji else "[reaction removed]"
    if kind == MessageKind.REVOKE:
        return "[deleted a message]"
    if kind == MessageKind.EDIT:
        return f"[edited] {inbound.text or ''}".strip()
    if kind == MessageKind.SYSTEM:
        return f"[{inbound.system_type or 'system'}] {inbound.text or ''}".strip()
    if kind == MessageKind.CALL_PERMISSION_REPLY:
        reply = (inbound.raw.get("interactive") or {}).get("call_permission_reply") or {}
        return f"[call permission: {reply.get('response', '?')}]"
    body = inbound.raw.get(inbound.type)
    detail = ""
    if isinstance(body, dict):
        detail = str(body.get("caption") or body.get("name") or body.get("address") or "")
    return f"[{inbound.type}] {detail}".strip()
