"""Typed, immutable view of a WhatsApp Cloud API webhook body.

``parse_webhook`` reads the JSON once at the edge; the rest of the code works with these
dataclasses and never digs through nested dicts. Only a body without Meta's envelope
(``object``, ``entry[].changes[]``) is refused (``MalformedWebhook``). Inside it, every
message, status and change is parsed on its own: one that cannot be read becomes a
``SkippedItem`` (kept, with where and why) and the rest of the delivery goes on, because Meta
redelivers a refused body for days and a traveller's other messages must not wait on it.

Message types we do not read as answers are not errors (``MessageKind.UNSUPPORTED``: ``type``
says which); kinds that are not a person talking to us (reactions, deletions, edits, system
notices, call-permission replies) have kinds of their own, so nobody answers them.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, TypeVar

from meta_integration.constants import WEBHOOK_FIELD_MESSAGES, WEBHOOK_OBJECT

# A business-scoped user ID: two-letter country code, a dot, then alphanumerics (a parent
# BSUID has "ENT." in between), per Meta's "Business-scoped user IDs" page.
BSUID_RE = re.compile(r"^[A-Z]{2}\.(?:ENT\.)?[A-Za-z0-9]{1,128}$")
# A wa_id is the phone number in digits, country code first (E.164 has at most 15).
WA_ID_RE = re.compile(r"^[0-9]{5,20}$")
MEDIA_TYPES = frozenset({"image", "document", "audio", "video", "sticker"})

T = TypeVar("T")


def is_bsuid(value: str) -> bool:
    return bool(BSUID_RE.fullmatch(value))


def is_wa_id(value: str) -> bool:
    return bool(WA_ID_RE.fullmatch(value))


class MalformedWebhook(ValueError):
    """The webhook body (or one item in it) does not have the shape Meta sends. ``reason``
    says where and why."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class MessageKind(StrEnum):
    TEXT = "text"
    BUTTON_REPLY = "button_reply"  # interactive reply button, or a template quick-reply button
    LIST_REPLY = "list_reply"
    FLOW_REPLY = "flow_reply"  # interactive nfm_reply: a WhatsApp Flow was completed
    UNSUPPORTED = "unsupported"  # image, document, location, sticker, ...: ``type`` says which
    # Not a person talking to us: recorded, never answered.
    REACTION = "reaction"  # an emoji on a message; an empty emoji removes it
    REVOKE = "revoke"  # the sender deleted one of their messages for everyone
    EDIT = "edit"  # the sender edited one of their messages
    SYSTEM = "system"  # user_changed_number, customer_identity_changed, ...
    CALL_PERMISSION_REPLY = "call_permission_reply"  # accept/reject of a call request


# Messages nobody answers: the record keeps them, the bot never sees them.
SILENT_KINDS = frozenset(
    {
        MessageKind.REACTION,
        MessageKind.REVOKE,
        MessageKind.EDIT,
        MessageKind.SYSTEM,
        MessageKind.CALL_PERMISSION_REPLY,
    }
)
SYSTEM_USER_CHANGED_NUMBER = "user_changed_number"


@dataclass(frozen=True, slots=True)
class WebhookError:
    """One entry of an ``errors[]`` array (on a status, a message or the change value)."""

    code: int
    title: str
    message: str
    details: str


@dataclass(frozen=True, slots=True)
class ContactProfile:
    """One ``contacts[]`` entry: who Meta says wrote (either id may be absent)."""

    wa_id: str | None
    user_id: str | None
    name: str = ""
    username: str = ""
    parent_user_id: str | None = None


@dataclass(frozen=True, slots=True)
class MediaRef:
    """The file a media message refers to; the bytes are fetched with ``GET /{id}``."""

    id: str
    mime_type: str = ""
    sha256: str = ""
    caption: str = ""
    filename: str = ""


@dataclass(frozen=True, slots=True)
class AdReferral:
    """``messages[].referral``: the click-to-WhatsApp ad or post the contact came from."""

    ctwa_clid: str = ""
    source_url: str = ""
    source_id: str = ""
    source_type: str = ""
    headline: str = ""
    body: str = ""
    media_type: str = ""


@dataclass(frozen=True, slots=True)
class InboundMessage:
    wamid: str
    from_wa_id: str | None  # the phone number; None for a username user Meta withholds it for
    timestamp: datetime  # UTC
    type: str  # Meta's ``type`` as sent (``text``, ``interactive``, ``image``, ...)
    kind: MessageKind
    raw: dict[str, Any] = field(repr=False, compare=False)
    from_user_id: str | None = None  # the business-scoped user ID (BSUID)
    profile_name: str = ""  # from the change's ``contacts``; empty when Meta gave none
    username: str = ""  # ``contacts[].profile.username``
    text: str | None = None  # TEXT (and EDIT of a text: the new text)
    reply_id: str | None = None  # BUTTON_REPLY / LIST_REPLY
    reply_title: str | None = None  # BUTTON_REPLY / LIST_REPLY
    reply_description: str | None = None  # LIST_REPLY, when the row had one
    flow_response: dict[str, Any] | None = None  # FLOW_REPLY: parsed ``response_json``
    context_wamid: str | None = None  # the message this one replies to, if any
    media: MediaRef | None = None  # image, document, audio, video, sticker
    referral: AdReferral | None = None
    target_wamid: str | None = None  # REACTION, REVOKE, EDIT: the message acted on
    emoji: str | None = None  # REACTION: "" (or absent) removes the reaction
    system_type: str | None = None  # SYSTEM: e.g. user_changed_number
    new_wa_id: str | None = None  # SYSTEM user_changed_number: the new number
    errors: tuple[WebhookError, ...] = ()

    @property
    def flow_token(self) -> str | None:
        """The ``flow_token`` inside a flow reply (None when absent or not a flow reply)."""
        if self.flow_response is None:
            return None
        token = self.flow_response.get("flow_token")
        return token if isinstance(token, str) else None

    @property
    def wants_answer(self) -> bool:
        """Whether a person sent it to talk to us (reactions, edits, deletions, system
        notices and call-permission replies are not)."""
        return self.kind not in SILENT_KINDS

    @property
    def sender_address(self) -> str:
        return self.from_wa_id or self.from_user_id or ""


@dataclass(frozen=True, slots=True)
class StatusUpdate:
    wamid: str  # the id of the message we sent
    status: str  # see constants.DeliveryStatus; unknown values are kept as sent
    timestamp: datetime  # UTC
    recipient_id: str  # the phone number (or a group id); "" for a username user
    raw: dict[str, Any] = field(repr=False, compare=False)
    recipient_user_id: str = ""  # the recipient's BSUID
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
class SkippedItem:
    """A message, status or change that could not be read: kept as it came, with why."""

    kind: str  # "message", "status", "change"
    path: str  # where in the body, e.g. entry[0].changes[0].value.messages[1]
    reason: str
    raw: Any = field(repr=False, compare=False)
    wamid: str = ""  # the item's id, when it had a readable one


@dataclass(frozen=True, slots=True)
class ChangeValue:
    """One ``entry[].changes[]`` item with ``field == "messages"``."""

    waba_id: str
    phone_number_id: str
    display_phone_number: str
    contacts: tuple[ContactProfile, ...]
    messages: tuple[InboundMessage, ...]
    statuses: tuple[StatusUpdate, ...]
    errors: tuple[WebhookError, ...]
    skipped: tuple[SkippedItem, ...] = ()


@dataclass(frozen=True, slots=True)
class OtherChange:
    """A change for a field other than ``messages``: account and template updates, calls,
    preferences, echoes. Most carry no ``metadata``; all are stored for staff."""

    waba_id: str
    field_name: str
    value: dict[str, Any] = field(repr=False, compare=False)
    path: str = ""
    phone_number_id: str = ""  # from ``metadata`` when the change has one

    @property
    def event(self) -> str:
        value = self.value.get("event")
        return value if isinstance(value, str) else ""


@dataclass(frozen=True, slots=True)
class WebhookEnvelope:
    changes: tuple[ChangeValue, ...]
    others: tuple[OtherChange, ...] = ()
    skipped: tuple[SkippedItem, ...] = ()  # changes that could not be read at all

    @property
    def messages(self) -> tuple[InboundMessage, ...]:
        return tuple(m for change in self.changes for m in change.messages)

    @property
    def statuses(self) -> tuple[StatusUpdate, ...]:
        return tuple(s for change in self.changes for s in change.statuses)

    @property
    def all_skipped(self) -> tuple[SkippedItem, ...]:
        return self.skipped + tuple(s for change in self.changes for s in change.skipped)


# --- parsing ---------------------------------------------------------------------------------


def parse_webhook(data: Any) -> WebhookEnvelope:
    """Parse a decoded webhook JSON body. Raises ``MalformedWebhook`` only for the envelope;
    an unreadable item is a ``SkippedItem``."""
    obj = _object(data, "body")
    if obj.get("object") != WEBHOOK_OBJECT:
        raise MalformedWebhook(
            f"body.object: expected {WEBHOOK_OBJECT!r}, got {obj.get('object')!r}"
        )
    changes: list[ChangeValue] = []
    others: list[OtherChange] = []
    skipped: list[SkippedItem] = []
    for i, entry_data in enumerate(_list(obj, "entry", "body", required=True)):
        where = f"entry[{i}]"
        entry = _object(entry_data, where)
        waba_id = _str(entry, "id", where)
        for j, change_data in enumerate(_list(entry, "changes", where, required=True)):
            change_where = f"{where}.changes[{j}]"
            try:
                parsed = _parse_change(change_data, waba_id, change_where)
            except MalformedWebhook as exc:
                skipped.append(SkippedItem("change", change_where, exc.reason, change_data))
                continue
            (changes if isinstance(parsed, ChangeValue) else others).append(parsed)
    return WebhookEnvelope(changes=tuple(changes), others=tuple(others), skipped=tuple(skipped))


def _parse_change(change_data: Any, waba_id: str, where: str) -> ChangeValue | OtherChange:
    change = _object(change_data, where)
    field_name = _str(change, "field", where)
    value = _object(change.get("value"), f"{where}.value")
    if field_name == WEBHOOK_FIELD_MESSAGES:
        return _parse_change_value(value, waba_id, f"{where}.value")
    metadata = value.get("metadata")
    number = metadata.get("phone_number_id") if isinstance(metadata, dict) else None
    return OtherChange(
        waba_id=waba_id,
        field_name=field_name,
        value=copy.deepcopy(value),
        path=where,
        phone_number_id=number if isinstance(number, str) else "",
    )


def _parse_change_value(value: dict[str, Any], waba_id: str, where: str) -> ChangeValue:
    metadata = _object(value.get("metadata"), f"{where}.metadata")
    phone_number_id = _str(metadata, "phone_number_id", f"{where}.metadata")
    display_phone_number = _str(metadata, "display_phone_number", f"{where}.metadata")
    skipped: list[SkippedItem] = []

    contacts = tuple(
        _each(value, "contacts", where, "contact", _parse_contact, skipped)  # type: ignore[arg-type]
    )
    profiles = _ProfileIndex(contacts)
    messages = tuple(
        _each(
            value,
            "messages",
            where,
            "message",
            lambda m, w: _parse_message(m, w, profiles),
            skipped,
        )
    )
    statuses = tuple(_each(value, "statuses", where, "status", _parse_status, skipped))
    try:
        errors = _parse_errors(value, where)
    except MalformedWebhook as exc:
        skipped.append(SkippedItem("errors", f"{where}.errors", exc.reason, value.get("errors")))
        errors = ()
    return ChangeValue(
        waba_id=waba_id,
        phone_number_id=phone_number_id,
        display_phone_number=display_phone_number,
        contacts=contacts,
        messages=messages,
        statuses=statuses,
        errors=errors,
        skipped=tuple(skipped),
    )


def _each(
    value: dict[str, Any],
    key: str,
    where: str,
    kind: str,
    parse: Callable[[Any, str], T],
    skipped: list[SkippedItem],
) -> list[T]:
    """Parse every item of ``value[key]`` on its own; an unreadable one goes to ``skipped``."""
    try:
        items = _list(value, key, where)
    except MalformedWebhook as exc:
        skipped.append(SkippedItem(kind, f"{where}.{key}", exc.reason, value.get(key)))
        return []
    parsed: list[T] = []
    for i, item in enumerate(items):
        item_where = f"{where}.{key}[{i}]"
        try:
            parsed.append(parse(item, item_where))
        except MalformedWebhook as exc:
            wamid = item.get("id") if isinstance(item, dict) else None
            skipped.append(
                SkippedItem(
                    kind,
                    item_where,
                    exc.reason,
                    copy.deepcopy(item),
                    wamid=wamid if isinstance(wamid, str) else "",
                )
            )
    return parsed


class _ProfileIndex:
    """The change's ``contacts[]``, found by either id (a username user's message names them
    by ``from_user_id`` only)."""

    def __init__(self, contacts: tuple[ContactProfile, ...]) -> None:
        self.contacts = contacts

    def find(self, wa_id: str | None, user_id: str | None) -> ContactProfile | None:
        for contact in self.contacts:
            if (wa_id and contact.wa_id == wa_id) or (user_id and contact.user_id == user_id):
                return contact
        return None


def _parse_contact(data: Any, where: str) -> ContactProfile:
    contact = _object(data, where)
    wa_id = _optional_str(contact, "wa_id", where) or None
    user_id = _optional_str(contact, "user_id", where) or None
    parent = _optional_str(contact, "parent_user_id", where) or None
    if wa_id and is_bsuid(wa_id) and user_id in (None, wa_id):
        wa_id, user_id = None, wa_id  # a BSUID where the phone number goes: it is an id
    if wa_id and not is_wa_id(wa_id):
        raise MalformedWebhook(f"{where}.wa_id: not a phone number ({wa_id[:40]!r})")
    if user_id and not is_bsuid(user_id):
        user_id = None  # an id we cannot use to reach them; the phone number still works
    if not (wa_id or user_id):
        raise MalformedWebhook(f"{where}: neither wa_id nor user_id")
    name = username = ""
    if contact.get("profile") is not None:
        profile = _object(contact["profile"], f"{where}.profile")
        name = _optional_str(profile, "name", f"{where}.profile") or ""
        username = _optional_str(profile, "username", f"{where}.profile") or ""
    return ContactProfile(
        wa_id=wa_id,
        user_id=user_id,
        name=name,
        username=username.lstrip("@"),
        parent_user_id=parent if parent and is_bsuid(parent) else None,
    )


def parse_message(
    data: Any,
    *,
    profile_names: Mapping[str, str] | None = None,
    profiles: tuple[ContactProfile, ...] = (),
) -> InboundMessage:
    """One message object (as stored from ``value.messages[]``) as a typed InboundMessage.

    ``profile_names`` maps an address (phone number or user id) to a profile name."""
    index = _ProfileIndex(
        profiles
        or tuple(
            ContactProfile(
                wa_id=address if is_wa_id(address) else None,
                user_id=address if is_bsuid(address) else None,
                name=name,
            )
            for address, name in (profile_names or {}).items()
        )
    )
    return _parse_message(data, "message", index)


def _sender(msg: dict[str, Any], where: str) -> tuple[str | None, str | None]:
    from_wa_id = _optional_str(msg, "from", where) or None
    from_user_id = _optional_str(msg, "from_user_id", where) or None
    if from_wa_id and is_bsuid(from_wa_id) and from_user_id in (None, from_wa_id):
        from_wa_id, from_user_id = None, from_wa_id
    if from_wa_id and not is_wa_id(from_wa_id):
        raise MalformedWebhook(f"{where}.from: not a phone number ({from_wa_id[:40]!r})")
    if from_user_id and not is_bsuid(from_user_id):
        from_user_id = None  # not an id we can reach them by; keep the phone number
    if not (from_wa_id or from_user_id):
        raise MalformedWebhook(f"{where}: neither from nor from_user_id")
    return from_wa_id, from_user_id


def _parse_message(data: Any, where: str, profiles: _ProfileIndex) -> InboundMessage:
    msg = _object(data, where)
    wamid = _str(msg, "id", where)
    from_wa_id, from_user_id = _sender(msg, where)
    timestamp = _timestamp(msg, where)
    msg_type = _str(msg, "type", where)
    if msg.get("group_id") is not None:
        raise MalformedWebhook(f"{where}.group_id: group messages are not handled")

    context_wamid = None
    if msg.get("context") is not None:
        context = _object(msg["context"], f"{where}.context")
        context_wamid = _optional_str(context, "id", f"{where}.context")

    fields = _parse_content(msg, msg_type, where)
    referral = None
    if msg.get("referral") is not None:
        referral = _parse_referral(_object(msg["referral"], f"{where}.referral"), where)

    profile = profiles.find(from_wa_id, from_user_id)
    if profile is not None:
        # The contacts entry may carry the id the message left out.
        from_wa_id = from_wa_id or profile.wa_id
        from_user_id = from_user_id or profile.user_id
    return InboundMessage(
        wamid=wamid,
        from_wa_id=from_wa_id,
        from_user_id=from_user_id,
        timestamp=timestamp,
        type=msg_type,
        raw=copy.deepcopy(msg),
        profile_name=profile.name if profile else "",
        username=profile.username if profile else "",
        context_wamid=context_wamid,
        referral=referral,
        errors=_parse_errors(msg, where),
        **fields,
    )


def _parse_content(msg: dict[str, Any], msg_type: str, where: str) -> dict[str, Any]:
    """The kind and the typed fields of a message's content object."""
    if msg_type == "text":
        text = _object(msg.get("text"), f"{where}.text")
        return {"kind": MessageKind.TEXT, "text": _str(text, "body", f"{where}.text", empty=True)}
    if msg_type == "interactive":
        return _parse_interactive(msg, f"{where}.interactive")
    if msg_type == "button":
        # A quick-reply button on a template message: the payload is our button id.
        button = _object(msg.get("button"), f"{where}.button")
        return {
            "kind": MessageKind.BUTTON_REPLY,
            "reply_id": _str(button, "payload", f"{where}.button"),
            "reply_title": _str(button, "text", f"{where}.button", empty=True),
        }
    if msg_type in MEDIA_TYPES:
        return {
            "kind": MessageKind.UNSUPPORTED,
            "media": _parse_media(msg.get(msg_type), f"{where}.{msg_type}"),
        }
    if msg_type == "reaction":
        reaction = _object(msg.get("reaction"), f"{where}.reaction")
        return {
            "kind": MessageKind.REACTION,
            "target_wamid": _str(reaction, "message_id", f"{where}.reaction"),
            "emoji": _optional_str(reaction, "emoji", f"{where}.reaction") or "",
        }
    if msg_type == "revoke":
        revoke = _object(msg.get("revoke"), f"{where}.revoke")
        return {
            "kind": MessageKind.REVOKE,
            "target_wamid": _str(revoke, "original_message_id", f"{where}.revoke"),
        }
    if msg_type == "edit":
        edit = _object(msg.get("edit"), f"{where}.edit")
        new = edit.get("message")
        text = None
        if isinstance(new, dict) and isinstance(new.get("text"), dict):
            text = _optional_str(new["text"], "body", f"{where}.edit.message.text")
        elif isinstance(new, dict) and isinstance(new.get(str(new.get("type"))), dict):
            text = _optional_str(new[str(new["type"])], "caption", f"{where}.edit.message")
        return {
            "kind": MessageKind.EDIT,
            "target_wamid": _str(edit, "original_message_id", f"{where}.edit"),
            "text": text,
        }
    if msg_type == "system":
        system = _object(msg.get("system"), f"{where}.system")
        system_type = _optional_str(system, "type", f"{where}.system") or ""
        new_wa_id = None
        if system_type == SYSTEM_USER_CHANGED_NUMBER:
            # Meta's docs name it "wa_id"; older payloads called it "new_wa_id".
            new_wa_id = _optional_str(system, "wa_id", f"{where}.system") or _optional_str(
                system, "new_wa_id", f"{where}.system"
            )
            if not new_wa_id or not is_wa_id(new_wa_id):
                raise MalformedWebhook(f"{where}.system.wa_id: the new number is missing")
        return {
            "kind": MessageKind.SYSTEM,
            "system_type": system_type,
            "new_wa_id": new_wa_id,
            "text": _optional_str(system, "body", f"{where}.system"),
        }
    return {"kind": MessageKind.UNSUPPORTED}


def _parse_media(value: Any, where: str) -> MediaRef:
    media = _object(value, where)
    return MediaRef(
        id=_str(media, "id", where),
        mime_type=_optional_str(media, "mime_type", where) or "",
        sha256=_optional_str(media, "sha256", where) or "",
        caption=_optional_str(media, "caption", where) or "",
        filename=_optional_str(media, "filename", where) or "",
    )


def _parse_referral(referral: dict[str, Any], where: str) -> AdReferral:
    def text(key: str) -> str:
        value = referral.get(key)
        return value if isinstance(value, str) else ""

    return AdReferral(
        ctwa_clid=text("ctwa_clid"),
        source_url=text("source_url"),
        source_id=text("source_id"),
        source_type=text("source_type"),
        headline=text("headline"),
        body=text("body"),
        media_type=text("media_type"),
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
    if interactive_type == "call_permission_reply":
        return {"kind": MessageKind.CALL_PERMISSION_REPLY}
    return {"kind": MessageKind.UNSUPPORTED}


def _parse_status(data: Any, where: str) -> StatusUpdate:
    status = _object(data, where)
    recipient_id = _optional_str(status, "recipient_id", where) or ""
    recipient_user_id = _optional_str(status, "recipient_user_id", where) or ""
    if recipient_id and is_bsuid(recipient_id) and not recipient_user_id:
        recipient_id, recipient_user_id = "", recipient_id
    if not (recipient_id or recipient_user_id):
        raise MalformedWebhook(f"{where}: neither recipient_id nor recipient_user_id")
    return StatusUpdate(
        wamid=_str(status, "id", where),
        status=_str(status, "status", where),
        timestamp=_timestamp(status, where),
        recipient_id=recipient_id,
        recipient_user_id=recipient_user_id if is_bsuid(recipient_user_id) else "",
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
                details=details or _optional_str(error, "details", error_where) or "",
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
