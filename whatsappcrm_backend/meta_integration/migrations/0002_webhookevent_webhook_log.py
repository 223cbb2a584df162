"""WebhookEvent takes the shared webhook-log shape (whatsappcrm.webhook_log.WebhookLog).

``signature_valid`` becomes ``valid`` and ``error`` becomes ``exception`` (renamed: every
stored value is kept), ``traceback`` is added, ``received_at`` is set from the clock at
creation rather than by ``auto_now_add`` (same values).
"""

import django.utils.timezone
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("meta_integration", "0001_initial")]

    operations = [
        migrations.RenameField(
            model_name="webhookevent", old_name="signature_valid", new_name="valid"
        ),
        migrations.AlterField(
            model_name="webhookevent",
            name="valid",
            field=models.BooleanField(
                help_text="Signature or hash verified (empty: not checked yet).", null=True
            ),
        ),
        migrations.RenameField(model_name="webhookevent", old_name="error", new_name="exception"),
        migrations.AlterField(
            model_name="webhookevent",
            name="exception",
            field=models.TextField(
                blank=True,
                help_text="Why it was refused, or the error that stopped its processing.",
            ),
        ),
        migrations.AddField(
            model_name="webhookevent",
            name="traceback",
            field=models.TextField(blank=True, help_text="Where processing failed, for engineers."),
        ),
        migrations.AlterField(
            model_name="webhookevent",
            name="received_at",
            field=models.DateTimeField(
                db_index=True, default=django.utils.timezone.now, editable=False
            ),
        ),
        migrations.AlterField(
            model_name="webhookevent", name="body", field=models.TextField(blank=True)
        ),
    ]
