"""Paynow payment methods: EcoCash, OneMoney and InnBucks through Paynow, and the fields
that track a gateway attempt (merchant trace, gateway status, InnBucks code, polling).

The deployment guide's rollback (`migrate customer_data 0007`) reverses this. Reversing
refuses to run while Paynow payments exist, since the older schema cannot hold them;
switch Paynow off first (PAYNOW_ENABLED) and settle or archive those payments.
"""

from django.db import migrations, models

PAYNOW_METHODS = ["paynow_ecocash", "paynow_onemoney", "paynow_innbucks"]


def refuse_rollback_with_paynow_payments(apps, schema_editor):
    Payment = apps.get_model("customer_data", "Payment")
    count = Payment.objects.filter(payment_method__in=PAYNOW_METHODS).count()
    if count:
        raise RuntimeError(
            f"Cannot roll back to customer_data 0007: {count} Paynow payment(s) exist and the "
            "older schema cannot hold them. Disable Paynow with PAYNOW_ENABLED=false instead, "
            "or settle and archive those payments first."
        )


class Migration(migrations.Migration):
    dependencies = [
        ("customer_data", "0007_payment_method_known"),
    ]

    operations = [
        migrations.RemoveConstraint(model_name="payment", name="payment_method_known"),
        migrations.AlterField(
            model_name="payment",
            name="payment_method",
            field=models.CharField(
                choices=[
                    ("bank_transfer", "Bank Transfer"),
                    ("omari", "Omari"),
                    ("cash", "Cash"),
                    ("paynow_ecocash", "Paynow - Ecocash"),
                    ("paynow_onemoney", "Paynow - OneMoney"),
                    ("paynow_innbucks", "Paynow - Innbucks"),
                    ("other", "Other"),
                ],
                max_length=32,
            ),
        ),
        migrations.AddConstraint(
            model_name="payment",
            constraint=models.CheckConstraint(
                condition=models.Q(
                    (
                        "payment_method__in",
                        [
                            "bank_transfer",
                            "omari",
                            "cash",
                            "paynow_ecocash",
                            "paynow_onemoney",
                            "paynow_innbucks",
                            "other",
                        ],
                    )
                ),
                name="payment_method_known",
            ),
        ),
        migrations.AddField(
            model_name='payment',
            name='authorization_code',
            field=models.CharField(blank=True, help_text='InnBucks: the code the payer enters in the app.', max_length=64),
        ),
        migrations.AddField(
            model_name='payment',
            name='authorization_expires',
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name='payment',
            name='check_attempts',
            field=models.PositiveIntegerField(default=0),
        ),
        migrations.AddField(
            model_name='payment',
            name='gateway_status',
            field=models.CharField(blank=True, help_text='The last status the gateway reported, verbatim.', max_length=32),
        ),
        migrations.AddField(
            model_name='payment',
            name='last_checked_at',
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name='payment',
            name='merchant_trace',
            field=models.CharField(blank=True, editable=False, help_text='Unique per gateway attempt; lets us trace an initiation whose reply was lost.', max_length=32, null=True, unique=True),
        ),
        migrations.AddField(
            model_name='payment',
            name='next_check_at',
            field=models.DateTimeField(blank=True, db_index=True, help_text='When reconciliation polls it next.', null=True),
        ),
        # Last, so that it runs first when the migration is reversed.
        migrations.RunPython(migrations.RunPython.noop, refuse_rollback_with_paynow_payments),
    ]
