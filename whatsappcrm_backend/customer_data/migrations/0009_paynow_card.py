"""Cards through Paynow's web checkout: the `paynow_card` method ("Paynow - Card").

Reversing refuses while card payments exist (the older schema cannot hold them).
"""

from django.db import migrations, models

METHODS = [
    ("bank_transfer", "Bank Transfer"),
    ("omari", "Omari"),
    ("cash", "Cash"),
    ("paynow_ecocash", "Paynow - Ecocash"),
    ("paynow_onemoney", "Paynow - OneMoney"),
    ("paynow_innbucks", "Paynow - Innbucks"),
    ("paynow_card", "Paynow - Card"),
    ("other", "Other"),
]
BEFORE = [value for value, _ in METHODS if value != "paynow_card"]


def refuse_rollback_with_card_payments(apps, schema_editor):
    Payment = apps.get_model("customer_data", "Payment")
    count = Payment.objects.filter(payment_method="paynow_card").count()
    if count:
        raise RuntimeError(
            f"Cannot roll back the card payment method: {count} card payment(s) exist and the "
            "older schema cannot hold them. Switch cards off (PAYNOW_CARD_ENABLED=false) and "
            "settle and archive those payments first."
        )


class Migration(migrations.Migration):
    dependencies = [
        ("customer_data", "0008_paynow_payment_methods"),
    ]

    operations = [
        migrations.RemoveConstraint(model_name="payment", name="payment_method_known"),
        migrations.AlterField(
            model_name="payment",
            name="payment_method",
            field=models.CharField(choices=METHODS, max_length=32),
        ),
        migrations.AddConstraint(
            model_name="payment",
            constraint=models.CheckConstraint(
                condition=models.Q(("payment_method__in", [value for value, _ in METHODS])),
                name="payment_method_known",
            ),
        ),
        # Last, so that it runs first when the migration is reversed.
        migrations.RunPython(migrations.RunPython.noop, refuse_rollback_with_card_payments),
    ]
