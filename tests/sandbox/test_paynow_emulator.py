"""The Paynow emulator over HTTP: request checks, test numbers, status delivery, control API.

Hashes here are computed with hashlib directly, independent of both the emulator and our client.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import parse_qsl, urlencode

import httpx
import pytest

HTTP = httpx.Client(timeout=10)  # one client: a TLS context per call is slow
KEY = "3e9fed89-60e1-4ce5-ab6e-6b1eb2d4f977"
MERCHANT = "merchant@example.com"
REPO_ROOT = Path(__file__).resolve().parents[2]


def sha(fields, key: str = KEY) -> str:
    text = "".join(v for k, v in fields if k.lower() != "hash") + key.lower()
    return hashlib.sha512(text.encode()).hexdigest().upper()


def sign(fields, key: str = KEY) -> list[tuple[str, str]]:
    return [*fields, ("hash", sha(fields, key))]


def verified(body: bytes | str, key: str = KEY) -> list[tuple[str, str]]:
    """Parse a hashed Paynow message and assert its hash (hash must be the last field)."""
    text = body.decode() if isinstance(body, bytes) else body
    fields = parse_qsl(text, keep_blank_values=True, strict_parsing=True)
    assert fields[-1][0] == "hash", fields
    assert fields[-1][1] == sha(fields[:-1], key), fields
    return fields


def express_fields(**overrides: str) -> list[tuple[str, str]]:
    fields = {
        "id": "1201",
        "reference": "BK-2026-0042",
        "amount": "45.00",
        "additionalinfo": "Victoria Falls day tour",
        "returnurl": "http://127.0.0.1:9/return",
        "resulturl": "",
        "authemail": MERCHANT,
        "phone": "0779876543",
        "method": "ecocash",
        "merchanttrace": f"t-{time.monotonic_ns()}",
        "status": "Message",
    }
    fields.update(overrides)
    return list(fields.items())


def initiate(paynow_emulator, key: str = KEY, url: str | None = None, **overrides: str):
    """POST a signed express checkout; return the parsed reply fields."""
    body = urlencode(sign(express_fields(**overrides), key))
    response = HTTP.post(
        url or paynow_emulator.remote_url,
        content=body,
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert response.status_code == 200
    return parse_qsl(response.text, keep_blank_values=True)


def ok(paynow_emulator, **overrides: str) -> dict[str, str]:
    fields = initiate(paynow_emulator, **overrides)
    assert dict(fields)["status"] == "Ok", fields
    return dict(verified(urlencode(fields)))


def control(paynow_emulator, method: str, path: str, **kwargs) -> httpx.Response:
    return HTTP.request(method, f"{paynow_emulator.control_url}/{path}", **kwargs)


def transaction(paynow_emulator, paynow_reference: str) -> dict:
    response = control(paynow_emulator, "GET", f"transactions/{paynow_reference}")
    assert response.status_code == 200
    return response.json()


def poll(url: str) -> dict[str, str]:
    return dict(verified(HTTP.post(url).content))


# --- request verification ------------------------------------------------------------------------


def test_ok_reply_is_hashed_with_hash_last(paynow_emulator):
    fields = initiate(paynow_emulator)
    assert [k for k, _ in fields] == [
        "status",
        "pollurl",
        "paynowreference",
        "instructions",
        "hash",
    ]
    verified(urlencode(fields))
    reply = dict(fields)
    assert reply["pollurl"].startswith(f"{paynow_emulator.base_url}/Interface/CheckPayment/?guid=")


def test_integration_key_is_lower_cased(make_paynow_emulator):
    """Paynow shows keys in upper or lower case; the hash always uses the lower-cased key."""
    shouting = make_paynow_emulator(integration_key=KEY.upper())
    reply = ok(shouting)  # signed by us with the lower-case key, verified with sha(KEY)
    assert poll(reply["pollurl"])["status"] == "Sent"


def test_unknown_id(paynow_emulator):
    assert initiate(paynow_emulator, id="4242") == [("status", "Error"), ("error", "Invalid Id.")]


def test_wrong_hash_names_the_start_of_the_right_one(paynow_emulator):
    fields = express_fields(merchanttrace="fixed-trace")
    reply = dict(initiate(paynow_emulator, key="wrong-key", merchanttrace="fixed-trace"))
    assert set(reply) == {"status", "error"}  # errors carry no hash
    assert reply["status"] == "Error"
    prefix = "Invalid Hash.  Hash should start with: "  # two spaces, as Paynow
    assert reply["error"].startswith(prefix)
    hint = reply["error"][len(prefix) :]
    assert len(hint) >= 4 and sha(fields).startswith(hint)


def test_hash_over_url_encoded_values_is_refused(paynow_emulator):
    """Hashing quote_plus()ed values while sending raw ones fails, as at Paynow."""
    from urllib.parse import quote_plus

    fields = express_fields(reference="BK 2026/0042")
    wrong = [*fields, ("hash", sha([(k, quote_plus(v)) for k, v in fields]))]
    response = HTTP.post(
        paynow_emulator.remote_url,
        content=urlencode(wrong),
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert dict(parse_qsl(response.text))["error"].startswith("Invalid Hash")
    assert ok(paynow_emulator, reference="BK 2026/0042")["status"] == "Ok"  # raw values are fine


@pytest.mark.parametrize("amount", ["0.00", "0", "-5.00", "abc", "10.001", "$10.00", "", "1e3"])
def test_bad_amount(paynow_emulator, amount):
    assert dict(initiate(paynow_emulator, amount=amount)) == {
        "status": "Error",
        "error": "Invalid amount field",
    }


@pytest.mark.parametrize("amount", ["10", "10.0", "10.50"])
def test_amount_forms_paynow_accepts(paynow_emulator, amount):
    reply = ok(paynow_emulator, amount=amount)
    assert (
        transaction(paynow_emulator, reply["paynowreference"])["amount"] == f"{float(amount):.2f}"
    )


def test_test_mode_requires_the_merchant_login_email(paynow_emulator, make_paynow_emulator):
    reply = dict(initiate(paynow_emulator, authemail="traveller@example.com"))
    assert reply["status"] == "Error" and "authemail" in reply["error"]
    assert dict(initiate(paynow_emulator, authemail=""))["status"] == "Error"
    live = make_paynow_emulator(mode="live")
    assert ok(live, authemail="traveller@example.com")["status"] == "Ok"


@pytest.mark.parametrize(
    ("overrides", "error"),
    [
        ({"method": "bitcoin"}, "Invalid method field"),
        ({"phone": "12345"}, "Invalid mobile number"),
        ({"status": "Hello"}, "Invalid status field"),
        ({"reference": ""}, "Invalid reference field"),
        ({"merchanttrace": "x" * 33}, "Invalid merchanttrace field"),
    ],
)
def test_other_rejections(paynow_emulator, overrides, error):
    reply = dict(initiate(paynow_emulator, **overrides))
    assert reply["status"] == "Error" and reply["error"].startswith(error)


def test_malformed_body(paynow_emulator):
    response = HTTP.post(paynow_emulator.remote_url, content=b"not a form")
    assert dict(parse_qsl(response.text)) == {"status": "Error", "error": "Invalid request"}


def test_duplicate_merchant_trace_returns_the_same_transaction(paynow_emulator):
    first = ok(paynow_emulator, merchanttrace="pay-1-attempt-1")
    second = ok(paynow_emulator, merchanttrace="pay-1-attempt-1", amount="99.00")
    assert second["paynowreference"] == first["paynowreference"]
    assert second["pollurl"] == first["pollurl"]
    listed = control(paynow_emulator, "GET", "transactions").json()["transactions"]
    assert len(listed) == 1 and listed[0]["amount"] == "45.00"


def test_concurrent_initiations_are_safe(paynow_emulator):
    with ThreadPoolExecutor(max_workers=12) as pool:
        distinct = list(pool.map(lambda i: ok(paynow_emulator, merchanttrace=f"c-{i}"), range(24)))
        same = list(pool.map(lambda i: ok(paynow_emulator, merchanttrace="same"), range(12)))
    assert len({r["paynowreference"] for r in distinct}) == 24
    assert len({r["paynowreference"] for r in same}) == 1
    assert len(control(paynow_emulator, "GET", "transactions").json()["transactions"]) == 25


# --- test numbers --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("phone", "status", "scaled_delay"),
    [
        ("0771111111", "Paid", 0.05),
        ("+263772222222", "Paid", 0.3),
        ("263773333333", "Cancelled", 0.3),
    ],
)
def test_test_numbers_deliver_after_their_delay(
    paynow_emulator, ipn_receiver, phone, status, scaled_delay
):
    started = time.monotonic()
    reply = ok(paynow_emulator, phone=phone, resulturl=ipn_receiver.url)
    (body,) = ipn_receiver.wait_for(1)
    elapsed = time.monotonic() - started
    assert scaled_delay * 0.8 <= elapsed < scaled_delay + 2
    fields = verified(body)
    assert [k for k, _ in fields] == [
        "reference",
        "amount",
        "paynowreference",
        "pollurl",
        "status",
        "hash",
    ]
    update = dict(fields)
    assert update["status"] == status
    assert update["paynowreference"] == reply["paynowreference"]
    assert update["amount"] == "45.00" and update["reference"] == "BK-2026-0042"
    assert poll(reply["pollurl"])["status"] == status


def test_insufficient_balance_number(paynow_emulator):
    assert dict(initiate(paynow_emulator, phone="0774444444")) == {
        "status": "Error",
        "error": "Insufficient balance",
    }
    assert control(paynow_emulator, "GET", "transactions").json()["transactions"] == []


def test_test_numbers_mean_nothing_in_live_mode(make_paynow_emulator):
    live = make_paynow_emulator(mode="live")
    reply = ok(live, phone="0771111111")
    time.sleep(0.15)  # three times the scaled test-mode delay
    assert poll(reply["pollurl"])["status"] == "Sent"
    assert ok(live, phone="0774444444")["status"] == "Ok"


def test_time_scale_applies(paynow_emulator, ipn_receiver):
    control(paynow_emulator, "POST", "time-scale", json={"time_scale": 0.002})
    assert control(paynow_emulator, "GET", "config").json()["time_scale"] == 0.002
    started = time.monotonic()
    ok(paynow_emulator, phone="0772222222", resulturl=ipn_receiver.url)
    ipn_receiver.wait_for(1)
    assert time.monotonic() - started < 0.25  # 30 s * 0.002 = 0.06 s, not 0.3 s


# --- innbucks, poll, trace, web ------------------------------------------------------------------


def test_innbucks_reply(paynow_emulator):
    reply = ok(paynow_emulator, method="innbucks")
    assert reply["authorizationcode"].isdigit() and len(reply["authorizationcode"]) >= 6
    day, month, rest = reply["authorizationexpires"].split("-")
    assert len(day) == 2 and month in {"Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug"} | {
        "Sep",
        "Oct",
        "Nov",
        "Dec",
    }
    year, clock = rest.split(" ")
    assert len(year) == 4 and len(clock) == 5 and clock[2] == ":"
    prompt = control(paynow_emulator, "GET", "prompts", params={"phone": "0779876543"}).json()
    assert prompt["prompts"][0]["authorizationcode"] == reply["authorizationcode"]


def test_poll_unknown_guid(paynow_emulator):
    response = HTTP.post(f"{paynow_emulator.base_url}/Interface/CheckPayment/?guid=nope")
    assert dict(parse_qsl(response.text)) == {"status": "Error", "error": "Invalid poll url"}


def trace(
    paynow_emulator, merchant_trace: str, key: str = KEY, integration_id: str = "1201"
) -> list[tuple[str, str]]:
    fields = [("id", integration_id), ("merchanttrace", merchant_trace), ("status", "Message")]
    body = urlencode(sign(fields, key))
    response = HTTP.post(
        paynow_emulator.trace_url,
        content=body,
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    return parse_qsl(response.text, keep_blank_values=True)


def test_trace_endpoint(paynow_emulator):
    reply = ok(paynow_emulator, merchanttrace="pay-3-attempt-1")
    found = dict(verified(urlencode(trace(paynow_emulator, "pay-3-attempt-1"))))
    assert found["paynowreference"] == reply["paynowreference"]
    assert found["status"] == "Sent"
    assert verified(urlencode(trace(paynow_emulator, "pay-3-attempt-2"))) == [
        ("status", "NotFound"),
        ("hash", sha([("status", "NotFound")])),
    ]
    refused = dict(trace(paynow_emulator, "pay-3-attempt-1", key="wrong"))
    assert refused["status"] == "Error" and "hash" not in refused


def test_trace_with_a_wrong_key_or_an_unknown_id_is_an_error_not_a_not_found(paynow_emulator):
    """What `paynow_check` relies on: Paynow checks the id, then our hash, before it looks for
    the trace, and answers both failures with an unhashed Error (sources: README, "Rules and
    their sources"), never with NotFound."""
    fields = [("id", "1201"), ("merchanttrace", "check-never-used"), ("status", "Message")]
    expected = sha(fields)
    assert trace(paynow_emulator, "check-never-used", key="not-the-key") == [
        ("status", "Error"),
        ("error", f"Invalid Hash.  Hash should start with: {expected[:6]}"),
    ]
    assert trace(paynow_emulator, "check-never-used", integration_id="4242") == [
        ("status", "Error"),
        ("error", "Invalid Id."),
    ]
    # The right id and key: a NotFound hashed with the key, which proves both.
    assert trace(paynow_emulator, "check-never-used") == [
        ("status", "NotFound"),
        ("hash", sha([("status", "NotFound")])),
    ]


RETURN_URL = "https://safari.example.com/crm-api/paynow/return/?reference=BK-2026-0042"
APPROVED_VISA = {
    "card_name": "Tendai Moyo",
    "card_number": "4111 1111 1111 1111",
    "card_expiry": "12/34",
    "card_cvv": "123",
}


def web_checkout(paynow_emulator, ipn_receiver, **overrides: str) -> dict[str, str]:
    """Start a signed web checkout (initiatetransaction); the verified reply."""
    fields = {
        "id": "1201",
        "reference": "BK-2026-0042",
        "amount": "30.00",
        "additionalinfo": "Sunset cruise",
        "returnurl": RETURN_URL,
        "resulturl": ipn_receiver.url,
        "authemail": "",
        "status": "Message",
    }
    fields.update(overrides)
    response = HTTP.post(
        paynow_emulator.initiate_url,
        content=urlencode(sign(list(fields.items()))),
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert [k for k, _ in parse_qsl(response.text)][:2] == ["status", "browserurl"]
    return dict(verified(response.content))


def pay_by_card(browser_url: str, **card: str) -> httpx.Response:
    return HTTP.post(browser_url, data={"action": "pay", "method": "vmc", **APPROVED_VISA, **card})


def test_web_checkout_page_offers_methods_and_escapes(paynow_emulator, ipn_receiver):
    reply = web_checkout(paynow_emulator, ipn_receiver, reference="<script>alert(1)</script>")
    page = HTTP.get(reply["browserurl"])
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert "<script>alert(1)" not in page.text and "&lt;script&gt;" in page.text
    for method in ("Visa / Mastercard", "EcoCash", "OneMoney"):
        assert method in page.text
    card_form = HTTP.get(reply["browserurl"] + "&method=vmc").text
    for label in ("Name on card", "Card number", "Expiry date (MM/YY)", "Security code (CVV)"):
        assert f">{label}</label>" in card_form
    assert "Pay 30.00" in card_form
    assert poll(reply["pollurl"])["status"] == "Created"


def test_cancel_on_the_page_is_cancelled_and_returns_to_the_merchant(paynow_emulator, ipn_receiver):
    reply = web_checkout(paynow_emulator, ipn_receiver)
    answer = HTTP.post(reply["browserurl"], data={"action": "cancel"})
    assert answer.status_code == 303 and answer.headers["location"] == RETURN_URL
    assert dict(verified(ipn_receiver.wait_for(1)[0]))["status"] == "Cancelled"
    assert "Cancelled" in HTTP.get(reply["browserurl"]).text
    # The old emulator's "decline" button still means the payer cancelled.
    other = web_checkout(paynow_emulator, ipn_receiver, reference="BK-2026-0043")
    assert HTTP.post(other["browserurl"], data={"action": "decline"}).status_code == 303
    assert poll(other["pollurl"])["status"] == "Cancelled"


@pytest.mark.parametrize(
    ("number", "brand"),
    [
        ("4111 1111 1111 1111", "Visa"),
        ("4242424242424242", "Visa"),
        ("5555-5555-5555-4444", "Mastercard"),
    ],
)
def test_test_card_pays_posts_a_signed_update_and_returns(
    paynow_emulator, ipn_receiver, number, brand
):
    reply = web_checkout(paynow_emulator, ipn_receiver)
    answer = pay_by_card(reply["browserurl"], card_number=number)
    assert answer.status_code == 303
    assert answer.headers["location"] == RETURN_URL
    (body,) = ipn_receiver.wait_for(1)
    update = verified(body)  # hashed with the integration key, hash last
    assert [k for k, _ in update] == [
        "reference", "amount", "paynowreference", "pollurl", "status", "hash",
    ]  # fmt: skip
    assert dict(update)["status"] == "Paid" and dict(update)["amount"] == "30.00"
    assert dict(update)["paynowreference"] == reply["paynowreference"]
    assert poll(reply["pollurl"])["status"] == "Paid"
    txn = transaction(paynow_emulator, reply["paynowreference"])
    digits = number.replace(" ", "").replace("-", "")
    assert txn["method"] == "vmc" and txn["card"] == {"brand": brand, "last4": digits[-4:]}
    assert txn["history"][-1] == {**txn["history"][-1], "status": "Paid", "source": "browser"}
    assert digits not in json.dumps(txn)  # never the whole card number
    assert [d["outcome"] for d in txn["deliveries"]] == ["delivered"]


@pytest.mark.parametrize(
    ("number", "reason"),
    [
        ("4000 0000 0000 0002", "Card declined by the issuer"),
        ("4000 0000 0000 9995", "Insufficient funds"),
        ("4012 8888 8888 1881", "only test cards can pay"),  # valid, but not a test card
    ],
)
def test_declined_card_fails_and_returns(paynow_emulator, ipn_receiver, number, reason):
    reply = web_checkout(paynow_emulator, ipn_receiver)
    answer = pay_by_card(reply["browserurl"], card_number=number)
    assert answer.status_code == 303 and answer.headers["location"] == RETURN_URL
    assert dict(verified(ipn_receiver.wait_for(1)[0]))["status"] == "Failed"
    assert poll(reply["pollurl"])["status"] == "Failed"
    txn = transaction(paynow_emulator, reply["paynowreference"])
    assert reason in txn["decline_reason"]
    assert reason in HTTP.get(reply["browserurl"]).text
    again = pay_by_card(reply["browserurl"])  # a finished payment cannot be paid again
    assert again.status_code == 409 and "Failed" in again.text


def test_live_mode_approves_any_valid_card(make_paynow_emulator, ipn_receiver):
    live = make_paynow_emulator(mode="live")
    reply = web_checkout(live, ipn_receiver)
    assert pay_by_card(reply["browserurl"], card_number="4012888888881881").status_code == 303
    assert poll(reply["pollurl"])["status"] == "Paid"


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("card_number", "4111 1111 1111 1112", "not valid"),  # Luhn check digit wrong
        ("card_number", "4111 1111", "12 to 19 digits"),
        ("card_number", "4111 1111 1111 111x", "12 to 19 digits"),
        ("card_number", "٤١١١١١١١١١١١١١١١", "12 to 19 digits"),  # Arabic-Indic digits
        ("card_number", "3782 822463 10005", "Only Visa and Mastercard"),  # American Express
        ("card_expiry", "01/20", "expired"),
        ("card_expiry", "13/30", "MM/YY"),
        ("card_expiry", "1230", "MM/YY"),
        ("card_cvv", "12", "3-digit"),
        ("card_cvv", "12a", "3-digit"),
        ("card_name", "  ", "name on the card"),
        ("card_name", "N" * 65, "at most 64"),
    ],
)
def test_bad_card_details_are_refused_on_the_page(
    paynow_emulator, ipn_receiver, field, value, message
):
    reply = web_checkout(paynow_emulator, ipn_receiver)
    page = pay_by_card(reply["browserurl"], **{field: value})
    assert page.status_code == 422
    assert message in page.text
    assert f'id="{field}" name="{field}" value="' in page.text
    assert 'aria-invalid="true"' in page.text
    assert "4111 1111 1111 1111" not in page.text  # the number is not echoed back
    assert poll(reply["pollurl"])["status"] == "Created"  # nothing decided, nothing sent
    time.sleep(0.05)
    assert ipn_receiver.received() == []
    # The payer corrects the form and pays.
    assert pay_by_card(reply["browserurl"]).status_code == 303
    assert poll(reply["pollurl"])["status"] == "Paid"


def test_card_status_update_is_retried_until_the_merchant_answers_2xx(
    paynow_emulator, ipn_receiver, paynow_wait_until
):
    ipn_receiver.replies = [503]
    reply = web_checkout(paynow_emulator, ipn_receiver)
    assert pay_by_card(reply["browserurl"]).status_code == 303
    first, second = ipn_receiver.wait_for(2)
    assert first == second and dict(verified(second))["status"] == "Paid"
    txn = paynow_wait_until(
        lambda: (
            len((t := transaction(paynow_emulator, reply["paynowreference"]))["deliveries"]) == 2
            and t
        )
    )
    assert [(d["status_code"], d["outcome"]) for d in txn["deliveries"]] == [
        (503, "failed"),
        (200, "delivered"),
    ]


def test_web_checkout_by_ecocash_test_number(paynow_emulator, ipn_receiver, paynow_wait_until):
    reply = web_checkout(paynow_emulator, ipn_receiver)
    browser = reply["browserurl"]
    assert "EcoCash number" in HTTP.get(browser + "&method=ecocash").text
    sent = HTTP.post(browser, data={"action": "mobile", "method": "ecocash", "phone": "0771111111"})
    assert sent.status_code == 303 and sent.headers["location"].endswith("&wait=1")
    waiting = HTTP.get(browser + "&wait=1")
    assert "Approve the payment on your phone" in waiting.text
    assert 'http-equiv="refresh"' in waiting.text
    assert dict(verified(ipn_receiver.wait_for(1)[0]))["status"] == "Paid"
    back = HTTP.get(browser + "&wait=1")
    assert back.status_code == 303 and back.headers["location"] == RETURN_URL
    txn = transaction(paynow_emulator, reply["paynowreference"])
    assert (txn["method"], txn["phone"]) == ("ecocash", "0771111111")


def test_web_checkout_by_mobile_money_prompts_the_phone(paynow_emulator, ipn_receiver):
    reply = web_checkout(paynow_emulator, ipn_receiver)
    browser = reply["browserurl"]
    refused = HTTP.post(
        browser, data={"action": "mobile", "method": "onemoney", "phone": "0774444444"}
    )
    assert refused.status_code == 422 and "Insufficient balance" in refused.text
    bad = HTTP.post(browser, data={"action": "mobile", "method": "onemoney", "phone": "12345"})
    assert bad.status_code == 422 and "Invalid mobile number" in bad.text
    assert poll(reply["pollurl"])["status"] == "Created"
    HTTP.post(browser, data={"action": "mobile", "method": "onemoney", "phone": "0712345678"})
    prompts = control(paynow_emulator, "GET", "prompts", params={"phone": "0712345678"}).json()
    assert [p["paynowreference"] for p in prompts["prompts"]] == [reply["paynowreference"]]
    assert pay_by_card(browser).status_code == 409  # the prompt is out: no card now
    control(paynow_emulator, "POST", f"transactions/{reply['paynowreference']}/approve")
    assert dict(verified(ipn_receiver.wait_for(1)[0]))["status"] == "Paid"


def test_checkout_page_for_an_unknown_guid(paynow_emulator):
    assert (
        HTTP.get(f"{paynow_emulator.base_url}/Payment/ConfirmPayment/?guid=nope").status_code == 404
    )
    answer = HTTP.post(
        f"{paynow_emulator.base_url}/Payment/ConfirmPayment/?guid=nope", data={"action": "cancel"}
    )
    assert answer.status_code == 404


def test_unknown_page_action(paynow_emulator, ipn_receiver):
    reply = web_checkout(paynow_emulator, ipn_receiver)
    assert HTTP.post(reply["browserurl"], data={"action": "approve"}).status_code == 400
    assert poll(reply["pollurl"])["status"] == "Created"


# --- delivery of status updates ------------------------------------------------------------------


def test_retries_after_500_then_succeeds(paynow_emulator, ipn_receiver, paynow_wait_until):
    ipn_receiver.replies = [500, 502]
    reply = ok(paynow_emulator, phone="0771111111", resulturl=ipn_receiver.url)
    bodies = ipn_receiver.wait_for(3)
    assert len({*bodies}) == 1  # the same message each time
    txn = paynow_wait_until(
        lambda: (
            (t := transaction(paynow_emulator, reply["paynowreference"]))["deliveries"][-1:]
            and t["deliveries"][-1]["outcome"] == "delivered"
            and t
        )
    )
    attempts = txn["deliveries"]
    assert [a["status_code"] for a in attempts] == [500, 502, 200]
    assert [a["attempt"] for a in attempts] == [1, 2, 3]
    assert [a["outcome"] for a in attempts] == ["failed", "failed", "delivered"]
    assert all(a["at"] for a in attempts)
    time.sleep(0.1)
    assert len(ipn_receiver.received()) == 3  # no more after success


def test_gives_up_after_the_attempt_limit(make_paynow_emulator, ipn_receiver, paynow_wait_until):
    paynow_emulator = make_paynow_emulator(delivery_attempts=3, time_scale=0.001)
    ipn_receiver.replies = [500] * 10
    reply = ok(paynow_emulator, phone="0771111111", resulturl=ipn_receiver.url)
    txn = paynow_wait_until(
        lambda: (
            (t := transaction(paynow_emulator, reply["paynowreference"]))["deliveries"]
            and t["deliveries"][-1]["outcome"] == "gave-up"
            and t
        )
    )
    assert len(txn["deliveries"]) == 3
    time.sleep(0.1)
    assert len(ipn_receiver.received()) == 3


def test_retries_after_connection_refused(paynow_emulator, paynow_wait_until):
    reply = ok(paynow_emulator, phone="0771111111", resulturl="http://127.0.0.1:9/ipn")
    txn = paynow_wait_until(
        lambda: (
            len((t := transaction(paynow_emulator, reply["paynowreference"]))["deliveries"]) >= 2
            and t
        )
    )
    assert txn["deliveries"][0]["status_code"] is None
    assert "ConnectError" in txn["deliveries"][0]["error"]


def test_drop_next_update_still_changes_state(paynow_emulator, ipn_receiver):
    faults = control(paynow_emulator, "POST", "faults/drop-updates", json={"count": 1}).json()
    assert faults["drop_updates"] == 1
    reply = ok(paynow_emulator, phone="0771111111", resulturl=ipn_receiver.url)
    time.sleep(0.2)
    assert ipn_receiver.received() == []
    assert poll(reply["pollurl"])["status"] == "Paid"  # the lost IPN; poll tells the truth
    txn = transaction(paynow_emulator, reply["paynowreference"])
    assert [d["outcome"] for d in txn["deliveries"]] == ["dropped"]
    assert control(paynow_emulator, "GET", "faults").json()["drop_updates"] == 0
    # The next update is delivered again.
    second = ok(paynow_emulator, phone="0771111111", resulturl=ipn_receiver.url)
    assert (
        dict(verified(ipn_receiver.wait_for(1)[0]))["paynowreference"] == second["paynowreference"]
    )


def test_duplicate_next_update(paynow_emulator, ipn_receiver):
    control(paynow_emulator, "POST", "faults/duplicate-updates", json={"count": 1, "copies": 3})
    ok(paynow_emulator, phone="0771111111", resulturl=ipn_receiver.url)
    bodies = ipn_receiver.wait_for(3)
    time.sleep(0.1)
    assert len(ipn_receiver.received()) == 3
    assert len(set(bodies)) == 1
    assert dict(verified(bodies[0]))["status"] == "Paid"


def test_out_of_order_push_leaves_state_alone(paynow_emulator, ipn_receiver):
    reply = ok(paynow_emulator, resulturl=ipn_receiver.url)
    ref = reply["paynowreference"]
    assert control(paynow_emulator, "POST", f"transactions/{ref}/approve").status_code == 200
    ipn_receiver.wait_for(1)
    pushed = control(paynow_emulator, "POST", f"transactions/{ref}/status", json={"status": "Sent"})
    assert pushed.status_code == 200
    bodies = ipn_receiver.wait_for(2)
    assert [dict(verified(b))["status"] for b in bodies] == ["Paid", "Sent"]
    assert poll(reply["pollurl"])["status"] == "Paid"


def test_push_with_state_amount_and_extra_fields(paynow_emulator, ipn_receiver):
    reply = ok(paynow_emulator, resulturl=ipn_receiver.url)
    ref = reply["paynowreference"]
    response = control(
        paynow_emulator,
        "POST",
        f"transactions/{ref}/status",
        json={
            "status": "Disputed",
            "update_state": True,
            "amount": "4.50",
            "extra_fields": {"token": "tok_1"},
        },
    )
    assert response.json()["status"] == "Disputed"
    fields = verified(ipn_receiver.wait_for(1)[0])
    assert fields[-2] == ("token", "tok_1")
    assert dict(fields)["amount"] == "4.50" and dict(fields)["status"] == "Disputed"
    assert poll(reply["pollurl"])["status"] == "Disputed"


# --- control API ---------------------------------------------------------------------------------


def test_approve_and_decline(paynow_emulator, ipn_receiver):
    first = ok(paynow_emulator, resulturl=ipn_receiver.url)
    second = ok(paynow_emulator, resulturl=ipn_receiver.url, phone="0712345678")
    approved = control(paynow_emulator, "POST", f"transactions/{first['paynowreference']}/approve")
    declined = control(paynow_emulator, "POST", f"transactions/{second['paynowreference']}/decline")
    assert approved.json()["status"] == "Paid" and declined.json()["status"] == "Cancelled"
    assert poll(first["pollurl"])["status"] == "Paid"
    assert poll(second["pollurl"])["status"] == "Cancelled"
    statuses = {dict(verified(b))["status"] for b in ipn_receiver.wait_for(2)}
    assert statuses == {"Paid", "Cancelled"}
    again = control(paynow_emulator, "POST", f"transactions/{first['paynowreference']}/decline")
    assert again.status_code == 409
    third = ok(paynow_emulator, resulturl=ipn_receiver.url, phone="0712345679")
    failed = control(paynow_emulator, "POST", f"transactions/{third['paynowreference']}/fail")
    assert failed.json()["status"] == "Failed" and poll(third["pollurl"])["status"] == "Failed"
    assert control(paynow_emulator, "POST", "transactions/123/approve").status_code == 404


def test_list_filters_and_get(paynow_emulator):
    a = ok(paynow_emulator, reference="BK-A", phone="0771234567")
    ok(paynow_emulator, reference="BK-B", phone="0781234567")
    by_reference = control(
        paynow_emulator, "GET", "transactions", params={"reference": "BK-A"}
    ).json()
    assert [t["paynowreference"] for t in by_reference["transactions"]] == [a["paynowreference"]]
    for form in ("0771234567", "263771234567", "+263771234567"):
        by_phone = control(paynow_emulator, "GET", "transactions", params={"phone": form}).json()
        assert [t["reference"] for t in by_phone["transactions"]] == ["BK-A"], form
    one = transaction(paynow_emulator, a["paynowreference"])
    assert one["status"] == "Sent" and one["method"] == "ecocash"
    assert one["history"][0]["status"] == "Sent"
    assert control(paynow_emulator, "GET", "transactions/999").status_code == 404


def test_prompts_for_a_phone(paynow_emulator):
    reply = ok(paynow_emulator, phone="+263771234567")
    ok(paynow_emulator, phone="0781234567")
    prompts = control(paynow_emulator, "GET", "prompts", params={"phone": "0771234567"}).json()[
        "prompts"
    ]
    assert [p["paynowreference"] for p in prompts] == [reply["paynowreference"]]
    assert prompts[0]["amount"] == "45.00" and prompts[0]["instructions"]
    control(paynow_emulator, "POST", f"transactions/{reply['paynowreference']}/approve")
    assert control(paynow_emulator, "GET", "prompts", params={"phone": "0771234567"}).json() == {
        "prompts": []
    }


def test_unavailable_503_for_n_calls(paynow_emulator):
    control(paynow_emulator, "POST", "faults/unavailable", json={"count": 2, "mode": "503"})
    body = urlencode(sign(express_fields()))
    codes = [HTTP.post(paynow_emulator.remote_url, content=body).status_code for _ in range(3)]
    assert codes == [503, 503, 200]


def test_unavailable_hang(paynow_emulator):
    control(
        paynow_emulator,
        "POST",
        "faults/unavailable",
        json={"count": 1, "mode": "hang", "hang_seconds": 2, "creates_transaction": False},
    )
    with pytest.raises(httpx.ReadTimeout):
        HTTP.post(
            paynow_emulator.remote_url,
            content=urlencode(sign(express_fields())),
            timeout=httpx.Timeout(2.0, read=0.2),
        )
    assert control(paynow_emulator, "GET", "transactions").json()["transactions"] == []


def test_bad_control_requests(paynow_emulator):
    assert (
        control(paynow_emulator, "POST", "faults/unavailable", json={"mode": "x"}).status_code
        == 400
    )
    assert (
        control(paynow_emulator, "POST", "faults/drop-updates", json={"count": -1}).status_code
        == 400
    )
    assert control(paynow_emulator, "POST", "time-scale", content=b"{").status_code == 400
    assert control(paynow_emulator, "GET", "nothing-here").status_code == 404


def test_reset_forgets_everything_and_cancels_timers(paynow_emulator, ipn_receiver):
    control(paynow_emulator, "POST", "time-scale", json={"time_scale": 0.05})
    ok(paynow_emulator, phone="0771111111", resulturl=ipn_receiver.url)  # Paid due in 0.25 s
    control(paynow_emulator, "POST", "faults/drop-updates", json={"count": 5})
    assert control(paynow_emulator, "POST", "reset").json() == {"reset": True}
    assert control(paynow_emulator, "GET", "transactions").json()["transactions"] == []
    assert control(paynow_emulator, "GET", "faults").json()["drop_updates"] == 0
    time.sleep(0.4)
    assert ipn_receiver.received() == []


# --- embedding and CLI ---------------------------------------------------------------------------


def test_context_manager_frees_the_port():
    from sandbox.paynow import PaynowEmulator

    with PaynowEmulator(integration_id="1", integration_key="k", auth_email=MERCHANT) as pn:
        url = pn.base_url
        assert HTTP.get(f"{url}/_control/config").json()["mode"] == "test"
    with pytest.raises(httpx.ConnectError):
        HTTP.get(f"{url}/_control/config", timeout=1)


def test_cli_runs_from_env_and_flags():
    env = {
        **os.environ,
        "SANDBOX_PAYNOW_INTEGRATION_ID": "777",
        "SANDBOX_PAYNOW_INTEGRATION_KEY": "cli-key",
        "SANDBOX_PAYNOW_TIME_SCALE": "0.5",
    }
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "sandbox.paynow",
            "--port",
            "0",
            "--auth-email",
            MERCHANT,
            "--mode",
            "live",
        ],
        cwd=REPO_ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        first_line = {}

        def read() -> None:
            first_line["text"] = process.stdout.readline()

        reader = threading.Thread(target=read, daemon=True)
        reader.start()
        reader.join(timeout=15)
        line = first_line.get("text", "")
        assert "Paynow emulator (live mode) on http://127.0.0.1:" in line, process.stderr
        base_url = line.rsplit(" ", 1)[1].strip()
        config = HTTP.get(f"{base_url}/_control/config").json()
        assert config["mode"] == "live" and config["time_scale"] == 0.5
        assert config["integrations"] == [{"integration_id": "777", "auth_email": MERCHANT}]
    finally:
        process.terminate()
        process.wait(timeout=10)


def test_cli_refuses_missing_credentials():
    env = {k: v for k, v in os.environ.items() if not k.startswith("SANDBOX_PAYNOW_")}
    result = subprocess.run(
        [sys.executable, "-m", "sandbox.paynow", "--port", "0"],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 2
    assert "--integration-id" in result.stderr
