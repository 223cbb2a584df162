"""The browser "phone" page: static files under `/` and `/phone/`, plus the few control routes the
page needs beyond `/_control/` (its settings, and Paynow's mobile-money prompts, proxied).

Paynow prompts are proxied rather than fetched by the page from the Paynow emulator directly, so
the page talks to one origin only (no CORS): `GET /_control/paynow/prompts?phone=...` asks the
Paynow emulator configured with `--paynow-url` (`WhatsAppEmulator(paynow_url=...)`) for its
pending express payments to that phone, and `POST /_control/paynow/prompts/<paynowreference>/
approve|decline` forwards the payer's answer to its `/_control/transactions/<ref>/approve|decline`.
Paynow normalises phone numbers itself, so `263771234567` and `0771234567` match the same prompts.
"""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import TYPE_CHECKING

import httpx

from sandbox.whatsapp.wire import Request, Response, json_response

if TYPE_CHECKING:
    from sandbox.whatsapp.server import Route, WhatsAppEmulator

PHONE_DIR = Path(__file__).resolve().parent / "phone"
STATIC_TYPES = {
    "index.html": "text/html; charset=utf-8",
    "phone.css": "text/css; charset=utf-8",
    "phone.js": "text/javascript; charset=utf-8",
}
PAYNOW_TIMEOUT_SECONDS = 5.0
PIN_RE = re.compile(r"^\d{4}$")
WA_ID_RE = re.compile(r"^\d{6,15}$")
# Paynow's test-mode numbers settle on their own (sandbox/paynow/README.md): a phone never sees
# a prompt for them. Listed here, not imported, so the two emulators stay independent.
PAYNOW_TEST_NUMBERS = frozenset({"0771111111", "0772222222", "0773333333", "0774444444"})
_ZW_MOBILE_RE = re.compile(r"^(?:\+263|263|0)(7\d{8})$")


def routes() -> list[Route]:
    def route(method: str, pattern: str, handler) -> Route:
        return (method, re.compile(pattern), handler)

    return [
        route("GET", r"/", index),
        route("GET", r"/phone", index),
        route("GET", r"/phone/(?P<name>[a-z_.-]+)", static_file),
        route("GET", r"/_control/phone/config", get_phone_config),
        route("POST", r"/_control/phone/config", set_phone_config),
        route("GET", r"/_control/paynow/prompts", paynow_prompts),
        route(
            "POST",
            r"/_control/paynow/prompts/(?P<ref>[A-Za-z0-9_-]+)/(?P<action>approve|decline)",
            paynow_answer,
        ),
    ]


# -- static files ---------------------------------------------------------------------------------
def _file(name: str) -> Response:
    content_type = STATIC_TYPES.get(name)
    path = PHONE_DIR / name
    if content_type is None or not path.is_file():
        return Response(status=404, body="not found", content_type="text/plain; charset=utf-8")
    return Response(
        status=200,
        body=path.read_bytes(),
        content_type=content_type,
        headers={"Cache-Control": "no-store"},
    )


def index(emu: WhatsAppEmulator, request: Request) -> Response:
    return _file("index.html")


def static_file(emu: WhatsAppEmulator, request: Request, name: str) -> Response:
    return _file(name)


# -- the page's settings --------------------------------------------------------------------------
def _phone_config(emu: WhatsAppEmulator) -> dict:
    return {
        "business_name": emu.business_name,
        "currency": "USD",
        "display_phone_number": emu.display_phone_number,
        "phone_number_id": emu.phone_number_id,
        "paynow_url": emu.paynow_url,
        "paynow": bool(emu.paynow_url),
    }


def get_phone_config(emu: WhatsAppEmulator, request: Request) -> Response:
    return json_response(_phone_config(emu))


def set_phone_config(emu: WhatsAppEmulator, request: Request) -> Response:
    """`{"paynow_url": "http://127.0.0.1:8101" | null, "business_name": "..."}`."""
    from sandbox.whatsapp.control import _body

    body = _body(request)
    if "paynow_url" in body:
        value = body["paynow_url"]
        if value is not None and not (isinstance(value, str) and value.startswith("http")):
            return json_response({"error": "paynow_url must be an http(s) URL or null"}, 400)
        emu.paynow_url = value.rstrip("/") if value else None
    if isinstance(body.get("business_name"), str) and body["business_name"].strip():
        emu.business_name = body["business_name"].strip()
    return json_response(_phone_config(emu))


# -- Paynow prompts (proxied) ---------------------------------------------------------------------
def _local_phone(phone: str) -> str | None:
    match = _ZW_MOBILE_RE.match(phone.replace(" ", ""))
    return f"0{match.group(1)}" if match else None


def _paynow_mode(emu: WhatsAppEmulator, client: httpx.Client) -> str:
    cached = emu.paynow_mode_cache
    if cached and cached[0] == emu.paynow_url and time.monotonic() - cached[1] < 30:
        return cached[2]
    mode = str(client.get("/_control/config").json().get("mode", "test"))
    emu.paynow_mode_cache = (emu.paynow_url, time.monotonic(), mode)
    return mode


def _unreachable(emu: WhatsAppEmulator, exc: Exception) -> Response:
    return json_response(
        {
            "error": f"Paynow emulator at {emu.paynow_url} unreachable: {exc!r}",
            "kind": "paynow_unreachable",
        },
        502,
    )


def paynow_prompts(emu: WhatsAppEmulator, request: Request) -> Response:
    """Express payments still waiting for this phone: `{"prompts": [...], "configured": bool}`."""
    phone = request.query.get("phone", "")
    if not emu.paynow_url:
        return json_response({"prompts": [], "configured": False})
    local = _local_phone(phone)
    if local is None:
        # Not a Zimbabwe mobile: Paynow cannot prompt it.
        return json_response({"prompts": [], "configured": True})
    try:
        with httpx.Client(base_url=emu.paynow_url, timeout=PAYNOW_TIMEOUT_SECONDS) as client:
            if local in PAYNOW_TEST_NUMBERS and _paynow_mode(emu, client) == "test":
                return json_response({"prompts": [], "configured": True, "test_number": True})
            answer = client.get("/_control/prompts", params={"phone": local})
    except (httpx.HTTPError, ValueError) as exc:
        return _unreachable(emu, exc)
    if answer.status_code != 200:
        status = 502 if answer.status_code >= 500 else 400
        return json_response({"error": answer.text, "kind": "paynow_error"}, status)
    prompts = answer.json().get("prompts", [])
    return json_response({"prompts": prompts, "configured": True})


def paynow_answer(emu: WhatsAppEmulator, request: Request, ref: str, action: str) -> Response:
    """The payer approves (with a 4-digit PIN) or declines; Paynow then notifies the merchant."""
    from sandbox.whatsapp.control import _body

    if not emu.paynow_url:
        return json_response({"error": "no Paynow emulator configured", "kind": "no_paynow"}, 400)
    body = _body(request)
    if action == "approve" and not PIN_RE.match(str(body.get("pin", ""))):
        return json_response({"error": "enter a 4-digit PIN", "kind": "bad_pin"}, 400)
    try:
        with httpx.Client(base_url=emu.paynow_url, timeout=PAYNOW_TIMEOUT_SECONDS) as client:
            answer = client.post(f"/_control/transactions/{ref}/{action}", json={})
    except httpx.HTTPError as exc:
        return _unreachable(emu, exc)
    try:
        payload = answer.json()
    except ValueError:
        payload = {"error": answer.text}
    return json_response(payload, answer.status_code)
