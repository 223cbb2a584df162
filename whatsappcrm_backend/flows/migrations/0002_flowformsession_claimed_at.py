"""A submission's claim on its form, apart from the time a payment was attached."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("flows", "0001_initial"),
    ]

    operations = [
        migrations.AddField(
            model_name="flowformsession",
            name="claimed_at",
            field=models.DateTimeField(
                blank=True,
                help_text="Set while a submission starts the payment (another press is told so).",
                null=True,
            ),
        ),
    ]
