from django.apps import AppConfig


class MetaIntegrationConfig(AppConfig):
    name = "meta_integration"
    verbose_name = "Meta Integration"
    default_auto_field = "django.db.models.BigAutoField"
