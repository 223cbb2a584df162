"""Background work for the WhatsApp channel. Every task is idempotent and safe with acks_late.

Tasks go to ``settings.WHATSAPP_TASK_QUEUE`` when set (else Celery's default queue). Without
a broker they run in-process (eager); then a deferred retry is not scheduled by the task
itself but picked up by ``sweep_outbound_queues`` or the contact's next queued message.
"""

from __future__ import annotations

import logging
from typing import Any

from celery import shared_task
from django.conf import settings
from django.utils import timezone

from .client import GraphRetryableError
from .services import dispatch, housekeeping, media, outbound, read_receipts

logger = logging.getLogger(__name__)

LANE_CONTENDED_RETRY_SECONDS = 1.0


def _options() -> dict[str, Any]:
    queue = settings.WHATSAPP_TASK_QUEUE or ""
    return {"queue": queue} if queue else {}


def _eager() -> bool:
    return bool(send_pending.app.conf.task_always_eager)


def enqueue_send(contact_id: int, *, countdown: float | None = None) -> None:
    """Wake the contact's send queue (now, or after ``countdown`` seconds)."""
    send_pending.apply_async(args=[contact_id], countdown=countdown, **_options())


def enqueue_inbound(message_id: int) -> None:
    process_inbound_message.apply_async(args=[message_id], **_options())


def enqueue_mark_read(message_id: int) -> None:
    mark_message_read.apply_async(args=[message_id], **_options())


def enqueue_media_download(media_id: int, *, countdown: float | None = None) -> None:
    download_media.apply_async(args=[media_id], countdown=countdown, **_options())


@shared_task(acks_late=True, ignore_result=True)
def send_pending(contact_id: int) -> dict[str, Any]:
    """Drain one contact's outbound queue in order; re-schedule itself when it must wait."""
    result = outbound.send_pending_messages(contact_id)
    if not _eager():
        if result.contended:
            # The holder may have looked at the queue just before our message was committed.
            enqueue_send(contact_id, countdown=LANE_CONTENDED_RETRY_SECONDS)
        elif result.scheduled_by_us and result.retry_at is not None:
            delay = max(0.0, (result.retry_at - timezone.now()).total_seconds())
            enqueue_send(contact_id, countdown=delay)
    return {
        "sent": result.sent,
        "failed": result.failed,
        "contended": result.contended,
        "retry_at": result.retry_at.isoformat() if result.retry_at else None,
    }


@shared_task(
    acks_late=True,
    ignore_result=True,
    autoretry_for=(Exception,),
    max_retries=3,
    retry_backoff=True,
    retry_jitter=False,
)
def process_inbound_message(message_id: int) -> bool:
    """Hand one inbound message to the bot (``dispatch.dispatch_inbound_message``), once;
    then ask for its blue ticks."""
    dispatched = dispatch.dispatch_inbound_message(message_id)
    if dispatched and settings.WHATSAPP_MARK_AS_READ:
        enqueue_mark_read(message_id)
    return dispatched


@shared_task(
    acks_late=True,
    ignore_result=True,
    autoretry_for=(GraphRetryableError,),
    max_retries=2,
    retry_backoff=True,
    retry_jitter=False,
)
def mark_message_read(message_id: int) -> bool:
    """Best-effort read receipt for an inbound message."""
    return read_receipts.mark_message_read(message_id)


MEDIA_RETRY_SECONDS = 30.0


@shared_task(acks_late=True, ignore_result=True)
def download_media(media_id: int) -> str:
    """Fetch, check and store one inbound file (``media.download_inbound_media``); a failed
    attempt is tried again later (by this task with a broker, else by the sweep)."""
    outcome = media.download_inbound_media(media_id)
    if outcome == media.MediaOutcome.RETRY and not _eager():
        enqueue_media_download(media_id, countdown=MEDIA_RETRY_SECONDS)
    return str(outcome)


@shared_task(acks_late=True, ignore_result=True)
def sweep_outbound_queues() -> dict[str, int]:
    """Safety net, run periodically by beat: wake forgotten queues, apply early statuses,
    dispatch inbound messages whose task was lost, fetch files still pending."""
    contacts = housekeeping.contacts_with_due_messages()
    for contact_id in contacts:
        enqueue_send(contact_id)
    attached = housekeeping.attach_orphan_statuses()
    inbound = housekeeping.undispatched_inbound()
    for message_id in inbound:
        enqueue_inbound(message_id)
    files = housekeeping.pending_media()
    for media_id in files:
        enqueue_media_download(media_id)
    if contacts or attached or inbound or files:
        logger.info(
            "Sweep: %s queues woken, %s statuses attached, %s inbound re-dispatched, "
            "%s files to fetch",
            len(contacts),
            attached,
            len(inbound),
            len(files),
        )
    return {
        "queues": len(contacts),
        "statuses": attached,
        "inbound": len(inbound),
        "media": len(files),
    }
