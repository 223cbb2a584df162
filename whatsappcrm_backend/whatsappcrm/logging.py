"""Log plumbing: a request id on every line, structured fields, JSON output, redaction.

Code logs structured payment fields with ``extra={"payment_id": ..., ...}``; the text
format appends them as ``key=value`` and the JSON format (``LOG_FORMAT=json``) makes them
keys of one JSON object per line. ``RedactFilter`` is the last line of defence: secrets
(``key=value`` pairs with secret-looking keys, bearer tokens, URL passwords, the project's
own secret settings) become ``***`` and phone numbers keep only their last three digits,
in the message, the structured fields and the traceback alike.
"""

from __future__ import annotations

import contextvars
import json
import logging
import re
from typing import Any

request_id_var: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="-")

# Fields that code may attach with ``extra=`` and that the text format renders on the line.
STRUCTURED_FIELDS = (
    "payment_id",
    "booking_reference",
    "paynow_reference",
    "status",
    "source",
    "contact",
    "wamid",
    "flow",
    "step",
    "duration_ms",
    "alert",
    "client_ip",
    "path",
)
# Identifiers that look like numbers but are not phone numbers: never masked.
_IDENTIFIER_FIELDS = frozenset({"payment_id", "booking_reference", "paynow_reference", "wamid"})

# Attributes every LogRecord has; anything else on a record came from ``extra=``.
_RECORD_ATTRIBUTES = frozenset(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {
    "message",
    "asctime",
    "request_id",
    "extra_fields",
    "task_id",
}

_SECRET_NAME = re.compile(
    r"integration_?key|access_?token|app_?secret|client_?secret|secret|password|passwd"
    r"|api_?key|token|authorization|signature",
    re.I,
)
_SECRET_PAIR = re.compile(
    r"(?i)\b((?:integration_?key|access_?token|app_?secret|client_?secret|secret_?key|secret"
    r"|password|passwd|api_?key|verify_?token|token|authorization)[\"']?\s*[:=]\s*[\"']?)"
    r"(?:bearer\s+)?[^\s\"'&,;}]+"
)
_BEARER = re.compile(r"(?i)\b(bearer\s+)[A-Za-z0-9._~+/=-]+")
_URL_PASSWORD = re.compile(r"(//[^/\s:@]+:)[^@/\s]+@")
_PHONE = re.compile(
    r"(?<![\w.-])(?:"
    r"\+?(?:263|0)\s?7\d(?:[\s-]?\d){7}"  # Zimbabwean mobile: 0771234567, +263 77 123 4567
    r"|\+\d{1,3}(?:[\s-]?\d){7,13}"  # any E.164 number written with its +
    r"|\d{11,15}"  # a bare WhatsApp id (country code first), e.g. 263771234567
    r")(?![\w-])"
)


def mask_phone(value: str) -> str:
    """Keep only the last three digits of a phone number: ``*********567``."""
    digits = re.sub(r"\D", "", str(value))
    if len(digits) <= 3:
        return "***"
    return "*" * (len(digits) - 3) + digits[-3:]


# Secret values known to this process (e.g. decrypted credentials): masked wherever they
# appear, even without a telling key name. Bounded so it cannot grow without limit.
_REGISTERED_SECRETS: set[str] = set()
_MAX_REGISTERED_SECRETS = 256


def register_secret(value: str) -> None:
    """Mask ``value`` in every later log line of this process (for values of 8+ characters).

    ``whatsappcrm.fields.decrypt`` is the natural caller: every decrypted credential
    (Paynow integration key, Meta tokens and app secrets) is then redacted by value.
    """
    if isinstance(value, str) and len(value) >= 8:
        if len(_REGISTERED_SECRETS) >= _MAX_REGISTERED_SECRETS:
            _REGISTERED_SECRETS.pop()
        _REGISTERED_SECRETS.add(value)


def _secret_values() -> list[str]:
    """The project's own secrets, so that a stray value is caught even without its key."""
    values = list(_REGISTERED_SECRETS)
    try:
        from django.conf import settings

        if not settings.configured:
            return values
        values += [settings.SECRET_KEY, settings.METRICS_TOKEN]
        values += list(settings.FIELD_ENCRYPTION_KEY or [])
    except Exception:
        return values
    return [value for value in values if isinstance(value, str) and len(value) >= 8]


def redact(text: str) -> str:
    """Mask secrets and phone numbers in a piece of log text."""
    if not text:
        return text
    for value in _secret_values():
        if value in text:
            text = text.replace(value, "***")
    text = _SECRET_PAIR.sub(r"\1***", text)
    text = _BEARER.sub(r"\1***", text)
    text = _URL_PASSWORD.sub(r"\1***@", text)
    return _PHONE.sub(lambda m: mask_phone(m.group(0)), text)


def extra_fields(record: logging.LogRecord) -> dict[str, Any]:
    """The ``extra=`` attributes of a record (structured fields first)."""
    names = [name for name in STRUCTURED_FIELDS if hasattr(record, name)]
    names += sorted(
        name
        for name in vars(record)
        if name not in _RECORD_ATTRIBUTES
        and name not in STRUCTURED_FIELDS
        and not name.startswith("_")
    )
    return {name: getattr(record, name) for name in names}


def _current_task_id() -> str | None:
    try:
        from celery import current_task
    except ImportError:  # pragma: no cover - celery is a dependency
        return None
    request = getattr(current_task, "request", None) if current_task else None
    return getattr(request, "id", None)


def _render_extra_fields(record: logging.LogRecord) -> str:
    parts = [
        f"{name}={value}"
        for name, value in extra_fields(record).items()
        if name in STRUCTURED_FIELDS
    ]
    return (" " + " ".join(parts)) if parts else ""


class RequestIdFilter(logging.Filter):
    """Adds ``request_id`` (the HTTP request's, else the Celery task's id, else ``-``)."""

    def filter(self, record: logging.LogRecord) -> bool:
        request_id = request_id_var.get()
        if request_id == "-":
            request_id = _current_task_id() or "-"
        record.request_id = request_id
        record.extra_fields = _render_extra_fields(record)
        return True


class RedactFilter(logging.Filter):
    """Mask secrets and phone numbers in the message, the extra fields and the traceback."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a broken format string: keep what we have, safely
            message = f"{record.msg} {record.args}"
        masked = redact(message)
        if masked != message:
            record.msg, record.args = masked, None
        for name, value in extra_fields(record).items():
            if _SECRET_NAME.search(name):
                setattr(record, name, "***")
            elif isinstance(value, str) and name not in _IDENTIFIER_FIELDS:
                setattr(record, name, redact(value))
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        record.extra_fields = _render_extra_fields(record)
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, request_id, then the fields."""

    def format(self, record: logging.LogRecord) -> str:
        payload: dict[str, Any] = {
            "time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S%z"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": getattr(record, "request_id", request_id_var.get()),
        }
        for name, value in extra_fields(record).items():
            if name in payload:
                continue
            if name in STRUCTURED_FIELDS or isinstance(value, str | int | float | bool | None):
                payload[name] = value
        if record.exc_info and not record.exc_text:
            record.exc_text = redact(self.formatException(record.exc_info))
        if record.exc_text:
            payload["exc_info"] = record.exc_text
        if record.stack_info:
            payload["stack_info"] = record.stack_info
        return json.dumps(payload, default=str, ensure_ascii=False)
