"""Create or update a WhatsApp number's configuration from the command line.

Secrets are read from environment variables (never from the command line, where they
would land in shell history and process lists):

    META_ACCESS_TOKEN=... META_APP_SECRET=... META_VERIFY_TOKEN=... \\
        python manage.py configure_meta --phone-number-id 1234567890 --waba-id 987654321
"""

import os
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.core.validators import URLValidator
from django.db import transaction

from meta_integration.models import MetaAppConfig

SECRETS = {
    "access_token": "META_ACCESS_TOKEN",
    "app_secret": "META_APP_SECRET",
    "verify_token": "META_VERIFY_TOKEN",
}


class Command(BaseCommand):
    help = "Create or update a MetaAppConfig (secrets come from META_* environment variables)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--phone-number-id", required=True)
        parser.add_argument("--waba-id", default="")
        parser.add_argument("--display-phone-number", default="")
        parser.add_argument("--graph-base-url", default="")
        parser.add_argument("--api-version", default="")
        parser.add_argument("--name", default="")

    @transaction.atomic
    def handle(self, *args: Any, **options: Any) -> None:
        values = {field: os.environ.get(var, "").strip() for field, var in SECRETS.items()}
        config = MetaAppConfig.objects.filter(phone_number_id=options["phone_number_id"]).first()
        missing = [SECRETS[f] for f, v in values.items() if not v and not getattr(config, f, "")]
        if missing:
            raise CommandError(f"Set {', '.join(missing)} in the environment.")
        if options["graph_base_url"]:
            try:
                URLValidator(schemes=["http", "https"])(options["graph_base_url"])
            except Exception as exc:
                raise CommandError("--graph-base-url is not a URL") from exc
        config = config or MetaAppConfig(phone_number_id=options["phone_number_id"])
        for field in ("waba_id", "display_phone_number", "graph_base_url", "api_version", "name"):
            if options[field]:
                setattr(config, field, options[field])
        for field, value in values.items():
            if value:
                setattr(config, field, value)
        config.is_active = True
        config.save()
        self.stdout.write(
            f"WhatsApp number {config.phone_number_id} configured ({config.graph_base_url})"
        )
