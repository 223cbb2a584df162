"""Only known payment methods can be stored."""

from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('customer_data', '0006_payment_paid_at'),
    ]

    operations = [
        migrations.AddConstraint(
            model_name='payment',
            constraint=models.CheckConstraint(condition=models.Q(('payment_method__in', ['bank_transfer', 'omari', 'cash', 'other'])), name='payment_method_known'),
        ),
    ]
