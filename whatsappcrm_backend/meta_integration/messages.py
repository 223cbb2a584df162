"""Graph API message payloads (``POST /{phone_number_id}/messages``), checked against Meta's limits.

Every builder validates what it returns with ``validate_payload``, which also checks payloads
built by hand. A violation is a programming error: ``MessageLimitError`` fails loudly here
instead of as a 400 from Meta at send time.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, NoReturn
from urllib.parse import urlsplit

from meta_integration import constants as c
from meta_integration.payloads import is_bsuid


class MessageLimitError(ValueError):
    """A payload breaks one of Meta's rules; the message names the field and the limit."""


# Values Meta documents no length for (ids, tokens, names): only a sanity bound.
_MACHINE_VALUE_MAX = 4096


@dataclass(frozen=True, slots=True)
class Row:
    """A list-message row; ``description`` is optional (empty means none)."""

    id: str
    title: str
    description: str = ""


# --- builders --------------------------------------------------------------------------------


def text(to: str, body: str, preview_url: bool = False) -> dict[str, Any]:
    payload = {**_envelope(to, "text"), "text": {"preview_url": preview_url, "body": body}}
    validate_payload(payload)
    return payload


def reply_buttons(
    to: str,
    body: str,
    buttons: Sequence[tuple[str, str]],
    header: str | None = None,
    footer: str | None = None,
) -> dict[str, Any]:
    """Up to three reply buttons, each given as ``(id, title)``."""
    interactive: dict[str, Any] = {"type": "button"}
    interactive.update(_header_body_footer(header, body, footer))
    interactive["action"] = {
        "buttons": [
            {"type": "reply", "reply": {"id": button_id, "title": title}}
            for button_id, title in buttons
        ]
    }
    payload = {**_envelope(to, "interactive"), "interactive": interactive}
    validate_payload(payload)
    return payload


def list_message(
    to: str,
    body: str,
    button: str,
    sections: Sequence[tuple[str | None, Sequence[Row]]],
    header: str | None = None,
    footer: str | None = None,
) -> dict[str, Any]:
    """A list message. A section title may be None/empty only when there is a single section."""
    built_sections = []
    for section_title, rows in sections:
        section: dict[str, Any] = {}
        if section_title:
            section["title"] = section_title
        section["rows"] = [_row(row) for row in rows]
        built_sections.append(section)
    interactive: dict[str, Any] = {"type": "list"}
    interactive.update(_header_body_footer(header, body, footer))
    interactive["action"] = {"button": button, "sections": built_sections}
    payload = {**_envelope(to, "interactive"), "interactive": interactive}
    validate_payload(payload)
    return payload


def flow_message(
    to: str,
    body: str,
    flow_id: str,
    flow_token: str,
    flow_cta: str,
    flow_action: Literal["data_exchange", "navigate"] = "data_exchange",
    screen: str | None = None,
    data: Mapping[str, Any] | None = None,
    header: str | None = None,
    footer: str | None = None,
    mode: Literal["published", "draft"] = "published",
) -> dict[str, Any]:
    """A WhatsApp Flow message.

    ``data_exchange`` (the default) makes Meta call our data endpoint with ``INIT``;
    ``navigate`` opens ``screen`` directly, optionally with ``data`` for it.
    """
    parameters: dict[str, Any] = {
        "flow_message_version": c.FLOW_MESSAGE_VERSION,
        "flow_id": flow_id,
        "flow_token": flow_token,
        "flow_cta": flow_cta,
        "mode": mode,
        "flow_action": flow_action,
    }
    if screen is not None or data is not None:
        action_payload: dict[str, Any] = {}
        if screen is not None:
            action_payload["screen"] = screen
        if data is not None:
            action_payload["data"] = dict(data)
        parameters["flow_action_payload"] = action_payload
    interactive: dict[str, Any] = {"type": "flow"}
    interactive.update(_header_body_footer(header, body, footer))
    interactive["action"] = {"name": "flow", "parameters": parameters}
    payload = {**_envelope(to, "interactive"), "interactive": interactive}
    validate_payload(payload)
    return payload


def cta_url(
    to: str,
    body: str,
    display_text: str,
    url: str,
    header: str | None = None,
    footer: str | None = None,
) -> dict[str, Any]:
    """A call-to-action URL button: one button labelled ``display_text`` that opens ``url``.

    The traveller sees the label, not the (long, opaque) URL; WhatsApp opens it in the
    phone's browser. Used for Paynow's card checkout page.
    """
    interactive: dict[str, Any] = {"type": "cta_url"}
    interactive.update(_header_body_footer(header, body, footer))
    interactive["action"] = {
        "name": "cta_url",
        "parameters": {"display_text": display_text, "url": url},
    }
    payload = {**_envelope(to, "interactive"), "interactive": interactive}
    validate_payload(payload)
    return payload


def template(
    to: str,
    name: str,
    language_code: str,
    components: Sequence[Mapping[str, Any]] = (),
) -> dict[str, Any]:
    """An approved template: the only kind Meta delivers outside the 24-hour window."""
    body: dict[str, Any] = {"name": name, "language": {"code": language_code}}
    if components:
        body["components"] = [dict(component) for component in components]
    payload = {**_envelope(to, "template"), "template": body}
    validate_payload(payload)
    return payload


def mark_as_read(wamid: str, typing_indicator: bool = False) -> dict[str, Any]:
    """Read receipt for an inbound message (blue ticks), optionally showing "typing…"."""
    payload: dict[str, Any] = {
        "messaging_product": c.MESSAGING_PRODUCT,
        "status": "read",
        "message_id": wamid,
    }
    if typing_indicator:
        payload["typing_indicator"] = {"type": "text"}
    validate_payload(payload)
    return payload


def _envelope(to: str, message_type: str) -> dict[str, Any]:
    return {
        "messaging_product": c.MESSAGING_PRODUCT,
        "recipient_type": c.RECIPIENT_TYPE_INDIVIDUAL,
        **address(to),
        "type": message_type,
    }


def address(to: str) -> dict[str, str]:
    """How Meta wants a recipient named: a phone number in ``to``, a business-scoped user ID
    in ``recipient`` (a BSUID in ``to`` does not reach the user)."""
    return {"recipient": to} if is_bsuid(to) else {"to": to}


def recipient_of(payload: Mapping[str, Any]) -> str:
    """The id a payload is addressed to (``to`` wins when both are there, as at Meta)."""
    return str(payload.get("to") or payload.get("recipient") or "")


def readdressed(payload: Mapping[str, Any], to: str) -> dict[str, Any]:
    """The payload addressed to ``to`` instead (the phone number learnt since it was queued,
    say), by ``address``'s rule; every other key kept in place."""
    rebuilt: dict[str, Any] = {}
    for key, value in payload.items():
        if key in ("to", "recipient"):
            if not any(k in rebuilt for k in ("to", "recipient")):
                rebuilt.update(address(to))
            continue
        rebuilt[key] = value
    if not any(k in rebuilt for k in ("to", "recipient")):
        rebuilt.update(address(to))
    return rebuilt


def _header_body_footer(header: str | None, body: str, footer: str | None) -> dict[str, Any]:
    parts: dict[str, Any] = {}
    if header is not None:
        parts["header"] = {"type": "text", "text": header}
    parts["body"] = {"text": body}
    if footer is not None:
        parts["footer"] = {"text": footer}
    return parts


def _row(row: Row | tuple[str, ...]) -> dict[str, str]:
    if not isinstance(row, Row):
        row = Row(*row)
    built = {"id": row.id, "title": row.title}
    if row.description:
        built["description"] = row.description
    return built


# --- validation ------------------------------------------------------------------------------


def validate_payload(payload: Mapping[str, Any]) -> None:
    """Check a message payload against Meta's rules; raise ``MessageLimitError`` if broken."""
    obj = _mapping(payload, "payload")
    if obj.get("messaging_product") != c.MESSAGING_PRODUCT:
        _fail(f"messaging_product: must be {c.MESSAGING_PRODUCT!r}")
    try:
        json.dumps(obj)
    except (TypeError, ValueError) as exc:
        _fail(f"payload: not JSON-serialisable ({exc})")

    if obj.get("status") == "read":
        _id(obj, "message_id", "message_id", _MACHINE_VALUE_MAX)
        indicator = obj.get("typing_indicator")
        if indicator is not None and _mapping(indicator, "typing_indicator").get("type") != "text":
            _fail("typing_indicator.type: must be 'text'")
        return

    _validate_recipient(obj)
    recipient_type = obj.get("recipient_type", c.RECIPIENT_TYPE_INDIVIDUAL)
    if recipient_type != c.RECIPIENT_TYPE_INDIVIDUAL:
        _fail(f"recipient_type: must be {c.RECIPIENT_TYPE_INDIVIDUAL!r}")
    message_type = obj.get("type")
    validator = _VALIDATORS.get(message_type)  # type: ignore[arg-type]
    if validator is None:
        _fail(f"type: {message_type!r} is not a message type this module can validate")
    validator(obj)


def _validate_recipient(obj: Mapping[str, Any]) -> None:
    """``to`` (a phone number) or ``recipient`` (a business-scoped user ID), at least one."""
    if "to" not in obj and "recipient" not in obj:
        _fail("to: required (or recipient, for a business-scoped user ID)")
    if "to" in obj:
        to = _id(obj, "to", "to", _MACHINE_VALUE_MAX)
        if is_bsuid(to):
            _fail("to: a business-scoped user ID goes in 'recipient', not 'to'")
    if "recipient" in obj:
        recipient = _id(obj, "recipient", "recipient", _MACHINE_VALUE_MAX)
        if not is_bsuid(recipient):
            _fail(f"recipient: {recipient[:40]!r} is not a business-scoped user ID")


def _validate_text(obj: Mapping[str, Any]) -> None:
    body = _mapping(obj.get("text"), "text")
    _text(body, "body", "text.body", c.TEXT_BODY_MAX)
    if "preview_url" in body and not isinstance(body["preview_url"], bool):
        _fail("text.preview_url: must be a boolean")


def _validate_interactive(obj: Mapping[str, Any]) -> None:
    interactive = _mapping(obj.get("interactive"), "interactive")
    kind = interactive.get("type")
    validator = _INTERACTIVE_VALIDATORS.get(kind)  # type: ignore[arg-type]
    if validator is None:
        _fail(f"interactive.type: {kind!r} is not one of {sorted(_INTERACTIVE_VALIDATORS)}")
    if "footer" in interactive:
        footer = _mapping(interactive["footer"], "interactive.footer")
        _text(footer, "text", "interactive.footer.text", c.INTERACTIVE_FOOTER_MAX)
    validator(interactive)


def _validate_header(interactive: Mapping[str, Any], *, media_allowed: bool) -> None:
    if "header" not in interactive:
        return
    header = _mapping(interactive["header"], "interactive.header")
    header_type = header.get("type")
    if header_type == "text":
        _text(header, "text", "interactive.header.text", c.INTERACTIVE_HEADER_TEXT_MAX)
    elif media_allowed and header_type in ("image", "video", "document"):
        media = _mapping(header.get(header_type), f"interactive.header.{header_type}")
        if not (media.get("id") or media.get("link")):
            _fail(f"interactive.header.{header_type}: needs an 'id' or a 'link'")
    else:
        allowed = "text, image, video or document" if media_allowed else "text"
        _fail(f"interactive.header.type: {header_type!r}; this message allows {allowed}")


def _validate_buttons(interactive: Mapping[str, Any]) -> None:
    _validate_header(interactive, media_allowed=True)
    body = _mapping(interactive.get("body"), "interactive.body")
    _text(body, "text", "interactive.body.text", c.BUTTONS_BODY_MAX)
    action = _mapping(interactive.get("action"), "interactive.action")
    buttons = _sequence(action.get("buttons"), "interactive.action.buttons")
    _count(buttons, "interactive.action.buttons", 1, c.BUTTONS_MAX)
    ids: set[str] = set()
    titles: set[str] = set()
    for i, button_data in enumerate(buttons):
        where = f"interactive.action.buttons[{i}]"
        button = _mapping(button_data, where)
        if button.get("type") != "reply":
            _fail(f"{where}.type: must be 'reply'")
        reply = _mapping(button.get("reply"), f"{where}.reply")
        button_id = _id(reply, "id", f"{where}.reply.id", c.BUTTON_ID_MAX)
        title = _text(reply, "title", f"{where}.reply.title", c.BUTTON_TITLE_MAX)
        if button_id in ids:
            _fail(f"{where}.reply.id: {button_id!r} is used by another button")
        if title in titles:
            _fail(f"{where}.reply.title: {title!r} is used by another button; titles must differ")
        ids.add(button_id)
        titles.add(title)


def _validate_list(interactive: Mapping[str, Any]) -> None:
    _validate_header(interactive, media_allowed=False)
    body = _mapping(interactive.get("body"), "interactive.body")
    _text(body, "text", "interactive.body.text", c.LIST_BODY_MAX)
    action = _mapping(interactive.get("action"), "interactive.action")
    _text(action, "button", "interactive.action.button", c.LIST_BUTTON_MAX)
    sections = _sequence(action.get("sections"), "interactive.action.sections")
    _count(sections, "interactive.action.sections", 1, c.LIST_SECTIONS_MAX)
    row_ids: set[str] = set()
    total_rows = 0
    for i, section_data in enumerate(sections):
        where = f"interactive.action.sections[{i}]"
        section = _mapping(section_data, where)
        if len(sections) > 1 or "title" in section:
            _text(section, "title", f"{where}.title", c.LIST_SECTION_TITLE_MAX)
        rows = _sequence(section.get("rows"), f"{where}.rows")
        _count(rows, f"{where}.rows", 1, c.LIST_ROWS_TOTAL_MAX)  # the total is checked below
        for j, row_data in enumerate(rows):
            row_where = f"{where}.rows[{j}]"
            row = _mapping(row_data, row_where)
            row_id = _id(row, "id", f"{row_where}.id", c.LIST_ROW_ID_MAX)
            _text(row, "title", f"{row_where}.title", c.LIST_ROW_TITLE_MAX)
            if "description" in row:
                _text(
                    row,
                    "description",
                    f"{row_where}.description",
                    c.LIST_ROW_DESCRIPTION_MAX,
                    blank_ok=True,
                )
            if row_id in row_ids:
                _fail(f"{row_where}.id: {row_id!r} is used by another row; row ids must differ")
            row_ids.add(row_id)
        total_rows += len(rows)
    if total_rows > c.LIST_ROWS_TOTAL_MAX:
        _fail(
            f"interactive.action.sections: {total_rows} rows in total, "
            f"limit is {c.LIST_ROWS_TOTAL_MAX} across all sections"
        )


def _validate_flow(interactive: Mapping[str, Any]) -> None:
    _validate_header(interactive, media_allowed=False)
    body = _mapping(interactive.get("body"), "interactive.body")
    _text(body, "text", "interactive.body.text", c.FLOW_BODY_MAX)
    action = _mapping(interactive.get("action"), "interactive.action")
    if action.get("name") != "flow":
        _fail("interactive.action.name: must be 'flow'")
    where = "interactive.action.parameters"
    params = _mapping(action.get("parameters"), where)
    if params.get("flow_message_version") != c.FLOW_MESSAGE_VERSION:
        _fail(f"{where}.flow_message_version: must be {c.FLOW_MESSAGE_VERSION!r}")
    has_id, has_name = "flow_id" in params, "flow_name" in params
    if has_id == has_name:
        _fail(f"{where}: exactly one of flow_id or flow_name is required")
    flow_key = "flow_id" if has_id else "flow_name"
    _id(params, flow_key, f"{where}.{flow_key}", _MACHINE_VALUE_MAX)
    if "flow_token" in params:
        _id(params, "flow_token", f"{where}.flow_token", _MACHINE_VALUE_MAX)
    _text(params, "flow_cta", f"{where}.flow_cta", c.FLOW_CTA_MAX)
    mode = params.get("mode", "published")
    if mode not in c.FLOW_MODES:
        _fail(f"{where}.mode: {mode!r} is not one of {sorted(c.FLOW_MODES)}")
    flow_action = params.get("flow_action", "navigate")  # Meta's default
    if flow_action not in c.FLOW_ACTIONS:
        _fail(f"{where}.flow_action: {flow_action!r} is not one of {sorted(c.FLOW_ACTIONS)}")
    if flow_action == "data_exchange":
        if "flow_action_payload" in params:
            _fail(f"{where}.flow_action_payload: only allowed with flow_action 'navigate'")
        return
    action_payload = _mapping(params.get("flow_action_payload"), f"{where}.flow_action_payload")
    _id(action_payload, "screen", f"{where}.flow_action_payload.screen", _MACHINE_VALUE_MAX)
    if "data" in action_payload:
        data = _mapping(action_payload["data"], f"{where}.flow_action_payload.data")
        if not data:
            _fail(f"{where}.flow_action_payload.data: must be non-empty when present")


def _validate_cta_url(interactive: Mapping[str, Any]) -> None:
    _validate_header(interactive, media_allowed=True)
    body = _mapping(interactive.get("body"), "interactive.body")
    _text(body, "text", "interactive.body.text", c.CTA_URL_BODY_MAX)
    action = _mapping(interactive.get("action"), "interactive.action")
    if action.get("name") != "cta_url":
        _fail("interactive.action.name: must be 'cta_url'")
    where = "interactive.action.parameters"
    params = _mapping(action.get("parameters"), where)
    _text(params, "display_text", f"{where}.display_text", c.CTA_URL_DISPLAY_TEXT_MAX)
    url = _id(params, "url", f"{where}.url", c.CTA_URL_URL_MAX)
    if any(ch.isspace() for ch in url):
        _fail(f"{where}.url: must not contain whitespace")
    try:
        parts = urlsplit(url)
        hostname = parts.hostname
    except ValueError:  # e.g. an unclosed IPv6 bracket
        hostname = None
    if not hostname or parts.scheme.lower() not in c.CTA_URL_SCHEMES:
        _fail(f"{where}.url: must be an absolute http(s) URL, got {url[:80]!r}")


def _validate_template(obj: Mapping[str, Any]) -> None:
    body = _mapping(obj.get("template"), "template")
    _id(body, "name", "template.name", _MACHINE_VALUE_MAX)
    language = _mapping(body.get("language"), "template.language")
    _id(language, "code", "template.language.code", _MACHINE_VALUE_MAX)
    if "components" in body:
        components = _sequence(body["components"], "template.components")
        for i, component_data in enumerate(components):
            component = _mapping(component_data, f"template.components[{i}]")
            _id(component, "type", f"template.components[{i}].type", _MACHINE_VALUE_MAX)


_VALIDATORS = {
    "text": _validate_text,
    "interactive": _validate_interactive,
    "template": _validate_template,
}
_INTERACTIVE_VALIDATORS = {
    "button": _validate_buttons,
    "list": _validate_list,
    "flow": _validate_flow,
    "cta_url": _validate_cta_url,
}


# --- checks ----------------------------------------------------------------------------------


def _fail(message: str) -> NoReturn:
    raise MessageLimitError(message)


def _mapping(value: Any, where: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        _fail(f"{where}: expected an object, got {type(value).__name__}")
    return value


def _sequence(value: Any, where: str) -> Sequence[Any]:
    if not isinstance(value, list | tuple):
        _fail(f"{where}: expected a list, got {type(value).__name__}")
    return value


def _count(items: Sequence[Any], where: str, minimum: int, maximum: int) -> None:
    if len(items) < minimum:
        _fail(f"{where}: at least {minimum} required, got {len(items)}")
    if len(items) > maximum:
        _fail(f"{where}: {len(items)} items, limit is {maximum}")


def _text(
    obj: Mapping[str, Any], key: str, where: str, limit: int, *, blank_ok: bool = False
) -> str:
    """Visible text: required (non-blank unless ``blank_ok``), at most ``limit`` characters."""
    value = obj.get(key)
    if value is None:
        _fail(f"{where}: required")
    if not isinstance(value, str):
        _fail(f"{where}: expected a string, got {type(value).__name__}")
    if not blank_ok and not value.strip():
        _fail(f"{where}: must not be empty")
    if len(value) > limit:
        _fail(f"{where}: {len(value)} characters, limit is {limit}")
    return value


def _id(obj: Mapping[str, Any], key: str, where: str, limit: int) -> str:
    """A machine value (id, token, recipient): non-empty, no surrounding whitespace."""
    value = _text(obj, key, where, limit)
    if value != value.strip():
        _fail(f"{where}: must not have leading or trailing whitespace")
    return value
