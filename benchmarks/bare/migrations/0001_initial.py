from django.db import migrations, models


class Migration(migrations.Migration):
    initial = True
    dependencies: list = []

    operations = [
        migrations.CreateModel(
            name="BareEvent",
            fields=[
                ("id", models.BigAutoField(primary_key=True, serialize=False)),
                ("received_at", models.DateTimeField(auto_now_add=True)),
                ("body", models.TextField()),
                ("body_sha256", models.CharField(max_length=64, unique=True)),
            ],
        ),
        migrations.CreateModel(
            name="BarePayment",
            fields=[
                ("id", models.BigAutoField(primary_key=True, serialize=False)),
                ("reference", models.CharField(max_length=64, unique=True)),
                ("amount", models.DecimalField(decimal_places=2, max_digits=12)),
                ("status", models.CharField(default="pending", max_length=32)),
                ("updated_at", models.DateTimeField(null=True)),
            ],
        ),
    ]
