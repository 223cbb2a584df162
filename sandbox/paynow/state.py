"""The emulated Paynow: integrations, transactions, test-mode behaviour, faults, status delivery.

Everything here is guarded by one lock; the HTTP layer (server.py) only parses and calls in.
"""

from __future__ import annotations

import itertools
import logging
import re
import secrets
import threading
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import httpx

from sandbox.paynow.checkout import CARD_METHOD, WEB_MOBILE_METHODS, Card, CardOutcome, TestCard
from sandbox.paynow.hashing import Fields, encode, hash_matches, paynow_hash, signed
from sandbox.paynow.scheduler import Scheduler

logger = logging.getLogger(__name__)

HARARE = timezone(timedelta(hours=2), "CAT")
MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")

EXPRESS_METHODS = frozenset({"ecocash", "onemoney", "innbucks"})
PENDING = frozenset({"Created", "Sent"})

# Paynow's test-mode numbers: phone -> (final status, seconds after initiation).
TEST_NUMBER_OUTCOMES = {
    "0771111111": ("Paid", 5.0),
    "0772222222": ("Paid", 30.0),
    "0773333333": ("Cancelled", 30.0),
}
TEST_NUMBER_INSUFFICIENT = "0774444444"

INSTRUCTIONS = {
    "ecocash": "A payment prompt has been sent to {phone}. Enter your EcoCash PIN to approve.",
    "onemoney": "A payment prompt has been sent to {phone}. Enter your OneMoney PIN to approve.",
    "innbucks": "Open the InnBucks app and approve the payment with code {code}.",
}

_PHONE_RE = re.compile(r"^(?:\+263|263|0)(7\d{8})$")
_AMOUNT_RE = re.compile(r"^\d{1,9}(?:\.\d{1,2})?$")
MAX_MERCHANT_TRACE = 32
INNBUCKS_CODE_VALIDITY = timedelta(minutes=30)


class InitiationError(Exception):
    """Becomes `status=Error&error=<message>` on the wire."""


class ControlError(Exception):
    """A control-API request that cannot be done; `http_status` says why (404, 400, 409)."""

    def __init__(self, message: str, http_status: int = 400) -> None:
        super().__init__(message)
        self.http_status = http_status


def normalise_phone(phone: str) -> str | None:
    """07XXXXXXXX for 07..., 2637... and +2637... forms; None if it is not a Zimbabwe mobile."""
    match = _PHONE_RE.match(phone.replace(" ", ""))
    return f"0{match.group(1)}" if match else None


def format_expires(moment: datetime) -> str:
    """Paynow's "30-Nov-2026 14:05" (independent of the process locale)."""
    return f"{moment.day:02d}-{MONTHS[moment.month - 1]}-{moment.year} {moment:%H:%M}"


def _now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


@dataclass
class Integration:
    integration_id: str
    integration_key: str
    auth_email: str


@dataclass
class Transaction:
    paynow_reference: str
    guid: str
    integration_id: str
    kind: str  # "express" or "web"
    reference: str
    amount: Decimal
    additional_info: str
    return_url: str
    result_url: str
    auth_email: str
    merchant_trace: str
    poll_url: str
    status: str
    phone: str = ""
    method: str = ""
    instructions: str = ""
    browser_url: str = ""
    authorization_code: str = ""
    authorization_expires: str = ""
    card_brand: str = ""  # web checkout by card: brand and last four digits, never the number
    card_last4: str = ""
    decline_reason: str = ""
    created_at: str = field(default_factory=_now_iso)
    history: list[dict[str, Any]] = field(default_factory=list)
    deliveries: list[dict[str, Any]] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "paynowreference": self.paynow_reference,
            "guid": self.guid,
            "integration_id": self.integration_id,
            "kind": self.kind,
            "reference": self.reference,
            "amount": f"{self.amount:.2f}",
            "additionalinfo": self.additional_info,
            "returnurl": self.return_url,
            "resulturl": self.result_url,
            "authemail": self.auth_email,
            "merchanttrace": self.merchant_trace,
            "pollurl": self.poll_url,
            "browserurl": self.browser_url,
            "status": self.status,
            "phone": self.phone,
            "method": self.method,
            "instructions": self.instructions,
            "authorizationcode": self.authorization_code,
            "authorizationexpires": self.authorization_expires,
            "card": {"brand": self.card_brand, "last4": self.card_last4}
            if self.card_last4
            else None,
            "decline_reason": self.decline_reason,
            "created_at": self.created_at,
            "history": list(self.history),
            "deliveries": list(self.deliveries),
        }


@dataclass
class Faults:
    drop_updates: int = 0
    duplicate_updates: int = 0
    duplicate_copies: int = 2
    unavailable_initiations: int = 0
    unavailable_mode: str = "503"  # or "hang"
    hang_seconds: float = 30.0
    hang_creates_transaction: bool = True

    def to_json(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass(frozen=True)
class Unavailable:
    """What to do instead of (or after) answering an initiation."""

    mode: str
    hang_seconds: float
    creates_transaction: bool


class PaynowState:
    """The emulated gateway's memory and behaviour; thread-safe."""

    def __init__(
        self,
        *,
        time_scale: float = 1.0,
        mode: str = "test",
        delivery_attempts: int = 10,
        delivery_timeout: float = 10.0,
    ) -> None:
        if mode not in ("test", "live"):
            raise ValueError("mode must be 'test' or 'live'")
        self.mode = mode
        self.delivery_attempts = delivery_attempts
        self._time_scale = float(time_scale)
        self._lock = threading.RLock()
        self._integrations: dict[str, Integration] = {}
        self._transactions: dict[str, Transaction] = {}
        self._by_guid: dict[str, str] = {}
        self._by_trace: dict[tuple[str, str], str] = {}
        self._faults = Faults()
        self._reference_counter = itertools.count(20_000_001)
        self._delivery_counter = itertools.count(1)
        self._scheduler = Scheduler()
        self._executor = ThreadPoolExecutor(max_workers=8, thread_name_prefix="paynow-ipn")
        self._delivery_timeout = delivery_timeout
        self._http_client: httpx.Client | None = None  # made on first delivery (TLS setup is slow)
        self._stopping = threading.Event()
        self.base_url = ""  # set by the server once it knows its port

    # -- lifecycle --

    def start(self) -> None:
        self._scheduler.start()

    def stop(self) -> None:
        self._stopping.set()
        self._scheduler.stop()
        self._executor.shutdown(wait=False, cancel_futures=True)
        with self._lock:
            client, self._http_client = self._http_client, None
        if client is not None:
            client.close()

    def _http(self) -> httpx.Client:
        with self._lock:
            if self._http_client is None:
                if self._stopping.is_set():
                    raise RuntimeError("emulator stopped")
                self._http_client = httpx.Client(
                    timeout=self._delivery_timeout, follow_redirects=False
                )
            return self._http_client

    @property
    def stopping(self) -> threading.Event:
        return self._stopping

    # -- configuration --

    def add_integration(self, integration_id: str, integration_key: str, auth_email: str) -> None:
        with self._lock:
            self._integrations[str(integration_id)] = Integration(
                str(integration_id), integration_key, auth_email
            )

    @property
    def time_scale(self) -> float:
        with self._lock:
            return self._time_scale

    def set_time_scale(self, time_scale: float) -> None:
        if time_scale < 0:
            raise ControlError("time_scale must be >= 0")
        with self._lock:
            self._time_scale = float(time_scale)

    def config(self) -> dict[str, Any]:
        with self._lock:
            return {
                "mode": self.mode,
                "time_scale": self._time_scale,
                "delivery_attempts": self.delivery_attempts,
                "base_url": self.base_url,
                "integrations": [
                    {"integration_id": i.integration_id, "auth_email": i.auth_email}
                    for i in self._integrations.values()
                ],
            }

    def reset(self) -> None:
        """Forget transactions, faults and every scheduled status change or retry."""
        self._scheduler.cancel_all()
        with self._lock:
            self._transactions.clear()
            self._by_guid.clear()
            self._by_trace.clear()
            self._faults = Faults()

    # -- faults --

    def faults(self) -> dict[str, Any]:
        with self._lock:
            return self._faults.to_json()

    def drop_next_updates(self, count: int) -> None:
        with self._lock:
            self._faults.drop_updates = _non_negative(count, "count")

    def duplicate_next_updates(self, count: int, copies: int = 2) -> None:
        if copies < 1:
            raise ControlError("copies must be >= 1")
        with self._lock:
            self._faults.duplicate_updates = _non_negative(count, "count")
            self._faults.duplicate_copies = int(copies)

    def make_initiation_unavailable(
        self,
        count: int,
        mode: str = "503",
        hang_seconds: float = 30.0,
        creates_transaction: bool = True,
    ) -> None:
        if mode not in ("503", "hang"):
            raise ControlError("mode must be '503' or 'hang'")
        if hang_seconds < 0:
            raise ControlError("hang_seconds must be >= 0")
        with self._lock:
            self._faults.unavailable_initiations = _non_negative(count, "count")
            self._faults.unavailable_mode = mode
            self._faults.hang_seconds = float(hang_seconds)
            self._faults.hang_creates_transaction = bool(creates_transaction)

    def take_unavailable(self) -> Unavailable | None:
        """Consume one 'initiation unavailable' fault, if any is armed."""
        with self._lock:
            if self._faults.unavailable_initiations <= 0:
                return None
            self._faults.unavailable_initiations -= 1
            return Unavailable(
                self._faults.unavailable_mode,
                self._faults.hang_seconds,
                self._faults.hang_creates_transaction,
            )

    # -- the Paynow interface --

    def _authenticate(self, fields: Fields) -> Integration:
        """Check id, hash and status=Message exactly as Paynow does; raise InitiationError."""
        keys = [key.lower() for key, _ in fields]
        if len(keys) != len(set(keys)):
            raise InitiationError("Invalid request: duplicate fields")
        values = {key.lower(): value for key, value in fields}
        with self._lock:
            integration = self._integrations.get(values.get("id", ""))
        if integration is None:
            raise InitiationError("Invalid Id.")
        if not hash_matches(fields, integration.integration_key):
            expected = paynow_hash(fields, integration.integration_key)
            # Two spaces, as on the wire (README: "Rules and their sources").
            raise InitiationError(f"Invalid Hash.  Hash should start with: {expected[:6]}")
        if values.get("status", "").lower() != "message":
            raise InitiationError("Invalid status field")
        return integration

    def initiate(self, fields: Fields, *, express: bool) -> list[tuple[str, str]]:
        """Handle remotetransaction (express) or initiatetransaction (web); the signed reply."""
        integration = self._authenticate(fields)
        values = {key.lower(): value for key, value in fields}
        reference = values.get("reference", "")
        if not reference:
            raise InitiationError("Invalid reference field")
        amount_text = values.get("amount", "")
        if not _AMOUNT_RE.match(amount_text) or Decimal(amount_text) <= 0:
            raise InitiationError("Invalid amount field")
        merchant_trace = values.get("merchanttrace", "")
        if len(merchant_trace) > MAX_MERCHANT_TRACE:
            raise InitiationError("Invalid merchanttrace field: longer than 32 characters")
        auth_email = values.get("authemail", "")
        if express and not auth_email:
            raise InitiationError("Invalid authemail field: required for express checkout")
        if (
            self.mode == "test"
            and auth_email
            and auth_email.lower() != integration.auth_email.lower()
        ):
            raise InitiationError(
                "The integration is in test mode: authemail must be the merchant's own login e-mail"
            )
        phone = method = normalised = ""
        if express:
            method = values.get("method", "").lower()
            if method not in EXPRESS_METHODS:
                raise InitiationError(f"Invalid method field: {values.get('method', '')!r}")
            phone = values.get("phone", "")
            normalised = normalise_phone(phone) or ""
            if not normalised:
                raise InitiationError("Invalid mobile number")
            if self.mode == "test" and normalised == TEST_NUMBER_INSUFFICIENT:
                raise InitiationError("Insufficient balance")

        with self._lock:
            if merchant_trace:
                existing = self._by_trace.get((integration.integration_id, merchant_trace))
                if existing is not None:
                    # Same attempt again (a retry after a timeout): no second debit.
                    return self._initiation_reply(self._transactions[existing], integration)
            txn = self._create(
                integration=integration,
                values=values,
                amount=Decimal(amount_text),
                express=express,
                phone=phone,
                method=method,
            )
            reply = self._initiation_reply(txn, integration)
        if express and self.mode == "test" and normalised in TEST_NUMBER_OUTCOMES:
            final_status, delay = TEST_NUMBER_OUTCOMES[normalised]
            self._schedule_status(txn.paynow_reference, final_status, delay, source="test-number")
        return reply

    def _create(
        self,
        *,
        integration: Integration,
        values: dict[str, str],
        amount: Decimal,
        express: bool,
        phone: str,
        method: str,
    ) -> Transaction:
        paynow_reference = str(next(self._reference_counter))
        guid = str(uuid.uuid4())
        txn = Transaction(
            paynow_reference=paynow_reference,
            guid=guid,
            integration_id=integration.integration_id,
            kind="express" if express else "web",
            reference=values["reference"],
            amount=amount,
            additional_info=values.get("additionalinfo", ""),
            return_url=values.get("returnurl", ""),
            result_url=values.get("resulturl", ""),
            auth_email=values.get("authemail", ""),
            merchant_trace=values.get("merchanttrace", ""),
            poll_url=f"{self.base_url}/Interface/CheckPayment/?guid={guid}",
            status="Sent" if express else "Created",
            phone=phone,
            method=method,
        )
        if express:
            if method == "innbucks":
                txn.authorization_code = "".join(secrets.choice("0123456789") for _ in range(9))
                txn.authorization_expires = format_expires(
                    datetime.now(HARARE) + INNBUCKS_CODE_VALIDITY
                )
            txn.instructions = INSTRUCTIONS[method].format(phone=phone, code=txn.authorization_code)
        else:
            txn.browser_url = f"{self.base_url}/Payment/ConfirmPayment/?guid={guid}"
        txn.history.append({"status": txn.status, "at": _now_iso(), "source": "initiation"})
        self._transactions[paynow_reference] = txn
        self._by_guid[guid] = paynow_reference
        if txn.merchant_trace:
            self._by_trace[(integration.integration_id, txn.merchant_trace)] = paynow_reference
        return txn

    def _initiation_reply(
        self, txn: Transaction, integration: Integration
    ) -> list[tuple[str, str]]:
        fields = [("status", "Ok")]
        if txn.kind == "web":
            fields.append(("browserurl", txn.browser_url))
        fields += [("pollurl", txn.poll_url), ("paynowreference", txn.paynow_reference)]
        if txn.kind == "express":
            fields.append(("instructions", txn.instructions))
        if txn.authorization_code:
            fields += [
                ("authorizationcode", txn.authorization_code),
                ("authorizationexpires", txn.authorization_expires),
            ]
        return signed(fields, integration.integration_key)

    def poll(self, guid: str) -> list[tuple[str, str]]:
        with self._lock:
            ref = self._by_guid.get(guid)
            if ref is None:
                raise InitiationError("Invalid poll url")
            return self._status_message(self._transactions[ref])

    def trace(self, fields: Fields) -> list[tuple[str, str]]:
        integration = self._authenticate(fields)
        values = {key.lower(): value for key, value in fields}
        merchant_trace = values.get("merchanttrace", "")
        if not merchant_trace:
            raise InitiationError("Invalid merchanttrace field")
        with self._lock:
            ref = self._by_trace.get((integration.integration_id, merchant_trace))
            if ref is None:
                return signed([("status", "NotFound")], integration.integration_key)
            return self._status_message(self._transactions[ref])

    def _status_message(
        self,
        txn: Transaction,
        *,
        status: str | None = None,
        amount: str | None = None,
        extra_fields: Fields = (),
    ) -> list[tuple[str, str]]:
        integration = self._integrations[txn.integration_id]
        fields = [
            ("reference", txn.reference),
            ("amount", amount if amount is not None else f"{txn.amount:.2f}"),
            ("paynowreference", txn.paynow_reference),
            ("pollurl", txn.poll_url),
            ("status", status or txn.status),
            *extra_fields,
        ]
        return signed(fields, integration.integration_key)

    # -- reading (control API) --

    def list_transactions(
        self, *, reference: str | None = None, phone: str | None = None
    ) -> list[dict[str, Any]]:
        wanted_phone = (normalise_phone(phone) or phone) if phone else None
        with self._lock:
            return [
                txn.to_json()
                for txn in self._transactions.values()
                if (reference is None or txn.reference == reference)
                and (wanted_phone is None or normalise_phone(txn.phone) == wanted_phone)
            ]

    def get_transaction(self, paynow_reference: str) -> dict[str, Any]:
        with self._lock:
            return self._get(paynow_reference).to_json()

    def transaction_for_guid(self, guid: str) -> dict[str, Any]:
        with self._lock:
            ref = self._by_guid.get(guid)
            if ref is None:
                raise ControlError("no transaction with that guid", 404)
            return self._transactions[ref].to_json()

    def pending_prompts(self, phone: str | None = None) -> list[dict[str, Any]]:
        """Mobile-money payments waiting for the payer (what a phone would show): express
        ones, and web checkouts where the payer chose EcoCash or OneMoney on Paynow's page."""
        return [
            {
                key: txn[key]
                for key in (
                    "paynowreference",
                    "reference",
                    "amount",
                    "method",
                    "phone",
                    "instructions",
                    "authorizationcode",
                    "authorizationexpires",
                    "additionalinfo",
                    "created_at",
                )
            }
            for txn in self.list_transactions(phone=phone)
            if (txn["kind"] == "express" or txn["phone"]) and txn["status"] in PENDING
        ]

    def _get(self, paynow_reference: str) -> Transaction:
        txn = self._transactions.get(paynow_reference)
        if txn is None:
            raise ControlError(f"no transaction {paynow_reference}", 404)
        return txn

    # -- changing state --

    def approve(self, paynow_reference: str, *, source: str = "control") -> dict[str, Any]:
        return self._finish(paynow_reference, "Paid", source)

    def decline(self, paynow_reference: str, *, source: str = "control") -> dict[str, Any]:
        return self._finish(paynow_reference, "Cancelled", source)

    def fail(self, paynow_reference: str, *, source: str = "control") -> dict[str, Any]:
        return self._finish(paynow_reference, "Failed", source)

    # -- the web checkout page (the payer's browser) --

    def _ref_for_guid(self, guid: str) -> str:
        with self._lock:
            ref = self._by_guid.get(guid)
        if ref is None:
            raise ControlError("no transaction with that guid", 404)
        return ref

    def pay_by_card(self, guid: str, card: Card, decision: TestCard) -> dict[str, Any]:
        """The payer submitted a valid card: Paid if approved, else Failed (a decline is a
        failed payment, not one the payer cancelled)."""
        ref = self._ref_for_guid(guid)

        def record(txn: Transaction) -> None:
            if txn.kind != "web" or txn.phone:
                raise ControlError("this transaction is not waiting for a card", 409)
            txn.method = CARD_METHOD
            txn.card_brand, txn.card_last4 = card.brand, card.last4
            if decision.outcome is CardOutcome.DECLINED:
                txn.decline_reason = decision.reason

        approved = decision.outcome is CardOutcome.APPROVED
        return self._finish(ref, "Paid" if approved else "Failed", "browser", before=record)

    def cancel_guid(self, guid: str) -> dict[str, Any]:
        """The payer pressed Cancel on Paynow's page."""
        return self._finish(self._ref_for_guid(guid), "Cancelled", "browser")

    def pay_by_mobile(self, guid: str, method: str, phone: str) -> dict[str, Any]:
        """The payer chose EcoCash/OneMoney on Paynow's page: the prompt goes to that phone
        (test numbers behave as in express checkout). `InitiationError` for the page to show."""
        if method not in WEB_MOBILE_METHODS:
            raise ControlError(f"unknown method {method!r}")
        normalised = normalise_phone(phone)
        if normalised is None:
            raise InitiationError("Invalid mobile number")
        if self.mode == "test" and normalised == TEST_NUMBER_INSUFFICIENT:
            raise InitiationError("Insufficient balance")
        ref = self._ref_for_guid(guid)
        with self._lock:
            txn = self._transactions[ref]
            if txn.status not in PENDING or txn.phone:
                raise ControlError(f"transaction is {txn.status}, not waiting for a method", 409)
            txn.method, txn.phone = method, phone
            txn.instructions = INSTRUCTIONS[method].format(phone=phone, code="")
            self._set_status(txn, "Sent", "browser")
            result = txn.to_json()
        if self.mode == "test" and normalised in TEST_NUMBER_OUTCOMES:
            final_status, delay = TEST_NUMBER_OUTCOMES[normalised]
            self._schedule_status(ref, final_status, delay, source="test-number")
        return result

    def _finish(
        self,
        paynow_reference: str,
        status: str,
        source: str,
        *,
        before: Callable[[Transaction], None] | None = None,
    ) -> dict[str, Any]:
        with self._lock:
            txn = self._get(paynow_reference)
            if txn.status not in PENDING:
                raise ControlError(f"transaction is {txn.status}, not pending", 409)
            if before is not None:
                before(txn)
            self._set_status(txn, status, source)
            message = self._status_message(txn)
            result = txn.to_json()
        self._notify(paynow_reference, message)
        return result

    def push_status(
        self,
        paynow_reference: str,
        status: str,
        *,
        update_state: bool = False,
        amount: str | None = None,
        extra_fields: Fields = (),
    ) -> dict[str, Any]:
        """Send an arbitrary status update (stale, duplicate, odd amount, extra fields).

        By default the stored state is left alone, as for a late message from the past.
        """
        if not status:
            raise ControlError("status is required")
        with self._lock:
            txn = self._get(paynow_reference)
            if update_state:
                self._set_status(txn, status, "control-push")
            message = self._status_message(
                txn, status=status, amount=amount, extra_fields=extra_fields
            )
            result = txn.to_json()
        self._notify(paynow_reference, message)
        return result

    def _set_status(self, txn: Transaction, status: str, source: str) -> None:
        txn.status = status
        txn.history.append({"status": status, "at": _now_iso(), "source": source})

    def _schedule_status(self, paynow_reference: str, status: str, delay: float, source: str):
        def change() -> None:
            with self._lock:
                txn = self._transactions.get(paynow_reference)
                if txn is None or txn.status not in PENDING:
                    return  # approved/declined meanwhile, or reset
                self._set_status(txn, status, source)
                message = self._status_message(txn)
            self._notify(paynow_reference, message)

        self._scheduler.call_later(delay * self.time_scale, change)

    # -- delivering status updates --

    def _notify(self, paynow_reference: str, message: list[tuple[str, str]]) -> None:
        """Send one status update to the transaction's result URL, applying the fault switches."""
        with self._lock:
            txn = self._transactions.get(paynow_reference)
            if txn is None:
                return
            status = dict(message)["status"]
            copies = 1
            if self._faults.drop_updates > 0:
                self._faults.drop_updates -= 1
                txn.deliveries.append(self._skipped_delivery(status, "dropped"))
                return
            if self._faults.duplicate_updates > 0:
                self._faults.duplicate_updates -= 1
                copies = self._faults.duplicate_copies
            if not txn.result_url:
                txn.deliveries.append(self._skipped_delivery(status, "no-resulturl"))
                return
            url = txn.result_url
            deliveries = [next(self._delivery_counter) for _ in range(copies)]
        for delivery in deliveries:
            self._submit(paynow_reference, delivery, url, message, 1)

    def _skipped_delivery(self, status: str, outcome: str) -> dict[str, Any]:
        return {
            "delivery": next(self._delivery_counter),
            "attempt": 0,
            "status": status,
            "at": _now_iso(),
            "status_code": None,
            "error": None,
            "outcome": outcome,
        }

    def _submit(self, ref: str, delivery: int, url: str, message: Fields, attempt: int) -> None:
        if self._stopping.is_set():
            return
        try:
            self._executor.submit(self._deliver, ref, delivery, url, message, attempt)
        except RuntimeError:  # executor shut down
            return

    def _deliver(self, ref: str, delivery: int, url: str, message: Fields, attempt: int) -> None:
        record: dict[str, Any] = {
            "delivery": delivery,
            "attempt": attempt,
            "status": dict(message)["status"],
            "at": _now_iso(),
            "status_code": None,
            "error": None,
        }
        try:
            response = self._http().post(
                url,
                content=encode(message),
                headers={"Content-Type": "application/x-www-form-urlencoded"},
            )
            record["status_code"] = response.status_code
            ok = 200 <= response.status_code < 300
        except (httpx.HTTPError, RuntimeError) as exc:  # RuntimeError: client closed on stop
            record["error"] = f"{type(exc).__name__}: {exc}"
            ok = False
        record["outcome"] = "delivered" if ok else "failed"
        give_up = not ok and attempt >= self.delivery_attempts
        if give_up:
            record["outcome"] = "gave-up"
        with self._lock:
            txn = self._transactions.get(ref)
            if txn is None:
                return  # reset meanwhile
            txn.deliveries.append(record)
        if ok or give_up:
            return
        backoff = min(2.0 ** (attempt - 1), 300.0) * self.time_scale
        self._scheduler.call_later(
            backoff, lambda: self._submit(ref, delivery, url, message, attempt + 1)
        )


def _non_negative(value: Any, name: str) -> int:
    try:
        number = int(value)
    except (TypeError, ValueError) as exc:
        raise ControlError(f"{name} must be an integer") from exc
    if number < 0:
        raise ControlError(f"{name} must be >= 0")
    return number
