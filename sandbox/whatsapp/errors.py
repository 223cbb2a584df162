"""Graph API errors as Meta shapes them, plus the error codes the emulator produces."""

from __future__ import annotations

import secrets
import string

# Meta error codes (Cloud API "Error codes" page).
AUTH_ERROR = 190
UNKNOWN_ERROR = 1
INVALID_PARAMETER = 100
PARAMETER_VALUE_NOT_VALID = 131009
THROUGHPUT_LIMIT = 130429
PAIR_RATE_LIMIT = 131056
REENGAGEMENT_WINDOW = 131047
UNDELIVERABLE = 131026

_FBTRACE_ALPHABET = string.ascii_letters + string.digits + "_-"


def new_fbtrace_id() -> str:
    return "A" + "".join(secrets.choice(_FBTRACE_ALPHABET) for _ in range(22))


class GraphApiError(Exception):
    """One refused Graph request: turned into Meta's `{"error": {...}}` body by the server."""

    def __init__(
        self,
        code: int,
        message: str,
        *,
        details: str | None = None,
        http_status: int = 400,
        error_type: str = "OAuthException",
        subcode: int | None = None,
        is_transient: bool | None = None,
    ) -> None:
        super().__init__(f"({code}) {message}: {details}")
        self.code = code
        self.message = message
        self.details = details
        self.http_status = http_status
        self.error_type = error_type
        self.subcode = subcode
        self.is_transient = is_transient

    def to_body(self) -> dict:
        error: dict = {
            "message": f"(#{self.code}) {self.message}",
            "type": self.error_type,
            "code": self.code,
        }
        if self.subcode is not None:
            error["error_subcode"] = self.subcode
        if self.is_transient is not None:
            error["is_transient"] = self.is_transient
        if self.details is not None:
            error["error_data"] = {"messaging_product": "whatsapp", "details": self.details}
        error["fbtrace_id"] = new_fbtrace_id()
        return {"error": error}


def invalid_parameter(details: str) -> GraphApiError:
    return GraphApiError(INVALID_PARAMETER, "Invalid parameter", details=details)


def value_not_valid(details: str) -> GraphApiError:
    return GraphApiError(PARAMETER_VALUE_NOT_VALID, "Parameter value is not valid", details=details)


def auth_error() -> GraphApiError:
    return GraphApiError(
        AUTH_ERROR,
        "Invalid OAuth access token - Cannot parse access token",
        http_status=401,
    )


def unknown_object(object_id: str, method: str = "post") -> GraphApiError:
    """Graph's answer for an id it does not know, e.g. a media ID after Meta dropped the file
    (webhook media IDs last 7 days, per Meta's media page)."""
    return GraphApiError(
        INVALID_PARAMETER,
        f"Unsupported {method} request. Object with ID '{object_id}' does not exist, cannot be "
        "loaded due to missing permissions, or does not support this operation.",
        error_type="GraphMethodException",
        subcode=33,
    )


def throughput_limit() -> GraphApiError:
    return GraphApiError(
        THROUGHPUT_LIMIT,
        "Rate limit hit",
        details="Cloud API message throughput has been reached.",
    )


def pair_rate_limit() -> GraphApiError:
    return GraphApiError(
        PAIR_RATE_LIMIT,
        "(Business Account, Consumer Account) pair rate limit hit",
        details="Too many messages sent from the sender phone number to the same recipient "
        "phone number in a short period of time.",
    )


REENGAGEMENT_DETAILS = (
    "Message failed to send because more than 24 hours have passed since the customer "
    "last replied to this number."
)


def reengagement_window() -> GraphApiError:
    return GraphApiError(REENGAGEMENT_WINDOW, "Re-engagement message", details=REENGAGEMENT_DETAILS)


def server_error() -> GraphApiError:
    return GraphApiError(
        UNKNOWN_ERROR,
        "An unknown error has occurred.",
        http_status=500,
        is_transient=True,
    )
