"""What a gateway knows of a payment leaves `Payment`: Paynow's references, poll URL, trace,
codes and check schedule now live in `paynow_integration.PaynowAttempt`.

`paynow_integration` 0004 copies them there first (it declares `run_before` this migration,
so the money core names no gateway); reversed, this re-adds the columns and that migration
copies the values back.
"""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("customer_data", "0009_paynow_card"),
    ]

    operations = [
        migrations.RemoveField(model_name="payment", name="authorization_code"),
        migrations.RemoveField(model_name="payment", name="authorization_expires"),
        migrations.RemoveField(model_name="payment", name="check_attempts"),
        migrations.RemoveField(model_name="payment", name="gateway_status"),
        migrations.RemoveField(model_name="payment", name="instructions"),
        migrations.RemoveField(model_name="payment", name="last_checked_at"),
        migrations.RemoveField(model_name="payment", name="merchant_trace"),
        migrations.RemoveField(model_name="payment", name="next_check_at"),
        migrations.RemoveField(model_name="payment", name="paynow_reference"),
        migrations.RemoveField(model_name="payment", name="poll_url"),
        migrations.AlterField(
            model_name="payment",
            name="email",
            field=models.EmailField(
                blank=True, help_text="The payer's e-mail, for the receipt.", max_length=254
            ),
        ),
        migrations.AlterField(
            model_name="payment",
            name="phone_number",
            field=models.CharField(
                blank=True,
                help_text="The payer's number, as the gateway was given it.",
                max_length=20,
            ),
        ),
    ]
