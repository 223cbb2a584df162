"""Helpers for tests that drive the emulator: a control-API client and a tiny webhook recorder
that can stand in for our backend.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx


class ControlClient:
    """Thin wrapper over `/_control/`; every method returns the decoded JSON answer."""

    def __init__(self, base_url: str, *, timeout: float = 30.0) -> None:
        self.http = httpx.Client(base_url=base_url.rstrip("/") + "/_control", timeout=timeout)

    def close(self) -> None:
        self.http.close()

    def __enter__(self) -> ControlClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _post(self, path: str, body: dict | None = None, *, expect: int | None = 200) -> Any:
        response = self.http.post(path, json=body or {})
        if expect is not None and response.status_code != expect:
            raise AssertionError(f"POST {path} -> {response.status_code}: {response.text}")
        return response.json()

    def _get(self, path: str, *, expect: int | None = 200, **params: Any) -> Any:
        params = {k: v for k, v in params.items() if v is not None}
        response = self.http.get(path, params=params)
        if expect is not None and response.status_code != expect:
            raise AssertionError(f"GET {path} -> {response.status_code}: {response.text}")
        return response.json()

    def send(self, wa_id: str, **message: Any) -> dict:
        return self._post(f"/users/{wa_id}/send", message)

    def send_text(self, wa_id: str, text: str, *, wait: bool = True, **extra: Any) -> dict:
        return self.send(wa_id, type="text", text=text, wait=wait, **extra)

    def tap(self, wa_id: str, **body: Any) -> dict:
        return self._post(f"/users/{wa_id}/tap", body)

    def conversation(self, wa_id: str, **params: Any) -> dict:
        return self._get(f"/users/{wa_id}/conversation", **params)

    def messages(
        self, *, to: str | None = None, since: int = 0, wait_for: int = 0, timeout: float = 10
    ) -> list[dict]:
        return self._get("/messages", to=to, since=since, wait_for=wait_for, timeout=timeout)[
            "messages"
        ]

    def wait_for_messages(self, count: int, *, to: str | None = None, timeout: float = 10) -> list:
        answer = self._get("/messages", to=to, wait_for=count, timeout=timeout)
        if answer["timed_out"]:
            raise AssertionError(f"expected {count} outbound messages, got {answer['messages']}")
        return answer["messages"]

    def message(self, wamid: str, **params: Any) -> dict:
        return self._get(f"/messages/{wamid}", **params)

    def deliveries(self, **params: Any) -> dict:
        return self._get("/deliveries", **params)

    def faults(self, **faults: Any) -> dict:
        return self._post("/faults", faults)

    def config(self, **config: Any) -> dict:
        return self._post("/config", config)

    def reset(self, *, flows: bool = False) -> dict:
        return self._post("/reset", {"flows": flows})

    def age_window(self, wa_id: str, hours: float = 25) -> dict:
        return self._post(f"/users/{wa_id}/age-window", {"hours": hours})

    def put_flow(self, **flow: Any) -> dict:
        return self._post("/flows", flow)

    def set_public_key(self, pem: str) -> dict:
        return self._post("/encryption", {"business_public_key": pem})

    def open_flow(self, wa_id: str, wamid: str | None = None, *, expect: int | None = 200) -> dict:
        return self._post(f"/users/{wa_id}/flows/open", {"wamid": wamid}, expect=expect)

    def submit(self, session: str, form: dict | None = None, *, expect: int | None = 200) -> dict:
        return self._post(f"/flow-sessions/{session}/submit", {"form": form or {}}, expect=expect)

    def flow_session(self, session: str) -> dict:
        return self._get(f"/flow-sessions/{session}")

    def ping_flow(self, flow_id: str, *, expect: int | None = 200) -> dict:
        return self._post(f"/flows/{flow_id}/ping", expect=expect)


@dataclass
class ReceivedRequest:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    at: float

    def json(self) -> Any:
        return json.loads(self.body)


class WebhookRecorder:
    """An HTTP server on loopback that records every request and answers as told.

    `responses` is a list of status codes used first-come (then `default_status`); or set
    `handler(request) -> (status, body bytes, content type)` for full control.
    """

    def __init__(self, host: str = "127.0.0.1") -> None:
        self.requests: list[ReceivedRequest] = []
        self.responses: list[int] = []
        self.default_status = 200
        self.handler: Callable[[ReceivedRequest], tuple[int, bytes, str]] | None = None
        self.cond = threading.Condition()
        recorder = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                received = ReceivedRequest(
                    method=self.command,
                    path=self.path,
                    headers={k.lower(): v for k, v in self.headers.items()},
                    body=self.rfile.read(length) if length else b"",
                    at=time.time(),
                )
                status, body, content_type = recorder._answer(received)
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_GET = do_POST = _handle

            def log_message(self, format: str, *args: object) -> None:
                return

        self.server = ThreadingHTTPServer((host, 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self.thread.start()

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}/webhook"

    def _answer(self, received: ReceivedRequest) -> tuple[int, bytes, str]:
        with self.cond:
            self.requests.append(received)
            handler = self.handler
            status = self.responses.pop(0) if self.responses else self.default_status
            self.cond.notify_all()
        if handler is not None:
            return handler(received)
        return status, b"OK" if status == 200 else b"nope", "text/plain"

    def wait_for(self, count: int, timeout: float = 10.0, predicate=None) -> list[ReceivedRequest]:
        deadline = time.monotonic() + timeout

        def matching() -> list[ReceivedRequest]:
            return [r for r in self.requests if predicate is None or predicate(r)]

        with self.cond:
            while len(matching()) < count:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise AssertionError(f"expected {count} requests, got {len(matching())}")
                self.cond.wait(remaining)
            return matching()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def webhook_messages(request: ReceivedRequest) -> list[dict]:
    value = request.json()["entry"][0]["changes"][0]["value"]
    return value.get("messages", [])


def webhook_statuses(request: ReceivedRequest) -> list[dict]:
    value = request.json()["entry"][0]["changes"][0]["value"]
    return value.get("statuses", [])
