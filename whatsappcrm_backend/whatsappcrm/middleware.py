"""Request-scoped plumbing shared by every view."""

import re
import uuid

from django.core.signals import request_finished
from django.dispatch import receiver

from .logging import request_id_var

_VALID_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


class RequestIdMiddleware:
    """Give every request an id (or keep a sane incoming X-Request-ID) for the log lines.

    The id stays set until the response is finished, so Django's own lines about the
    response (``django.request`` warnings for 4xx/5xx, written after the middleware chain
    returns) carry it too.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        incoming = request.headers.get("X-Request-ID", "")
        request_id = incoming if _VALID_ID.match(incoming) else uuid.uuid4().hex
        request_id_var.set(request_id)
        request.request_id = request_id
        response = self.get_response(request)
        response["X-Request-ID"] = request_id
        return response


@receiver(request_finished, dispatch_uid="whatsappcrm-clear-request-id")
def _clear_request_id(**kwargs) -> None:
    request_id_var.set("-")
