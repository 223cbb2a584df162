"""The sweeps' work: find what a lost wake-up or a crashed worker left behind, and repair it
(forgotten send queues, early statuses, lost dispatches, files still to fetch).

Run every minute by ``tasks.sweep_outbound_queues`` (Celery beat); every function is safe to
run at any time, as often as wanted.
"""

from __future__ import annotations

from datetime import timedelta

from django.db.models import Q
from django.utils import timezone

from conversations import services as conversations
from conversations.models import Message, MessageMedia, MessageStatusEvent

from .media import MAX_ATTEMPTS


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


def undispatched_inbound(*, grace: timedelta = timedelta(minutes=2)) -> list[int]:
    """Inbound messages recorded but never handed to the bot (a lost task)."""
    return list(
        Message.objects.filter(
            direction=Message.Direction.INBOUND,
            dispatched_at__isnull=True,
            created_at__lt=timezone.now() - grace,
        ).values_list("pk", flat=True)[:500]
    )


def pending_media(*, grace: timedelta = timedelta(minutes=1), limit: int = 200) -> list[int]:
    """Inbound files still waiting to be fetched (a lost task, or an attempt to retry)."""
    return list(
        MessageMedia.objects.filter(
            status=MessageMedia.Status.PENDING,
            created_at__lt=timezone.now() - grace,
            attempts__lt=MAX_ATTEMPTS,
        )
        .order_by("created_at")
        .values_list("pk", flat=True)[:limit]
    )
