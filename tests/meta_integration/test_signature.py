"""X-Hub-Signature-256 computation and verification (with secret rotation)."""

import hashlib
import hmac

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pywa.utils import webhook_updates_validator

from meta_integration.signature import compute_signature, verify_signature

SECRET = "4f1c2e9a7b3d5e6f8a9b0c1d2e3f4a5b"
OLD_SECRET = "0a9b8c7d6e5f4a3b2c1d0e9f8a7b6c5d"
BODY = b'{"object":"whatsapp_business_account","entry":[]}'


def test_compute_signature_is_prefixed_hex_hmac_sha256():
    expected = hmac.new(SECRET.encode(), BODY, hashlib.sha256).hexdigest()
    assert compute_signature(SECRET, BODY) == f"sha256={expected}"


def test_compute_signature_refuses_empty_secret():
    with pytest.raises(ValueError, match="empty"):
        compute_signature("", BODY)


def test_valid_signature():
    assert verify_signature(compute_signature(SECRET, BODY), BODY, [SECRET]) is True


def test_tampered_body():
    header = compute_signature(SECRET, BODY)
    assert verify_signature(header, BODY + b" ", [SECRET]) is False
    assert verify_signature(header, BODY.replace(b"[]", b"[{}]"), [SECRET]) is False


def test_wrong_secret():
    assert verify_signature(compute_signature("not-the-secret", BODY), BODY, [SECRET]) is False


@pytest.mark.parametrize(
    "secrets", [[SECRET, OLD_SECRET], [OLD_SECRET, SECRET], (SECRET, OLD_SECRET)]
)
def test_rotation_accepts_either_secret(secrets):
    assert verify_signature(compute_signature(OLD_SECRET, BODY), BODY, secrets) is True
    assert verify_signature(compute_signature(SECRET, BODY), BODY, secrets) is True
    assert verify_signature(compute_signature("third", BODY), BODY, secrets) is False


def test_secrets_may_be_any_iterable():
    assert verify_signature(compute_signature(SECRET, BODY), BODY, iter([OLD_SECRET, SECRET]))


def test_uppercase_hex_is_accepted():
    header = compute_signature(SECRET, BODY)
    assert verify_signature("sha256=" + header.removeprefix("sha256=").upper(), BODY, [SECRET])


def test_surrounding_whitespace_in_header_is_tolerated():
    assert verify_signature(f"  {compute_signature(SECRET, BODY)}\n", BODY, [SECRET])


@pytest.mark.parametrize(
    "header",
    [
        None,
        "",
        "   ",
        "sha256=",
        "sha1=" + "0" * 40,
        "sha256",
        "sha256=zz" + "0" * 62,
        "sha256=" + "0" * 63,
        "sha256=" + "0" * 65,
        "garbage",
        # the right digest without the prefix
        hmac.new(SECRET.encode(), BODY, hashlib.sha256).hexdigest(),
    ],
)
def test_missing_or_garbled_header(header):
    assert verify_signature(header, BODY, [SECRET]) is False


def test_non_string_header_is_refused():
    assert verify_signature(b"sha256=00", BODY, [SECRET]) is False  # type: ignore[arg-type]


@pytest.mark.parametrize("secrets", [[], [""], ["", ""], [None], ()])
def test_empty_secret_is_never_waved_through(secrets):
    # An HMAC under the empty key is computable by anyone: it must not validate.
    empty_key_header = "sha256=" + hmac.new(b"", BODY, hashlib.sha256).hexdigest()
    assert verify_signature(empty_key_header, BODY, secrets) is False


def test_empty_secret_next_to_a_real_one_is_ignored():
    empty_key_header = "sha256=" + hmac.new(b"", BODY, hashlib.sha256).hexdigest()
    assert verify_signature(empty_key_header, BODY, ["", SECRET]) is False
    assert verify_signature(compute_signature(SECRET, BODY), BODY, ["", SECRET]) is True


@given(secret=st.text(min_size=1), body=st.binary(max_size=2048))
def test_agrees_with_pywa(secret, body):
    header = compute_signature(secret, body)
    assert webhook_updates_validator(secret, body, header)
    assert verify_signature(header, body, [secret])
