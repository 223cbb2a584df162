"""The Meta webhook: the GET verification handshake and signed event POSTs.

Thin: intake (``services.webhook``, imported as ``intake``) decides; this view only maps its
refusals to HTTP status codes, the one place that knows them.
"""

from __future__ import annotations

import logging

from django.core.exceptions import RequestDataTooBig
from django.http import HttpRequest, HttpResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods

from whatsappcrm.http import client_ip

from .services import webhook as intake

logger = logging.getLogger(__name__)

# Each refusal's answer. Meta retries any non-2xx for a while, then gives up.
REJECTION_STATUS: dict[type[intake.WebhookRejected], int] = {
    intake.WebhookTooLarge: 413,
    intake.WebhookMalformed: 400,
    intake.WebhookUnknownNumber: 404,
    intake.WebhookNoSecret: 403,
    intake.WebhookSignatureInvalid: 403,
}
_REASONS = {400: "Bad Request", 403: "Forbidden", 404: "Not Found", 413: "Payload Too Large"}


@csrf_exempt
@require_http_methods(["GET", "POST"])
def webhook(request: HttpRequest) -> HttpResponse:
    if request.method == "GET":
        return _verify(request)
    return _receive(request)


def _verify(request: HttpRequest) -> HttpResponse:
    challenge = request.GET.get("hub.challenge")
    if intake.verify_subscription(
        mode=request.GET.get("hub.mode"),
        token=request.GET.get("hub.verify_token"),
        challenge=challenge,
    ):
        logger.info("Meta webhook verification succeeded")
        return HttpResponse(challenge, content_type="text/plain")
    logger.warning("Meta webhook verification refused (mode or verify token does not match)")
    return HttpResponse("Forbidden", status=403, content_type="text/plain")


def _receive(request: HttpRequest) -> HttpResponse:
    remote_ip = client_ip(request)
    try:
        # The declared length first: an oversized body is refused without being read.
        intake.check_body_size(_declared_length(request))
        try:
            body = request.body
        except RequestDataTooBig:
            raise intake.WebhookTooLarge("body over the upload limit") from None
        event = intake.receive_webhook(
            body=body, headers=dict(request.headers), remote_ip=remote_ip
        )
    except intake.WebhookRejected as exc:
        status = rejection_status(exc)
        logger.warning("Meta webhook refused (%s): %s [from %s]", status, exc.reason, remote_ip)
        return HttpResponse(_REASONS[status], status=status, content_type="text/plain")
    except Exception:
        # Stored but not processed: a non-200 makes Meta deliver it again (processing is
        # idempotent), and the event waits in the admin for a replay.
        logger.exception("Meta webhook could not be processed")
        return HttpResponse("Service Unavailable", status=503, content_type="text/plain")
    logger.info("Meta webhook accepted (event %s)", event.pk)
    return HttpResponse("OK", content_type="text/plain")


def rejection_status(exc: intake.WebhookRejected) -> int:
    """The HTTP status for a refusal: its class's, else the nearest base class's, else 400."""
    for cls in type(exc).__mro__:
        if cls in REJECTION_STATUS:
            return REJECTION_STATUS[cls]
    return 400


def _declared_length(request: HttpRequest) -> int:
    try:
        return int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return 0
