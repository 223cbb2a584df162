"""The whole system in a real browser: a traveller books a tour on the phone page and pays for it.

Nothing is faked. Our Django site runs on pytest-django's live server between the two
emulators: the WhatsApp emulator (Meta's Graph API, webhooks, the Flows data channel and the
browser phone page at its `/`) and the Paynow emulator (the EcoCash prompt and its status
updates to our result URL). The conversation is the real flow engine with the demo catalogue and
the loaded flow definitions; the payment form is the published `payment_whatsapp_flow`, opened
and submitted through the encrypted data channel to our live endpoint.

In Chromium the traveller says hi, books the Victoria Falls Guided Tour for two adults, pays the
50% deposit with EcoCash through the form (a non-test number, so Paynow waits for the PIN on the
phone page's prompt), then pays the balance from the receipt. Then staff open the booking in the
admin. Screenshots: test-artifacts/e2e-chat.png and test-artifacts/e2e-admin-booking.png.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from io import StringIO
from pathlib import Path
from typing import Any

import httpx
import pytest
from django.core.management import call_command
from django.urls import reverse

from flows import keys as flow_keys
from flows.crypto import generate_key_pair
from sandbox.paynow import PaynowEmulator
from sandbox.whatsapp import WhatsAppEmulator
from sandbox.whatsapp.testing import ControlClient
from tests.browser.conftest import (
    CHROMIUM_ARGS,
    DEFAULT_TIMEOUT_MS,
    VIEWPORT,
    chromium_path,
    new_page,
)
from tests.helpers import register_payment_flow_via_graph, use_flow_private_key, wait_until

APP_SECRET = "e2e-browser-app-secret-41c7"
ACCESS_TOKEN = "EAAG-e2e-browser-token-93"
PHONE_NUMBER_ID = "113355779900224"
WABA_ID = "224466880011335"
INTEGRATION_ID = "1201"
INTEGRATION_KEY = "3e9fed89-60e1-4ce5-ab6e-6b1eb2d4f977"
MERCHANT_EMAIL = "merchant@example.com"

WA_ID = "263772000111"
ECOCASH_PHONE = "0772000111"  # not a Paynow test number: the prompt waits for the PIN
TRAVELLER_NAME = "Tendai Moyo"
EMAIL = "tendai.moyo@example.com"
TOUR = "Victoria Falls Guided Tour"
TRAVELLERS = (("Tendai Moyo", "34"), ("Rudo Moyo", "31"))
TRAVEL_DATE = date.today() + timedelta(days=45)
PIN = "4321"
ADMIN_USER, ADMIN_PASSWORD = "e2e-admin", "e2e-admin-password-7f3a"

WAIT_MS = 30_000  # the longest any single wait may take
ADMIN_VIEWPORT = {"width": 1280, "height": 900}


@dataclass
class System:
    site: str
    whatsapp: WhatsAppEmulator
    paynow: PaynowEmulator
    control: ControlClient

    @property
    def phone_url(self) -> str:
        return self.whatsapp.base_url + "/"


@pytest.fixture
def system(live_server: Any, settings: Any, transactional_db: Any) -> Iterator[System]:
    """Our live site wired to both emulators, the catalogue seeded, the payment form published."""
    from meta_integration.models import MetaAppConfig
    from paynow_integration.models import PaynowConfig

    private_pem, public_pem = generate_key_pair()
    settings.SITE_URL = live_server.url
    use_flow_private_key(settings, private_pem.decode())
    with (
        PaynowEmulator(
            integration_id=INTEGRATION_ID,
            integration_key=INTEGRATION_KEY,
            auth_email=MERCHANT_EMAIL,
            time_scale=0.02,
        ) as paynow,
        WhatsAppEmulator(
            app_secret=APP_SECRET,
            access_token=ACCESS_TOKEN,
            phone_number_id=PHONE_NUMBER_ID,
            waba_id=WABA_ID,
            display_phone_number="263771000000",
            webhook_url=live_server.url + reverse("meta_integration:webhook"),
            port=0,
            status_delay=0.05,
            retry_base_delay=0.1,
            paynow_url=paynow.base_url,
        ) as whatsapp,
        ControlClient(whatsapp.base_url, timeout=15) as control,
    ):
        MetaAppConfig.objects.create(
            name="Kalai Safaris",
            phone_number_id=PHONE_NUMBER_ID,
            waba_id=WABA_ID,
            display_phone_number="263771000000",
            access_token=ACCESS_TOKEN,
            app_secret=APP_SECRET,
            graph_base_url=whatsapp.base_url,
        )
        PaynowConfig.objects.create(
            integration_id=INTEGRATION_ID,
            integration_key=INTEGRATION_KEY,
            api_base_url=paynow.remote_url,
            auth_email=MERCHANT_EMAIL,
            is_active=True,
        )
        control.set_public_key(public_pem.decode())
        out = StringIO()
        call_command("seed_demo", stdout=out)
        call_command("load_flow_definitions", stdout=out)
        register_payment_flow_via_graph(live_server.url, stdout=out)
        try:
            yield System(site=live_server.url, whatsapp=whatsapp, paynow=paynow, control=control)
        finally:
            # Let Paynow finish delivering its status updates before the database is flushed.
            wait_until(lambda: _paynow_delivered(paynow), timeout=15)
    flow_keys.clear_cache()


def _paynow_delivered(emulator: PaynowEmulator) -> bool:
    transactions = httpx.get(f"{emulator.base_url}/_control/transactions", timeout=5).json()[
        "transactions"
    ]
    return all(
        t["status"] in ("Created", "Sent")  # never settled: nothing to deliver
        or (t["deliveries"] and t["deliveries"][-1]["outcome"] == "delivered")
        for t in transactions
    )


# -- the phone ---------------------------------------------------------------------------------
class Phone:
    """The traveller's side of the phone page: wait for the bot, answer it, tap, pick, pay."""

    def __init__(self, page: Any) -> None:
        self.page = page
        self.messages = page.locator("#messages")

    def bot(self, text: str | re.Pattern, *, nth: int = -1, kind: str = "") -> Any:
        """The bot's bubble containing `text` (the latest one by default; `kind`: its
        data-type, e.g. "flow"), once it is there."""
        from playwright.sync_api import expect

        selector = ".msg.from-them" + (f'[data-type="{kind}"]' if kind else "")
        bubbles = self.messages.locator(selector).filter(has_text=text)
        bubble = bubbles.last if nth == -1 else bubbles.nth(nth)
        expect(bubble).to_be_visible(timeout=WAIT_MS)
        return bubble

    def say(self, text: str) -> None:
        from playwright.sync_api import expect

        sent = self.messages.locator(".msg.from-me").count()
        box = self.page.get_by_role("textbox", name="Message")
        box.fill(text)
        box.press("Enter")
        # Our bubble is in the chat before the next question is awaited.
        expect(self.messages.locator(".msg.from-me")).to_have_count(sent + 1, timeout=WAIT_MS)
        expect(self.messages.locator(".msg.from-me").last).to_contain_text(text)

    def answer(self, question: str | re.Pattern, text: str) -> None:
        self.bot(question)
        self.say(text)

    def tap(self, bubble: Any, title: str) -> None:
        from playwright.sync_api import expect

        bubble.get_by_role("group", name="Reply buttons").get_by_role("button", name=title).click()
        expect(self.messages.locator(".msg.from-me").last).to_contain_text(title, timeout=WAIT_MS)

    def pick(self, bubble: Any, button: str, row: str) -> None:
        """Open the list message's sheet and choose the row whose text contains `row`."""
        from playwright.sync_api import expect

        bubble.get_by_role("button", name=button).click()
        sheet = self.page.get_by_role("dialog", name=button)
        expect(sheet).to_be_visible()
        sheet.locator(".sheet-row").filter(has_text=row).first.click()
        expect(sheet).to_be_hidden()

    def pay_with_form(self, form_message: Any, amount: str) -> None:
        """Open the payment form, pay by EcoCash from ECOCASH_PHONE and approve the prompt."""
        from playwright.sync_api import expect

        form_message.get_by_role("button", name="Pay now").click()
        form = self.page.get_by_role("dialog", name="Pay with mobile money")
        expect(form).to_be_visible(timeout=WAIT_MS)
        expect(form.get_by_role("heading", name=amount)).to_be_visible()
        form.get_by_label("EcoCash").check()
        form.get_by_label("Mobile money number *").fill(ECOCASH_PHONE)
        form.get_by_label("E-mail for the receipt *").fill(EMAIL)
        self.page.locator("#flow-submit").click()
        expect(form).to_be_hidden(timeout=WAIT_MS)
        expect(self.messages.locator(".msg.from-me").last).to_contain_text("Form submitted")

        # Paynow's prompt to 0772000111 shows on the phone of 263772000111.
        prompt = self.page.get_by_role("alertdialog")
        expect(prompt).to_be_visible(timeout=WAIT_MS)
        expect(prompt.locator("#prompt-text")).to_contain_text(f"Pay {amount} to Kalai Safaris")
        prompt.get_by_label("Enter PIN").fill(PIN)
        prompt.get_by_role("button", name="Approve").click()
        expect(prompt).to_be_hidden(timeout=WAIT_MS)
        expect(self.page.locator("#toast")).to_have_text("Payment approved")


def _money(amount: Decimal) -> str:
    return f"USD {amount:,.2f}"


def _in_browser_thread(work: Callable[[], Any], timeout: float = 110) -> Any:
    """Run `work` (all the Playwright calls) in a thread of its own and return its result.

    Playwright's sync API marks its asyncio loop as running in the thread that drives it, for
    as long as Playwright is started. Django refuses database access from such a thread
    (SynchronousOnlyOperation), and the session-wide `chromium` fixture would leave the main
    thread marked for every later test. So the browser lives and dies in this thread; the
    database is only touched from the main thread.
    """
    outcome: dict[str, Any] = {}

    def run() -> None:
        try:
            outcome["value"] = work()
        except BaseException as exc:  # re-raised in the test's thread
            outcome["error"] = exc

    thread = threading.Thread(target=run, name="playwright", daemon=True)
    thread.start()
    thread.join(timeout)
    if thread.is_alive():
        raise AssertionError(f"the browser did not finish within {timeout:.0f}s")
    if "error" in outcome:
        raise outcome["error"]
    return outcome["value"]


def _book_and_pay(page: Any, system: System, artifacts_dir: Path) -> dict[str, str]:
    """The traveller's part, on the phone page; returns what the chat showed."""
    from playwright.sync_api import expect

    phone = Phone(page)
    page.goto(system.phone_url)
    page.get_by_label("Phone number (wa_id)").fill(WA_ID)
    page.get_by_label("Your name").fill(TRAVELLER_NAME)
    page.get_by_role("button", name="Open chat").click()
    expect(page.locator("#chat-sub")).to_contain_text(TRAVELLER_NAME)

    # The main menu, then the tour list.
    phone.say("hi")
    phone.pick(phone.bot("Welcome to"), "Menu", "Book a tour")
    phone.pick(phone.bot("Which tour would you like to book?"), "Tours", TOUR)

    # The questions, answered as a traveller types them.
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
    total_text = re.search(r"total USD ([\d,]+\.\d\d)", booked.inner_text()).group(1)
    total = Decimal(total_text.replace(",", ""))
    deposit = (total * Decimal("0.5")).quantize(Decimal("0.01"))

    # The 50% deposit: the payment form, then the EcoCash prompt on the phone.
    phone.pick(phone.bot("How would you like to pay"), "Payment options", "Pay 50% Deposit")
    phone.pay_with_form(phone.bot(reference, kind="flow"), _money(deposit))
    receipt = phone.bot("Payment received")
    expect(receipt).to_contain_text(f"Paid so far: {_money(deposit)} of {_money(total)}")

    # The balance, from the receipt's button.
    phone.tap(receipt, "Pay balance")
    options = phone.bot("How would you like to pay", nth=1)
    phone.pick(options, "Payment options", "Pay Full via Paynow")
    phone.pay_with_form(phone.bot(reference, kind="flow", nth=1), _money(total - deposit))
    final = phone.bot("Your booking is fully paid")
    expect(final).to_contain_text("Payment received")
    expect(final).to_contain_text(f"Paid so far: {_money(total)} of {_money(total)}")
    expect(final).to_contain_text(f"Remaining: {_money(Decimal(0))}")

    final.scroll_into_view_if_needed()
    expect(page.locator("#toast")).to_be_hidden(timeout=6000)
    page.screenshot(path=str(artifacts_dir / "e2e-chat.png"))
    assert page.js_errors == [], page.js_errors
    return {"reference": reference, "total": str(total), "deposit": str(deposit)}


def _staff_check(page: Any, system: System, reference: str, artifacts_dir: Path) -> None:
    """Staff log into the admin, find the booking by its reference and see it paid."""
    from playwright.sync_api import expect

    page.goto(f"{system.site}/admin/login/?next=/admin/")
    page.get_by_label("Username").fill(ADMIN_USER)
    page.get_by_label("Password").fill(ADMIN_PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page.locator("#user-tools")).to_contain_text(ADMIN_USER)
    page.goto(f"{system.site}/admin/customer_data/booking/?q={reference}")
    page.get_by_role("link", name=reference, exact=True).click()
    expect(page).to_have_url(re.compile(r"/admin/customer_data/booking/\d+/change/"))
    expect(page.locator(".field-booking_reference")).to_contain_text(reference)
    # Read-only (it follows the money): shown as text, not as a select staff could change.
    expect(page.locator(".field-payment_status .readonly")).to_have_text("Paid")
    expect(page.locator(".field-payment_history")).to_contain_text("pending → successful")
    payments = page.locator("#payments-group tbody tr").filter(has_text="Successful")
    expect(payments).to_have_count(2)
    expect(page.locator("#travelers-group")).to_contain_text(TRAVELLERS[1][0])
    page.screenshot(path=str(artifacts_dir / "e2e-admin-booking.png"), full_page=True)
    assert page.js_errors == [], page.js_errors


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_traveller_books_and_pays_on_the_phone_then_staff_see_it_paid(
    system: System, artifacts_dir: Path
) -> None:
    from django.contrib.auth import get_user_model
    from playwright.sync_api import expect, sync_playwright

    from customer_data.models import Booking, PaymentStatus

    get_user_model().objects.create_superuser(ADMIN_USER, "admin@example.com", ADMIN_PASSWORD)

    def browse() -> dict[str, str]:
        expect.set_options(timeout=WAIT_MS)
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(
                executable_path=chromium_path(), args=CHROMIUM_ARGS, headless=True, timeout=WAIT_MS
            )
            try:
                seen = _book_and_pay(new_page(browser, VIEWPORT, WAIT_MS), system, artifacts_dir)
                _staff_check(
                    new_page(browser, ADMIN_VIEWPORT, WAIT_MS),
                    system,
                    seen["reference"],
                    artifacts_dir,
                )
                return seen
            finally:
                browser.close()
                expect.set_options(timeout=DEFAULT_TIMEOUT_MS)

    seen = _in_browser_thread(browse)

    # What the database says.
    booking = Booking.objects.get(booking_reference=seen["reference"])
    total, deposit = Decimal(seen["total"]), Decimal(seen["deposit"])
    assert booking.contact.whatsapp_id == WA_ID and booking.start_date == TRAVEL_DATE
    assert (booking.number_of_adults, booking.number_of_children, booking.email) == (2, 0, EMAIL)
    travellers = booking.travelers.order_by("id")
    assert [(t.name, t.age, t.nationality) for t in travellers] == [
        (name, int(age), "Zimbabwean") for name, age in TRAVELLERS
    ]
    assert booking.total_amount == total
    assert booking.amount_paid == booking.total_amount
    assert booking.payment_status == Booking.PaymentStatus.PAID == "paid"
    payments = list(booking.payments.order_by("created_at"))
    assert [(p.payment_method, p.status, p.amount) for p in payments] == [
        ("paynow_ecocash", PaymentStatus.SUCCESSFUL, deposit),
        ("paynow_ecocash", PaymentStatus.SUCCESSFUL, total - deposit),
    ]
