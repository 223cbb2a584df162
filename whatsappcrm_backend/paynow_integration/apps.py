from django.apps import AppConfig


class PaynowIntegrationConfig(AppConfig):
    name = "paynow_integration"
    verbose_name = "Paynow Integration"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from customer_data import gateways

        from . import checks  # noqa: F401  (registers the system check)
        from .services import express_gateway, web_checkout_gateway

        # The money core knows no gateway: Paynow serves its methods by registering here.
        gateways.register(express_gateway)
        gateways.register(web_checkout_gateway)
