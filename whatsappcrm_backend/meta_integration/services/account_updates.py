"""Webhook changes other than messages: stored for staff, template news folded into
``MessageTemplate``.

Meta sends ``account_update``, ``message_template_status_update``,
``message_template_quality_update``, ``template_category_update`` and
``message_template_components_update`` without ``metadata`` (routed by the WABA id in
``entry[].id``); ``calls``, ``user_preferences``, echoes and others do carry it. Every one is
kept as an ``AccountUpdate``; a template that the bot relies on and that can no longer be sent
is what ``monitoring``'s template alert reads (``selectors.unsendable_templates_in_use``).
"""

from __future__ import annotations

import logging
from typing import Any

from django.utils import timezone

from ..models import AccountUpdate, MessageTemplate, TemplateStatus
from ..payloads import OtherChange

logger = logging.getLogger(__name__)

FIELD_TEMPLATE_STATUS = "message_template_status_update"
FIELD_TEMPLATE_QUALITY = "message_template_quality_update"
FIELD_TEMPLATE_CATEGORY = "template_category_update"
FIELD_TEMPLATE_COMPONENTS = "message_template_components_update"
TEMPLATE_FIELDS = frozenset(
    {
        FIELD_TEMPLATE_STATUS,
        FIELD_TEMPLATE_QUALITY,
        FIELD_TEMPLATE_CATEGORY,
        FIELD_TEMPLATE_COMPONENTS,
    }
)


def record_change(event_id: int, change: OtherChange) -> AccountUpdate:
    """Store one non-message change once (per event and place); fold template news in."""
    existing = AccountUpdate.objects.filter(event_id=event_id, path=change.path[:200]).first()
    if existing is not None:
        return existing
    template = _apply_to_template(change) if change.field_name in TEMPLATE_FIELDS else None
    update = AccountUpdate.objects.create(
        event_id=event_id,
        path=change.path[:200],
        waba_id=change.waba_id[:64],
        field=change.field_name[:64],
        update_type=_update_type(change)[:64],
        template=template,
        summary=summary(change)[:500],
        value=change.value,
    )
    logger.info("WhatsApp account update stored: %s %s", update.field, update.update_type or "-")
    return update


def _text(value: Any) -> str:
    return value if isinstance(value, str) else str(value) if isinstance(value, int) else ""


def _update_type(change: OtherChange) -> str:
    value = change.value
    if change.field_name == FIELD_TEMPLATE_QUALITY:
        return _text(value.get("new_quality_score"))
    if change.field_name == FIELD_TEMPLATE_CATEGORY:
        return _text(value.get("new_category"))
    return change.event


def summary(change: OtherChange) -> str:
    """One line for staff."""
    value = change.value
    name = _text(value.get("message_template_name"))
    language = _text(value.get("message_template_language"))
    template = f"template {name} ({language})" if name else ""
    if change.field_name == FIELD_TEMPLATE_STATUS:
        reason = _text(value.get("reason"))
        why = f", reason {reason}" if reason and reason != "NONE" else ""
        return f"{template}: {change.event or '?'}{why}"
    if change.field_name == FIELD_TEMPLATE_QUALITY:
        return (
            f"{template}: quality {_text(value.get('previous_quality_score')) or '?'} → "
            f"{_text(value.get('new_quality_score')) or '?'}"
        )
    if change.field_name == FIELD_TEMPLATE_CATEGORY:
        previous = _text(value.get("previous_category"))
        before = f"{previous} → " if previous else ""
        return f"{template}: category {before}{_text(value.get('new_category')) or '?'}"
    if change.field_name == FIELD_TEMPLATE_COMPONENTS:
        return f"{template}: content changed"
    return f"{change.field_name}: {change.event}" if change.event else change.field_name


def _apply_to_template(change: OtherChange) -> MessageTemplate | None:
    value = change.value
    template_id = _text(value.get("message_template_id"))
    if not template_id:
        return None
    template, _ = MessageTemplate.objects.get_or_create(
        waba_id=change.waba_id[:64],
        template_id=template_id[:64],
        defaults={"name": _text(value.get("message_template_name"))[:512] or template_id},
    )
    fields: dict[str, Any] = {}
    name = _text(value.get("message_template_name"))
    if name:
        fields["name"] = name[:512]
    language = _text(value.get("message_template_language"))
    if language:
        fields["language"] = language[:32]
    if change.field_name == FIELD_TEMPLATE_STATUS:
        event = change.event.upper()
        status = event if event in TemplateStatus.values else TemplateStatus.UNKNOWN
        # FLAGGED, LOCKED, REINSTATED and UNARCHIVED leave a template sendable.
        if event in (TemplateStatus.REINSTATED, TemplateStatus.UNARCHIVED):
            status = TemplateStatus.APPROVED
        fields.update(status=status, status_changed_at=timezone.now())
        reason = _text(value.get("reason"))
        fields["status_reason"] = "" if reason in ("", "NONE") else reason[:255]
        category = _text(value.get("message_template_category"))
        if category:
            fields["category"] = category[:32]
    elif change.field_name == FIELD_TEMPLATE_QUALITY:
        fields["quality_score"] = _text(value.get("new_quality_score"))[:16]
    elif change.field_name == FIELD_TEMPLATE_CATEGORY:
        fields["category"] = _text(value.get("new_category"))[:32]
    if fields:
        MessageTemplate.objects.filter(pk=template.pk).update(**fields, updated_at=timezone.now())
        template.refresh_from_db()
    if template.status != TemplateStatus.UNKNOWN and not template.sendable:
        logger.warning("Message template %s can no longer be sent (%s)", template, template.status)
    return template
