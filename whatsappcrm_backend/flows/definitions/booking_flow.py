"""Booking a tour: tour, date, travellers, e-mail, price, confirmation, then payment.

``ask_payment_option`` (the deployment guide's step) offers "Mobile Money (Paynow)" — hidden
when PAYNOW_ENABLED is false —, "Card (Paynow)" (Paynow's web checkout, hidden when
PAYNOW_CARD_ENABLED is false) and the alternatives Omari and Bank Transfer. The payment
steps' words are in ``flows.copy`` (with why the deposit row reads "Pay 50% Deposit").

``entry_points``: a ``pay:<booking id>`` button (on receipts) opens ``prepare_payment``.
"""

from flows import copy

PAYNOW_SECTION = copy.PAYNOW_SECTION
PAY_ENTRY_POINT = "pay"  # Callback(PAY_ENTRY_POINT, booking id) on our receipts' buttons

FLOW = {
    "name": "booking",
    "description": "Book a tour and pay for it.",
    "triggers": ["book", "book a tour", "booking", "reserve", "make a booking", "i want to book"],
    "start": "check_tours",
    "entry_points": {PAY_ENTRY_POINT: {"step": "prepare_payment", "context": "booking_id"}},
    "steps": {
        "check_tours": {
            "type": "branch",
            "branches": [{"if": "has_active_tours", "then": "choose_tour"}],
            "else": "no_tours",
        },
        "no_tours": {
            "type": "end",
            "message": "Sorry, no tours are open for booking right now. Reply *agent* and a "
            "member of our team will help you.",
        },
        "choose_tour": {
            "type": "question",
            "expect": "choice",
            "message": {
                "kind": "list",
                "body": "Which tour would you like to book? Tap *Tours* to see them.",
                "button": "Tours",
                "sections": [{"title": "Our tours", "rows_from": "active_tours"}],
            },
            "save_as": "tour_id",
            "next": "ask_date",
            "return_if_editing": True,
        },
        "ask_date": {
            "type": "question",
            "expect": "date",
            "message": "Great choice: *{{ tour_id_label }}*. 🗓️ On which date would you like to "
            "go? (e.g. 15/12/2026 or 15 Dec 2026)",
            "save_as": "travel_date",
            "next": "ask_adults",
            "return_if_editing": True,
        },
        "ask_adults": {
            "type": "question",
            "expect": "integer",
            "min": 1,
            "max": 20,
            "message": "How many adults (12 years and older) are travelling?",
            "error": "Please reply with a number of adults from 1 to 20, e.g. 2.",
            "save_as": "adults",
            "next": "ask_children",
        },
        "ask_children": {
            "type": "question",
            "expect": "integer",
            "min": 0,
            "max": 20,
            "message": "And how many children (under 12)? Reply 0 if none.",
            "error": "Please reply with a number of children from 0 to 20 (0 if none).",
            "save_as": "children",
            "next": "start_travellers",
        },
        "start_travellers": {
            "type": "action",
            "action": "start_travellers",
            "next": "ask_traveller_name",
        },
        "ask_traveller_name": {
            "type": "question",
            "expect": "text",
            "min_length": 2,
            "max_length": 100,
            "message": "Traveller {{ traveller_number }} of {{ traveller_total }} "
            "({{ traveller_kind }}): what is their full name, as on their passport or ID?",
            "error": "Please type the traveller's full name (at least 2 letters).",
            "save_as": "traveller_name",
            "next": "ask_traveller_age",
        },
        "ask_traveller_age": {
            "type": "question",
            "expect": "integer",
            "min": 0,
            "max": 120,
            "message": "How old is {{ traveller_name }}?",
            "error": "Please reply with {{ traveller_name }}'s age in years, e.g. 34.",
            "save_as": "traveller_age",
            "next": "ask_traveller_nationality",
        },
        "ask_traveller_nationality": {
            "type": "question",
            "expect": "text",
            "min_length": 2,
            "max_length": 60,
            "message": "What is {{ traveller_name }}'s nationality?",
            "error": "Please type a nationality, e.g. Zimbabwean.",
            "save_as": "traveller_nationality",
            "next": "ask_traveller_id",
        },
        "ask_traveller_id": {
            "type": "question",
            "expect": "text",
            "optional": True,
            "min_length": 4,
            "max_length": 64,
            "message": "{{ traveller_name }}'s passport or ID number? "
            "(optional: reply *skip* to leave it out)",
            "error": "That ID number looks too short. Type it again, or reply *skip*.",
            "save_as": "traveller_id",
            "next": "save_traveller",
        },
        "save_traveller": {"type": "action", "action": "save_traveller", "next": "more_travellers"},
        "more_travellers": {
            "type": "branch",
            "branches": [{"if": "more_travellers", "then": "ask_traveller_name"}],
            "else": "ask_email",
        },
        "ask_email": {
            "type": "question",
            "expect": "email",
            "message": "📧 What e-mail address should we send the booking confirmation to?",
            "save_as": "email",
            "next": "summarize",
            "return_if_editing": True,
        },
        "summarize": {
            "type": "action",
            "action": "quote_booking",
            "transitions": {"tour_unavailable": "choose_tour"},
            "next": "show_summary",
        },
        "show_summary": {"type": "message", "message": "{{ summary }}", "next": "confirm_booking"},
        "confirm_booking": {
            "type": "question",
            "expect": "choice",
            "message": {
                "kind": "buttons",
                "body": "Is everything correct? Total: *{{ quote_total }}*",
                "buttons": [
                    {
                        "id": "confirm",
                        "title": "Confirm booking",
                        "synonyms": ["yes", "confirm", "ok", "correct"],
                    },
                    {"id": "edit", "title": "Edit details", "synonyms": ["edit", "change", "no"]},
                    {"id": "discard", "title": "Don't book", "synonyms": ["discard"]},
                ],
            },
            "transitions": {
                "confirm": "create_booking",
                "edit": "mark_editing",
                "discard": "discarded",
            },
        },
        "mark_editing": {
            "type": "action",
            "action": "set_context",
            "params": {"_return_to": "summarize"},
            "next": "choose_edit",
        },
        "choose_edit": {
            "type": "question",
            "expect": "choice",
            "message": {
                "kind": "list",
                "body": "What would you like to change?",
                "button": "Change",
                "sections": [
                    {
                        "title": "Booking details",
                        "rows": [
                            {"id": "tour", "title": "Tour"},
                            {"id": "date", "title": "Date", "synonyms": ["travel date"]},
                            {
                                "id": "travellers",
                                "title": "Travellers",
                                "description": "Number and details",
                            },
                            {"id": "email", "title": "E-mail", "synonyms": ["email"]},
                        ],
                    }
                ],
            },
            "transitions": {
                "tour": "choose_tour",
                "date": "ask_date",
                "travellers": "ask_adults",
                "email": "ask_email",
            },
        },
        "discarded": {
            "type": "end",
            "message": "No problem, I haven't booked anything. Reply *menu* whenever you're ready.",
        },
        "create_booking": {
            "type": "action",
            "action": "create_booking",
            "transitions": {"created": "booking_created", "failed": "booking_failed"},
        },
        "booking_failed": {
            "type": "end",
            "message": "Reply *agent* if you'd like a member of our team to help.",
        },
        "booking_created": {
            "type": "message",
            "message": "🎉 Booked! Your booking reference is *{{ booking_reference }}*.\n"
            "{{ tour_name }} on {{ booking_date }}, total {{ booking_total }}.",
            "next": "prepare_payment",
        },
        "prepare_payment": {
            "type": "action",
            "action": "load_booking",
            "transitions": {
                "ok": "ask_payment_option",
                "nothing_due": "fully_paid",
                "not_found": "end",
            },
        },
        "ask_payment_option": {
            "type": "question",
            "expect": "choice",
            "message": {
                "kind": "list",
                "body": copy.ASK_PAYMENT_OPTION,
                "button": copy.PAYMENT_OPTIONS_BUTTON,
                "sections": [
                    {
                        "title": copy.PAYNOW_SECTION,
                        "when": "paynow_enabled",
                        "rows": [
                            {
                                "id": "paynow_full",
                                "title": copy.ROW_PAYNOW_FULL,
                                "description": copy.ROW_PAYNOW_FULL_DESCRIPTION,
                                "synonyms": [
                                    "full",
                                    "pay full",
                                    "paynow",
                                    "ecocash",
                                    "onemoney",
                                    "innbucks",
                                ],
                            },
                            {
                                "id": "paynow_deposit",
                                "title": copy.ROW_PAYNOW_DEPOSIT,
                                "description": copy.ROW_PAYNOW_DEPOSIT_DESCRIPTION,
                                "when": "deposit_available",
                                "synonyms": [
                                    "deposit",
                                    "pay deposit",
                                    "pay 50% deposit via paynow",
                                ],
                            },
                        ],
                    },
                    {
                        "title": copy.CARD_SECTION,
                        "when": "paynow_card_enabled",
                        "rows": [
                            {
                                "id": "card_full",
                                "title": copy.ROW_CARD_FULL,
                                "description": copy.ROW_CARD_FULL_DESCRIPTION,
                                "synonyms": ["card", "visa", "mastercard", "pay by card"],
                            },
                            {
                                "id": "card_deposit",
                                "title": copy.ROW_CARD_DEPOSIT,
                                "description": copy.ROW_CARD_DEPOSIT_DESCRIPTION,
                                "when": "deposit_available",
                                "synonyms": ["card deposit", "deposit by card"],
                            },
                        ],
                    },
                    {
                        "title": copy.OTHER_SECTION,
                        "rows": [
                            {
                                "id": "omari",
                                "title": copy.ROW_OMARI,
                                "description": copy.ROW_OMARI_DESCRIPTION,
                            },
                            {
                                "id": "bank_transfer",
                                "title": copy.ROW_BANK_TRANSFER,
                                "description": copy.ROW_BANK_TRANSFER_DESCRIPTION,
                                "synonyms": ["bank", "transfer", "eft"],
                            },
                            {
                                "id": "later",
                                "title": copy.ROW_PAY_LATER,
                                "description": copy.ROW_PAY_LATER_DESCRIPTION,
                            },
                        ],
                    },
                ],
            },
            "transitions": {
                "paynow_full": "amount_full",
                "paynow_deposit": "amount_deposit",
                "card_full": "amount_card_full",
                "card_deposit": "amount_card_deposit",
                "omari": "omari_instructions",
                "bank_transfer": "bank_instructions",
                "later": "pay_later",
            },
        },
        "amount_full": {
            "type": "action",
            "action": "set_payment_amount",
            "params": {"purpose": "full"},
            "transitions": {"nothing_due": "fully_paid"},
            "next": "send_form",
        },
        "amount_deposit": {
            "type": "action",
            "action": "set_payment_amount",
            "params": {"purpose": "deposit"},
            "transitions": {"nothing_due": "fully_paid"},
            "next": "send_form",
        },
        "send_form": {
            "type": "action",
            "action": "send_payment_form",
            "transitions": {"sent": "form_sent", "not_found": "ask_paynow_method"},
        },
        "form_sent": {"type": "end"},
        "ask_paynow_method": {
            "type": "question",
            "expect": "choice",
            "message": {
                "kind": "buttons",
                "body": copy.ASK_MOBILE_MONEY_SERVICE,
                "buttons": [
                    {
                        "id": "paynow_ecocash",
                        "title": "EcoCash",
                        "synonyms": ["eco cash", "econet"],
                    },
                    {
                        "id": "paynow_onemoney",
                        "title": "OneMoney",
                        "synonyms": ["one money", "netone"],
                    },
                    {"id": "paynow_innbucks", "title": "InnBucks", "synonyms": ["inn bucks"]},
                ],
            },
            "save_as": "paynow_method",
            "next": "ask_paynow_phone",
        },
        "ask_paynow_phone": {
            "type": "question",
            "expect": "phone",
            "message": copy.ASK_PAYER_PHONE,
            "save_as": "paynow_phone",
            "next": "ask_paynow_email",
            "return_if_editing": True,
        },
        "ask_paynow_email": {
            "type": "question",
            "expect": "email",
            "message": copy.ASK_RECEIPT_EMAIL,
            "save_as": "paynow_email",
            "next": "initiate_paynow",
            "return_if_editing": True,
        },
        "initiate_paynow": {
            "type": "action",
            "action": "initiate_paynow_payment",
            "transitions": {
                "started": "payment_started",
                "unconfirmed": "payment_started",
                "refused": "payment_refused",
                "invalid_phone": "ask_paynow_phone",
                "invalid_email": "ask_paynow_email",
                "method_unavailable": "ask_payment_option",
                "invalid_amount": "ask_payment_option",
                "nothing_to_pay": "end",
            },
        },
        "payment_started": {"type": "end"},
        "payment_refused": {
            "type": "question",
            "expect": "choice",
            "message": {
                "kind": "buttons",
                "body": copy.ASK_TRY_AGAIN,
                "buttons": [
                    {"id": "retry", "title": copy.BUTTON_TRY_AGAIN, "synonyms": ["again", "yes"]},
                    {"id": "other", "title": copy.BUTTON_OTHER_PAYMENT, "synonyms": ["other"]},
                    {"id": "later", "title": copy.BUTTON_PAY_LATER, "synonyms": ["later", "no"]},
                ],
            },
            "transitions": {
                "retry": "ask_paynow_method",
                "other": "ask_payment_option",
                "later": "pay_later",
            },
        },
        "amount_card_full": {
            "type": "action",
            "action": "set_payment_amount",
            "params": {"purpose": "full"},
            "transitions": {"nothing_due": "fully_paid"},
            "next": "start_card_payment",
        },
        "amount_card_deposit": {
            "type": "action",
            "action": "set_payment_amount",
            "params": {"purpose": "deposit"},
            "transitions": {"nothing_due": "fully_paid"},
            "next": "start_card_payment",
        },
        "start_card_payment": {
            "type": "action",
            "action": "initiate_paynow_payment",
            "params": {"method": "paynow_card"},
            "transitions": {
                "started": "payment_started",
                "unconfirmed": "payment_started",
                "refused": "ask_payment_option",
                "invalid_phone": "ask_payment_option",
                "invalid_email": "ask_payment_option",
                "method_unavailable": "ask_payment_option",
                "invalid_amount": "ask_payment_option",
                "nothing_to_pay": "end",
            },
        },
        "bank_instructions": {
            "type": "action",
            "action": "manual_payment_instructions",
            "params": {"method": "bank_transfer"},
            "next": "await_proof",
        },
        "omari_instructions": {
            "type": "action",
            "action": "manual_payment_instructions",
            "params": {"method": "omari"},
            "next": "await_proof",
        },
        "await_proof": {
            "type": "question",
            "expect": "image",
            "optional": True,
            "message": copy.ASK_PROOF,
            "error": copy.ASK_PROOF_AGAIN,
            "save_as": "proof",
            "next": "check_proof",
        },
        "check_proof": {
            "type": "branch",
            "branches": [
                {"if": "context_set", "params": {"key": "proof"}, "then": "ask_proof_amount"}
            ],
            "else": "proof_later",
        },
        "ask_proof_amount": {
            "type": "question",
            "expect": "choice",
            "message": {
                "kind": "buttons",
                "body": copy.ASK_PROOF_AMOUNT,
                "buttons": [
                    {"id": "full", "title": copy.BUTTON_FULL_AMOUNT, "synonyms": ["full", "all"]},
                    {
                        "id": "deposit",
                        "title": copy.BUTTON_DEPOSIT_ONLY,
                        "when": "deposit_available",
                        "synonyms": ["deposit"],
                    },
                ],
            },
            "save_as": "proof_amount",
            "next": "record_proof",
        },
        "record_proof": {
            "type": "action",
            "action": "record_proof_of_payment",
            "transitions": {"recorded": "proof_received", "failed": "end"},
        },
        "proof_received": {"type": "end"},
        "proof_later": {"type": "end", "message": copy.PROOF_LATER},
        "pay_later": {"type": "end", "message": copy.PAY_LATER},
        "fully_paid": {"type": "end", "message": copy.FULLY_PAID},
        "end": {"type": "end", "message": "Reply *menu* for anything else."},
    },
}
