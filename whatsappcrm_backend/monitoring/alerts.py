"""Alerts for staff: a falling payment success rate, IPNs that stop arriving, or a WhatsApp
message template the system sends that Meta rejected or paused.

``run_alert_checks`` runs every minute (Celery beat, ``monitoring.tasks.check_payment_alerts``).
Each kind of alert goes out at most once per ``ALERT_PERIOD`` seconds: ``cache.add`` on the
shared cache is atomic, so however many workers run the check, one of them sends it.

Settings (all optional; see docs/OPERATIONS.md):
- ``PAYMENT_SUCCESS_ALERT_THRESHOLD`` (0.8), ``PAYMENT_ALERT_MIN_PAYMENTS`` (5),
  ``PAYMENT_ALERT_WINDOW_MINUTES`` (60): the success-rate alert.
- ``IPN_SILENCE_ALERT_MINUTES`` (30), ``IPN_ALERT_PENDING_MINUTES`` (10): no IPN for that
  long while Paynow payments older than that are pending.
- ``ALERT_PERIOD`` (3600), ``STAFF_ALERT_EMAILS`` (else ``ADMINS``),
  ``STAFF_ALERT_WHATSAPP_NUMBERS``, ``STAFF_ALERT_WHATSAPP_TEMPLATE`` (+ ``_LANGUAGE``).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.core.cache import cache
from django.core.mail import send_mail
from django.utils import timezone

from meta_integration import selectors as whatsapp_selectors

from . import selectors

logger = logging.getLogger(__name__)

CACHE_PREFIX = "monitoring:alert-sent"


@dataclass(frozen=True)
class Alert:
    kind: str
    subject: str
    body: str


def success_rate_alert(*, now: datetime | None = None) -> Alert | None:
    now = now or timezone.now()
    threshold = float(settings.PAYMENT_SUCCESS_ALERT_THRESHOLD)
    minimum = int(settings.PAYMENT_ALERT_MIN_PAYMENTS)
    minutes = float(settings.PAYMENT_ALERT_WINDOW_MINUTES)
    window = selectors.last(minutes=minutes, now=now)
    rates = selectors.payment_success_rates(window)
    overall = rates.overall
    if overall.finished < minimum or overall.rate is None or overall.rate >= threshold:
        return None
    per_method = "\n".join(
        f"  {method}: {rate.successful}/{rate.finished}"
        + (f" ({rate.rate:.0%})" if rate.rate is not None else "")
        for method, rate in rates.by_method.items()
    )
    return Alert(
        kind="payment_success_rate",
        subject=f"Paynow success rate {overall.rate:.0%} over the last {window.label}",
        body=(
            f"Paynow payment success rate over the last {window.label}: "
            f"{overall.successful}/{overall.finished} finished payments ({overall.rate:.0%}), "
            f"below the alert threshold of {threshold:.0%}.\n"
            f"Failed {overall.failed}, cancelled {overall.cancelled}, expired {overall.expired}."
            f"\nPer method:\n{per_method}\n"
            "Check the dashboard (/admin/monitoring/dashboard/) and Paynow's status."
        ),
    )


def ipn_silence_alert(*, now: datetime | None = None) -> Alert | None:
    now = now or timezone.now()
    silence = float(settings.IPN_SILENCE_ALERT_MINUTES)
    pending_minutes = float(settings.IPN_ALERT_PENDING_MINUTES)
    waiting = selectors.pending_paynow_payments_older_than(pending_minutes, now=now)
    if not waiting:
        return None
    last_ipn = selectors.last_ipn_received_at()
    if last_ipn is not None and last_ipn >= now - timedelta(minutes=silence):
        return None
    since = f"since {timezone.localtime(last_ipn):%Y-%m-%d %H:%M}" if last_ipn else "ever"
    return Alert(
        kind="ipn_silence",
        subject=f"No Paynow IPN {since}; {waiting} payment(s) pending",
        body=(
            f"No Paynow status update (IPN) has reached /crm-api/paynow/ipn/ {since} "
            f"(alert after {silence:.0f} minutes), while {waiting} Paynow payment(s) have been "
            f"pending for more than {pending_minutes:.0f} minutes.\n"
            "Check that the result URL is reachable from outside, the Paynow dashboard's "
            "Result URL, nginx and the web service's logs (grep -i paynow). Reconciliation "
            "(reconcile_payments) keeps polling pending payments meanwhile."
        ),
    )


def templates_in_use() -> set[str]:
    """The message templates the system sends: the re-engagement template outside the
    24-hour window and the staff alert template."""
    names = {settings.WHATSAPP_REENGAGEMENT_TEMPLATE, settings.STAFF_ALERT_WHATSAPP_TEMPLATE}
    return {name.strip() for name in names if name and name.strip()}


def template_alert(*, now: datetime | None = None) -> Alert | None:
    """A template the system relies on was rejected, paused, disabled or removed by Meta."""
    stuck = whatsapp_selectors.unsendable_templates(templates_in_use())
    if not stuck:
        return None
    lines = [
        f"  {t.name} ({t.language or '?'}): {t.get_status_display()}"
        + (f", reason {t.status_reason}" if t.status_reason else "")
        for t in stuck
    ]
    names = sorted({t.name for t in stuck})
    return Alert(
        # One kind per set of stuck templates: a newly stuck one alerts at once.
        kind="template_unsendable:" + ",".join(names),
        subject=f"WhatsApp template {', '.join(names)} cannot be sent",
        body=(
            "Meta reports that a message template this system sends can no longer be sent:\n"
            + "\n".join(lines)
            + "\nMessages that need it (replies after 24 hours of silence, staff alerts) will "
            "fail until it is approved again. Check WhatsApp Manager, and Meta Integration → "
            "Message templates in the admin."
        ),
    )


ALERT_CHECKS = (success_rate_alert, ipn_silence_alert, template_alert)


def _email_recipients() -> list[str]:
    emails = list(settings.STAFF_ALERT_EMAILS or [])
    if not emails:
        emails = [email for _name, email in settings.ADMINS]
    return emails


def _send_email(alert: Alert) -> bool:
    recipients = _email_recipients()
    if not recipients:
        return False
    prefix = settings.EMAIL_SUBJECT_PREFIX
    try:
        send_mail(
            f"{prefix}{alert.subject}",
            alert.body,
            settings.SERVER_EMAIL or settings.DEFAULT_FROM_EMAIL,
            recipients,
        )
    except Exception:
        logger.exception("Alert e-mail could not be sent", extra={"alert": alert.kind})
        return False
    return True


def _send_whatsapp(alert: Alert) -> int:
    """Queue the alert to each staff number; returns how many were queued."""
    numbers = list(settings.STAFF_ALERT_WHATSAPP_NUMBERS or [])
    if not numbers:
        return 0
    try:
        from conversations.models import Contact
        from conversations.services import queue_message
        from meta_integration import messages as graph
    except ImportError:
        logger.warning("WhatsApp alerts unavailable: the conversations services are missing")
        return 0
    template_name = settings.STAFF_ALERT_WHATSAPP_TEMPLATE
    language = settings.STAFF_ALERT_WHATSAPP_TEMPLATE_LANGUAGE
    queued = 0
    for number in numbers:
        wa_id = "".join(ch for ch in str(number) if ch.isdigit())
        if not wa_id:
            continue
        try:
            if template_name:
                payload = graph.template(
                    wa_id,
                    template_name,
                    language,
                    components=[
                        {"type": "body", "parameters": [{"type": "text", "text": alert.subject}]}
                    ],
                )
            else:
                payload = graph.text(wa_id, f"⚠️ {alert.subject}\n\n{alert.body}"[:4096])
            contact, _ = Contact.objects.get_or_create(whatsapp_id=wa_id)
            queue_message(contact, payload, flow_step="staff_alert")
            queued += 1
        except Exception:
            logger.exception("WhatsApp alert could not be queued", extra={"alert": alert.kind})
    return queued


def notify_staff(alert: Alert, *, period: float | None = None) -> bool:
    """Send ``alert`` unless the same kind went out within the period; True when sent."""
    period = float(period if period is not None else settings.ALERT_PERIOD)
    key = f"{CACHE_PREFIX}:{alert.kind}"
    try:
        first = cache.add(key, timezone.now().isoformat(), timeout=period)
    except Exception as exc:
        # Without the shared cache "once per period" cannot hold; the broker (same Redis)
        # is then usually down too, and /readyz says so.
        logger.error("Alert %s not sent: cache unavailable (%s)", alert.kind, type(exc).__name__)
        return False
    if not first:
        logger.info("Alert %s already sent this period", alert.kind, extra={"alert": alert.kind})
        return False
    emailed = _send_email(alert)
    queued = _send_whatsapp(alert)
    logger.warning(
        "Staff alert sent: %s (e-mail %s, WhatsApp %s)",
        alert.subject,
        "yes" if emailed else "no",
        queued,
        extra={"alert": alert.kind},
    )
    return True


def run_alert_checks(*, now: datetime | None = None) -> list[str]:
    """Evaluate every alert; returns the kinds sent now."""
    sent = []
    for check in ALERT_CHECKS:
        try:
            alert = check(now=now)
        except Exception:
            logger.exception("Alert check %s failed", check.__name__)
            continue
        if alert is not None and notify_staff(alert):
            sent.append(alert.kind)
    return sent
