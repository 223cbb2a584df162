"""A traveller's phone for tests: signed webhooks in, recorded outbound messages out."""

from __future__ import annotations

import itertools
import json
import time
from contextlib import nullcontext
from datetime import date
from typing import Any

from django.urls import reverse

from conversations.models import Contact, Message
from meta_integration.signature import compute_signature

PHONE_NUMBER_ID = "123456789012345"
WABA_ID = "102290129340398"
APP_SECRET = "flows-engine-app-secret-5e2d"
TENDAI = "263771234567"
_wamids = itertools.count(1)
NEXT_YEAR = date.today().year + 1


def outbound(contact_wa: str = TENDAI) -> list[Message]:
    return list(
        Message.objects.filter(
            contact__whatsapp_id=contact_wa, direction=Message.Direction.OUTBOUND
        ).order_by("created_at", "id")
    )


def describe(message: Message) -> str:
    """How the traveller sees a message: its text, and the options as [A | B]."""
    payload = message.payload
    if payload.get("type") == "text":
        return payload["text"]["body"]
    interactive = payload.get("interactive", {})
    body = interactive.get("body", {}).get("text", "")
    kind = interactive.get("type")
    if kind == "button":
        titles = [b["reply"]["title"] for b in interactive["action"]["buttons"]]
        return f"{body}\n  [{' | '.join(titles)}]"
    if kind == "list":
        parts = []
        for section in interactive["action"]["sections"]:
            rows = ", ".join(r["title"] for r in section["rows"])
            parts.append(f"{section.get('title', '')}: {rows}" if section.get("title") else rows)
        return f"{body}\n  [{interactive['action']['button']} → {' / '.join(parts)}]"
    if kind == "flow":
        return f"{body}\n  [form: {interactive['action']['parameters']['flow_cta']}]"
    return json.dumps(payload)


def options(message: Message) -> dict[str, str]:
    """title → id of the buttons or list rows in an outbound message."""
    interactive = message.payload.get("interactive", {})
    action = interactive.get("action", {})
    found = {b["reply"]["title"]: b["reply"]["id"] for b in action.get("buttons", [])}
    for section in action.get("sections", []):
        found.update({r["title"]: r["id"] for r in section["rows"]})
    return found


def section_titles(message: Message) -> list[str]:
    return [s.get("title", "") for s in message.payload["interactive"]["action"]["sections"]]


class Phone:
    """Send as the traveller; each call returns the bot's new outbound messages."""

    def __init__(self, client, capture=None, wa_id: str = TENDAI, name: str = "Tendai Moyo"):
        self.client = client
        self.capture = capture  # django_capture_on_commit_callbacks, for non-transactional tests
        self.wa_id = wa_id
        self.name = name
        self.transcript: list[str] = []
        self._seen = 0

    def _post(self, message: dict[str, Any], shown: str) -> list[Message]:
        message = {
            "from": self.wa_id,
            "id": f"wamid.flowtest.{next(_wamids)}.{time.time_ns()}",
            "timestamp": str(int(time.time())),
            **message,
        }
        body = json.dumps(self.envelope(message)).encode()
        signature = compute_signature(APP_SECRET, body)
        context = self.capture(execute=True) if self.capture else nullcontext()
        with context:
            response = self.client.post(
                reverse("meta_integration:webhook"),
                data=body,
                content_type="application/json",
                HTTP_X_HUB_SIGNATURE_256=signature,
            )
        assert response.status_code == 200, response.content
        self.transcript.append(f"Traveller: {shown}")
        return self.new_messages()

    def envelope(self, message: dict[str, Any]) -> dict[str, Any]:
        return {
            "object": "whatsapp_business_account",
            "entry": [
                {
                    "id": WABA_ID,
                    "changes": [
                        {
                            "field": "messages",
                            "value": {
                                "messaging_product": "whatsapp",
                                "metadata": {
                                    "display_phone_number": "263771000000",
                                    "phone_number_id": PHONE_NUMBER_ID,
                                },
                                "contacts": [{"profile": {"name": self.name}, "wa_id": self.wa_id}],
                                "messages": [message],
                            },
                        }
                    ],
                }
            ],
        }

    def new_messages(self) -> list[Message]:
        messages = outbound(self.wa_id)
        fresh = messages[self._seen :]
        self._seen = len(messages)
        for message in fresh:
            self.transcript.append("Bot: " + describe(message).replace("\n", "\n     "))
        return fresh

    # --- what a traveller can do --------------------------------------------------------

    def says(self, text: str) -> list[Message]:
        return self._post({"type": "text", "text": {"body": text}}, text)

    def taps(self, title: str, on: Message | None = None) -> list[Message]:
        """Tap the button or list row titled ``title`` on ``on`` (default: the last message)."""
        on = on or outbound(self.wa_id)[-1]
        ids = options(on)
        assert title in ids, f"{title!r} not among {sorted(ids)}"
        kind = on.payload["interactive"]["type"]
        if kind == "button":
            reply = {"type": "button_reply", "button_reply": {"id": ids[title], "title": title}}
        else:
            reply = {"type": "list_reply", "list_reply": {"id": ids[title], "title": title}}
        return self._post({"type": "interactive", "interactive": reply}, f"(taps) {title}")

    def sends_image(self, caption: str = "") -> list[Message]:
        image = {"id": "1245089733561234", "mime_type": "image/jpeg", "sha256": "abc="}
        if caption:
            image["caption"] = caption
        return self._post({"type": "image", "image": image}, "(sends a photo)")

    def sends_location(self) -> list[Message]:
        location = {"latitude": -17.92, "longitude": 25.85, "name": "Victoria Falls"}
        return self._post({"type": "location", "location": location}, "(sends a location)")

    @property
    def contact(self) -> Contact:
        return Contact.objects.get(whatsapp_id=self.wa_id)


def texts(messages: list[Message]) -> str:
    return "\n---\n".join(describe(m) for m in messages)


def book_until_payment_choice(phone, *, children=0):
    """The happy path, answer by answer, to the payment option list."""
    menu = phone.says("Hi")
    assert len(menu) == 1 and "Welcome to Kalai Safaris" in describe(menu[0])
    tours = phone.taps("Book a tour")
    assert "Victoria Falls Tour" in options(tours[-1])
    assert "Closed Tour" not in options(tours[-1])  # only active tours
    assert "On which date" in describe(phone.taps("Victoria Falls Tour")[-1])
    assert "How many adults" in describe(phone.says(f"15 Dec {NEXT_YEAR}")[-1])
    assert "children" in describe(phone.says("2")[-1])
    reply = phone.says(str(children))
    assert "Traveller 1 of" in describe(reply[-1])
    travellers = [
        ("Tendai Moyo", "34", "Zimbabwean", "AB123456"),
        ("Jane Smith", "31", "British", "skip"),
    ]
    travellers += [("Little Moyo", "8", "Zimbabwean", "skip")] * children
    for name, age, nationality, id_number in travellers:
        assert "How old" in describe(phone.says(name)[-1])
        assert "nationality" in describe(phone.says(age)[-1])
        assert "passport or ID" in describe(phone.says(nationality)[-1])
        phone.says(id_number)
    summary = phone.says("tendai@example.com")
    return summary


def book_and_confirm(phone):
    """Book (two adults, USD 100.00) and confirm; returns the booking and the payment list."""
    from customer_data.models import Booking

    book_until_payment_choice(phone)
    choice = phone.taps("Confirm booking")[-1]
    return Booking.objects.get(contact__whatsapp_id=phone.wa_id), choice
