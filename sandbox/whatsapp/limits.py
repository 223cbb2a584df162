"""Meta's payload limits for `POST /{phone_number_id}/messages`, and the validator applying them.

Lengths are counted in characters (code points). Missing or malformed parameters answer code 100,
values outside Meta's limits answer code 131009, both with HTTP 400 and `error_data.details`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from sandbox.whatsapp.errors import GraphApiError, invalid_parameter, value_not_valid

TEXT_BODY_MAX = 4096
MEDIA_CAPTION_MAX = 1024

HEADER_TEXT_MAX = 60
FOOTER_TEXT_MAX = 60

BUTTON_BODY_MAX = 1024
BUTTONS_MAX = 3
BUTTON_ID_MAX = 256
BUTTON_TITLE_MAX = 20

LIST_BODY_MAX = 4096
LIST_BUTTON_MAX = 20
LIST_SECTIONS_MAX = 10
LIST_SECTION_TITLE_MAX = 24
LIST_ROWS_MAX = 10
LIST_ROW_ID_MAX = 200
LIST_ROW_TITLE_MAX = 24
LIST_ROW_DESCRIPTION_MAX = 72

FLOW_BODY_MAX = 1024
# Meta's pages say 20 or 30 depending on the page; PROTOCOLS.md calls 20 the safe limit.
FLOW_CTA_MAX = 20
FLOW_MESSAGE_VERSION = "3"
FLOW_ACTIONS = ("navigate", "data_exchange")
FLOW_MODES = ("draft", "published")

# Interactive CTA URL button messages (Meta's "Interactive Call-to-Action URL Button Messages"):
# body required <= 1024, display_text required <= 20, url required, header text <= 60 (or an
# image/video/document header), footer <= 60. The URL bound and the http(s) rule are ours:
# Meta publishes no length, and says the URL is loaded "in the device's default web browser".
CTA_URL_BODY_MAX = 1024
CTA_URL_DISPLAY_TEXT_MAX = 20
CTA_URL_URL_MAX = 2000
CTA_URL_SCHEMES = ("http", "https")

TEMPLATE_NAME_MAX = 512

MEDIA_TYPES = ("image", "audio", "video", "document", "sticker")
OTHER_TYPES = ("location", "contacts", "reaction")
INTERACTIVE_TYPES = ("button", "list", "flow", "cta_url")


# A business-scoped user ID (Meta's BSUID page): country code, a dot, up to 128 alphanumerics;
# a parent BSUID has "ENT." in between.
BSUID_RE = re.compile(r"[A-Z]{2}\.(?:ENT\.)?[A-Za-z0-9]{1,128}")


@dataclass(frozen=True)
class OutboundMessage:
    """A validated `messages` request: who it goes to and what it is."""

    to: str  # "" when sent by BSUID only
    wa_id: str  # the phone number `to` names; "" when sent by BSUID only
    type: str
    body: dict
    is_template: bool
    recipient: str | None = None  # the BSUID in `recipient`, if any


@dataclass(frozen=True)
class MarkRead:
    message_id: str
    typing_indicator: bool


def _obj(value: Any, path: str, *, required: bool = True) -> dict | None:
    if value is None:
        if required:
            raise invalid_parameter(f"The parameter {path} is required.")
        return None
    if not isinstance(value, dict):
        raise invalid_parameter(f"Param {path} must be a JSON object.")
    return value


def _text(
    value: Any, path: str, max_len: int, *, required: bool = True, code_131009: bool = False
) -> str | None:
    if value is None or value == "":
        if required:
            raise invalid_parameter(f"The parameter {path} is required.")
        return None
    if not isinstance(value, str):
        raise invalid_parameter(f"Param {path} must be a string.")
    if len(value) > max_len:
        details = f"Param {path} must be at most {max_len} characters long."
        raise value_not_valid(details) if code_131009 else invalid_parameter(details)
    return value


def wa_id_from(to: str) -> str:
    """Meta answers `wa_id` as digits only, whatever formatting `to` had."""
    return "".join(ch for ch in to if ch.isdigit())


def validate_request(body: Any) -> OutboundMessage | MarkRead:
    if not isinstance(body, dict):
        raise invalid_parameter("Request body must be a JSON object.")
    if body.get("messaging_product") != "whatsapp":
        if body.get("messaging_product") is None:
            raise invalid_parameter("The parameter messaging_product is required.")
        raise invalid_parameter("Param messaging_product must be 'whatsapp'.")
    if body.get("status") == "read" or "message_id" in body:
        if body.get("status") != "read":
            raise invalid_parameter("Param status must be 'read'.")
        message_id = _text(body.get("message_id"), "message_id", 1024)
        indicator = body.get("typing_indicator")
        if indicator is not None and (
            not isinstance(indicator, dict) or indicator.get("type") != "text"
        ):
            raise invalid_parameter("Param typing_indicator['type'] must be 'text'.")
        return MarkRead(message_id=message_id or "", typing_indicator=indicator is not None)

    recipient_type = body.get("recipient_type", "individual")
    if recipient_type != "individual":
        raise invalid_parameter("Param recipient_type must be 'individual'.")
    to, wa_id, recipient = _addressee(body)
    message_type = body.get("type", "text")
    context = body.get("context")
    if context is not None:
        context = _obj(context, "context")
        _text(context.get("message_id"), "context['message_id']", 1024)

    if message_type == "text":
        text = _obj(body.get("text"), "text")
        _text(text.get("body"), "text['body']", TEXT_BODY_MAX)
        if "preview_url" in text and not isinstance(text["preview_url"], bool):
            raise invalid_parameter("Param text['preview_url'] must be a boolean.")
    elif message_type == "interactive":
        _validate_interactive(_obj(body.get("interactive"), "interactive"))
    elif message_type == "template":
        _validate_template(_obj(body.get("template"), "template"))
    elif message_type in MEDIA_TYPES:
        media = _obj(body.get(message_type), message_type)
        if not media.get("id") and not media.get("link"):
            raise invalid_parameter(f"Param {message_type} must have either 'id' or 'link'.")
        if message_type in ("image", "video", "document"):
            _text(
                media.get("caption"),
                f"{message_type}['caption']",
                MEDIA_CAPTION_MAX,
                required=False,
            )
    elif message_type == "location":
        location = _obj(body.get("location"), "location")
        for key in ("latitude", "longitude"):
            if not isinstance(location.get(key), int | float | str):
                raise invalid_parameter(f"The parameter location['{key}'] is required.")
    elif message_type in ("contacts", "reaction"):
        if body.get(message_type) is None:
            raise invalid_parameter(f"The parameter {message_type} is required.")
    else:
        raise invalid_parameter(f"Param type '{message_type}' is not a supported message type.")
    return OutboundMessage(
        to=to,
        wa_id=wa_id,
        type=message_type,
        body=body,
        is_template=message_type == "template",
        recipient=recipient,
    )


def _addressee(body: dict) -> tuple[str, str, str | None]:
    """``(to, wa_id, recipient)``. Meta's BSUID page: a phone number goes in ``to``, a BSUID in
    ``recipient``; with both, ``to`` wins. A BSUID in ``to`` is refused (peers send it as
    ``recipient``: courier's "Plain Send with BSUID as whatsapp URN")."""
    to = body.get("to")
    recipient = body.get("recipient")
    if to is None and recipient is None:
        raise invalid_parameter("The parameter to is required.")
    if to is not None:
        if not isinstance(to, str) or not to.strip():
            raise invalid_parameter("The parameter to is required.")
        if BSUID_RE.fullmatch(to.strip()):
            raise invalid_parameter(
                f"Param to '{to}' is not a valid phone number; send a user ID as 'recipient'."
            )
        wa_id = wa_id_from(to)
        if not 6 <= len(wa_id) <= 15:
            raise invalid_parameter(f"Param to '{to}' is not a valid phone number.")
        return to, wa_id, recipient if isinstance(recipient, str) else None
    if not isinstance(recipient, str) or not BSUID_RE.fullmatch(recipient):
        raise invalid_parameter(f"Param recipient '{recipient}' is not a valid user ID.")
    return "", "", recipient


def _validate_header(header: Any, *, text_only: bool) -> None:
    header = _obj(header, "interactive['header']", required=False)
    if header is None:
        return
    header_type = header.get("type")
    if header_type == "text":
        _text(
            header.get("text"), "interactive['header']['text']", HEADER_TEXT_MAX, code_131009=True
        )
    elif not text_only and header_type in ("image", "video", "document"):
        _obj(header.get(header_type), f"interactive['header']['{header_type}']")
    else:
        raise invalid_parameter(f"Param interactive['header']['type'] '{header_type}' is invalid.")


def _validate_body_footer(interactive: dict, body_max: int) -> None:
    body = _obj(interactive.get("body"), "interactive['body']")
    _text(body.get("text"), "interactive['body']['text']", body_max, code_131009=True)
    footer = _obj(interactive.get("footer"), "interactive['footer']", required=False)
    if footer is not None:
        _text(
            footer.get("text"), "interactive['footer']['text']", FOOTER_TEXT_MAX, code_131009=True
        )


def _validate_interactive(interactive: dict) -> None:
    kind = interactive.get("type")
    if kind not in INTERACTIVE_TYPES:
        raise invalid_parameter(f"Param interactive['type'] '{kind}' is not supported.")
    action = _obj(interactive.get("action"), "interactive['action']")
    if kind == "button":
        _validate_header(interactive.get("header"), text_only=False)
        _validate_body_footer(interactive, BUTTON_BODY_MAX)
        _validate_buttons(action)
    elif kind == "list":
        _validate_header(interactive.get("header"), text_only=True)
        _validate_body_footer(interactive, LIST_BODY_MAX)
        _validate_list(action)
    elif kind == "flow":
        _validate_header(interactive.get("header"), text_only=False)
        _validate_body_footer(interactive, FLOW_BODY_MAX)
        _validate_flow(action)
    else:
        _validate_header(interactive.get("header"), text_only=False)
        _validate_body_footer(interactive, CTA_URL_BODY_MAX)
        _validate_cta_url(action)


def _validate_cta_url(action: dict) -> None:
    if action.get("name") != "cta_url":
        raise invalid_parameter("Param interactive['action']['name'] must be 'cta_url'.")
    prefix = "interactive['action']['parameters']"
    parameters = _obj(action.get("parameters"), prefix)
    _text(
        parameters.get("display_text"),
        f"{prefix}['display_text']",
        CTA_URL_DISPLAY_TEXT_MAX,
        code_131009=True,
    )
    url = _text(parameters.get("url"), f"{prefix}['url']", CTA_URL_URL_MAX, code_131009=True)
    try:
        parts = urlsplit(url or "")
        host = parts.hostname
    except ValueError:
        host = None
    if (
        not host
        or parts.scheme.lower() not in CTA_URL_SCHEMES
        or any(ch.isspace() for ch in url or "")
    ):
        raise invalid_parameter(f"Param {prefix}['url'] must be a valid http or https URL.")


def _validate_buttons(action: dict) -> None:
    buttons = action.get("buttons")
    if not isinstance(buttons, list) or not buttons:
        raise invalid_parameter("The parameter interactive['action']['buttons'] is required.")
    if len(buttons) > BUTTONS_MAX:
        raise value_not_valid(f"Button count is greater than {BUTTONS_MAX}")
    titles: set[str] = set()
    ids: set[str] = set()
    for index, button in enumerate(buttons):
        path = f"interactive['action']['buttons'][{index}]"
        button = _obj(button, path)
        if button.get("type") != "reply":
            raise invalid_parameter(f"Param {path}['type'] must be 'reply'.")
        reply = _obj(button.get("reply"), f"{path}['reply']")
        button_id = _text(reply.get("id"), f"{path}['reply']['id']", BUTTON_ID_MAX)
        title = reply.get("title")
        if not isinstance(title, str) or not 1 <= len(title) <= BUTTON_TITLE_MAX:
            raise value_not_valid(
                f"Button title length invalid. Min length: 1, Max length: {BUTTON_TITLE_MAX}"
            )
        if title in titles:
            raise value_not_valid("Button titles must be unique.")
        if button_id in ids:
            raise value_not_valid("Button ids must be unique.")
        titles.add(title)
        ids.add(button_id or "")


def _validate_list(action: dict) -> None:
    button = action.get("button")
    if not isinstance(button, str) or not 1 <= len(button) <= LIST_BUTTON_MAX:
        raise value_not_valid(
            f"Button title length invalid. Min length: 1, Max length: {LIST_BUTTON_MAX}"
        )
    sections = action.get("sections")
    if not isinstance(sections, list) or not sections:
        raise invalid_parameter("The parameter interactive['action']['sections'] is required.")
    if len(sections) > LIST_SECTIONS_MAX:
        raise value_not_valid(f"Too many sections. Max sections: {LIST_SECTIONS_MAX}")
    row_ids: set[str] = set()
    total_rows = 0
    for s_index, section in enumerate(sections):
        s_path = f"interactive['action']['sections'][{s_index}]"
        section = _obj(section, s_path)
        _text(
            section.get("title"),
            f"{s_path}['title']",
            LIST_SECTION_TITLE_MAX,
            required=len(sections) > 1,
            code_131009=True,
        )
        rows = section.get("rows")
        if not isinstance(rows, list) or not rows:
            raise invalid_parameter(f"The parameter {s_path}['rows'] is required.")
        total_rows += len(rows)
        if total_rows > LIST_ROWS_MAX:
            raise value_not_valid(f"Total row count exceed max allowed count: {LIST_ROWS_MAX}")
        for r_index, row in enumerate(rows):
            r_path = f"{s_path}['rows'][{r_index}]"
            row = _obj(row, r_path)
            row_id = _text(row.get("id"), f"{r_path}['id']", LIST_ROW_ID_MAX, code_131009=True)
            _text(row.get("title"), f"{r_path}['title']", LIST_ROW_TITLE_MAX, code_131009=True)
            _text(
                row.get("description"),
                f"{r_path}['description']",
                LIST_ROW_DESCRIPTION_MAX,
                required=False,
                code_131009=True,
            )
            if row_id in row_ids:
                raise value_not_valid("Row ids must be unique.")
            row_ids.add(row_id or "")


def _validate_flow(action: dict) -> None:
    if action.get("name") != "flow":
        raise invalid_parameter("Param interactive['action']['name'] must be 'flow'.")
    params = _obj(action.get("parameters"), "interactive['action']['parameters']")
    prefix = "interactive['action']['parameters']"
    version = params.get("flow_message_version")
    if version is None:
        raise invalid_parameter(f"The parameter {prefix}['flow_message_version'] is required.")
    if str(version) != FLOW_MESSAGE_VERSION:
        raise value_not_valid(f"flow_message_version must be '{FLOW_MESSAGE_VERSION}'.")
    if not params.get("flow_id") and not params.get("flow_name"):
        raise invalid_parameter(f"The parameter {prefix}['flow_id'] is required.")
    if "flow_token" in params:
        _text(params.get("flow_token"), f"{prefix}['flow_token']", 4096)
    _text(params.get("flow_cta"), f"{prefix}['flow_cta']", FLOW_CTA_MAX, code_131009=True)
    mode = params.get("mode", "published")
    if mode not in FLOW_MODES:
        raise invalid_parameter(f"Param {prefix}['mode'] must be one of {list(FLOW_MODES)}.")
    flow_action = params.get("flow_action", "navigate")
    if flow_action not in FLOW_ACTIONS:
        raise invalid_parameter(
            f"Param {prefix}['flow_action'] must be one of {list(FLOW_ACTIONS)}."
        )
    payload = params.get("flow_action_payload")
    if flow_action == "data_exchange":
        if payload is not None:
            raise value_not_valid(
                "flow_action_payload is only allowed when flow_action is 'navigate'."
            )
        return
    payload = _obj(payload, f"{prefix}['flow_action_payload']")
    _text(payload.get("screen"), f"{prefix}['flow_action_payload']['screen']", 200)
    data = payload.get("data")
    if data is not None and (not isinstance(data, dict) or not data):
        raise value_not_valid("flow_action_payload['data'] must be a non-empty JSON object.")


def _validate_template(template: dict) -> None:
    _text(template.get("name"), "template['name']", TEMPLATE_NAME_MAX)
    language = _obj(template.get("language"), "template['language']")
    _text(language.get("code"), "template['language']['code']", 20)
    components = template.get("components")
    if components is not None and not isinstance(components, list):
        raise invalid_parameter("Param template['components'] must be an array.")


__all__ = ["GraphApiError", "MarkRead", "OutboundMessage", "validate_request", "wa_id_from"]
