"""One shape for every inbound-channel log (Meta webhooks, Paynow status updates).

In the spirit of dj-stripe's ``WebhookEventTrigger``: a request is stored first, untrusted,
then verified (``valid``) and processed (``processed``) as separate steps, so a failed one
can be read back and replayed. A processing failure keeps its exception and traceback.
"""

from __future__ import annotations

import traceback as traceback_module

from django.db import models
from django.utils import timezone

# A body or header value is cut to this before it is stored when the request is not verified:
# an unauthenticated sender must not be able to fill the database.
UNVERIFIED_BODY_KEPT = 4 * 1024


class WebhookLog(models.Model):
    """Abstract: received at, remote IP, headers, body, valid, processed, exception, traceback."""

    received_at = models.DateTimeField(default=timezone.now, db_index=True, editable=False)
    remote_ip = models.GenericIPAddressField(null=True, blank=True)
    headers = models.JSONField(default=dict, blank=True)
    body = models.TextField(blank=True)
    valid = models.BooleanField(
        null=True, help_text="Signature or hash verified (empty: not checked yet)."
    )
    processed = models.BooleanField(default=False, db_index=True)
    processed_at = models.DateTimeField(null=True, blank=True)
    exception = models.TextField(
        blank=True, help_text="Why it was refused, or the error that stopped its processing."
    )
    traceback = models.TextField(blank=True, help_text="Where processing failed, for engineers.")

    class Meta:
        abstract = True
        ordering = ["-received_at"]

    def record_failure(self, exc: BaseException) -> None:
        """Keep the error that stopped processing (the row stays unprocessed: it can be
        replayed). Written with an UPDATE so it survives the caller's rolled-back work."""
        text = f"{type(exc).__name__}: {exc}"[:2000]
        trace = "".join(traceback_module.format_exception(exc))[-20000:]
        type(self)._default_manager.filter(pk=self.pk).update(exception=text, traceback=trace)
        self.exception, self.traceback = text, trace
