"""The Paynow emulator's HTTP face: Paynow's endpoints, a browser checkout page, the control API.

`PaynowEmulator` runs it in a background thread (for tests and `make demo`); `python -m
sandbox.paynow` runs it in the foreground. See README.md in this folder for the control API.
"""

from __future__ import annotations

import json
import logging
import threading
from datetime import date
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, parse_qsl, quote, urlsplit

from sandbox.paynow import checkout
from sandbox.paynow.hashing import decode, encode
from sandbox.paynow.state import PENDING, ControlError, InitiationError, PaynowState

logger = logging.getLogger(__name__)

MAX_BODY = 64 * 1024


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128  # the default 5 drops SYNs under a burst of payers
    state: PaynowState
    verbose: bool = False


class PaynowHandler(BaseHTTPRequestHandler):
    server: _Server
    server_version = "PaynowEmulator/1.0"
    # No ~40 ms Nagle / delayed-ACK stall between the header and body writes (see the WhatsApp
    # emulator's handler): an emulator must not be slower than the service it stands in for.
    disable_nagle_algorithm = True

    # -- plumbing --

    def log_message(self, format: str, *args: Any) -> None:
        if self.server.verbose:
            super().log_message(format, *args)

    @property
    def state(self) -> PaynowState:
        return self.server.state

    def _body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_BODY:
            raise ControlError("body too large", 413)
        return self.rfile.read(length) if length else b""

    def _send(self, status: int, body: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _send_form(self, fields: list[tuple[str, str]]) -> None:
        self._send(200, encode(fields), "application/x-www-form-urlencoded; charset=utf-8")

    def _send_error_form(self, message: str) -> None:
        # Paynow answers errors with 200 and no hash.
        self._send_form([("status", "Error"), ("error", message)])

    def _send_json(self, status: int, payload: Any) -> None:
        self._send(status, json.dumps(payload, indent=1).encode(), "application/json")

    def _route(self) -> tuple[str, dict[str, list[str]]]:
        parts = urlsplit(self.path)
        path = parts.path.rstrip("/").lower() or "/"
        return path, parse_qs(parts.query)

    # -- dispatch --

    def do_GET(self) -> None:
        path, query = self._route()
        try:
            if path.startswith("/_control"):
                self._control("GET", path, query)
            elif path == "/payment/confirmpayment":
                self._checkout_page(query)
            elif path == "/":
                self._send_json(200, {"emulator": "paynow", **self.state.config()})
            else:
                self._send(404, b"Not found", "text/plain")
        except ControlError as exc:
            self._send_json(exc.http_status, {"error": str(exc)})

    def do_POST(self) -> None:
        path, query = self._route()
        try:
            body = self._body()
            if path.startswith("/_control"):
                self._control("POST", path, query, body)
            elif path == "/interface/remotetransaction":
                self._initiate(body, express=True)
            elif path == "/interface/initiatetransaction":
                self._initiate(body, express=False)
            elif path == "/interface/trace":
                self._paynow_call(lambda fields: self.state.trace(fields), body)
            elif path == "/interface/checkpayment":
                self._poll(_first(query, "guid"))
            elif path == "/payment/confirmpayment":
                self._checkout_submit(_first(query, "guid"), body)
            else:
                self._send(404, b"Not found", "text/plain")
        except ControlError as exc:
            self._send_json(exc.http_status, {"error": str(exc)})

    # -- Paynow endpoints --

    def _paynow_call(self, handler: Any, body: bytes) -> list[tuple[str, str]] | None:
        try:
            fields = decode(body)
        except ValueError:
            self._send_error_form("Invalid request")
            return None
        try:
            reply = handler(fields)
        except InitiationError as exc:
            self._send_error_form(str(exc))
            return None
        self._send_form(reply)
        return reply

    def _initiate(self, body: bytes, *, express: bool) -> None:
        unavailable = self.state.take_unavailable()
        if unavailable is not None and unavailable.mode == "503":
            self._send(503, b"Service Unavailable", "text/plain")
            return
        if unavailable is not None:  # hang: maybe do the work, then answer too late
            if unavailable.creates_transaction:
                try:
                    self.state.initiate(decode(body), express=express)
                except (ValueError, InitiationError):
                    pass
            self.state.stopping.wait(unavailable.hang_seconds)
            self._send_error_form("Request timed out")
            return
        self._paynow_call(lambda fields: self.state.initiate(fields, express=express), body)

    def _poll(self, guid: str) -> None:
        try:
            self._send_form(self.state.poll(guid))
        except InitiationError as exc:
            self._send_error_form(str(exc))

    # -- web checkout pages (checkout.py draws them) --

    def _send_html(self, status: int, page: bytes) -> None:
        self._send(status, page, "text/html; charset=utf-8")

    def _redirect(self, location: str) -> None:
        self.send_response(HTTPStatus.SEE_OTHER)
        self.send_header("Location", location)
        self.send_header("Content-Length", "0")
        self.send_header("Cache-Control", "no-store")
        self.end_headers()

    def _back_to_merchant(self, txn: dict[str, Any]) -> None:
        """Paynow sends the payer's browser to the merchant's returnurl once it has decided."""
        if txn["returnurl"]:
            self._redirect(txn["returnurl"])
        else:
            self._send_html(200, checkout.result_page(txn))

    def _checkout_page(self, query: dict[str, list[str]]) -> None:
        guid = _first(query, "guid")
        txn = self.state.transaction_for_guid(guid)
        if txn["status"] not in PENDING:
            if _first(query, "wait") and txn["returnurl"]:  # the waiting page saw the answer
                self._redirect(txn["returnurl"])
            else:
                self._send_html(200, checkout.result_page(txn))
        elif txn["kind"] != "web":
            self._send_html(200, checkout.result_page(txn))
        elif txn["phone"]:  # a mobile-money prompt is out: wait for the payer's answer
            self._send_html(200, checkout.waiting_page(txn, guid))
        elif (method := _first(query, "method")) == checkout.CARD_METHOD:
            self._send_html(200, checkout.card_page(txn, guid))
        elif method in checkout.WEB_MOBILE_METHODS:
            self._send_html(200, checkout.mobile_page(txn, guid, method))
        else:
            self._send_html(200, checkout.method_page(txn, guid))

    def _checkout_submit(self, guid: str, body: bytes) -> None:
        try:
            form = dict(parse_qsl(body.decode("utf-8"), keep_blank_values=True, max_num_fields=20))
        except ValueError as exc:
            raise ControlError("the form could not be read") from exc
        action = form.get("action", "")
        txn = self.state.transaction_for_guid(guid)
        try:
            if action == "pay":
                try:
                    card = checkout.read_card(form, today=date.today())
                except checkout.CardError as error:
                    self._send_html(422, checkout.card_page(txn, guid, error=error, form=form))
                    return
                decision = checkout.decide(card, mode=self.state.mode)
                self._back_to_merchant(self.state.pay_by_card(guid, card, decision))
            elif action == "mobile":
                method, phone = form.get("method", ""), form.get("phone", "").strip()
                try:
                    self.state.pay_by_mobile(guid, method, phone)
                except InitiationError as error:
                    page = checkout.mobile_page(txn, guid, method, error=str(error), phone=phone)
                    self._send_html(422, page)
                    return
                self._redirect(f"/Payment/ConfirmPayment/?guid={quote(guid, safe='')}&wait=1")
            elif action in ("cancel", "decline"):  # "decline": the old emulator's button
                self._back_to_merchant(self.state.cancel_guid(guid))
            else:
                raise ControlError("action must be pay, mobile or cancel")
        except ControlError as exc:
            if exc.http_status != 409:
                raise
            self._send_html(409, checkout.result_page(self.state.transaction_for_guid(guid)))

    # -- control API (JSON) --

    def _control(
        self, method: str, path: str, query: dict[str, list[str]], body: bytes = b""
    ) -> None:
        segments = path.split("/")[2:]  # after "", "_control"
        payload = _json_body(body) if method == "POST" else {}
        state = self.state
        match method, segments:
            case "GET", [] | ["config"]:
                self._send_json(200, state.config())
            case "GET", ["transactions"]:
                found = state.list_transactions(
                    reference=_first(query, "reference") or None,
                    phone=_first(query, "phone") or None,
                )
                self._send_json(200, {"transactions": found})
            case "GET", ["transactions", ref]:
                self._send_json(200, state.get_transaction(ref))
            case "POST", ["transactions", ref, "approve"]:
                self._send_json(200, state.approve(ref))
            case "POST", ["transactions", ref, "decline"]:
                self._send_json(200, state.decline(ref))
            case "POST", ["transactions", ref, "fail"]:
                self._send_json(200, state.fail(ref))
            case "POST", ["transactions", ref, "status"]:
                extra = payload.get("extra_fields") or {}
                if isinstance(extra, dict):
                    extra = list(extra.items())
                amount = payload.get("amount")
                self._send_json(
                    200,
                    state.push_status(
                        ref,
                        str(payload.get("status", "")),
                        update_state=bool(payload.get("update_state", False)),
                        amount=None if amount is None else str(amount),
                        extra_fields=[(str(k), str(v)) for k, v in extra],
                    ),
                )
            case "GET", ["prompts"]:
                phone = _first(query, "phone") or None
                self._send_json(200, {"prompts": state.pending_prompts(phone)})
            case "GET", ["faults"]:
                self._send_json(200, state.faults())
            case "POST", ["faults", "drop-updates"]:
                state.drop_next_updates(payload.get("count", 1))
                self._send_json(200, state.faults())
            case "POST", ["faults", "duplicate-updates"]:
                state.duplicate_next_updates(
                    payload.get("count", 1), _int(payload.get("copies", 2), "copies")
                )
                self._send_json(200, state.faults())
            case "POST", ["faults", "unavailable"]:
                state.make_initiation_unavailable(
                    payload.get("count", 1),
                    mode=str(payload.get("mode", "503")),
                    hang_seconds=_float(payload.get("hang_seconds", 30.0), "hang_seconds"),
                    creates_transaction=bool(payload.get("creates_transaction", True)),
                )
                self._send_json(200, state.faults())
            case "POST", ["time-scale"]:
                state.set_time_scale(_float(payload.get("time_scale"), "time_scale"))
                self._send_json(200, state.config())
            case "POST", ["reset"]:
                state.reset()
                self._send_json(200, {"reset": True})
            case _:
                raise ControlError(f"no control endpoint {method} {path}", 404)


def _first(query: dict[str, list[str]], name: str) -> str:
    values = query.get(name) or [""]
    return values[0]


def _json_body(body: bytes) -> dict[str, Any]:
    if not body.strip():
        return {}
    try:
        payload = json.loads(body)
    except ValueError as exc:
        raise ControlError("body is not JSON") from exc
    if not isinstance(payload, dict):
        raise ControlError("body must be a JSON object")
    return payload


def _float(value: Any, name: str) -> float:
    try:
        return float(value)
    except (TypeError, ValueError) as exc:
        raise ControlError(f"{name} must be a number") from exc


def _int(value: Any, name: str) -> int:
    try:
        return int(value)
    except (TypeError, ValueError) as exc:
        raise ControlError(f"{name} must be an integer") from exc


class PaynowEmulator:
    """An emulated Paynow on loopback, in a background thread.

    >>> with PaynowEmulator(integration_id="1", integration_key="k", auth_email="m@x") as pn:
    ...     sdk = PaynowSDK("1", "k", remote_url=pn.remote_url)
    """

    def __init__(
        self,
        *,
        integration_id: str,
        integration_key: str,
        auth_email: str,
        time_scale: float = 1.0,
        mode: str = "test",
        host: str = "127.0.0.1",
        port: int = 0,
        delivery_attempts: int = 10,
        public_url: str | None = None,
        verbose: bool = False,
    ) -> None:
        self.state = PaynowState(
            time_scale=time_scale, mode=mode, delivery_attempts=delivery_attempts
        )
        self.state.add_integration(integration_id, integration_key, auth_email)
        self._host = host
        self._port = port
        self._public_url = public_url.rstrip("/") if public_url else None
        self._verbose = verbose
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    def add_integration(self, integration_id: str, integration_key: str, auth_email: str) -> None:
        """Another id/key pair (Paynow has one per currency)."""
        self.state.add_integration(integration_id, integration_key, auth_email)

    def bind(self) -> None:
        """Open the listening socket (so base_url is known) without serving yet."""
        if self._server is not None:
            return
        server = _Server((self._host, self._port), PaynowHandler)
        server.state = self.state
        server.verbose = self._verbose
        self._server = server
        host, port = server.server_address[:2]
        self.state.base_url = self._public_url or f"http://{host}:{port}"

    def start(self) -> PaynowEmulator:
        self.bind()
        assert self._server is not None
        self.state.start()
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.02},
            name="paynow-emulator",
            daemon=True,
        )
        self._thread.start()
        return self

    def serve_forever(self) -> None:
        """Serve in the calling thread (the CLI)."""
        self.bind()
        assert self._server is not None
        self.state.start()
        try:
            self._server.serve_forever(poll_interval=0.5)
        finally:
            self.stop()

    def stop(self) -> None:
        self.state.stop()
        server, self._server = self._server, None
        if server is not None:
            if self._thread is not None:
                server.shutdown()
                self._thread.join(timeout=5)
                self._thread = None
            server.server_close()

    def __enter__(self) -> PaynowEmulator:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def base_url(self) -> str:
        return self.state.base_url

    @property
    def remote_url(self) -> str:
        return f"{self.base_url}/interface/remotetransaction"

    @property
    def initiate_url(self) -> str:
        return f"{self.base_url}/interface/initiatetransaction"

    @property
    def trace_url(self) -> str:
        return f"{self.base_url}/interface/trace"

    @property
    def control_url(self) -> str:
        return f"{self.base_url}/_control"
