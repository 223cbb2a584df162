"""System checks: warn when Paynow cannot work."""

from django.core.checks import Tags, Warning, register
from django.db import DatabaseError


@register(Tags.database)
def paynow_configured(app_configs, databases=None, **kwargs):
    """Runs with `manage.py check --database default` and before `migrate`."""
    if not databases:
        return []
    from .models import PaynowConfig

    try:
        active = PaynowConfig.objects.filter(is_active=True).exists()
    except DatabaseError:
        return []  # not migrated yet: nothing to say
    if active:
        return []
    return [
        Warning(
            "No active Paynow configuration: mobile money payments cannot start.",
            hint="Admin → Paynow Integration → Paynow Configurations: add your integration "
            "ID and key.",
            id="paynow_integration.W001",
        )
    ]
