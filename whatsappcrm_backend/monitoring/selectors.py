"""Every operational figure, computed from the database: read-only, shared by `/metrics`,
the admin dashboard, the alert task and `manage.py payment_stats`.

Definitions (also in docs/OPERATIONS.md):

- *Finished* Paynow payment: status successful, failed, cancelled or expired (plus refunded,
  which was a successful payment first and counts as one). *Success rate* = successful /
  finished, per method and overall, for payments created in the window.
- *IPN processing time*: ``PaynowStatusUpdate.processing_ms`` of valid IPNs received in the
  window (receipt to applied status). Percentiles interpolate linearly between ranks, as
  PostgreSQL's ``percentile_cont`` does.
- *Flow completion*: WhatsApp Flow forms (``FlowFormSession``) sent in the window, how many
  started a payment (submitted) and how many completed.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal

from django.apps import apps
from django.conf import settings
from django.db.models import Count, Max, OuterRef, Q, QuerySet, Subquery, Sum
from django.db.models.functions import TruncDate
from django.utils import timezone

from conversations import selectors as conversation_selectors
from conversations.models import Contact, Message, Referral
from customer_data.models import PAYNOW_METHODS, Booking, Payment, PaymentStatus
from meta_integration.models import WebhookEvent

FINISHED_STATUSES = (
    PaymentStatus.SUCCESSFUL,
    PaymentStatus.FAILED,
    PaymentStatus.CANCELLED,
    PaymentStatus.EXPIRED,
    PaymentStatus.REFUNDED,
)
SUCCESS_STATUSES = (PaymentStatus.SUCCESSFUL, PaymentStatus.REFUNDED)
PAYNOW_METHOD_VALUES = tuple(sorted(str(method) for method in PAYNOW_METHODS))


def _model(label: str):
    """A model of another app, or None while that app does not define it (yet)."""
    try:
        return apps.get_model(label)
    except LookupError:
        return None


def paynow_payments() -> QuerySet[Payment]:
    return Payment.objects.filter(payment_method__in=PAYNOW_METHOD_VALUES)


def pending_timeout() -> timedelta:
    return timedelta(minutes=float(settings.PAYNOW_PENDING_TIMEOUT))


# --- windows -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Window:
    """A half-open time range ``[since, until)`` with a label for tables and metric labels."""

    label: str
    since: datetime
    until: datetime


def last(*, label: str = "", now: datetime | None = None, **delta) -> Window:
    now = now or timezone.now()
    span = timedelta(**delta)
    return Window(label or _span_label(span), now - span, now)


def today(*, now: datetime | None = None) -> Window:
    now = now or timezone.now()
    local = timezone.localtime(now)
    midnight = local.replace(hour=0, minute=0, second=0, microsecond=0)
    return Window("today", midnight, now)


def _span_label(span: timedelta) -> str:
    seconds = int(span.total_seconds())
    if seconds % 86400 == 0:
        return f"{seconds // 86400}d"
    if seconds % 3600 == 0:
        return f"{seconds // 3600}h"
    return f"{seconds // 60}m"


def _in(window: Window, field_name: str) -> Q:
    return Q(**{f"{field_name}__gte": window.since, f"{field_name}__lt": window.until})


# --- payment success rate ----------------------------------------------------------------------


@dataclass(frozen=True)
class SuccessRate:
    successful: int = 0
    failed: int = 0
    cancelled: int = 0
    expired: int = 0

    @property
    def finished(self) -> int:
        return self.successful + self.failed + self.cancelled + self.expired

    @property
    def rate(self) -> float | None:
        """Successful / finished; None when nothing finished (no data is not 0 %)."""
        return self.successful / self.finished if self.finished else None


@dataclass(frozen=True)
class SuccessRates:
    window: Window
    overall: SuccessRate
    by_method: dict[str, SuccessRate]
    pending: int = 0


def _status_counts() -> dict[str, Count]:
    return {
        "successful": Count("pk", filter=Q(status__in=SUCCESS_STATUSES)),
        "failed": Count("pk", filter=Q(status=PaymentStatus.FAILED)),
        "cancelled": Count("pk", filter=Q(status=PaymentStatus.CANCELLED)),
        "expired": Count("pk", filter=Q(status=PaymentStatus.EXPIRED)),
        "pending": Count("pk", filter=Q(status=PaymentStatus.PENDING)),
    }


def payment_success_rates(window: Window) -> SuccessRates:
    """Paynow success rate for payments created in ``window``, per method and overall."""
    rows = (
        paynow_payments()
        .filter(_in(window, "created_at"))
        .values("payment_method")
        .annotate(**_status_counts())
        .order_by("payment_method")
    )
    by_method = {method: SuccessRate() for method in PAYNOW_METHOD_VALUES}
    pending = 0
    for row in rows:
        pending += row.pop("pending")
        method = row.pop("payment_method")
        by_method[method] = SuccessRate(**row)
    overall = SuccessRate(
        successful=sum(r.successful for r in by_method.values()),
        failed=sum(r.failed for r in by_method.values()),
        cancelled=sum(r.cancelled for r in by_method.values()),
        expired=sum(r.expired for r in by_method.values()),
    )
    return SuccessRates(window=window, overall=overall, by_method=by_method, pending=pending)


@dataclass(frozen=True)
class GuideStats:
    """The deployment guide's query, verbatim: total, successful, failed, pending."""

    total: int
    successful: int
    failed: int
    pending: int


def guide_payment_stats(*, days: int, now: datetime | None = None) -> GuideStats:
    since = (now or timezone.now()) - timedelta(days=days)
    stats = Payment.objects.filter(
        created_at__gte=since, payment_method__startswith="paynow_"
    ).aggregate(
        total=Count("id"),
        successful=Count("id", filter=Q(status="successful")),
        failed=Count("id", filter=Q(status="failed")),
        pending=Count("id", filter=Q(status="pending")),
    )
    return GuideStats(**stats)


def recent_failed_payments(*, limit: int = 10, since: datetime | None = None) -> QuerySet[Payment]:
    """The guide's "recent failed payments": newest failed Paynow payments first."""
    payments = Payment.objects.filter(
        status=PaymentStatus.FAILED, payment_method__startswith="paynow_"
    )
    if since is not None:
        payments = payments.filter(created_at__gte=since)
    return payments.select_related("booking").order_by("-created_at")[:limit]


# --- IPN processing time -------------------------------------------------------------------


def percentile(sorted_values: list[float], fraction: float) -> float | None:
    """Linear interpolation between closest ranks (PostgreSQL ``percentile_cont``)."""
    if not sorted_values:
        return None
    position = (len(sorted_values) - 1) * fraction
    lower = math.floor(position)
    upper = math.ceil(position)
    if lower == upper:
        return float(sorted_values[lower])
    weight = position - lower
    return sorted_values[lower] * (1 - weight) + sorted_values[upper] * weight


@dataclass(frozen=True)
class ProcessingTimes:
    count: int = 0
    median_ms: float | None = None
    p95_ms: float | None = None
    max_ms: float | None = None
    sum_ms: float = 0.0


def ipn_processing_times(window: Window) -> ProcessingTimes:
    """Receipt-to-applied time of the valid IPNs received in ``window``."""
    PaynowStatusUpdate = _model("paynow_integration.PaynowStatusUpdate")
    if PaynowStatusUpdate is None:
        return ProcessingTimes()
    values = sorted(
        PaynowStatusUpdate.objects.filter(
            _in(window, "received_at"),
            source="ipn",
            valid=True,
            processing_ms__isnull=False,
        ).values_list("processing_ms", flat=True)
    )
    if not values:
        return ProcessingTimes()
    return ProcessingTimes(
        count=len(values),
        median_ms=percentile(values, 0.5),
        p95_ms=percentile(values, 0.95),
        max_ms=float(values[-1]),
        sum_ms=float(sum(values)),
    )


def last_ipn_received_at() -> datetime | None:
    PaynowStatusUpdate = _model("paynow_integration.PaynowStatusUpdate")
    if PaynowStatusUpdate is None:
        return None
    return PaynowStatusUpdate.objects.filter(source="ipn").aggregate(last=Max("received_at"))[
        "last"
    ]


# --- WhatsApp Flow completion -------------------------------------------------------------


@dataclass(frozen=True)
class FlowCompletion:
    sent: int = 0
    payment_started: int = 0
    completed: int = 0

    @property
    def payment_start_rate(self) -> float | None:
        return self.payment_started / self.sent if self.sent else None

    @property
    def completion_rate(self) -> float | None:
        return self.completed / self.sent if self.sent else None


_STARTED = (
    Q(payment__isnull=False)
    | Q(submitted_at__isnull=False)
    | Q(status__in=("submitted", "completed"))
)
_COMPLETED = Q(completed_at__isnull=False) | Q(status="completed")


def flow_completion(window: Window) -> FlowCompletion:
    """Payment forms sent in ``window``: how many started a payment, how many completed."""
    FlowFormSession = _model("flows.FlowFormSession")
    if FlowFormSession is None:
        return FlowCompletion()
    counts = FlowFormSession.objects.filter(_in(window, "created_at")).aggregate(
        sent=Count("pk"),
        payment_started=Count("pk", filter=_STARTED),
        completed=Count("pk", filter=_COMPLETED),
    )
    return FlowCompletion(**counts)


# --- what needs attention -------------------------------------------------------------------


@dataclass(frozen=True)
class PaymentBacklog:
    pending: int
    stuck_pending: int
    expired: int
    flagged: int


def payment_backlog(window: Window, *, now: datetime | None = None) -> PaymentBacklog:
    """Pending Paynow payments now (and those older than the timeout), expired in ``window``,
    and status updates with a flag staff have not resolved."""
    now = now or timezone.now()
    counts = paynow_payments().aggregate(
        pending=Count("pk", filter=Q(status=PaymentStatus.PENDING)),
        stuck_pending=Count(
            "pk",
            filter=Q(status=PaymentStatus.PENDING, created_at__lt=now - pending_timeout()),
        ),
        expired=Count("pk", filter=Q(status=PaymentStatus.EXPIRED) & _in(window, "created_at")),
    )
    return PaymentBacklog(**counts, flagged=flagged_status_updates().count())


def flagged_status_updates() -> QuerySet:
    PaynowStatusUpdate = _model("paynow_integration.PaynowStatusUpdate")
    if PaynowStatusUpdate is None:
        return Payment.objects.none()
    return (
        PaynowStatusUpdate.objects.exclude(flag="")
        .filter(flag_resolved=False)
        .select_related("payment", "payment__booking")
        .order_by("-received_at")
    )


def stuck_pending_payments(*, now: datetime | None = None) -> QuerySet[Payment]:
    """Paynow payments still pending after PAYNOW_PENDING_TIMEOUT: reconciliation missed them."""
    now = now or timezone.now()
    return (
        paynow_payments()
        .filter(status=PaymentStatus.PENDING, created_at__lt=now - pending_timeout())
        .select_related("booking", "paynow_attempt")
        .order_by("created_at")
    )


def pending_paynow_payments_older_than(minutes: float, *, now: datetime | None = None) -> int:
    now = now or timezone.now()
    return (
        paynow_payments()
        .filter(status=PaymentStatus.PENDING, created_at__lt=now - timedelta(minutes=minutes))
        .count()
    )


def failed_outbound_messages(window: Window) -> QuerySet[Message]:
    return (
        Message.objects.filter(direction=Message.Direction.OUTBOUND, status=Message.Status.FAILED)
        .filter(Q(failed_at__isnull=True, created_at__gte=window.since) | _in(window, "failed_at"))
        .select_related("contact")
        .order_by("-created_at")
    )


def contacts_waiting_for_agent() -> QuerySet[Contact]:
    return Contact.objects.filter(needs_human_intervention=True).order_by("-last_seen")


@dataclass(frozen=True)
class WebhookFailures:
    meta_invalid_signature: int = 0
    meta_errored: int = 0
    paynow_invalid: int = 0
    paynow_errored: int = 0

    @property
    def total(self) -> int:
        return (
            self.meta_invalid_signature
            + self.meta_errored
            + self.paynow_invalid
            + self.paynow_errored
        )


def webhook_failures(window: Window) -> WebhookFailures:
    """Webhooks refused (bad signature / hash) or whose processing raised, in ``window``."""
    counts: dict[str, int] = {}
    counts.update(
        WebhookEvent.objects.filter(_in(window, "received_at")).aggregate(
            meta_invalid_signature=Count("pk", filter=Q(valid=False)),
            meta_errored=Count("pk", filter=Q(valid=True) & ~Q(exception="")),
        )
    )
    PaynowStatusUpdate = _model("paynow_integration.PaynowStatusUpdate")
    if PaynowStatusUpdate is not None:
        counts.update(
            PaynowStatusUpdate.objects.filter(_in(window, "received_at"), source="ipn").aggregate(
                paynow_invalid=Count("pk", filter=Q(valid=False)),
                paynow_errored=Count("pk", filter=~Q(valid=False) & ~Q(exception="")),
            )
        )
    return WebhookFailures(**counts)


# --- time series for the dashboard's charts --------------------------------------------------


@dataclass
class DayFigures:
    day: date
    finished: int = 0
    successful: int = 0
    forms_sent: int = 0
    forms_completed: int = 0
    ipn_values: list[int] = field(default_factory=list)

    @property
    def success_rate(self) -> float | None:
        return self.successful / self.finished if self.finished else None

    @property
    def ipn_median_ms(self) -> float | None:
        return percentile(sorted(self.ipn_values), 0.5)


def daily_figures(*, days: int, now: datetime | None = None) -> list[DayFigures]:
    """One row per local calendar day, oldest first, for the last ``days`` days (today last)."""
    now = now or timezone.now()
    last_day = timezone.localdate(now)
    first_day = last_day - timedelta(days=days - 1)
    since = timezone.make_aware(datetime.combine(first_day, datetime.min.time()))
    figures = {
        first_day + timedelta(days=i): DayFigures(first_day + timedelta(days=i))
        for i in range(days)
    }

    rows = (
        paynow_payments()
        .filter(created_at__gte=since, created_at__lt=now, status__in=FINISHED_STATUSES)
        .annotate(day=TruncDate("created_at"))
        .values("day")
        .annotate(
            finished=Count("pk"), successful=Count("pk", filter=Q(status__in=SUCCESS_STATUSES))
        )
    )
    for row in rows:
        if row["day"] in figures:
            figures[row["day"]].finished = row["finished"]
            figures[row["day"]].successful = row["successful"]

    FlowFormSession = _model("flows.FlowFormSession")
    if FlowFormSession is not None:
        rows = (
            FlowFormSession.objects.filter(created_at__gte=since, created_at__lt=now)
            .annotate(day=TruncDate("created_at"))
            .values("day")
            .annotate(sent=Count("pk"), completed=Count("pk", filter=_COMPLETED))
        )
        for row in rows:
            if row["day"] in figures:
                figures[row["day"]].forms_sent = row["sent"]
                figures[row["day"]].forms_completed = row["completed"]

    PaynowStatusUpdate = _model("paynow_integration.PaynowStatusUpdate")
    if PaynowStatusUpdate is not None:
        for received_at, ms in PaynowStatusUpdate.objects.filter(
            received_at__gte=since,
            received_at__lt=now,
            source="ipn",
            valid=True,
            processing_ms__isnull=False,
        ).values_list("received_at", "processing_ms"):
            day = timezone.localdate(received_at)
            if day in figures:
                figures[day].ipn_values.append(ms)
    return [figures[day] for day in sorted(figures)]


# --- one bundle per window --------------------------------------------------------------------


@dataclass(frozen=True)
class Overview:
    window: Window
    rates: SuccessRates
    ipn: ProcessingTimes
    flows: FlowCompletion
    backlog: PaymentBacklog
    webhooks: WebhookFailures
    collected: dict[str, Decimal]

    @property
    def collected_display(self) -> str:
        return ", ".join(f"{amount:,.2f} {currency}" for currency, amount in self.collected.items())


def amount_collected(window: Window) -> dict[str, Decimal]:
    """Money received through Paynow in ``window`` (by ``paid_at``), per currency."""
    rows = (
        paynow_payments()
        .filter(_in(window, "paid_at"), status__in=SUCCESS_STATUSES)
        .values("currency")
        .annotate(total=Sum("amount"))
        .order_by("currency")
    )
    return {row["currency"]: row["total"] or Decimal("0.00") for row in rows}


def overview(window: Window, *, now: datetime | None = None) -> Overview:
    return Overview(
        window=window,
        rates=payment_success_rates(window),
        ipn=ipn_processing_times(window),
        flows=flow_completion(window),
        backlog=payment_backlog(window, now=now),
        webhooks=webhook_failures(window),
        collected=amount_collected(window),
    )


# --- where bookings come from (click-to-WhatsApp ads) ------------------------------------


@dataclass(frozen=True)
class AdBookings:
    """Bookings made by contacts who came from one ad (or post)."""

    ad: str  # the ad's id (``source_id``), else its URL, else its click id
    headline: str
    bookings: int


def booking_referral(booking: Booking) -> Referral | None:
    """The ad or post that brought the booking's contact to us, most recently before it was
    made (None: the contact came on their own, or the booking has no contact)."""
    if booking.contact_id is None:
        return None
    return conversation_selectors.referral_before(booking.contact_id, at=booking.created_at)


def bookings_per_ad(window: Window) -> list[AdBookings]:
    """Bookings created in the window, counted per ad they came from (most first); one query:
    each booking is joined to its contact's latest referral before it was made."""
    latest = Referral.objects.filter(
        contact_id=OuterRef("contact_id"), received_at__lte=OuterRef("created_at")
    ).order_by("-received_at", "-id")
    rows = (
        Booking.objects.filter(_in(window, "created_at"), contact__isnull=False)
        .annotate(
            ad_source_id=Subquery(latest.values("source_id")[:1]),
            ad_source_url=Subquery(latest.values("source_url")[:1]),
            ad_clid=Subquery(latest.values("ctwa_clid")[:1]),
            ad_headline=Subquery(latest.values("headline")[:1]),
        )
        .exclude(ad_headline__isnull=True)
        .values_list("ad_source_id", "ad_source_url", "ad_clid", "ad_headline")
    )
    counts: dict[str, list] = {}
    for source_id, source_url, clid, headline in rows:
        key = source_id or source_url or clid or "?"
        entry = counts.setdefault(key, [headline, 0])
        entry[1] += 1
    return sorted(
        (AdBookings(ad=key, headline=title, bookings=n) for key, (title, n) in counts.items()),
        key=lambda a: (-a.bookings, a.ad),
    )
