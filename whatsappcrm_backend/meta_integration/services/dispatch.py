"""Inbound messages to the bot: each one handed to ``INBOUND_MESSAGE_HANDLER`` exactly once.

The handler is named by a setting (default: the flow engine's ``handle_inbound_message``)
because this app may not import the conversation layer above it. ``default_inbound_handler``
is the channel's own, used when the setting is empty and by the channel's tests.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from django.db import DatabaseError, transaction
from django.utils import timezone
from django.utils.module_loading import import_string

from conversations import selectors as conversation_selectors
from conversations import services as conversations
from conversations.models import Message

from .. import messages as payloads
from .. import selectors
from ..payloads import MalformedWebhook, MessageKind

logger = logging.getLogger(__name__)

UNSUPPORTED_REPLY = (
    "Sorry, I can only read text messages for now. Please type your question, "
    "or reply *menu* to see what I can help with."
)
HANDLER_FAILED_REPLY = (
    "Sorry, something went wrong on our side. A member of our team will reply here shortly."
)
SUPPORTED_INBOUND_TYPES = frozenset(
    {
        MessageKind.TEXT,
        MessageKind.BUTTON_REPLY,
        MessageKind.LIST_REPLY,
        MessageKind.FLOW_REPLY,
    }
)


def dispatch_inbound_message(message_id: int) -> bool:
    """Hand one inbound message to the bot, exactly once. The flow engine's entry point.

    Calls the handler named by ``settings.INBOUND_MESSAGE_HANDLER`` (a dotted path to a
    callable taking the ``conversations.models.Message``; default ``default_inbound_handler``)
    inside a transaction that also marks the message dispatched. A message nobody answers
    (``payloads.SILENT_KINDS``: reactions, edits, deletions, system notices, call-permission
    replies) is marked and kept from the handler: returns False. If the handler raises,
    nothing it wrote is kept, the conversation goes to staff and the traveller is told;
    messages it queues are sent only after commit. Returns False when the message was
    dispatched before (or is not an inbound message).
    """
    with transaction.atomic():
        message = (
            Message.objects.select_for_update(of=("self",))
            .select_related("contact")
            .filter(pk=message_id, direction=Message.Direction.INBOUND)
            .first()
        )
        if message is None or message.dispatched_at is not None:
            return False
        message.dispatched_at = timezone.now()
        message.save(update_fields=["dispatched_at", "updated_at"])
        if not _wants_answer(message):
            # A reaction, an edit, a deletion, a system notice, a call-permission reply:
            # on record for staff; the bot neither reads nor answers it.
            logger.info(
                "Inbound %s recorded; not for the bot",
                message.message_type,
                extra={"contact": message.contact_id, "wamid": message.wamid},
            )
            return False
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
                payloads.text(message.contact.address, HANDLER_FAILED_REPLY),
                flow_step="handler_failed",
                config=message.business_number_id,
            )
    return True


def _wants_answer(message: Message) -> bool:
    try:
        return selectors.inbound_view(message).wants_answer
    except MalformedWebhook:  # stored from a body that parsed once; answer rather than lose it
        return True


def default_inbound_handler(message: Message) -> None:
    """The channel's own handler: answer kinds it cannot read politely, log the rest.

    Installed when ``INBOUND_MESSAGE_HANDLER`` is empty (the channel without a bot); the
    flow engine's handler replaces it in the project's settings.
    """
    contact = message.contact
    if conversation_selectors.is_bot_paused(contact):
        logger.info("Bot paused: inbound message left for staff", extra={"contact": contact.pk})
        return
    if message.message_type not in SUPPORTED_INBOUND_TYPES:
        conversations.queue_message(
            contact,
            payloads.text(contact.address, UNSUPPORTED_REPLY),
            flow_step="unsupported_message_type",
            config=message.business_number_id,
        )
        return
    logger.info(
        "Inbound %s message dispatched",
        message.message_type,
        extra={"contact": contact.pk, "wamid": message.wamid},
    )
