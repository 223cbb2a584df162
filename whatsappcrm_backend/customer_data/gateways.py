"""The gateway interface: what the money core asks of any way to pay, and the registry.

In the spirit of Saleor's ``payment/interface.py`` and django-payments' ``BasicProvider``: a
gateway prepares, starts, checks and describes payments of the methods it serves, verifies
its own callbacks and shows staff its state; it answers with small typed values, never with
sentences for the payer. The money core imports no gateway: gateway apps register theirs
(``register(gateway)`` in their ``AppConfig.ready``), keyed by payment method.

    request_payment ──▶ gateway_for(method) ──▶ validate, prepare (in the transaction),
                                                start (after commit) ──▶ GatewayResponse
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

if TYPE_CHECKING:  # models import nothing from here; the annotation needs no runtime import
    from .models import Payment


class CheckoutOutcome(StrEnum):
    """How a payment request ended: what the gateway did when asked to start it (or, for a
    repeated request, what it did then), or why it was refused before that."""

    PROMPT_SENT = "prompt_sent"  # a prompt is on the payer's phone (mobile money)
    REDIRECT = "redirect"  # the payer opens a URL (card checkout page)
    CODE_TO_ENTER = "code_to_enter"  # the payer enters a code in an app (InnBucks)
    AWAITING_PROOF = "awaiting_proof"  # manual: the payer pays and staff confirm it
    REFUSED = "refused"  # the gateway said no: nothing was created there, nothing taken
    UNAVAILABLE = "unavailable"  # no answer: it may exist there; checks will resolve it


class RefusalReason(StrEnum):
    """Why a payment request is refused. The conversation layer words each one."""

    INVALID_AMOUNT = "invalid_amount"  # not a positive amount in cents
    AMOUNT_OVER_BALANCE = "amount_over_balance"  # more than the booking still owes
    PAYMENT_PENDING = "payment_pending"  # with the payments still pending, over the balance
    BOOKING_CANCELLED = "booking_cancelled"
    METHOD_UNAVAILABLE = "method_unavailable"  # unknown, switched off or not configured
    INVALID_PHONE = "invalid_phone"  # not a mobile number the method can use
    WRONG_NETWORK = "wrong_network"  # a mobile number of another network
    INVALID_EMAIL = "invalid_email"
    GATEWAY_REFUSED = "gateway_refused"  # the gateway refused to start it (its text kept)

    @property
    def staff_label(self) -> str:
        """A short description for staff (admin messages, logs); travellers read
        ``flows.copy``."""
        return _STAFF_LABELS[self]


_STAFF_LABELS: dict[RefusalReason, str] = {
    RefusalReason.INVALID_AMOUNT: "The amount must be more than zero, in cents.",
    RefusalReason.AMOUNT_OVER_BALANCE: "The amount is more than the balance due.",
    RefusalReason.PAYMENT_PENDING: (
        "With the payments still pending, the amount is more than the balance due."
    ),
    RefusalReason.BOOKING_CANCELLED: "The booking is cancelled.",
    RefusalReason.METHOD_UNAVAILABLE: "That payment method is not available.",
    RefusalReason.INVALID_PHONE: "The phone number is not a mobile number this method can use.",
    RefusalReason.WRONG_NETWORK: "The phone number belongs to another mobile network.",
    RefusalReason.INVALID_EMAIL: "The e-mail address is not valid.",
    RefusalReason.GATEWAY_REFUSED: "The gateway refused to start the payment.",
}


@dataclass(frozen=True)
class Payer:
    """Who pays, as the gateway needs it: a phone for mobile money, an e-mail for receipts."""

    phone: str = ""
    email: str = ""


class PaymentRefused(Exception):
    """Raised by a gateway's ``validate`` or ``prepare``: the request cannot go ahead.

    ``detail`` is for logs and staff, never shown to the payer as it is. ``payer`` holds the
    details as far as they were normalised (a phone in local form) and ``accepted_prefixes``
    the number prefixes the method takes, so the payer can be told what to correct.
    """

    def __init__(
        self,
        reason: RefusalReason,
        detail: str = "",
        *,
        payer: Payer | None = None,
        accepted_prefixes: tuple[str, ...] = (),
    ) -> None:
        super().__init__(f"{reason}: {detail}" if detail else str(reason))
        self.reason = reason
        self.detail = detail
        self.payer = payer
        self.accepted_prefixes = accepted_prefixes


@dataclass(frozen=True)
class GatewayResponse:
    """A gateway's answer to ``start`` (or ``describe``).

    ``message`` is the gateway's own text (Paynow's instructions or error), for staff and
    logs; the payer reads our wording, chosen from ``outcome``.
    """

    outcome: CheckoutOutcome
    redirect_url: str = ""
    code: str = ""
    code_expires: datetime | None = None
    deep_link: str = ""
    gateway_reference: str = ""
    message: str = ""
    raw: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class GatewayStatus:
    """What a gateway said when asked about a payment (``check``).

    ``reachable`` is False when it could not be asked; ``gateway_status`` is its word,
    verbatim; ``payment_status`` is the payment's status once that word was applied;
    ``flag`` names anything staff must look at ("" for nothing).
    """

    reachable: bool
    payment_status: str
    gateway_status: str = ""
    flag: str = ""
    detail: str = ""


@runtime_checkable
class PaymentGateway(Protocol):
    """One way to pay. Implementations: Paynow Express and web checkout
    (``paynow_integration.services.gateways``), the manual methods (``customer_data.manual``).
    """

    #: The payment methods (``PaymentMethod`` values) this gateway serves.
    methods: frozenset[str]
    #: Whether a callback or a check can settle its payments (False: staff settle them).
    settles_itself: bool

    def unavailable_reason(self, method: str) -> str:
        """Why ``method`` cannot start payments now ("" when it can): switched off,
        not configured. Cheap; no network."""
        ...

    def validate(self, *, method: str, payer: Payer) -> Payer:
        """The payer's details, normalised for this gateway; raises ``PaymentRefused``."""
        ...

    def repeat_window(self) -> timedelta:
        """How long an identical request returns the pending payment instead of a new one
        (zero: never)."""
        ...

    def prepare(self, payment: Payment, payer: Payer) -> None:
        """Record what the attempt needs before anyone outside hears of it (a trace id, the
        configuration used). Runs inside the transaction that creates the payment, under
        the booking lock: no network. May raise ``PaymentRefused``."""
        ...

    def start(self, payment: Payment, payer: Payer) -> GatewayResponse:
        """Ask the gateway to start the committed, pending ``payment``. Runs outside any
        transaction; never changes ``payment.status`` (the checkout does, through the state
        machine). Refusal and silence are responses, not exceptions."""
        ...

    def describe(self, payment: Payment) -> GatewayResponse:
        """What ``start`` achieved for a pending payment, from stored state (a repeated
        request, a form completed later)."""
        ...

    def check(self, payment: Payment) -> GatewayStatus:
        """Ask the gateway for the payment's status now and apply it through the state
        machine (confirmed-by-gateway changes only)."""
        ...

    def verify_callback(self, body: bytes, headers: Mapping[str, str]) -> bool:
        """True when ``body`` is a callback this gateway really sent (signature or hash over
        the raw bytes). Gateways without callbacks answer False."""
        ...

    def staff_details(self, payment: Payment) -> list[tuple[str, str]]:
        """Label/value pairs for the payment's "Gateway details" in the admin."""
        ...

    def log_fields(self, payment: Payment) -> dict[str, str]:
        """Structured fields for the payment's log lines (e.g. ``paynow_reference``)."""
        ...


_GATEWAYS: dict[str, PaymentGateway] = {}


def register(gateway: PaymentGateway) -> None:
    """Serve ``gateway.methods`` with ``gateway`` (called from an ``AppConfig.ready``).

    Registering the same object twice is harmless; a second gateway for a method is a
    configuration error.
    """
    for method in gateway.methods:
        current = _GATEWAYS.get(method)
        if current is not None and current is not gateway:
            raise ValueError(f"payment method {method!r} already has a gateway: {current!r}")
        _GATEWAYS[method] = gateway


def gateway_for(method: str) -> PaymentGateway | None:
    """The gateway that serves ``method``, or None (no app registered one)."""
    return _GATEWAYS.get(method)


def registered_methods() -> Iterable[str]:
    return tuple(_GATEWAYS)


def payment_log_fields(payment: Payment) -> dict[str, str]:
    """The structured fields of every log line about ``payment``: ours and its gateway's."""
    fields = {"payment_id": str(payment.pk), "booking_reference": payment.booking.booking_reference}
    gateway = gateway_for(payment.payment_method)
    if gateway is not None:
        fields.update(gateway.log_fields(payment))
    return fields
