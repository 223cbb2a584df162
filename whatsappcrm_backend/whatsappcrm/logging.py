"""Log plumbing: a request id on every line, structured fields, JSON output, redaction.

Code logs structured payment fields with ``extra={"payment_id": ..., ...}``; the text
format appends them as ``key=value`` and the JSON format makes them keys.
"""

import contextvars
import json
import logging
import re

request_id_var: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="-")

# Fields that code may attach with ``extra=`` and that are rendered on the line.
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
)
_SECRET_KEYS = re.compile(r"(integration_key|access_token|app_secret|secret|password|token)", re.I)
_PHONE = re.compile(r"(?<![\w.])\+?(?:263|0)\s?7\d(?:[\s-]?\d){7}(?!\d)")


def mask_phone(value: str) -> str:
    """Keep only the last three digits of a phone number: ``*********567``."""
    digits = re.sub(r"\D", "", str(value))
    if len(digits) <= 3:
        return "***"
    return "*" * (len(digits) - 3) + digits[-3:]


class RequestIdFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = request_id_var.get()
        parts = []
        for name in STRUCTURED_FIELDS:
            if hasattr(record, name):
                parts.append(f"{name}={getattr(record, name)}")
        record.extra_fields = (" " + " ".join(parts)) if parts else ""
        return True


class RedactFilter(logging.Filter):
    """Last line of defence: mask Zimbabwean mobile numbers in the rendered message."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        masked = _PHONE.sub(lambda m: mask_phone(m.group(0)), message)
        if masked != message:
            record.msg, record.args = masked, None
        for name in list(vars(record)):
            if _SECRET_KEYS.fullmatch(name):
                setattr(record, name, "***")
        return True


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        payload = {
            "time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S%z"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": getattr(record, "request_id", request_id_var.get()),
        }
        for name in STRUCTURED_FIELDS:
            if hasattr(record, name):
                payload[name] = getattr(record, name)
        if record.exc_info:
            payload["exc_info"] = self.formatException(record.exc_info)
        return json.dumps(payload, default=str)
