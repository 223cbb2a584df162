"""`make demo`: a scripted traveller books a tour for two adults on WhatsApp, pays the 50%
deposit with EcoCash through the payment form, then the balance, and checks the result.

Runs against a running `make run` (or starts one itself and stops it afterwards). Talks
only to the public surfaces a person would use: the WhatsApp emulator's phone (its control
API), and at the end the app's own records through `manage.py shell` for the final state.
Prints the transcript; exits non-zero if anything is off.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import secrets
import subprocess
import sys
import time
from datetime import date, timedelta
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parent.parent
# A new traveller each run, so a second `make demo` starts a fresh conversation.
TRAVELLER = {
    "wa_id": f"26377{secrets.randbelow(10**7):07d}",
    "name": "Tendai Moyo",
    "email": "tendai.moyo@example.com",
}
ECOCASH_TEST_NUMBER = "0771111111"  # Paynow test mode: paid about 5 s after the prompt


class DemoFailed(Exception):
    pass


class Phone:
    """The traveller's phone: the WhatsApp emulator's control API."""

    def __init__(self, base_url: str, wa_id: str, name: str) -> None:
        self.http = httpx.Client(base_url=f"{base_url}/_control", timeout=30)
        self.wa_id, self.name = wa_id, name
        self.seen = self._last_seq()
        self.bot_messages: list[dict] = []
        self.unread: list[dict] = []  # bot messages fetched but not yet looked at

    def _last_seq(self) -> int:
        messages = self.http.get(f"/users/{self.wa_id}/conversation").json().get("messages", [])
        return max((m["seq"] for m in messages), default=0)

    def say(self, text: str) -> None:
        print(f"  Traveller: {text}")
        self._ok(
            self.http.post(
                f"/users/{self.wa_id}/send",
                json={"type": "text", "text": text, "name": self.name, "wait": True},
            )
        )

    def tap(self, message: dict, *, title: str | None = None, row_id: str | None = None) -> None:
        interactive = message["payload"]["interactive"]
        choice = None
        if interactive["type"] == "button":
            for button in interactive["action"]["buttons"]:
                reply = button["reply"]
                if reply["title"] == title or reply["id"] == row_id:
                    choice = {"button_id": reply["id"]}
                    print(f"  Traveller: (taps) {reply['title']}")
        elif interactive["type"] == "list":
            for section in interactive["action"]["sections"]:
                for row in section["rows"]:
                    if (title and row["title"].startswith(title)) or row["id"] == row_id:
                        choice = {"row_id": row["id"]}
                        print(f"  Traveller: (taps) {row['title']}")
                        break
                if choice:
                    break
        if choice is None:
            raise DemoFailed(f"no option {title or row_id!r} in the bot's message")
        self._ok(
            self.http.post(f"/users/{self.wa_id}/tap", json={"wamid": message["wamid"], **choice})
        )

    def expect(self, pattern: str, *, kind: str | None = None, timeout: float = 30) -> dict:
        """Wait for the next bot message whose text matches `pattern` (and of `kind`)."""
        deadline = time.monotonic() + timeout
        regex = re.compile(pattern, re.I | re.S)
        while time.monotonic() < deadline:
            self.unread.extend(self._new_bot_messages())
            while self.unread:
                message = self.unread.pop(0)
                if regex.search(message.get("text") or "") and (
                    kind is None or message.get("interactive_type") == kind
                ):
                    return message
            time.sleep(0.2)
        raise DemoFailed(f"the bot did not say /{pattern}/ within {timeout:.0f}s")

    def _new_bot_messages(self) -> list[dict]:
        answer = self.http.get(
            f"/users/{self.wa_id}/conversation", params={"since": self.seen}
        ).json()
        fresh = []
        for message in answer.get("messages", []):
            self.seen = max(self.seen, message["seq"])
            if message["direction"] == "out":
                print_bot(message)
                self.bot_messages.append(message)
                fresh.append(message)
        return fresh

    def fill_payment_form(self, message: dict, *, method: str, phone: str, email: str) -> dict:
        opened = self._ok(
            self.http.post(f"/users/{self.wa_id}/flows/open", json={"wamid": message["wamid"]})
        )
        data = opened.get("data") or {}
        print(
            f"  (form opens: {opened.get('screen')}: {data.get('amount_display', '')} "
            f"{data.get('purpose_label', '')})"
        )
        form = {"payment_method": method, "phone": phone, "email": email}
        print(f"  Traveller: (fills the form) {method}, {phone}, {email} and taps Pay")
        result = self._ok(
            self.http.post(f"/flow-sessions/{opened['session']}/submit", json={"form": form})
        )
        if result.get("error_message"):
            raise DemoFailed(f"the form refused the payment: {result['error_message']}")
        return result

    @staticmethod
    def _ok(response: httpx.Response) -> dict:
        if response.status_code >= 400:
            raise DemoFailed(f"{response.request.url.path}: HTTP {response.status_code}: "
                             f"{response.text[:300]}")  # fmt: skip
        return response.json()


def print_bot(message: dict) -> None:
    text = (message.get("text") or "").strip().replace("\n", "\n       ")
    print(f"  Bot: {text}")
    interactive = (message.get("payload") or {}).get("interactive") or {}
    action = interactive.get("action") or {}
    if interactive.get("type") == "button":
        titles = [b["reply"]["title"] for b in action.get("buttons", [])]
        print(f"       [{' | '.join(titles)}]")
    elif interactive.get("type") == "list":
        for section in action.get("sections", []):
            rows = ", ".join(row["title"] for row in section.get("rows", []))
            print(f"       [{section.get('title', '')}: {rows}]")
    elif interactive.get("type") == "flow":
        print(f"       [form: {action.get('parameters', {}).get('flow_cta', '')}]")


def pay_with_form(phone: Phone, form_message: dict, what: str) -> None:
    phone.fill_payment_form(
        form_message, method="ecocash", phone=ECOCASH_TEST_NUMBER, email=TRAVELLER["email"]
    )
    phone.expect(r"approve|payment request", timeout=30)
    print(f"  (Paynow test number {ECOCASH_TEST_NUMBER} approves the {what} ...)")
    phone.expect(r"payment received", timeout=60)


def run_demo(whatsapp_url: str) -> None:
    phone = Phone(whatsapp_url, TRAVELLER["wa_id"], TRAVELLER["name"])
    travel_date = (date.today() + timedelta(days=45)).strftime("%d/%m/%Y")

    phone.say("Hi")
    menu = phone.expect(r".", kind="list")
    phone.tap(menu, title="Book a tour")
    tours = phone.expect(r"tour", kind="list")
    phone.tap(tours, title="Victoria Falls")
    phone.expect(r"date")
    phone.say(travel_date)
    phone.expect(r"adults")
    phone.say("2")
    phone.expect(r"children")
    phone.say("0")
    for name, age in (("Tendai Moyo", "34"), ("Rudo Moyo", "31")):
        phone.expect(r"full name")
        phone.say(name)
        phone.expect(r"how old")
        phone.say(age)
        phone.expect(r"nationality")
        phone.say("Zimbabwean")
        phone.expect(r"passport|ID number")
        phone.say("skip")
    phone.expect(r"e-?mail")
    phone.say(TRAVELLER["email"])
    confirm = phone.expect(r"correct", kind="button")
    phone.tap(confirm, row_id="confirm")
    booked = phone.expect(r"booking reference is \*?(BK-[A-Z0-9]{8})")
    reference = re.search(r"BK-[A-Z0-9]{8}", booked["text"]).group(0)

    options = phone.expect(r"how would you like to pay", kind="list")
    phone.tap(options, row_id="paynow_deposit")
    form = phone.expect(r".", kind="flow")
    pay_with_form(phone, form, "deposit")

    receipt = phone.bot_messages[-1]
    if receipt.get("interactive_type") == "button":
        phone.tap(receipt, title="Pay balance")
    else:
        phone.say("menu")
        phone.tap(phone.expect(r".", kind="list"), title="Pay a balance")
    follow_up = phone.expect(r".", timeout=30)
    while follow_up.get("interactive_type") not in ("flow", "list"):
        follow_up = phone.expect(r".", timeout=30)
    if follow_up.get("interactive_type") == "list":
        phone.tap(follow_up, row_id="paynow_full")
        follow_up = phone.expect(r".", kind="flow")
    pay_with_form(phone, follow_up, "balance")
    return reference


def final_state(reference: str) -> dict:
    code = (
        "import json; from customer_data.models import Booking; "
        f"b = Booking.objects.get(booking_reference={reference!r}); "
        "print(json.dumps({'booking_reference': b.booking_reference, 'tour': b.tour.name, "
        "'travellers': b.travelers.count(), 'total_amount': str(b.total_amount), "
        "'amount_paid': str(b.amount_paid), 'payment_status': b.payment_status, "
        "'payments': [[p.payment_method, str(p.amount), p.status] "
        "for p in b.payments.order_by('created_at')]}))"
    )
    result = subprocess.run(  # noqa: S603 (our own manage.py)
        [sys.executable, str(REPO / "whatsappcrm_backend" / "manage.py"), "shell", "-c", code],
        env={**os.environ, "DEBUG": os.environ.get("DEBUG", "true")},
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise DemoFailed(f"could not read the booking: {result.stderr[-500:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def site_is_up(site: str) -> bool:
    try:
        return httpx.get(f"{site}/healthz", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--site", default="http://127.0.0.1:8000")
    parser.add_argument("--whatsapp", default="http://127.0.0.1:8102")
    args = parser.parse_args()

    started = None
    if not site_is_up(args.site):
        print("[demo] no running system: starting `make run` for the demo ...")
        started = subprocess.Popen(  # noqa: S603
            [sys.executable, str(REPO / "scripts" / "run_local.py")],
            cwd=REPO,
            stdout=subprocess.DEVNULL,
            start_new_session=True,
        )
        deadline = time.monotonic() + 120
        while not site_is_up(args.site):
            if time.monotonic() > deadline or started.poll() is not None:
                print("[demo] the system did not start", file=sys.stderr)
                return 1
            time.sleep(1)
    try:
        print("\nTranscript\n----------")
        reference = run_demo(args.whatsapp)
        state = final_state(reference)
        print("\nFinal booking state\n-------------------")
        print(json.dumps(state, indent=2))
        problems = []
        if state["payment_status"] != "paid":
            problems.append(f"payment_status is {state['payment_status']}, not paid")
        if state["amount_paid"] != state["total_amount"]:
            problems.append("amount_paid differs from total_amount")
        successful = [p for p in state["payments"] if p[2] == "successful"]
        if len(successful) != 2 or state["travellers"] != 2:
            problems.append("expected two successful payments and two travellers")
        if problems:
            raise DemoFailed("; ".join(problems))
        print("\n[demo] OK: booked, deposit and balance paid with EcoCash through Paynow.")
        return 0
    except (DemoFailed, httpx.HTTPError) as exc:
        print(f"\n[demo] FAILED: {exc}", file=sys.stderr)
        return 1
    finally:
        if started is not None:
            os.killpg(started.pid, 15)
            started.wait(timeout=20)


if __name__ == "__main__":
    sys.exit(main())
