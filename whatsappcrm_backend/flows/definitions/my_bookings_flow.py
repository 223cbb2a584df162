"""My bookings: the contact's bookings with status and balance; pay a balance."""

FLOW = {
    "name": "my_bookings",
    "description": "List the contact's bookings; pay the balance of one.",
    "triggers": ["my bookings", "my booking", "pay", "pay balance", "balance", "booking status"],
    "start": "load_all",
    "steps": {
        "load_all": {
            "type": "action",
            "action": "load_bookings",
            "transitions": {"found": "choose_booking", "none": "no_bookings"},
        },
        "load_unpaid": {
            "type": "action",
            "action": "load_bookings",
            "params": {"unpaid_only": True},
            "transitions": {"found": "choose_booking", "none": "nothing_to_pay"},
        },
        "choose_booking": {
            "type": "question",
            "expect": "choice",
            "message": {
                "kind": "list",
                "body": "Your bookings:\n{{ bookings_text }}\n\n"
                "Choose one to see the details or pay.",
                "button": "Bookings",
                "sections": [{"title": "Your bookings", "rows_from": "contact_bookings"}],
            },
            "save_as": "booking_id",
            "next": "load_selected",
        },
        "load_selected": {
            "type": "action",
            "action": "load_booking",
            "transitions": {
                "ok": "booking_details",
                "nothing_due": "paid_details",
                "not_found": "go_menu",
            },
        },
        "booking_details": {
            "type": "question",
            "expect": "choice",
            "message": {
                "kind": "buttons",
                "body": "*{{ booking_reference }}* - {{ tour_name }}\nDate: {{ booking_date }}\n"
                "Status: {{ booking_status }}\nTotal: {{ booking_total }}\n"
                "Paid: {{ amount_paid }}\nBalance: {{ balance_due }}",
                "buttons": [
                    {"id": "pay", "title": "Pay balance", "synonyms": ["pay", "pay now"]},
                    {"id": "menu", "title": "Main menu"},
                ],
            },
            "transitions": {"pay": "go_pay", "menu": "go_menu"},
        },
        "paid_details": {
            "type": "end",
            "message": "*{{ booking_reference }}* - {{ tour_name }}\nDate: {{ booking_date }}\n"
            "Status: {{ booking_status }}\nTotal: {{ booking_total }}\nPaid: {{ amount_paid }}\n\n"
            "Nothing more to pay. Reply *menu* for anything else.",
        },
        "go_pay": {
            "type": "switch_flow",
            "flow": "booking",
            "step": "prepare_payment",
            "carry": ["booking_id"],
        },
        "go_menu": {"type": "switch_flow", "flow": "main_menu"},
        "go_book": {"type": "switch_flow", "flow": "booking"},
        "no_bookings": {
            "type": "question",
            "expect": "choice",
            "message": {
                "kind": "buttons",
                "body": "You don't have any bookings with us yet.",
                "buttons": [
                    {"id": "book", "title": "Book a tour", "synonyms": ["book"]},
                    {"id": "menu", "title": "Main menu"},
                ],
            },
            "transitions": {"book": "go_book", "menu": "go_menu"},
        },
        "nothing_to_pay": {
            "type": "end",
            "message": "All your bookings are paid up - there's nothing to pay. 🎉 "
            "Reply *menu* for anything else.",
        },
    },
}
