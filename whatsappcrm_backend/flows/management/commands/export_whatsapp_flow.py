"""Write a WhatsApp Flow's JSON (from code) after checking it against Meta's structural rules.

    python manage.py export_whatsapp_flow payment_whatsapp_flow [-o FILE]

Exits non-zero, listing every problem, when the JSON is broken; nothing is written then.
"""

from __future__ import annotations

import json
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from flows import flow_json


class Command(BaseCommand):
    help = "Validate a WhatsApp Flow definition and write its Flow JSON (stdout or -o FILE)."

    def add_arguments(self, parser) -> None:
        parser.add_argument(
            "name", help=f"one of: {', '.join(sorted(flow_json.known_whatsapp_flows()))}"
        )
        parser.add_argument("-o", "--output", help="file to write (default: standard output)")

    def handle(self, *args, name: str, output: str | None = None, **options) -> None:
        known = flow_json.known_whatsapp_flows()
        definition = known.get(name)
        if definition is None:
            raise CommandError(f"unknown WhatsApp Flow {name!r}; known: {', '.join(sorted(known))}")
        problems = flow_json.validate_flow_json(definition)
        if problems:
            listing = "\n".join(f"  - {problem}" for problem in problems)
            raise CommandError(f"{name}: the Flow JSON is invalid:\n{listing}")
        text = json.dumps(definition, indent=2, ensure_ascii=False) + "\n"
        if output:
            Path(output).write_text(text, encoding="utf-8")
            self.stderr.write(f"{name}: Flow JSON written to {output}")
        else:
            self.stdout.write(text, ending="")
