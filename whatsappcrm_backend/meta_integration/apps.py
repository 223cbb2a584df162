from django.apps import AppConfig

from conversations.channel import register_sender


class MetaIntegrationConfig(AppConfig):
    name = "meta_integration"
    verbose_name = "Meta Integration"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        """Plug the WhatsApp channel into conversations: its messages go out through us."""
        # Imported here, not at the top: the sender imports models, which need a ready registry.
        from .channel import SENDER

        register_sender(SENDER)
