"""End to end over HTTP with both emulators: the WhatsApp emulator plays the traveller's phone
(opens the form, fills it, presses Pay: encrypted requests to our live endpoint), the Paynow
emulator takes the EcoCash payment and calls our IPN; the nfm_reply comes back as a webhook."""

from __future__ import annotations

import threading
from decimal import Decimal
from io import StringIO

import pytest
from django.db import connections
from django.urls import reverse

from conversations.models import Message
from customer_data.models import Booking, Payment, PaymentStatus
from flows.models import FlowFormSession, WhatsAppFlow
from flows.payment_form import handle_form_completion, send_payment_form
from sandbox.whatsapp.testing import ControlClient
from tests.flows import support as s
from tests.helpers import register_payment_flow_via_graph, wait_until, whatsapp_emulator_for

pytestmark = pytest.mark.django_db(transaction=True)


def flow_reply_handler(message) -> None:
    """The INBOUND_MESSAGE_HANDLER for these tests: what the flow engine does with a flow reply."""
    if message.message_type == "flow_reply":
        handle_form_completion(message.contact, message)


@pytest.fixture
def whatsapp():
    with whatsapp_emulator_for(s, retry_base_delay=0.1) as emulator:
        yield emulator


@pytest.fixture
def wired(
    live_server, settings, whatsapp, flow_key, meta_config, paynow_config, eager_tasks, contact
):
    """Our live site between the two emulators, the flow registered through the Flows API;
    the traveller has written to us (the 24-hour window is open)."""
    settings.SITE_URL = live_server.url
    settings.INBOUND_MESSAGE_HANDLER = f"{__name__}.flow_reply_handler"
    meta_config.graph_base_url = whatsapp.base_url
    meta_config.save()
    whatsapp.webhook_url = live_server.url + reverse("meta_integration:webhook")
    control = ControlClient(whatsapp.base_url)
    control.set_public_key(flow_key.decode())
    register_payment_flow_via_graph(live_server.url, stdout=StringIO())
    assert control.send_text(s.WA_ID, "Hi", name="Tendai")["accepted"] is True
    yield control
    control.close()


# Two emulators call the live server at once; SQLite's shared test connection cannot take it.
@pytest.mark.postgres
def test_booking_to_paid_through_the_payment_form(wired, contact, booking, paynow_emulator):
    control = wired
    record = WhatsAppFlow.objects.get(name="payment_whatsapp_flow")
    assert record.status == "PUBLISHED" and record.flow_id
    assert control.ping_flow(record.flow_id)["ok"] is True

    assert send_payment_form(
        contact=contact, booking=booking, amount=Decimal("100.00"), purpose="deposit"
    )
    [form] = control.wait_for_messages(1, to=s.WA_ID)
    assert form["interactive_type"] == "flow"

    opened = control.open_flow(s.WA_ID, form["wamid"])
    assert opened["status"] == "open" and opened["screen"] == "PAYMENT"
    assert opened["data"]["amount_display"] == "USD 100.00"
    assert opened["data"]["booking_reference"] == booking.booking_reference

    # A wrong network first: the same screen comes back with the error banner.
    corrected = control.submit(
        opened["session"],
        {"payment_method": "onemoney", "phone": "0771111111", "email": "tendai@example.com"},
    )
    assert corrected["status"] == "open" and corrected["screen"] == "PAYMENT"
    assert "OneMoney" in corrected["error_message"]

    done = control.submit(
        opened["session"],
        {"payment_method": "ecocash", "phone": "0771111111", "email": "tendai@example.com"},
    )
    assert done["status"] == "completed", done
    assert all(e["elapsed"] < 1.0 for e in done["exchanges"]), done["exchanges"]

    # Paynow's test number pays after 5 s (x0.01): the IPN reaches our live site.
    payment = Payment.objects.get(booking=booking)
    assert payment.amount == Decimal("100.00") and payment.payment_method == "paynow_ecocash"
    wait_until(lambda: Payment.objects.get(pk=payment.pk).status == PaymentStatus.SUCCESSFUL)
    paid = Booking.objects.get(pk=booking.pk)
    assert paid.amount_paid == Decimal("100.00") and paid.payment_status == "deposit_paid"

    # The nfm_reply came back as a webhook and the chat goes on: the instructions, then
    # (after the IPN) the receipt, in either order.
    wait_until(lambda: FlowFormSession.objects.get().status == "completed")
    inbound = Message.objects.get(direction="in", message_type="flow_reply")
    assert inbound.contact == contact
    texts = [m["text"] for m in control.wait_for_messages(3, to=s.WA_ID)]
    instructions = "EcoCash payment request for USD 100.00 to 077…111. Approve it on your phone"
    already_paid = "We've received USD 100.00"  # when the IPN overtook the nfm_reply
    assert any(instructions in t or already_paid in t for t in texts), texts
    assert any("USD 100.00" in t and "received" in t.lower() for t in texts[1:]), texts
    # Let Paynow finish delivering its status update before the database is flushed.
    wait_until(lambda: _paynow_delivered(paynow_emulator))


def _paynow_delivered(emulator) -> bool:
    import httpx

    transactions = httpx.get(f"{emulator.base_url}/_control/transactions").json()["transactions"]
    return all(
        t["deliveries"] and t["deliveries"][-1]["outcome"] == "delivered" for t in transactions
    )


def test_reopening_a_completed_form_is_refused(wired, contact, booking):
    control = wired
    send_payment_form(contact=contact, booking=booking, amount=Decimal("50.00"), purpose="deposit")
    [form] = control.wait_for_messages(1, to=s.WA_ID)
    session = control.open_flow(s.WA_ID, form["wamid"])["session"]
    control.submit(
        session, {"payment_method": "ecocash", "phone": "0781234567", "email": "t@example.com"}
    )
    wait_until(lambda: FlowFormSession.objects.get().status == "completed")
    again = control.open_flow(s.WA_ID, form["wamid"])
    assert again["status"] == "error" and again["error"]["kind"] == "flow_token_invalid"
    assert "already used" in again["error"]["message"]
    control.wait_for_messages(2, to=s.WA_ID)  # the form, then the instructions


@pytest.mark.postgres
def test_concurrent_double_submit_starts_one_payment(
    live_server, flow_key, meta_config, paynow_config, make_form, booking
):
    """Two identical presses at once (Meta's retry racing the first) make one payment: the
    first claims the form, the others are told at once that it is being started (no waiting
    in the request), and pressing again afterwards answers the same payment."""
    import httpx

    def post(body: bytes, headers: dict):
        response = httpx.post(
            live_server.url + s.ENDPOINT_PATH, content=body, headers=headers, timeout=20
        )
        return response.status_code, response.content, response.headers.get("content-type", "")

    client = s.MetaFlowsClient(post, flow_key)
    _, token = make_form()
    answers: list = []
    barrier = threading.Barrier(4)

    def press():
        barrier.wait()
        answers.append(client.submit(token, phone="0781234567"))
        connections.close_all()

    threads = [threading.Thread(target=press) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    screens = sorted(a.screen for a in answers)
    assert screens.count("SUCCESS") >= 1 and set(screens) <= {"SUCCESS", "PAYMENT"}, screens
    for waiting in (a for a in answers if a.screen == "PAYMENT"):
        assert "being started" in waiting.data["error_message"]
    references = {
        a.data["extension_message_response"]["params"]["payment_reference"]
        for a in answers
        if a.screen == "SUCCESS"
    }
    assert len(references) == 1
    assert Payment.objects.filter(booking=booking).count() == 1
    again = client.submit(token, phone="0781234567")
    assert again.screen == "SUCCESS"
    assert again.data["extension_message_response"]["params"]["payment_reference"] in references
