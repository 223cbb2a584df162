"""The emulated Paynow web checkout as a payer sees it: choose a method, enter a card, pay.

Pure functions: card checks, the test-card table, and the HTML pages. `server.py` routes the
requests and `state.py` changes the transaction; nothing here keeps state. A card number is
never stored or shown whole: only its brand and last four digits leave `read_card`.
"""

from __future__ import annotations

import html
from dataclasses import dataclass
from datetime import date
from enum import StrEnum
from typing import Any
from urllib.parse import quote

# Paynow names the Visa/Mastercard method `vmc` (Express Checkout docs, `method` field).
CARD_METHOD = "vmc"
WEB_MOBILE_METHODS = ("ecocash", "onemoney")
METHOD_LABELS = {CARD_METHOD: "Visa / Mastercard", "ecocash": "EcoCash", "onemoney": "OneMoney"}

NAME_MAX = 64
PAN_MIN, PAN_MAX = 12, 19  # ISO/IEC 7812: a card number has 12 to 19 digits


class CardOutcome(StrEnum):
    APPROVED = "approved"
    DECLINED = "declined"


@dataclass(frozen=True)
class TestCard:
    outcome: CardOutcome
    reason: str


# Our own convention (Paynow publishes no test cards; its test mode lets only the merchant fake
# a web payment): the issuers' well-known test numbers, with the meanings Stripe's testing page
# (https://docs.stripe.com/testing) gives them.
TEST_CARDS = {
    "4111111111111111": TestCard(CardOutcome.APPROVED, "Approved"),
    "4242424242424242": TestCard(CardOutcome.APPROVED, "Approved"),
    "5555555555554444": TestCard(CardOutcome.APPROVED, "Approved"),
    "4000000000000002": TestCard(CardOutcome.DECLINED, "Card declined by the issuer"),
    "4000000000009995": TestCard(CardOutcome.DECLINED, "Insufficient funds"),
}
NOT_A_TEST_CARD = TestCard(
    CardOutcome.DECLINED, "This merchant is in test mode: only test cards can pay"
)


@dataclass(frozen=True)
class Card:
    """A card that passed the form's checks; `number` stays in memory for one decision only."""

    number: str
    brand: str
    last4: str


class CardError(ValueError):
    """The form cannot be submitted as typed; `field` names the input to correct."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


def luhn_ok(digits: str) -> bool:
    """ISO/IEC 7812-1 check digit (the Luhn algorithm)."""
    total = 0
    for index, char in enumerate(reversed(digits)):
        value = int(char)
        if index % 2 == 1:
            value = value * 2 - 9 if value > 4 else value * 2
        total += value
    return total % 10 == 0


def card_brand(digits: str) -> str | None:
    """Visa (4…, 13/16/19 digits) or Mastercard (51-55 or 2221-2720, 16 digits); else None."""
    if digits.startswith("4") and len(digits) in (13, 16, 19):
        return "Visa"
    if len(digits) == 16 and (51 <= int(digits[:2]) <= 55 or 2221 <= int(digits[:4]) <= 2720):
        return "Mastercard"
    return None


def read_card(form: dict[str, str], *, today: date) -> Card:
    """Check the card form as a checkout page does; raise `CardError` for the first problem."""
    name = form.get("card_name", "").strip()
    if not name:
        raise CardError("card_name", "Enter the name on the card.")
    if len(name) > NAME_MAX:
        raise CardError("card_name", f"The name on the card is at most {NAME_MAX} characters.")
    digits = "".join(ch for ch in form.get("card_number", "") if ch not in " -")
    if not digits.isascii() or not digits.isdigit() or not PAN_MIN <= len(digits) <= PAN_MAX:
        raise CardError("card_number", "Enter the card number: 12 to 19 digits.")
    if not luhn_ok(digits):
        raise CardError("card_number", "This card number is not valid. Check it and try again.")
    brand = card_brand(digits)
    if brand is None:
        raise CardError("card_number", "Only Visa and Mastercard cards are accepted here.")
    _check_expiry(form.get("card_expiry", ""), today)
    cvv = form.get("card_cvv", "").strip()
    if not (len(cvv) == 3 and cvv.isascii() and cvv.isdigit()):
        raise CardError("card_cvv", "Enter the 3-digit security code from the back of the card.")
    return Card(number=digits, brand=brand, last4=digits[-4:])


def _check_expiry(text: str, today: date) -> None:
    month_text, _, year_text = text.replace(" ", "").partition("/")
    if not (month_text.isdigit() and year_text.isdigit() and len(year_text) in (2, 4)):
        raise CardError("card_expiry", "Enter the expiry date as MM/YY.")
    month, year = int(month_text), int(year_text)
    if len(year_text) == 2:
        year += 2000
    if not 1 <= month <= 12:
        raise CardError("card_expiry", "Enter the expiry date as MM/YY.")
    if (year, month) < (today.year, today.month):
        raise CardError("card_expiry", "This card has expired.")


def decide(card: Card, *, mode: str) -> TestCard:
    """Test mode: the test-card table, any other card declined. Live mode: every valid card
    is approved (the emulator has no issuer to ask)."""
    if mode == "live":
        return TestCard(CardOutcome.APPROVED, "Approved")
    return TEST_CARDS.get(card.number, NOT_A_TEST_CARD)


# -- pages ---------------------------------------------------------------------------------------

_STYLE = """
body { font-family: system-ui, -apple-system, sans-serif; margin: 0; background: #eef1f5;
  color: #1d2733; }
main { max-width: 26rem; margin: 0 auto; padding: 1rem; }
.brand { background: #0b3d91; color: #fff; padding: .9rem 1rem; font-weight: 700;
  font-size: 1.2rem; }
.card { background: #fff; border-radius: .75rem; padding: 1.1rem; margin-top: 1rem;
  box-shadow: 0 1px 3px rgba(0,0,0,.12); }
.amount { font-size: 1.6rem; font-weight: 700; margin: .2rem 0; }
.muted { color: #5b6775; font-size: .9rem; }
label { display: block; font-weight: 600; margin-top: .8rem; }
input { width: 100%; box-sizing: border-box; font-size: 1.05rem; padding: .6rem;
  border: 1px solid #b8c2cc; border-radius: .4rem; margin-top: .25rem; }
input[aria-invalid="true"] { border-color: #b42318; }
.row { display: flex; gap: .8rem; } .row > div { flex: 1; }
button, .method { display: block; width: 100%; box-sizing: border-box; font-size: 1.05rem;
  padding: .8rem; border-radius: .5rem; border: 0; margin-top: 1rem; text-align: center;
  text-decoration: none; cursor: pointer; }
.pay { background: #0b7a3e; color: #fff; font-weight: 700; }
.cancel { background: transparent; color: #b42318; border: 1px solid #e3b4b0; }
.method { background: #f5f7fa; color: #0b3d91; border: 1px solid #ccd5e0; font-weight: 600; }
.error { background: #fdecea; color: #b42318; padding: .6rem .8rem; border-radius: .4rem;
  margin-top: .8rem; }
.status { font-size: 1.25rem; font-weight: 700; }
"""


def _page(title: str, body: str) -> bytes:
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{html.escape(title)}</title><style>{_STYLE}</style></head>
<body><div class="brand">Paynow <span class="muted" style="color:#cfd8e6">(emulator)</span></div>
<main>{body}</main></body></html>""".encode()


def _summary(txn: dict[str, Any]) -> str:
    esc = html.escape
    info = f'<p class="muted">{esc(txn["additionalinfo"])}</p>' if txn["additionalinfo"] else ""
    return f"""<section class="card" aria-label="Payment summary">
<div class="muted">Amount due</div>
<div class="amount" id="amount">{esc(txn["amount"])}</div>
<div class="muted">Reference <b id="reference">{esc(txn["reference"])}</b></div>{info}
</section>"""


def _action(guid: str) -> str:
    return f"/Payment/ConfirmPayment/?guid={quote(guid, safe='')}"


def _cancel_form(guid: str) -> str:
    return f"""<form method="post" action="{html.escape(_action(guid))}">
<button class="cancel" name="action" value="cancel">Cancel payment</button></form>"""


def method_page(txn: dict[str, Any], guid: str) -> bytes:
    """Step 1: the payer picks how to pay, as on Paynow's checkout page."""
    links = "".join(
        f'<a class="method" href="{html.escape(_action(guid))}&amp;method={method}">'
        f"{html.escape(label)}</a>"
        for method, label in METHOD_LABELS.items()
    )
    body = f"""{_summary(txn)}
<section class="card"><h1 style="font-size:1.1rem;margin:0">How would you like to pay?</h1>
<nav aria-label="Payment methods">{links}</nav>{_cancel_form(guid)}</section>"""
    return _page("Paynow checkout", body)


def card_page(
    txn: dict[str, Any], guid: str, *, error: CardError | None = None, form: dict | None = None
) -> bytes:
    """Step 2 (card): name, number, expiry, security code."""
    esc = html.escape
    form = form or {}

    def field(name: str, label: str, **attrs: str) -> str:
        invalid = ' aria-invalid="true"' if error and error.field == name else ""
        extra = "".join(f' {key.replace("_", "-")}="{esc(value)}"' for key, value in attrs.items())
        value = "" if name in ("card_number", "card_cvv") else esc(form.get(name, ""))
        return (
            f'<label for="{name}">{esc(label)}</label>'
            f'<input id="{name}" name="{name}" value="{value}"{invalid}{extra}>'
        )

    alert = f'<div class="error" role="alert">{esc(str(error))}</div>' if error else ""
    name = field("card_name", "Name on card", autocomplete="cc-name", maxlength=str(NAME_MAX))
    number = field(
        "card_number", "Card number", inputmode="numeric", autocomplete="cc-number", maxlength="23"
    )
    expiry = field(
        "card_expiry",
        "Expiry date (MM/YY)",
        inputmode="numeric",
        autocomplete="cc-exp",
        placeholder="MM/YY",
        maxlength="7",
    )
    cvv = field(
        "card_cvv", "Security code (CVV)", inputmode="numeric", autocomplete="cc-csc", maxlength="4"
    )
    body = f"""{_summary(txn)}
<section class="card"><h1 style="font-size:1.1rem;margin:0">Pay by Visa / Mastercard</h1>{alert}
<form method="post" action="{esc(_action(guid))}" autocomplete="off">
<input type="hidden" name="method" value="{CARD_METHOD}">
{name}{number}<div class="row"><div>{expiry}</div><div>{cvv}</div></div>
<button class="pay" name="action" value="pay">Pay {esc(txn["amount"])}</button>
</form>{_cancel_form(guid)}
<p class="muted"><a href="{esc(_action(guid))}">Choose another way to pay</a></p></section>"""
    return _page("Paynow checkout: card", body)


def mobile_page(
    txn: dict[str, Any], guid: str, method: str, *, error: str = "", phone: str = ""
) -> bytes:
    """Step 2 (EcoCash/OneMoney): the wallet number that gets the prompt."""
    esc = html.escape
    label = METHOD_LABELS[method]
    alert = f'<div class="error" role="alert">{esc(error)}</div>' if error else ""
    invalid = ' aria-invalid="true"' if error else ""
    body = f"""{_summary(txn)}
<section class="card"><h1 style="font-size:1.1rem;margin:0">Pay with {esc(label)}</h1>{alert}
<form method="post" action="{esc(_action(guid))}">
<input type="hidden" name="method" value="{esc(method)}">
<label for="phone">{esc(label)} number</label>
<input id="phone" name="phone" inputmode="tel" value="{esc(phone)}"{invalid}>
<button class="pay" name="action" value="mobile">Send the prompt to my phone</button>
</form>{_cancel_form(guid)}
<p class="muted"><a href="{esc(_action(guid))}">Choose another way to pay</a></p></section>"""
    return _page(f"Paynow checkout: {label}", body)


def waiting_page(txn: dict[str, Any], guid: str) -> bytes:
    """After a mobile-money prompt: the page re-reads itself until the payer answers."""
    esc = html.escape
    body = f"""{_summary(txn)}
<section class="card" role="status"><p class="status">Approve the payment on your phone</p>
<p>{esc(txn["instructions"])}</p>
<p class="muted">This page updates by itself.</p>{_cancel_form(guid)}</section>"""
    page = _page("Paynow checkout: waiting", body)
    # `wait=1`: once the payer has answered, the page goes on to the merchant's returnurl.
    refresh = f'<meta http-equiv="refresh" content="2;url={esc(_action(guid))}&amp;wait=1">'
    return page.replace(b"<title>", refresh.encode() + b"<title>", 1)


def result_page(txn: dict[str, Any]) -> bytes:
    """A finished transaction (no return URL, or the payer came back to the link)."""
    esc = html.escape
    back = (
        f'<p><a href="{esc(txn["returnurl"])}">Return to the merchant</a></p>'
        if txn["returnurl"]
        else ""
    )
    reason = f"<p>{esc(txn['decline_reason'])}</p>" if txn.get("decline_reason") else ""
    body = f"""{_summary(txn)}
<section class="card" role="status"><p class="status">This payment is
<span id="status">{esc(txn["status"])}</span>.</p>{reason}{back}</section>"""
    return _page("Paynow checkout", body)
