"""Signed webhook delivery to our backend, as Meta does it: one queue per user (in order),
retries with exponential backoff on anything but HTTP 200, optional duplicate deliveries, and a
record of every attempt.
"""

from __future__ import annotations

import heapq
import itertools
import json
import logging
import queue
import secrets
import threading
import time
from collections.abc import Callable

import httpx

from sandbox.whatsapp.crypto import (
    LEGACY_SIGNATURE_HEADER,
    SIGNATURE_HEADER,
    sign,
    sign_legacy,
)
from sandbox.whatsapp.store import Store, User

logger = logging.getLogger("sandbox.whatsapp.webhooks")

USER_AGENT = "facebookexternalua"
MAX_BACKOFF_SECONDS = 60.0
IDLE_WORKER_SECONDS = 30.0


class Scheduler:
    """Runs callables at a later monotonic time on one background thread."""

    def __init__(self) -> None:
        self._heap: list[tuple[float, int, Callable[[], None]]] = []
        self._counter = itertools.count()
        self._cond = threading.Condition()
        self._stopped = False
        self._thread = threading.Thread(target=self._run, name="wa-emulator-scheduler", daemon=True)
        self._thread.start()

    def call_later(self, delay: float, fn: Callable[[], None]) -> None:
        with self._cond:
            heapq.heappush(self._heap, (time.monotonic() + delay, next(self._counter), fn))
            self._cond.notify()

    def clear(self) -> None:
        with self._cond:
            self._heap.clear()

    def stop(self) -> None:
        with self._cond:
            self._stopped = True
            self._heap.clear()
            self._cond.notify()
        self._thread.join(timeout=5)

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._stopped and (not self._heap or self._heap[0][0] > time.monotonic()):
                    timeout = self._heap[0][0] - time.monotonic() if self._heap else None
                    self._cond.wait(timeout)
                if self._stopped:
                    return
                _, _, fn = heapq.heappop(self._heap)
            try:
                fn()
            except Exception:  # a failing job must not kill the scheduler
                logger.exception("scheduled job failed")


class WebhookDispatcher:
    def __init__(
        self,
        store: Store,
        *,
        app_secret: str,
        waba_id: str,
        phone_number_id: str,
        display_phone_number: str,
    ) -> None:
        self.store = store
        self.app_secret = app_secret
        self.waba_id = waba_id
        self.phone_number_id = phone_number_id
        self.display_phone_number = display_phone_number
        self._event_ids = itertools.count(1)
        self._lock = threading.Lock()
        self._queues: dict[str, queue.Queue] = {}
        self._stop = threading.Event()
        # Bumped by reset(): events queued before a reset are dropped, not delivered.
        self._generation = 0

    # -- envelopes ------------------------------------------------------------------------
    def _envelope(self, value: dict) -> dict:
        return {
            "object": "whatsapp_business_account",
            "entry": [
                {
                    "id": self.waba_id,
                    "changes": [
                        {
                            "field": "messages",
                            "value": {
                                "messaging_product": "whatsapp",
                                "metadata": {
                                    "display_phone_number": self.display_phone_number,
                                    "phone_number_id": self.phone_number_id,
                                },
                                **value,
                            },
                        }
                    ],
                }
            ],
        }

    def message_envelope(self, *, user: User, message: dict) -> dict:
        return self._envelope({"contacts": [user.webhook_contact()], "messages": [message]})

    def status_envelope(self, status: dict, *, user: User | None = None) -> dict:
        """A status webhook; ``contacts`` with it for sent/delivered/read (not for failed), as
        pywa's status fixtures show them."""
        value: dict = {}
        if user is not None:
            value["contacts"] = [user.webhook_contact()]
        value["statuses"] = [status]
        return self._envelope(value)

    # -- queueing -------------------------------------------------------------------------
    def enqueue(
        self, *, wa_id: str, kind: str, envelope: dict, wamid: str, status: str | None = None
    ) -> dict:
        with self.store.cond:
            faults = self.store.faults
            copies = 1
            if faults.duplicate_webhooks > 0:
                faults.duplicate_webhooks -= 1
                copies = max(1, faults.duplicate_times)
        event = {
            "event": next(self._event_ids),
            "kind": kind,
            "wa_id": wa_id,
            "wamid": wamid,
            "status": status,
            "state": "queued",
            "attempts": 0,
            "status_code": None,
            "copies": copies,
            "body": envelope,
        }
        self.store.record_event(event)
        with self._lock:
            if self._stop.is_set():
                return event
            user_queue = self._queues.get(wa_id)
            if user_queue is None:
                user_queue = queue.Queue()
                self._queues[wa_id] = user_queue
                threading.Thread(
                    target=self._worker,
                    args=(wa_id, user_queue),
                    name=f"wa-emulator-webhooks-{wa_id}",
                    daemon=True,
                ).start()
            user_queue.put((self._generation, event))
        return event

    def wait_for(self, event: dict, timeout: float) -> bool:
        return self.store.wait_until(lambda: event["state"] in ("delivered", "failed"), timeout)

    def reset(self) -> None:
        with self._lock:
            self._generation += 1

    def stop(self) -> None:
        self._stop.set()
        with self._lock:
            for user_queue in self._queues.values():
                user_queue.put(None)
            self._queues.clear()

    # -- delivery -------------------------------------------------------------------------
    def _worker(self, wa_id: str, user_queue: queue.Queue) -> None:
        with httpx.Client(headers={"User-Agent": USER_AGENT}) as client:
            while not self._stop.is_set():
                try:
                    item = user_queue.get(timeout=IDLE_WORKER_SECONDS)
                except queue.Empty:
                    with self._lock:
                        if user_queue.empty():
                            self._queues.pop(wa_id, None)
                            return
                    continue
                if item is None:
                    return
                generation, event = item
                if generation != self._generation:
                    self._finish(event, "failed", None)
                    continue
                self._deliver(client, event)

    def _deliver(self, client: httpx.Client, event: dict) -> None:
        raw = json.dumps(event["body"], separators=(",", ":")).encode("utf-8")
        headers = {
            "Content-Type": "application/json",
            SIGNATURE_HEADER: sign(self.app_secret, raw),
            LEGACY_SIGNATURE_HEADER: sign_legacy(self.app_secret, raw),
        }
        first_state: str | None = None
        first_code: int | None = None
        for copy in range(1, event["copies"] + 1):
            state, code = self._deliver_copy(client, event, raw, headers, copy)
            if first_state is None:
                first_state, first_code = state, code
            if self._stop.is_set():
                break
        self._finish(event, first_state or "failed", first_code)

    def _deliver_copy(
        self, client: httpx.Client, event: dict, raw: bytes, headers: dict, copy: int
    ) -> tuple[str, int | None]:
        config = self.store.config
        attempt = 0
        status_code: int | None = None
        while attempt < max(1, config.max_attempts):
            attempt += 1
            url = config.webhook_url
            status_code, error = None, None
            if not url:
                error = "no webhook_url configured"
            else:
                try:
                    response = client.post(
                        url, content=raw, headers=headers, timeout=config.webhook_timeout
                    )
                    status_code = response.status_code
                except httpx.HTTPError as exc:
                    error = f"{type(exc).__name__}: {exc}"
            with self.store.cond:
                event["attempts"] += 1
                event["status_code"] = status_code
            self.store.record_delivery(
                {
                    "event": event["event"],
                    "kind": event["kind"],
                    "wa_id": event["wa_id"],
                    "wamid": event["wamid"],
                    "status": event["status"],
                    "copy": copy,
                    "attempt": attempt,
                    "url": url,
                    "status_code": status_code,
                    "error": error,
                    "at": time.time(),
                }
            )
            if status_code == 200:
                return "delivered", status_code
            if attempt >= config.max_attempts:
                break
            delay = min(MAX_BACKOFF_SECONDS, config.retry_base_delay * 2 ** (attempt - 1))
            if self._stop.wait(delay):
                break
        logger.warning(
            "webhook event %s (%s) gave up after %s attempts",
            event["event"],
            event["kind"],
            attempt,
        )
        return "failed", status_code

    def _finish(self, event: dict, state: str, status_code: int | None) -> None:
        with self.store.cond:
            event["state"] = state
            if status_code is not None:
                event["status_code"] = status_code
            if event["kind"] == "message":
                record = self.store.by_wamid.get(event["wamid"])
                if record is not None:
                    record.status = state
            self.store.cond.notify_all()

    # -- verification handshake -----------------------------------------------------------
    def verify_subscription(self, verify_token: str) -> dict:
        """Play Meta's `GET` subscription check against the webhook URL."""
        url = self.store.config.webhook_url
        if not url:
            return {"ok": False, "error": "no webhook_url configured"}
        challenge = str(secrets.randbelow(10**9))
        params = {
            "hub.mode": "subscribe",
            "hub.verify_token": verify_token,
            "hub.challenge": challenge,
        }
        try:
            response = httpx.get(url, params=params, timeout=self.store.config.webhook_timeout)
        except httpx.HTTPError as exc:
            return {"ok": False, "error": f"{type(exc).__name__}: {exc}"}
        return {
            "ok": response.status_code == 200 and response.text == challenge,
            "status_code": response.status_code,
            "challenge": challenge,
            "body": response.text[:200],
        }
