"""Validate the conversation flows in flows/definitions/*.py and store them (idempotent)."""

from django.core.management.base import BaseCommand, CommandError

from flows.engine.loader import FlowDefinitionError, load_flow_definitions


class Command(BaseCommand):
    help = (
        "Load the conversation flows from flows/definitions/*.py into the database. "
        "Validates everything first and lists every problem; updates changed flows in place."
    )

    def add_arguments(self, parser):
        parser.add_argument("--check", action="store_true", help="Only validate; store nothing.")

    def handle(self, *args, check=False, **options):
        try:
            report = load_flow_definitions(dry_run=check)
        except FlowDefinitionError as exc:
            raise CommandError(str(exc)) from None
        if check:
            self.stdout.write(self.style.SUCCESS(f"OK: {', '.join(report.unchanged)} are valid."))
            return
        for label, names in (
            ("created", report.created),
            ("updated", report.updated),
            ("unchanged", report.unchanged),
        ):
            if names:
                self.stdout.write(f"{label}: {', '.join(sorted(names))}")
        self.stdout.write(self.style.SUCCESS("Flow definitions loaded."))
