"""Poll pending Paynow payments, trace lost initiations, expire abandoned ones."""

from django.core.management.base import BaseCommand

from paynow_integration.services import reconcile_pending_payments


class Command(BaseCommand):
    help = "Reconcile pending Paynow payments with Paynow (poll, trace, expire)."

    def handle(self, *args, **options):
        summary = reconcile_pending_payments()
        self.stdout.write(f"Reconciliation: {summary}")
