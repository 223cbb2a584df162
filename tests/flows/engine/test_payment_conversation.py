"""Paying from the conversation: Paynow in the chat (no form), the form, bank transfer proofs,
and the receipt the traveller gets when the payment ends."""

from __future__ import annotations

from decimal import Decimal

import pytest

from customer_data.models import Booking, Payment, PaymentEvent, PaymentStatus
from customer_data.services import mark_payment_received, reject_payment
from flows.models import ContactFlowState, WhatsAppFlow
from tests.flows.engine import chat
from tests.flows.engine.chat import book_and_confirm, describe, options, outbound, texts
from tests.helpers import wait_until


def step_of(phone) -> str:
    return ContactFlowState.objects.get(contact__whatsapp_id=phone.wa_id).current_step


def receipts(phone) -> list:
    return [m for m in outbound(phone.wa_id) if m.flow_step.startswith("payment_receipt")]


@pytest.mark.django_db(transaction=True)
def test_paynow_in_the_chat_when_the_form_is_missing_then_the_receipt(
    client, whatsapp_number, flows, tours, paynow_config, live_server, settings, caplog
):
    """No published payment_whatsapp_flow: method, phone and e-mail in the chat; the
    emulator's test number 0771111111 pays; the IPN reaches our live server; receipt."""
    settings.SITE_URL = live_server.url
    phone = chat.Phone(client)  # transactional: on-commit work runs for real
    booking, _ = book_and_confirm(phone)
    assert not WhatsAppFlow.objects.exists()

    with caplog.at_level("WARNING"):
        method = phone.taps("Pay Full via Paynow")
    assert "payment_whatsapp_flow not found" in [r.getMessage() for r in caplog.records]
    assert "You're paying USD 100.00 for " + booking.booking_reference in describe(method[-1])
    assert options(method[-1]).keys() == {"EcoCash", "OneMoney", "InnBucks"}

    phone.taps("EcoCash")
    assert "mobile number" in describe(phone.says("my number")[-1])  # invalid: re-asked
    assert step_of(phone) == "ask_paynow_phone"
    phone.says("0712345678")  # a NetOne number: Paynow's validation refuses it for EcoCash
    refused = phone.says("tendai@example.com")
    assert "071… is not an EcoCash number" in describe(refused[0])
    assert "EcoCash numbers start with 077 or 078" in describe(refused[0])
    assert "Which mobile number" in describe(refused[1])  # the field named by .field, re-asked
    assert step_of(phone) == "ask_paynow_phone"
    assert not Payment.objects.exists()

    started = phone.says("0771111111")  # the e-mail is kept: straight on to Paynow
    said = texts(started)
    assert "We sent an EcoCash payment request for USD 100.00 to 077…111" in said
    assert (
        f"Approve it on your phone with your PIN to pay for booking {booking.booking_reference}"
        in said
    )
    assert "receipt" in said
    payment = Payment.objects.get()
    assert (payment.payment_method, payment.phone_number, payment.amount) == (
        "paynow_ecocash",
        "0771111111",
        Decimal("100.00"),
    )
    assert payment.events.first().source == PaymentEvent.Source.FLOW
    assert ContactFlowState.objects.get(contact__whatsapp_id=phone.wa_id).flow is None

    wait_until(lambda: Payment.objects.get().status == PaymentStatus.SUCCESSFUL)
    receipt = wait_until(lambda: receipts(phone))[0]
    body = describe(receipt)
    assert "Payment received (EcoCash)" in body
    assert "Amount: USD 100.00" in body
    assert f"Booking: {booking.booking_reference} - Victoria Falls Tour" in body
    assert "Paid so far: USD 100.00 of USD 100.00" in body
    assert "Remaining: USD 0.00" in body and "fully paid" in body
    assert Booking.objects.get().payment_status == Booking.PaymentStatus.PAID
    phone.new_messages()
    print("\n".join(phone.transcript))


@pytest.mark.django_db(transaction=True)
def test_paynow_declined_by_the_payer_explains_and_offers_a_retry(
    client, whatsapp_number, flows, tours, paynow_config, live_server, settings
):
    settings.SITE_URL = live_server.url
    phone = chat.Phone(client)
    book_and_confirm(phone)
    phone.taps("Pay 50% Deposit")
    phone.taps("EcoCash")
    phone.says("0773333333")  # test number: the payer cancels after about 30 s (0.3 s here)
    phone.says("tendai@example.com")
    assert Payment.objects.get().amount == Decimal("50.00")
    receipt = wait_until(lambda: receipts(phone), timeout=15)[0]
    assert "was cancelled" in describe(receipt) and "No money was taken" in describe(receipt)
    assert options(receipt).keys() == {"Try again", "Talk to an agent"}
    choice = phone.taps("Try again", on=receipt)[-1]
    assert choice.flow_step == "booking:ask_payment_option"
    assert "Pay 50% Deposit" in options(choice)


@pytest.mark.django_db
def test_paynow_refusal_and_innbucks_code(phone, paynow_config):
    book_and_confirm(phone)
    phone.taps("Pay Full via Paynow")
    phone.taps("EcoCash")
    phone.says("0774444444")  # test number: insufficient balance at once
    refused = phone.says("tendai@example.com")
    assert "could not be started, so no money was taken" in describe(refused[0])
    assert options(refused[-1]).keys() == {"Try again", "Other payment", "Pay later"}
    failed = Payment.objects.get()
    assert failed.status == PaymentStatus.FAILED
    assert "Insufficient balance" in failed.notes  # Paynow's words: for staff
    assert "Insufficient balance" not in texts(refused)

    phone.taps("Try again")
    phone.taps("InnBucks")
    phone.says("0771111111")
    started = texts(phone.says("tendai@example.com"))
    code = Payment.objects.get(payment_method="paynow_innbucks").paynow_attempt.authorization_code
    assert code and f"authorisation code: *{code}*" in started
    assert f"schinn.wbpycode://innbucks.co.zw?pymInnCode={code}" in started


@pytest.mark.django_db
def test_paynow_not_configured_offers_the_other_ways(phone):
    book_and_confirm(phone)
    phone.taps("Pay Full via Paynow")
    phone.taps("EcoCash")
    phone.says("0771234567")
    reply = phone.says("tendai@example.com")
    assert "mobile money payments aren't available" in describe(reply[0])
    assert step_of(phone) == "ask_payment_option"
    assert "Bank Transfer" in options(reply[-1])


@pytest.mark.django_db
def test_published_payment_form_is_sent_instead_of_chat_questions(phone):
    WhatsAppFlow.objects.create(
        name="payment_whatsapp_flow", flow_id="1234567890", status=WhatsAppFlow.Status.PUBLISHED
    )
    booking, _ = book_and_confirm(phone)
    form = phone.taps("Pay 50% Deposit")
    assert len(form) == 1
    parameters = form[0].payload["interactive"]["action"]["parameters"]
    assert form[0].message_type == "flow" and parameters["flow_id"] == "1234567890"
    assert booking.booking_reference in describe(form[0])
    assert ContactFlowState.objects.get(contact__whatsapp_id=phone.wa_id).flow is None


@pytest.mark.django_db
def test_bank_transfer_proof_approved_by_staff_sends_the_receipt(
    phone, admin_user, django_capture_on_commit_callbacks
):
    booking, _ = book_and_confirm(phone)
    instructions = phone.taps("Bank Transfer")
    text = texts(instructions)
    assert f"Reference: *{booking.booking_reference}*" in text
    assert "Account number" in text and "USD 100.00 in full" in text and "USD 50.00" in text
    assert "photo or PDF" in describe(instructions[-1])

    assert "photo or PDF" in describe(phone.says("done it")[-1])  # not a proof: re-asked
    asked = phone.sends_image(caption="CBZ transfer slip")
    assert options(asked[-1]).keys() == {"Full amount", "Deposit only"}
    thanks = phone.taps("Deposit only")
    assert "check your payment of USD 50.00" in describe(thanks[-1])

    payment = Payment.objects.get()
    assert (payment.payment_method, payment.status, payment.amount) == (
        "bank_transfer",
        PaymentStatus.PENDING,
        Decimal("50.00"),
    )
    assert "1245089733561234" in payment.notes and "CBZ transfer slip" in payment.notes
    # The photo itself is linked to the payment it proves (its download runs apart).
    assert payment.proof.channel_media_id == "1245089733561234"
    assert payment.proof.message.contact == phone.contact
    assert payment.proof.caption == "CBZ transfer slip"
    assert [e.message for e in payment.events.order_by("created_at", "id")] == [
        "Payment created",
        "Proof of payment attached",
    ]
    assert {e.source for e in payment.events.all()} == {PaymentEvent.Source.FLOW}
    assert Booking.objects.get().payment_status == Booking.PaymentStatus.PENDING_MANUAL

    with django_capture_on_commit_callbacks(execute=True):
        mark_payment_received(payment=payment, actor=admin_user)
    receipt = receipts(phone)[-1]
    body = describe(receipt)
    assert "Payment received (bank transfer)" in body
    assert "Paid so far: USD 50.00 of USD 100.00" in body and "Remaining: USD 50.00" in body
    assert options(receipt).keys() == {"Pay balance", "Main menu"}

    # The balance through the same payment choice; no deposit row once something is paid.
    choice = phone.taps("Pay balance", on=receipt)[-1]
    assert "Amount due: USD 50.00" in describe(choice)
    assert "Pay 50% Deposit" not in options(choice) and "Pay Full via Paynow" in options(choice)


@pytest.mark.django_db
def test_omari_proof_rejected_by_staff_explains(
    phone, admin_user, django_capture_on_commit_callbacks
):
    book_and_confirm(phone)
    assert "Omari merchant code" in texts(phone.taps("Omari"))
    phone.sends_image()
    phone.taps("Full amount")
    payment = Payment.objects.get()
    assert (payment.payment_method, payment.amount) == ("omari", Decimal("100.00"))
    with django_capture_on_commit_callbacks(execute=True):
        reject_payment(payment=payment, actor=admin_user, reason="No such transfer")
    body = describe(receipts(phone)[-1])
    assert "couldn't confirm your Omari payment of USD 100.00" in body
    assert "Remaining: USD 100.00" in body


@pytest.mark.django_db
def test_proof_later_and_pay_later_keep_the_booking(phone):
    booking, _ = book_and_confirm(phone)
    phone.taps("Bank Transfer")
    assert "reply *pay*" in texts(phone.says("later"))
    listing = phone.says("pay")  # the my-bookings trigger
    assert booking.booking_reference in describe(listing[-1])
    assert not Payment.objects.exists()


@pytest.mark.django_db
def test_a_message_while_paynow_is_being_contacted_waits_politely(phone, monkeypatch):
    """The Paynow call runs after commit; a message arriving meanwhile is not an answer."""
    from datetime import timedelta

    from django.utils import timezone

    from flows import services

    book_and_confirm(phone)
    phone.taps("Pay Full via Paynow")
    phone.taps("EcoCash")
    phone.says("0771234567")
    monkeypatch.setattr(services, "finish_deferred_action", lambda *args: None)  # never returns
    phone.says("tendai@example.com")
    state = ContactFlowState.objects.get(contact__whatsapp_id=phone.wa_id)
    assert state.current_step == "initiate_paynow" and state.context["_awaiting"]
    assert "still working" in texts(phone.says("hello?"))

    state.context["_awaiting_since"] = (timezone.now() - timedelta(minutes=5)).isoformat()
    state.save()
    reply = phone.says("hello?")  # the lost work is given up: a fresh start
    assert "How can I help you today" in describe(reply[-1])


@pytest.mark.django_db(transaction=True)
def test_a_card_deposit_opens_paynows_page_and_the_receipt_follows(
    client, whatsapp_number, flows, tours, paynow_config, paynow_emulator, live_server, settings
):
    """Pay by card: a CTA URL button opens Paynow's web checkout (the emulator's page); a
    test card pays there; Paynow's status update reaches our live result URL; the booking
    shows Deposit paid and the receipt is queued, exactly as for mobile money."""
    import httpx

    from paynow_integration.models import PaynowAttempt

    settings.SITE_URL = live_server.url
    settings.PAYNOW_CARD_ENABLED = True
    phone = chat.Phone(client)  # transactional: on-commit work runs for real
    booking, choice = book_and_confirm(phone)
    assert "Card (Paynow)" in chat.section_titles(choice)
    assert {"Pay Full by Card", "Pay 50% by Card"} <= options(choice).keys()

    phone.taps("Pay 50% by Card")
    link = wait_until(lambda: [m for m in outbound(phone.wa_id) if m.message_type == "cta_url"])[0]
    interactive = link.payload["interactive"]
    payment = Payment.objects.get()
    attempt = PaynowAttempt.objects.get(payment=payment)
    assert (payment.payment_method, payment.amount) == ("paynow_card", Decimal("50.00"))
    assert payment.email == "tendai@example.com"  # the booking's, for the receipt
    assert interactive["action"]["parameters"] == {
        "display_text": "Pay by card",
        "url": attempt.browser_url,
    }
    assert (
        f"Pay USD 50.00 for booking {booking.booking_reference} by card"
        in (interactive["body"]["text"])
    )
    assert step_of(phone) == ""  # the conversation ended: the receipt will come by itself

    # The payer opens the link and pays with a test card on Paynow's page.
    page = httpx.get(attempt.browser_url)
    assert page.status_code == 200 and payment.reference in page.text
    paid = httpx.post(
        attempt.browser_url,
        data={
            "action": "pay",
            "method": "vmc",
            "card_name": "Tendai Moyo",
            "card_number": "4111 1111 1111 1111",
            "card_expiry": "12/34",
            "card_cvv": "123",
        },
    )
    assert paid.status_code == 303
    back = f"{live_server.url}/crm-api/paynow/return/?reference={payment.reference}"
    assert paid.headers["location"] == back

    # Waits on what the traveller and staff see (SQLite's shared test connection can show the
    # payment's row before the rest of its transaction).
    wait_until(lambda: Booking.objects.get().payment_status == Booking.PaymentStatus.DEPOSIT_PAID)
    assert Payment.objects.get().status == PaymentStatus.SUCCESSFUL
    receipt = wait_until(lambda: receipts(phone))[0]
    body = describe(receipt)
    assert "Payment received (card)" in body and "Paid so far: USD 50.00 of USD 100.00" in body
    assert options(receipt).keys() == {"Pay balance", "Main menu"}
    assert httpx.get(paid.headers["location"]).status_code == 200  # the return page
    # Paynow's last word, kept on the attempt for staff.
    assert PaynowAttempt.objects.get(pk=attempt.pk).gateway_status == "Paid"


@pytest.mark.django_db
def test_card_options_only_when_cards_are_on(phone, settings):
    settings.PAYNOW_CARD_ENABLED = False
    _, choice = book_and_confirm(phone)
    assert "Card (Paynow)" not in chat.section_titles(choice)
    assert "Pay Full by Card" not in options(choice)
