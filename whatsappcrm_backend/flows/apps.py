from django.apps import AppConfig


class FlowsConfig(AppConfig):
    name = "flows"
    verbose_name = "Flows"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from customer_data.models import Payment
        from customer_data.signals import payment_status_changed

        from . import payment_form, receivers  # noqa: F401  (the form registers its completion)
        from .engine import registry

        payment_status_changed.connect(
            receivers.send_payment_receipt, sender=Payment, dispatch_uid="flows-payment-receipt"
        )
        registry.ensure_registered()
