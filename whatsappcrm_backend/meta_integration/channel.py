"""The WhatsApp channel's ``Sender`` for ``conversations`` (see ``conversations.channel``).

Registered once by ``MetaIntegrationConfig.ready()``. It checks a Graph payload against
Meta's limits and describes it, picks the business number a contact hears from, and wakes
the per-contact send queue (``tasks.send_pending``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from conversations.channel import OutboundDescription
from conversations.models import Contact

from . import messages, selectors, tasks
from .constants import TEXT_BODY_MAX


class WhatsAppSender:
    """``conversations.channel.Sender`` over the WhatsApp Cloud API."""

    text_max_length = TEXT_BODY_MAX

    def describe(self, payload: Mapping[str, Any]) -> OutboundDescription:
        """Raises ``messages.MessageLimitError`` (a ``ValueError``) on a violation."""
        messages.validate_payload(payload)
        return OutboundDescription(
            recipient=messages.recipient_of(payload),
            message_type=outbound_message_type(payload),
            summary=outbound_summary(payload),
        )

    def account_for(self, contact: Contact) -> str:
        config = selectors.config_for_contact(contact)
        return config.phone_number_id if config is not None else ""

    def wake(self, contact_id: int) -> None:
        tasks.enqueue_send(contact_id)

    def text_payload(self, recipient: str, body: str) -> dict[str, Any]:
        return messages.text(recipient, body)


# The one instance: registering it again (Django may run ready() twice) changes nothing.
SENDER = WhatsAppSender()


def outbound_message_type(payload: Mapping[str, Any]) -> str:
    """``text``, ``button``, ``list``, ``flow``, ``template``: what the contact will see."""
    kind = payload.get("type", "")
    if kind == "interactive":
        return str((payload.get("interactive") or {}).get("type", "interactive"))
    return str(kind)


def outbound_summary(payload: Mapping[str, Any]) -> str:
    """The text staff read for an outbound message: its body, or what kind it is."""
    kind = payload.get("type")
    if kind == "text":
        return str((payload.get("text") or {}).get("body", ""))
    if kind == "interactive":
        return str(((payload.get("interactive") or {}).get("body") or {}).get("text", ""))
    if kind == "template":
        return f"[template {(payload.get('template') or {}).get('name', '')}]"
    return f"[{kind}]"
