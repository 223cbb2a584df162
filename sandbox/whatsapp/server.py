"""The WhatsApp Cloud API emulator: one HTTP server on loopback with the Graph routes our backend
calls, the `/_control/` routes tests drive, signed webhooks out, and the Flows client.

Embed it in tests with `WhatsAppEmulator(...).start()` or as a context manager.
"""

from __future__ import annotations

import base64
import binascii
import logging
import re
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

from sandbox.whatsapp import control, graph, phone_routes
from sandbox.whatsapp.errors import GraphApiError, invalid_parameter
from sandbox.whatsapp.flows_client import FlowsClient, FlowSession
from sandbox.whatsapp.inbound import build_message
from sandbox.whatsapp.limits import MarkRead, OutboundMessage, validate_request
from sandbox.whatsapp.media import MediaError, MediaFile, MediaStore
from sandbox.whatsapp.store import Config, MessageRecord, Store, User, new_wamid
from sandbox.whatsapp.webhooks import Scheduler, WebhookDispatcher
from sandbox.whatsapp.wire import Request, Response, json_response

logger = logging.getLogger("sandbox.whatsapp")

DEFAULT_DISPLAY_PHONE_NUMBER = "263770000000"
DEFAULT_API_VERSION = "v23.0"
DEFAULT_BUSINESS_NAME = "Kalai Safaris"
WA_ID_RE = re.compile(r"^\d{6,15}$")

Route = tuple[str, re.Pattern[str], Callable[..., Response]]


class ControlError(Exception):
    """A control request that cannot be carried out; answered as `{"error": ...}`."""

    def __init__(self, message: str, *, status: int = 400, kind: str = "bad_request") -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.kind = kind


class WhatsAppEmulator:
    """Meta's side of the WhatsApp Cloud API for one business phone number."""

    def __init__(
        self,
        *,
        app_secret: str,
        access_token: str,
        phone_number_id: str,
        waba_id: str,
        webhook_url: str | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        display_phone_number: str = DEFAULT_DISPLAY_PHONE_NUMBER,
        api_version: str = DEFAULT_API_VERSION,
        status_delay: float | None = 0.2,
        retry_base_delay: float = 1.0,
        max_attempts: int = 8,
        window_enforcement: str = "sync",
        paynow_url: str | None = None,
        business_name: str = DEFAULT_BUSINESS_NAME,
    ) -> None:
        self.app_secret = app_secret
        self.access_token = access_token
        self.phone_number_id = str(phone_number_id)
        self.waba_id = str(waba_id)
        self.display_phone_number = display_phone_number
        self.api_version = api_version
        self.host = host
        self.port = port
        # Where the phone page finds Paynow's control API (its mobile-money prompts); optional.
        self.paynow_url = paynow_url.rstrip("/") if paynow_url else None
        self.paynow_mode_cache: tuple[str | None, float, str] | None = None
        self.business_name = business_name  # the chat's title and the payee in Paynow prompts
        self.store = Store(
            Config(
                webhook_url=webhook_url,
                status_delay=status_delay,
                retry_base_delay=retry_base_delay,
                max_attempts=max_attempts,
                window_enforcement=window_enforcement,
            )
        )
        self.media = MediaStore()
        self.dispatcher = WebhookDispatcher(
            self.store,
            app_secret=app_secret,
            waba_id=self.waba_id,
            phone_number_id=self.phone_number_id,
            display_phone_number=display_phone_number,
        )
        self.flows = FlowsClient(
            self.store,
            app_secret=app_secret,
            phone_number_id=self.phone_number_id,
            on_complete=self._flow_completed,
        )
        self.scheduler: Scheduler | None = None
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.routes: list[Route] = control.routes() + phone_routes.routes() + graph.routes()

    # -- lifecycle ------------------------------------------------------------------------
    def start(self) -> WhatsAppEmulator:
        handler = type("Handler", (_Handler,), {"emulator": self})
        self._server = ThreadingHTTPServer((self.host, self.port), handler)
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        self.scheduler = Scheduler()
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="wa-emulator-http",
            daemon=True,
        )
        self._thread.start()
        logger.info("WhatsApp emulator listening on %s", self.base_url)
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self.scheduler is not None:
            self.scheduler.stop()
            self.scheduler = None
        self.dispatcher.stop()
        self.store.changed()

    def serve_forever(self) -> None:
        if self._server is None:
            self.start()
        assert self._thread is not None
        try:
            while self._thread.is_alive():
                self._thread.join(0.5)
        except KeyboardInterrupt:
            pass
        finally:
            self.stop()

    def __enter__(self) -> WhatsAppEmulator:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def base_url(self) -> str:
        """What our app stores as `graph_base_url` (the version goes after it)."""
        return f"http://{self.host}:{self.port}"

    @property
    def graph_url(self) -> str:
        return f"{self.base_url}/{self.api_version}"

    @property
    def control_url(self) -> str:
        return f"{self.base_url}/_control"

    @property
    def webhook_url(self) -> str | None:
        return self.store.config.webhook_url

    @webhook_url.setter
    def webhook_url(self, value: str | None) -> None:
        self.store.config.webhook_url = value

    @property
    def config(self) -> Config:
        return self.store.config

    def reset(self, *, flows: bool = False) -> None:
        if self.scheduler is not None:
            self.scheduler.clear()
        self.dispatcher.reset()
        self.store.reset(flows=flows)
        self.media.clear()

    # -- users write to the business ------------------------------------------------------
    def user_sends(
        self,
        wa_id: str,
        spec: dict,
        *,
        name: str | None = None,
        context_wamid: str | None = None,
    ) -> tuple[MessageRecord, dict]:
        """A user sends a message: it is stored, opens the 24 h window and goes out as webhook.

        ``wa_id`` is the user's handle: a phone number (the user is created on first use), or
        the BSUID of a username user created with ``POST /_control/users``.
        """
        user = self._sender(wa_id, name)
        wamid = new_wamid(user.wa_id or user.user_id)
        timestamp = int(time.time())
        context = (
            {"from": self.display_phone_number, "id": context_wamid} if context_wamid else None
        )
        media = self._media_for(spec)
        message = build_message(
            spec,
            sender=user.sender_fields(),
            wamid=wamid,
            timestamp=timestamp,
            context=context,
            media=media.webhook_fields() if media else None,
        )
        record = MessageRecord(
            seq=self.store.next_seq(),
            wamid=wamid,
            direction="in",
            wa_id=user.handle,
            type=message["type"],
            payload=message,
            timestamp=timestamp,
            status="queued",
            context_id=context_wamid,
            media=media.describe() if media else None,
        )
        with self.store.cond:
            user.last_inbound_at = time.time()
            self.store.add_message(record)
        envelope = self.dispatcher.message_envelope(user=user, message=message)
        event = self.dispatcher.enqueue(
            wa_id=user.handle, kind="message", envelope=envelope, wamid=wamid
        )
        return record, event

    def _sender(self, handle: str, name: str | None) -> User:
        if WA_ID_RE.match(handle):
            return self.store.user(handle, name)
        user = self.store.find_user(handle)
        if user is None:
            raise ControlError(
                f"{handle!r} is neither a phone number (6 to 15 digits) nor a known user "
                "(create a username user with POST /_control/users)",
                status=404,
                kind="not_found",
            )
        if name:
            user.name = name
        return user

    def _media_for(self, spec: dict) -> MediaFile | None:
        kind = spec.get("type")
        if kind not in ("image", "document"):
            return None
        data = spec.get("data")
        content = None
        if data is not None:
            try:
                content = base64.b64decode(str(data), validate=True)
            except (binascii.Error, ValueError) as exc:
                raise ControlError(f"'data' must be base64: {exc}") from exc
        try:
            return self.media.add(
                kind,
                content=content,
                mime_type=str(spec.get("mime_type") or ""),
                filename=str(spec.get("filename") or ""),
            )
        except MediaError as exc:
            raise ControlError(str(exc)) from exc

    def tap(
        self,
        wa_id: str,
        *,
        wamid: str | None = None,
        button_id: str | None = None,
        row_id: str | None = None,
    ) -> tuple[MessageRecord, dict]:
        """The user taps a reply button or picks a list row of one of the bot's messages."""
        message = self._find_interactive(wa_id, wamid, ("button", "list"))
        interactive = message.payload["interactive"]
        action = interactive.get("action") or {}
        if interactive["type"] == "button":
            if button_id is None:
                raise ControlError("button_id is required to tap a reply button")
            for button in action.get("buttons", []):
                reply = button.get("reply") or {}
                if reply.get("id") == button_id:
                    spec = {"type": "button_reply", "id": button_id, "title": reply.get("title")}
                    return self.user_sends(wa_id, spec, context_wamid=message.wamid)
            raise ControlError(f"no button {button_id!r} on {message.wamid}", status=404)
        if row_id is None:
            raise ControlError("row_id is required to pick a list row")
        for section in action.get("sections", []):
            for row in section.get("rows", []):
                if row.get("id") == row_id:
                    spec = {
                        "type": "list_reply",
                        "id": row_id,
                        "title": row.get("title"),
                        "description": row.get("description"),
                    }
                    return self.user_sends(wa_id, spec, context_wamid=message.wamid)
        raise ControlError(f"no row {row_id!r} on {message.wamid}", status=404)

    def _find_interactive(
        self, wa_id: str, wamid: str | None, kinds: tuple[str, ...]
    ) -> MessageRecord:
        with self.store.cond:
            if wamid:
                message = self.store.by_wamid.get(wamid)
                if message is None or message.direction != "out" or message.wa_id != wa_id:
                    raise ControlError(
                        f"no message {wamid} sent to {wa_id}", status=404, kind="not_found"
                    )
                if message.interactive_type not in kinds:
                    raise ControlError(f"{wamid} is not an interactive {'/'.join(kinds)}")
                return message
            for message in reversed(self.store.outbound(to=wa_id)):
                if message.interactive_type in kinds:
                    return message
        raise ControlError(
            f"no interactive {'/'.join(kinds)} message sent to {wa_id}",
            status=404,
            kind="not_found",
        )

    def open_flow(self, wa_id: str, wamid: str | None) -> FlowSession:
        message = self._find_interactive(wa_id, wamid, ("flow",))
        return self.flows.open(wa_id=wa_id, message=message)

    def _flow_completed(self, session: FlowSession, response_json: dict) -> MessageRecord:
        record, _ = self.user_sends(
            session.wa_id,
            {"type": "nfm_reply", "response_json": response_json},
            context_wamid=session.wamid,
        )
        return record

    # -- the business writes to users (Graph `messages`) ----------------------------------
    def accept_outbound(self, body: dict) -> dict:
        """Validate and store one `messages` request; schedules the status webhooks."""
        request = validate_request(body)
        if isinstance(request, MarkRead):
            with self.store.cond:
                record = self.store.by_wamid.get(request.message_id)
                if record is None or record.direction != "in":
                    raise invalid_parameter(
                        f"Param message_id '{request.message_id}' is not a received message."
                    )
                record.read_by_business = True
                self.store.cond.notify_all()
            return {"success": True}

        with self.store.cond:
            faults = self.store.faults
            fault: GraphApiError | None = None
            if faults.server_error > 0:
                faults.server_error -= 1
                fault = graph.server_error()
            elif faults.rate_limit > 0:
                faults.rate_limit -= 1
                fault = graph.throughput_limit()
            elif faults.pair_rate_limit > 0:
                faults.pair_rate_limit -= 1
                fault = graph.pair_rate_limit()
            if fault is not None:
                raise fault
            config = self.store.config
            if config.require_known_flows and request.type == "interactive":
                graph.check_flow_known(self, body)
            user = self._recipient(request)
            window_closed = not request.is_template and not user.window_open(time.time())
            failure: dict | None = None
            if window_closed and config.window_enforcement == "sync":
                raise graph.reengagement_window()
            if window_closed and config.window_enforcement == "status":
                failure = graph.status_error_reengagement()
            elif faults.undeliverable > 0:
                faults.undeliverable -= 1
                failure = graph.status_error_undeliverable()
            record = MessageRecord(
                seq=self.store.next_seq(),
                wamid=new_wamid(user.wa_id or user.user_id),
                direction="out",
                wa_id=user.handle,
                type=request.type,
                payload=body,
                timestamp=int(time.time()),
                status="accepted",
                context_id=(body.get("context") or {}).get("message_id"),
            )
            self.store.add_message(record)
        self._schedule_statuses(record, failure)
        # Meta's BSUID page: a send to a phone number answers its wa_id, one to a BSUID the
        # user_id (and no wa_id).
        if request.wa_id:
            contact = {"input": request.to, "wa_id": request.wa_id}
        else:
            contact = {"input": request.recipient, "user_id": user.user_id}
        return {
            "messaging_product": "whatsapp",
            "contacts": [contact],
            "messages": [{"id": record.wamid}],
        }

    def _recipient(self, request: OutboundMessage) -> User:
        """Who a send reaches: `to` (a phone number) wins over `recipient` (a BSUID)."""
        if request.wa_id:
            return self.store.user(request.wa_id)
        user = self.store.find_user(request.recipient or "")
        if user is None or user.user_id != request.recipient:
            raise invalid_parameter(
                f"Param recipient '{request.recipient}' is not a user of this business."
            )
        return user

    def _schedule_statuses(self, record: MessageRecord, failure: dict | None) -> None:
        delay = self.store.config.status_delay
        if delay is None or delay < 0 or self.scheduler is None:
            if failure is not None:
                self.store.set_status(record.wamid, "failed", int(time.time()), [failure])
            return
        steps = ["failed"] if failure else ["sent", "delivered"]
        if not failure and self.store.config.auto_read:
            steps.append("read")
        for index, status in enumerate(steps, start=1):
            self.scheduler.call_later(
                delay * index,
                lambda status=status: self._emit_status(record, status, failure),
            )

    def _emit_status(self, record: MessageRecord, status: str, failure: dict | None) -> None:
        timestamp = int(time.time())
        errors = [failure] if failure else None
        self.store.set_status(record.wamid, status, timestamp, errors)
        user = self.store.find_user(record.wa_id)
        self.dispatcher.enqueue(
            wa_id=record.wa_id,
            kind="status",
            envelope=self.dispatcher.status_envelope(
                graph.status_object(record, status, timestamp, errors, user=user),
                user=None if failure else user,
            ),
            wamid=record.wamid,
            status=status,
        )

    # -- HTTP dispatch --------------------------------------------------------------------
    def handle(self, request: Request) -> Response:
        for method, pattern, handler in self.routes:
            match = pattern.fullmatch(request.path)
            if match and method == request.method:
                try:
                    return handler(self, request, **match.groupdict())
                except GraphApiError as exc:
                    return json_response(exc.to_body(), exc.http_status)
                except ControlError as exc:
                    return json_response({"error": exc.message, "kind": exc.kind}, exc.status)
        if request.path.startswith("/_control/"):
            return json_response({"error": "no such control route", "kind": "not_found"}, 404)
        error = GraphApiError(
            100,
            "Unknown path components: " + request.path,
            error_type="OAuthException",
            http_status=400,
        )
        return json_response(error.to_body(), error.http_status)


class _Handler(BaseHTTPRequestHandler):
    emulator: WhatsAppEmulator
    protocol_version = "HTTP/1.1"
    server_version = "WhatsAppEmulator/1.0"
    # Headers and body go out in separate writes: without TCP_NODELAY every answer on a kept-alive
    # connection waits ~40 ms for the client's delayed ACK (Nagle), which Meta's servers do not.
    disable_nagle_algorithm = True

    def _handle(self) -> None:
        split = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        query = {k: v[-1] for k, v in parse_qs(split.query, keep_blank_values=True).items()}
        request = Request(
            method=self.command,
            path=split.path.rstrip("/") or "/",
            query=query,
            headers={k.lower(): v for k, v in self.headers.items()},
            body=body,
        )
        try:
            response = self.emulator.handle(request)
        except Exception as exc:  # an emulator bug must answer, not hang the client
            logger.exception("emulator error on %s %s", self.command, self.path)
            response = json_response({"error": f"emulator error: {exc!r}", "kind": "bug"}, 500)
        payload = response.encoded()
        self.send_response(response.status)
        self.send_header("Content-Type", response.content_type)
        self.send_header("Content-Length", str(len(payload)))
        for name, value in response.headers.items():
            self.send_header(name, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(payload)

    do_GET = do_POST = do_DELETE = do_PUT = _handle

    def log_message(self, format: str, *args: object) -> None:
        logger.debug("%s - %s", self.address_string(), format % args)
