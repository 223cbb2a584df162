"""The payment form (a WhatsApp Flow): method, phone and e-mail for a Paynow mobile-money payment.

``PAYMENT_WHATSAPP_FLOW`` is the Flow JSON uploaded to Meta (deployment guide, step 4)::

    from flows.definitions.payment_whatsapp_flow import PAYMENT_WHATSAPP_FLOW
    json.dump(PAYMENT_WHATSAPP_FLOW, f, indent=2)

The form is dynamic: Meta asks our data endpoint (``/crm-api/flows/paynow-payment-webhook/``)
for the first screen (``INIT``) and sends the "Pay" press to it (``data_exchange``). The answer
is one of:

- ``PAYMENT`` again with ``error_message`` (a correctable mistake: bad phone, wrong network);
- ``ERROR`` (terminal: the payment could not be started);
- Meta's reserved ``SUCCESS`` answer, which closes the form and sends the ``nfm_reply``; the
  instructions (approve the prompt, or the InnBucks code) then arrive in the chat. ``SUCCESS``
  is a reserved word in Flow JSON, so no screen here may use it as its id.

The endpoint URI is not part of the JSON (Flow JSON >= 3.0): it is set on the flow in Meta's
Flow Builder or through the Flows API (``register_whatsapp_flow``).
"""

from __future__ import annotations

from typing import Any

FLOW_NAME = "payment_whatsapp_flow"
FLOW_JSON_VERSION = "7.3"
DATA_API_VERSION = "3.0"

PAYMENT_SCREEN = "PAYMENT"
ERROR_SCREEN = "ERROR"

# RadioButtonsGroup option id -> our payment method (customer_data.models.PaymentMethod).
METHOD_OPTIONS: tuple[tuple[str, str, str], ...] = (
    ("ecocash", "EcoCash", "paynow_ecocash"),
    ("onemoney", "OneMoney", "paynow_onemoney"),
    ("innbucks", "InnBucks", "paynow_innbucks"),
)
OPTION_TO_METHOD = {option: method for option, _, method in METHOD_OPTIONS}
METHOD_TO_OPTION = {method: option for option, _, method in METHOD_OPTIONS}


def _string(example: str) -> dict[str, Any]:
    return {"type": "string", "__example__": example}


PAYMENT_WHATSAPP_FLOW: dict[str, Any] = {
    "version": FLOW_JSON_VERSION,
    "data_api_version": DATA_API_VERSION,
    "routing_model": {PAYMENT_SCREEN: [ERROR_SCREEN], ERROR_SCREEN: []},
    "screens": [
        {
            "id": PAYMENT_SCREEN,
            "title": "Pay with mobile money",
            "terminal": False,
            "data": {
                "booking_reference": _string("BK-7Q2P9K"),
                "tour_name": _string("Victoria Falls Guided Tour"),
                "purpose_label": _string("Deposit (50%)"),
                "amount_display": _string("USD 100.00"),
                "payment_method": _string("ecocash"),
                "phone": _string("0771234567"),
                "email": _string("tendai@example.com"),
                "error_message": _string("That phone number is not an EcoCash number."),
                "has_error": {"type": "boolean", "__example__": False},
            },
            "layout": {
                "type": "SingleColumnLayout",
                "children": [
                    {
                        "type": "TextBody",
                        "text": "${data.error_message}",
                        "visible": "${data.has_error}",
                        "font-weight": "bold",
                    },
                    {"type": "TextHeading", "text": "${data.amount_display}"},
                    {"type": "TextBody", "text": "${data.purpose_label}: ${data.tour_name}"},
                    {"type": "TextCaption", "text": "Booking ${data.booking_reference}"},
                    {
                        "type": "RadioButtonsGroup",
                        "name": "payment_method",
                        "label": "Pay with",
                        "required": True,
                        "init-value": "${data.payment_method}",
                        "data-source": [
                            {"id": option, "title": title} for option, title, _ in METHOD_OPTIONS
                        ],
                    },
                    {
                        "type": "TextInput",
                        "name": "phone",
                        "label": "Mobile money number",
                        "input-type": "phone",
                        "required": True,
                        "min-chars": 9,
                        "max-chars": 16,
                        "init-value": "${data.phone}",
                        "helper-text": "The number that pays, e.g. 0771234567",
                    },
                    {
                        "type": "TextInput",
                        "name": "email",
                        "label": "E-mail for the receipt",
                        "input-type": "email",
                        "required": True,
                        "init-value": "${data.email}",
                    },
                    {
                        "type": "Footer",
                        "label": "Pay",
                        "on-click-action": {
                            "name": "data_exchange",
                            "payload": {
                                "payment_method": "${form.payment_method}",
                                "phone": "${form.phone}",
                                "email": "${form.email}",
                            },
                        },
                    },
                ],
            },
        },
        {
            "id": ERROR_SCREEN,
            "title": "Payment not started",
            "terminal": True,
            "success": False,
            "data": {
                "booking_reference": _string("BK-7Q2P9K"),
                "error_message": _string("Mobile money payments are not available right now."),
            },
            "layout": {
                "type": "SingleColumnLayout",
                "children": [
                    {"type": "TextHeading", "text": "We couldn't start the payment"},
                    {"type": "TextBody", "text": "${data.error_message}"},
                    {"type": "TextCaption", "text": "Booking ${data.booking_reference}"},
                    {
                        "type": "Footer",
                        "label": "Close",
                        "on-click-action": {
                            "name": "complete",
                            "payload": {
                                "outcome": "error",
                                "booking_reference": "${data.booking_reference}",
                            },
                        },
                    },
                ],
            },
        },
    ],
}
