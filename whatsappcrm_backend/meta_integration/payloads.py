"""Typed, immutable view of a WhatsApp Cloud API webhook body.

``parse_webhook`` reads the JSON once at the edge; the rest of the code works with these
dataclasses and never digs through nested dicts. Message types we do not handle are not errors
(``MessageKind.UNSUPPORTED``); a body that does not have Meta's shape is (``MalformedWebhook``).
"""

from __future__ import annotations

import copy
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from meta_integration.constants import WEBHOOK_FIELD_MESSAGES, WEBHOOK_OBJECT


class MalformedWebhook(ValueError):
    """The webhook body does not have the shape Meta sends. ``reason`` says where and why."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class MessageKind(StrEnum):
    TEXT = "text"
    BUTTON_REPLY = "button_reply"  # interactive reply button, or a template quick-reply button
    LIST_REPLY = "list_reply"
    FLOW_REPLY = "flow_reply"  # interactive nfm_reply: a WhatsApp Flow was completed
    UNSUPPORTED = "unsupported"  # image, location, sticker, ...: ``type`` says which


@dataclass(frozen=True, slots=True)
class WebhookError:
    """One entry of an ``errors[]`` array (on a status, a message or the change value)."""

    code: int
    title: str
    message: str
    details: str


@dataclass(frozen=True, slots=True)
class InboundMessage:
    wamid: str
    from_wa_id: str
    timestamp: datetime  # UTC
    type: str  # Meta's ``type`` as sent (``text``, ``interactive``, ``image``, ...)
    kind: MessageKind
    raw: dict[str, Any] = field(repr=False, compare=False)
    profile_name: str = ""  # from the change's ``contacts``; empty when Meta gave none
    text: str | None = None  # TEXT only
    reply_id: str | None = None  # BUTTON_REPLY / LIST_REPLY
    reply_title: str | None = None  # BUTTON_REPLY / LIST_REPLY
    reply_description: str | None = None  # LIST_REPLY, when the row had one
    flow_response: dict[str, Any] | None = None  # FLOW_REPLY: parsed ``response_json``
    context_wamid: str | None = None  # the message this one replies to, if any
    errors: tuple[WebhookError, ...] = ()

    @property
    def flow_token(self) -> str | None:
        """The ``flow_token`` inside a flow reply (None when absent or not a flow reply)."""
        if self.flow_response is None:
            return None
        token = self.flow_response.get("flow_token")
        return token if isinstance(token, str) else None


@dataclass(frozen=True, slots=True)
class StatusUpdate:
    wamid: str  # the id of the message we sent
    status: str  # see constants.DeliveryStatus; unknown values are kept as sent
    timestamp: datetime  # UTC
    recipient_id: str
    raw: dict[str, Any] = field(repr=False, compare=False)
    errors: tuple[WebhookError, ...] = ()

    @property
    def error_code(self) -> int | None:
        return self.errors[0].code if self.errors else None

    @property
    def error_title(self) -> str | None:
        return self.errors[0].title if self.errors else None

    @property
    def error_message(self) -> str | None:
        return self.errors[0].message if self.errors else None

    @property
    def error_details(self) -> str | None:
        return self.errors[0].details if self.errors else None


@dataclass(frozen=True, slots=True)
class ChangeValue:
    """One ``entry[].changes[]`` item with ``field == "messages"``."""

    waba_id: str
    phone_number_id: str
    display_phone_number: str
    contacts: Mapping[str, str]  # wa_id -> profile name
    messages: tuple[InboundMessage, ...]
    statuses: tuple[StatusUpdate, ...]
    errors: tuple[WebhookError, ...]


@dataclass(frozen=True, slots=True)
class IgnoredChange:
    """A change for a field other than ``messages`` (template or account updates, ...)."""

    waba_id: str
    field_name: str
    value: dict[str, Any] = field(repr=False, compare=False)


@dataclass(frozen=True, slots=True)
class WebhookEnvelope:
    changes: tuple[ChangeValue, ...]
    ignored: tuple[IgnoredChange, ...] = ()

    @property
    def messages(self) -> tuple[InboundMessage, ...]:
        return tuple(m for change in self.changes for m in change.messages)

    @property
    def statuses(self) -> tuple[StatusUpdate, ...]:
        return tuple(s for change in self.changes for s in change.statuses)


# --- parsing ---------------------------------------------------------------------------------


def parse_webhook(data: Any) -> WebhookEnvelope:
    """Parse a decoded webhook JSON body. Raises ``MalformedWebhook``."""
    obj = _object(data, "body")
    if obj.get("object") != WEBHOOK_OBJECT:
        raise MalformedWebhook(
            f"body.object: expected {WEBHOOK_OBJECT!r}, got {obj.get('object')!r}"
        )
    changes: list[ChangeValue] = []
    ignored: list[IgnoredChange] = []
    for i, entry_data in enumerate(_list(obj, "entry", "body", required=True)):
        where = f"entry[{i}]"
        entry = _object(entry_data, where)
        waba_id = _str(entry, "id", where)
        for j, change_data in enumerate(_list(entry, "changes", where, required=True)):
            change_where = f"{where}.changes[{j}]"
            change = _object(change_data, change_where)
            field_name = _str(change, "field", change_where)
            value = _object(change.get("value"), f"{change_where}.value")
            if field_name == WEBHOOK_FIELD_MESSAGES:
                changes.append(_parse_change_value(value, waba_id, f"{change_where}.value"))
            else:
                ignored.append(IgnoredChange(waba_id, field_name, copy.deepcopy(value)))
    return WebhookEnvelope(changes=tuple(changes), ignored=tuple(ignored))


def _parse_change_value(value: dict[str, Any], waba_id: str, where: str) -> ChangeValue:
    metadata = _object(value.get("metadata"), f"{where}.metadata")
    phone_number_id = _str(metadata, "phone_number_id", f"{where}.metadata")
    display_phone_number = _str(metadata, "display_phone_number", f"{where}.metadata")

    contacts: dict[str, str] = {}
    for i, contact_data in enumerate(_list(value, "contacts", where)):
        contact_where = f"{where}.contacts[{i}]"
        contact = _object(contact_data, contact_where)
        wa_id = _str(contact, "wa_id", contact_where)
        profile = contact.get("profile")
        name: str | None = None
        if profile is not None:
            name = _optional_str(
                _object(profile, f"{contact_where}.profile"), "name", contact_where
            )
        contacts[wa_id] = name or ""

    messages = tuple(
        _parse_message(m, f"{where}.messages[{i}]", contacts)
        for i, m in enumerate(_list(value, "messages", where))
    )
    statuses = tuple(
        _parse_status(s, f"{where}.statuses[{i}]")
        for i, s in enumerate(_list(value, "statuses", where))
    )
    errors = _parse_errors(value, where)
    return ChangeValue(
        waba_id=waba_id,
        phone_number_id=phone_number_id,
        display_phone_number=display_phone_number,
        contacts=contacts,
        messages=messages,
        statuses=statuses,
        errors=errors,
    )


def parse_message(data: Any, *, profile_names: Mapping[str, str] | None = None) -> InboundMessage:
    """One message object (as stored from ``value.messages[]``) as a typed InboundMessage."""
    return _parse_message(data, "message", profile_names or {})


def _parse_message(data: Any, where: str, contacts: Mapping[str, str]) -> InboundMessage:
    msg = _object(data, where)
    wamid = _str(msg, "id", where)
    from_wa_id = _str(msg, "from", where)
    timestamp = _timestamp(msg, where)
    msg_type = _str(msg, "type", where)

    context_wamid = None
    if msg.get("context") is not None:
        context = _object(msg["context"], f"{where}.context")
        context_wamid = _optional_str(context, "id", f"{where}.context")

    fields: dict[str, Any] = {"kind": MessageKind.UNSUPPORTED}
    if msg_type == "text":
        text = _object(msg.get("text"), f"{where}.text")
        fields = {"kind": MessageKind.TEXT, "text": _str(text, "body", f"{where}.text", empty=True)}
    elif msg_type == "interactive":
        fields = _parse_interactive(msg, f"{where}.interactive")
    elif msg_type == "button":
        # A quick-reply button on a template message: the payload is our button id.
        button = _object(msg.get("button"), f"{where}.button")
        fields = {
            "kind": MessageKind.BUTTON_REPLY,
            "reply_id": _str(button, "payload", f"{where}.button"),
            "reply_title": _str(button, "text", f"{where}.button", empty=True),
        }

    return InboundMessage(
        wamid=wamid,
        from_wa_id=from_wa_id,
        timestamp=timestamp,
        type=msg_type,
        raw=copy.deepcopy(msg),
        profile_name=contacts.get(from_wa_id, ""),
        context_wamid=context_wamid,
        errors=_parse_errors(msg, where),
        **fields,
    )


def _parse_interactive(msg: dict[str, Any], where: str) -> dict[str, Any]:
    interactive = _object(msg.get("interactive"), where)
    interactive_type = _str(interactive, "type", where)
    inner_where = f"{where}.{interactive_type}"
    if interactive_type == "button_reply":
        reply = _object(interactive.get("button_reply"), inner_where)
        return {
            "kind": MessageKind.BUTTON_REPLY,
            "reply_id": _str(reply, "id", inner_where),
            "reply_title": _str(reply, "title", inner_where, empty=True),
        }
    if interactive_type == "list_reply":
        reply = _object(interactive.get("list_reply"), inner_where)
        return {
            "kind": MessageKind.LIST_REPLY,
            "reply_id": _str(reply, "id", inner_where),
            "reply_title": _str(reply, "title", inner_where, empty=True),
            "reply_description": _optional_str(reply, "description", inner_where),
        }
    if interactive_type == "nfm_reply":
        reply = _object(interactive.get("nfm_reply"), inner_where)
        response_json = _str(reply, "response_json", inner_where)
        try:
            response = json.loads(response_json)
        except ValueError as exc:
            raise MalformedWebhook(f"{inner_where}.response_json: not JSON ({exc})") from None
        if not isinstance(response, dict):
            raise MalformedWebhook(f"{inner_where}.response_json: not a JSON object")
        return {"kind": MessageKind.FLOW_REPLY, "flow_response": response}
    return {"kind": MessageKind.UNSUPPORTED}


def _parse_status(data: Any, where: str) -> StatusUpdate:
    status = _object(data, where)
    return StatusUpdate(
        wamid=_str(status, "id", where),
        status=_str(status, "status", where),
        timestamp=_timestamp(status, where),
        recipient_id=_str(status, "recipient_id", where),
        raw=copy.deepcopy(status),
        errors=_parse_errors(status, where),
    )


def _parse_errors(container: dict[str, Any], where: str) -> tuple[WebhookError, ...]:
    errors = []
    for i, error_data in enumerate(_list(container, "errors", where)):
        error_where = f"{where}.errors[{i}]"
        error = _object(error_data, error_where)
        details = ""
        if error.get("error_data") is not None:
            error_data_obj = _object(error["error_data"], f"{error_where}.error_data")
            details = _optional_str(error_data_obj, "details", f"{error_where}.error_data") or ""
        errors.append(
            WebhookError(
                code=_int(error.get("code"), f"{error_where}.code"),
                title=_optional_str(error, "title", error_where) or "",
                message=_optional_str(error, "message", error_where) or "",
                details=details,
            )
        )
    return tuple(errors)


# --- small typed accessors -------------------------------------------------------------------


def _object(value: Any, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise MalformedWebhook(f"{where}: expected an object, got {type(value).__name__}")
    return value


def _list(container: dict[str, Any], key: str, where: str, *, required: bool = False) -> list[Any]:
    value = container.get(key)
    if value is None:
        if required:
            raise MalformedWebhook(f"{where}.{key}: missing")
        return []
    if not isinstance(value, list):
        raise MalformedWebhook(f"{where}.{key}: expected a list, got {type(value).__name__}")
    return value


def _str(container: dict[str, Any], key: str, where: str, *, empty: bool = False) -> str:
    value = container.get(key)
    if value is None:
        raise MalformedWebhook(f"{where}.{key}: missing")
    if not isinstance(value, str):
        raise MalformedWebhook(f"{where}.{key}: expected a string, got {type(value).__name__}")
    if not empty and not value:
        raise MalformedWebhook(f"{where}.{key}: empty")
    return value


def _optional_str(container: dict[str, Any], key: str, where: str) -> str | None:
    if container.get(key) is None:
        return None
    return _str(container, key, where, empty=True)


def _int(value: Any, where: str) -> int:
    # Meta sends numbers for error codes and strings for timestamps; accept either, strictly.
    if isinstance(value, bool):
        raise MalformedWebhook(f"{where}: expected an integer, got bool")
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.isascii() and value.isdigit():
        return int(value)
    if value is None:
        raise MalformedWebhook(f"{where}: missing")
    raise MalformedWebhook(f"{where}: expected an integer, got {value!r}")


def _timestamp(container: dict[str, Any], where: str) -> datetime:
    seconds = _int(container.get("timestamp"), f"{where}.timestamp")
    if seconds < 0:
        raise MalformedWebhook(f"{where}.timestamp: negative")
    try:
        return datetime.fromtimestamp(seconds, tz=UTC)
    except (OverflowError, OSError, ValueError):
        raise MalformedWebhook(f"{where}.timestamp: out of range ({seconds})") from None
