"""Health endpoints for load balancers, Prometheus metrics, and the staff dashboard."""

from __future__ import annotations

import hmac
import logging
import time

from django.conf import settings
from django.db import connection
from django.http import HttpResponse, JsonResponse
from django.shortcuts import render
from django.urls import NoReverseMatch, reverse
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET
from prometheus_client import CONTENT_TYPE_LATEST

from customer_data.models import PaymentMethod
from whatsappcrm.logging import mask_phone

from . import health, selectors
from .charts import bar_chart, line_chart
from .metrics import render_latest

logger = logging.getLogger(__name__)


def _database_ok() -> bool:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            return cursor.fetchone() == (1,)
    except Exception:
        logger.exception("Health check: database unreachable")
        return False


@require_GET
def healthz(request):
    """The process is alive and can reach its database."""
    database = "ok" if _database_ok() else "error"
    status = "ok" if database == "ok" else "error"
    return JsonResponse(
        {"status": status, "database": database}, status=200 if status == "ok" else 503
    )


@never_cache
@require_GET
def readyz(request):
    """Ready for traffic: database, broker (when configured), Paynow and Meta configuration.

    200 when every required check passes, 503 otherwise; the body names each check.
    """
    results = health.run_readiness_checks()
    ready = all(result.ok for result in results if result.required)
    body = {
        "status": "ok" if ready else "error",
        "checks": {result.name: result.as_dict() for result in results},
    }
    if not ready:
        failing = ", ".join(r.name for r in results if r.required and not r.ok)
        logger.warning("Readiness check failed: %s", failing)
    response = JsonResponse(body, status=200 if ready else 503)
    response._has_been_logged = True  # the line above says more than "Service Unavailable"
    return response


def _metrics_authorised(request) -> bool:
    token = settings.METRICS_TOKEN or ""
    if not token:
        return True
    header = request.headers.get("Authorization", "")
    scheme, _, presented = header.partition(" ")
    if scheme.lower() != "bearer":
        return False
    return hmac.compare_digest(presented.strip().encode(), token.encode())


@never_cache
@require_GET
def metrics(request):
    """Prometheus text format. With METRICS_TOKEN set, needs ``Authorization: Bearer <token>``."""
    if not _metrics_authorised(request):
        response = HttpResponse("Unauthorized\n", status=401, content_type="text/plain")
        response["WWW-Authenticate"] = 'Bearer realm="metrics"'
        return response
    return HttpResponse(render_latest(), content_type=CONTENT_TYPE_LATEST)


# --- dashboard (wrapped by the admin: staff only; see monitoring/admin.py) ------------------


def _percent(value: float | None) -> str:
    return "—" if value is None else f"{value * 100:.1f} %"


def _ms(value: float | None) -> str:
    if value is None:
        return "—"
    return f"{value / 1000:.2f} s" if value >= 1000 else f"{value:.0f} ms"


LIST_LIMIT = 20


def _admin_url(obj) -> str:
    """The admin change page of ``obj``, or "" when its model is not in the admin."""
    if obj is None:
        return ""
    meta = obj._meta
    try:
        return reverse(f"admin:{meta.app_label}_{meta.model_name}_change", args=[obj.pk])
    except NoReverseMatch:
        return ""


def _flagged_rows(updates) -> list[dict]:
    return [
        {
            "url": _admin_url(update),
            "received_at": update.received_at,
            "flag": update.get_flag_display(),
            "reference": update.reference or "—",
            "paynow_reference": update.paynow_reference or "—",
            "status": update.status or "—",
            "amount": update.amount,
            "payment": update.payment,
            "payment_url": _admin_url(update.payment),
        }
        for update in updates
    ]


def _payment_rows(payments, now) -> list[dict]:
    return [
        {
            "url": _admin_url(payment),
            "payment": payment,
            "booking_reference": payment.booking.booking_reference,
            "age_minutes": int((now - payment.created_at).total_seconds() // 60),
            "phone": mask_phone(payment.phone_number) if payment.phone_number else "—",
        }
        for payment in payments
    ]


def _message_rows(messages) -> list[dict]:
    return [
        {
            "url": _admin_url(message),
            "message": message,
            "contact": message.contact.name or _handle(message.contact),
            "contact_url": _admin_url(message.contact),
            "when": message.failed_at or message.created_at,
        }
        for message in messages
    ]


def _handle(contact) -> str:
    """The masked phone number, or the username of a contact who shares none."""
    if contact.whatsapp_id:
        return mask_phone(contact.whatsapp_id)
    return f"@{contact.username}" if contact.username else "(username user)"


def _contact_rows(contacts) -> list[dict]:
    return [
        {
            "url": _admin_url(contact),
            "name": contact.name or "—",
            "phone": _handle(contact),
            "last_seen": contact.last_seen,
        }
        for contact in contacts
    ]


def dashboard(request, *, admin_context: dict | None = None):
    started = time.monotonic()
    now = timezone.now()
    windows = [
        selectors.today(now=now),
        selectors.last(days=7, label="7 days", now=now),
        selectors.last(days=30, label="30 days", now=now),
    ]
    overviews = [selectors.overview(window, now=now) for window in windows]
    columns = []
    for item in overviews:
        columns.append(
            {
                "label": item.window.label,
                "success_rate": _percent(item.rates.overall.rate),
                "finished": item.rates.overall.finished,
                "successful": item.rates.overall.successful,
                "failed": item.rates.overall.failed,
                "cancelled": item.rates.overall.cancelled,
                "expired": item.rates.overall.expired,
                "by_method": [
                    (
                        PaymentMethod(method).label.removeprefix("Paynow - "),
                        _percent(rate.rate),
                        rate.finished,
                    )
                    for method, rate in item.rates.by_method.items()
                ],
                "collected": item.collected_display or "—",
                "ipn_count": item.ipn.count,
                "ipn_median": _ms(item.ipn.median_ms),
                "ipn_p95": _ms(item.ipn.p95_ms),
                "ipn_max": _ms(item.ipn.max_ms),
                "forms_sent": item.flows.sent,
                "forms_started": item.flows.payment_started,
                "forms_completed": item.flows.completed,
                "forms_start_rate": _percent(item.flows.payment_start_rate),
                "forms_completion_rate": _percent(item.flows.completion_rate),
                "webhook_failures": item.webhooks.total,
                "webhooks": item.webhooks,
                "expired_in_window": item.backlog.expired,
            }
        )
    backlog = overviews[0].backlog
    days = selectors.daily_figures(days=30, now=now)
    labels = [day.day.strftime("%d %b") for day in days]
    charts = {
        "success_rate": line_chart(
            labels,
            [None if d.success_rate is None else d.success_rate * 100 for d in days],
            title="Paynow success rate per day (%)",
            max_value=100,
            unit="%",
        ),
        "payments": bar_chart(
            labels,
            [[d.successful for d in days], [d.finished - d.successful for d in days]],
            series_names=["successful", "failed / cancelled / expired"],
            title="Finished Paynow payments per day",
        ),
        "ipn": line_chart(
            labels,
            [d.ipn_median_ms for d in days],
            title="Median IPN processing time per day (ms)",
            unit="ms",
        ),
        "flows": bar_chart(
            labels,
            [[d.forms_completed for d in days], [d.forms_sent - d.forms_completed for d in days]],
            series_names=["completed", "not completed"],
            title="Payment forms sent per day",
        ),
    }
    flagged = selectors.flagged_status_updates()
    stuck = selectors.stuck_pending_payments(now=now)
    failed_messages = selectors.failed_outbound_messages(windows[1])
    waiting = selectors.contacts_waiting_for_agent()
    context = {
        **(admin_context or {}),
        "title": "Operations dashboard",
        "now": now,
        "columns": columns,
        "backlog": backlog,
        "pending_timeout_minutes": selectors.pending_timeout().total_seconds() / 60,
        "charts": charts,
        "flagged": _flagged_rows(flagged[:LIST_LIMIT]),
        "flagged_count": backlog.flagged,
        "stuck": _payment_rows(stuck[:LIST_LIMIT], now),
        "stuck_count": backlog.stuck_pending,
        "failed_messages": _message_rows(failed_messages[:LIST_LIMIT]),
        "failed_messages_count": failed_messages.count(),
        "waiting": _contact_rows(waiting[:LIST_LIMIT]),
        "waiting_count": waiting.count(),
        "ads": selectors.bookings_per_ad(windows[1])[:LIST_LIMIT],
        "last_ipn": selectors.last_ipn_received_at(),
        "render_ms": 0,
    }
    context["render_ms"] = round((time.monotonic() - started) * 1000)
    return render(request, "monitoring/dashboard.html", context)
