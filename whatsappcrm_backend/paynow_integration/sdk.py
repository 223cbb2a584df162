"""Our Paynow client: the SHA-512 message hash, express/web checkout, poll, trace, status updates.

Pure Python and httpx (no Django, no models), so it can be tested against the sandbox emulator
and reused by services, the IPN view and the reconciliation task alike. Protocol: Paynow's
developer documentation (developers.paynow.co.zw) and its official Python SDK.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import logging
import re
import ssl
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from decimal import Decimal, InvalidOperation
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import certifi
import httpx

from paynow_integration import constants as C

logger = logging.getLogger(__name__)

Fields = Sequence[tuple[str, str]]

DEFAULT_TIMEOUT = httpx.Timeout(connect=5.0, read=20.0, write=20.0, pool=5.0)

# Paynow is in Zimbabwe (CAT, UTC+2, no daylight saving); its `authorizationexpires` carries no
# zone, so we read it as Harare time.
PAYNOW_TIMEZONE = timezone(timedelta(hours=2), "CAT")

_MONTHS = {
    name: number
    for number, name in enumerate(
        ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"),
        start=1,
    )
}
_EXPIRES_RE = re.compile(r"^(\d{1,2})-([A-Za-z]{3})-(\d{4}) (\d{1,2}):(\d{2})(?::(\d{2}))?$")
_CENT = Decimal("0.01")


# --- errors ---------------------------------------------------------------------------------


class PaynowError(Exception):
    """Base of every failure this client reports; `message` is safe to log and show staff."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class PaynowGatewayError(PaynowError):
    """Paynow answered `status=Error`; `message` is Paynow's `error` text.

    It does not mean "not found" (trace reports that as None) and the reply carries no hash.
    From a poll or a trace it is advisory: never end a payment because of it. From an
    initiation it means Paynow created no transaction (no prompt was sent).
    """

    def __init__(self, message: str, *, raw_fields: Fields = ()) -> None:
        super().__init__(message)
        self.raw_fields = tuple(raw_fields)


class PaynowHashMismatch(PaynowError):
    """A reply or status update whose hash is missing or does not match: do not trust it."""


class PaynowUnavailable(PaynowError):
    """Paynow could not be reached or answered 5xx / timed out.

    `request_sent` is False only when the request certainly never reached Paynow (connection
    refused/failed); otherwise a transaction may exist: trace it before initiating again.
    """

    def __init__(self, message: str, *, request_sent: bool, status_code: int | None = None):
        super().__init__(message)
        self.request_sent = request_sent
        self.status_code = status_code


class PaynowProtocolError(PaynowError):
    """A reply we cannot parse or that lacks a field the protocol promises."""


# --- hashing and encoding ---------------------------------------------------------------------


def compute_hash(fields: Fields, integration_key: str) -> str:
    """Paynow's hash: values of every non-`hash` field in wire order, raw, + key lower-cased.

    SHA-512 over UTF-8, uppercase hex. Values must be the decoded strings, never URL-encoded.
    """
    message = "".join(value for key, value in fields if key.lower() != "hash")
    message += integration_key.lower()
    return hashlib.sha512(message.encode("utf-8")).hexdigest().upper()


def verify_hash(fields: Fields, integration_key: str) -> bool:
    """True if the message's own `hash` (any case) matches every other field received, in order."""
    received = [value for key, value in fields if key.lower() == "hash"]
    if len(received) != 1:
        return False
    expected = compute_hash(fields, integration_key)
    return hmac.compare_digest(expected.encode("ascii"), received[0].strip().upper().encode())


def parse_form(body: bytes | str) -> list[tuple[str, str]]:
    """Decode a form-urlencoded body into (key, value) pairs, keeping order and blank values.

    Raises ValueError on malformed input (strict parsing, strict UTF-8).
    """
    if isinstance(body, bytes):
        body = body.decode("utf-8")
    body = body.strip()
    return parse_qsl(body, keep_blank_values=True, strict_parsing=True, errors="strict")


def format_amount(amount: Decimal) -> str:
    """`amount` with exactly two decimals ("12.50"); refuses floats, <= 0 and sub-cent values."""
    if isinstance(amount, float) or not isinstance(amount, Decimal):
        raise ValueError(f"amount must be a Decimal, not {type(amount).__name__}")
    if not amount.is_finite():
        raise ValueError("amount must be finite")
    if amount <= 0:
        raise ValueError("amount must be positive")
    quantized = amount.quantize(_CENT)
    if quantized != amount:
        raise ValueError("amount has more than 2 decimal places")
    return f"{quantized:f}"


def parse_authorization_expires(text: str) -> datetime | None:
    """Parse Paynow's "30-Nov-2026 14:05" (Harare time) without depending on the locale."""
    match = _EXPIRES_RE.match(text.strip())
    if not match:
        return None
    day, month_name, year, hour, minute, second = match.groups()
    month = _MONTHS.get(month_name.lower())
    if month is None:
        return None
    try:
        return datetime(
            int(year),
            month,
            int(day),
            int(hour),
            int(minute),
            int(second or 0),
            tzinfo=PAYNOW_TIMEZONE,
        )
    except ValueError:
        return None


def _get(fields: Fields, name: str) -> str | None:
    """The value of field `name` (case-insensitive), or None; duplicates are a protocol error."""
    found = [value for key, value in fields if key.lower() == name]
    if len(found) > 1:
        raise PaynowProtocolError(f"field {name!r} occurs {len(found)} times")
    return found[0] if found else None


def _require(fields: Fields, name: str) -> str:
    value = _get(fields, name)
    if value is None or value == "":
        raise PaynowProtocolError(f"Paynow message lacks {name!r}")
    return value


# --- results ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class InitiationResult:
    """Paynow's answer to an accepted initiation (status=Ok, hash verified)."""

    status: str
    poll_url: str
    paynow_reference: str | None
    instructions: str | None
    browser_url: str | None
    authorization_code: str | None
    authorization_expires: datetime | None
    raw_fields: tuple[tuple[str, str], ...]

    @property
    def innbucks_deep_link(self) -> str | None:
        """The link that opens the InnBucks app on the authorisation code, if there is one."""
        if not self.authorization_code:
            return None
        return C.INNBUCKS_DEEP_LINK_TEMPLATE.format(code=self.authorization_code)


@dataclass(frozen=True, slots=True)
class StatusUpdate:
    """A verified Paynow status message (from our result URL, a poll, or a trace)."""

    reference: str
    amount: Decimal
    paynow_reference: str | None
    poll_url: str | None
    status: str
    raw_fields: tuple[tuple[str, str], ...]

    @property
    def outcome(self) -> str | None:
        """Our payment outcome ("successful", "pending", ...) or None (Disputed, unknown)."""
        return C.outcome_for_status(self.status)

    @property
    def needs_staff(self) -> bool:
        """True for statuses that must not move the payment but must be flagged (Disputed)."""
        return self.status in C.FLAG_FOR_STAFF

    @property
    def is_known_status(self) -> bool:
        return self.status in C.TRANSACTION_STATUSES


# --- the client -------------------------------------------------------------------------------


def _sibling_url(url: str, last_segment: str) -> str:
    """`url` with its last path segment replaced (remotetransaction -> trace)."""
    parts = urlsplit(url)
    head, _, _ = parts.path.rpartition("/")
    return urlunsplit((parts.scheme, parts.netloc, f"{head}/{last_segment}", "", ""))


def _check_value(name: str, value: Any, *, required: bool = True) -> str:
    if not isinstance(value, str):
        raise ValueError(f"{name} must be a string")
    if value != value.strip():
        raise ValueError(f"{name} has leading or trailing whitespace")
    if required and not value:
        raise ValueError(f"{name} is required")
    return value


@functools.cache
def _tls_context() -> ssl.SSLContext:
    """One TLS context per process: loading the CA bundle costs ~40 ms, too much per poll."""
    return ssl.create_default_context(cafile=certifi.where())


class PaynowSDK:
    """A client for one Paynow integration (one id/key pair, i.e. one currency).

    Thread-safe; holds an httpx connection pool, so close it (or use it as a context manager)
    when it is no longer needed.
    """

    def __init__(
        self,
        integration_id: str,
        integration_key: str,
        *,
        remote_url: str = C.DEFAULT_REMOTE_URL,
        timeout: httpx.Timeout | None = None,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.integration_id = _check_value("integration_id", str(integration_id))
        if not integration_key:
            raise ValueError("integration_key is required")
        self.__key = integration_key
        self.remote_url = remote_url
        self.initiate_url = _sibling_url(remote_url, "initiatetransaction")
        self.trace_url = _sibling_url(remote_url, "trace")
        self._timeout = timeout or DEFAULT_TIMEOUT
        self._transport = transport
        self._client_lock = threading.Lock()
        self._http: httpx.Client | None = None

    @property
    def _client(self) -> httpx.Client:
        """The connection pool, made on first use: verifying a status update needs none."""
        if self._http is None:
            with self._client_lock:
                if self._http is None:
                    self._http = httpx.Client(
                        timeout=self._timeout,
                        transport=self._transport,
                        verify=_tls_context(),
                        follow_redirects=False,
                        headers={"Accept": "application/x-www-form-urlencoded, text/plain, */*"},
                    )
        return self._http

    def __repr__(self) -> str:  # never show the key
        return f"PaynowSDK(integration_id={self.integration_id!r}, remote_url={self.remote_url!r})"

    def close(self) -> None:
        with self._client_lock:
            client, self._http = self._http, None
        if client is not None:
            client.close()

    def __enter__(self) -> PaynowSDK:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- hashing with our key --

    def sign(self, fields: Fields) -> list[tuple[str, str]]:
        """`fields` with our `hash` appended last."""
        fields = [(key, value) for key, value in fields if key.lower() != "hash"]
        return [*fields, ("hash", compute_hash(fields, self.__key))]

    def verify_ipn_callback(self, fields: Fields) -> bool:
        """True if a message from Paynow (a status update POSTed to our result URL, or a
        reply to a poll, trace or initiation) carries the hash our integration key gives it.

        This is the one verification every Paynow message passes before anything reads it
        (the IPN intake calls it; `verify` is the same method). `fields` are the (name, value)
        pairs as received, decoded once (`parse_form`). It checks, as Paynow's "Validating
        Hash" page and docs/PROTOCOLS.md say:

        - the message has exactly one `hash` field, its name matched case-insensitively
          (Paynow has sent `Hash=`); none, or two, is a mismatch (fail closed);
        - the expected hash is over the values of **every** field received except `hash`,
          in the order received, raw (URL-decoded, never re-encoded: the official SDKs'
          encoding is what breaks their hashes), including fields we do not know (`token`,
          instrument fields): a fixed list of fields would break when Paynow adds one;
        - followed by our integration key, lower-cased; SHA-512 over the UTF-8 bytes, as
          uppercase hex;
        - compared with the received hash (surrounding spaces dropped, upper-cased) in
          constant time (`hmac.compare_digest`), so timing tells an attacker nothing.

        Field names are not hashed, so a renamed field is only caught when a value we need
        is missing; the callers check that. Never raises; never logs the key.
        """
        return verify_hash(fields, self.__key)

    verify = verify_ipn_callback

    # -- initiation --

    def express_checkout(
        self,
        *,
        reference: str,
        amount: Decimal,
        method: str,
        phone: str,
        auth_email: str,
        result_url: str,
        return_url: str,
        merchant_trace: str,
        additional_info: str = "",
    ) -> InitiationResult:
        """Start a mobile money payment (the payer gets a prompt, or an InnBucks code)."""
        fields = self._initiation_fields(
            reference=reference,
            amount=amount,
            additional_info=additional_info,
            return_url=return_url,
            result_url=result_url,
            auth_email=auth_email,
            merchant_trace=merchant_trace,
            phone=_check_value("phone", phone),
            method=_check_value("method", method),
        )
        reply = self._post(self.remote_url, fields)
        result = self._initiation_result(reply)
        logger.info(
            "paynow express checkout initiated",
            extra={"paynow_reference": result.paynow_reference},
        )
        return result

    def web_checkout(
        self,
        *,
        reference: str,
        amount: Decimal,
        result_url: str,
        return_url: str,
        merchant_trace: str,
        auth_email: str = "",
        additional_info: str = "",
    ) -> InitiationResult:
        """Start a browser payment; send the payer to `result.browser_url`.

        `auth_email` is optional here (Paynow asks the payer); in test mode it must be the
        merchant's login e-mail if given.
        """
        fields = self._initiation_fields(
            reference=reference,
            amount=amount,
            additional_info=additional_info,
            return_url=return_url,
            result_url=result_url,
            auth_email=auth_email,
            merchant_trace=merchant_trace,
        )
        reply = self._post(self.initiate_url, fields)
        result = self._initiation_result(reply)
        if not result.browser_url:
            raise PaynowProtocolError("web checkout reply lacks 'browserurl'")
        return result

    def _initiation_fields(
        self,
        *,
        reference: str,
        amount: Decimal,
        additional_info: str,
        return_url: str,
        result_url: str,
        auth_email: str,
        merchant_trace: str,
        phone: str | None = None,
        method: str | None = None,
    ) -> list[tuple[str, str]]:
        _check_value("merchant_trace", merchant_trace)
        if len(merchant_trace) > C.MERCHANT_TRACE_MAX_LENGTH:
            raise ValueError(f"merchant_trace is longer than {C.MERCHANT_TRACE_MAX_LENGTH}")
        fields = [
            ("id", self.integration_id),
            ("reference", _check_value("reference", reference)),
            ("amount", format_amount(amount)),
            ("additionalinfo", _check_value("additional_info", additional_info, required=False)),
            ("returnurl", _check_value("return_url", return_url)),
            ("resulturl", _check_value("result_url", result_url)),
            ("authemail", _check_value("auth_email", auth_email, required=phone is not None)),
        ]
        if phone is not None and method is not None:
            fields += [("phone", phone), ("method", method)]
        fields += [("merchanttrace", merchant_trace), ("status", C.STATUS_MESSAGE)]
        return self.sign(fields)

    def _initiation_result(self, reply: list[tuple[str, str]]) -> InitiationResult:
        status = self._raise_for_error(reply)
        if not self.verify(reply):
            logger.warning("paynow initiation reply hash mismatch")
            raise PaynowHashMismatch("initiation reply hash does not match")
        if status.lower() != C.STATUS_OK.lower():
            raise PaynowProtocolError(f"unexpected initiation status {status!r}")
        expires_text = _get(reply, "authorizationexpires")
        return InitiationResult(
            status=status,
            poll_url=_require(reply, "pollurl"),
            paynow_reference=_get(reply, "paynowreference") or None,
            instructions=_get(reply, "instructions") or None,
            browser_url=_get(reply, "browserurl") or None,
            authorization_code=_get(reply, "authorizationcode") or None,
            authorization_expires=parse_authorization_expires(expires_text)
            if expires_text
            else None,
            raw_fields=tuple(reply),
        )

    # -- status --

    def poll(self, poll_url: str) -> StatusUpdate:
        """Ask Paynow for the current status (an empty POST to the stored poll URL)."""
        reply = self._post(poll_url, [])
        self._raise_for_error(reply)
        return self._status_update(reply)

    def trace(self, merchant_trace: str) -> StatusUpdate | None:
        """Find a transaction by our merchant trace; None when Paynow says NotFound (hashed)."""
        _check_value("merchant_trace", merchant_trace)
        fields = self.sign(
            [
                ("id", self.integration_id),
                ("merchanttrace", merchant_trace),
                ("status", C.STATUS_MESSAGE),
            ]
        )
        reply = self._post(self.trace_url, fields)
        status = self._raise_for_error(reply)
        if status.lower() == C.STATUS_NOT_FOUND.lower():
            if not self.verify(reply):
                raise PaynowHashMismatch("trace NotFound reply hash does not match")
            return None
        return self._status_update(reply)

    def parse_status_update(self, body: bytes | str) -> StatusUpdate:
        """Verify and parse a status update POSTed to our result URL.

        Raises PaynowHashMismatch (fail closed: a missing hash is a mismatch) or
        PaynowProtocolError (unparseable, or lacking reference/amount/status).
        """
        try:
            fields = parse_form(body)
        except ValueError as exc:
            raise PaynowProtocolError(f"status update is not a valid form: {exc}") from exc
        return self._status_update(fields)

    def _status_update(self, fields: list[tuple[str, str]]) -> StatusUpdate:
        if not self.verify(fields):
            logger.warning(
                "paynow status hash mismatch",
                extra={"paynow_reference": _safe_get(fields, "paynowreference")},
            )
            raise PaynowHashMismatch("status message hash does not match")
        amount_text = _require(fields, "amount")
        try:
            amount = Decimal(amount_text)
        except InvalidOperation as exc:
            raise PaynowProtocolError(f"amount {amount_text!r} is not a number") from exc
        if not amount.is_finite():
            raise PaynowProtocolError(f"amount {amount_text!r} is not a number")
        return StatusUpdate(
            reference=_require(fields, "reference"),
            amount=amount,
            paynow_reference=_get(fields, "paynowreference") or None,
            poll_url=_get(fields, "pollurl") or None,
            status=_require(fields, "status"),
            raw_fields=tuple(fields),
        )

    # -- transport --

    def _raise_for_error(self, reply: list[tuple[str, str]]) -> str:
        """The reply's status; raises PaynowGatewayError for status=Error."""
        status = _get(reply, "status")
        if status is None:
            raise PaynowProtocolError("Paynow reply lacks 'status'")
        if status.lower() == C.STATUS_ERROR.lower():
            error = _get(reply, "error") or "(no error text)"
            raise PaynowGatewayError(error, raw_fields=reply)
        return status

    def _post(self, url: str, fields: Fields) -> list[tuple[str, str]]:
        endpoint = urlsplit(url).path
        try:
            response = self._client.post(
                url,
                content=urlencode(list(fields)).encode("ascii"),
                headers={"Content-Type": "application/x-www-form-urlencoded"},
            )
        except httpx.ConnectTimeout as exc:
            raise PaynowUnavailable(f"connect timeout: {endpoint}", request_sent=False) from exc
        except httpx.ConnectError as exc:
            raise PaynowUnavailable(f"cannot connect: {endpoint}", request_sent=False) from exc
        except httpx.TimeoutException as exc:
            raise PaynowUnavailable(f"timeout: {endpoint}", request_sent=True) from exc
        except httpx.TransportError as exc:
            raise PaynowUnavailable(f"network error: {endpoint}", request_sent=True) from exc
        if response.status_code >= 500:
            raise PaynowUnavailable(
                f"Paynow answered {response.status_code}: {endpoint}",
                request_sent=True,
                status_code=response.status_code,
            )
        if not 200 <= response.status_code < 300:
            raise PaynowProtocolError(f"Paynow answered {response.status_code}: {endpoint}")
        try:
            reply = parse_form(response.content)
        except ValueError as exc:
            raise PaynowProtocolError(f"unparseable Paynow reply from {endpoint}") from exc
        if not reply:
            raise PaynowProtocolError(f"empty Paynow reply from {endpoint}")
        return reply


def _safe_get(fields: Fields, name: str) -> str | None:
    try:
        return _get(fields, name)
    except PaynowProtocolError:
        return None
