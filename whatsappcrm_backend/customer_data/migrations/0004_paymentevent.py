"""The payment history: one event per state change or gateway message."""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('customer_data', '0003_payment'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name='PaymentEvent',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('old_status', models.CharField(blank=True, max_length=16)),
                ('new_status', models.CharField(blank=True, max_length=16)),
                ('applied', models.BooleanField(default=True, help_text='False when the change was refused (forbidden or duplicate).')),
                ('source', models.CharField(choices=[('ipn', 'Paynow status update (IPN)'), ('poll', 'Poll'), ('staff', 'Staff'), ('flow', 'Conversation / WhatsApp flow'), ('gateway', 'Gateway reply'), ('reconciliation', 'Reconciliation'), ('system', 'System')], max_length=20)),
                ('message', models.TextField(blank=True)),
                ('raw_data', models.JSONField(blank=True, default=dict)),
                ('created_at', models.DateTimeField(auto_now_add=True, db_index=True)),
                ('actor', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to=settings.AUTH_USER_MODEL)),
                ('payment', models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='events', to='customer_data.payment')),
            ],
            options={
                'ordering': ['created_at', 'id'],
            },
        ),
    ]
