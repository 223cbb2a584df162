"""The WhatsApp Flows private keys, loaded from settings once and kept in memory.

Settings (read with ``getattr``; the lead documents them in ``.env.example``):

- ``WHATSAPP_FLOW_PRIVATE_KEY_PATH``: a PEM file (what ``generate_flow_keys`` writes), or
- ``WHATSAPP_FLOW_PRIVATE_KEY``: the PEM text itself (wins over the path when both are set);
- ``WHATSAPP_FLOW_PRIVATE_KEY_PASSPHRASE``: its passphrase, if it has one;
- ``WHATSAPP_FLOW_PREVIOUS_PRIVATE_KEY_PATH`` / ``WHATSAPP_FLOW_PREVIOUS_PRIVATE_KEY`` /
  ``WHATSAPP_FLOW_PREVIOUS_PRIVATE_KEY_PASSPHRASE`` (defaults to the current passphrase): the
  key being rotated out. Requests still encrypted to it decrypt until it is removed.

Parsing an RSA key is slow (tens of milliseconds), so keys are cached, keyed by the settings
and the files' modification times: a new key file is picked up without a restart.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric import rsa
from django.conf import settings

from .crypto import FlowKeyError, load_private_key


@dataclass(frozen=True, slots=True)
class KeySource:
    """Where one key comes from: PEM text or a file path, and its passphrase."""

    pem: str
    path: str
    passphrase: str

    @property
    def configured(self) -> bool:
        return bool(self.pem.strip() or self.path.strip())

    def fingerprint(self) -> tuple:
        mtime = None
        if not self.pem.strip() and self.path.strip():
            try:
                mtime = os.stat(self.path).st_mtime_ns
            except OSError:
                mtime = "missing"
        return (self.pem, self.path, self.passphrase, mtime)

    def load(self) -> rsa.RSAPrivateKey:
        if self.pem.strip():
            return load_private_key(self.pem, self.passphrase or None)
        try:
            pem = Path(self.path).read_bytes()
        except OSError as exc:
            raise FlowKeyError(
                f"cannot read private key file {self.path}: {exc.strerror}"
            ) from None
        return load_private_key(pem, self.passphrase or None)


_cache_lock = threading.Lock()
_cache: dict[tuple, rsa.RSAPrivateKey] = {}


def current_key_source() -> KeySource:
    return KeySource(
        pem=str(settings.WHATSAPP_FLOW_PRIVATE_KEY or ""),
        path=str(settings.WHATSAPP_FLOW_PRIVATE_KEY_PATH or ""),
        passphrase=str(settings.WHATSAPP_FLOW_PRIVATE_KEY_PASSPHRASE or ""),
    )


def previous_key_source() -> KeySource:
    passphrase = settings.WHATSAPP_FLOW_PREVIOUS_PRIVATE_KEY_PASSPHRASE
    if passphrase is None or passphrase == "":
        passphrase = settings.WHATSAPP_FLOW_PRIVATE_KEY_PASSPHRASE
    return KeySource(
        pem=str(settings.WHATSAPP_FLOW_PREVIOUS_PRIVATE_KEY or ""),
        path=str(settings.WHATSAPP_FLOW_PREVIOUS_PRIVATE_KEY_PATH or ""),
        passphrase=str(passphrase or ""),
    )


def _cached(source: KeySource) -> rsa.RSAPrivateKey:
    fingerprint = source.fingerprint()
    with _cache_lock:
        key = _cache.get(fingerprint)
    if key is None:
        key = source.load()
        with _cache_lock:
            if len(_cache) > 8:  # old fingerprints after rotations; never grows without bound
                _cache.clear()
            _cache[fingerprint] = key
    return key


def private_keys() -> list[rsa.RSAPrivateKey]:
    """The current key, then the previous one if configured. Raises ``FlowKeyError``.

    A missing current key is an error; a broken previous key is an error too (a rotation
    that silently drops the old key would make Meta's cached requests fail with 421).
    """
    current = current_key_source()
    if not current.configured:
        raise FlowKeyError(
            "no WhatsApp Flows private key: set WHATSAPP_FLOW_PRIVATE_KEY_PATH "
            "(see `manage.py generate_flow_keys`) or WHATSAPP_FLOW_PRIVATE_KEY"
        )
    keys = [_cached(current)]
    previous = previous_key_source()
    if previous.configured:
        keys.append(_cached(previous))
    return keys


def clear_cache() -> None:
    with _cache_lock:
        _cache.clear()
