"""The yardstick's two tables: raw webhook events (unique by body digest) and payments."""

from django.db import models


class BareEvent(models.Model):
    received_at = models.DateTimeField(auto_now_add=True)
    body = models.TextField()
    body_sha256 = models.CharField(max_length=64, unique=True)

    def __str__(self) -> str:
        return self.body_sha256


class BarePayment(models.Model):
    reference = models.CharField(max_length=64, unique=True)
    amount = models.DecimalField(max_digits=12, decimal_places=2)
    status = models.CharField(max_length=32, default="pending")
    updated_at = models.DateTimeField(null=True)

    def __str__(self) -> str:
        return self.reference
