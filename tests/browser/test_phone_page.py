"""The WhatsApp emulator's browser phone, driven in Chromium against real emulators.

A tiny fake "bot" stands in for our backend: it answers the emulator's webhooks through the Graph
API (a text, reply buttons, a list, a flow message), serves the flow's encrypted data endpoint
(pywa's server-side helpers, as in tests/sandbox/test_whatsapp_flows_client.py), starts a Paynow
express payment on the Paynow emulator and says thank you when Paynow reports it paid. The page
plays the traveller: chat, tap, pick a row, fill the form, approve the EcoCash prompt with a PIN;
and pay by card: a CTA URL message opens the Paynow emulator's web checkout in a new tab, where the
traveller enters a test card and is sent back to the merchant's return URL.
"""

from __future__ import annotations

import json
import queue
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

import httpx
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from pywa.utils import default_flow_request_decryptor, default_flow_response_encryptor

from sandbox.paynow import PaynowEmulator
from sandbox.paynow.hashing import decode, encode, signed
from sandbox.whatsapp import WhatsAppEmulator
from sandbox.whatsapp.testing import ControlClient, ReceivedRequest, WebhookRecorder
from tests.helpers import serve_posts

APP_SECRET = "phone-page-app-secret"
ACCESS_TOKEN = "EAAG-phone-page-token"
PHONE_NUMBER_ID = "106540352242922"
WABA_ID = "102290129340398"
FLOW_ID = "1234567890123456"
USER = "263771234567"
USER_LOCAL = "0771234567"
USER_NAME = "Tendai Moyo"
BOOKING = "BK-7Q2P9K"
INTEGRATION_ID = "1201"
INTEGRATION_KEY = "3e9fed89-60e1-4ce5-ab6e-6b1eb2d4f977"
MERCHANT_EMAIL = "merchant@example.com"

PAYMENT_FLOW = {
    "version": "7.3",
    "data_api_version": "3.0",
    "routing_model": {"PAYMENT": []},
    "screens": [
        {
            "id": "PAYMENT",
            "title": "Pay with mobile money",
            "data": {
                "amount_display": {"type": "string", "__example__": "USD 100.00"},
                "tour_name": {"type": "string", "__example__": "Victoria Falls Guided Tour"},
                "booking_reference": {"type": "string", "__example__": BOOKING},
                "purposes": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "properties": {"id": {"type": "string"}, "title": {"type": "string"}},
                    },
                    "__example__": [{"id": "deposit", "title": "Deposit (50%)"}],
                },
                "phone": {"type": "string", "__example__": USER_LOCAL},
                "error_message": {"type": "string", "__example__": ""},
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
                    {"type": "TextBody", "text": "${data.tour_name}"},
                    {"type": "TextCaption", "text": "Booking ${data.booking_reference}"},
                    {
                        "type": "Dropdown",
                        "name": "purpose",
                        "label": "What are you paying?",
                        "required": True,
                        "data-source": "${data.purposes}",
                    },
                    {
                        "type": "RadioButtonsGroup",
                        "name": "payment_method",
                        "label": "Pay with",
                        "required": True,
                        "init-value": "ecocash",
                        "data-source": [
                            {"id": "ecocash", "title": "EcoCash"},
                            {"id": "onemoney", "title": "OneMoney"},
                        ],
                    },
                    {
                        "type": "TextInput",
                        "name": "phone",
                        "label": "Mobile money number",
                        "input-type": "phone",
                        "required": True,
                        "init-value": "${data.phone}",
                        "helper-text": "The number that pays, e.g. 0771234567",
                    },
                    {
                        "type": "Footer",
                        "label": "Pay",
                        "on-click-action": {
                            "name": "data_exchange",
                            "payload": {
                                "purpose": "${form.purpose}",
                                "payment_method": "${form.payment_method}",
                                "phone": "${form.phone}",
                            },
                        },
                    },
                ],
            },
        }
    ],
}
AMOUNTS = {"deposit": "100.00", "full": "200.00"}


# -- the fake bot ------------------------------------------------------------------------------
@dataclass
class FakeBot:
    """Answers webhooks (in order, off the webhook thread) by calling the emulator's Graph API."""

    graph: httpx.Client
    paynow: PaynowEmulator
    result_url: str = ""
    return_url: str = ""
    endpoint_url: str = ""
    private_key_pem: str = ""
    inbox: queue.Queue = field(default_factory=queue.Queue)
    errors: list[str] = field(default_factory=list)
    payments: dict[str, str] = field(default_factory=dict)  # paynowreference -> wa_id
    flow_requests: list[dict] = field(default_factory=list)
    files: list[tuple[str, str, bytes]] = field(default_factory=list)  # (type, filename, bytes)

    def start(self) -> None:
        threading.Thread(target=self._work, daemon=True).start()

    def _work(self) -> None:
        while True:
            job = self.inbox.get()
            if job is None:
                return
            try:
                job()
            except Exception as exc:  # surfaced by the test
                self.errors.append(repr(exc))

    # Graph API calls
    def send(self, wa_id: str, **message: Any) -> str:
        body = {"messaging_product": "whatsapp", "recipient_type": "individual", "to": wa_id}
        response = self.graph.post(f"/{PHONE_NUMBER_ID}/messages", json={**body, **message})
        assert response.status_code == 200, response.text
        return response.json()["messages"][0]["id"]

    def mark_read(self, wamid: str) -> None:
        self.graph.post(
            f"/{PHONE_NUMBER_ID}/messages",
            json={"messaging_product": "whatsapp", "status": "read", "message_id": wamid},
        )

    def buttons(self, wa_id: str) -> None:
        self.send(
            wa_id,
            type="interactive",
            interactive={
                "type": "button",
                "header": {"type": "text", "text": "Kalai Safaris"},
                "body": {"text": "What would you like to do?"},
                "footer": {"text": "Tap a button"},
                "action": {
                    "buttons": [
                        {"type": "reply", "reply": {"id": "book", "title": "Book a tour"}},
                        {"type": "reply", "reply": {"id": "mine", "title": "My bookings"}},
                    ]
                },
            },
        )

    def tours(self, wa_id: str) -> None:
        self.send(
            wa_id,
            type="interactive",
            interactive={
                "type": "list",
                "body": {"text": "Which tour would you like?"},
                "action": {
                    "button": "Tours",
                    "sections": [
                        {
                            "title": "Victoria Falls",
                            "rows": [
                                {
                                    "id": "vf-guided",
                                    "title": "Guided Tour",
                                    "description": "USD 100 per adult, 1 day",
                                },
                                {"id": "vf-sunset", "title": "Sunset Cruise"},
                            ],
                        },
                        {
                            "title": "Hwange",
                            "rows": [{"id": "hw-drive", "title": "Game drive"}],
                        },
                    ],
                },
            },
        )

    def card_link(self, wa_id: str) -> None:
        """A web checkout on Paynow, offered as a CTA URL button (Meta's cta_url shape)."""
        browser_url = self.start_web_checkout("100.00", notify=wa_id)
        self.send(
            wa_id,
            type="interactive",
            interactive={
                "type": "cta_url",
                "header": {"type": "text", "text": "Kalai Safaris"},
                "body": {"text": f"Pay the USD 100.00 deposit for {BOOKING} by card on Paynow."},
                "footer": {"text": "Secure payment by Paynow"},
                "action": {
                    "name": "cta_url",
                    "parameters": {"display_text": "Pay by card", "url": browser_url},
                },
            },
        )

    def flow(self, wa_id: str, token: str) -> None:
        self.send(
            wa_id,
            type="interactive",
            interactive={
                "type": "flow",
                "body": {"text": f"Booking {BOOKING}: 2 adults, USD 200.00. Pay to confirm."},
                "action": {
                    "name": "flow",
                    "parameters": {
                        "flow_message_version": "3",
                        "flow_id": FLOW_ID,
                        "flow_token": token,
                        "flow_cta": "Pay now",
                        "flow_action": "data_exchange",
                    },
                },
            },
        )

    # webhooks from the WhatsApp emulator
    def on_webhook(self, received: ReceivedRequest) -> tuple[int, bytes, str]:
        value = received.json()["entry"][0]["changes"][0]["value"]
        for message in value.get("messages", []):
            self.inbox.put(lambda message=message: self.answer(message))
        return 200, b"OK", "text/plain"

    def answer(self, message: dict) -> None:
        wa_id = message["from"]
        self.mark_read(message["id"])
        if message["type"] == "text":
            text = message["text"]["body"].lower()
            if text == "expired":
                self.flow(wa_id, token="expired")
                return
            if text == "card":
                self.card_link(wa_id)
                return
            self.send(wa_id, type="text", text={"body": "Welcome to *Kalai Safaris*, Zimbabwe!"})
            self.buttons(wa_id)
            return
        if message["type"] in ("image", "document"):
            # As a bot fetches a file: GET /{media-id}, then the URL with the token.
            media = message[message["type"]]
            info = self.graph.get(f"/{media['id']}").json()
            content = self.graph.get(info["url"]).content
            self.files.append((message["type"], media.get("filename", ""), content))
            self.send(wa_id, type="text", text={"body": f"Thanks, your {message['type']} is here."})
            return
        interactive = message["interactive"]
        kind = interactive["type"]
        if kind == "button_reply" and interactive["button_reply"]["id"] == "book":
            self.tours(wa_id)
        elif kind == "list_reply":
            self.flow(wa_id, token=f"pay-{BOOKING}")
        elif kind == "nfm_reply":
            self.send(
                wa_id,
                type="text",
                text={"body": "Approve the EcoCash prompt on your phone to pay."},
            )

    # the flow's data endpoint (called encrypted by the emulator's Flows client)
    def data_exchange(self, request: dict) -> tuple[int, dict]:
        self.flow_requests.append(request)
        if request.get("flow_token") == "expired":
            return 427, {"error_msg": "This payment link has expired. Ask for a new one."}
        base = {
            "amount_display": "USD 200.00",
            "tour_name": "Victoria Falls Guided Tour, 2 adults",
            "booking_reference": BOOKING,
            "purposes": [
                {"id": "deposit", "title": "Deposit (50%): USD 100.00"},
                {"id": "full", "title": "Full amount: USD 200.00"},
            ],
            "phone": "",
            "has_error": False,
            "error_message": "",
        }
        if request.get("action") == "INIT":
            return 200, {"screen": "PAYMENT", "data": base}
        data = request.get("data") or {}
        phone = str(data.get("phone", "")).replace(" ", "")
        if phone == "0700000000":
            return 500, {"error": "database is down"}
        if not phone.startswith(("077", "078", "26377", "26378")):
            message = f"{phone} is not an EcoCash number. Use an 077 or 078 number."
            return 200, {
                "screen": "PAYMENT",
                "data": {**base, "phone": phone, "has_error": True, "error_message": message},
            }
        reference = self.start_payment(
            phone, AMOUNTS[data["purpose"]], data["payment_method"], notify=USER
        )
        params = {"flow_token": request["flow_token"], "paynowreference": reference}
        return 200, {
            "screen": "SUCCESS",
            "data": {"extension_message_response": {"params": params}},
        }

    def start_payment(
        self, phone: str, amount: str, method: str, *, notify: str | None = None
    ) -> str:
        """An express payment on the Paynow emulator; `notify` (a wa_id) hears how it ends."""
        fields = [
            ("id", INTEGRATION_ID),
            ("reference", BOOKING),
            ("amount", amount),
            ("additionalinfo", "Victoria Falls Guided Tour deposit"),
            ("returnurl", "http://127.0.0.1/return"),
            ("resulturl", self.result_url),
            ("authemail", MERCHANT_EMAIL),
            ("phone", phone),
            ("method", method),
            ("status", "Message"),
        ]
        response = httpx.post(
            self.paynow.remote_url,
            content=encode(signed(fields, INTEGRATION_KEY)),
            headers={"Content-Type": "application/x-www-form-urlencoded"},
            timeout=5,
        )
        reply = dict(decode(response.content))
        assert reply["status"] == "Ok", reply
        if notify:
            self.payments[reply["paynowreference"]] = notify
        return reply["paynowreference"]

    def start_web_checkout(self, amount: str, *, notify: str) -> str:
        """A web checkout (initiatetransaction) on the Paynow emulator; its browserurl."""
        fields = [
            ("id", INTEGRATION_ID),
            ("reference", BOOKING),
            ("amount", amount),
            ("additionalinfo", "Victoria Falls Guided Tour deposit"),
            ("returnurl", f"{self.return_url}?reference={BOOKING}"),
            ("resulturl", self.result_url),
            ("authemail", ""),
            ("status", "Message"),
        ]
        response = httpx.post(
            self.paynow.initiate_url,
            content=encode(signed(fields, INTEGRATION_KEY)),
            headers={"Content-Type": "application/x-www-form-urlencoded"},
            timeout=5,
        )
        reply = dict(decode(response.content))
        assert reply["status"] == "Ok", reply
        self.payments[reply["paynowreference"]] = notify
        return reply["browserurl"]

    # Paynow's status update (the IPN) on the result URL
    def on_paynow_result(self, received: ReceivedRequest) -> tuple[int, bytes, str]:
        update = dict(parse_qsl(received.body.decode()))
        wa_id = self.payments.get(update.get("paynowreference", ""))
        if wa_id and update.get("status") == "Paid":
            text = f"Payment received: USD {update['amount']} for {BOOKING}. See you at the Falls!"
            self.inbox.put(lambda: self.send(wa_id, type="text", text={"body": text}))
        elif wa_id and update.get("status") == "Cancelled":
            text = f"The payment for {BOOKING} was declined."
            self.inbox.put(lambda: self.send(wa_id, type="text", text={"body": text}))
        return 200, b"OK", "text/plain"


def _serve_data_endpoint(bot: FakeBot) -> ThreadingHTTPServer:
    def handle(raw: bytes, headers: object) -> tuple[int, bytes]:
        body = json.loads(raw)
        request, aes_key, iv = default_flow_request_decryptor(
            body["encrypted_flow_data"],
            body["encrypted_aes_key"],
            body["initial_vector"],
            bot.private_key_pem,
        )
        status, reply = bot.data_exchange(request)
        return status, default_flow_response_encryptor(reply, aes_key, iv).encode()

    return serve_posts(handle)


@dataclass
class World:
    wa: WhatsAppEmulator
    paynow: PaynowEmulator
    bot: FakeBot
    control: ControlClient
    returns: WebhookRecorder  # the merchant's return page (GETs from the payer's browser)

    @property
    def phone_url(self) -> str:
        return self.wa.base_url + "/"


@pytest.fixture
def world() -> Iterator[World]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    public_pem = (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    webhooks, ipn, returns = WebhookRecorder(), WebhookRecorder(), WebhookRecorder()
    returns.handler = lambda received: (
        200,
        b"<!doctype html><title>Kalai Safaris</title><h1>Back at Kalai Safaris</h1>",
        "text/html; charset=utf-8",
    )
    with (
        PaynowEmulator(
            integration_id=INTEGRATION_ID,
            integration_key=INTEGRATION_KEY,
            auth_email=MERCHANT_EMAIL,
            time_scale=0.01,
        ) as paynow,
        WhatsAppEmulator(
            app_secret=APP_SECRET,
            access_token=ACCESS_TOKEN,
            phone_number_id=PHONE_NUMBER_ID,
            waba_id=WABA_ID,
            webhook_url=webhooks.url,
            port=0,
            status_delay=0.1,
            retry_base_delay=0.05,
            paynow_url=paynow.base_url,
        ) as wa,
        httpx.Client(
            base_url=wa.graph_url, headers={"Authorization": f"Bearer {ACCESS_TOKEN}"}, timeout=10
        ) as graph,
        ControlClient(wa.base_url, timeout=15) as control,
    ):
        bot = FakeBot(
            graph=graph,
            paynow=paynow,
            result_url=ipn.url,
            return_url=returns.url.replace("/webhook", "/return"),
            private_key_pem=private_pem,
        )
        endpoint = _serve_data_endpoint(bot)
        host, port = endpoint.server_address[:2]
        bot.endpoint_url = f"http://{host}:{port}/flows/endpoint"
        control.set_public_key(public_pem)
        control.put_flow(
            flow_id=FLOW_ID,
            name="payment_whatsapp_flow",
            flow_json=PAYMENT_FLOW,
            endpoint_uri=bot.endpoint_url,
        )
        webhooks.handler = bot.on_webhook
        ipn.handler = bot.on_paynow_result
        bot.start()
        try:
            yield World(wa=wa, paynow=paynow, bot=bot, control=control, returns=returns)
        finally:
            bot.inbox.put(None)
            endpoint.shutdown()
            endpoint.server_close()
            webhooks.close()
            ipn.close()
            returns.close()
    assert not bot.errors, bot.errors


# -- routes the page relies on (no browser needed) ---------------------------------------------
def test_page_and_assets_are_served(world: World) -> None:
    index = httpx.get(world.phone_url)
    assert index.status_code == 200
    assert index.headers["content-type"].startswith("text/html")
    assert "/phone/phone.js" in index.text and "/phone/phone.css" in index.text
    for name, kind in (("phone.js", "text/javascript"), ("phone.css", "text/css")):
        asset = httpx.get(f"{world.wa.base_url}/phone/{name}")
        assert asset.status_code == 200 and asset.headers["content-type"].startswith(kind)
    assert httpx.get(f"{world.wa.base_url}/phone/secrets.py").status_code == 404
    assert httpx.get(f"{world.wa.base_url}/phone/../server.py").status_code in (400, 404)
    config = world.control._get("/phone/config")
    assert config["paynow"] is True and config["business_name"] == "Kalai Safaris"


def test_paynow_prompts_are_proxied_for_both_phone_forms(world: World) -> None:
    reference = world.bot.start_payment(USER_LOCAL, "100.00", "ecocash")
    for phone in (USER, USER_LOCAL, "+" + USER):
        prompts = world.control._get("/paynow/prompts", phone=phone)["prompts"]
        assert [p["paynowreference"] for p in prompts] == [reference]
        assert prompts[0]["amount"] == "100.00" and prompts[0]["method"] == "ecocash"
    assert world.control._get("/paynow/prompts", phone="263772999999")["prompts"] == []
    # Paynow's test numbers settle on their own: no prompt on the phone.
    world.bot.start_payment("0772222222", "5.00", "ecocash")
    assert world.control._get("/paynow/prompts", phone="263772222222")["prompts"] == []

    bad_pin = world.control.http.post(f"/paynow/prompts/{reference}/approve", json={"pin": "12"})
    assert bad_pin.status_code == 400 and bad_pin.json()["kind"] == "bad_pin"
    approved = world.control._post(f"/paynow/prompts/{reference}/approve", {"pin": "1234"})
    assert approved["status"] == "Paid"
    assert world.control._get("/paynow/prompts", phone=USER)["prompts"] == []
    again = world.control.http.post(f"/paynow/prompts/{reference}/decline", json={})
    assert again.status_code == 409


def test_prompts_without_paynow_configured(world: World) -> None:
    world.control._post("/phone/config", {"paynow_url": None})
    assert world.control._get("/paynow/prompts", phone=USER) == {
        "prompts": [],
        "configured": False,
    }
    world.control._post("/phone/config", {"paynow_url": "http://127.0.0.1:9"})
    unreachable = world.control.http.get("/paynow/prompts", params={"phone": USER})
    assert unreachable.status_code == 502
    assert unreachable.json()["kind"] == "paynow_unreachable"


# -- the page in Chromium ----------------------------------------------------------------------
def _open_phone(page: Any, world: World) -> None:
    from playwright.sync_api import expect

    page.goto(world.phone_url)
    expect(page.get_by_role("heading", name="WhatsApp emulator")).to_be_visible()
    page.get_by_label("Phone number (wa_id)").fill("26377 abc")
    page.get_by_role("button", name="Open chat").click()
    expect(page.locator("#setup-error")).to_contain_text("6 to 15 digits")
    page.get_by_label("Phone number (wa_id)").fill(USER)
    page.get_by_label("Your name").fill(USER_NAME)
    page.get_by_role("button", name="Open chat").click()
    expect(page.locator("#business-name")).to_have_text("Kalai Safaris")
    expect(page.locator("#chat-sub")).to_contain_text(USER_NAME)


def _shot(page: Any, artifacts_dir: Path, name: str) -> Path:
    path = artifacts_dir / name
    page.screenshot(path=str(path))
    return path


@pytest.mark.browser
def test_traveller_chats_fills_the_payment_form_and_approves_ecocash(
    page: Any, world: World, artifacts_dir: Path
) -> None:
    from playwright.sync_api import expect

    _open_phone(page, world)
    messages = page.locator("#messages")

    # Text in, text and reply buttons out; the user's bubble gets blue ticks once the bot read it.
    page.get_by_role("textbox", name="Message").fill("Hi")
    page.get_by_role("button", name="Send").click()
    mine = messages.locator(".msg.from-me").first
    expect(mine).to_contain_text("Hi")
    expect(messages.locator(".from-them .bubble-text strong")).to_have_text("Kalai Safaris")
    expect(mine.locator(".ticks")).to_have_attribute("aria-label", "Read")
    expect(mine.locator(".ticks.read")).to_have_text("✓✓")
    welcome = messages.locator(".msg.from-them").first
    expect(welcome.locator(".ticks")).to_have_attribute("aria-label", "Read", timeout=5000)
    buttons = page.get_by_role("group", name="Reply buttons")
    expect(buttons.get_by_role("button")).to_have_text(["Book a tour", "My bookings"])
    assert world.control._get("/users")["users"][0]["name"] == USER_NAME

    # Reply button -> list message -> sheet -> row.
    buttons.get_by_role("button", name="Book a tour").click()
    expect(messages.locator(".msg.from-me").nth(1)).to_contain_text("Book a tour")
    page.get_by_role("button", name="Tours").click()
    sheet = page.get_by_role("dialog", name="Tours")
    expect(sheet).to_be_visible()
    expect(sheet.locator(".sheet-section-title")).to_have_text(["Victoria Falls", "Hwange"])
    expect(sheet).to_contain_text("USD 100 per adult, 1 day")
    _shot(page, artifacts_dir, "phone-list.png")
    sheet.get_by_role("button", name="Guided Tour").click()
    expect(sheet).to_be_hidden()
    expect(messages.locator(".msg.from-me").nth(2)).to_contain_text("Guided Tour")

    # Flow message -> the form, rendered from the screen the data endpoint answered (INIT).
    page.get_by_role("button", name="Pay now").click()
    form = page.get_by_role("dialog", name="Pay with mobile money")
    expect(form).to_be_visible()
    expect(form.get_by_role("heading", name="USD 200.00")).to_be_visible()
    expect(form).to_contain_text("Booking BK-7Q2P9K")
    expect(form.get_by_label("EcoCash")).to_be_checked()
    expect(form.get_by_label("What are you paying?")).to_contain_text("Deposit (50%): USD 100.00")

    # The phone checks the form: required fields answer 422, shown under the field.
    form.get_by_role("button", name="Pay").click()
    expect(form.locator(".field-error")).to_have_count(2)
    expect(form.get_by_label("Mobile money number *")).to_have_attribute("aria-invalid", "true")

    # The endpoint fails: the phone stays on the screen and says so in a banner.
    form.get_by_label("What are you paying?").select_option("deposit")
    form.get_by_label("Mobile money number *").fill("0700000000")
    form.get_by_role("button", name="Pay").click()
    banner = page.locator("#flow-banner")
    expect(banner).to_have_text("the endpoint answered HTTP 500")

    # The endpoint refuses a non-EcoCash number: the screen comes back with its error_message
    # (shown by the screen's own `visible: ${data.has_error}` TextBody, styled as a banner).
    form.get_by_label("Mobile money number *").fill("0712345678")
    form.get_by_role("button", name="Pay").click()
    expect(form.locator(".screen-error")).to_contain_text("0712345678 is not an EcoCash number")
    expect(banner).to_be_hidden()
    expect(form.get_by_label("Mobile money number *")).to_have_value("0712345678")
    _shot(page, artifacts_dir, "phone-flow.png")

    form.get_by_label("What are you paying?").select_option("deposit")
    form.get_by_label("Mobile money number *").fill(USER_LOCAL)
    form.get_by_role("button", name="Pay").click()
    expect(form).to_be_hidden()
    actions = [r.get("action") for r in world.bot.flow_requests]
    assert actions == ["INIT", "data_exchange", "data_exchange", "data_exchange"]
    expect(messages.locator(".msg.from-me").last).to_contain_text("Form submitted")
    expect(messages).to_contain_text("Approve the EcoCash prompt on your phone to pay.")

    # Paynow's prompt to 0771234567 shows on the phone of 263771234567.
    prompt = page.get_by_role("alertdialog")
    expect(prompt).to_be_visible()
    expect(prompt.locator("#prompt-text")).to_have_text(
        "EcoCash: Pay USD 100.00 to Kalai Safaris? Enter PIN"
    )
    expect(prompt).to_contain_text(BOOKING)
    prompt.get_by_label("Enter PIN").fill("12")
    prompt.get_by_role("button", name="Approve").click()
    expect(prompt.locator("#prompt-error")).to_have_text("Enter your 4-digit PIN.")
    prompt.get_by_label("Enter PIN").fill("4321")
    _shot(page, artifacts_dir, "phone-prompt.png")
    prompt.get_by_role("button", name="Approve").click()
    expect(prompt).to_be_hidden()
    expect(page.locator("#toast")).to_have_text("Payment approved")

    # Paynow tells the bot (result URL); the bot thanks the traveller.
    expect(messages).to_contain_text("Payment received: USD 100.00 for BK-7Q2P9K")
    [txn] = world.paynow.state.list_transactions(phone=USER_LOCAL)
    assert txn["status"] == "Paid" and txn["history"][-1]["source"] == "control"
    expect(messages.locator(".msg.from-them").last.locator(".ticks")).to_have_attribute(
        "aria-label", "Read", timeout=5000
    )
    expect(page.locator("#toast")).to_be_hidden(timeout=6000)
    _shot(page, artifacts_dir, "phone-chat.png")
    assert page.js_errors == []


@pytest.mark.browser
def test_expired_flow_and_declined_prompt(page: Any, world: World, artifacts_dir: Path) -> None:
    from playwright.sync_api import expect

    _open_phone(page, world)
    messages = page.locator("#messages")
    page.get_by_role("textbox", name="Message").fill("expired")
    page.keyboard.press("Enter")
    page.get_by_role("button", name="Pay now").click()
    # The endpoint answers INIT with 427: the form cannot start, the phone says why.
    dialog = page.get_by_role("dialog")
    expect(dialog.get_by_role("alert").last).to_contain_text("This payment link has expired.")
    expect(messages.locator(".system-note.error")).to_contain_text("This payment link has expired")
    _shot(page, artifacts_dir, "phone-flow-expired.png")
    dialog.get_by_role("button", name="Close", exact=True).click()
    expect(dialog).to_be_hidden()

    # A prompt the traveller declines: Paynow cancels it and the bot hears of it.
    world.bot.start_payment(USER_LOCAL, "100.00", "ecocash", notify=USER)
    prompt = page.get_by_role("alertdialog")
    expect(prompt).to_be_visible(timeout=5000)
    prompt.get_by_role("button", name="Decline").click()
    expect(prompt).to_be_hidden()
    expect(messages).to_contain_text(f"The payment for {BOOKING} was declined.")
    [txn] = world.paynow.state.list_transactions(phone=USER_LOCAL)
    assert txn["status"] == "Cancelled"

    # Someone new on the same page: the chat starts empty, the number is remembered per page.
    page.get_by_role("button", name="Change phone number").click()
    expect(page.locator(f'#known-users [data-wa-id="{USER}"]')).to_contain_text(USER_NAME)
    expect(page.get_by_label("Phone number (wa_id)")).to_have_value(USER)
    assert page.js_errors == []


@pytest.mark.browser
def test_cta_url_opens_paynows_card_page_and_a_test_card_returns_to_the_merchant(
    page: Any, world: World, artifacts_dir: Path
) -> None:
    from playwright.sync_api import expect

    _open_phone(page, world)
    messages = page.locator("#messages")
    page.get_by_role("textbox", name="Message").fill("card")
    page.get_by_role("button", name="Send").click()

    # WhatsApp's CTA URL message: header, body, footer, then the labelled button with a link
    # icon; the (long, opaque) URL itself is not shown.
    bubble = messages.locator('.msg.from-them[data-type="cta_url"]')
    expect(bubble).to_contain_text(f"Pay the USD 100.00 deposit for {BOOKING} by card on Paynow.")
    expect(bubble.locator(".bubble-header")).to_have_text("Kalai Safaris")
    expect(bubble.locator(".bubble-footer")).to_have_text("Secure payment by Paynow")
    link = bubble.locator("a.cta-url-button")
    expect(link).to_have_text("Pay by card")
    expect(link.locator("svg.link-icon")).to_have_count(1)
    expect(link).to_have_attribute("target", "_blank")
    [txn] = world.paynow.state.list_transactions(reference=BOOKING)
    expect(link).to_have_attribute("href", txn["browserurl"])
    assert "ConfirmPayment" not in bubble.locator(".bubble-text").inner_text()
    _shot(page, artifacts_dir, "phone-cta-url.png")

    # A tap opens Paynow's checkout in a new tab: choose the card, type it, pay.
    with page.expect_popup() as opened:
        link.click()
    paynow_tab = opened.value
    paynow_tab.set_default_timeout(10_000)
    expect(paynow_tab.get_by_role("heading", name="How would you like to pay?")).to_be_visible()
    expect(paynow_tab.locator("#amount")).to_have_text("100.00")
    paynow_tab.get_by_role("link", name="Visa / Mastercard").click()
    paynow_tab.get_by_label("Name on card").fill(USER_NAME)
    paynow_tab.get_by_label("Card number").fill("4111 1111 1111 1112")  # one digit wrong
    paynow_tab.get_by_label("Expiry date (MM/YY)").fill("12/34")
    paynow_tab.get_by_label("Security code (CVV)").fill("123")
    paynow_tab.get_by_role("button", name="Pay 100.00").click()
    expect(paynow_tab.get_by_role("alert")).to_contain_text("This card number is not valid")
    assert world.paynow.state.get_transaction(txn["paynowreference"])["status"] == "Created"
    paynow_tab.get_by_label("Card number").fill("4111 1111 1111 1111")
    paynow_tab.get_by_label("Security code (CVV)").fill("123")
    _shot(paynow_tab, artifacts_dir, "paynow-card-page.png")
    paynow_tab.get_by_role("button", name="Pay 100.00").click()

    # Paynow sends the browser to the merchant's return URL and the status update to the bot.
    expect(paynow_tab.get_by_role("heading", name="Back at Kalai Safaris")).to_be_visible()
    assert paynow_tab.url == f"{world.bot.return_url}?reference={BOOKING}"
    _shot(paynow_tab, artifacts_dir, "paynow-returned.png")
    paynow_tab.close()
    expect(messages).to_contain_text(f"Payment received: USD 100.00 for {BOOKING}")
    paid = world.paynow.state.get_transaction(txn["paynowreference"])
    assert paid["status"] == "Paid" and paid["card"] == {"brand": "Visa", "last4": "1111"}
    assert paid["history"][-1]["source"] == "browser"
    _shot(page, artifacts_dir, "phone-card-paid.png")
    assert page.js_errors == []


@pytest.mark.browser
def test_the_traveller_sends_a_photo_and_a_pdf(
    page: Any, world: World, artifacts_dir: Path, tmp_path: Path
) -> None:
    from playwright.sync_api import expect

    from sandbox.whatsapp.media import SAMPLE_PDF, SAMPLE_PNG

    (tmp_path / "falls.png").write_bytes(SAMPLE_PNG)
    (tmp_path / "deposit-slip.pdf").write_bytes(SAMPLE_PDF)
    _open_phone(page, world)
    messages = page.locator("#messages")
    attach = page.get_by_label("Photo or PDF to attach")

    attach.set_input_files(str(tmp_path / "falls.png"))
    photo = messages.locator(".msg.from-me").last
    expect(photo.get_by_role("img", name="Photo you sent")).to_be_visible()
    expect(messages.locator(".msg.from-them").last).to_contain_text("your image is here")

    attach.set_input_files(str(tmp_path / "deposit-slip.pdf"))
    expect(messages.locator(".msg.from-me").last.locator(".document-name")).to_have_text(
        "deposit-slip.pdf"
    )
    expect(messages.locator(".msg.from-them").last).to_contain_text("your document is here")
    _shot(page, artifacts_dir, "phone-media.png")
    # The bot got the very bytes through the Graph API, as from Meta.
    assert world.bot.files == [
        ("image", "", SAMPLE_PNG),
        ("document", "deposit-slip.pdf", SAMPLE_PDF),
    ]
    assert page.js_errors == [], page.js_errors


@pytest.mark.browser
def test_a_username_user_chats_with_the_number_hidden(page: Any, world: World) -> None:
    from playwright.sync_api import expect

    page.goto(world.phone_url)
    page.get_by_label("my username (number hidden)").check()
    expect(page.get_by_label("Phone number (wa_id)")).to_be_hidden()
    page.get_by_label("Username", exact=True).fill("no")
    page.get_by_role("button", name="Open chat").click()
    expect(page.locator("#setup-error")).to_contain_text("3 to 30 letters")
    page.get_by_label("Username", exact=True).fill("tendai.moyo")
    page.get_by_label("Your name").fill(USER_NAME)
    page.get_by_role("button", name="Open chat").click()
    expect(page.locator("#chat-sub")).to_contain_text("@tendai.moyo (number hidden)")
    [user] = world.control._get("/users")["users"]
    assert user["wa_id"] is None and user["username"] == "tendai.moyo"
    assert page.url.endswith("username=tendai.moyo&name=Tendai+Moyo")
    assert page.js_errors == [], page.js_errors
