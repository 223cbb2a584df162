"""Paynow protocol values in one place: statuses, method names, and what each status means for us.

Pure Python (no Django), shared by the client (sdk.py), the services and the IPN view.
"""

from __future__ import annotations

from types import MappingProxyType
from typing import Final

# Paynow transaction statuses, exactly as they appear on the wire.
STATUS_OK: Final = "Ok"  # initiation accepted
STATUS_ERROR: Final = "Error"  # initiation or trace refused; carries `error`, no hash
STATUS_MESSAGE: Final = "Message"  # the `status` value we send in every request
STATUS_NOT_FOUND: Final = "NotFound"  # trace: no transaction with that merchanttrace

STATUS_CREATED: Final = "Created"
STATUS_SENT: Final = "Sent"
STATUS_PAID: Final = "Paid"
STATUS_AWAITING_DELIVERY: Final = "Awaiting Delivery"
STATUS_DELIVERED: Final = "Delivered"
STATUS_CANCELLED: Final = "Cancelled"
STATUS_FAILED: Final = "Failed"
STATUS_DISPUTED: Final = "Disputed"
STATUS_REFUNDED: Final = "Refunded"

TRANSACTION_STATUSES: Final = frozenset(
    {
        STATUS_CREATED,
        STATUS_SENT,
        STATUS_PAID,
        STATUS_AWAITING_DELIVERY,
        STATUS_DELIVERED,
        STATUS_CANCELLED,
        STATUS_FAILED,
        STATUS_DISPUTED,
        STATUS_REFUNDED,
    }
)

# Our payment outcomes (the values of Payment.status that a Paynow status can lead to).
OUTCOME_SUCCESSFUL: Final = "successful"
OUTCOME_PENDING: Final = "pending"
OUTCOME_CANCELLED: Final = "cancelled"
OUTCOME_FAILED: Final = "failed"
OUTCOME_REFUNDED: Final = "refunded"

# Paynow status -> our payment outcome. A status missing here (Disputed, or one we have never
# seen) maps to None: store it, never credit, never move the payment.
STATUS_TO_OUTCOME: Final = MappingProxyType(
    {
        STATUS_PAID: OUTCOME_SUCCESSFUL,
        STATUS_AWAITING_DELIVERY: OUTCOME_SUCCESSFUL,  # funds held in suspense, but received
        STATUS_DELIVERED: OUTCOME_SUCCESSFUL,
        STATUS_CREATED: OUTCOME_PENDING,
        STATUS_SENT: OUTCOME_PENDING,
        STATUS_CANCELLED: OUTCOME_CANCELLED,
        STATUS_FAILED: OUTCOME_FAILED,
        STATUS_REFUNDED: OUTCOME_REFUNDED,
    }
)

# Statuses that do not move the payment but need a person to look at it.
FLAG_FOR_STAFF: Final = frozenset({STATUS_DISPUTED})


def outcome_for_status(status: str) -> str | None:
    """Our payment outcome for a Paynow status; None for Disputed and unknown statuses."""
    return STATUS_TO_OUTCOME.get(status)


# Paynow's names for mobile money methods (the `method` field of express checkout).
METHOD_ECOCASH: Final = "ecocash"
METHOD_ONEMONEY: Final = "onemoney"
METHOD_INNBUCKS: Final = "innbucks"
EXPRESS_METHODS: Final = frozenset({METHOD_ECOCASH, METHOD_ONEMONEY, METHOD_INNBUCKS})

# Our payment method codes -> Paynow's method names.
PAYMENT_METHOD_TO_PAYNOW: Final = MappingProxyType(
    {
        "paynow_ecocash": METHOD_ECOCASH,
        "paynow_onemoney": METHOD_ONEMONEY,
        "paynow_innbucks": METHOD_INNBUCKS,
    }
)

# The InnBucks app opens this link with the authorisation code Paynow returned.
INNBUCKS_DEEP_LINK_TEMPLATE: Final = "schinn.wbpycode://innbucks.co.zw?pymInnCode={code}"

# Format of `authorizationexpires`, e.g. "30-Nov-2026 14:05".
AUTHORIZATION_EXPIRES_FORMAT: Final = "%d-%b-%Y %H:%M"

MERCHANT_TRACE_MAX_LENGTH: Final = 32

DEFAULT_REMOTE_URL: Final = "https://www.paynow.co.zw/interface/remotetransaction"
