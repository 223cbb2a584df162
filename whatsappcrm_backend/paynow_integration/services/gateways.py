"""Paynow behind the money core's gateway interface (``customer_data.gateways``).

- ``PaynowExpressGateway``: EcoCash, OneMoney, InnBucks. Express checkout pushes a prompt to
  the payer's phone (InnBucks answers a code the payer enters in the app instead).
- ``PaynowWebCheckoutGateway``: cards. Web checkout answers a ``browserurl``: the payer pays
  on Paynow's page, and the status arrives at the same result URL as mobile money.

Both keep what Paynow says about a payment on its ``PaynowAttempt``, created (with the
merchant trace and the configuration used) in the checkout's transaction, before Paynow
hears of the payment. ``PaynowService.initiate_payment``, the deployment guide's name, is a
door into the checkout, not a second way in.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Mapping
from datetime import timedelta
from decimal import Decimal

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.utils import timezone
from django.utils.formats import date_format

from customer_data import services as money
from customer_data.checkout import CheckoutResult, request_payment
from customer_data.gateways import (
    CheckoutOutcome,
    GatewayResponse,
    GatewayStatus,
    Payer,
    PaymentRefused,
    RefusalReason,
)
from customer_data.models import PAYNOW_METHODS, Booking, Payment, PaymentEvent, PaymentMethod
from whatsappcrm.phones import zimbabwe_mobile

from .. import constants as C
from ..models import PaynowAttempt, PaynowConfig
from ..sdk import (
    InitiationResult,
    PaynowError,
    PaynowGatewayError,
    PaynowSDK,
    parse_form,
)
from .config import IPN_PATH, RETURN_PATH, PaynowNotConfigured, config_for, sdk_for, site_url
from .reconciliation import check_attempt
from .status_updates import attempt_for, log_fields, verify_fields

logger = logging.getLogger(__name__)

# Zimbabwean mobile prefixes (after 07): 1 NetOne (OneMoney), 3 Telecel, 7/8 Econet (EcoCash).
NETWORK_PREFIXES: dict[str, tuple[str, ...]] = {
    PaymentMethod.PAYNOW_ECOCASH: ("077", "078"),
    PaymentMethod.PAYNOW_ONEMONEY: ("071",),
    PaymentMethod.PAYNOW_INNBUCKS: ("071", "073", "077", "078"),
}
FIRST_CHECK_AFTER = timedelta(seconds=30)  # a prompt takes a while to be approved
UNCONFIRMED_CHECK_AFTER = timedelta(seconds=15)  # no reply: trace it soon


class _PaynowGateway:
    """What both Paynow gateways share: the attempt, checks, callbacks, staff details."""

    methods: frozenset[str] = frozenset()
    settles_itself = True
    kind = PaynowAttempt.Kind.EXPRESS

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"

    def unavailable_reason(self, method: str) -> str:
        if not settings.PAYNOW_ENABLED:
            return "Paynow is switched off (PAYNOW_ENABLED)"
        if not PaynowConfig.objects.filter(is_active=True).exists():
            return "no active Paynow configuration"
        return ""

    def repeat_window(self) -> timedelta:
        return timedelta(seconds=float(settings.PAYNOW_DUPLICATE_WINDOW))

    def _email(self, email: str, *, required: bool) -> str:
        email = email.strip()
        if not email and not required:
            return ""
        try:
            validate_email(email)
        except ValidationError:
            raise PaymentRefused(RefusalReason.INVALID_EMAIL) from None
        return email

    def prepare(self, payment: Payment, payer: Payer) -> None:
        config = PaynowConfig.objects.filter(is_active=True).first()
        if config is None:  # switched off since the availability check
            raise PaymentRefused(RefusalReason.METHOD_UNAVAILABLE, "no active Paynow configuration")
        PaynowAttempt.objects.create(
            payment=payment,
            config=config,
            kind=self.kind,
            merchant_trace=secrets.token_hex(C.MERCHANT_TRACE_MAX_LENGTH // 2),
            next_check_at=timezone.now() + FIRST_CHECK_AFTER,
        )

    def start(self, payment: Payment, payer: Payer) -> GatewayResponse:
        attempt = attempt_for(payment)
        config = config_for(attempt)
        with sdk_for(config) as sdk:
            try:
                result = self._initiate(sdk, config, attempt)
            except PaynowGatewayError as exc:
                # Paynow created no transaction: nothing was sent to the payer.
                PaynowAttempt.objects.filter(pk=attempt.pk).update(
                    gateway_status=C.STATUS_ERROR, next_check_at=None
                )
                return GatewayResponse(
                    CheckoutOutcome.REFUSED,
                    message=f"Paynow: {exc.message}",
                    raw={"fields": list(exc.raw_fields)},
                )
            except PaynowError as exc:
                if self.kind == PaynowAttempt.Kind.WEB:
                    return self._unanswered_web_checkout(attempt, exc)
                # The request may or may not have reached Paynow: never push again; trace it.
                logger.warning(
                    "Paynow initiation for payment %s unconfirmed (%s); reconciliation will "
                    "trace it",
                    payment.pk,
                    type(exc).__name__,
                    extra=log_fields(payment, attempt),
                )
                PaynowAttempt.objects.filter(pk=attempt.pk).update(
                    next_check_at=timezone.now() + UNCONFIRMED_CHECK_AFTER
                )
                money.record_gateway_message(
                    payment_id=payment.pk,
                    source=PaymentEvent.Source.GATEWAY,
                    message=f"Initiation unconfirmed: {type(exc).__name__}: {exc}",
                )
                return GatewayResponse(
                    CheckoutOutcome.UNAVAILABLE, message=f"{type(exc).__name__}: {exc}"
                )
        _record_reply(attempt, result)
        money.record_gateway_message(
            payment_id=payment.pk,
            source=PaymentEvent.Source.GATEWAY,
            message="Paynow accepted the payment request",
            raw_data={"fields": list(result.raw_fields)},
        )
        logger.info("Payment initiated successfully", extra=log_fields(payment, attempt))
        return self.describe(payment, attempt)

    def _initiate(
        self, sdk: PaynowSDK, config: PaynowConfig, attempt: PaynowAttempt
    ) -> InitiationResult:
        raise NotImplementedError

    def _unanswered_web_checkout(self, attempt: PaynowAttempt, exc: PaynowError) -> GatewayResponse:
        """Without Paynow's reply nobody has the checkout page, so nobody can pay: the
        attempt is over (refused), unlike a mobile money prompt that may still arrive."""
        PaynowAttempt.objects.filter(pk=attempt.pk).update(next_check_at=None)
        return GatewayResponse(
            CheckoutOutcome.REFUSED,
            message=f"Paynow did not answer ({type(exc).__name__}); without its checkout page "
            "the payer cannot pay",
        )

    def _urls(self, payment: Payment) -> dict[str, str]:
        return {
            "result_url": site_url(IPN_PATH),
            "return_url": site_url(f"{RETURN_PATH}?reference={payment.reference}"),
        }

    def describe(self, payment: Payment, attempt: PaynowAttempt | None = None) -> GatewayResponse:
        attempt = attempt or attempt_for(payment)
        if not (attempt.paynow_reference or attempt.poll_url):
            # No reply from Paynow yet: a prompt may still arrive; reconciliation resolves it.
            return GatewayResponse(CheckoutOutcome.UNAVAILABLE)
        common = {"gateway_reference": attempt.paynow_reference, "message": attempt.instructions}
        if attempt.kind == PaynowAttempt.Kind.WEB:
            return GatewayResponse(
                CheckoutOutcome.REDIRECT, redirect_url=attempt.browser_url, **common
            )
        if attempt.authorization_code:
            return GatewayResponse(
                CheckoutOutcome.CODE_TO_ENTER,
                code=attempt.authorization_code,
                code_expires=attempt.authorization_expires,
                deep_link=C.INNBUCKS_DEEP_LINK_TEMPLATE.format(code=attempt.authorization_code),
                **common,
            )
        return GatewayResponse(CheckoutOutcome.PROMPT_SENT, **common)

    def check(self, payment: Payment) -> GatewayStatus:
        attempt = attempt_for(payment)
        try:
            config = config_for(attempt)
        except PaynowNotConfigured as exc:
            return GatewayStatus(reachable=False, payment_status=payment.status, detail=str(exc))
        with sdk_for(config) as sdk:
            try:
                return check_attempt(
                    sdk, attempt, now=timezone.now(), source=PaymentEvent.Source.POLL
                )
            except PaynowError as exc:
                return GatewayStatus(
                    reachable=False,
                    payment_status=payment.status,
                    detail=f"{type(exc).__name__}: {exc}",
                )

    def verify_callback(self, body: bytes, headers: Mapping[str, str]) -> bool:
        """A status update is Paynow's when its hash verifies with the active key."""
        config = PaynowConfig.objects.filter(is_active=True).first()
        if config is None:
            return False
        try:
            fields = parse_form(body)
        except (ValueError, UnicodeDecodeError):
            return False
        return verify_fields(fields, config)

    def staff_details(self, payment: Payment) -> list[tuple[str, str]]:
        attempt = PaynowAttempt.objects.select_related("config").filter(payment=payment).first()
        if attempt is None:
            return [("Paynow", "No attempt recorded")]

        def when(value) -> str:
            return date_format(timezone.localtime(value), "DATETIME_FORMAT") if value else "—"

        return [
            ("Paynow reference", attempt.paynow_reference or "—"),
            ("Checkout", attempt.get_kind_display()),
            ("Last Paynow status", attempt.gateway_status or "—"),
            ("Merchant trace", attempt.merchant_trace or "—"),
            ("Poll URL", attempt.poll_url or "—"),
            ("Browser URL", attempt.browser_url or "—"),
            ("Instructions", attempt.instructions or "—"),
            ("InnBucks code", attempt.authorization_code or "—"),
            ("Code valid until", when(attempt.authorization_expires)),
            ("Checks made", str(attempt.check_attempts)),
            ("Last checked", when(attempt.last_checked_at)),
            ("Next check", when(attempt.next_check_at)),
            ("Configuration", str(attempt.config) if attempt.config else "The active one"),
        ]

    def log_fields(self, payment: Payment) -> dict[str, str]:
        reference = (
            PaynowAttempt.objects.filter(payment=payment)
            .values_list("paynow_reference", flat=True)
            .first()
        )
        return {"paynow_reference": reference or "-"}


def _record_reply(attempt: PaynowAttempt, result: InitiationResult) -> None:
    attempt.poll_url = result.poll_url
    attempt.paynow_reference = result.paynow_reference or ""
    attempt.browser_url = result.browser_url or ""
    attempt.instructions = result.instructions or ""
    attempt.authorization_code = result.authorization_code or ""
    attempt.authorization_expires = result.authorization_expires
    attempt.gateway_status = result.status
    attempt.save(
        update_fields=[
            "poll_url",
            "paynow_reference",
            "browser_url",
            "instructions",
            "authorization_code",
            "authorization_expires",
            "gateway_status",
            "updated_at",
        ]
    )


class PaynowExpressGateway(_PaynowGateway):
    """Mobile money: a prompt on the payer's phone, or an InnBucks code."""

    methods = frozenset(NETWORK_PREFIXES)
    kind = PaynowAttempt.Kind.EXPRESS

    def validate(self, *, method: str, payer: Payer) -> Payer:
        phone = zimbabwe_mobile(payer.phone)
        if phone is None:
            raise PaymentRefused(RefusalReason.INVALID_PHONE, payer=payer)
        prefixes = NETWORK_PREFIXES[method]
        if not phone.startswith(prefixes):
            raise PaymentRefused(
                RefusalReason.WRONG_NETWORK,
                f"{phone[:3]} is not a {method} prefix",
                payer=Payer(phone=phone, email=payer.email),
                accepted_prefixes=prefixes,
            )
        # Paynow's express checkout requires an e-mail (it sends the payer a receipt).
        return Payer(phone=phone, email=self._email(payer.email, required=True))

    def _initiate(
        self, sdk: PaynowSDK, config: PaynowConfig, attempt: PaynowAttempt
    ) -> InitiationResult:
        payment = attempt.payment
        return sdk.express_checkout(
            reference=payment.reference,
            amount=payment.amount,
            method=C.PAYMENT_METHOD_TO_PAYNOW[payment.payment_method],
            phone=payment.phone_number,
            auth_email=config.auth_email or payment.email,
            merchant_trace=attempt.merchant_trace or "",
            additional_info=f"Booking {payment.booking.booking_reference}",
            **self._urls(payment),
        )


class PaynowWebCheckoutGateway(_PaynowGateway):
    """Cards: the payer opens Paynow's checkout page (``browserurl``) and pays there."""

    methods = frozenset({PaymentMethod.PAYNOW_CARD})
    kind = PaynowAttempt.Kind.WEB

    def unavailable_reason(self, method: str) -> str:
        if not settings.PAYNOW_CARD_ENABLED:
            return "card payments are switched off (PAYNOW_CARD_ENABLED)"
        return super().unavailable_reason(method)

    def validate(self, *, method: str, payer: Payer) -> Payer:
        # Paynow's page asks the payer for what it needs; an e-mail we have is checked.
        return Payer(phone="", email=self._email(payer.email, required=False))

    def _initiate(
        self, sdk: PaynowSDK, config: PaynowConfig, attempt: PaynowAttempt
    ) -> InitiationResult:
        payment = attempt.payment
        return sdk.web_checkout(
            reference=payment.reference,
            amount=payment.amount,
            merchant_trace=attempt.merchant_trace or "",
            auth_email=config.auth_email or payment.email,
            additional_info=f"Booking {payment.booking.booking_reference}",
            **self._urls(payment),
        )


express_gateway = PaynowExpressGateway()
web_checkout_gateway = PaynowWebCheckoutGateway()


class PaynowService:
    """The deployment guide's ``PaynowService.initiate_payment()``: a door into the checkout
    for the Paynow methods (``customer_data.checkout.request_payment``)."""

    def initiate_payment(
        self,
        booking: Booking,
        amount: Decimal,
        payment_method: str,
        phone_number: str,
        email: str,
        *,
        source: str = PaymentEvent.Source.FLOW,
        actor=None,
    ) -> CheckoutResult:
        if payment_method not in PAYNOW_METHODS:
            return CheckoutResult(
                CheckoutOutcome.REFUSED,
                reason=RefusalReason.METHOD_UNAVAILABLE,
                gateway_message=f"{payment_method!r} is not a Paynow method",
            )
        return request_payment(
            booking=booking,
            amount=amount,
            method=payment_method,
            payer=Payer(phone=phone_number, email=email),
            source=source,
            actor=actor,
        )
