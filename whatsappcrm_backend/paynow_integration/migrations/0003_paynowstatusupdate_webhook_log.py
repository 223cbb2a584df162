"""PaynowStatusUpdate takes the shared webhook-log shape (whatsappcrm.webhook_log.WebhookLog):
`error` becomes `exception`, and a processing failure keeps its `traceback`."""

import django.utils.timezone
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("paynow_integration", "0002_paynowconfig_mode"),
    ]

    operations = [
        migrations.RenameField(
            model_name="paynowstatusupdate", old_name="error", new_name="exception"
        ),
        migrations.AlterField(
            model_name="paynowstatusupdate",
            name="exception",
            field=models.TextField(
                blank=True,
                help_text="Why it was refused, or the error that stopped its processing.",
            ),
        ),
        migrations.AddField(
            model_name="paynowstatusupdate",
            name="traceback",
            field=models.TextField(blank=True, help_text="Where processing failed, for engineers."),
        ),
        migrations.AlterField(
            model_name="paynowstatusupdate",
            name="received_at",
            field=models.DateTimeField(
                db_index=True, default=django.utils.timezone.now, editable=False
            ),
        ),
        migrations.AlterField(
            model_name="paynowstatusupdate",
            name="valid",
            field=models.BooleanField(
                help_text="Signature or hash verified (empty: not checked yet).", null=True
            ),
        ),
    ]
