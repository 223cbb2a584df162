"""An authenticated webhook's messages and statuses, recorded in ``conversations`` once each.

Inbound messages are unique by ``wamid`` and handed to the bot after commit; delivery statuses
are unique by (``wamid``, status) and folded into the message they report on.
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
from ..models import MetaAppConfig
from ..payloads import InboundMessage, MessageKind, StatusUpdate, WebhookEnvelope
from . import outbound

logger = logging.getLogger(__name__)


def record_envelope(envelope: WebhookEnvelope) -> None:
    """Record every message and status of the envelope; Meta's reported errors are logged."""
    known = set(
        MetaAppConfig.objects.filter(
            phone_number_id__in={change.phone_number_id for change in envelope.changes}
        ).values_list("phone_number_id", flat=True)
    )
    for change in envelope.changes:
        number = change.phone_number_id if change.phone_number_id in known else ""
        for inbound in change.messages:
            _record_one(_record_inbound, number, inbound, wamid=inbound.wamid)
        for status in change.statuses:
            _record_one(_record_status, status, wamid=status.wamid)
        for error in change.errors:
            logger.warning("Meta reported an error: (%s) %s", error.code, error.title)


def _record_one(record: Callable[..., None], *args: Any, wamid: str) -> None:
    """Record one message or status; one the database refuses (a value no real WhatsApp
    message has) is logged and skipped, not allowed to block the rest of the delivery.
    The raw event stays stored either way."""
    try:
        with transaction.atomic():
            record(*args)
    except DataError:
        logger.exception("Webhook item %s could not be recorded; skipped", wamid[:80])


def _record_inbound(business_number_id: str, inbound: InboundMessage) -> None:
    contact = conversations.touch_contact_inbound(
        whatsapp_id=inbound.from_wa_id,
        profile_name=inbound.profile_name,
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
    message_id = message.pk
    transaction.on_commit(lambda: tasks.enqueue_inbound(message_id))


def _record_status(status: StatusUpdate) -> None:
    _, created = conversations.record_status_event(
        wamid=status.wamid,
        status=status.status,
        timestamp=status.timestamp,
        recipient_id=status.recipient_id,
        error_code=status.error_code,
        error_title=status.error_title or "",
        error_details=status.error_details or status.error_message or "",
        raw=status.raw,
    )
    if not created:
        return
    message = conversation_selectors.message_by_wamid(status.wamid)
    if (
        message is not None
        and message.status == Message.Status.FAILED
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
    if inbound.kind == MessageKind.TEXT:
        return inbound.text or ""
    if inbound.kind in (MessageKind.BUTTON_REPLY, MessageKind.LIST_REPLY):
        return inbound.reply_title or inbound.reply_id or ""
    if inbound.kind == MessageKind.FLOW_REPLY:
        return "[form submitted]"
    body = inbound.raw.get(inbound.type)
    detail = ""
    if isinstance(body, dict):
        detail = str(body.get("caption") or body.get("name") or body.get("address") or "")
    return f"[{inbound.type}] {detail}".strip()
