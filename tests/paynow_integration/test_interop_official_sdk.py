"""Interop: Paynow's official Python SDK talks to our emulator, and our client checks the result.

If the emulator's hashing or reply format drifted from Paynow's, the official SDK (which verifies
initiation replies itself) would raise HashMismatchException here.
"""

from __future__ import annotations

from decimal import Decimal

import httpx
import pytest
from paynow import Paynow

from paynow_integration.sdk import parse_form

HTTP = httpx.Client(timeout=10)  # one client: a TLS context per call is slow
RETURN_URL = "https://safari.example.com/crm-api/paynow/return/"


@pytest.fixture
def official(emulator, receiver):
    client = Paynow("1201", "3e9fed89-60e1-4ce5-ab6e-6b1eb2d4f977", RETURN_URL, receiver.url)
    # The official SDK keeps its endpoints as class attributes; point this instance at ours.
    client.URL_INITIATE_MOBILE_TRANSACTION = emulator.remote_url
    client.URL_INITIATE_TRANSACTION = emulator.initiate_url
    return client


def test_official_mobile_payment_round_trip(official, emulator, receiver, sdk, merchant_email):
    payment = official.create_payment("BK-2026-0099", merchant_email)
    payment.add("Victoria Falls day tour", 45.00)

    response = official.send_mobile(payment, "0771111111", "ecocash")

    assert response.success, response.data
    assert response.status == "Ok"
    assert response.poll_url.startswith(f"{emulator.base_url}/Interface/CheckPayment/")
    assert response.instruction
    # Our client agrees with the official one about the emulator's reply.
    assert sdk.verify(list(response.data.items()))

    # The emulator's status update, delivered to the result URL, verifies with our client.
    (body,) = receiver.wait_for(1)
    update = sdk.parse_status_update(body)
    assert update.status == "Paid"
    assert update.reference == "BK-2026-0099"
    assert update.amount == Decimal("45.00")
    assert update.poll_url == response.poll_url

    polled = official.check_transaction_status(response.poll_url)
    assert polled.status == "paid" and polled.paid
    assert sdk.poll(response.poll_url).status == "Paid"


def test_official_sdk_url_encoding_shows_up_in_the_echoed_reference(
    official, emulator, receiver, sdk, merchant_email
):
    """The official SDK hashes (and sends) quote_plus()ed values; Paynow echoes them encoded."""
    payment = official.create_payment("BK 2026/0100", merchant_email)
    payment.add("Hwange 3-day safari", 120.5)

    response = official.send_mobile(payment, "0771111111", "ecocash")

    assert response.success, response.data
    stored = HTTP.get(f"{emulator.control_url}/transactions", params={"phone": "0771111111"})
    (txn,) = stored.json()["transactions"]
    assert txn["reference"] == "BK+2026%2F0100"
    assert txn["additionalinfo"] == "Hwange+3-day+safari%2C+"
    assert txn["amount"] == "120.50"  # the official SDK sends "120.5" (a float)

    (body,) = receiver.wait_for(1)
    update = sdk.parse_status_update(body)
    assert update.reference == "BK+2026%2F0100"


def test_official_web_payment(official, emulator, sdk):
    # Without an auth e-mail: the official SDK would quote_plus() it ("merchant%40...").
    payment = official.create_payment("BK-2026-0101", "")
    payment.add("Sunset cruise", 30)

    response = official.send(payment)

    assert response.success, response.data
    assert response.redirect_url.startswith(f"{emulator.base_url}/Payment/ConfirmPayment/")
    assert HTTP.post(response.redirect_url, data={"action": "decline"}).status_code == 303
    assert official.check_transaction_status(response.poll_url).status == "cancelled"
    status_fields = parse_form(HTTP.post(response.poll_url).content)
    assert sdk.verify(status_fields)


def test_official_sdk_sees_emulator_errors(official, merchant_email):
    payment = official.create_payment("BK-2026-0102", merchant_email)
    payment.add("Game drive", 80)

    response = official.send_mobile(payment, "0774444444", "ecocash")

    assert not response.success
    assert response.data == {"status": "Error", "error": "Insufficient balance"}

    wrong = Paynow("1201", "a-different-key", RETURN_URL, "")
    wrong.URL_INITIATE_MOBILE_TRANSACTION = official.URL_INITIATE_MOBILE_TRANSACTION
    response = wrong.send_mobile(payment, "0771111111", "ecocash")
    assert not response.success
    assert response.data["error"].startswith("Invalid Hash.  Hash should start with: ")
