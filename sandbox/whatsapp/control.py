"""The `/_control/` JSON API that tests (and a person) use to play the users' side."""

from __future__ import annotations

import json
import re
import time
from typing import TYPE_CHECKING, Any

from sandbox.whatsapp.crypto import FlowCryptoError, load_public_key
from sandbox.whatsapp.flows_client import FlowClientError, FormInvalid
from sandbox.whatsapp.inbound import InboundError
from sandbox.whatsapp.store import Config
from sandbox.whatsapp.wire import Request, Response, json_response, query_float, query_int

if TYPE_CHECKING:
    from sandbox.whatsapp.server import Route, WhatsAppEmulator

WA_ID = r"(?P<wa_id>[^/]+)"
MAX_WAIT_SECONDS = 120.0
FAULT_KEYS = (
    "rate_limit",
    "pair_rate_limit",
    "server_error",
    "undeliverable",
    "duplicate_webhooks",
    "duplicate_times",
)
WINDOW_MODES = ("sync", "status", "off")
PHONE_RE = re.compile(r"\d{6,15}")
# WhatsApp usernames (Meta's BSUID page: "the same format restrictions as business usernames"):
# letters, digits, periods and underscores; we bound the length at 3 to 30.
USERNAME_RE = re.compile(r"[A-Za-z0-9._]{3,30}")


def routes() -> list[Route]:
    def route(method: str, pattern: str, handler) -> Route:
        return (method, re.compile("/_control" + pattern), handler)

    return [
        route("GET", r"/health", health),
        route("GET", r"/config", get_config),
        route("POST", r"/config", set_config),
        route("POST", r"/reset", reset),
        route("GET", r"/faults", get_faults),
        route("POST", r"/faults", set_faults),
        route("GET", r"/users", list_users),
        route("POST", r"/users", create_user),
        route("GET", r"/media/(?P<media_id>[0-9]+)", get_media),
        route("POST", rf"/users/{WA_ID}/send", user_send),
        route("POST", rf"/users/{WA_ID}/tap", user_tap),
        route("GET", rf"/users/{WA_ID}/conversation", conversation),
        route("POST", rf"/users/{WA_ID}/age-window", age_window),
        route("POST", rf"/users/{WA_ID}/flows/open", open_flow),
        route("GET", r"/messages", list_messages),
        route("GET", r"/messages/(?P<wamid>[^/]+)", get_message),
        route("GET", r"/deliveries", list_deliveries),
        route("GET", r"/flows", list_flows),
        route("POST", r"/flows", put_flow),
        route("GET", r"/flows/(?P<flow_id>[^/]+)/flow.json", download_flow_json),
        route("POST", r"/flows/(?P<flow_id>[^/]+)/ping", ping_flow),
        route("GET", r"/encryption", get_encryption),
        route("POST", r"/encryption", set_encryption),
        route("GET", r"/flow-sessions/(?P<session_id>[^/]+)", get_session),
        route("POST", r"/flow-sessions/(?P<session_id>[^/]+)/submit", submit_session),
        route("POST", r"/flow-sessions/(?P<session_id>[^/]+)/back", back_session),
        route("POST", r"/flow-sessions/(?P<session_id>[^/]+)/close", close_session),
        route("POST", r"/verify-webhook", verify_webhook),
    ]


def _error(message: str, status: int = 400, kind: str = "bad_request", **extra: Any) -> Response:
    return json_response({"error": message, "kind": kind, **extra}, status)


def _body(request: Request) -> dict:
    from sandbox.whatsapp.server import ControlError

    try:
        body = request.json()
    except (ValueError, UnicodeDecodeError) as exc:
        raise ControlError(f"body is not JSON: {exc}") from exc
    if not isinstance(body, dict):
        raise ControlError("body must be a JSON object")
    return body


def _wait_seconds(value: Any) -> float:
    try:
        return min(MAX_WAIT_SECONDS, max(0.0, float(value)))
    except (TypeError, ValueError):
        return 0.0


def _event_view(event: dict) -> dict:
    return {k: v for k, v in event.items() if k != "body"}


def health(emu: WhatsAppEmulator, request: Request) -> Response:
    return json_response(
        {
            "ok": True,
            "base_url": emu.base_url,
            "api_version": emu.api_version,
            "phone_number_id": emu.phone_number_id,
            "waba_id": emu.waba_id,
            "display_phone_number": emu.display_phone_number,
        }
    )


# -- configuration and faults ---------------------------------------------------------------
def get_config(emu: WhatsAppEmulator, request: Request) -> Response:
    return json_response(emu.config.to_dict())


def set_config(emu: WhatsAppEmulator, request: Request) -> Response:
    body = _body(request)
    known = set(Config().to_dict())
    unknown = sorted(set(body) - known)
    if unknown:
        return _error(f"unknown config keys: {unknown}; known: {sorted(known)}")
    if "window_enforcement" in body and body["window_enforcement"] not in WINDOW_MODES:
        return _error(f"window_enforcement must be one of {list(WINDOW_MODES)}")
    config = emu.config
    with emu.store.cond:
        for key, value in body.items():
            if key in ("status_delay",) and value is not None:
                value = float(value)
            elif key in ("retry_base_delay", "webhook_timeout"):
                value = float(value)
            elif key == "max_attempts":
                value = max(1, int(value))
            elif key in ("auto_read", "require_known_flows"):
                value = bool(value)
            setattr(config, key, value)
    return json_response(config.to_dict())


def reset(emu: WhatsAppEmulator, request: Request) -> Response:
    body = _body(request)
    emu.reset(flows=bool(body.get("flows", False)))
    return json_response({"ok": True})


def get_faults(emu: WhatsAppEmulator, request: Request) -> Response:
    with emu.store.cond:
        return json_response(emu.store.faults.to_dict())


def set_faults(emu: WhatsAppEmulator, request: Request) -> Response:
    body = _body(request)
    unknown = sorted(set(body) - set(FAULT_KEYS) - {"clear"})
    if unknown:
        return _error(f"unknown fault keys: {unknown}; known: {list(FAULT_KEYS)}")
    with emu.store.cond:
        faults = emu.store.faults
        if body.get("clear"):
            for key in FAULT_KEYS:
                setattr(faults, key, 2 if key == "duplicate_times" else 0)
        for key in FAULT_KEYS:
            if key in body:
                setattr(faults, key, max(0, int(body[key])))
        return json_response(faults.to_dict())


# -- users ------------------------------------------------------------------------------------
def list_users(emu: WhatsAppEmulator, request: Request) -> Response:
    now = time.time()
    with emu.store.cond:
        return json_response({"users": [u.to_dict(now) for u in emu.store.users.values()]})


def create_user(emu: WhatsAppEmulator, request: Request) -> Response:
    """A user to play: `{"username": "tendai_m", "name": "Tendai", "private_phone":
    "263771234567"}` adopts a username (webhooks carry only their BSUID; `private_phone` is
    their own SIM, for mobile-money prompts, never sent to the business), or `{"wa_id":
    "263771234567", "name": ...}` a user known by phone number. Answers the user, whose
    `handle` names them in the other `/users/{handle}/...` routes."""
    body = _body(request)
    name = body.get("name") or None
    if body.get("username"):
        username = str(body["username"]).strip().lstrip("@")
        if not USERNAME_RE.fullmatch(username):
            return _error(
                "username: 3 to 30 letters, digits, dots or underscores (WhatsApp's usernames)"
            )
        private_phone = body.get("private_phone") or None
        if private_phone is not None and not PHONE_RE.fullmatch(str(private_phone)):
            return _error("private_phone must be 6 to 15 digits")
        user = emu.store.username_user(username, name, private_phone=private_phone)
    elif body.get("wa_id"):
        wa_id = str(body["wa_id"])
        if not PHONE_RE.fullmatch(wa_id):
            return _error("wa_id must be 6 to 15 digits")
        user = emu.store.user(wa_id, name)
    else:
        return _error("give a username (a username user) or a wa_id (a phone number)")
    with emu.store.cond:
        return json_response(user.to_dict(time.time()))


def get_media(emu: WhatsAppEmulator, request: Request, media_id: str) -> Response:
    """A file a user sent (for the phone page's bubble), without the Graph API's token."""
    media = emu.media.get(media_id)
    if media is None:
        return _error(f"no media {media_id}", 404, "not_found")
    return Response(status=200, body=media.content, content_type=media.mime_type)


def _send_result(emu: WhatsAppEmulator, record, event: dict, body: dict) -> Response:
    if body.get("wait"):
        emu.dispatcher.wait_for(event, _wait_seconds(body.get("timeout", 30)))
    with emu.store.cond:
        state = event["state"]
        return json_response(
            {
                "wamid": record.wamid,
                "accepted": None if state == "queued" else state == "delivered",
                "delivery": _event_view(event),
                "message": record.to_dict(),
            }
        )


def user_send(emu: WhatsAppEmulator, request: Request, wa_id: str) -> Response:
    body = _body(request)
    spec = {k: v for k, v in body.items() if k not in ("name", "wait", "timeout", "context")}
    try:
        record, event = emu.user_sends(
            wa_id, spec, name=body.get("name"), context_wamid=body.get("context")
        )
    except InboundError as exc:
        return _error(str(exc))
    return _send_result(emu, record, event, body)


def user_tap(emu: WhatsAppEmulator, request: Request, wa_id: str) -> Response:
    body = _body(request)
    record, event = emu.tap(
        wa_id,
        wamid=body.get("wamid"),
        button_id=body.get("button_id"),
        row_id=body.get("row_id"),
    )
    return _send_result(emu, record, event, body)


def age_window(emu: WhatsAppEmulator, request: Request, wa_id: str) -> Response:
    body = _body(request)
    hours = float(body.get("hours", 25))
    user = emu.store.find_user(wa_id) or emu.store.user(wa_id)
    with emu.store.cond:
        user.last_inbound_at = time.time() - hours * 3600
        return json_response(user.to_dict(time.time()))


def conversation(emu: WhatsAppEmulator, request: Request, wa_id: str) -> Response:
    since = query_int(request.query, "since", 0)
    wait_for = query_int(request.query, "wait_for", 0)
    timeout = _wait_seconds(query_float(request.query, "timeout", 10.0))
    store = emu.store
    timed_out = not store.wait_until(
        lambda: (
            len([m for m in store.conversation(wa_id, since) if m.direction == "out"]) >= wait_for
        ),
        timeout,
    )
    now = time.time()
    with store.cond:
        user = store.users.get(wa_id)
        return json_response(
            {
                "user": user.to_dict(now) if user else None,
                "messages": [m.to_dict() for m in store.conversation(wa_id, since)],
                "timed_out": timed_out,
            }
        )


def list_messages(emu: WhatsAppEmulator, request: Request) -> Response:
    to = request.query.get("to") or None
    since = query_int(request.query, "since", 0)
    wait_for = query_int(request.query, "wait_for", 0)
    timeout = _wait_seconds(query_float(request.query, "timeout", 10.0))
    store = emu.store
    timed_out = not store.wait_until(
        lambda: len(store.outbound(to=to, since=since)) >= wait_for, timeout
    )
    with store.cond:
        messages = [m.to_dict() for m in store.outbound(to=to, since=since)]
        last_seq = store.messages[-1].seq if store.messages else 0
    return json_response({"messages": messages, "last_seq": last_seq, "timed_out": timed_out})


def get_message(emu: WhatsAppEmulator, request: Request, wamid: str) -> Response:
    """`?wait_status=read&timeout=5` waits until the message reached that status."""
    store = emu.store
    wanted = request.query.get("wait_status")
    timeout = _wait_seconds(query_float(request.query, "timeout", 10.0))

    def reached() -> bool:
        record = store.by_wamid.get(wamid)
        if record is None:
            return False
        return wanted is None or any(s["status"] == wanted for s in record.statuses)

    timed_out = not store.wait_until(reached, timeout if wanted else 0)
    with store.cond:
        record = store.by_wamid.get(wamid)
        if record is None:
            return _error(f"no message {wamid}", 404, "not_found")
        return json_response({"message": record.to_dict(), "timed_out": timed_out})


def list_deliveries(emu: WhatsAppEmulator, request: Request) -> Response:
    """Every webhook attempt; `?wait_for=N` waits for N settled events (`kind`, `wa_id` filter)."""
    kind = request.query.get("kind") or None
    wa_id = request.query.get("wa_id") or None
    wait_for = query_int(request.query, "wait_for", 0)
    timeout = _wait_seconds(query_float(request.query, "timeout", 10.0))
    store = emu.store

    def matching_events() -> list[dict]:
        return [
            e
            for e in store.events.values()
            if (kind is None or e["kind"] == kind) and (wa_id is None or e["wa_id"] == wa_id)
        ]

    timed_out = not store.wait_until(
        lambda: (
            len([e for e in matching_events() if e["state"] in ("delivered", "failed")]) >= wait_for
        ),
        timeout,
    )
    with store.cond:
        deliveries = [
            dict(d)
            for d in store.deliveries
            if (kind is None or d["kind"] == kind) and (wa_id is None or d["wa_id"] == wa_id)
        ]
        events = [_event_view(e) for e in matching_events()]
    return json_response({"deliveries": deliveries, "events": events, "timed_out": timed_out})


# -- flows ------------------------------------------------------------------------------------
def list_flows(emu: WhatsAppEmulator, request: Request) -> Response:
    with emu.store.cond:
        return json_response({"flows": [f.to_graph() for f in emu.store.flows.values()]})


def put_flow(emu: WhatsAppEmulator, request: Request) -> Response:
    """Register (or replace) a flow directly: `{"flow_id", "name", "flow_json", "endpoint_uri"}`."""
    from sandbox.whatsapp.graph import register_flow

    body = _body(request)
    flow_json_value = body.get("flow_json")
    if flow_json_value is None:
        return _error("flow_json is required")
    if not isinstance(flow_json_value, str):
        flow_json_value = json.dumps(flow_json_value)
    flow = register_flow(
        emu,
        name=str(body.get("name") or "sandbox flow"),
        flow_json_text=flow_json_value,
        endpoint_uri=body.get("endpoint_uri"),
        categories=list(body.get("categories") or ["OTHER"]),
        flow_id=str(body["flow_id"]) if body.get("flow_id") else None,
    )
    with emu.store.cond:
        flow.status = str(body.get("status", "PUBLISHED"))
        return json_response(flow.to_graph())


def download_flow_json(emu: WhatsAppEmulator, request: Request, flow_id: str) -> Response:
    with emu.store.cond:
        flow = emu.store.flows.get(flow_id)
    if flow is None:
        return _error(f"no flow {flow_id}", 404, "not_found")
    return Response(status=200, body=flow.flow_json)


def ping_flow(emu: WhatsAppEmulator, request: Request, flow_id: str) -> Response:
    try:
        return json_response(emu.flows.ping(flow_id))
    except FlowClientError as exc:
        return _error(exc.message, exc.http_status if exc.http_status == 404 else 502, exc.kind)


def get_encryption(emu: WhatsAppEmulator, request: Request) -> Response:
    with emu.store.cond:
        pem = emu.store.business_public_keys.get(emu.phone_number_id)
    return json_response({"business_public_key": pem})


def set_encryption(emu: WhatsAppEmulator, request: Request) -> Response:
    pem = _body(request).get("business_public_key")
    if not isinstance(pem, str):
        return _error("business_public_key is required")
    try:
        load_public_key(pem)
    except FlowCryptoError as exc:
        return _error(str(exc))
    with emu.store.cond:
        emu.store.business_public_keys[emu.phone_number_id] = pem
    return json_response({"success": True})


def _session_response(emu: WhatsAppEmulator, session, status: int = 200, **extra) -> Response:
    return json_response({**emu.flows.state(session), **extra}, status)


def open_flow(emu: WhatsAppEmulator, request: Request, wa_id: str) -> Response:
    body = _body(request)
    try:
        session = emu.open_flow(wa_id, body.get("wamid"))
    except FlowClientError as exc:
        return _error(exc.message, exc.http_status, exc.kind)
    return _session_response(emu, session)


def _with_session(emu: WhatsAppEmulator, session_id: str, action) -> Response:
    try:
        session = emu.flows.session(session_id)
        action(session)
    except FormInvalid as exc:
        return _session_response(
            emu, session, 422, field_errors=exc.field_errors, kind="form_invalid"
        )
    except FlowClientError as exc:
        if exc.kind == "unknown_session":
            return _error(exc.message, 404, exc.kind)
        return _session_response(emu, session, exc.http_status, kind=exc.kind, message=exc.message)
    return _session_response(emu, session)


def get_session(emu: WhatsAppEmulator, request: Request, session_id: str) -> Response:
    return _with_session(emu, session_id, lambda session: None)


def submit_session(emu: WhatsAppEmulator, request: Request, session_id: str) -> Response:
    form = _body(request).get("form") or {}
    if not isinstance(form, dict):
        return _error("form must be an object")
    return _with_session(emu, session_id, lambda session: emu.flows.submit(session, form))


def back_session(emu: WhatsAppEmulator, request: Request, session_id: str) -> Response:
    return _with_session(emu, session_id, emu.flows.back)


def close_session(emu: WhatsAppEmulator, request: Request, session_id: str) -> Response:
    return _with_session(emu, session_id, emu.flows.close)


def verify_webhook(emu: WhatsAppEmulator, request: Request) -> Response:
    token = _body(request).get("verify_token")
    if not isinstance(token, str):
        return _error("verify_token is required")
    return json_response(emu.dispatcher.verify_subscription(token))
