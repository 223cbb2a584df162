"""WhatsApp Cloud API protocol constants: message limits, webhook values and Graph API error codes.

One place for every number Meta imposes, so builders, validators and the sandbox agree.
"""

from __future__ import annotations

from enum import IntEnum, StrEnum
from typing import Final

# --- Webhook ---------------------------------------------------------------------------------

SIGNATURE_HEADER: Final = "X-Hub-Signature-256"
SIGNATURE_PREFIX: Final = "sha256="
WEBHOOK_OBJECT: Final = "whatsapp_business_account"
WEBHOOK_FIELD_MESSAGES: Final = "messages"
MAX_WEBHOOK_BODY_BYTES: Final = 3 * 1024 * 1024  # Meta: payloads up to 3 MB


class DeliveryStatus(StrEnum):
    """Values of ``statuses[].status`` in a webhook. ``delivered`` may be skipped."""

    SENT = "sent"
    DELIVERED = "delivered"
    READ = "read"
    FAILED = "failed"


# --- Outbound messages -----------------------------------------------------------------------

MESSAGING_PRODUCT: Final = "whatsapp"
RECIPIENT_TYPE_INDIVIDUAL: Final = "individual"

# Character limits (Python ``len``, i.e. code points).
TEXT_BODY_MAX: Final = 4096

INTERACTIVE_HEADER_TEXT_MAX: Final = 60
INTERACTIVE_FOOTER_MAX: Final = 60

BUTTONS_BODY_MAX: Final = 1024
BUTTONS_MAX: Final = 3
BUTTON_ID_MAX: Final = 256
BUTTON_TITLE_MAX: Final = 20

LIST_BODY_MAX: Final = 4096
LIST_BUTTON_MAX: Final = 20
LIST_SECTIONS_MAX: Final = 10
LIST_SECTION_TITLE_MAX: Final = 24
LIST_ROWS_TOTAL_MAX: Final = 10  # across all sections, not per section
LIST_ROW_ID_MAX: Final = 200
LIST_ROW_TITLE_MAX: Final = 24
LIST_ROW_DESCRIPTION_MAX: Final = 72

FLOW_BODY_MAX: Final = 1024
FLOW_CTA_MAX: Final = 20
FLOW_MESSAGE_VERSION: Final = "3"
FLOW_ACTIONS: Final = frozenset({"navigate", "data_exchange"})
FLOW_MODES: Final = frozenset({"published", "draft"})

# Interactive call-to-action URL button messages, from Meta's "Interactive Call-to-Action URL
# Button Messages" page (developers.facebook.com/documentation/business-messaging/whatsapp/
# messages/interactive-cta-url-messages): body required, at most 1024 characters; button label
# (`display_text`) required, at most 20; `url` required ("URL to load in the device's default
# web browser"); header optional (text at most 60, or image/video/document); footer at most 60.
CTA_URL_BODY_MAX: Final = 1024
CTA_URL_DISPLAY_TEXT_MAX: Final = 20
# Meta publishes no length for the URL. 2000 characters is the long-standing bound for URLs
# every browser opens (our own rule, shared with the emulator), far above Paynow's browserurl.
CTA_URL_URL_MAX: Final = 2000
CTA_URL_SCHEMES: Final = frozenset({"http", "https"})  # a page for "the default web browser"

# The whole table, for documentation, admin display and parametrised tests.
MESSAGE_LIMITS: Final = {
    "text.body": TEXT_BODY_MAX,
    "interactive.header.text": INTERACTIVE_HEADER_TEXT_MAX,
    "interactive.footer.text": INTERACTIVE_FOOTER_MAX,
    "button.body": BUTTONS_BODY_MAX,
    "button.count": BUTTONS_MAX,
    "button.id": BUTTON_ID_MAX,
    "button.title": BUTTON_TITLE_MAX,
    "list.body": LIST_BODY_MAX,
    "list.button": LIST_BUTTON_MAX,
    "list.sections": LIST_SECTIONS_MAX,
    "list.section.title": LIST_SECTION_TITLE_MAX,
    "list.rows_total": LIST_ROWS_TOTAL_MAX,
    "list.row.id": LIST_ROW_ID_MAX,
    "list.row.title": LIST_ROW_TITLE_MAX,
    "list.row.description": LIST_ROW_DESCRIPTION_MAX,
    "flow.body": FLOW_BODY_MAX,
    "flow.cta": FLOW_CTA_MAX,
    "cta_url.body": CTA_URL_BODY_MAX,
    "cta_url.display_text": CTA_URL_DISPLAY_TEXT_MAX,
    "cta_url.url": CTA_URL_URL_MAX,
}


# --- Graph API errors ------------------------------------------------------------------------


class GraphErrorCode(IntEnum):
    """Graph API / webhook error codes this project acts on."""

    THROUGHPUT_LIMIT = 130429  # cloud API throughput reached (80 msg/s per number by default)
    PAIR_RATE_LIMIT = 131056  # too many messages to one user (about 1 per 6 s)
    OUTSIDE_SERVICE_WINDOW = 131047  # more than 24 h since the user wrote: send a template
    UNDELIVERABLE = 131026  # recipient cannot receive the message
    SPAM_RATE_LIMIT = 131048  # quality/spam limit on the number
    FLOW_BLOCKED = 132068
    FLOW_THROTTLED = 132069


# Worth retrying with backoff. Everything else (validation, window, spam, flow blocked) is not:
# repeating the same request gets the same answer or makes the number's standing worse.
RETRYABLE_ERROR_CODES: Final = frozenset(
    {GraphErrorCode.THROUGHPUT_LIMIT, GraphErrorCode.PAIR_RATE_LIMIT}
)


def is_retryable(*, error_code: int | None = None, http_status: int | None = None) -> bool:
    """Whether a failed Graph API send should be retried with backoff.

    Retry on the rate-limit codes and on any 5xx; never on other 4xx answers.
    """
    if error_code is not None and error_code in RETRYABLE_ERROR_CODES:
        return True
    return http_status is not None and 500 <= http_status <= 599
