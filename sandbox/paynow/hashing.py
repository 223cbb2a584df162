"""Paynow's message hash, written independently of the project's client so each checks the other."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Sequence
from urllib.parse import parse_qsl, urlencode

Fields = Sequence[tuple[str, str]]


def paynow_hash(fields: Fields, integration_key: str) -> str:
    """SHA-512 (uppercase hex) of every non-hash value in order, then the key lower-cased."""
    parts = [value for key, value in fields if key.lower() != "hash"]
    parts.append(integration_key.lower())
    return hashlib.sha512("".join(parts).encode("utf-8")).hexdigest().upper()


def hash_matches(fields: Fields, integration_key: str) -> bool:
    received = [value for key, value in fields if key.lower() == "hash"]
    if len(received) != 1:
        return False
    return hmac.compare_digest(
        paynow_hash(fields, integration_key).encode(), received[0].upper().encode()
    )


def signed(fields: Fields, integration_key: str) -> list[tuple[str, str]]:
    """`fields` with `hash` appended last, as Paynow sends them."""
    fields = list(fields)
    return [*fields, ("hash", paynow_hash(fields, integration_key))]


def encode(fields: Fields) -> bytes:
    return urlencode(list(fields)).encode("ascii")


def decode(body: bytes) -> list[tuple[str, str]]:
    """Strict form decoding; raises ValueError on anything malformed."""
    text = body.decode("utf-8").strip()
    return parse_qsl(text, keep_blank_values=True, strict_parsing=True, errors="strict")
