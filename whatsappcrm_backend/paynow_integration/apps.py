from django.apps import AppConfig


class PaynowIntegrationConfig(AppConfig):
    name = "paynow_integration"
    verbose_name = "Paynow Integration"
    default_auto_field = "django.db.models.BigAutoField"
