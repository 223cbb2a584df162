"""Paynow's result URL (IPN) and return page. Thin: verify, store, hand over, answer."""

import logging
import re

from django.db import models, transaction
from django.http import HttpResponse
from django.shortcuts import render
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_POST

from customer_data.models import Payment
from whatsappcrm.http import client_ip

from .services import record_status_message
from .tasks import process_paynow_status_update

logger = logging.getLogger(__name__)

_REFERENCE = re.compile(r"[A-Za-z0-9_-]{1,64}", re.ASCII)
_KEPT_HEADERS = ("Content-Type", "Content-Length", "User-Agent", "X-Forwarded-For", "X-Request-ID")


@csrf_exempt
@require_POST
def paynow_ipn(request):
    """Paynow status update (form-encoded). 200 once stored and verified; 403 on bad hash."""
    logger.info("Paynow IPN received", extra={"source": "ipn"})
    headers = {name: request.headers[name] for name in _KEPT_HEADERS if name in request.headers}
    entry, status = record_status_message(
        body=request.body, headers=headers, remote_ip=client_ip(request)
    )
    if status == 200:
        transaction.on_commit(lambda: process_paynow_status_update.delay(entry.pk))
        return HttpResponse("OK", content_type="text/plain")
    messages = {400: "Bad request", 403: "Invalid IPN signature", 503: "Not configured"}
    return HttpResponse(messages.get(status, "Error"), status=status, content_type="text/plain")


class ReturnOutcome(models.TextChoices):
    """What the return page tells the payer (TextChoices: templates compare its members)."""

    PAID = "paid"
    PROCESSING = "processing"
    NOT_COMPLETED = "not_completed"
    REFUNDED = "refunded"


_OUTCOMES = {
    Payment.Status.SUCCESSFUL: ReturnOutcome.PAID,
    Payment.Status.PENDING: ReturnOutcome.PROCESSING,
    Payment.Status.FAILED: ReturnOutcome.NOT_COMPLETED,
    Payment.Status.CANCELLED: ReturnOutcome.NOT_COMPLETED,
    Payment.Status.EXPIRED: ReturnOutcome.NOT_COMPLETED,
    Payment.Status.REFUNDED: ReturnOutcome.REFUNDED,
}


@require_GET
def paynow_return(request):
    """Where Paynow sends the payer back: the payment's status in plain words, and the way
    back to the chat (`whatsapp_chat_url`, from the WhatsApp channel's context processor)."""
    reference = request.GET.get("reference", "")
    payment = (
        Payment.objects.select_related("booking").filter(reference=reference).first()
        if _REFERENCE.fullmatch(reference)
        else None
    )
    outcome = _OUTCOMES[Payment.Status(payment.status)] if payment else None
    return render(
        request,
        "paynow_integration/return.html",
        {"payment": payment, "outcome": outcome, "Outcome": ReturnOutcome},
        status=200 if payment else 404,
    )
