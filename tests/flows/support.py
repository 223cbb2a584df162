"""Meta's side of the Flows data channel, written independently of our code (for the tests).

Encrypts a request exactly as Meta's client does (fresh AES-128 key and 16-byte IV, AES-GCM with
the tag appended, the key wrapped with RSA-OAEP SHA-256 under our public key), signs the body
with the app secret, and decrypts the answer (AES-GCM under the bit-flipped IV).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

APP_SECRET = "flows-app-secret-5e1d9c2b7a"
ACCESS_TOKEN = "EAAG-flows-access-token-77"
PHONE_NUMBER_ID = "109876543210987"
WABA_ID = "209876543210987"
WA_ID = "263771234567"
ENDPOINT_PATH = "/crm-api/flows/paynow-payment-webhook/"


@dataclass
class Encrypted:
    body: dict[str, str]
    aes_key: bytes
    iv: bytes


def encrypt_request(payload: dict[str, Any], public_pem: bytes, *, aes_key=None, iv=None):
    public_key = serialization.load_pem_public_key(public_pem)
    aes_key = aes_key or os.urandom(16)
    iv = iv or os.urandom(16)
    ciphertext = AESGCM(aes_key).encrypt(iv, json.dumps(payload).encode(), None)
    wrapped = public_key.encrypt(
        aes_key,
        padding.OAEP(
            mgf=padding.MGF1(algorithm=hashes.SHA256()), algorithm=hashes.SHA256(), label=None
        ),
    )
    body = {
        "encrypted_flow_data": base64.b64encode(ciphertext).decode(),
        "encrypted_aes_key": base64.b64encode(wrapped).decode(),
        "initial_vector": base64.b64encode(iv).decode(),
    }
    return Encrypted(body=body, aes_key=aes_key, iv=iv)


def decrypt_answer(text: str | bytes, aes_key: bytes, iv: bytes) -> dict[str, Any]:
    flipped = bytes(b ^ 0xFF for b in iv)
    return json.loads(AESGCM(aes_key).decrypt(flipped, base64.b64decode(text), None))


def sign(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


@dataclass
class Answer:
    status: int
    content: bytes
    content_type: str
    answer: dict[str, Any] | None  # decrypted, when it decrypts

    @property
    def screen(self) -> str | None:
        return (self.answer or {}).get("screen")

    @property
    def data(self) -> dict[str, Any]:
        return (self.answer or {}).get("data") or {}


class MetaFlowsClient:
    """Sends encrypted, signed requests via ``post(body, headers) -> (status, bytes, ctype)``."""

    def __init__(self, post: Callable[[bytes, dict], tuple[int, bytes, str]], public_pem: bytes):
        self.post = post
        self.public_pem = public_pem

    def send(
        self,
        payload: dict[str, Any],
        *,
        secret: str | None = APP_SECRET,
        signature: str | None = None,
        public_pem: bytes | None = None,
        raw_body: bytes | None = None,
    ) -> Answer:
        encrypted = encrypt_request(payload, public_pem or self.public_pem)
        body = raw_body if raw_body is not None else json.dumps(encrypted.body).encode()
        headers = {"Content-Type": "application/json"}
        if signature is None and secret is not None:
            signature = sign(secret, body)
        if signature is not None:
            headers["X-Hub-Signature-256"] = signature
        status, content, content_type = self.post(body, headers)
        answer = None
        if content:
            try:
                answer = decrypt_answer(content, encrypted.aes_key, encrypted.iv)
            except Exception:  # not every answer is encrypted
                answer = None
        return Answer(status, content, content_type, answer)

    # The four requests Meta sends.
    def ping(self, **kw) -> Answer:
        return self.send({"version": "3.0", "action": "ping"}, **kw)

    def init(self, token: str, **kw) -> Answer:
        return self.send({"version": "3.0", "action": "INIT", "flow_token": token}, **kw)

    def back(self, token: str, **kw) -> Answer:
        return self.send(
            {"version": "3.0", "action": "BACK", "screen": "PAYMENT", "flow_token": token}, **kw
        )

    def submit(self, token: str, method="ecocash", phone="0781234567", email=None, **extra):
        data = {"payment_method": method, "phone": phone, "email": email or "tendai@example.com"}
        data.update(extra.pop("data", {}))
        payload = {
            "version": "3.0",
            "action": "data_exchange",
            "screen": "PAYMENT",
            "data": data,
            "flow_token": token,
        }
        return self.send(payload, **extra)
