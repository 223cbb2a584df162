"""The Graph API routes our backend calls: `messages`, Flows management, the business encryption
key, media. All of them want `Authorization: Bearer <access token>`.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from typing import TYPE_CHECKING, Any

from sandbox.whatsapp import flow_json
from sandbox.whatsapp.crypto import FlowCryptoError, load_public_key
from sandbox.whatsapp.errors import (
    REENGAGEMENT_DETAILS,
    REENGAGEMENT_WINDOW,
    UNDELIVERABLE,
    GraphApiError,
    auth_error,
    invalid_parameter,
    pair_rate_limit,
    reengagement_window,
    server_error,
    throughput_limit,
    unknown_object,
    value_not_valid,
)
from sandbox.whatsapp.store import FlowDefinition, MessageRecord, User
from sandbox.whatsapp.wire import Request, Response, json_response

if TYPE_CHECKING:
    from sandbox.whatsapp.server import Route, WhatsAppEmulator

__all__ = [
    "check_flow_known",
    "pair_rate_limit",
    "reengagement_window",
    "routes",
    "server_error",
    "status_error_reengagement",
    "status_error_undeliverable",
    "status_object",
    "throughput_limit",
]

VERSION = r"(?P<version>v\d+\.\d+)"
OBJECT_ID = r"(?P<object_id>[A-Za-z0-9_.\-]+)"
ERROR_CODES_HREF = "https://developers.facebook.com/docs/whatsapp/cloud-api/support/error-codes/"
FLOW_CATEGORIES = {
    "SIGN_UP",
    "SIGN_IN",
    "APPOINTMENT_BOOKING",
    "LEAD_GENERATION",
    "CONTACT_US",
    "CUSTOMER_SUPPORT",
    "SURVEY",
    "OTHER",
}


def routes() -> list[Route]:
    def route(method: str, pattern: str, handler) -> Route:
        return (method, re.compile(pattern), handler)

    return [
        route("GET", r"/_media/(?P<media_id>[^/]+)", download_media),
        route("POST", rf"/{VERSION}/{OBJECT_ID}/messages", post_messages),
        route("POST", rf"/{VERSION}/{OBJECT_ID}/flows", create_flow),
        route("GET", rf"/{VERSION}/{OBJECT_ID}/flows", list_flows),
        route("POST", rf"/{VERSION}/{OBJECT_ID}/publish", publish_flow),
        route("POST", rf"/{VERSION}/{OBJECT_ID}/deprecate", deprecate_flow),
        route("POST", rf"/{VERSION}/{OBJECT_ID}/assets", upload_flow_json),
        route("GET", rf"/{VERSION}/{OBJECT_ID}/assets", list_flow_assets),
        route("POST", rf"/{VERSION}/{OBJECT_ID}/whatsapp_business_encryption", set_key),
        route("GET", rf"/{VERSION}/{OBJECT_ID}/whatsapp_business_encryption", get_key),
        route("GET", rf"/{VERSION}/{OBJECT_ID}", get_object),
        route("POST", rf"/{VERSION}/{OBJECT_ID}", update_flow),
        route("DELETE", rf"/{VERSION}/{OBJECT_ID}", delete_flow),
    ]


def authorize(emu: WhatsAppEmulator, request: Request) -> None:
    header = request.headers.get("authorization", "")
    token = header[7:].strip() if header.lower().startswith("bearer ") else None
    token = token or request.query.get("access_token")
    if not token or not hmac.compare_digest(token.encode(), emu.access_token.encode()):
        raise auth_error()


def _params(request: Request) -> dict[str, Any]:
    try:
        return request.params()
    except (ValueError, UnicodeDecodeError) as exc:
        raise invalid_parameter(f"Request body could not be parsed: {exc}") from exc


def _flow(emu: WhatsAppEmulator, flow_id: str) -> FlowDefinition:
    with emu.store.cond:
        flow = emu.store.flows.get(flow_id)
    if flow is None:
        raise unknown_object(flow_id)
    return flow


def _bool(value: Any) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in ("1", "true", "yes")
    return bool(value)


# -- messages -------------------------------------------------------------------------------
def post_messages(
    emu: WhatsAppEmulator, request: Request, version: str, object_id: str
) -> Response:
    authorize(emu, request)
    if object_id != emu.phone_number_id:
        raise unknown_object(object_id)
    try:
        body = request.json()
    except (ValueError, UnicodeDecodeError) as exc:
        raise invalid_parameter(f"Request body is not valid JSON: {exc}") from exc
    return json_response(emu.accept_outbound(body))


def check_flow_known(emu: WhatsAppEmulator, body: dict) -> None:
    interactive = body.get("interactive") or {}
    if interactive.get("type") != "flow":
        return
    params = (interactive.get("action") or {}).get("parameters") or {}
    with emu.store.cond:
        known = str(params.get("flow_id")) in emu.store.flows or any(
            f.name == params.get("flow_name") for f in emu.store.flows.values()
        )
    if not known:
        raise value_not_valid(f"Flow {params.get('flow_id') or params.get('flow_name')} not found")


def status_object(
    record: MessageRecord,
    status: str,
    timestamp: int,
    errors: list[dict] | None,
    *,
    user: User | None = None,
) -> dict:
    """A `statuses[]` entry. The recipient is `recipient_id` (their phone number, when Meta
    shares it) and `recipient_user_id` (their BSUID), as Meta's BSUID page describes."""
    status_obj: dict = {"id": record.wamid, "status": status, "timestamp": str(timestamp)}
    if user is None or user.wa_id:
        status_obj["recipient_id"] = user.wa_id if user is not None else record.wa_id
    if user is not None:
        status_obj["recipient_user_id"] = user.user_id
    if status in ("sent", "delivered"):
        category = "utility" if record.type == "template" else "service"
        conversation: dict = {
            "id": hashlib.sha256(record.wa_id.encode()).hexdigest()[:32],
            "origin": {"type": category},
        }
        if status == "sent":
            conversation["expiration_timestamp"] = str(timestamp + 24 * 3600)
        status_obj["conversation"] = conversation
        status_obj["pricing"] = {
            "billable": record.type == "template",
            "pricing_model": "PMP",
            "category": category,
        }
    if errors:
        status_obj["errors"] = errors
    return status_obj


def _status_error(code: int, title: str, details: str) -> dict:
    return {
        "code": code,
        "title": title,
        "message": title,
        "error_data": {"details": details},
        "href": ERROR_CODES_HREF,
    }


def status_error_reengagement() -> dict:
    return _status_error(REENGAGEMENT_WINDOW, "Re-engagement message", REENGAGEMENT_DETAILS)


def status_error_undeliverable() -> dict:
    return _status_error(UNDELIVERABLE, "Message undeliverable", "Message Undeliverable.")


# -- Flows management ------------------------------------------------------------------------
def _categories(value: Any) -> list[str]:
    if value is None:
        return ["OTHER"]
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            value = [c.strip() for c in value.split(",") if c.strip()]
    if not isinstance(value, list) or not value:
        raise invalid_parameter("Param categories must be a non-empty array.")
    unknown = [c for c in value if c not in FLOW_CATEGORIES]
    if unknown:
        raise invalid_parameter(f"Param categories has unknown values: {unknown}")
    return [str(c) for c in value]


def _flow_json_param(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, dict | list):
        return json.dumps(value)
    return str(value)


def _check_publishable(flow: FlowDefinition) -> None:
    if flow.validation_errors:
        raise GraphApiError(
            139001,
            "Flow can't be published",
            details="The flow has validation errors: "
            + "; ".join(e["message"] for e in flow.validation_errors),
        )
    if flow_json.data_api_version(flow.flow_json) and not flow.endpoint_uri:
        raise GraphApiError(
            139001,
            "Flow can't be published",
            details="Publishing Without Specifying Endpoint Uri Is Forbidden",
        )


def register_flow(
    emu: WhatsAppEmulator,
    *,
    name: str,
    flow_json_text: str | None,
    endpoint_uri: str | None,
    categories: list[str],
    flow_id: str | None = None,
    publish: bool = False,
) -> FlowDefinition:
    flow = FlowDefinition(
        id=flow_id or emu.store.new_flow_id(),
        name=name,
        flow_json=flow_json_text or '{"version": "7.3", "screens": []}',
        endpoint_uri=endpoint_uri,
        categories=categories,
        validation_errors=flow_json.validation_errors(flow_json_text),
    )
    if publish:
        _check_publishable(flow)
        flow.status = "PUBLISHED"
    with emu.store.cond:
        emu.store.flows[flow.id] = flow
    return flow


def create_flow(emu: WhatsAppEmulator, request: Request, version: str, object_id: str) -> Response:
    authorize(emu, request)
    if object_id != emu.waba_id:
        raise unknown_object(object_id)
    params = _params(request)
    name = params.get("name")
    if not isinstance(name, str) or not name.strip():
        raise invalid_parameter("The parameter name is required.")
    flow_json_text = _flow_json_param(params.get("flow_json"))
    clone_id = params.get("clone_flow_id")
    if clone_id and flow_json_text is None:
        flow_json_text = _flow(emu, str(clone_id)).flow_json
    flow = register_flow(
        emu,
        name=name,
        flow_json_text=flow_json_text,
        endpoint_uri=params.get("endpoint_uri"),
        categories=_categories(params.get("categories")),
        publish=_bool(params.get("publish", False)),
    )
    body: dict = {"id": flow.id, "success": True, "validation_errors": flow.validation_errors}
    return json_response(body)


def list_flows(emu: WhatsAppEmulator, request: Request, version: str, object_id: str) -> Response:
    authorize(emu, request)
    if object_id != emu.waba_id:
        raise unknown_object(object_id)
    with emu.store.cond:
        flows = [f.to_graph() for f in emu.store.flows.values()]
    return json_response({"data": flows, "paging": {"cursors": {"before": "", "after": ""}}})


def _fields(request: Request, full: dict) -> dict:
    wanted = request.query.get("fields")
    if not wanted:
        return full
    names = {f.strip() for f in wanted.split(",") if f.strip()} | {"id"}
    return {k: v for k, v in full.items() if k in names}


def get_object(emu: WhatsAppEmulator, request: Request, version: str, object_id: str) -> Response:
    authorize(emu, request)
    with emu.store.cond:
        flow = emu.store.flows.get(object_id)
    if flow is not None:
        return json_response(_fields(request, flow.to_graph()))
    media = emu.media.get(object_id)
    if media is not None:
        # Meta's media page: the optional phone_number_id must be the number that got it.
        number = request.query.get("phone_number_id")
        if number is not None and number != emu.phone_number_id:
            raise invalid_parameter(
                f"Media {object_id} does not belong to phone number ID {number}."
            )
        return json_response(
            {
                "messaging_product": "whatsapp",
                "url": emu.media.url_for(emu.base_url, object_id),
                "mime_type": media.mime_type,
                "sha256": media.sha256_hex,
                "file_size": str(len(media.content)),  # Meta sends it as a string
                "id": object_id,
            }
        )
    if object_id == emu.phone_number_id:
        return json_response(
            _fields(
                request,
                {
                    "verified_name": "Sandbox Safaris",
                    "display_phone_number": emu.display_phone_number,
                    "id": emu.phone_number_id,
                    "quality_rating": "GREEN",
                    "code_verification_status": "VERIFIED",
                    "platform_type": "CLOUD_API",
                    "throughput": {"level": "STANDARD"},
                },
            )
        )
    if object_id == emu.waba_id:
        return json_response({"id": emu.waba_id, "name": "Sandbox Safaris WABA"})
    raise unknown_object(object_id, "get")


def update_flow(emu: WhatsAppEmulator, request: Request, version: str, object_id: str) -> Response:
    authorize(emu, request)
    flow = _flow(emu, object_id)
    params = _params(request)
    with emu.store.cond:
        if "name" in params:
            flow.name = str(params["name"])
        if "categories" in params:
            flow.categories = _categories(params["categories"])
        if "endpoint_uri" in params:
            flow.endpoint_uri = params["endpoint_uri"] or None
    return json_response({"success": True})


def delete_flow(emu: WhatsAppEmulator, request: Request, version: str, object_id: str) -> Response:
    authorize(emu, request)
    flow = _flow(emu, object_id)
    if flow.status != "DRAFT":
        raise invalid_parameter("Only flows in DRAFT status can be deleted.")
    with emu.store.cond:
        emu.store.flows.pop(object_id, None)
    return json_response({"success": True})


def publish_flow(emu: WhatsAppEmulator, request: Request, version: str, object_id: str) -> Response:
    authorize(emu, request)
    flow = _flow(emu, object_id)
    _check_publishable(flow)
    with emu.store.cond:
        flow.status = "PUBLISHED"
    return json_response({"success": True})


def deprecate_flow(
    emu: WhatsAppEmulator, request: Request, version: str, object_id: str
) -> Response:
    authorize(emu, request)
    flow = _flow(emu, object_id)
    with emu.store.cond:
        flow.status = "DEPRECATED"
    return json_response({"success": True})


def upload_flow_json(
    emu: WhatsAppEmulator, request: Request, version: str, object_id: str
) -> Response:
    authorize(emu, request)
    flow = _flow(emu, object_id)
    params = _params(request)
    text = _flow_json_param(params.get("file", params.get("flow_json")))
    if text is None:
        raise invalid_parameter("The parameter file is required.")
    if params.get("asset_type", "FLOW_JSON") != "FLOW_JSON":
        raise invalid_parameter("Param asset_type must be FLOW_JSON.")
    if flow.status != "DRAFT":
        raise invalid_parameter(f"Flow in {flow.status} status cannot be updated.")
    errors = flow_json.validation_errors(text)
    with emu.store.cond:
        flow.flow_json = text
        flow.validation_errors = errors
    return json_response({"success": True, "validation_errors": errors})


def list_flow_assets(
    emu: WhatsAppEmulator, request: Request, version: str, object_id: str
) -> Response:
    authorize(emu, request)
    flow = _flow(emu, object_id)
    return json_response(
        {
            "data": [
                {
                    "name": "flow.json",
                    "asset_type": "FLOW_JSON",
                    "download_url": f"{emu.control_url}/flows/{flow.id}/flow.json",
                }
            ]
        }
    )


# -- business encryption key ------------------------------------------------------------------
def set_key(emu: WhatsAppEmulator, request: Request, version: str, object_id: str) -> Response:
    authorize(emu, request)
    if object_id != emu.phone_number_id:
        raise unknown_object(object_id)
    pem = _params(request).get("business_public_key")
    if not isinstance(pem, str) or not pem.strip():
        raise invalid_parameter("The parameter business_public_key is required.")
    try:
        load_public_key(pem)
    except FlowCryptoError as exc:
        raise invalid_parameter(str(exc)) from exc
    with emu.store.cond:
        emu.store.business_public_keys[emu.phone_number_id] = pem
    return json_response({"success": True})


def get_key(emu: WhatsAppEmulator, request: Request, version: str, object_id: str) -> Response:
    authorize(emu, request)
    if object_id != emu.phone_number_id:
        raise unknown_object(object_id)
    with emu.store.cond:
        pem = emu.store.business_public_keys.get(emu.phone_number_id)
    data = (
        [{"business_public_key": pem, "business_public_key_signature_status": "VALID"}]
        if pem
        else []
    )
    return json_response({"data": data})


# -- media ------------------------------------------------------------------------------------
def download_media(emu: WhatsAppEmulator, request: Request, media_id: str) -> Response:
    """The bytes, from the URL `GET /{media-id}` gave: only with the access token (Meta: "you
    must include the access token") and only while the URL is fresh (5 minutes)."""
    authorize(emu, request)
    media = emu.media.get(media_id)
    if media is None or not emu.media.url_valid(
        media_id, request.query.get("ext", ""), request.query.get("hash", "")
    ):
        return Response(status=404, body=b"", content_type="text/plain")
    return Response(status=200, body=media.content, content_type=media.mime_type)
