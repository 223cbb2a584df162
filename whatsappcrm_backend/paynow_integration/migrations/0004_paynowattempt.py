"""Each Paynow payment's attempt: the gateway state that used to sit on `Payment` (reference,
poll URL, merchant trace, InnBucks code, check schedule), plus the configuration it was
started with and the web checkout's browser URL.

Existing payments' values are copied here before `customer_data` 0010 drops them from
`Payment` (`run_before`). Rows moved from `Payment` have no recorded configuration (polls
then use the active one, as before). Reversed, those rows are copied back; attempts that
record what the older schema cannot hold (their configuration, a web checkout) make the
reversal refuse, so nothing is lost: as the guide says, switch Paynow off and settle and
archive the Paynow payments before rolling back.
"""

import django.db.models.deletion
from django.db import migrations, models

MOVED = (
    "merchant_trace",
    "paynow_reference",
    "poll_url",
    "gateway_status",
    "instructions",
    "authorization_code",
    "authorization_expires",
    "check_attempts",
    "last_checked_at",
    "next_check_at",
)
CARD = "paynow_card"


def copy_to_attempts(apps, schema_editor):
    Payment = apps.get_model("customer_data", "Payment")
    PaynowAttempt = apps.get_model("paynow_integration", "PaynowAttempt")
    payments = Payment.objects.filter(payment_method__startswith="paynow_").values("pk", "payment_method", *MOVED)
    PaynowAttempt.objects.bulk_create(
        PaynowAttempt(
            payment_id=row["pk"],
            kind="web" if row["payment_method"] == CARD else "express",
            **{name: row[name] for name in MOVED},
        )
        for row in payments.iterator()
    )


def copy_back_to_payments(apps, schema_editor):
    Payment = apps.get_model("customer_data", "Payment")
    PaynowAttempt = apps.get_model("paynow_integration", "PaynowAttempt")
    kept = PaynowAttempt.objects.filter(models.Q(config__isnull=False) | models.Q(kind="web"))
    count = kept.count()
    if count:
        raise RuntimeError(
            f"Cannot roll back the Paynow attempts: {count} Paynow payment(s) record the "
            "configuration or the card checkout they were started with, which the older "
            "schema cannot hold. Disable Paynow with PAYNOW_ENABLED=false, and settle and "
            "archive those payments first."
        )
    for row in PaynowAttempt.objects.values("payment_id", *MOVED).iterator():
        Payment.objects.filter(pk=row.pop("payment_id")).update(**row)


class Migration(migrations.Migration):
    dependencies = [
        ("customer_data", "0009_paynow_card"),
        ("paynow_integration", "0003_paynowstatusupdate_webhook_log"),
    ]
    run_before = [
        ("customer_data", "0010_gateway_state_moves_to_gateways"),
    ]

    operations = [
        migrations.CreateModel(
            name="PaynowAttempt",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("kind", models.CharField(choices=[("express", "Express checkout (mobile money)"), ("web", "Web checkout (browser)")], default="express", max_length=8)),
                ("merchant_trace", models.CharField(blank=True, editable=False, help_text="Unique per attempt; lets us trace an initiation whose reply was lost.", max_length=32, null=True, unique=True)),
                ("paynow_reference", models.CharField(blank=True, db_index=True, max_length=64)),
                ("poll_url", models.URLField(blank=True, max_length=500)),
                ("browser_url", models.URLField(blank=True, help_text="Web checkout: Paynow's page for the payer.", max_length=500)),
                ("gateway_status", models.CharField(blank=True, help_text="The last status Paynow reported, verbatim.", max_length=32)),
                ("instructions", models.TextField(blank=True, help_text="Paynow's instructions for the payer.")),
                ("authorization_code", models.CharField(blank=True, help_text="InnBucks: the code the payer enters in the app.", max_length=64)),
                ("authorization_expires", models.DateTimeField(blank=True, null=True)),
                ("check_attempts", models.PositiveIntegerField(default=0)),
                ("last_checked_at", models.DateTimeField(blank=True, null=True)),
                ("next_check_at", models.DateTimeField(blank=True, db_index=True, help_text="When reconciliation polls it next.", null=True)),
                ("created_at", models.DateTimeField(auto_now_add=True)),
                ("updated_at", models.DateTimeField(auto_now=True)),
                ("config", models.ForeignKey(blank=True, help_text="The configuration the payment was started with (polls use it too).", null=True, on_delete=django.db.models.deletion.PROTECT, related_name="attempts", to="paynow_integration.paynowconfig")),
                ("payment", models.OneToOneField(on_delete=django.db.models.deletion.PROTECT, related_name="paynow_attempt", to="customer_data.payment")),
            ],
            options={
                "verbose_name": "Paynow attempt",
                "verbose_name_plural": "Paynow attempts",
                "ordering": ["-created_at"],
            },
        ),
        migrations.RunPython(copy_to_attempts, copy_back_to_payments),
    ]
