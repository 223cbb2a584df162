"""WhatsApp Flows data-channel encryption, server side.

Meta wraps a fresh 128-bit AES key with our RSA public key (OAEP, SHA-256 for hash and MGF1) and
encrypts the request with AES-GCM; we answer with the same key and the bit-flipped IV. Any
failure to decrypt is a ``FlowDecryptionError``: the endpoint answers HTTP 421 so the client
refetches our public key and retries.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from cryptography.exceptions import InvalidTag, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

RSA_KEY_BITS = 2048
AES_KEY_BYTES = 16  # Meta sends a 128-bit key
IV_BYTES = 16
GCM_TAG_BYTES = 16

_OAEP = padding.OAEP(
    mgf=padding.MGF1(algorithm=hashes.SHA256()), algorithm=hashes.SHA256(), label=None
)


class FlowDecryptionError(Exception):
    """A data-channel request could not be decrypted (answer HTTP 421)."""


class FlowKeyError(ValueError):
    """A private key could not be loaded (bad PEM, wrong or missing passphrase, not RSA)."""


@dataclass(frozen=True, slots=True)
class DecryptedRequest:
    payload: dict[str, Any]
    aes_key: bytes = field(repr=False)
    iv: bytes = field(repr=False)


def generate_key_pair(passphrase: str | None = None) -> tuple[bytes, bytes]:
    """Return ``(private PEM, public PEM)`` for a new 2048-bit RSA key.

    The private key is PKCS8, encrypted with the passphrase when one is given; the public key
    is SubjectPublicKeyInfo, ready to upload to Meta.
    """
    private_key = rsa.generate_private_key(public_exponent=65537, key_size=RSA_KEY_BITS)
    encryption: serialization.KeySerializationEncryption = (
        serialization.BestAvailableEncryption(passphrase.encode("utf-8"))
        if passphrase
        else serialization.NoEncryption()
    )
    private_pem = private_key.private_bytes(
        encoding=serialization.Encoding.PEM,
        format=serialization.PrivateFormat.PKCS8,
        encryption_algorithm=encryption,
    )
    public_pem = private_key.public_key().public_bytes(
        encoding=serialization.Encoding.PEM,
        format=serialization.PublicFormat.SubjectPublicKeyInfo,
    )
    return private_pem, public_pem


def load_private_key(pem: bytes | str, passphrase: str | None = None) -> rsa.RSAPrivateKey:
    """Load an RSA private key from PEM. Raises ``FlowKeyError`` with a reason on failure.

    Parsing is slow (the key is validated); load once at start-up, not per request.
    """
    if isinstance(pem, str):
        pem = pem.encode("utf-8")
    password = passphrase.encode("utf-8") if passphrase else None
    try:
        key = serialization.load_pem_private_key(pem, password=password)
    except TypeError as exc:
        # cryptography: "Password was not given but private key is encrypted" or the reverse.
        raise FlowKeyError(f"private key passphrase mismatch: {exc}") from None
    except (ValueError, UnsupportedAlgorithm) as exc:
        raise FlowKeyError(
            f"cannot load private key (bad PEM or wrong passphrase): {exc}"
        ) from None
    if not isinstance(key, rsa.RSAPrivateKey):
        raise FlowKeyError(f"private key is {type(key).__name__}, not RSA")
    return key


def decrypt_request(
    body: Mapping[str, Any], private_keys: Sequence[rsa.RSAPrivateKey]
) -> DecryptedRequest:
    """Decrypt a data-channel request body (the parsed JSON with the three base64 fields).

    ``private_keys`` is the current key first, then the previous one during a rotation.
    """
    if not isinstance(body, Mapping):
        raise FlowDecryptionError("request body is not a JSON object")
    encrypted_flow_data = _b64_field(body, "encrypted_flow_data")
    encrypted_aes_key = _b64_field(body, "encrypted_aes_key")
    iv = _b64_field(body, "initial_vector")
    if len(iv) != IV_BYTES:
        raise FlowDecryptionError(f"initial_vector is {len(iv)} bytes, expected {IV_BYTES}")
    if len(encrypted_flow_data) < GCM_TAG_BYTES:
        raise FlowDecryptionError("encrypted_flow_data is shorter than the GCM tag")
    if not private_keys:
        raise FlowDecryptionError("no private key configured")

    aes_key = _unwrap_aes_key(encrypted_aes_key, private_keys)
    try:
        # AESGCM expects ciphertext || tag, which is exactly Meta's layout.
        plaintext = AESGCM(aes_key).decrypt(iv, encrypted_flow_data, None)
    except InvalidTag:
        raise FlowDecryptionError("AES-GCM authentication failed (bad tag)") from None
    try:
        payload = json.loads(plaintext.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise FlowDecryptionError("decrypted request is not UTF-8 JSON") from None
    if not isinstance(payload, dict):
        raise FlowDecryptionError("decrypted request is not a JSON object")
    return DecryptedRequest(payload=payload, aes_key=aes_key, iv=iv)


def encrypt_response(payload: Mapping[str, Any], aes_key: bytes, iv: bytes) -> str:
    """Encrypt a reply with the request's key and the bit-flipped IV; returns base64 text.

    The JSON is serialised with ``json.dumps`` defaults, as Meta's reference implementation
    (and pywa) do, so the bytes match theirs exactly.
    """
    if len(aes_key) != AES_KEY_BYTES:
        raise ValueError(f"aes_key must be {AES_KEY_BYTES} bytes, got {len(aes_key)}")
    if len(iv) != IV_BYTES:
        raise ValueError(f"iv must be {IV_BYTES} bytes, got {len(iv)}")
    flipped_iv = bytes(byte ^ 0xFF for byte in iv)
    plaintext = json.dumps(dict(payload)).encode("utf-8")
    ciphertext_and_tag = AESGCM(aes_key).encrypt(flipped_iv, plaintext, None)
    return base64.b64encode(ciphertext_and_tag).decode("ascii")


def _b64_field(body: Mapping[str, Any], name: str) -> bytes:
    value = body.get(name)
    if not isinstance(value, str) or not value:
        raise FlowDecryptionError(f"{name} is missing or not a string")
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise FlowDecryptionError(f"{name} is not valid base64") from None


def _unwrap_aes_key(encrypted_aes_key: bytes, private_keys: Sequence[rsa.RSAPrivateKey]) -> bytes:
    for private_key in private_keys:
        try:
            aes_key = private_key.decrypt(encrypted_aes_key, _OAEP)
        except ValueError:
            continue  # not encrypted to this key: try the previous one
        if len(aes_key) != AES_KEY_BYTES:
            raise FlowDecryptionError(
                f"unwrapped AES key is {len(aes_key)} bytes, expected {AES_KEY_BYTES}"
            )
        return aes_key
    raise FlowDecryptionError("encrypted_aes_key does not decrypt with any configured key")
