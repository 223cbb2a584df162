"""The payment form's data endpoint: `/crm-api/flows/paynow-payment-webhook/` (`data_channel_uri`).

Meta's protocol ("Implementing your Flow endpoint", developers.facebook.com/docs/whatsapp/
flows/guides/implementingyourflowendpoint; docs/WHATSAPP_FLOWS.md): verify
``X-Hub-Signature-256`` (432), decrypt (421 so the client refetches our key), answer encrypted
with the flipped IV as ``text/plain``. Flow tokens we will not serve get 427 with an encrypted
``error_msg``. Every other outcome is a 200 with a screen; no request ends in a 500, and no
answer carries internals. The business rules live in ``flows.payment_form``, the words in
``flows.copy``.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Mapping
from typing import Any

from django.http import HttpRequest, HttpResponse
from django.views.decorators.csrf import csrf_exempt

from customer_data.models import Booking
from meta_integration.constants import SIGNATURE_HEADER
from meta_integration.models import MetaAppConfig
from meta_integration.signature import verify_signature
from whatsappcrm.phones import zimbabwe_mobile

from . import copy, payment_form
from .crypto import FlowDecryptionError, FlowKeyError, decrypt_request, encrypt_response
from .definitions.payment_whatsapp_flow import (
    ERROR_SCREEN,
    METHOD_TO_OPTION,
    PAYMENT_SCREEN,
)
from .form_tokens import FlowTokenInvalid, find_session
from .keys import private_keys
from .models import FlowFormSession
from .payment_form import SubmitKind, SubmitResult
from .selectors import money

logger = logging.getLogger(__name__)

SUCCESS_SCREEN = "SUCCESS"  # Meta's reserved answer: close the form, send the nfm_reply
STATUS_CANNOT_DECRYPT = 421
STATUS_TOKEN_INVALID = 427
STATUS_BAD_SIGNATURE = 432
_REASONS = {
    STATUS_CANNOT_DECRYPT: "Misdirected Request",
    STATUS_TOKEN_INVALID: "Flow Token Invalid",
    STATUS_BAD_SIGNATURE: "Signature Mismatch",
}
MAX_FIELD_CHARS = 254


@csrf_exempt
def paynow_payment_webhook(request: HttpRequest) -> HttpResponse:
    """Meta's encrypted data-channel requests for the payment form."""
    logger.info("Paynow payment webhook called")
    if request.method != "POST":
        response = HttpResponse(status=405, content_type="text/plain")
        response["Allow"] = "POST"
        return response
    started = time.monotonic()
    try:
        response = _answer(request.body, request.headers.get(SIGNATURE_HEADER))
    except Exception:  # the last line of defence: never a 500
        logger.exception(
            "Flow data endpoint failed before decryption", extra={"booking_reference": "-"}
        )
        response = HttpResponse(status=503, content_type="text/plain")
    duration_ms = int((time.monotonic() - started) * 1000)
    logger.debug(
        "Flow data endpoint answered %s", response.status_code, extra={"duration_ms": duration_ms}
    )
    return response


def app_secrets() -> list[str]:
    """Every app secret of the active WhatsApp numbers (current and previous)."""
    secrets: list[str] = []
    for config in MetaAppConfig.objects.filter(is_active=True).order_by("pk"):
        for secret in config.webhook_secrets:
            if secret not in secrets:
                secrets.append(secret)
    return secrets


def _status(code: int) -> HttpResponse:
    return HttpResponse(status=code, reason=_REASONS.get(code), content_type="text/plain")


def _answer(body: bytes, signature: str | None) -> HttpResponse:
    if not verify_signature(signature, body, app_secrets()):
        logger.warning(
            "Flow data endpoint: signature missing or invalid", extra={"booking_reference": "-"}
        )
        return _status(STATUS_BAD_SIGNATURE)
    try:
        envelope = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        logger.warning("Flow data endpoint: body is not JSON", extra={"booking_reference": "-"})
        return _status(STATUS_CANNOT_DECRYPT)
    try:
        keys = private_keys()
    except FlowKeyError as exc:
        logger.error(
            "Flow data endpoint has no usable private key: %s",
            exc,
            extra={"booking_reference": "-"},
        )
        return _status(STATUS_CANNOT_DECRYPT)
    try:
        request = decrypt_request(envelope, keys)
    except FlowDecryptionError as exc:
        logger.warning(
            "Flow data endpoint cannot decrypt: %s", exc, extra={"booking_reference": "-"}
        )
        return _status(STATUS_CANNOT_DECRYPT)
    status, answer = handle_request(request.payload)
    return HttpResponse(
        encrypt_response(answer, request.aes_key, request.iv),
        status=status,
        reason=_REASONS.get(status),
        content_type="text/plain",
    )


# --- the decrypted request ---------------------------------------------------------------------


def handle_request(payload: Mapping[str, Any]) -> tuple[int, dict[str, Any]]:
    """Answer one decrypted request: ``(HTTP status, the answer to encrypt)``."""
    action = payload.get("action")
    if action == "ping":
        return 200, {"data": {"status": "active"}}
    data = payload.get("data") if isinstance(payload.get("data"), Mapping) else {}
    flow_token = payload.get("flow_token")
    if "error" in data or "error_key" in data:
        _log_error_notification(flow_token, data)
        return 200, {"data": {"acknowledged": True}}
    try:
        session = payment_form.open_session(flow_token)
    except FlowTokenInvalid as exc:
        _log_refused_token(exc, action)
        return STATUS_TOKEN_INVALID, {"error_msg": copy.token_message(exc.reason)}
    try:
        if action in ("INIT", "BACK"):
            return 200, payment_screen(session)
        if action == "data_exchange":
            return _submit(session, flow_token, data)
        logger.warning(
            "Flow data endpoint: unknown action %r",
            str(action)[:40],
            extra={"booking_reference": session.booking.booking_reference},
        )
        return 200, error_screen(session, copy.FORM_UNEXPECTED)
    except FlowTokenInvalid as exc:
        _log_refused_token(exc, action)
        return STATUS_TOKEN_INVALID, {"error_msg": copy.token_message(exc.reason)}
    except Exception:  # answer a safe screen, never a 500
        logger.exception(
            "Flow data endpoint failed handling %s",
            str(action)[:40],
            extra={"booking_reference": session.booking.booking_reference},
        )
        return 200, error_screen(session, copy.FORM_UNEXPECTED)


def _field(data: Mapping[str, Any], name: str) -> str:
    value = data.get(name)
    return value.strip()[:MAX_FIELD_CHARS] if isinstance(value, str) else ""


def _submit(
    session: FlowFormSession, flow_token: str, data: Mapping[str, Any]
) -> tuple[int, dict[str, Any]]:
    option = _field(data, "payment_method")
    phone = _field(data, "phone")
    email = _field(data, "email")
    result = payment_form.submit_payment_form(
        session=session, payment_method=option, phone_number=phone, email=email
    )
    if result.kind in (SubmitKind.CORRECTABLE, SubmitKind.IN_PROGRESS):
        return 200, payment_screen(
            result.session,
            payment_method=option,
            phone=phone,
            email=email,
            error_message=result.message,
        )
    if result.kind == SubmitKind.FAILED:
        logger.warning(
            "Payment form could not start a payment: %s",
            result.message,
            extra={"booking_reference": result.session.booking.booking_reference},
        )
        return 200, error_screen(result.session, result.message)
    return 200, success_answer(result, flow_token)


# --- screens -----------------------------------------------------------------------------------


def default_phone(session: FlowFormSession) -> str:
    """The contact's WhatsApp number in local form when it is a Zimbabwean mobile, else ""
    (a foreign number: the payer types one). A contact known only by a username (no phone
    number shared) gets "": the chat identity is never taken for a mobile-money number."""
    if not session.contact.whatsapp_id:
        return ""
    return zimbabwe_mobile(session.contact.whatsapp_id) or ""


def default_email(session: FlowFormSession) -> str:
    if session.booking.email:
        return session.booking.email
    other = (
        Booking.objects.filter(contact=session.contact)
        .exclude(email="")
        .order_by("-created_at")
        .values_list("email", flat=True)
        .first()
    )
    return other or ""


def payment_screen(
    session: FlowFormSession,
    *,
    payment_method: str | None = None,
    phone: str | None = None,
    email: str | None = None,
    error_message: str = "",
) -> dict[str, Any]:
    """The PAYMENT screen, prefilled from the session (or with the payer's values kept)."""
    booking = session.booking
    previous = session.payment
    if payment_method is None:
        payment_method = METHOD_TO_OPTION.get(previous.payment_method, "") if previous else ""
    if phone is None:
        phone = previous.phone_number if previous else default_phone(session)
    if email is None:
        email = previous.email if previous else default_email(session)
    return {
        "screen": PAYMENT_SCREEN,
        "data": {
            "booking_reference": booking.booking_reference,
            "tour_name": booking.tour.name,
            "purpose_label": copy.purpose_label(session.purpose),
            "amount_display": money(session.amount),
            "payment_method": payment_method if payment_method in METHOD_TO_OPTION.values() else "",
            "phone": phone,
            "email": email,
            "error_message": error_message,
            "has_error": bool(error_message),
        },
    }


def error_screen(session: FlowFormSession, message: str) -> dict[str, Any]:
    return {
        "screen": ERROR_SCREEN,
        "data": {
            "booking_reference": session.booking.booking_reference,
            "error_message": message,
        },
    }


def success_answer(result: SubmitResult, flow_token: str) -> dict[str, Any]:
    """Meta's reserved completion answer; ``params`` come back in the ``nfm_reply``."""
    payment, checkout = result.payment, result.checkout
    assert payment is not None and checkout is not None  # a started result has both
    booking_reference = result.session.booking.booking_reference
    params: dict[str, Any] = {
        "flow_token": flow_token,
        "booking_reference": booking_reference,
        "payment_reference": payment.reference,
        "amount": money(payment.amount, payment.currency),
        "instructions": copy.outcome_text(
            checkout, method=payment.payment_method, booking_reference=booking_reference
        ),
    }
    if checkout.code:
        params["authorization_code"] = checkout.code
        if checkout.deep_link:
            params["deep_link"] = checkout.deep_link
    return {"screen": SUCCESS_SCREEN, "data": {"extension_message_response": {"params": params}}}


# --- logging -----------------------------------------------------------------------------------


def _log_refused_token(exc: FlowTokenInvalid, action: Any) -> None:
    logger.warning(
        "Flow token refused (%s) on %s",
        exc.reason,
        str(action)[:40],
        extra={"booking_reference": exc.booking_reference},
    )


def _log_error_notification(flow_token: Any, data: Mapping[str, Any]) -> None:
    session = find_session(flow_token)
    logger.warning(
        "WhatsApp Flows client reported an error: %s: %s",
        str(data.get("error_key") or data.get("error") or "-")[:100],
        str(data.get("error_message") or "-")[:300],
        extra={"booking_reference": session.booking.booking_reference if session else "-"},
    )
