"""The phone's side of WhatsApp Flows: open a flow message, render screens from the Flow JSON,
talk to the business's data endpoint (encrypted as Meta does), and finish with an `nfm_reply`.
"""

from __future__ import annotations

import json
import re
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx

from sandbox.whatsapp.crypto import (
    SIGNATURE_HEADER,
    FlowCryptoError,
    decrypt_response,
    encrypt_request,
    sign,
)
from sandbox.whatsapp.store import FlowDefinition, MessageRecord, Store

DATA_API_VERSION = "3.0"
ENDPOINT_TIMEOUT_SECONDS = 10.0
DEFAULT_FLOW_TOKEN = "unused"  # noqa: S105 - what Meta sends when none was set
SUCCESS_SCREEN = "SUCCESS"

INPUT_COMPONENTS = {
    "TextInput",
    "TextArea",
    "Dropdown",
    "RadioButtonsGroup",
    "CheckboxGroup",
    "DatePicker",
    "CalendarPicker",
    "OptIn",
    "ChipsSelector",
}
CHOICE_COMPONENTS = {"Dropdown", "RadioButtonsGroup", "CheckboxGroup", "ChipsSelector"}
EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
PHONE_RE = re.compile(r"^\+?[\d\s\-()]{7,20}$")
EXPRESSION_RE = re.compile(r"\$\{([^}]+)\}")


class FlowClientError(Exception):
    """A flow that cannot go on: `kind` says why (surfaced in the control API)."""

    def __init__(self, kind: str, message: str, *, http_status: int = 400) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message
        self.http_status = http_status


class FormInvalid(Exception):
    def __init__(self, field_errors: dict[str, str]) -> None:
        super().__init__(", ".join(f"{k}: {v}" for k, v in field_errors.items()))
        self.field_errors = field_errors


@dataclass
class FlowSession:
    id: str
    wa_id: str
    flow_id: str
    flow_token: str
    wamid: str
    screen: str | None = None
    data: dict = field(default_factory=dict)
    status: str = "open"  # open, completed, error, closed
    error: dict | None = None
    history: list[tuple[str, dict]] = field(default_factory=list)
    forms: dict[str, dict] = field(default_factory=dict)
    exchanges: list[dict] = field(default_factory=list)
    completion: dict | None = None
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def to_dict(self, flow: FlowDefinition | None) -> dict:
        screen_def = flow.screen(self.screen) if flow and self.screen else None
        return {
            "session": self.id,
            "wa_id": self.wa_id,
            "flow_id": self.flow_id,
            "flow_token": self.flow_token,
            "wamid": self.wamid,
            "status": self.status,
            "screen": self.screen,
            "title": (screen_def or {}).get("title"),
            "terminal": bool((screen_def or {}).get("terminal", False)),
            "data": self.data,
            "layout": (screen_def or {}).get("layout"),
            "error_message": self.data.get("error_message")
            if isinstance(self.data, dict)
            else None,
            "error": self.error,
            "history": [screen for screen, _ in self.history],
            "exchanges": list(self.exchanges),
            "completion": self.completion,
        }


# -- Flow JSON helpers ---------------------------------------------------------------------
def iter_components(children: Any):
    """Every component in a layout, descending into Form, If/Switch branches."""
    if isinstance(children, dict):
        children = [children]
    if not isinstance(children, list):
        return
    for component in children:
        if not isinstance(component, dict):
            continue
        yield component
        for key in ("children", "then", "else"):
            yield from iter_components(component.get(key))
        cases = component.get("cases")
        if isinstance(cases, dict):
            for branch in cases.values():
                yield from iter_components(branch)


def screen_components(screen: dict) -> list[dict]:
    return list(iter_components((screen.get("layout") or {}).get("children")))


def _lookup(path: list[str], root: Any) -> Any:
    value = root
    for part in path:
        if isinstance(value, dict):
            value = value.get(part)
        elif isinstance(value, list) and part.isdigit() and int(part) < len(value):
            value = value[int(part)]
        else:
            return None
    return value


def resolve(value: Any, *, form: dict, data: dict, screens: dict[str, dict]) -> Any:
    """Replace `${form.x}`, `${data.x}` and `${screen.S.form|data.x}` as the client does."""
    if isinstance(value, dict):
        return {k: resolve(v, form=form, data=data, screens=screens) for k, v in value.items()}
    if isinstance(value, list):
        return [resolve(v, form=form, data=data, screens=screens) for v in value]
    if not isinstance(value, str) or "${" not in value:
        return value

    def evaluate(expression: str) -> Any:
        parts = expression.strip().split(".")
        if parts[0] == "form":
            return _lookup(parts[1:], form)
        if parts[0] == "data":
            return _lookup(parts[1:], data)
        if parts[0] == "screen" and len(parts) >= 3:
            return _lookup(parts[2:], screens.get(parts[1], {}))
        return None

    whole = EXPRESSION_RE.fullmatch(value)
    if whole:
        return evaluate(whole.group(1))
    return EXPRESSION_RE.sub(lambda m: "" if (v := evaluate(m.group(1))) is None else str(v), value)


def _truthy(value: Any) -> bool:
    if isinstance(value, str):
        return value.lower() not in ("", "false", "0")
    return bool(value)


def validate_form(screen: dict, form: dict, data: dict) -> dict:
    """Check the form the way the WhatsApp client does before the Footer can be pressed.

    Returns the form with init-values filled in; raises FormInvalid otherwise.
    """
    components = screen_components(screen)
    fields = {c["name"]: c for c in components if c.get("type") in INPUT_COMPONENTS and "name" in c}
    errors: dict[str, str] = {}
    values: dict = {}
    ctx = {"form": form, "data": data, "screens": {}}
    for component in components:
        init_values = component.get("init-values")
        if component.get("type") == "Form" and isinstance(init_values, dict):
            values.update(resolve(init_values, **ctx))
    for name, component in fields.items():
        if "init-value" in component:
            values[name] = resolve(component["init-value"], **ctx)
    for name in form:
        if name not in fields:
            errors[name] = "no such input on this screen"
    values.update({k: v for k, v in form.items() if k in fields})
    for name, component in fields.items():
        if "visible" in component and not _truthy(resolve(component["visible"], **ctx)):
            values.pop(name, None)
            continue
        value = values.get(name)
        empty = value is None or value == "" or value == [] or value is False
        if empty:
            if _truthy(resolve(component.get("required", False), **ctx)):
                errors[name] = "required"
            continue
        error = _check_value(component, value, ctx)
        if error:
            errors[name] = error
    if errors:
        raise FormInvalid(errors)
    return values


def _check_value(component: dict, value: Any, ctx: dict) -> str | None:
    kind = component.get("type")
    if kind in ("TextInput", "TextArea"):
        if not isinstance(value, str):
            return "must be text"
        input_type = component.get("input-type", "text")
        if input_type == "email" and not EMAIL_RE.match(value):
            return "not a valid email address"
        if input_type == "phone" and not PHONE_RE.match(value):
            return "not a valid phone number"
        if input_type == "number":
            try:
                float(value)
            except ValueError:
                return "not a number"
        min_chars = resolve(component.get("min-chars"), **ctx)
        max_chars = resolve(component.get("max-chars"), **ctx)
        if isinstance(min_chars, int | str) and str(min_chars).isdigit():
            if len(value) < int(min_chars):
                return f"at least {min_chars} characters"
        if isinstance(max_chars, int | str) and str(max_chars).isdigit():
            if len(value) > int(max_chars):
                return f"at most {max_chars} characters"
    elif kind in CHOICE_COMPONENTS:
        source = resolve(component.get("data-source"), **ctx)
        if isinstance(source, list) and source:
            allowed = {str(item.get("id")) for item in source if isinstance(item, dict)}
            chosen = value if isinstance(value, list) else [value]
            if kind in ("Dropdown", "RadioButtonsGroup") and isinstance(value, list):
                return "choose one option"
            unknown = [v for v in chosen if str(v) not in allowed]
            if unknown:
                return f"not an option: {unknown}"
    return None


def find_footer(screen: dict) -> dict | None:
    for component in screen_components(screen):
        if component.get("type") == "Footer":
            return component
    return None


# -- the client ----------------------------------------------------------------------------
class FlowsClient:
    def __init__(
        self,
        store: Store,
        *,
        app_secret: str,
        phone_number_id: str,
        on_complete: Callable[[FlowSession, dict], MessageRecord],
    ) -> None:
        self.store = store
        self.app_secret = app_secret
        self.phone_number_id = phone_number_id
        self.on_complete = on_complete

    # -- lookups ----------------------------------------------------------------------------
    def flow(self, flow_id: str) -> FlowDefinition:
        with self.store.cond:
            flow = self.store.flows.get(str(flow_id))
        if flow is None:
            raise FlowClientError(
                "unknown_flow", f"flow {flow_id} is not registered", http_status=404
            )
        return flow

    def session(self, session_id: str) -> FlowSession:
        with self.store.cond:
            session = self.store.flow_sessions.get(session_id)
        if session is None:
            raise FlowClientError(
                "unknown_session", f"no flow session {session_id}", http_status=404
            )
        return session

    def state(self, session: FlowSession) -> dict:
        try:
            flow = self.flow(session.flow_id)
        except FlowClientError:
            flow = None
        with self.store.cond:
            return json.loads(json.dumps(session.to_dict(flow)))

    def endpoint_uri(self, flow: FlowDefinition) -> str:
        uri = self.store.config.flow_endpoint_override or flow.endpoint_uri
        if not uri:
            try:
                uri = flow.parsed().get("data_channel_uri")
            except ValueError:
                uri = None
        if not uri:
            raise FlowClientError("no_endpoint", f"flow {flow.id} has no endpoint_uri")
        return uri

    # -- the data channel -------------------------------------------------------------------
    def call_endpoint(
        self, flow: FlowDefinition, request: dict, session: FlowSession | None = None
    ) -> dict:
        """One request to the data endpoint; on 421 the key is fetched again and sent once more."""
        uri = self.endpoint_uri(flow)
        response = None
        encrypted = None
        for attempt in (1, 2):
            with self.store.cond:
                public_key = self.store.business_public_keys.get(self.phone_number_id)
            if not public_key:
                raise FlowClientError(
                    "no_public_key", "no business public key uploaded for this phone number"
                )
            try:
                encrypted = encrypt_request(request, public_key)
            except FlowCryptoError as exc:
                raise FlowClientError("bad_public_key", str(exc)) from exc
            raw = json.dumps(encrypted.body).encode("utf-8")
            headers = {
                "Content-Type": "application/json",
                SIGNATURE_HEADER: sign(self.app_secret, raw),
            }
            started = time.monotonic()
            try:
                response = httpx.post(
                    uri, content=raw, headers=headers, timeout=ENDPOINT_TIMEOUT_SECONDS
                )
            except httpx.TimeoutException as exc:
                self._log(session, request, None, None, started, attempt, "timeout")
                raise FlowClientError("timeout", "the endpoint took longer than 10 s") from exc
            except httpx.HTTPError as exc:
                self._log(session, request, None, None, started, attempt, repr(exc))
                raise FlowClientError("endpoint_unreachable", repr(exc)) from exc
            if response.status_code == 200:
                try:
                    decrypted = decrypt_response(response.content, encrypted.aes_key, encrypted.iv)
                except FlowCryptoError as exc:
                    self._log(session, request, 200, None, started, attempt, str(exc))
                    raise FlowClientError("bad_response", str(exc)) from exc
                self._log(session, request, 200, decrypted, started, attempt, None)
                return decrypted
            self._log(session, request, response.status_code, None, started, attempt, None)
            if response.status_code != 421:
                break
        assert response is not None and encrypted is not None
        code = response.status_code
        if code == 421:
            raise FlowClientError(
                "decryption_failed",
                "the endpoint could not decrypt the request (421), even after refetching the key",
            )
        if code == 427:
            detail = self._error_body(response, encrypted.aes_key, encrypted.iv)
            message = detail.get("error_msg") or "This flow is no longer available."
            raise FlowClientError("flow_token_invalid", message)
        if code == 432:
            raise FlowClientError(
                "signature_refused", "the endpoint refused the request signature (432)"
            )
        raise FlowClientError("endpoint_error", f"the endpoint answered HTTP {code}")

    @staticmethod
    def _error_body(response: httpx.Response, aes_key: bytes, iv: bytes) -> dict:
        try:
            return decrypt_response(response.content, aes_key, iv)
        except FlowCryptoError:
            pass
        try:
            body = response.json()
        except ValueError:
            return {}
        return body if isinstance(body, dict) else {}

    def _log(
        self,
        session: FlowSession | None,
        request: dict,
        status_code: int | None,
        response: dict | None,
        started: float,
        attempt: int,
        error: str | None,
    ) -> None:
        if session is None:
            return
        with self.store.cond:
            session.exchanges.append(
                {
                    "request": request,
                    "attempt": attempt,
                    "status_code": status_code,
                    "response": response,
                    "error": error,
                    "elapsed": round(time.monotonic() - started, 4),
                }
            )

    # -- the user's actions -----------------------------------------------------------------
    def ping(self, flow_id: str) -> dict:
        flow = self.flow(flow_id)
        response = self.call_endpoint(flow, {"version": DATA_API_VERSION, "action": "ping"})
        return {
            "ok": (response.get("data") or {}).get("status") == "active",
            "response": response,
        }

    def open(self, *, wa_id: str, message: MessageRecord) -> FlowSession:
        interactive = message.payload.get("interactive") or {}
        if message.direction != "out" or interactive.get("type") != "flow":
            raise FlowClientError("not_a_flow_message", f"{message.wamid} is not a flow message")
        if message.wa_id != wa_id:
            raise FlowClientError(
                "wrong_user", f"{message.wamid} was not sent to {wa_id}", http_status=404
            )
        params = (interactive.get("action") or {}).get("parameters") or {}
        flow_id = str(params.get("flow_id") or "")
        if not flow_id and params.get("flow_name"):
            with self.store.cond:
                flow_id = next(
                    (f.id for f in self.store.flows.values() if f.name == params["flow_name"]), ""
                )
        flow = self.flow(flow_id)
        session = FlowSession(
            id="fs_" + secrets.token_hex(8),
            wa_id=wa_id,
            flow_id=flow.id,
            flow_token=str(params.get("flow_token") or DEFAULT_FLOW_TOKEN),
            wamid=message.wamid,
        )
        with self.store.cond:
            self.store.flow_sessions[session.id] = session
        with session.lock:
            if params.get("flow_action", "navigate") == "data_exchange":
                request = {
                    "version": DATA_API_VERSION,
                    "action": "INIT",
                    "flow_token": session.flow_token,
                }
                self._exchange(session, flow, request)
            else:
                payload = params.get("flow_action_payload") or {}
                self._show(session, flow, payload.get("screen"), payload.get("data") or {})
        return session

    def submit(self, session: FlowSession, form: dict) -> FlowSession:
        with session.lock:
            self._require_open(session)
            flow = self.flow(session.flow_id)
            screen = flow.screen(session.screen or "")
            if screen is None:
                raise FlowClientError("unknown_screen", f"screen {session.screen} not in flow")
            values = validate_form(screen, form, session.data)
            footer = find_footer(screen)
            if footer is None:
                raise FlowClientError("no_footer", f"screen {session.screen} has no Footer")
            action = footer.get("on-click-action") or {}
            with self.store.cond:
                session.forms[session.screen or ""] = {"form": values, "data": session.data}
            payload = resolve(
                action.get("payload") or {},
                form=values,
                data=session.data,
                screens=session.forms,
            )
            name = action.get("name")
            if name == "navigate":
                target = (action.get("next") or {}).get("name")
                self._push(session)
                self._show(session, flow, target, payload)
            elif name == "data_exchange":
                request = {
                    "version": DATA_API_VERSION,
                    "action": "data_exchange",
                    "screen": session.screen,
                    "data": payload,
                    "flow_token": session.flow_token,
                }
                self._exchange(session, flow, request, push=True)
            elif name == "complete":
                self._complete(session, {"flow_token": session.flow_token, **payload})
            else:
                raise FlowClientError("unsupported_action", f"Footer action {name!r}")
        return session

    def back(self, session: FlowSession) -> FlowSession:
        with session.lock:
            self._require_open(session)
            flow = self.flow(session.flow_id)
            screen = flow.screen(session.screen or "") or {}
            if screen.get("refresh_on_back"):
                request = {
                    "version": DATA_API_VERSION,
                    "action": "BACK",
                    "screen": session.screen,
                    "flow_token": session.flow_token,
                }
                with self.store.cond:
                    if session.history:
                        session.history.pop()
                self._exchange(session, flow, request)
            elif session.history:
                with self.store.cond:
                    session.screen, session.data = session.history.pop()
                    self.store.cond.notify_all()
            else:
                self._end(session, "closed", None)
        return session

    def close(self, session: FlowSession) -> FlowSession:
        with session.lock:
            if session.status == "open":
                self._end(session, "closed", None)
        return session

    # -- internals --------------------------------------------------------------------------
    @staticmethod
    def _require_open(session: FlowSession) -> None:
        if session.status != "open":
            raise FlowClientError(
                "session_closed", f"flow session {session.id} is {session.status}"
            )

    def _push(self, session: FlowSession) -> None:
        with self.store.cond:
            if session.screen is not None:
                session.history.append((session.screen, session.data))

    def _show(
        self, session: FlowSession, flow: FlowDefinition, screen_id: str | None, data: dict
    ) -> None:
        if not screen_id or flow.screen(screen_id) is None:
            self._end(
                session,
                "error",
                {"kind": "unknown_screen", "message": f"screen {screen_id!r} not in the flow"},
            )
            return
        with self.store.cond:
            session.screen = screen_id
            session.data = dict(data or {})
            session.error = None
            self.store.cond.notify_all()

    def _exchange(
        self, session: FlowSession, flow: FlowDefinition, request: dict, *, push: bool = False
    ) -> None:
        try:
            response = self.call_endpoint(flow, request, session)
        except FlowClientError as exc:
            terminal = exc.kind in ("flow_token_invalid", "unknown_flow") or session.screen is None
            error = {"kind": exc.kind, "message": exc.message}
            if terminal:
                self._end(session, "error", error)
            else:
                with self.store.cond:
                    session.error = error
                    self.store.cond.notify_all()
            return
        screen_id = response.get("screen")
        data = response.get("data") if isinstance(response.get("data"), dict) else {}
        if screen_id == SUCCESS_SCREEN:
            params = (data.get("extension_message_response") or {}).get("params") or {}
            self._complete(session, {"flow_token": session.flow_token, **params})
            return
        if not screen_id:
            error = {"kind": "bad_response", "message": f"no screen in the reply: {response}"}
            if session.screen is None:
                self._end(session, "error", error)
            else:
                with self.store.cond:
                    session.error = error
            return
        if push and screen_id != session.screen:
            self._push(session)
        self._show(session, flow, screen_id, data)

    def _complete(self, session: FlowSession, response_json: dict) -> None:
        record = self.on_complete(session, response_json)
        with self.store.cond:
            session.completion = {"response_json": response_json, "wamid": record.wamid}
        self._end(session, "completed", None)

    def _end(self, session: FlowSession, status: str, error: dict | None) -> None:
        with self.store.cond:
            session.status = status
            session.error = error
            self.store.cond.notify_all()
