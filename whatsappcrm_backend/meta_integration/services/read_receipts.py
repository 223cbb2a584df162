"""Blue ticks: tell Meta we read an inbound message (best effort, after it was dispatched)."""

from __future__ import annotations

import logging

from conversations.models import Message

from .. import selectors
from ..client import GraphClient, GraphError, GraphRetryableError

logger = logging.getLogger(__name__)


def mark_message_read(message_id: int) -> bool:
    """Best-effort blue ticks for an inbound message; returns whether Meta accepted it.

    Retryable failures raise ``GraphRetryableError`` (the task retries a few times).
    """
    message = (
        Message.objects.select_related("contact")
        .filter(pk=message_id, direction=Message.Direction.INBOUND)
        .first()
    )
    if message is None or not message.wamid:
        return False
    config = selectors.config_for_message(message)
    if config is None:
        return False
    try:
        with GraphClient(config) as client:
            client.mark_as_read(message.wamid)
    except GraphRetryableError:
        raise
    except GraphError as exc:
        logger.warning("Mark-as-read refused: %s", exc, extra={"wamid": message.wamid})
        return False
    return True
