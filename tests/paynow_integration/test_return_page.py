"""The page Paynow sends the payer back to (`/crm-api/paynow/return/?reference=...`): the
payment's status in plain words, the way back to WhatsApp, nothing internal."""

from __future__ import annotations

import re
from decimal import Decimal

import pytest

from customer_data import services
from customer_data.models import Payment, PaymentEvent
from meta_integration.models import MetaAppConfig

pytestmark = pytest.mark.django_db

RETURN = "/crm-api/paynow/return/"


def whatsapp_number(
    display: str, *, active: bool = True, phone_number_id: str = "1065403522"
) -> None:
    MetaAppConfig.objects.create(
        name="Kalai Safaris",
        phone_number_id=phone_number_id,
        display_phone_number=display,
        access_token="EAAG-token",
        app_secret="app-secret",
        verify_token="verify",
        is_active=active,
    )


@pytest.fixture
def payment(make_booking) -> Payment:
    """A pending EcoCash payment as the checkout and the Paynow gateway leave it."""
    from paynow_integration.models import PaynowAttempt

    booking = make_booking(total="200.00")
    payment = Payment.objects.create(
        booking=booking,
        amount=Decimal("100.00"),
        payment_method=Payment.Method.PAYNOW_ECOCASH,
        phone_number="0771234567",
    )
    PaynowAttempt.objects.create(
        payment=payment,
        merchant_trace="0123456789abcdef0123456789abcdef",
        paynow_reference="20000001",
        poll_url="https://www.paynow.co.zw/Interface/CheckPayment/?guid=secret-guid",
    )
    return payment


def move(payment: Payment, *statuses: str) -> None:
    for status in statuses:
        source = (
            PaymentEvent.Source.STAFF
            if status == Payment.Status.REFUNDED
            else PaymentEvent.Source.IPN
        )
        result = services.transition_payment(
            payment_id=payment.pk, new_status=status, source=source
        )
        assert result.applied, result


def visible_text(page) -> str:
    """The words a person reads: tags and the style block removed, spaces collapsed."""
    body = page.content.decode()
    body = re.sub(r"<style.*?</style>", " ", body, flags=re.S)
    return " ".join(re.sub(r"<[^>]+>", " ", body).split())


@pytest.mark.parametrize(
    ("statuses", "headline", "advice"),
    [
        ((), "We are still confirming your payment.", "We will message you on WhatsApp"),
        (
            (Payment.Status.SUCCESSFUL,),
            "Payment received. Thank you!",
            "your receipt is on its way to you on WhatsApp",
        ),
        ((Payment.Status.FAILED,), "Your payment was not completed.", "try again"),
        ((Payment.Status.CANCELLED,), "Your payment was not completed.", "another way to pay"),
        ((Payment.Status.EXPIRED,), "Your payment was not completed.", "Go back to WhatsApp"),
        (
            (Payment.Status.SUCCESSFUL, Payment.Status.REFUNDED),
            "This payment was refunded.",
            "goes back the way you paid",
        ),
    ],
)
def test_the_payer_reads_the_status_in_plain_words(client, payment, statuses, headline, advice):
    move(payment, *statuses)
    page = client.get(RETURN, {"reference": payment.reference})
    assert page.status_code == 200
    text = visible_text(page)
    assert headline in text and advice in text
    assert payment.booking.booking_reference in text
    assert "USD 100.00" in text


def test_no_internals_on_the_page(client, payment):
    move(payment, Payment.Status.FAILED)
    body = client.get(RETURN, {"reference": payment.reference}).content.decode()
    for internal in ("20000001", "secret-guid", "CheckPayment", "failed", "Failed", "paynow_"):
        assert internal not in body, internal


def test_still_processing_refreshes_itself_and_a_final_status_does_not(client, payment):
    pending = client.get(RETURN, {"reference": payment.reference}).content.decode()
    assert '<meta http-equiv="refresh" content="10">' in pending
    move(payment, Payment.Status.SUCCESSFUL)
    paid = client.get(RETURN, {"reference": payment.reference}).content.decode()
    assert "http-equiv" not in paid


def test_back_to_whatsapp_opens_the_business_number(client, payment):
    whatsapp_number("+263 77 100 0000")
    page = client.get(RETURN, {"reference": payment.reference}).content.decode()
    assert (
        '<a class="back" id="back-to-whatsapp" href="https://wa.me/263771000000" '
        'rel="noopener">Back to WhatsApp</a>'
    ) in page


def test_back_to_whatsapp_is_plain_text_without_an_active_number(client, payment):
    whatsapp_number("263771000000", active=False)
    whatsapp_number("", phone_number_id="2222222222")  # active, but no number to link to
    page = client.get(RETURN, {"reference": payment.reference})
    assert "wa.me" not in page.content.decode()
    assert "go back to WhatsApp" in visible_text(page)


def test_unknown_reference_is_404_and_still_points_back_to_whatsapp(client, payment):
    whatsapp_number("263771000000")
    page = client.get(RETURN, {"reference": "PAY-NOSUCHPAYMENT"})
    assert page.status_code == 404
    text = visible_text(page)
    assert "We could not find that payment." in text
    assert payment.booking.booking_reference not in text
    assert 'href="https://wa.me/263771000000"' in page.content.decode()


def test_the_page_is_made_for_a_phone(client, payment):
    body = client.get(RETURN, {"reference": payment.reference}).content.decode()
    assert '<meta name="viewport" content="width=device-width, initial-scale=1">' in body
    assert 'lang="en"' in body and 'role="status"' in body
