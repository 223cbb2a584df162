"""Contacts: the people who write to the business on WhatsApp."""

from django.db import models
from django.utils import timezone


class Contact(models.Model):
    whatsapp_id = models.CharField(
        "WhatsApp ID",
        max_length=32,
        unique=True,
        help_text="The wa_id: digits, country code first.",
    )
    name = models.CharField("profile name", max_length=255, blank=True)
    first_seen = models.DateTimeField(default=timezone.now, editable=False)
    last_seen = models.DateTimeField(null=True, blank=True)
    last_inbound_at = models.DateTimeField(
        null=True,
        blank=True,
        help_text="When the contact last wrote to us; free-form replies are allowed for 24 h.",
    )
    needs_human_intervention = models.BooleanField(default=False, db_index=True)
    bot_paused_until = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-last_seen", "-created_at"]

    def __str__(self) -> str:
        return f"{self.name} ({self.whatsapp_id})" if self.name else self.whatsapp_id
