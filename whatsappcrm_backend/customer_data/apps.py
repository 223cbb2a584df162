from django.apps import AppConfig


class CustomerDataConfig(AppConfig):
    name = "customer_data"
    verbose_name = "Customer Data"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from . import gateways, manual, notifications  # noqa: F401  (connects the outcome receiver)

        gateways.register(manual.manual_gateway)
