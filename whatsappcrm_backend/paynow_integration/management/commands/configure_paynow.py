"""Create or update the active Paynow configuration from the command line.

The integration key is read from an environment variable (never from the command line,
where it would land in shell history and process lists):

    PAYNOW_INTEGRATION_KEY=... python manage.py configure_paynow --integration-id 12345
"""

import os

from django.core.management.base import BaseCommand, CommandError
from django.core.validators import URLValidator
from django.db import transaction

from paynow_integration.constants import DEFAULT_REMOTE_URL
from paynow_integration.models import PaynowConfig


class Command(BaseCommand):
    help = "Create or update the active Paynow configuration (the key comes from the environment)."

    def add_arguments(self, parser):
        parser.add_argument("--integration-id", required=True)
        parser.add_argument(
            "--integration-key-env",
            default="PAYNOW_INTEGRATION_KEY",
            help="name of the environment variable holding the integration key",
        )
        parser.add_argument("--api-base-url", default=DEFAULT_REMOTE_URL)
        parser.add_argument("--auth-email", default="", help="merchant login e-mail (test mode)")
        parser.add_argument(
            "--mode",
            choices=PaynowConfig.Mode.values,
            default=PaynowConfig.Mode.TEST,
            help="where Paynow has the integration: test (every new one) or live",
        )

    @transaction.atomic
    def handle(
        self, *args, integration_id, integration_key_env, api_base_url, auth_email, mode, **kw
    ):
        key = os.environ.get(integration_key_env, "").strip()
        if not key:
            raise CommandError(f"Set the integration key in ${integration_key_env}.")
        try:
            URLValidator(schemes=["http", "https"])(api_base_url)
        except Exception as exc:
            raise CommandError(f"--api-base-url is not a URL: {api_base_url}") from exc
        config = (
            PaynowConfig.objects.select_for_update().filter(integration_id=integration_id).first()
        )
        PaynowConfig.objects.exclude(pk=getattr(config, "pk", None)).update(is_active=False)
        config = config or PaynowConfig(integration_id=integration_id)
        config.integration_key = key
        config.api_base_url = api_base_url
        config.auth_email = auth_email
        config.mode = mode
        config.is_active = True
        config.save()
        self.stdout.write(
            f"Paynow configuration active: integration {integration_id} ({mode} mode) at "
            f"{api_base_url}"
        )
