"""Builds the `messages[]` objects Meta puts in a webhook when a user writes to the business."""

from __future__ import annotations

import json
import secrets
from typing import Any

INBOUND_KINDS = (
    "text",
    "button_reply",
    "list_reply",
    "nfm_reply",
    "button",
    "image",
    "location",
)


class InboundError(ValueError):
    """A control request that does not describe a message a user could send."""


def _required(spec: dict, key: str) -> Any:
    value = spec.get(key)
    if value is None or value == "":
        raise InboundError(f"'{key}' is required for type {spec.get('type')!r}")
    return value


def build_message(
    spec: dict, *, wa_id: str, wamid: str, timestamp: int, context: dict | None
) -> dict:
    """Turn a control-API description (`{"type": "text", "text": "hi"}`, ...) into Meta's shape."""
    kind = spec.get("type", "text")
    message: dict = {}
    if context is not None:
        message["context"] = context
    message.update({"from": wa_id, "id": wamid, "timestamp": str(timestamp)})
    if kind == "text":
        body = spec.get("text", spec.get("body"))
        if not isinstance(body, str) or not body:
            raise InboundError("'text' is required for type 'text'")
        message.update({"type": "text", "text": {"body": body}})
    elif kind == "button_reply":
        reply = {"id": str(_required(spec, "id")), "title": str(_required(spec, "title"))}
        message.update(
            {"type": "interactive", "interactive": {"type": "button_reply", "button_reply": reply}}
        )
    elif kind == "list_reply":
        reply = {"id": str(_required(spec, "id")), "title": str(_required(spec, "title"))}
        if spec.get("description"):
            reply["description"] = str(spec["description"])
        message.update(
            {"type": "interactive", "interactive": {"type": "list_reply", "list_reply": reply}}
        )
    elif kind == "nfm_reply":
        response_json = _required(spec, "response_json")
        if not isinstance(response_json, str):
            response_json = json.dumps(response_json)
        message.update(
            {
                "type": "interactive",
                "interactive": {
                    "type": "nfm_reply",
                    "nfm_reply": {
                        "response_json": response_json,
                        "body": spec.get("body", "Sent"),
                        "name": "flow",
                    },
                },
            }
        )
    elif kind == "button":
        # A quick-reply button of a template message.
        text = str(_required(spec, "text"))
        message.update(
            {"type": "button", "button": {"payload": str(spec.get("payload", text)), "text": text}}
        )
    elif kind == "image":
        image = {
            "mime_type": spec.get("mime_type", "image/jpeg"),
            "sha256": secrets.token_urlsafe(32),
            "id": str(spec.get("media_id") or secrets.randbelow(10**15) + 10**15),
        }
        if spec.get("caption"):
            image["caption"] = str(spec["caption"])
        message.update({"type": "image", "image": image})
    elif kind == "location":
        location: dict = {
            "latitude": float(_required(spec, "latitude")),
            "longitude": float(_required(spec, "longitude")),
        }
        # "name" in a control request is the user's profile name, so the place is "location_name".
        for key, source in (("name", "location_name"), ("address", "address"), ("url", "url")):
            if spec.get(source):
                location[key] = str(spec[source])
        message.update({"type": "location", "location": location})
    else:
        raise InboundError(f"unknown inbound type {kind!r}; one of {list(INBOUND_KINDS)}")
    return message
