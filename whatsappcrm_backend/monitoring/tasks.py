"""Periodic operations work: the staff alerts (scheduled by Celery beat)."""

from celery import shared_task

from .alerts import run_alert_checks


@shared_task(ignore_result=True)
def check_payment_alerts() -> list[str]:
    """Evaluate the payment alerts; each kind is sent at most once per ALERT_PERIOD."""
    return run_alert_checks()
