"""Reads for the WhatsApp channel: which number serves a contact, typed views of stored messages."""

from __future__ import annotations

from collections.abc import Iterable

from django.conf import settings

from conversations import selectors as conversation_selectors
from conversations.models import Contact, Message

from .models import UNSENDABLE_TEMPLATE_STATUSES, MessageTemplate, MetaAppConfig
from .payloads import ContactProfile, InboundMessage, parse_message

DEFAULT_INBOUND_HANDLER = "meta_integration.services.dispatch.default_inbound_handler"


def active_config(phone_number_id: str) -> MetaAppConfig | None:
    return MetaAppConfig.objects.filter(phone_number_id=phone_number_id, is_active=True).first()


def config_by_number(phone_number_id: str) -> MetaAppConfig | None:
    """The config of a business number, active or not (None: unknown or empty)."""
    if not phone_number_id:
        return None
    return MetaAppConfig.objects.filter(phone_number_id=phone_number_id).first()


def config_for_contact(contact: Contact) -> MetaAppConfig | None:
    """The number the contact last wrote to, if still active; else the first active number."""
    active = list(MetaAppConfig.objects.filter(is_active=True).order_by("pk"))
    if not active:
        return None
    number = conversation_selectors.last_inbound_business_number(
        contact, among=[config.phone_number_id for config in active]
    )
    return next((c for c in active if c.phone_number_id == number), active[0])


def config_for_message(message: Message) -> MetaAppConfig | None:
    """The number a message went (or goes) through; for an outbound message not tied to a
    number we know, the contact's (``config_for_contact``)."""
    config = config_by_number(message.business_number_id)
    if config is None and message.direction == Message.Direction.OUTBOUND:
        return config_for_contact(message.contact)
    return config


def inbound_view(message: Message) -> InboundMessage:
    """The typed, immutable view (``payloads.InboundMessage``) of a stored inbound message."""
    contact = message.contact
    profile = ContactProfile(wa_id=contact.whatsapp_id, user_id=contact.user_id, name=contact.name)
    return parse_message(message.payload, profiles=(profile,))


def inbound_handler_path() -> str:
    return settings.INBOUND_MESSAGE_HANDLER or DEFAULT_INBOUND_HANDLER


def reengagement_template() -> tuple[str, str] | None:
    """``(name, language code)`` of the template sent when the 24-hour window is closed."""
    name = settings.WHATSAPP_REENGAGEMENT_TEMPLATE or ""
    if not name.strip():
        return None
    language = settings.WHATSAPP_REENGAGEMENT_TEMPLATE_LANGUAGE or "en"
    return name.strip(), language.strip()


def unsendable_templates(names: Iterable[str]) -> list[MessageTemplate]:
    """Of the templates called ``names``, those Meta last reported as not sendable (rejected,
    paused, disabled, archived, deleted): a message that relies on them cannot go out."""
    wanted = {name for name in names if name}
    if not wanted:
        return []
    return list(
        MessageTemplate.objects.filter(
            name__in=wanted, status__in=list(UNSENDABLE_TEMPLATE_STATUSES)
        ).order_by("name", "language")
    )
