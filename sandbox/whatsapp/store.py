"""What the emulated Meta remembers: users, the conversation in both directions, flows, keys,
faults, webhook deliveries. One lock and one condition, so control calls can long-poll.

Every record turns into plain JSON with `to_dict()`, which is what the control API (and a later
browser "phone" page) serves.
"""

from __future__ import annotations

import base64
import hashlib
import itertools
import json
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

WINDOW_SECONDS = 24 * 60 * 60
OUTBOUND_STATUS_ORDER = ("accepted", "sent", "delivered", "read")


def new_wamid(wa_id: str) -> str:
    """An opaque id shaped like Meta's (`wamid.` + base64 of a small binary blob)."""
    blob = (
        b"\x18\x0c"
        + wa_id.encode("ascii", "ignore")[:15]
        + b"\x15\x02\x00\x12\x18\x14"
        + secrets.token_hex(10).upper().encode("ascii")
        + b"\x00"
    )
    return "wamid." + base64.b64encode(blob).decode("ascii")


@dataclass
class Config:
    webhook_url: str | None = None
    # Seconds between accepting a message and each of sent/delivered/read; None disables.
    status_delay: float | None = 0.2
    auto_read: bool = True
    flow_endpoint_override: str | None = None
    retry_base_delay: float = 1.0
    max_attempts: int = 8
    webhook_timeout: float = 10.0
    # "sync": answer 131047 at once; "status": accept, then a `failed` status webhook (what the
    # live Cloud API does); "off": no 24-hour window.
    window_enforcement: str = "sync"
    require_known_flows: bool = False

    def to_dict(self) -> dict:
        return {
            "webhook_url": self.webhook_url,
            "status_delay": self.status_delay,
            "auto_read": self.auto_read,
            "flow_endpoint_override": self.flow_endpoint_override,
            "retry_base_delay": self.retry_base_delay,
            "max_attempts": self.max_attempts,
            "webhook_timeout": self.webhook_timeout,
            "window_enforcement": self.window_enforcement,
            "require_known_flows": self.require_known_flows,
        }


@dataclass
class Faults:
    rate_limit: int = 0
    pair_rate_limit: int = 0
    server_error: int = 0
    undeliverable: int = 0
    duplicate_webhooks: int = 0
    duplicate_times: int = 2

    def to_dict(self) -> dict:
        return dict(self.__dict__)


def bsuid_for(seed: str, *, country: str = "ZW") -> str:
    """A business-scoped user ID shaped as Meta's page describes it (country code, a dot,
    digits), stable for the same seed so a username user keeps theirs across sessions."""
    digits = str(int(hashlib.sha256(seed.encode()).hexdigest(), 16))[:19]
    return f"{country}.{digits}"


@dataclass
class User:
    """One WhatsApp user. ``handle`` names them in the control API and in every record: their
    phone number (wa_id), or, for a username user whose number Meta withholds, their BSUID."""

    handle: str
    name: str
    user_id: str  # the BSUID: in every messages webhook since April 2026 (Meta's BSUID page)
    wa_id: str | None  # None: the user chose a username and Meta does not share the number
    username: str = ""
    last_inbound_at: float | None = None
    # A username user's own SIM number (only their phone page knows it: Paynow prompts go
    # there); never in a webhook.
    private_phone: str | None = None

    @property
    def phone_hidden(self) -> bool:
        return self.wa_id is None

    def window_open(self, now: float) -> bool:
        return self.last_inbound_at is not None and now - self.last_inbound_at < WINDOW_SECONDS

    def webhook_contact(self) -> dict:
        """The ``contacts[]`` entry of a messages webhook (wa_id omitted when hidden)."""
        profile: dict = {"name": self.name}
        if self.username:
            profile["username"] = self.username
        contact: dict = {"profile": profile}
        if self.wa_id:
            contact["wa_id"] = self.wa_id
        contact["user_id"] = self.user_id
        return contact

    def sender_fields(self) -> dict:
        """``from`` (omitted when hidden) and ``from_user_id`` of a message they send."""
        fields: dict = {}
        if self.wa_id:
            fields["from"] = self.wa_id
        fields["from_user_id"] = self.user_id
        return fields

    def to_dict(self, now: float) -> dict:
        return {
            "handle": self.handle,
            "wa_id": self.wa_id,
            "user_id": self.user_id,
            "username": self.username,
            "name": self.name,
            "phone_hidden": self.phone_hidden,
            "private_phone": self.private_phone,
            "last_inbound_at": self.last_inbound_at,
            "window_open": self.window_open(now),
        }


@dataclass
class MessageRecord:
    seq: int
    wamid: str
    direction: str  # "in" (user -> business) or "out" (business -> user)
    wa_id: str  # the user's handle: their wa_id, or the BSUID of a username user
    type: str
    payload: dict  # out: the Graph request body; in: the webhook message object
    timestamp: int
    status: str  # out: accepted/sent/delivered/read/failed; in: queued/delivered/failed
    statuses: list[dict] = field(default_factory=list)
    errors: list[dict] = field(default_factory=list)
    context_id: str | None = None
    read_by_business: bool = False
    media: dict | None = None  # in: the file an image or document carried (id, type, size)

    @property
    def interactive_type(self) -> str | None:
        interactive = self.payload.get("interactive")
        return interactive.get("type") if isinstance(interactive, dict) else None

    def summary_text(self) -> str | None:
        """The text a person would see in the chat bubble."""
        payload = self.payload
        if self.type == "text":
            return (payload.get("text") or {}).get("body")
        if self.type == "interactive":
            interactive = payload.get("interactive") or {}
            if self.direction == "out":
                return (interactive.get("body") or {}).get("text")
            kind = interactive.get("type")
            reply = interactive.get(kind) or {}
            return reply.get("title") or reply.get("body")
        if self.type == "button":
            return (payload.get("button") or {}).get("text")
        if self.type in ("image", "video", "document"):
            content = payload.get(self.type) or {}
            return content.get("caption") or content.get("filename")
        if self.type == "reaction":
            return (payload.get("reaction") or {}).get("emoji")
        if self.type == "location":
            location = payload.get("location") or {}
            return location.get("name") or f"{location.get('latitude')},{location.get('longitude')}"
        if self.type == "template":
            return (payload.get("template") or {}).get("name")
        return None

    def to_dict(self) -> dict:
        data = {
            "seq": self.seq,
            "wamid": self.wamid,
            "direction": self.direction,
            "wa_id": self.wa_id,
            "type": self.type,
            "interactive_type": self.interactive_type,
            "text": self.summary_text(),
            "timestamp": self.timestamp,
            "status": self.status,
            "statuses": list(self.statuses),
            "errors": list(self.errors),
            "context_id": self.context_id,
            "payload": self.payload,
        }
        if self.direction == "out" and self.type in ("interactive", "template"):
            data[self.type] = self.payload.get(self.type)
        if self.direction == "in":
            data["read_by_business"] = self.read_by_business
            data["media"] = self.media
        return data


@dataclass
class FlowDefinition:
    id: str
    name: str
    flow_json: str
    endpoint_uri: str | None = None
    categories: list[str] = field(default_factory=list)
    status: str = "DRAFT"
    validation_errors: list[dict] = field(default_factory=list)

    def parsed(self) -> dict:
        return json.loads(self.flow_json)

    def screen(self, screen_id: str) -> dict | None:
        for screen in self.parsed().get("screens", []):
            if screen.get("id") == screen_id:
                return screen
        return None

    def to_graph(self) -> dict:
        try:
            parsed = self.parsed()
        except ValueError:
            parsed = {}
        return {
            "id": self.id,
            "name": self.name,
            "status": self.status,
            "categories": list(self.categories),
            "validation_errors": list(self.validation_errors),
            "json_version": parsed.get("version"),
            "data_api_version": parsed.get("data_api_version"),
            "endpoint_uri": self.endpoint_uri,
        }


class Store:
    """All state behind one condition variable; `wait_until` is the long-poll primitive."""

    def __init__(self, config: Config) -> None:
        self.config = config
        self.faults = Faults()
        self.cond = threading.Condition(threading.RLock())
        self._seq = itertools.count(1)
        self._flow_ids = itertools.count(int(time.time()) * 1000 % 10**15 + 10**15)
        self.users: dict[str, User] = {}
        self.messages: list[MessageRecord] = []
        self.by_wamid: dict[str, MessageRecord] = {}
        self.flows: dict[str, FlowDefinition] = {}
        self.business_public_keys: dict[str, str] = {}
        self.deliveries: list[dict] = []
        self.events: dict[int, dict] = {}
        self.flow_sessions: dict[str, Any] = {}

    # -- helpers --------------------------------------------------------------------------
    def changed(self) -> None:
        with self.cond:
            self.cond.notify_all()

    def wait_until(self, predicate: Callable[[], bool], timeout: float) -> bool:
        deadline = time.monotonic() + max(0.0, timeout)
        with self.cond:
            while not predicate():
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self.cond.wait(remaining)
            return True

    def next_seq(self) -> int:
        return next(self._seq)

    def new_flow_id(self) -> str:
        with self.cond:
            return str(next(self._flow_ids))

    def reset(self, *, flows: bool = False) -> None:
        with self.cond:
            self.faults = Faults()
            self.users.clear()
            self.messages.clear()
            self.by_wamid.clear()
            self.deliveries.clear()
            self.events.clear()
            self.flow_sessions.clear()
            if flows:
                self.flows.clear()
                self.business_public_keys.clear()
            self.cond.notify_all()

    # -- users and messages ---------------------------------------------------------------
    def user(self, wa_id: str, name: str | None = None) -> User:
        """The user with this phone number, created on first use (a BSUID of their own)."""
        with self.cond:
            user = self.users.get(wa_id)
            if user is None:
                country = "ZW" if wa_id.startswith("263") else "US"
                user = User(
                    handle=wa_id,
                    name=name or f"User {wa_id[-4:]}",
                    user_id=bsuid_for(wa_id, country=country),
                    wa_id=wa_id,
                )
                self.users[wa_id] = user
            elif name:
                user.name = name
            return user

    def username_user(
        self, username: str, name: str | None = None, *, private_phone: str | None = None
    ) -> User:
        """A user who adopted a username: known to businesses only by BSUID (and username)."""
        with self.cond:
            user_id = bsuid_for("username:" + username.lower())
            user = self.users.get(user_id)
            if user is None:
                user = User(
                    handle=user_id,
                    name=name or username,
                    user_id=user_id,
                    wa_id=None,
                    username=username,
                    private_phone=private_phone,
                )
                self.users[user_id] = user
            else:
                if name:
                    user.name = name
                if private_phone:
                    user.private_phone = private_phone
            return user

    def find_user(self, key: str) -> User | None:
        """By handle, phone number or BSUID."""
        with self.cond:
            user = self.users.get(key)
            if user is not None:
                return user
            return next((u for u in self.users.values() if key in (u.user_id, u.wa_id)), None)

    def add_message(self, record: MessageRecord) -> MessageRecord:
        with self.cond:
            self.messages.append(record)
            self.by_wamid[record.wamid] = record
            self.cond.notify_all()
            return record

    def set_status(
        self, wamid: str, status: str, timestamp: int, errors: list[dict] | None = None
    ) -> None:
        with self.cond:
            record = self.by_wamid.get(wamid)
            if record is None:
                return
            record.statuses.append({"status": status, "timestamp": timestamp})
            if status == "failed":
                record.status = "failed"
                record.errors = list(errors or [])
            elif record.status != "failed" and (
                record.status not in OUTBOUND_STATUS_ORDER
                or OUTBOUND_STATUS_ORDER.index(status) > OUTBOUND_STATUS_ORDER.index(record.status)
            ):
                record.status = status
            self.cond.notify_all()

    def outbound(self, *, to: str | None = None, since: int = 0) -> list[MessageRecord]:
        with self.cond:
            return [
                m
                for m in self.messages
                if m.direction == "out" and m.seq > since and (to is None or m.wa_id == to)
            ]

    def conversation(self, wa_id: str, since: int = 0) -> list[MessageRecord]:
        with self.cond:
            return [m for m in self.messages if m.wa_id == wa_id and m.seq > since]

    # -- webhook deliveries ---------------------------------------------------------------
    def record_event(self, event: dict) -> None:
        with self.cond:
            self.events[event["event"]] = event
            self.cond.notify_all()

    def record_delivery(self, delivery: dict) -> None:
        with self.cond:
            delivery["id"] = len(self.deliveries) + 1
            self.deliveries.append(delivery)
            self.cond.notify_all()
