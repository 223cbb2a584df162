"""Intake of Meta's webhook: route, verify, store, then process (and replay) each event.

``receive_webhook`` is the one entry point for a POST. It routes the body by
``metadata.phone_number_id`` (account and template changes carry no metadata: by the WhatsApp
Business Account in ``entry[].id``) to its config, verifies ``X-Hub-Signature-256`` on the raw
bytes, stores the raw event (``WebhookEvent``, deduplicated by the body's sha256) and records
its items, each on its own (``recording``). A refusal raises a ``WebhookRejected`` subclass that
names what is wrong, never an HTTP status: ``views`` maps each to its answer.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
from collections.abc import Mapping
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from ..constants import MAX_WEBHOOK_BODY_BYTES, SIGNATURE_HEADER
from ..models import MetaAppConfig, WebhookEvent
from ..payloads import MalformedWebhook, WebhookEnvelope, parse_webhook
from ..signature import verify_signature
from . import recording

logger = logging.getLogger(__name__)

# Headers never stored with a webhook event.
_DROPPED_HEADERS = frozenset({"authorization", "cookie", "proxy-authorization"})
# An unauthenticated body is kept for diagnosis and replay, but not at any size.
UNSIGNED_BODY_KEPT = 64 * 1024


# --- what intake refuses (the view maps each to an HTTP answer) -------------------------------


class WebhookRejected(Exception):
    """A webhook POST we refuse; ``reason`` says why (it goes to the log)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class WebhookTooLarge(WebhookRejected):
    """The body is over Meta's 3 MB: nothing is read further, nothing stored."""


class WebhookMalformed(WebhookRejected):
    """Not UTF-8 JSON, no number to route by, or (signed) not Meta-shaped."""


class WebhookUnknownNumber(WebhookRejected):
    """The body names a phone number ID we have no active config for: nothing stored."""


class WebhookNoSecret(WebhookRejected):
    """The number's config has no app secret: refused, never waved through."""


class WebhookSignatureInvalid(WebhookRejected):
    """Missing or wrong signature: the event is stored untrusted, nothing recorded."""


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


# --- intake ------------------------------------------------------------------------------


def check_body_size(length: int) -> None:
    """Raise ``WebhookTooLarge`` for a body over Meta's limit (the view checks the declared
    length with this before reading the body at all)."""
    if length > MAX_WEBHOOK_BODY_BYTES:
        raise WebhookTooLarge(f"body of {length} bytes is over 3 MB")


def routing_keys(data: Any) -> tuple[list[str], list[str]]:
    """Read what routes an untrusted body to its configs: ``(phone_number_ids, waba_ids)``.

    A change with ``metadata.phone_number_id`` is routed by it; one without (account and
    template updates) by its entry's ``id``, the WhatsApp Business Account. Only enough to
    find the secrets that verify the signature; the full parse comes after verification.
    """
    if not isinstance(data, dict) or not isinstance(data.get("entry"), list):
        raise WebhookMalformed("body has no entry list")
    numbers: list[str] = []
    accounts: list[str] = []
    for entry in data["entry"]:
        changes = entry.get("changes") if isinstance(entry, dict) else None
        if not isinstance(changes, list):
            raise WebhookMalformed("entry without a changes list")
        for change in changes:
            value = change.get("value") if isinstance(change, dict) else None
            metadata = value.get("metadata") if isinstance(value, dict) else None
            number = metadata.get("phone_number_id") if isinstance(metadata, dict) else None
            if isinstance(number, str) and number:
                if number not in numbers:
                    numbers.append(number)
                continue
            account = entry.get("id")
            if isinstance(account, str) and account and account not in accounts:
                accounts.append(account)
    if not numbers and not accounts:
        raise WebhookMalformed("no metadata.phone_number_id nor entry id in the body")
    return numbers, accounts


def _configs_for(numbers: list[str], accounts: list[str]) -> list[MetaAppConfig]:
    """One config per routing key: the number's, or the first active one of the account.
    Raises ``WebhookUnknownNumber`` / ``WebhookNoSecret``."""
    known = {
        c.phone_number_id: c for c in MetaAppConfig.objects.filter(phone_number_id__in=numbers)
    }
    chosen: list[MetaAppConfig] = []
    for number in numbers:
        config = known.get(number)
        if config is None or not config.is_active:
            state = "unknown" if config is None else "inactive"
            raise WebhookUnknownNumber(f"phone_number_id {number} is {state}")
        chosen.append(config)
    for account in accounts:
        config = (
            MetaAppConfig.objects.filter(waba_id=account, is_active=True).order_by("pk").first()
        )
        if config is None:
            raise WebhookUnknownNumber(f"WhatsApp Business Account {account} is unknown")
        chosen.append(config)
    for config in chosen:
        if not config.webhook_secrets:
            raise WebhookNoSecret(
                f"phone_number_id {config.phone_number_id} has no app secret configured"
            )
    return chosen


def receive_webhook(
    *, body: bytes, headers: Mapping[str, str], remote_ip: str | None
) -> WebhookEvent:
    """Authenticate, store and record one webhook POST. Raises ``WebhookRejected``.

    New inbound messages are handed to ``tasks.process_inbound_message`` after commit. Any
    other exception means the event is stored but its processing failed (the event keeps
    the exception and traceback for a replay).
    """
    check_body_size(len(body))
    try:
        data = _storable(json.loads(body.decode("utf-8")))
    except (ValueError, UnicodeDecodeError) as exc:
        raise WebhookMalformed(f"body is not UTF-8 JSON: {exc}") from None
    configs = _configs_for(*routing_keys(data))
    signature = _header(headers, SIGNATURE_HEADER)
    valid = all(verify_signature(signature, body, config.webhook_secrets) for config in configs)
    event = _store_event(
        body=body,
        headers=headers,
        remote_ip=remote_ip,
        config=configs[0],
        valid=valid,
    )
    if not valid:
        raise WebhookSignatureInvalid(
            "missing X-Hub-Signature-256" if not signature else "signature does not match"
        )
    try:
        envelope = parse_webhook(data)
    except MalformedWebhook as exc:
        WebhookEvent.objects.filter(pk=event.pk).update(exception=f"malformed: {exc.reason}")
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


def _store_event(
    *,
    body: bytes,
    headers: Mapping[str, str],
    remote_ip: str | None,
    config: MetaAppConfig,
    valid: bool,
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
            if not valid:
                text = text[:UNSIGNED_BODY_KEPT]
            return WebhookEvent.objects.create(
                body=text,
                body_sha256=digest,
                headers=kept_headers,
                remote_ip=remote_ip,
                phone_number_id=config.phone_number_id,
                config=config,
                valid=valid,
                last_received_at=now,
            )
    except IntegrityError:
        pass
    WebhookEvent.objects.filter(body_sha256=digest).update(
        delivery_count=F("delivery_count") + 1, last_received_at=now
    )
    if valid:
        WebhookEvent.objects.filter(body_sha256=digest).exclude(valid=True).update(
            valid=True, headers=kept_headers, config=config
        )
    event = WebhookEvent.objects.get(body_sha256=digest)
    logger.info("Meta webhook redelivered (%s deliveries)", event.delivery_count)
    return event


# --- processing and replay ---------------------------------------------------------------


def process_webhook_event(
    event_id: int, *, envelope: WebhookEnvelope | None = None, force: bool = False
) -> bool:
    """Record an authenticated event's messages and statuses. Idempotent.

    An already processed event is skipped unless ``force`` (the admin's replay); even then
    nothing is recorded twice: messages are unique by ``wamid``, statuses by (wamid, status).
    A failure rolls back what the event recorded and is kept on the event (exception and
    traceback, ``WebhookLog.record_failure``), then raised. Returns whether it ran.
    """
    try:
        with transaction.atomic():
            event = WebhookEvent.objects.select_for_update().get(pk=event_id)
            if not event.valid:
                raise WebhookSignatureInvalid("event has no valid signature")
            if event.processed and not force:
                return False
            if envelope is None:
                envelope = parse_webhook(json.loads(event.body))
            recording.record_envelope(envelope, event_id=event.pk)
            event.processed = True
            event.processed_at = timezone.now()
            event.exception = event.traceback = ""
            event.save(update_fields=["processed", "processed_at", "exception", "traceback"])
    except WebhookRejected:
        raise
    except Exception as exc:
        logger.exception("Meta webhook event %s could not be processed", event_id)
        WebhookEvent(pk=event_id).record_failure(exc)  # an UPDATE by id: no reload needed
        raise
    return True


def replay_webhook_event(event: WebhookEvent) -> bool:
    """Re-check the stored signature against the config's current secrets, then process again.

    Lets staff recover events refused while a secret was wrong, and events whose processing
    failed. Returns whether it ran.
    """
    config = MetaAppConfig.objects.filter(phone_number_id=event.phone_number_id).first()
    if config is None or not config.webhook_secrets:
        raise WebhookNoSecret(f"phone_number_id {event.phone_number_id} has no usable config")
    if not event.valid:
        signature = _header(event.headers, SIGNATURE_HEADER)
        if not verify_signature(signature, event.body.encode("utf-8"), config.webhook_secrets):
            raise WebhookSignatureInvalid("stored signature does not match the current secrets")
        WebhookEvent.objects.filter(pk=event.pk).update(valid=True, config=config)
    return process_webhook_event(event.pk, force=True)
