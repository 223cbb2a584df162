"""Prometheus exposition of the selectors' figures.

The figures live in the database (shared by every web and worker process), so they are
computed per scrape by a custom collector rather than counted in process memory: any web
host answers the same numbers. Windowed figures are gauges labelled ``window``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable

from django.utils import timezone
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from . import selectors

logger = logging.getLogger(__name__)

PREFIX = "whatsappcrm"
# The windows exported for rates; Prometheus can chart each over time.
WINDOWS = ({"hours": 1}, {"hours": 24}, {"days": 7})


def _gauge(name: str, documentation: str, labels: Iterable[str] = ()) -> GaugeMetricFamily:
    return GaugeMetricFamily(f"{PREFIX}_{name}", documentation, labels=list(labels))


class OperationsCollector(Collector):
    """Reads `monitoring.selectors` on every scrape."""

    def collect(self) -> Iterable[Metric]:
        started = time.monotonic()
        up = _gauge("metrics_up", "1 when every figure could be read from the database.")
        try:
            yield from self._collect()
            up.add_metric([], 1)
        except Exception:
            logger.exception("Metrics collection failed")
            up.add_metric([], 0)
        yield up
        duration = _gauge("metrics_collect_seconds", "Time spent computing these metrics.")
        duration.add_metric([], time.monotonic() - started)
        yield duration

    def _collect(self) -> Iterable[Metric]:
        now = timezone.now()
        windows = [selectors.last(now=now, **span) for span in WINDOWS]

        finished = _gauge(
            "paynow_payments_finished",
            "Paynow payments created in the window that reached a final status.",
            ["window", "method"],
        )
        successful = _gauge(
            "paynow_payments_successful",
            "Paynow payments created in the window that succeeded.",
            ["window", "method"],
        )
        by_outcome = _gauge(
            "paynow_payments_outcome",
            "Paynow payments created in the window, by final status.",
            ["window", "method", "status"],
        )
        ratio = _gauge(
            "paynow_payment_success_ratio",
            "Successful / finished Paynow payments created in the window (absent without data).",
            ["window", "method"],
        )
        ipn = _gauge(
            "paynow_ipn_processing_seconds",
            "Receipt-to-applied time of valid Paynow IPNs received in the window.",
            ["window", "quantile"],
        )
        ipn_count = _gauge(
            "paynow_ipn_processed",
            "Valid IPNs received in the window with a processing time.",
            ["window"],
        )
        forms = _gauge(
            "flow_forms",
            "WhatsApp payment forms sent in the window, by stage reached.",
            ["window", "stage"],
        )
        form_ratio = _gauge(
            "flow_completion_ratio",
            "Share of payment forms sent in the window that reached the stage.",
            ["window", "stage"],
        )
        expired = _gauge(
            "paynow_payments_expired",
            "Paynow payments created in the window that expired.",
            ["window"],
        )
        failures = _gauge(
            "webhook_failures",
            "Webhooks refused (bad signature/hash) or failed in processing, in the window.",
            ["window", "source", "reason"],
        )

        failed_messages = _gauge(
            "outbound_messages_failed",
            "Outbound WhatsApp messages that failed in the window.",
            ["window"],
        )

        for window in windows:
            rates = selectors.payment_success_rates(window)
            for method, rate in [("all", rates.overall), *rates.by_method.items()]:
                labels = [window.label, method]
                finished.add_metric(labels, rate.finished)
                successful.add_metric(labels, rate.successful)
                for status in ("successful", "failed", "cancelled", "expired"):
                    by_outcome.add_metric([*labels, status], getattr(rate, status))
                if rate.rate is not None:
                    ratio.add_metric(labels, rate.rate)

            times = selectors.ipn_processing_times(window)
            ipn_count.add_metric([window.label], times.count)
            for quantile, value in (("0.5", times.median_ms), ("0.95", times.p95_ms)):
                if value is not None:
                    ipn.add_metric([window.label, quantile], value / 1000)
            if times.max_ms is not None:
                ipn.add_metric([window.label, "1"], times.max_ms / 1000)

            flows = selectors.flow_completion(window)
            forms.add_metric([window.label, "sent"], flows.sent)
            forms.add_metric([window.label, "payment_started"], flows.payment_started)
            forms.add_metric([window.label, "completed"], flows.completed)
            if flows.sent:
                form_ratio.add_metric([window.label, "payment_started"], flows.payment_start_rate)
                form_ratio.add_metric([window.label, "completed"], flows.completion_rate)

            backlog = selectors.payment_backlog(window, now=now)
            expired.add_metric([window.label], backlog.expired)

            failed_messages.add_metric(
                [window.label], selectors.failed_outbound_messages(window).count()
            )

            webhooks = selectors.webhook_failures(window)
            for source, reason, count in (
                ("meta", "invalid_signature", webhooks.meta_invalid_signature),
                ("meta", "error", webhooks.meta_errored),
                ("paynow", "invalid_hash", webhooks.paynow_invalid),
                ("paynow", "error", webhooks.paynow_errored),
            ):
                failures.add_metric([window.label, source, reason], count)

        yield from (finished, successful, by_outcome, ratio, ipn, ipn_count, forms, form_ratio)
        yield from (expired, failures, failed_messages)

        pending = _gauge("paynow_payments_pending", "Paynow payments pending now.")
        pending.add_metric([], backlog.pending)
        stuck = _gauge(
            "paynow_payments_stuck_pending",
            "Paynow payments still pending after PAYNOW_PENDING_TIMEOUT.",
        )
        stuck.add_metric([], backlog.stuck_pending)
        flagged = _gauge(
            "paynow_status_updates_flagged", "Paynow status updates flagged and not resolved."
        )
        flagged.add_metric([], backlog.flagged)
        waiting = _gauge("contacts_waiting_for_agent", "Contacts waiting for a human agent.")
        waiting.add_metric([], selectors.contacts_waiting_for_agent().count())
        yield from (pending, stuck, flagged, waiting)

        last_ipn = selectors.last_ipn_received_at()
        if last_ipn is not None:
            gauge = _gauge(
                "paynow_last_ipn_timestamp_seconds", "When the last Paynow IPN arrived (Unix time)."
            )
            gauge.add_metric([], last_ipn.timestamp())
            yield gauge


def render_latest() -> bytes:
    """The exposition text; a fresh registry per call keeps process-global state out of it."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(OperationsCollector())
    return generate_latest(registry)
