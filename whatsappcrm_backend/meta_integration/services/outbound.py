"""The ordered send queue: one contact's pending messages go to the Graph API oldest first.

A contact's messages are sent by whoever holds its ``OutboundLane`` row lock, one message per
transaction, so a later message can never overtake an earlier one. Retryable answers
(130429, 131056, 5xx, network) stop the lane with a backoff; outside the 24-hour window a
free-form message is failed and the re-engagement template goes instead.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from conversations import selectors as conversation_selectors
from conversations import services as conversations
from conversations.models import Contact, Message, OutboundLane

from .. import messages as payloads
from .. import selectors
from ..client import GraphClient, GraphRequestError, GraphRetryableError, OutsideWindowError
from ..constants import GraphErrorCode
from ..payloads import is_bsuid, is_wa_id

logger = logging.getLogger(__name__)

REENGAGEMENT_STEP = "reengagement_template"


class SendOutcome(StrEnum):
    ACCEPTED = "accepted"  # Meta answered with a wamid
    FAILED = "failed"  # this message is given up; the next one may go
    RETRY = "retry"  # the head waits for next_attempt_at; the lane stops


@dataclass(frozen=True)
class DrainResult:
    sent: int = 0
    failed: int = 0
    contended: bool = False  # another worker holds the contact's lane
    retry_at: datetime | None = None  # the head of the queue waits until then
    scheduled_by_us: bool = False  # we set retry_at (so we must wake the queue then)


def send_pending_messages(contact_id: int) -> DrainResult:
    """Send the contact's pending messages one at a time, oldest first, while holding its lane.

    Each message is one transaction that locks the contact's ``OutboundLane`` row (skipping it
    if another worker has it), sends, and records Meta's answer; so statuses that arrive
    meanwhile find the wamid, and a later message can never overtake an earlier one. Stops at
    a retryable error (the head waits ``next_attempt_at``); a non-retryable error fails that
    message and goes on with the next.
    """
    OutboundLane.objects.get_or_create(contact_id=contact_id)
    clients: dict[int, GraphClient] = {}
    sent = failed = 0
    try:
        while True:
            with transaction.atomic():
                lane = (
                    OutboundLane.objects.select_for_update(skip_locked=True)
                    .filter(contact_id=contact_id)
                    .first()
                )
                if lane is None:
                    return DrainResult(sent=sent, failed=failed, contended=True)
                message = conversation_selectors.next_pending_message(contact_id)
                if message is None:
                    return DrainResult(sent=sent, failed=failed)
                now = timezone.now()
                if message.next_attempt_at is not None and message.next_attempt_at > now:
                    return DrainResult(sent=sent, failed=failed, retry_at=message.next_attempt_at)
                outcome = _send_one(message, clients, now)
            if outcome == SendOutcome.ACCEPTED:
                sent += 1
                conversations.apply_status_events(message.pk)  # statuses that beat us here
            elif outcome == SendOutcome.FAILED:
                failed += 1
            else:
                return DrainResult(
                    sent=sent, failed=failed, retry_at=message.next_attempt_at, scheduled_by_us=True
                )
    finally:
        for client in clients.values():
            client.close()


def _send_one(message: Message, clients: dict[int, GraphClient], now: datetime) -> SendOutcome:
    contact = message.contact
    config = selectors.config_for_message(message)
    log_extra = {"contact": contact.pk, "wamid": f"#{message.pk}"}
    if config is None or not config.is_active:
        conversations.record_send_failed(
            message, code=None, title="No active WhatsApp number is configured"
        )
        return SendOutcome.FAILED
    if message.business_number_id != config.phone_number_id:
        message.business_number_id = config.phone_number_id
        message.save(update_fields=["business_number_id", "updated_at"])
    if message.message_type != "template" and not conversation_selectors.is_within_service_window(
        contact, now=now
    ):
        _fail_outside_window(message, details="The contact has not written in the last 24 hours.")
        return SendOutcome.FAILED

    if payloads.recipient_of(message.payload) != contact.address:
        # Queued before we learnt the phone number (or before a number change): the phone
        # number is how Meta prefers to be asked, and the contact's current one is right.
        message.payload = payloads.readdressed(message.payload, contact.address)
        message.save(update_fields=["payload", "updated_at"])
    client = clients.get(config.pk)
    if client is None:
        client = clients[config.pk] = GraphClient(config)
    message.attempts += 1
    try:
        result = client.send(message.payload)
    except OutsideWindowError as exc:
        _fail_outside_window(message, details=exc.details or exc.title)
        return SendOutcome.FAILED
    except GraphRetryableError as exc:
        if message.attempts >= _max_attempts():
            conversations.record_send_failed(
                message,
                code=exc.code,
                title=f"Gave up after {message.attempts} attempts: {exc.title}",
                details=exc.details,
            )
            return SendOutcome.FAILED
        at = now + _backoff(message.attempts)
        conversations.record_send_retry(
            message, at=at, code=exc.code, title=exc.title, details=exc.details
        )
        logger.info(
            "Send deferred (%s), attempt %s, retry at %s",
            exc.code or exc.http_status or "network",
            message.attempts,
            at.isoformat(),
            extra=log_extra,
        )
        return SendOutcome.RETRY
    except GraphRequestError as exc:
        conversations.record_send_failed(
            message, code=exc.code, title=exc.title, details=exc.details
        )
        return SendOutcome.FAILED
    except payloads.MessageLimitError as exc:  # validated when queued; edited since?
        logger.error("Queued payload breaks Meta's limits: %s", exc, extra=log_extra)
        conversations.record_send_failed(message, code=None, title=f"Invalid payload: {exc}")
        return SendOutcome.FAILED
    conversations.record_send_accepted(message, wamid=result.wamid)
    learn_from_answer(contact, wa_id=result.wa_id, user_id=result.user_id)
    logger.info("Message accepted by Meta", extra={"contact": contact.pk, "wamid": result.wamid})
    return SendOutcome.ACCEPTED


def learn_from_answer(contact: Contact, *, wa_id: str, user_id: str) -> None:
    """Meta's answer (to a send, or a status) names the recipient by both ids: give the contact
    the id it lacked. Only when one id is already the contact's (a report about someone else
    never renames it) and the other is nobody else's: merging two contacts is left to the
    person's own messages, never done under a send lane's lock."""
    phone = wa_id if is_wa_id(wa_id) else None
    bsuid = user_id if is_bsuid(user_id) else None
    ids = {i for i in (phone, bsuid) if i}
    if not ids or ids <= contact.identities or not ids & contact.identities:
        return
    if conversation_selectors.identity_taken(ids - contact.identities, besides=contact.pk):
        logger.info(
            "A delivery report names an id of another contact", extra={"contact": contact.pk}
        )
        return
    conversations.resolve_contact(conversations.Identity(whatsapp_id=phone, user_id=bsuid))


def _fail_outside_window(message: Message, *, details: str) -> None:
    template = selectors.reengagement_template()
    if template is None:
        title = "Outside the 24-hour window and no re-engagement template is configured; not sent"
    else:
        title = f"Outside the 24-hour window; template {template[0]!r} sent instead"
    conversations.record_send_failed(
        message, code=GraphErrorCode.OUTSIDE_SERVICE_WINDOW, title=title, details=details
    )
    if template is not None:
        queue_reengagement_template(
            message.contact, business_number_id=message.business_number_id, schedule=False
        )


def queue_reengagement_template(
    contact: Contact, *, business_number_id: str = "", schedule: bool = True
) -> Message | None:
    """Queue the configured re-engagement template, once per closed window.

    ``schedule=False`` records it without waking the queue (the caller is draining it).
    Returns None when no template is configured or one is already on its way since the
    contact last wrote.
    """
    template = selectors.reengagement_template()
    if template is None:
        return None
    if conversation_selectors.outbound_since_last_inbound(contact, flow_step=REENGAGEMENT_STEP):
        return None
    payload = payloads.template(contact.address, template[0], template[1])
    if schedule:
        return conversations.queue_message(
            contact, payload, flow_step=REENGAGEMENT_STEP, config=business_number_id or None
        )
    return conversations.create_outbound_message(
        contact=contact,
        payload=payload,
        flow_step=REENGAGEMENT_STEP,
        business_number_id=business_number_id or None,
    )


def _max_attempts() -> int:
    return max(1, int(settings.WHATSAPP_SEND_MAX_ATTEMPTS))


def _backoff(attempts: int) -> timedelta:
    base = float(settings.WHATSAPP_SEND_RETRY_BASE_SECONDS)
    cap = float(settings.WHATSAPP_SEND_RETRY_MAX_SECONDS)
    return timedelta(seconds=min(cap, base * (2 ** (attempts - 1))))
