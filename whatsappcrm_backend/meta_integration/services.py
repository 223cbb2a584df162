"""The WhatsApp channel's business logic: receive webhooks, dispatch inbound messages, send.

Receiving: ``receive_webhook`` routes a POST by ``metadata.phone_number_id`` to its config,
verifies the signature, stores the raw event and records messages and statuses once.
Dispatching: ``dispatch_inbound_message`` is the single entry point for "a customer wrote";
it calls the handler named by ``INBOUND_MESSAGE_HANDLER`` exactly once per message.
Sending: ``send_pending_messages`` drains one contact's queue in order under a row lock.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import DatabaseError, DataError, IntegrityError, transaction
from django.db.models import F, Q
from django.utils import timezone
from django.utils.module_loading import import_string

from conversations import selectors as conversation_selectors
from conversations import services as conversations
from conversations.models import Contact, Message, MessageStatusEvent, OutboundLane

from . import messages as payloads
from . import selectors
from .client import (
    GraphClient,
    GraphError,
    GraphRequestError,
    GraphRetryableError,
    OutsideWindowError,
)
from .constants import SIGNATURE_HEADER, GraphErrorCode
from .models import MetaAppConfig, WebhookEvent
from .payloads import InboundMessage, MalformedWebhook, MessageKind, WebhookEnvelope, parse_webhook
from .signature import verify_signature

logger = logging.getLogger(__name__)

UNSUPPORTED_REPLY = (
    "Sorry, I can only read text messages for now. Please type your question, "
    "or reply *menu* to see what I can help with."
)
REENGAGEMENT_STEP = "reengagement_template"
# Headers never stored with a webhook event.
_DROPPED_HEADERS = frozenset({"authorization", "cookie", "proxy-authorization"})


# --- errors the webhook view turns into HTTP answers --------------------------------------


class WebhookRejected(Exception):
    """A webhook POST we refuse; ``http_status`` is the answer, ``reason`` goes to the log."""

    http_status = 400

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class WebhookMalformed(WebhookRejected):
    http_status = 400


class WebhookUnknownNumber(WebhookRejected):
    http_status = 404


class WebhookSignatureInvalid(WebhookRejected):
    http_status = 403


class WebhookNoSecret(WebhookRejected):
    http_status = 403


# --- verification handshake --------------------------------------------------------------


def verify_subscription(*, mode: str | None, token: str | None, challenge: str | None) -> bool:
    """Meta's GET handshake: ``hub.mode=subscribe`` and a token of an active config."""
    if mode != "subscribe" or not token or challenge is None:
        return False
    matched = False
    for verify_token in MetaAppConfig.objects.filter(is_active=True).values_list(
        "verify_token", flat=True
    ):
        if verify_token and hmac.compare_digest(verify_token.encode(), token.encode()):
            matched = True
    return matched


# --- receiving ---------------------------------------------------------------------------


def routing_phone_number_ids(data: Any) -> list[str]:
    """Read ``entry[].changes[].value.metadata.phone_number_id`` from an untrusted body.

    Only enough to find the config whose secret verifies the signature; the full parse comes
    after verification.
    """
    if not isinstance(data, dict) or not isinstance(data.get("entry"), list):
        raise WebhookMalformed("body has no entry list")
    found: list[str] = []
    for entry in data["entry"]:
        changes = entry.get("changes") if isinstance(entry, dict) else None
        if not isinstance(changes, list):
            raise WebhookMalformed("entry without a changes list")
        for change in changes:
            value = change.get("value") if isinstance(change, dict) else None
            metadata = value.get("metadata") if isinstance(value, dict) else None
            number = metadata.get("phone_number_id") if isinstance(metadata, dict) else None
            if isinstance(number, str) and number and number not in found:
                found.append(number)
    if not found:
        raise WebhookMalformed("no metadata.phone_number_id in the body")
    return found


def receive_webhook(
    *, body: bytes, headers: Mapping[str, str], remote_ip: str | None
) -> WebhookEvent:
    """Authenticate, store and record one webhook POST. Raises ``WebhookRejected``.

    New inbound messages are handed to ``tasks.process_inbound_message`` after commit.
    """
    try:
        data = _storable(json.loads(body.decode("utf-8")))
    except (ValueError, UnicodeDecodeError) as exc:
        raise WebhookMalformed(f"body is not UTF-8 JSON: {exc}") from None
    numbers = routing_phone_number_ids(data)
    known = MetaAppConfig.objects.filter(phone_number_id__in=numbers)
    configs = {config.phone_number_id: config for config in known}
    for number in numbers:
        config = configs.get(number)
        if config is None or not config.is_active:
            state = "unknown" if config is None else "inactive"
            raise WebhookUnknownNumber(f"phone_number_id {number} is {state}")
        if not config.webhook_secrets:
            raise WebhookNoSecret(f"phone_number_id {number} has no app secret configured")

    signature = _header(headers, SIGNATURE_HEADER)
    signature_valid = all(
        verify_signature(signature, body, configs[n].webhook_secrets) for n in numbers
    )
    event = _store_event(
        body=body,
        headers=headers,
        remote_ip=remote_ip,
        config=configs[numbers[0]],
        signature_valid=signature_valid,
    )
    if not signature_valid:
        raise WebhookSignatureInvalid(
            "missing X-Hub-Signature-256" if not signature else "signature does not match"
        )
    try:
        envelope = parse_webhook(data)
    except MalformedWebhook as exc:
        WebhookEvent.objects.filter(pk=event.pk).update(error=f"malformed: {exc.reason}")
        raise WebhookMalformed(exc.reason) from None
    process_webhook_event(event.pk, envelope=envelope)
    return event


def _storable(value: Any) -> Any:
    """The parsed body with every string storable in PostgreSQL text: NUL bytes and lone
    surrogates (both legal in JSON) become U+FFFD; Meta never sends them in real text."""
    if isinstance(value, str):
        if "\x00" in value or any("\ud800" <= ch <= "\udfff" for ch in value):
            return "".join(
                "\ufffd" if ch == "\x00" or "\ud800" <= ch <= "\udfff" else ch for ch in value
            )
        return value
    if isinstance(value, list):
        return [_storable(item) for item in value]
    if isinstance(value, dict):
        return {_storable(k): _storable(v) for k, v in value.items()}
    return value


def _header(headers: Mapping[str, str], name: str) -> str | None:
    wanted = name.lower()
    for key, value in headers.items():
        if key.lower() == wanted:
            return value
    return None


UNSIGNED_BODY_KEPT = 64 * 1024


def _store_event(
    *,
    body: bytes,
    headers: Mapping[str, str],
    remote_ip: str | None,
    config: MetaAppConfig,
    signature_valid: bool,
) -> WebhookEvent:
    """Store the raw event once per body; a redelivery bumps its counter.

    A copy stored with a bad signature is upgraded when a correctly signed one arrives.
    """
    digest = hashlib.sha256(body).hexdigest()
    kept_headers = {k: v for k, v in headers.items() if k.lower() not in _DROPPED_HEADERS}
    now = timezone.now()
    try:
        with transaction.atomic():
            text = body.decode("utf-8", errors="replace").replace("\x00", "\ufffd")
            if not signature_valid:
                # Unauthenticated: kept for diagnosis and replay, but not at any size.
                text = text[:UNSIGNED_BODY_KEPT]
            return WebhookEvent.objects.create(
                body=text,
                body_sha256=digest,
                headers=kept_headers,
                remote_ip=remote_ip,
                phone_number_id=config.phone_number_id,
                config=config,
                signature_valid=signature_valid,
                last_received_at=now,
            )
    except IntegrityError:
        pass
    WebhookEvent.objects.filter(body_sha256=digest).update(
        delivery_count=F("delivery_count") + 1, last_received_at=now
    )
    if signature_valid:
        WebhookEvent.objects.filter(body_sha256=digest, signature_valid=False).update(
            signature_valid=True, headers=kept_headers, config=config
        )
    event = WebhookEvent.objects.get(body_sha256=digest)
    logger.info("Meta webhook redelivered (%s deliveries)", event.delivery_count)
    return event


def process_webhook_event(
    event_id: int, *, envelope: WebhookEnvelope | None = None, force: bool = False
) -> bool:
    """Record an authenticated event's messages and statuses. Idempotent.

    An already processed event is skipped unless ``force`` (the admin's replay); even then
    nothing is recorded twice: messages are unique by ``wamid``, statuses by (wamid, status).
    Returns whether it ran.
    """
    try:
        with transaction.atomic():
            event = WebhookEvent.objects.select_for_update().get(pk=event_id)
            if not event.signature_valid:
                raise WebhookSignatureInvalid("event has no valid signature")
            if event.processed and not force:
                return False
            if envelope is None:
                envelope = parse_webhook(json.loads(event.body))
            _record_envelope(envelope)
            event.processed = True
            event.processed_at = timezone.now()
            event.error = ""
            event.save(update_fields=["processed", "processed_at", "error"])
    except WebhookRejected:
        raise
    except Exception as exc:
        logger.exception("Meta webhook event %s could not be processed", event_id)
        WebhookEvent.objects.filter(pk=event_id).update(error=f"{type(exc).__name__}: {exc}")
        raise
    return True


def replay_webhook_event(event: WebhookEvent) -> bool:
    """Re-check the stored signature against the config's current secrets, then process again.

    Lets staff recover events refused while a secret was wrong. Returns whether it ran.
    """
    config = MetaAppConfig.objects.filter(phone_number_id=event.phone_number_id).first()
    if config is None or not config.webhook_secrets:
        raise WebhookNoSecret(f"phone_number_id {event.phone_number_id} has no usable config")
    if not event.signature_valid:
        signature = _header(event.headers, SIGNATURE_HEADER)
        if not verify_signature(signature, event.body.encode("utf-8"), config.webhook_secrets):
            raise WebhookSignatureInvalid("stored signature does not match the current secrets")
        WebhookEvent.objects.filter(pk=event.pk).update(signature_valid=True, config=config)
    return process_webhook_event(event.pk, force=True)


def _record_envelope(envelope: WebhookEnvelope) -> None:
    configs = {
        c.phone_number_id: c
        for c in MetaAppConfig.objects.filter(
            phone_number_id__in={change.phone_number_id for change in envelope.changes}
        )
    }
    for change in envelope.changes:
        config = configs.get(change.phone_number_id)
        for inbound in change.messages:
            _record_one(_record_inbound, config, inbound, wamid=inbound.wamid)
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


def _record_inbound(config: MetaAppConfig | None, inbound: InboundMessage) -> None:
    contact = conversations.touch_contact_inbound(
        whatsapp_id=inbound.from_wa_id,
        profile_name=inbound.profile_name,
        sent_at=inbound.timestamp,
    )
    message, created = conversations.record_inbound_message(
        contact=contact,
        config=config,
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
    from .tasks import enqueue_inbound  # tasks import this module

    message_id = message.pk
    transaction.on_commit(lambda: enqueue_inbound(message_id))


def _record_status(status) -> None:
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
        queue_reengagement_template(message.contact, config=message.config, schedule=True)


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


# --- dispatching inbound messages ------------------------------------------------------------


SUPPORTED_INBOUND_TYPES = frozenset(
    {
        MessageKind.TEXT,
        MessageKind.BUTTON_REPLY,
        MessageKind.LIST_REPLY,
        MessageKind.FLOW_REPLY,
    }
)


HANDLER_FAILED_REPLY = (
    "Sorry, something went wrong on our side. A member of our team will reply here shortly."
)


def dispatch_inbound_message(message_id: int) -> bool:
    """Hand one inbound message to the bot, exactly once. The flow engine's entry point.

    Calls the handler named by ``settings.INBOUND_MESSAGE_HANDLER`` (a dotted path to a
    callable taking the ``conversations.models.Message``; default ``default_inbound_handler``)
    inside a transaction that also marks the message dispatched: if the handler raises,
    nothing it wrote is kept and the message can be dispatched again; messages it queues are
    sent only after commit. Returns False when the message was dispatched before.
    """
    with transaction.atomic():
        message = (
            Message.objects.select_for_update(of=("self",))
            .select_related("contact", "config")
            .filter(pk=message_id, direction=Message.Direction.INBOUND)
            .first()
        )
        if message is None or message.dispatched_at is not None:
            return False
        message.dispatched_at = timezone.now()
        message.save(update_fields=["dispatched_at", "updated_at"])
        handler: Callable[[Message], Any] = import_string(selectors.inbound_handler_path())
        try:
            with transaction.atomic():  # a failing handler leaves nothing half-written
                handler(message)
        except DatabaseError:
            raise  # the database itself is in trouble: roll back, the task retries
        except Exception:
            # A message the bot cannot handle must neither loop through retries nor vanish:
            # it stays on record, staff take the conversation, the traveller is told.
            logger.exception(
                "Inbound message %s could not be handled; conversation handed to staff",
                message.pk,
                extra={"contact": message.contact_id, "wamid": message.wamid},
            )
            conversations.pause_bot(message.contact)
            conversations.queue_message(
                message.contact,
                payloads.text(message.contact.whatsapp_id, HANDLER_FAILED_REPLY),
                flow_step="handler_failed",
                config=message.config,
            )
    if settings.WHATSAPP_MARK_AS_READ and message.wamid:
        from .tasks import enqueue_mark_read

        enqueue_mark_read(message.pk)
    return True


def default_inbound_handler(message: Message) -> None:
    """Until the flow engine plugs in: answer unsupported kinds politely, log the rest."""
    contact = message.contact
    if conversation_selectors.is_bot_paused(contact):
        logger.info("Bot paused: inbound message left for staff", extra={"contact": contact.pk})
        return
    if message.message_type not in SUPPORTED_INBOUND_TYPES:
        conversations.queue_message(
            contact,
            payloads.text(contact.whatsapp_id, UNSUPPORTED_REPLY),
            flow_step="unsupported_message_type",
            config=message.config,
        )
        return
    logger.info(
        "Inbound %s message dispatched",
        message.message_type,
        extra={"contact": contact.pk, "wamid": message.wamid},
    )


def mark_message_read(message_id: int) -> bool:
    """Best-effort blue ticks for an inbound message; returns whether Meta accepted it.

    Retryable failures raise ``GraphRetryableError`` (the task retries a few times).
    """
    message = Message.objects.select_related("config").filter(pk=message_id).first()
    if message is None or not message.wamid or message.config is None:
        return False
    try:
        with GraphClient(message.config) as client:
            client.mark_as_read(message.wamid)
    except GraphRetryableError:
        raise
    except GraphError as exc:
        logger.warning("Mark-as-read refused: %s", exc, extra={"wamid": message.wamid})
        return False
    return True


# --- sending -----------------------------------------------------------------------------


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
            if outcome == "accepted":
                sent += 1
                conversations.apply_status_events(message.pk)  # statuses that beat us here
            elif outcome == "failed":
                failed += 1
            else:
                return DrainResult(
                    sent=sent, failed=failed, retry_at=message.next_attempt_at, scheduled_by_us=True
                )
    finally:
        for client in clients.values():
            client.close()


def _send_one(message: Message, clients: dict[int, GraphClient], now: datetime) -> str:
    contact = message.contact
    config = message.config or selectors.config_for_contact(contact)
    log_extra = {"contact": contact.pk, "wamid": f"#{message.pk}"}
    if config is None or not config.is_active:
        conversations.record_send_failed(
            message, code=None, title="No active WhatsApp number is configured"
        )
        return "failed"
    if message.config_id is None:
        message.config = config
        message.save(update_fields=["config", "updated_at"])
    if message.message_type != "template" and not conversation_selectors.is_within_service_window(
        contact, now=now
    ):
        _fail_outside_window(message, details="The contact has not written in the last 24 hours.")
        return "failed"

    client = clients.get(config.pk)
    if client is None:
        client = clients[config.pk] = GraphClient(config)
    message.attempts += 1
    try:
        result = client.send(message.payload)
    except OutsideWindowError as exc:
        _fail_outside_window(message, details=exc.details or exc.title)
        return "failed"
    except GraphRetryableError as exc:
        if message.attempts >= _max_attempts():
            conversations.record_send_failed(
                message,
                code=exc.code,
                title=f"Gave up after {message.attempts} attempts: {exc.title}",
                details=exc.details,
            )
            return "failed"
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
        return "retry"
    except GraphRequestError as exc:
        conversations.record_send_failed(
            message, code=exc.code, title=exc.title, details=exc.details
        )
        return "failed"
    except payloads.MessageLimitError as exc:  # validated when queued; edited since?
        logger.error("Queued payload breaks Meta's limits: %s", exc, extra=log_extra)
        conversations.record_send_failed(message, code=None, title=f"Invalid payload: {exc}")
        return "failed"
    conversations.record_send_accepted(message, wamid=result.wamid)
    logger.info("Message accepted by Meta", extra={"contact": contact.pk, "wamid": result.wamid})
    return "accepted"


def _fail_outside_window(message: Message, *, details: str) -> None:
    template = selectors.reengagement_template()
    if template is None:
        title = (
            "Outside the 24-hour window and no re-engagement template is configured "
            "(WHATSAPP_REENGAGEMENT_TEMPLATE); not sent"
        )
    else:
        title = f"Outside the 24-hour window; template {template[0]!r} sent instead"
    conversations.record_send_failed(
        message, code=GraphErrorCode.OUTSIDE_SERVICE_WINDOW, title=title, details=details
    )
    if template is not None:
        queue_reengagement_template(message.contact, config=message.config, schedule=False)


def queue_reengagement_template(
    contact: Contact, *, config: MetaAppConfig | None = None, schedule: bool = True
) -> Message | None:
    """Queue the configured re-engagement template, once per closed window.

    Returns None when no template is configured or one is already on its way since the
    contact last wrote.
    """
    template = selectors.reengagement_template()
    if template is None:
        return None
    already = Message.objects.filter(
        contact=contact, direction=Message.Direction.OUTBOUND, flow_step=REENGAGEMENT_STEP
    ).exclude(status=Message.Status.FAILED)
    if contact.last_inbound_at is not None:
        already = already.filter(created_at__gt=contact.last_inbound_at)
    if already.exists():
        return None
    payload = payloads.template(contact.whatsapp_id, template[0], template[1])
    if schedule:
        return conversations.queue_message(
            contact, payload, flow_step=REENGAGEMENT_STEP, config=config
        )
    return conversations.create_outbound_message(
        contact=contact, payload=payload, flow_step=REENGAGEMENT_STEP, config=config
    )


def _max_attempts() -> int:
    return max(1, int(settings.WHATSAPP_SEND_MAX_ATTEMPTS))


def _backoff(attempts: int) -> timedelta:
    base = float(settings.WHATSAPP_SEND_RETRY_BASE_SECONDS)
    cap = float(settings.WHATSAPP_SEND_RETRY_MAX_SECONDS)
    return timedelta(seconds=min(cap, base * (2 ** (attempts - 1))))


# --- housekeeping ------------------------------------------------------------------------


def contacts_with_due_messages(*, grace: timedelta = timedelta(seconds=30)) -> list[int]:
    """Contacts whose queue head is due but seems forgotten (a lost wake-up, a crashed worker)."""
    cutoff = timezone.now() - grace
    return list(
        Message.objects.filter(direction=Message.Direction.OUTBOUND, status=Message.Status.PENDING)
        .filter(
            Q(next_attempt_at__isnull=True, created_at__lt=cutoff) | Q(next_attempt_at__lt=cutoff)
        )
        .values_list("contact_id", flat=True)
        .distinct()
    )


def attach_orphan_statuses(*, limit: int = 500) -> int:
    """Apply status reports stored before their message's wamid was recorded."""
    wamids = list(
        MessageStatusEvent.objects.filter(message__isnull=True)
        .values_list("wamid", flat=True)
        .distinct()[:limit]
    )
    count = 0
    for message_id in Message.objects.filter(wamid__in=wamids).values_list("pk", flat=True):
        conversations.apply_status_events(message_id)
        count += 1
    return count


def undispatched_inbound(*, grace: timedelta = timedelta(minutes=2)) -> Iterable[int]:
    """Inbound messages recorded but never handed to the bot (a lost task)."""
    return Message.objects.filter(
        direction=Message.Direction.INBOUND,
        dispatched_at__isnull=True,
        created_at__lt=timezone.now() - grace,
    ).values_list("pk", flat=True)[:500]
