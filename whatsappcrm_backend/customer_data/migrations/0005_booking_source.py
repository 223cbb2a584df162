"""Where a booking came from (WhatsApp, staff entry, ...)."""

from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('customer_data', '0004_paymentevent'),
    ]

    operations = [
        migrations.AddField(
            model_name='booking',
            name='source',
            field=models.CharField(choices=[('whatsapp', 'WhatsApp'), ('manual_entry', 'Manual entry'), ('website', 'Website'), ('phone', 'Phone call'), ('email', 'E-mail')], default='whatsapp', max_length=20),
        ),
    ]
