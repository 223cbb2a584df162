"""Signing and the WhatsApp Flows data-channel encryption, from the phone's (Meta's) side."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
from dataclasses import dataclass

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

SIGNATURE_HEADER = "X-Hub-Signature-256"
LEGACY_SIGNATURE_HEADER = "X-Hub-Signature"


class FlowCryptoError(Exception):
    """A business public key or an endpoint reply that cannot be used."""


def sign(app_secret: str, raw_body: bytes) -> str:
    digest = hmac.new(app_secret.encode("utf-8"), raw_body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


def sign_legacy(app_secret: str, raw_body: bytes) -> str:
    """Meta still sends the SHA-1 signature beside the SHA-256 one on webhooks."""
    digest = hmac.new(app_secret.encode("utf-8"), raw_body, "sha1").hexdigest()
    return f"sha1={digest}"


def load_public_key(pem: str) -> rsa.RSAPublicKey:
    try:
        key = serialization.load_pem_public_key(pem.encode("utf-8"))
    except (ValueError, TypeError) as exc:
        raise FlowCryptoError(f"business_public_key is not a PEM public key: {exc}") from exc
    if not isinstance(key, rsa.RSAPublicKey):
        raise FlowCryptoError("business_public_key must be an RSA key")
    return key


@dataclass(frozen=True)
class EncryptedRequest:
    body: dict
    aes_key: bytes
    iv: bytes


def encrypt_request(payload: dict, public_key_pem: str) -> EncryptedRequest:
    """Encrypt one data-channel request as the WhatsApp client does."""
    public_key = load_public_key(public_key_pem)
    aes_key = os.urandom(16)
    iv = os.urandom(16)
    plaintext = json.dumps(payload, separators=(",", ":")).encode("utf-8")
    # AESGCM appends the 16-byte tag to the ciphertext, which is the wire format.
    ciphertext = AESGCM(aes_key).encrypt(iv, plaintext, None)
    wrapped_key = public_key.encrypt(
        aes_key,
        padding.OAEP(
            mgf=padding.MGF1(algorithm=hashes.SHA256()), algorithm=hashes.SHA256(), label=None
        ),
    )
    body = {
        "encrypted_flow_data": base64.b64encode(ciphertext).decode("ascii"),
        "encrypted_aes_key": base64.b64encode(wrapped_key).decode("ascii"),
        "initial_vector": base64.b64encode(iv).decode("ascii"),
    }
    return EncryptedRequest(body=body, aes_key=aes_key, iv=iv)


def flip_iv(iv: bytes) -> bytes:
    return bytes(byte ^ 0xFF for byte in iv)


def decrypt_response(body: bytes | str, aes_key: bytes, iv: bytes) -> dict:
    """Decrypt an endpoint reply: base64 of AES-GCM(same key, flipped IV), tag appended."""
    try:
        raw = base64.b64decode(body.strip() if isinstance(body, bytes | str) else body)
        plaintext = AESGCM(aes_key).decrypt(flip_iv(iv), raw, None)
        decoded = json.loads(plaintext.decode("utf-8"))
    except Exception as exc:  # any failure here means the reply is unusable
        raise FlowCryptoError(f"cannot decrypt the endpoint's reply: {exc!r}") from exc
    if not isinstance(decoded, dict):
        raise FlowCryptoError("the endpoint's reply is not a JSON object")
    return decoded
