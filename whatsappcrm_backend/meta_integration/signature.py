"""Meta webhook signatures: ``X-Hub-Signature-256: sha256=<hex HMAC-SHA256(app secret, raw body)>``.

Verify on the raw request bytes, before any parsing. Up to two app secrets are accepted so the
secret can be rotated without dropping webhooks.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Iterable

from meta_integration.constants import SIGNATURE_PREFIX

_HEX_DIGEST = re.compile(r"[0-9a-f]{64}")


def compute_signature(secret: str, body: bytes) -> str:
    """Return the header value Meta would send for ``body``: ``"sha256=<hex>"``."""
    if not secret:
        raise ValueError("refusing to sign with an empty app secret")
    digest = hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()
    return f"{SIGNATURE_PREFIX}{digest}"


def verify_signature(header: str | None, body: bytes, secrets: Iterable[str]) -> bool:
    """True when ``header`` is a valid signature of ``body`` under any of ``secrets``.

    Fails closed: a missing or garbled header, no secrets, or only empty secrets give False.
    Each comparison is constant-time, and every configured secret is tried so the time taken
    does not reveal which one matched.
    """
    if not header or not isinstance(header, str):
        return False
    header = header.strip()
    if header[: len(SIGNATURE_PREFIX)].lower() != SIGNATURE_PREFIX:
        return False
    received = header[len(SIGNATURE_PREFIX) :].lower()
    if not _HEX_DIGEST.fullmatch(received):
        return False

    matched = False
    for secret in secrets:
        if not secret:
            continue  # an unset secret must never validate anything
        expected = compute_signature(secret, body)[len(SIGNATURE_PREFIX) :]
        if hmac.compare_digest(expected.encode("ascii"), received.encode("ascii")):
            matched = True
    return matched
