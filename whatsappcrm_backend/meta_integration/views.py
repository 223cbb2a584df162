"""The Meta webhook: the GET verification handshake and signed event POSTs. Thin: the
services decide, this view only maps their answers to HTTP."""

from __future__ import annotations

import logging

from django.core.exceptions import RequestDataTooBig
from django.http import HttpRequest, HttpResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods

from whatsappcrm.http import client_ip

from . import services
from .constants import MAX_WEBHOOK_BODY_BYTES

logger = logging.getLogger(__name__)


@csrf_exempt
@require_http_methods(["GET", "POST"])
def webhook(request: HttpRequest) -> HttpResponse:
    if request.method == "GET":
        return _verify(request)
    return _receive(request)


def _verify(request: HttpRequest) -> HttpResponse:
    challenge = request.GET.get("hub.challenge")
    if services.verify_subscription(
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
        declared = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        declared = 0
    if declared > MAX_WEBHOOK_BODY_BYTES:
        logger.warning("Meta webhook refused: body of %s bytes is over 3 MB", declared)
        return HttpResponse("Payload Too Large", status=413, content_type="text/plain")
    try:
        body = request.body
    except RequestDataTooBig:
        body = None
    if body is None or len(body) > MAX_WEBHOOK_BODY_BYTES:
        logger.warning("Meta webhook refused: body over 3 MB")
        return HttpResponse("Payload Too Large", status=413, content_type="text/plain")

    try:
        event = services.receive_webhook(
            body=body, headers=dict(request.headers), remote_ip=remote_ip
        )
    except services.WebhookRejected as exc:
        logger.warning(
            "Meta webhook refused (%s): %s [from %s]", exc.http_status, exc.reason, remote_ip
        )
        return HttpResponse(
            _REASONS.get(exc.http_status, "Bad Request"),
            status=exc.http_status,
            content_type="text/plain",
        )
    except Exception:
        # Stored but not processed: a non-200 makes Meta deliver it again (processing is
        # idempotent), and the event waits in the admin for a replay.
        logger.exception("Meta webhook could not be processed")
        return HttpResponse("Service Unavailable", status=503, content_type="text/plain")
    logger.info("Meta webhook accepted (event %s)", event.pk)
    return HttpResponse("OK", content_type="text/plain")


_REASONS = {400: "Bad Request", 403: "Forbidden", 404: "Not Found"}
