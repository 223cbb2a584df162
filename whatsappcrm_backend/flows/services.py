"""The flow engine's entry points: handle an inbound message, start or end a flow, hand over.

``handle_inbound_message`` is the WhatsApp channel's ``INBOUND_MESSAGE_HANDLER``
(``meta_integration.services.dispatch`` calls it once per message, inside a transaction).
Every entry point locks the contact's ``ContactFlowState`` row first (``select_for_update``),
so one contact's messages are handled strictly one after the other, also across several
workers; different contacts never wait for each other.
"""

from __future__ import annotations

import logging
from contextlib import contextmanager

from django.db import transaction
from django.utils import timezone

from conversations import selectors as conversation_selectors
from conversations.models import Contact, Message

from .engine.answers import Incoming
from .engine.loader import ensure_flows_loaded
from .engine.runner import Runner
from .models import ContactFlowState

logger = logging.getLogger(__name__)


@contextmanager
def locked_state(contact: Contact):
    """The contact's flow state, row-locked until the surrounding transaction ends."""
    with transaction.atomic():
        ContactFlowState.objects.get_or_create(contact=contact)
        state = (
            # Lock the state row only (the flow is joined for reading; it may be null).
            ContactFlowState.objects.select_for_update(of=("self",))
            .select_related("flow", "contact")
            .get(contact=contact)
        )
        yield state
        state.save()


def incoming_from(message: Message) -> Incoming:
    """The typed view of a stored inbound message, reduced to what the engine reads."""
    from meta_integration.payloads import MalformedWebhook
    from meta_integration.selectors import inbound_view

    try:
        inbound = inbound_view(message)
    except MalformedWebhook:
        logger.warning("Stored inbound message %s is malformed", message.pk)
        return Incoming(kind="unsupported", type="unknown")
    media = inbound.raw.get(inbound.type) if inbound.type in ("image", "document") else None
    return Incoming(
        kind=str(inbound.kind),
        type=inbound.type,
        text=inbound.text or "",
        reply_id=inbound.reply_id or "",
        reply_title=inbound.reply_title or "",
        media=dict(media) if isinstance(media, dict) else {},
    )


def handle_inbound_message(message: Message) -> None:
    """Run the contact's conversation for one inbound message (the INBOUND_MESSAGE_HANDLER).

    While staff have the conversation (the bot is paused) the bot stays silent.
    """
    ensure_flows_loaded()
    incoming = incoming_from(message)
    with locked_state(message.contact) as state:
        contact = state.contact
        if conversation_selectors.is_bot_paused(contact):
            logger.info("Bot paused: inbound message left for staff", extra={"contact": contact.pk})
            return
        Runner(state, config=message.business_number_id, now=timezone.now()).handle(
            incoming, message
        )


def start_flow(contact: Contact, name: str, *, step: str | None = None, context=None) -> None:
    """Start (or restart) flow ``name`` for the contact, e.g. from the admin or a task."""
    ensure_flows_loaded()
    with locked_state(contact) as state:
        runner = Runner(state)
        state.last_activity_at = runner.now
        runner.start(name, step=step, context=context)


def end_flow(contact: Contact) -> None:
    """End whatever flow the contact is in, silently."""
    with locked_state(contact) as state:
        Runner(state).end()


def hand_over(contact: Contact) -> None:
    """Give the conversation to staff: tell the contact, pause the bot, end the flow."""
    with locked_state(contact) as state:
        Runner(state).handover()


def finish_deferred_action(contact_id: int, token: str, job) -> None:
    """Run a deferred action's slow work (outside any transaction), then continue the flow."""
    from .engine.registry import ActionResult
    from .engine.runner import AWAITING_KEY, ERROR_TEXT

    try:
        result = job()
    except Exception:
        logger.exception("Deferred action failed", extra={"contact": contact_id})
        result = None
    contact = Contact.objects.get(pk=contact_id)
    with locked_state(contact) as state:
        runner = Runner(state)
        if result is None:
            if state.context.get(AWAITING_KEY) == token:
                runner.send_text(ERROR_TEXT)
                runner.end()
            return
        runner.resume(token, result or ActionResult())
