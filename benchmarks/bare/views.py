"""The least a Django view must do to acknowledge a Meta webhook and a Paynow status update."""

import hashlib
import hmac
from urllib.parse import parse_qsl

from django.conf import settings
from django.http import HttpResponse
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from .models import BareEvent, BarePayment


@csrf_exempt
@require_POST
def webhook(request):
    """Verify X-Hub-Signature-256 on the raw body, store the body once (one INSERT)."""
    body = request.body
    expected = "sha256=" + hmac.new(settings.BARE_APP_SECRET.encode(), body, "sha256").hexdigest()
    if not hmac.compare_digest(expected, request.headers.get("X-Hub-Signature-256", "")):
        return HttpResponse("Forbidden", status=403)
    BareEvent.objects.bulk_create(
        [BareEvent(body=body.decode(), body_sha256=hashlib.sha256(body).hexdigest())],
        ignore_conflicts=True,  # a redelivery: stored once (INSERT ... ON CONFLICT DO NOTHING)
    )
    return HttpResponse("OK")


@csrf_exempt
@require_POST
def ipn(request):
    """Verify Paynow's hash, update the payment's row (one UPDATE: the row is locked by it)."""
    fields = parse_qsl(request.body.decode(), keep_blank_values=True)
    values = dict(fields)
    digest = hashlib.sha512(
        ("".join(v for k, v in fields if k != "hash") + settings.BARE_PAYNOW_KEY).encode()
    ).hexdigest()
    if not hmac.compare_digest(digest.upper(), values.get("hash", "").upper()):
        return HttpResponse("Invalid IPN signature", status=403)
    BarePayment.objects.filter(reference=values.get("reference", "")).update(
        status=values.get("status", "")[:32], updated_at=timezone.now()
    )
    return HttpResponse("OK")


def healthz(request):
    return HttpResponse("ok")
