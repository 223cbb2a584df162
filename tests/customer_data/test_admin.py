"""Staff work in the admin: pages render, money moves only through the services."""

from decimal import Decimal

import pytest
from django.urls import reverse

from conversations.models import Contact
from customer_data import services
from customer_data.models import Booking, Payment, PaymentStatus
from tests.customer_data.support import pay

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff_client(client, admin_user):
    client.force_login(admin_user)
    return client


def test_admin_pages_render(staff_client, make_booking):
    booking = make_booking(total="100.00")
    payment = pay(booking, "50.00", "bank_transfer", source="staff")
    for url in [
        reverse("admin:index"),
        reverse("admin:customer_data_booking_changelist"),
        reverse("admin:customer_data_booking_change", args=[booking.pk]),
        reverse("admin:customer_data_payment_changelist"),
        reverse("admin:customer_data_payment_change", args=[payment.pk]),
        reverse("admin:customer_data_tour_changelist"),
        reverse("admin:customer_data_seasonaltourprice_changelist"),
        reverse("admin:customer_data_paymentevent_changelist"),
    ]:
        assert staff_client.get(url).status_code == 200, url


def test_admin_is_refused_to_anonymous(client):
    response = client.get(reverse("admin:customer_data_payment_changelist"))
    assert response.status_code == 302
    assert "/admin/login/" in response["Location"]


def test_mark_as_received_action_goes_through_the_service(staff_client, make_booking):
    booking = make_booking(total="100.00")
    payment = pay(booking, "100.00", "omari", source="staff")
    response = staff_client.post(
        reverse("admin:customer_data_payment_changelist"),
        {"action": "mark_as_received", "_selected_action": [payment.pk]},
        follow=True,
    )
    assert response.status_code == 200
    booking.refresh_from_db()
    payment.refresh_from_db()
    assert payment.status == PaymentStatus.SUCCESSFUL
    assert booking.amount_paid == Decimal("100.00")
    assert booking.payment_status == Booking.PaymentStatus.PAID
    assert payment.events.filter(source="staff", new_status="successful", applied=True).count() == 1


def test_reject_action_and_refusal_of_gateway_payments(staff_client, make_booking, paynow_config):
    booking = make_booking(total="100.00")
    manual = pay(booking, "30.00", "bank_transfer", source="staff")
    gateway = pay(booking, "30.00", "paynow_ecocash", source="flow")
    url = reverse("admin:customer_data_payment_changelist")
    staff_client.post(url, {"action": "reject", "_selected_action": [manual.pk]})
    response = staff_client.post(
        url, {"action": "mark_as_received", "_selected_action": [gateway.pk]}, follow=True
    )
    manual.refresh_from_db()
    gateway.refresh_from_db()
    assert manual.status == PaymentStatus.FAILED
    assert gateway.status == PaymentStatus.PENDING
    assert "confirmed by the gateway" in response.content.decode()


def test_payment_money_fields_are_read_only(staff_client, make_booking):
    booking = make_booking(total="100.00")
    payment = pay(booking, "30.00", "cash", source="staff")
    response = staff_client.post(
        reverse("admin:customer_data_payment_change", args=[payment.pk]),
        {
            "amount": "99.00",
            "status": "successful",
            "phone_number": "",
            "email": "",
            "notes": "edited by staff",
            "events-TOTAL_FORMS": "0",
            "events-INITIAL_FORMS": "0",
        },
    )
    assert response.status_code == 302  # the form was valid and saved ...
    payment.refresh_from_db()
    assert payment.notes == "edited by staff"
    # ... yet the money fields did not move.
    assert (payment.amount, payment.status) == (Decimal("30.00"), "pending")


def test_adding_a_payment_in_the_admin_checks_the_balance(staff_client, make_booking):
    booking = make_booking(total="100.00")
    url = reverse("admin:customer_data_payment_add")
    form = {
        "booking": booking.pk,
        "amount": "150.00",
        "currency": "USD",
        "payment_method": "cash",
        "reference": "PAY-MANUAL0001",
        "events-TOTAL_FORMS": 0,
        "events-INITIAL_FORMS": 0,
    }
    response = staff_client.post(url, form, follow=True)
    assert "more than the balance due" in response.content.decode()
    assert not Payment.objects.filter(booking=booking).exists()
    staff_client.post(url, {**form, "amount": "40.00"}, follow=True)
    created = Payment.objects.get(booking=booking)
    assert created.amount == Decimal("40.00")
    assert created.events.get().source == "staff"


@pytest.mark.parametrize("query", ["0771234567", "+263 77 123 4567", "BK-", "tendai@example"])
def test_booking_search_by_phone_reference_email(staff_client, make_booking, query):
    contact = Contact.objects.create(whatsapp_id="263771234567", name="Tendai")
    booking = make_booking(contact=contact, email="tendai@example.com")
    other = make_booking(email="someone@example.org")
    response = staff_client.get(reverse("admin:customer_data_booking_changelist"), {"q": query})
    body = response.content.decode()
    assert booking.booking_reference in body
    if query != "BK-":
        assert other.booking_reference not in body


def test_booking_page_shows_the_payment_history(staff_client, make_booking, admin_user):
    booking = make_booking(total="100.00")
    payment = pay(booking, "40.00", "cash", source="staff")
    services.mark_payment_received(payment=payment, actor=admin_user)
    services.reject_payment(payment=payment, actor=admin_user)  # refused: already successful
    page = staff_client.get(
        reverse("admin:customer_data_booking_change", args=[booking.pk])
    ).content.decode()
    assert "Payment history" in page
    assert page.count(payment.reference) >= 3  # the inline row and each event
    assert "pending → successful" in page and "refused" in page


def test_payment_status_follows_the_money_and_staff_cancel_by_action(
    staff_client, make_booking, paynow_config
):
    booking = make_booking(total="100.00")
    manual = pay(booking, "30.00", "bank_transfer", source="flow")
    prompt = pay(booking, "50.00", "paynow_ecocash", source="flow")
    change = reverse("admin:customer_data_booking_change", args=[booking.pk])
    assert 'name="payment_status"' not in staff_client.get(change).content.decode()
    staff_client.post(
        reverse("admin:customer_data_booking_changelist"),
        {"action": "cancel_bookings", "_selected_action": [booking.pk]},
    )
    booking.refresh_from_db()
    manual.refresh_from_db()
    prompt.refresh_from_db()
    assert booking.payment_status == Booking.PaymentStatus.CANCELLED
    assert manual.status == PaymentStatus.CANCELLED
    # A prompt may still be approved on the payer's phone: the gateway settles it, and
    # money that arrives is recorded on the (cancelled) booking, never lost.
    assert prompt.status == PaymentStatus.PENDING
    services.transition_payment(payment_id=prompt.pk, new_status="successful", source="ipn")
    booking.refresh_from_db()
    assert (booking.amount_paid, booking.payment_status) == (Decimal("50.00"), "cancelled")
    from customer_data.checkout import Payer, RefusalReason, request_payment

    refused = request_payment(
        booking=booking, amount=Decimal("10.00"), method="cash", payer=Payer(), source="staff"
    )
    assert refused.reason == RefusalReason.BOOKING_CANCELLED and refused.payment is None


def test_staff_cannot_reject_a_live_gateway_payment(make_booking, admin_user, paynow_config):
    payment = pay(make_booking(total="100.00"), "50.00", "paynow_innbucks", source="flow")
    with pytest.raises(services.PaymentValidationError, match="settled by the gateway"):
        services.reject_payment(payment=payment, actor=admin_user)
    payment.refresh_from_db()
    assert payment.status == PaymentStatus.PENDING


def test_admin_add_payment_offers_manual_methods_only(staff_client):
    page = staff_client.get(reverse("admin:customer_data_payment_add")).content.decode()
    assert 'value="bank_transfer"' in page and 'value="cash"' in page
    assert 'value="paynow_' not in page


def test_staff_record_a_refund_and_the_booking_gives_the_money_back(
    staff_client, make_booking, paynow_config
):
    booking = make_booking(total="100.00")
    payment = pay(booking, "100.00", "paynow_ecocash", source="flow")
    services.transition_payment(payment_id=payment.pk, new_status="successful", source="ipn")
    staff_client.post(
        reverse("admin:customer_data_payment_changelist"),
        {"action": "record_refund", "_selected_action": [payment.pk]},
    )
    payment.refresh_from_db()
    booking.refresh_from_db()
    assert payment.status == PaymentStatus.REFUNDED
    assert (booking.amount_paid, booking.payment_status) == (Decimal("0.00"), "refunded")
    assert payment.events.get(new_status="refunded").source == "staff"


def test_a_refused_manual_payment_is_not_logged_as_added(staff_client, make_booking):
    from django.contrib.admin.models import LogEntry

    booking = make_booking(total="100.00")
    response = staff_client.post(
        reverse("admin:customer_data_payment_add"),
        {
            "booking": booking.pk,
            "amount": "150.00",
            "currency": "USD",
            "payment_method": "cash",
            "events-TOTAL_FORMS": 0,
            "events-INITIAL_FORMS": 0,
        },
        follow=True,
    )
    page = response.content.decode()
    assert "Not recorded" in page and "was added successfully" not in page
    assert not LogEntry.objects.exists() and not Payment.objects.exists()


def test_the_payment_page_shows_the_gateway_details_collapsed(
    staff_client, make_booking, paynow_config
):
    from paynow_integration.models import PaynowAttempt

    payment = pay(make_booking(total="100.00"), "50.00", "paynow_innbucks")
    attempt = PaynowAttempt.objects.get(payment=payment)
    page = staff_client.get(
        reverse("admin:customer_data_payment_change", args=[payment.pk])
    ).content.decode()
    assert "Gateway details" in page and "collapse" in page
    assert attempt.paynow_reference in page and attempt.authorization_code in page
    assert attempt.merchant_trace in page


def test_staff_check_a_payment_with_the_gateway(staff_client, make_booking, paynow_config):
    from paynow_integration.models import PaynowAttempt

    payment = pay(make_booking(total="100.00"), "50.00", "paynow_ecocash")
    attempt = PaynowAttempt.objects.get(payment=payment)
    response = staff_client.post(
        reverse("admin:customer_data_payment_changelist"),
        {"action": "check_with_gateway", "_selected_action": [payment.pk]},
        follow=True,
    )
    assert f"{payment.reference}: says Sent; payment pending." in response.content.decode()
    attempt.refresh_from_db()
    assert attempt.check_attempts == 1


def test_staff_see_the_proof_on_the_payment_and_the_booking(client, admin_user, make_booking):
    import hashlib

    from django.urls import reverse

    from conversations import services as conversations
    from conversations.models import Message
    from customer_data import services
    from customer_data.checkout import Payer, request_payment
    from customer_data.models import PaymentEvent
    from sandbox.whatsapp.media import SAMPLE_PDF

    contact = conversations.resolve_contact(conversations.Identity(user_id="ZW.5511"))
    booking = make_booking(total="100.00", contact=contact)
    message = Message.objects.create(
        contact=contact, direction="in", message_type="document", status="received"
    )
    media = conversations.expect_media(
        message, channel_media_id="1245089733563001", kind="document", filename="transfer.pdf"
    )
    conversations.store_media(
        media,
        content=SAMPLE_PDF,
        mime_type="application/pdf",
        sha256=hashlib.sha256(SAMPLE_PDF).hexdigest(),
    )
    payment = request_payment(
        booking=booking,
        amount="50.00",
        method="bank_transfer",
        payer=Payer(),
        source=PaymentEvent.Source.FLOW,
    ).payment
    assert services.attach_proof(payment=payment, media_id=media.pk, source="flow")
    assert not services.attach_proof(payment=payment, media_id=media.pk, source="flow")  # once

    client.force_login(admin_user)
    media_url = reverse("admin:conversations_message_media", args=[message.pk])
    payment_page = client.get(reverse("admin:customer_data_payment_change", args=[payment.pk]))
    assert f'href="{media_url}"'.encode() in payment_page.content
    assert b"Open the proof (transfer.pdf)" in payment_page.content
    booking_page = client.get(reverse("admin:customer_data_booking_change", args=[booking.pk]))
    assert b"Open the proof (transfer.pdf)" in booking_page.content
    assert b"".join(client.get(media_url).streaming_content) == SAMPLE_PDF


def test_only_a_manual_payment_is_proven_by_a_document(make_booking):
    import pytest

    from customer_data import services
    from customer_data.models import Payment

    payment = Payment(booking=make_booking(total="100.00"), payment_method="paynow_ecocash")
    with pytest.raises(ValueError, match="not proven by a document"):
        services.attach_proof(payment=payment, media_id=1, source="flow")
