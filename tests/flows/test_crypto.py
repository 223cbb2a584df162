"""WhatsApp Flows data-channel crypto, checked against pywa as an independent peer."""

import base64
import json
import os

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from pywa.utils import default_flow_request_decryptor, default_flow_response_encryptor

from flows.crypto import (
    DecryptedRequest,
    FlowDecryptionError,
    FlowKeyError,
    decrypt_request,
    encrypt_response,
    generate_key_pair,
    load_private_key,
)

PASSPHRASE = "correct horse battery staple"

REQUEST = {
    "version": "3.0",
    "action": "data_exchange",
    "screen": "PAYMENT_DETAILS",
    "data": {"payment_method": "ecocash", "phone": "0771234567", "note": "Tatenda — ✓"},
    "flow_token": "bk_ZW3K7Q2P.pay_full.15000.1764540000.9f2c1e7a4b",
}
RESPONSE = {
    "screen": "SUCCESS",
    "data": {
        "extension_message_response": {
            "params": {"flow_token": REQUEST["flow_token"], "status": "pending"}
        },
        "instructions": "Approve the EcoCash prompt on 077•••4567 — thank you!",
    },
}


# Key generation is slow; make each key once per module.
@pytest.fixture(scope="module")
def current_pair() -> tuple[bytes, bytes]:
    return generate_key_pair()


@pytest.fixture(scope="module")
def previous_pair() -> tuple[bytes, bytes]:
    return generate_key_pair()


@pytest.fixture(scope="module")
def protected_pair() -> tuple[bytes, bytes]:
    return generate_key_pair(PASSPHRASE)


@pytest.fixture(scope="module")
def current_key(current_pair) -> rsa.RSAPrivateKey:
    return load_private_key(current_pair[0], None)


@pytest.fixture(scope="module")
def previous_key(previous_pair) -> rsa.RSAPrivateKey:
    return load_private_key(previous_pair[0], None)


def meta_client_encrypt(
    payload: dict | bytes,
    public_pem: bytes,
    *,
    aes_key: bytes | None = None,
    iv: bytes | None = None,
) -> tuple[dict, bytes, bytes]:
    """Encrypt a request the way the WhatsApp client does: fresh AES-128 key and 16-byte IV,
    AES-GCM (tag appended), key wrapped with RSA-OAEP SHA-256. Returns (body, key, iv)."""
    aes_key = aes_key or AESGCM.generate_key(bit_length=128)
    iv = iv or os.urandom(16)
    plaintext = payload if isinstance(payload, bytes) else json.dumps(payload).encode("utf-8")
    public_key = serialization.load_pem_public_key(public_pem)
    wrapped = public_key.encrypt(
        aes_key,
        padding.OAEP(
            mgf=padding.MGF1(algorithm=hashes.SHA256()), algorithm=hashes.SHA256(), label=None
        ),
    )
    body = {
        "encrypted_flow_data": b64(AESGCM(aes_key).encrypt(iv, plaintext, None)),
        "encrypted_aes_key": b64(wrapped),
        "initial_vector": b64(iv),
    }
    return body, aes_key, iv


def meta_client_decrypt(response_b64: str, aes_key: bytes, iv: bytes) -> dict:
    """What the client does with our reply: flipped IV, AES-GCM with the appended tag."""
    flipped = bytes(b ^ 0xFF for b in iv)
    return json.loads(AESGCM(aes_key).decrypt(flipped, base64.b64decode(response_b64), None))


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


# --- keys ------------------------------------------------------------------------------------


def test_generate_key_pair_formats(current_pair, current_key):
    private_pem, public_pem = current_pair
    assert private_pem.startswith(b"-----BEGIN PRIVATE KEY-----")  # PKCS8, unencrypted
    assert public_pem.startswith(b"-----BEGIN PUBLIC KEY-----")  # SubjectPublicKeyInfo
    assert current_key.key_size == 2048
    public_key = serialization.load_pem_public_key(public_pem)
    assert public_key.public_numbers() == current_key.public_key().public_numbers()


def test_passphrase_protected_key(protected_pair):
    private_pem, public_pem = protected_pair
    assert private_pem.startswith(b"-----BEGIN ENCRYPTED PRIVATE KEY-----")
    key = load_private_key(private_pem, PASSPHRASE)
    assert key.key_size == 2048
    body, aes_key, iv = meta_client_encrypt(REQUEST, public_pem)
    assert decrypt_request(body, [key]).payload == REQUEST
    # pywa reads the same protected PEM with the same passphrase.
    pywa_payload, pywa_key, pywa_iv = default_flow_request_decryptor(
        body["encrypted_flow_data"],
        body["encrypted_aes_key"],
        body["initial_vector"],
        private_pem.decode(),
        PASSPHRASE,
    )
    assert (pywa_payload, pywa_key, pywa_iv) == (REQUEST, aes_key, iv)


@pytest.mark.parametrize("passphrase", [None, "", "wrong passphrase"])
def test_protected_key_fails_cleanly_without_the_right_passphrase(protected_pair, passphrase):
    with pytest.raises(FlowKeyError):
        load_private_key(protected_pair[0], passphrase)


def test_passphrase_given_for_unprotected_key_fails_cleanly(current_pair):
    with pytest.raises(FlowKeyError):
        load_private_key(current_pair[0], PASSPHRASE)


def test_load_accepts_str_pem(current_pair, current_key):
    key = load_private_key(current_pair[0].decode(), None)
    assert key.private_numbers() == current_key.private_numbers()


@pytest.mark.parametrize(
    "pem", [b"", b"not a pem", b"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"]
)
def test_garbage_pem_fails_cleanly(pem):
    with pytest.raises(FlowKeyError):
        load_private_key(pem, None)


def test_non_rsa_key_is_refused():
    ec_pem = ec.generate_private_key(ec.SECP256R1()).private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    with pytest.raises(FlowKeyError, match="not RSA"):
        load_private_key(ec_pem, None)


def test_flow_key_error_is_a_value_error():
    assert issubclass(FlowKeyError, ValueError)


# --- (a) requests: ours and pywa's decryptor agree -------------------------------------------


def test_request_decrypts_identically_with_pywa(current_pair, current_key):
    private_pem, public_pem = current_pair
    body, aes_key, iv = meta_client_encrypt(REQUEST, public_pem)

    ours = decrypt_request(body, [current_key])
    pywa_payload, pywa_key, pywa_iv = default_flow_request_decryptor(
        body["encrypted_flow_data"],
        body["encrypted_aes_key"],
        body["initial_vector"],
        private_pem.decode(),
    )

    assert isinstance(ours, DecryptedRequest)
    assert ours.payload == pywa_payload == REQUEST
    assert ours.aes_key == pywa_key == aes_key
    assert ours.iv == pywa_iv == iv


@pytest.mark.parametrize(
    "payload",
    [
        {"version": "3.0", "action": "ping"},
        {"version": "3.0", "action": "INIT", "flow_token": "t"},
        {"version": "3.0", "action": "BACK", "screen": "S", "flow_token": "t"},
        {"version": "3.0", "flow_token": "t", "data": {"error": "x", "error_message": "y"}},
    ],
)
def test_every_action_round_trips(current_pair, current_key, payload):
    body, _, _ = meta_client_encrypt(payload, current_pair[1])
    assert decrypt_request(body, [current_key]).payload == payload


def test_decrypted_request_does_not_print_the_key(current_pair, current_key):
    body, aes_key, _ = meta_client_encrypt(REQUEST, current_pair[1])
    text = repr(decrypt_request(body, [current_key]))
    assert aes_key.hex() not in text
    assert "aes_key" not in text


# --- (b) responses: byte-for-byte what pywa produces ------------------------------------------


@pytest.mark.parametrize(
    "payload",
    [
        RESPONSE,
        {"data": {"status": "active"}},
        {"data": {"acknowledged": True}},
        {"error_msg": "This payment link has expired."},
        {"screen": "PAYMENT_DETAILS", "data": {"error_message": "Enter a valid EcoCash number"}},
    ],
)
def test_response_matches_pywa_byte_for_byte(payload):
    aes_key = AESGCM.generate_key(bit_length=128)
    iv = os.urandom(16)
    ours = encrypt_response(payload, aes_key, iv)
    assert isinstance(ours, str)
    # AES-GCM is deterministic for a fixed key and IV, so equal plaintext gives equal bytes.
    assert ours == default_flow_response_encryptor(payload, aes_key, iv)


def test_response_fixed_vector():
    # Frozen output for a fixed key/IV, so a change of JSON serialisation is noticed.
    aes_key = bytes(range(16))
    iv = bytes(range(16, 32))
    expected = default_flow_response_encryptor({"data": {"status": "active"}}, aes_key, iv)
    assert encrypt_response({"data": {"status": "active"}}, aes_key, iv) == expected
    flipped = bytes(b ^ 0xFF for b in iv)
    raw = base64.b64decode(expected)
    assert AESGCM(aes_key).decrypt(flipped, raw, None) == b'{"data": {"status": "active"}}'


# --- (c) the client can read our reply ------------------------------------------------------


def test_full_round_trip_client_reads_our_reply(current_pair, current_key):
    body, aes_key, iv = meta_client_encrypt(REQUEST, current_pair[1])
    request = decrypt_request(body, [current_key])
    reply = encrypt_response(RESPONSE, request.aes_key, request.iv)
    assert meta_client_decrypt(reply, aes_key, iv) == RESPONSE


def test_reply_is_not_readable_with_the_unflipped_iv():
    aes_key, iv = AESGCM.generate_key(bit_length=128), os.urandom(16)
    reply = base64.b64decode(encrypt_response(RESPONSE, aes_key, iv))
    with pytest.raises(Exception):  # noqa: B017 - cryptography's InvalidTag
        AESGCM(aes_key).decrypt(iv, reply, None)


def test_reply_layout_is_ciphertext_then_16_byte_tag():
    aes_key, iv = AESGCM.generate_key(bit_length=128), os.urandom(16)
    raw = base64.b64decode(encrypt_response(RESPONSE, aes_key, iv))
    assert len(raw) == len(json.dumps(RESPONSE).encode()) + 16


@pytest.mark.parametrize(
    "aes_key,iv", [(b"k" * 15, b"i" * 16), (b"k" * 32, b"i" * 16), (b"k" * 16, b"i" * 12)]
)
def test_encrypt_response_rejects_wrong_sizes(aes_key, iv):
    with pytest.raises(ValueError):
        encrypt_response(RESPONSE, aes_key, iv)


# --- failures --------------------------------------------------------------------------------


def test_wrong_key(current_pair, previous_key):
    body, _, _ = meta_client_encrypt(REQUEST, current_pair[1])
    with pytest.raises(FlowDecryptionError, match="any configured key"):
        decrypt_request(body, [previous_key])


def test_no_keys(current_pair):
    body, _, _ = meta_client_encrypt(REQUEST, current_pair[1])
    with pytest.raises(FlowDecryptionError):
        decrypt_request(body, [])


def test_rotation_old_key_still_works(current_pair, previous_pair, current_key, previous_key):
    body, aes_key, _ = meta_client_encrypt(REQUEST, previous_pair[1])  # client cached the old key
    request = decrypt_request(body, [current_key, previous_key])
    assert request.payload == REQUEST
    assert request.aes_key == aes_key
    body, _, _ = meta_client_encrypt(REQUEST, current_pair[1])
    assert decrypt_request(body, [current_key, previous_key]).payload == REQUEST


def _corrupt(body: dict, **changes) -> dict:
    return {**body, **changes}


def _flip_last_byte(value: str) -> str:
    raw = bytearray(base64.b64decode(value))
    raw[-1] ^= 0x01
    return b64(bytes(raw))


def _truncate(value: str, n: int) -> str:
    return b64(base64.b64decode(value)[:-n])


BAD_BODIES = {
    "missing encrypted_flow_data": lambda b: {
        k: v for k, v in b.items() if k != "encrypted_flow_data"
    },
    "missing encrypted_aes_key": lambda b: {k: v for k, v in b.items() if k != "encrypted_aes_key"},
    "missing initial_vector": lambda b: {k: v for k, v in b.items() if k != "initial_vector"},
    "empty body": lambda b: {},
    "not a dict": lambda b: [b],
    "non-string field": lambda b: _corrupt(b, encrypted_flow_data=12345),
    "garbage base64 data": lambda b: _corrupt(b, encrypted_flow_data="%%%not base64%%%"),
    "garbage base64 key": lambda b: _corrupt(b, encrypted_aes_key="!!!!"),
    "garbage base64 iv": lambda b: _corrupt(b, initial_vector="a"),
    "short iv": lambda b: _corrupt(b, initial_vector=b64(os.urandom(12))),
    "other iv": lambda b: _corrupt(b, initial_vector=b64(os.urandom(16))),
    "tampered ciphertext": lambda b: _corrupt(
        b, encrypted_flow_data=_flip_last_byte(b["encrypted_flow_data"])
    ),
    "truncated tag": lambda b: _corrupt(
        b, encrypted_flow_data=_truncate(b["encrypted_flow_data"], 1)
    ),
    "tag only, no ciphertext, cut short": lambda b: _corrupt(
        b, encrypted_flow_data=b64(base64.b64decode(b["encrypted_flow_data"])[:10])
    ),
    "tampered wrapped key": lambda b: _corrupt(
        b, encrypted_aes_key=_flip_last_byte(b["encrypted_aes_key"])
    ),
    "wrapped key truncated": lambda b: _corrupt(
        b, encrypted_aes_key=_truncate(b["encrypted_aes_key"], 1)
    ),
}


@pytest.mark.parametrize("corrupt", BAD_BODIES.values(), ids=BAD_BODIES.keys())
def test_bad_requests_raise_flow_decryption_error(current_pair, current_key, corrupt):
    body, _, _ = meta_client_encrypt(REQUEST, current_pair[1])
    with pytest.raises(FlowDecryptionError):
        decrypt_request(corrupt(body), [current_key])


@pytest.mark.parametrize(
    "plaintext",
    [b"not json at all", b"\xff\xfe\x00 not utf-8", b'["a", "list"]', b'"a string"', b"", b"{"],
    ids=["text", "not-utf8", "json-list", "json-string", "empty", "truncated-json"],
)
def test_non_json_object_plaintext(current_pair, current_key, plaintext):
    body, _, _ = meta_client_encrypt(plaintext, current_pair[1])
    with pytest.raises(FlowDecryptionError):
        decrypt_request(body, [current_key])


def test_wrapped_256_bit_key_is_refused(current_pair, current_key):
    body, _, _ = meta_client_encrypt(
        REQUEST, current_pair[1], aes_key=AESGCM.generate_key(bit_length=256)
    )
    with pytest.raises(FlowDecryptionError, match="AES key"):
        decrypt_request(body, [current_key])
