"""Copy each message's business number (its config's ``phone_number_id``) into
``business_number_id``; a message without a config keeps "". The reverse restores the
foreign key from the number."""

from django.db import migrations
from django.db.backends.base.schema import BaseDatabaseSchemaEditor
from django.db.migrations.state import StateApps
from django.db.models import OuterRef, Subquery


def copy_numbers(apps: StateApps, schema_editor: BaseDatabaseSchemaEditor) -> None:
    Message = apps.get_model("conversations", "Message")
    MetaAppConfig = apps.get_model("meta_integration", "MetaAppConfig")
    number = MetaAppConfig.objects.filter(pk=OuterRef("config_id")).values("phone_number_id")
    Message.objects.filter(config__isnull=False).update(business_number_id=Subquery(number[:1]))


def restore_configs(apps: StateApps, schema_editor: BaseDatabaseSchemaEditor) -> None:
    Message = apps.get_model("conversations", "Message")
    MetaAppConfig = apps.get_model("meta_integration", "MetaAppConfig")
    config = MetaAppConfig.objects.filter(phone_number_id=OuterRef("business_number_id"))
    Message.objects.exclude(business_number_id="").update(
        config_id=Subquery(config.values("pk")[:1])
    )


class Migration(migrations.Migration):
    dependencies = [
        ("conversations", "0003_message_business_number_id"),
        ("meta_integration", "0001_initial"),
    ]

    operations = [migrations.RunPython(copy_numbers, restore_configs, elidable=True)]
