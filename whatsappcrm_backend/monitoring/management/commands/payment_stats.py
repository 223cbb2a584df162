"""The deployment guide's monitoring queries as one command: success rate and failed payments.

python manage.py payment_stats [--days 7] [--limit 10]
"""

from __future__ import annotations

from collections.abc import Sequence

from django.core.management.base import BaseCommand, CommandParser
from django.utils import timezone

from monitoring import selectors
from whatsappcrm.logging import redact


def table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """A plain-text table with aligned columns (numbers right-aligned)."""
    cells = [[str(value) for value in row] for row in rows]
    widths = [len(header) for header in headers]
    for row in cells:
        widths = [max(width, len(cell)) for width, cell in zip(widths, row, strict=True)]

    def line(values: Sequence[str], numeric: Sequence[bool]) -> str:
        return "  ".join(
            value.rjust(width) if is_number else value.ljust(width)
            for value, width, is_number in zip(values, widths, numeric, strict=True)
        ).rstrip()

    numeric_columns = [
        bool(cells) and all(_looks_numeric(row[i]) for row in cells) for i in range(len(headers))
    ]
    out = [line(headers, numeric_columns), "  ".join("-" * width for width in widths)]
    out += [line(row, numeric_columns) for row in cells]
    return "\n".join(out)


def _looks_numeric(value: str) -> bool:
    return value.replace(".", "", 1).replace("%", "").replace(",", "").strip().isdigit() or (
        value in {"-", "—"}
    )


def _percent(rate: float | None) -> str:
    return "-" if rate is None else f"{rate * 100:.1f}%"


class Command(BaseCommand):
    help = (
        "Paynow payment statistics: the deployment guide's success-rate query and the most "
        "recent failed payments, as tables."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--days", type=int, default=7, help="Window in days (default 7).")
        parser.add_argument(
            "--limit", type=int, default=10, help="Failed payments to list (default 10)."
        )

    def handle(self, *args, days: int, limit: int, **options):
        if days < 1:
            self.stderr.write("--days must be at least 1")
            return
        now = timezone.now()
        window = selectors.last(days=days, now=now)
        since = timezone.localtime(window.since)
        self.stdout.write(
            f"Paynow payments created since {since:%Y-%m-%d %H:%M} (last {days} days)"
        )
        self.stdout.write("")

        stats = selectors.guide_payment_stats(days=days, now=now)
        self.stdout.write(
            table(
                ["total", "successful", "failed", "pending"],
                [[stats.total, stats.successful, stats.failed, stats.pending]],
            )
        )
        self.stdout.write(f"Success rate: {stats.successful}/{stats.total}")
        self.stdout.write("")

        rates = selectors.payment_success_rates(window)
        rows = [
            [
                method,
                rate.finished,
                rate.successful,
                rate.failed,
                rate.cancelled,
                rate.expired,
                _percent(rate.rate),
            ]
            for method, rate in [*rates.by_method.items(), ("all Paynow", rates.overall)]
        ]
        self.stdout.write("Success rate over finished payments (pending ones excluded):")
        self.stdout.write(
            table(
                ["method", "finished", "successful", "failed", "cancelled", "expired", "rate"],
                rows,
            )
        )

        ipn = selectors.ipn_processing_times(window)
        flows = selectors.flow_completion(window)
        backlog = selectors.payment_backlog(window, now=now)
        self.stdout.write("")
        self.stdout.write(
            f"IPN processing time: median {_ms(ipn.median_ms)}, p95 {_ms(ipn.p95_ms)}, "
            f"max {_ms(ipn.max_ms)} over {ipn.count} valid IPNs"
        )
        self.stdout.write(
            f"Payment forms: {flows.sent} sent, {flows.payment_started} started a payment "
            f"({_percent(flows.payment_start_rate)}), {flows.completed} completed "
            f"({_percent(flows.completion_rate)})"
        )
        self.stdout.write(
            f"Now: {backlog.pending} pending, {backlog.stuck_pending} stuck pending, "
            f"{backlog.flagged} flagged status updates; {backlog.expired} expired in the window"
        )

        failed = list(selectors.recent_failed_payments(limit=limit, since=window.since))
        self.stdout.write("")
        self.stdout.write(f"Recent failed Paynow payments (last {days} days, newest first):")
        if not failed:
            self.stdout.write("  none")
            return
        self.stdout.write(
            table(
                ["created", "booking", "payment", "method", "amount", "notes"],
                [
                    [
                        f"{timezone.localtime(payment.created_at):%Y-%m-%d %H:%M}",
                        payment.booking.booking_reference,
                        payment.reference,
                        payment.get_payment_method_display(),
                        f"{payment.amount} {payment.currency}",
                        _one_line(redact(payment.notes)),
                    ]
                    for payment in failed
                ],
            )
        )


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.0f} ms"


def _one_line(text: str, width: int = 60) -> str:
    text = " ".join((text or "-").split())
    return text if len(text) <= width else text[: width - 1] + "…"
