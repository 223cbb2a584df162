"""Flow tokens for the WhatsApp Flows forms we send, and finding a form from its token.

The token Meta carries around is ``<token_id>:<signature>`` (``django.core.signing`` with a
salt of its own). It carries nothing but the id; the ``FlowFormSession`` row holds the
binding to contact, booking, amount and expiry, so nothing of value can come from the client
and a token can be revoked by changing the row. Generic: the engine uses it to route a
form's completion (``nfm_reply``) to the handler registered for that WhatsApp Flow.
"""

from __future__ import annotations

import json
import secrets
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.core import signing

from .models import FlowFormSession

_SIGNING_SALT = "flows.payment_form.flow_token"  # kept: tokens already sent stay valid
_MAX_TOKEN_CHARS = 200


class FlowTokenInvalid(Exception):
    """A flow token we will not serve (HTTP 427). ``reason`` is a code, for logs and for
    choosing the payer's wording (``flows.copy.token_message``)."""

    def __init__(self, reason: str, *, session: FlowFormSession | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.session = session

    @property
    def booking_reference(self) -> str:
        return self.session.booking.booking_reference if self.session else "-"


def _signer() -> signing.Signer:
    return signing.Signer(salt=_SIGNING_SALT, algorithm="sha256")


def new_token_id() -> str:
    return secrets.token_urlsafe(18)


def sign_flow_token(token_id: str) -> str:
    """The flow token sent to Meta for the session ``token_id``."""
    return _signer().sign(token_id)


def token_id_from(flow_token: Any) -> str:
    """The session id inside a flow token; ``FlowTokenInvalid`` if it is not one of ours."""
    if (
        not isinstance(flow_token, str)
        or ":" not in flow_token
        or len(flow_token) > _MAX_TOKEN_CHARS
    ):
        raise FlowTokenInvalid("malformed")
    try:
        return _signer().unsign(flow_token)
    except signing.BadSignature:
        raise FlowTokenInvalid("forged") from None


def flow_token_ttl() -> timedelta:
    return timedelta(seconds=float(settings.WHATSAPP_FLOW_TOKEN_TTL))


def flow_token_for(session: FlowFormSession) -> str:
    return sign_flow_token(session.token_id)


def find_session(flow_token: Any) -> FlowFormSession | None:
    """The session a token names, whatever its state; None for a bad token."""
    try:
        token_id = token_id_from(flow_token)
    except FlowTokenInvalid:
        return None
    return (
        FlowFormSession.objects.select_related("booking", "whatsapp_flow")
        .filter(token_id=token_id)
        .first()
    )


def flow_response_of(message: Any) -> dict[str, Any] | None:
    """The parsed ``response_json`` of an inbound ``nfm_reply`` message, or None."""
    payload = getattr(message, "payload", None) or {}
    interactive = payload.get("interactive") if isinstance(payload, dict) else None
    reply = interactive.get("nfm_reply") if isinstance(interactive, dict) else None
    if not isinstance(reply, dict):
        return None
    response = reply.get("response_json")
    if isinstance(response, str):
        try:
            response = json.loads(response)
        except ValueError:
            return None
    return response if isinstance(response, dict) else None


def form_name_of(message: Any) -> str | None:
    """The name of the WhatsApp Flow (e.g. ``payment_whatsapp_flow``) a completion closes,
    from its flow token; None when it names no form of ours."""
    response = flow_response_of(message)
    session = find_session(response.get("flow_token")) if response else None
    return session.whatsapp_flow.name if session is not None else None
