"""The main menu: where every conversation starts and where ``menu`` always leads."""

FLOW = {
    "name": "main_menu",
    "description": "Greeting and the main menu.",
    "triggers": [
        "hi",
        "hello",
        "hey",
        "hallo",
        "good morning",
        "good afternoon",
        "good evening",
        "start",
    ],
    "start": "show_menu",
    "steps": {
        "show_menu": {
            "type": "question",
            "expect": "choice",
            "message": {
                "kind": "list",
                "header": "Kalai Safaris",
                "body": "Hello {{ contact.first_name }}! 👋 Welcome to {{ company.name }}, "
                "Victoria Falls. How can I help you today?",
                "button": "Menu",
                "footer": "Reply menu at any time to come back here",
                "sections": [
                    {
                        "title": "What would you like?",
                        "rows": [
                            {
                                "id": "book",
                                "title": "Book a tour",
                                "description": "Safaris, the Falls, cruises and more",
                                "synonyms": ["book", "booking", "tour", "tours"],
                            },
                            {
                                "id": "my_bookings",
                                "title": "My bookings",
                                "description": "Status and balance of your bookings",
                                "synonyms": ["bookings", "my booking", "status"],
                            },
                            {
                                "id": "pay_balance",
                                "title": "Pay a balance",
                                "description": "Pay the rest of a booking",
                                "synonyms": ["pay", "balance", "payment"],
                            },
                            {
                                "id": "agent",
                                "title": "Talk to an agent",
                                "description": "A person from our team will reply",
                                "synonyms": ["agent", "human", "person"],
                            },
                            {
                                "id": "contact",
                                "title": "Contact details",
                                "description": "Address, phone and office hours",
                                "synonyms": ["contact", "address", "phone"],
                            },
                        ],
                    }
                ],
            },
            "transitions": {
                "book": "go_booking",
                "my_bookings": "go_my_bookings",
                "pay_balance": "go_pay_balance",
                "agent": "handover",
                "contact": "contact_details",
            },
        },
        "go_booking": {"type": "switch_flow", "flow": "booking"},
        "go_my_bookings": {"type": "switch_flow", "flow": "my_bookings"},
        "go_pay_balance": {"type": "switch_flow", "flow": "my_bookings", "step": "load_unpaid"},
        "handover": {"type": "handover"},
        "contact_details": {
            "type": "end",
            "message": "{{ company.contact_details }}\n\nReply *menu* for anything else.",
        },
    },
}
