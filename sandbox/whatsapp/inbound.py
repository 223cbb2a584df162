"""Builds the `messages[]` objects Meta puts in a webhook when a user writes to the business."""

from __future__ import annotations

import json
from typing import Any

INBOUND_KINDS = (
    "text",
    "button_reply",
    "list_reply",
    "nfm_reply",
    "button",
    "image",
    "document",
    "location",
    "reaction",
)


class InboundError(ValueError):
    """A control request that does not describe a message a user could send."""


def _required(spec: dict, key: str) -> Any:
    value = spec.get(key)
    if value is None or value == "":
        raise InboundError(f"'{key}' is required for type {spec.get('type')!r}")
    return value


def build_message(
    spec: dict,
    *,
    sender: dict,
    wamid: str,
    timestamp: int,
    context: dict | None,
    media: dict | None = None,
) -> dict:
    """Turn a control-API description (`{"type": "text", "text": "hi"}`, ...) into Meta's shape.

    ``sender`` is `from` and `from_user_id` (`User.sender_fields`: no `from` for a username
    user); ``media`` the stored file of an image or document (`{id, mime_type, sha256,
    filename}`; the webhook carries its SHA-256 in base64, as pywa's fixtures show it).
    """
    kind = spec.get("type", "text")
    message: dict = {}
    if context is not None:
        message["context"] = context
    message.update({**sender, "id": wamid, "timestamp": str(timestamp)})
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
    elif kind in ("image", "document"):
        if media is None:
            raise InboundError(f"type {kind!r} needs its file")
        content: dict = {}
        if spec.get("caption"):
            content["caption"] = str(spec["caption"])
        if kind == "document" and media.get("filename"):
            content["filename"] = media["filename"]
        content.update(
            {"mime_type": media["mime_type"], "sha256": media["sha256_b64"], "id": media["id"]}
        )
        message.update({"type": kind, kind: content})
    elif kind == "reaction":
        reaction = {"message_id": str(_required(spec, "message_id"))}
        reaction["emoji"] = str(spec.get("emoji", ""))  # "" takes the reaction back
        message.update({"type": "reaction", "reaction": reaction})
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
