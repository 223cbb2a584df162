"""Paynow's result URL (IPN) and return page. Thin: hand the raw request to the intake, map
its typed rejections to HTTP, answer."""

import logging
import re

from django.db import models, transaction
from django.http import HttpResponse
from django.shortcuts import render
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_POST

from customer_data.models import Payment
from whatsappcrm.http import client_ip

from .services import status_updates as intake
from .tasks import process_paynow_status_update

logger = logging.getLogger(__name__)

_REFERENCE = re.compile(r"[A-Za-z0-9_-]{1,64}", re.ASCII)
_KEPT_HEADERS = ("Content-Type", "Content-Length", "User-Agent", "X-Forwarded-For", "X-Request-ID")
# Each refusal's HTTP answer. 503 asks Paynow to send the update again later.
_REJECTIONS: tuple[tuple[type[intake.StatusUpdateRejected], int, str], ...] = (
    (intake.UnreadableStatusUpdate, 400, "Bad request"),
    (intake.MalformedStatusUpdate, 400, "Bad request"),
    (intake.IncompleteStatusUpdate, 400, "Bad request"),
    (intake.StatusUpdateHashMismatch, 403, "Invalid IPN signature"),
    (intake.StatusUpdateNotVerifiable, 503, "Not configured"),
)


@csrf_exempt
@require_POST
def paynow_ipn(request):
    """Paynow status update (form-encoded). 200 once stored and verified; 403 on bad hash."""
    logger.info("Paynow IPN received", extra={"source": "ipn"})
    headers = {name: request.headers[name] for name in _KEPT_HEADERS if name in request.headers}
    try:
        entry = intake.receive_status_update(
            body=request.body, headers=headers, remote_ip=client_ip(request)
        )
    except intake.StatusUpdateRejected as exc:
        status, text = next(
            (code, text) for kind, code, text in _REJECTIONS if isinstance(exc, kind)
        )
        return HttpResponse(text, status=status, content_type="text/plain")
    transaction.on_commit(lambda: process_paynow_status_update.delay(entry.pk))
    return HttpResponse("OK", content_type="text/plain")


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
