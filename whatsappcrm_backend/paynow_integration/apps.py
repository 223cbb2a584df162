from django.apps import AppConfig


class PaynowIntegrationConfig(AppConfig):
    name = "paynow_integration"
    verbose_name = "Paynow Integration"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from . import checks  # noqa: F401  (registers the system check)
