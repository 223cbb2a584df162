"""Small request/response types and body parsing shared by the Graph and control routes."""

from __future__ import annotations

import email.parser
import email.policy
import json
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]  # lower-cased names
    body: bytes

    def json(self) -> Any:
        if not self.body.strip():
            return {}
        return json.loads(self.body.decode("utf-8"))

    def params(self) -> dict[str, Any]:
        """Graph-style parameters: query string, then JSON, form or multipart body."""
        params: dict[str, Any] = dict(self.query)
        content_type = self.headers.get("content-type", "")
        if not self.body.strip():
            return params
        if content_type.startswith("multipart/form-data"):
            params.update(_parse_multipart(content_type, self.body))
        elif content_type.startswith("application/x-www-form-urlencoded"):
            parsed = parse_qs(self.body.decode("utf-8"), keep_blank_values=True)
            params.update({k: v[-1] for k, v in parsed.items()})
        else:
            body = self.json()
            if not isinstance(body, dict):
                raise ValueError("body must be a JSON object")
            params.update(body)
        return params


@dataclass
class Response:
    status: int
    body: Any = None
    content_type: str = "application/json"
    headers: dict[str, str] = field(default_factory=dict)

    def encoded(self) -> bytes:
        if isinstance(self.body, bytes):
            return self.body
        if isinstance(self.body, str):
            return self.body.encode("utf-8")
        return json.dumps(self.body).encode("utf-8")


def json_response(body: Any, status: int = 200) -> Response:
    return Response(status=status, body=body)


def _parse_multipart(content_type: str, body: bytes) -> dict[str, str]:
    head = f"Content-Type: {content_type}\r\nMIME-Version: 1.0\r\n\r\n".encode()
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(head + body)
    fields: dict[str, str] = {}
    if not message.is_multipart():
        return fields
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        if not name:
            continue
        payload = part.get_payload(decode=True) or b""
        fields[str(name)] = payload.decode("utf-8", "replace")
        filename = part.get_param("filename", header="content-disposition")
        if filename:
            fields[f"{name}__filename"] = str(filename)
    return fields


def query_int(query: dict[str, str], key: str, default: int) -> int:
    try:
        return int(query.get(key, default))
    except (TypeError, ValueError):
        return default


def query_float(query: dict[str, str], key: str, default: float) -> float:
    try:
        return float(query.get(key, default))
    except (TypeError, ValueError):
        return default
