"""A traveller who uses a WhatsApp username books and pays a deposit by EcoCash on the phone page.

Since WhatsApp's usernames (2026) Meta may withhold such a traveller's phone number: the
webhooks name them by business-scoped user ID only, and every message to them must go out with
`recipient` instead of `to`. Mobile money still needs a number, so the payment form asks for it
(nothing is prefilled: the chat identity is not a phone number) and the EcoCash prompt goes to
the number typed in, which the phone page knows as "this phone's number".

The whole system as in test_booking_end_to_end.py: our live site between the two emulators, the
real flow engine and the published payment form. Screenshot: test-artifacts/e2e-username-chat.png.
"""

from __future__ import annotations

import json
import re
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from tests.browser.conftest import (
    CHROMIUM_ARGS,
    DEFAULT_TIMEOUT_MS,
    VIEWPORT,
    chromium_path,
    new_page,
)
from tests.browser.test_booking_end_to_end import (  # noqa: F401  (system: a fixture)
    ECOCASH_PHONE,
    EMAIL,
    PIN,
    TOUR,
    TRAVEL_DATE,
    WAIT_MS,
    Phone,
    System,
    _in_browser_thread,
    _money,
    system,
)

USERNAME = "tendai.moyo"
TRAVELLER_NAME = "Tendai"
OWN_NUMBER = "263772000111"  # the phone's SIM: EcoCash prompts to 0772000111 show here
TRAVELLERS = (("Tendai Moyo", "34"), ("Rudo Moyo", "31"))


def _book_and_pay_deposit(page: Any, running: System, artifacts_dir: Path) -> dict[str, str]:
    from playwright.sync_api import expect

    phone = Phone(page)
    page.goto(running.phone_url)
    page.get_by_label("my username (number hidden)").check()
    page.get_by_label("Username", exact=True).fill(USERNAME)
    page.get_by_label("This phone's number (for mobile-money prompts)").fill(OWN_NUMBER)
    page.get_by_label("Your name").fill(TRAVELLER_NAME)
    page.get_by_role("button", name="Open chat").click()
    expect(page.locator("#chat-sub")).to_contain_text(f"@{USERNAME} (number hidden)")

    phone.say("hi")
    phone.pick(phone.bot("Welcome to"), "Menu", "Book a tour")
    phone.pick(phone.bot("Which tour would you like to book?"), "Tours", TOUR)
    phone.answer("On which date", TRAVEL_DATE.strftime("%d/%m/%Y"))
    phone.answer("How many adults", "2")
    phone.answer("how many children", "0")
    for number, (name, age) in enumerate(TRAVELLERS, start=1):
        phone.answer(f"Traveller {number} of 2", name)
        phone.answer(f"How old is {name}?", age)
        phone.answer(f"What is {name}'s nationality?", "Zimbabwean")
        phone.answer(f"{name}'s passport or ID number?", "skip")
    phone.answer("What e-mail address", EMAIL)
    phone.tap(phone.bot("Is everything correct?"), "Confirm booking")
    booked = phone.bot("Your booking reference is")
    reference = re.search(r"BK-[A-Z0-9]+", booked.inner_text()).group(0)
    total = Decimal(
        re.search(r"total USD ([\d,]+\.\d\d)", booked.inner_text()).group(1).replace(",", "")
    )
    deposit = (total * Decimal("0.5")).quantize(Decimal("0.01"))

    phone.pick(phone.bot("How would you like to pay"), "Payment options", "Pay 50% Deposit")
    phone.bot(reference, kind="flow").get_by_role("button", name="Pay now").click()
    form = page.get_by_role("dialog", name="Pay with mobile money")
    expect(form).to_be_visible(timeout=WAIT_MS)
    expect(form.get_by_role("heading", name=_money(deposit))).to_be_visible()
    number = form.get_by_label("Mobile money number *")
    expect(number).to_have_value("")  # no number is known for a username: the form asks
    form.get_by_label("EcoCash").check()
    number.fill(ECOCASH_PHONE)
    form.get_by_label("E-mail for the receipt *").fill(EMAIL)
    page.locator("#flow-submit").click()
    expect(form).to_be_hidden(timeout=WAIT_MS)

    prompt = page.get_by_role("alertdialog")
    expect(prompt).to_be_visible(timeout=WAIT_MS)
    expect(prompt.locator("#prompt-text")).to_contain_text(
        f"Pay {_money(deposit)} to Kalai Safaris"
    )
    prompt.get_by_label("Enter PIN").fill(PIN)
    prompt.get_by_role("button", name="Approve").click()
    expect(prompt).to_be_hidden(timeout=WAIT_MS)
    receipt = phone.bot("Payment received")
    expect(receipt).to_contain_text(f"Paid so far: {_money(deposit)} of {_money(total)}")

    receipt.scroll_into_view_if_needed()
    expect(page.locator("#toast")).to_be_hidden(timeout=6000)
    page.screenshot(path=str(artifacts_dir / "e2e-username-chat.png"))
    assert page.js_errors == [], page.js_errors
    return {"reference": reference, "deposit": str(deposit)}


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_a_username_user_books_and_pays_a_deposit_every_message_by_recipient(
    system: System,  # noqa: F811
    artifacts_dir: Path,
) -> None:
    from playwright.sync_api import expect, sync_playwright

    from conversations.models import Message
    from customer_data.models import Booking, PaymentStatus

    def browse() -> dict[str, str]:
        expect.set_options(timeout=WAIT_MS)
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(
                executable_path=chromium_path(), args=CHROMIUM_ARGS, headless=True, timeout=WAIT_MS
            )
            try:
                return _book_and_pay_deposit(
                    new_page(browser, VIEWPORT, WAIT_MS), system, artifacts_dir
                )
            finally:
                browser.close()
                expect.set_options(timeout=DEFAULT_TIMEOUT_MS)

    seen = _in_browser_thread(browse)

    user = system.whatsapp.store.username_user(USERNAME)
    booking = Booking.objects.get(booking_reference=seen["reference"])
    contact = booking.contact
    assert (contact.whatsapp_id, contact.user_id, contact.username) == (
        None,
        user.user_id,
        USERNAME,
    )
    [payment] = booking.payments.all()
    assert (payment.payment_method, payment.status, payment.amount) == (
        "paynow_ecocash",
        PaymentStatus.SUCCESSFUL,
        Decimal(seen["deposit"]),
    )
    assert booking.payment_status == Booking.PaymentStatus.DEPOSIT_PAID

    # Every message to the traveller went out with `recipient`, never with `to`: as we sent
    # them, and as Meta's side (the emulator) received them.
    ours = list(Message.objects.filter(contact=contact, direction="out"))
    assert len(ours) >= 10
    assert all(m.payload.get("recipient") == user.user_id and "to" not in m.payload for m in ours)
    theirs = system.control.messages(to=user.handle)
    assert len(theirs) == len(ours)
    assert all(
        m["payload"].get("recipient") == user.user_id and "to" not in m["payload"] for m in theirs
    )
    # No phone number of theirs anywhere in the webhooks about this traveller.
    values = [
        change["value"]
        for event in system.whatsapp.store.events.values()
        if event["wa_id"] == user.handle
        for entry in event["body"]["entry"]
        for change in entry["changes"]
    ]
    messages = [m for v in values for m in v.get("messages", [])]
    statuses = [st for v in values for st in v.get("statuses", [])]
    contacts = [c for v in values for c in v.get("contacts", [])]
    assert len(messages) >= 10 and len(statuses) >= 10
    assert all("from" not in m and m["from_user_id"] == user.user_id for m in messages)
    assert all(
        "recipient_id" not in st and st["recipient_user_id"] == user.user_id for st in statuses
    )
    assert all("wa_id" not in c and c["user_id"] == user.user_id for c in contacts)
    assert all(OWN_NUMBER not in json.dumps(v) for v in values)
