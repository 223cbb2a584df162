"""Reads for the WhatsApp channel: which number serves a contact, typed views of stored messages."""

from __future__ import annotations

from django.conf import settings

from conversations.models import Contact, Message

from .models import MetaAppConfig
from .payloads import InboundMessage, parse_message

DEFAULT_INBOUND_HANDLER = "meta_integration.services.default_inbound_handler"


def active_config(phone_number_id: str) -> MetaAppConfig | None:
    return MetaAppConfig.objects.filter(phone_number_id=phone_number_id, is_active=True).first()


def config_for_contact(contact: Contact) -> MetaAppConfig | None:
    """The number the contact last wrote to, if still active; else the first active number."""
    last_inbound = (
        Message.objects.filter(
            contact=contact,
            direction=Message.Direction.INBOUND,
            config__isnull=False,
            config__is_active=True,
        )
        .select_related("config")
        .order_by("-created_at", "-id")
        .first()
    )
    if last_inbound is not None:
        return last_inbound.config
    return MetaAppConfig.objects.filter(is_active=True).order_by("pk").first()


def inbound_view(message: Message) -> InboundMessage:
    """The typed, immutable view (``payloads.InboundMessage``) of a stored inbound message."""
    contact = message.contact
    return parse_message(message.payload, profile_names={contact.whatsapp_id: contact.name})


def inbound_handler_path() -> str:
    return settings.INBOUND_MESSAGE_HANDLER or DEFAULT_INBOUND_HANDLER


def reengagement_template() -> tuple[str, str] | None:
    """``(name, language code)`` of the template sent when the 24-hour window is closed."""
    name = settings.WHATSAPP_REENGAGEMENT_TEMPLATE or ""
    if not name.strip():
        return None
    language = settings.WHATSAPP_REENGAGEMENT_TEMPLATE_LANGUAGE or "en"
    return name.strip(), language.strip()
