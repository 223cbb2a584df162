"""Background work for Paynow: acting on status updates, and periodic reconciliation."""

import logging

from celery import shared_task

from .sdk import PaynowError
from .services import process_status_message, reconcile_pending_payments

logger = logging.getLogger(__name__)


@shared_task(bind=True, max_retries=8, acks_late=True)
def process_paynow_status_update(self, entry_id: int) -> None:
    """Confirm (poll) and apply a stored status update; retried while Paynow is unreachable.

    A failure is recorded on the stored update (exception and traceback) by the service.
    """
    try:
        process_status_message(entry_id)
    except PaynowError as exc:
        # Stays unprocessed; reconciliation would resolve it too, but sooner is better.
        countdown = min(15 * 2**self.request.retries, 600)
        logger.warning("Paynow confirmation failed (%s); retrying in %ss", exc, countdown)
        if self.request.is_eager:
            return  # in-process mode: reconciliation picks it up
        raise self.retry(exc=exc, countdown=countdown) from exc


@shared_task(acks_late=True)
def reconcile_payments() -> str:
    return str(reconcile_pending_payments())
