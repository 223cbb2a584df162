"""Paynow's services, one module per job:

- ``config``: the active configuration, a client for it, our callback URLs;
- ``gateways``: Paynow Express (mobile money) and web checkout (cards) behind the money
  core's gateway interface, and ``PaynowService`` (the guide's door into the checkout);
- ``status_updates``: the intake of status messages (typed rejections), their processing,
  and applying a verified status to a payment;
- ``reconciliation``: polling, tracing and expiring pending payments.

Payments start only through ``customer_data.checkout.request_payment``; every status change
goes through the money core's state machine.
"""

from .config import (
    IPN_PATH,
    RETURN_PATH,
    PaynowNotConfigured,
    config_for,
    get_active_config,
    sdk_for,
    site_url,
)
from .gateways import (
    NETWORK_PREFIXES,
    PaynowExpressGateway,
    PaynowService,
    PaynowWebCheckoutGateway,
    express_gateway,
    web_checkout_gateway,
)
from .reconciliation import ReconciliationSummary, check_attempt, reconcile_pending_payments
from .status_updates import (
    IncompleteStatusUpdate,
    MalformedStatusUpdate,
    StatusUpdateHashMismatch,
    StatusUpdateNotVerifiable,
    StatusUpdateRejected,
    UnreadableStatusUpdate,
    apply_status_update,
    ask_paynow,
    attempt_for,
    process_status_message,
    receive_status_update,
)

__all__ = [
    "IPN_PATH",
    "NETWORK_PREFIXES",
    "RETURN_PATH",
    "IncompleteStatusUpdate",
    "MalformedStatusUpdate",
    "PaynowExpressGateway",
    "PaynowNotConfigured",
    "PaynowService",
    "PaynowWebCheckoutGateway",
    "ReconciliationSummary",
    "StatusUpdateHashMismatch",
    "StatusUpdateNotVerifiable",
    "StatusUpdateRejected",
    "UnreadableStatusUpdate",
    "apply_status_update",
    "ask_paynow",
    "attempt_for",
    "check_attempt",
    "config_for",
    "express_gateway",
    "get_active_config",
    "process_status_message",
    "receive_status_update",
    "reconcile_pending_payments",
    "sdk_for",
    "site_url",
    "web_checkout_gateway",
]
