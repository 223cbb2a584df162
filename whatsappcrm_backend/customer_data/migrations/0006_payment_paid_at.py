"""When a payment was received."""

from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('customer_data', '0005_booking_source'),
    ]

    operations = [
        migrations.AddField(
            model_name='payment',
            name='paid_at',
            field=models.DateTimeField(blank=True, null=True),
        ),
    ]
