"""Model fields for secrets at rest, encrypted with FIELD_ENCRYPTION_KEY (Fernet)."""

from functools import cache

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import models
from django.utils.encoding import force_bytes

from .logging import register_secret

_PREFIX = "fernet:"


@cache
def _fernet(keys: tuple[str, ...]) -> MultiFernet:
    if not keys:
        # Only reachable with DEBUG on (settings refuse to start otherwise): derive a
        # stable development key from SECRET_KEY so local data stays readable.
        import base64
        import hashlib

        digest = hashlib.sha256(force_bytes("field-encryption:" + settings.SECRET_KEY)).digest()
        keys = (base64.urlsafe_b64encode(digest).decode(),)
    try:
        return MultiFernet([Fernet(key.encode()) for key in keys])
    except (ValueError, TypeError) as exc:
        raise ImproperlyConfigured("FIELD_ENCRYPTION_KEY holds an invalid Fernet key.") from exc


def encrypt(value: str) -> str:
    return _PREFIX + _fernet(tuple(settings.FIELD_ENCRYPTION_KEY)).encrypt(value.encode()).decode()


def decrypt(stored: str) -> str:
    if not stored.startswith(_PREFIX):
        raise ValueError("value is not encrypted")
    try:
        token = stored[len(_PREFIX) :].encode()
        value = _fernet(tuple(settings.FIELD_ENCRYPTION_KEY)).decrypt(token).decode()
    except InvalidToken as exc:
        raise ImproperlyConfigured(
            "An encrypted field cannot be decrypted with FIELD_ENCRYPTION_KEY "
            "(was the key changed without keeping the old one?)."
        ) from exc
    # A decrypted secret is masked by value in every later log line of this process.
    register_secret(value)
    return value


class EncryptedTextField(models.TextField):
    """A text field stored encrypted; reads give the plaintext back.

    The database only ever holds ``fernet:<token>``, so a dump or a replica leaks nothing.
    """

    def get_prep_value(self, value):
        value = super().get_prep_value(value)
        if value is None or value == "":
            return value
        return encrypt(str(value))

    def from_db_value(self, value, expression, connection):
        if value is None or value == "":
            return value
        return decrypt(value)
