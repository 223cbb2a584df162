"""Status updates end to end: the emulator calls our live IPN view; we verify and apply."""

import threading
from decimal import Decimal

import httpx
import pytest
from django.db import connections

from customer_data.models import Booking, Payment, PaymentStatus
from paynow_integration.models import PaynowAttempt, PaynowStatusUpdate
from paynow_integration.sdk import compute_hash, parse_form
from tests.helpers import wait_until
from tests.paynow_integration.support import INTEGRATION_KEY, attempt, initiate

pytestmark = pytest.mark.django_db(transaction=True)


def _status(payment):
    return Payment.objects.get(pk=payment.pk).status


def _signed_body(fields, key=INTEGRATION_KEY):
    from urllib.parse import urlencode

    return urlencode([*fields, ("hash", compute_hash(fields, key))])


def _fields_for(payment, status="Paid", amount=None):
    return [
        ("reference", payment.reference),
        ("amount", amount or f"{payment.amount}"),
        ("paynowreference", attempt(payment).paynow_reference),
        ("pollurl", attempt(payment).poll_url),
        ("status", status),
    ]


def test_test_number_success_marks_booking_paid(paynow_config, live_site, booking_200, caplog):
    with caplog.at_level("INFO"):
        payment = initiate(booking_200, amount="200.00", phone="0771111111").payment
        wait_until(lambda: _status(payment) == PaymentStatus.SUCCESSFUL)
    booking = Booking.objects.get(pk=booking_200.pk)
    assert booking.amount_paid == Decimal("200.00")
    assert booking.payment_status == Booking.PaymentStatus.PAID
    # The payment changes first; the stored update is marked processed right after.
    entry = wait_until(
        lambda: PaynowStatusUpdate.objects.filter(
            payment=payment, status="Paid", processed=True
        ).first()
    )
    assert entry.valid and entry.processing_ms is not None
    messages = [r.getMessage() for r in caplog.records]
    assert "Paynow IPN received" in messages
    assert f"Payment {payment.pk} marked as successful" in messages


def test_test_number_cancelled(paynow_config, live_site, booking_200):
    payment = initiate(booking_200, phone="0773333333").payment
    wait_until(lambda: _status(payment) == PaymentStatus.CANCELLED)
    assert Booking.objects.get(pk=booking_200.pk).amount_paid == Decimal("0.00")


def test_deposit_then_balance(paynow_config, paynow_emulator, live_site, booking_200):
    deposit = initiate(booking_200, amount="100.00", phone="0772222222").payment
    paynow_emulator.state.approve(attempt(deposit).paynow_reference)
    wait_until(lambda: _status(deposit) == PaymentStatus.SUCCESSFUL)
    assert Booking.objects.get(pk=booking_200.pk).payment_status == "deposit_paid"
    balance = initiate(booking_200, amount="100.00", phone="0781234567").payment
    paynow_emulator.state.approve(attempt(balance).paynow_reference)
    wait_until(lambda: _status(balance) == PaymentStatus.SUCCESSFUL)
    booking = Booking.objects.get(pk=booking_200.pk)
    assert (booking.amount_paid, booking.payment_status) == (Decimal("200.00"), "paid")


def test_tampered_hash_is_refused_and_changes_nothing(
    paynow_config, live_site, booking_200, caplog
):
    payment = initiate(booking_200, phone="0772222222").payment
    body = _signed_body(_fields_for(payment), key="wrong-key")
    with caplog.at_level("WARNING"):
        response = httpx.post(
            f"{live_site.url}/crm-api/paynow/ipn/",
            content=body,
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        )
    assert response.status_code == 403
    assert "Invalid IPN signature" in [r.getMessage() for r in caplog.records]
    assert _status(payment) == PaymentStatus.PENDING
    entry = PaynowStatusUpdate.objects.get(reference=payment.reference)
    assert entry.valid is False and entry.body == body  # stored raw, flagged invalid
    assert INTEGRATION_KEY not in caplog.text


def test_wrong_amount_is_flagged_not_credited(paynow_config, live_site, booking_200):
    payment = initiate(booking_200, phone="0772222222").payment
    body = _signed_body(_fields_for(payment, amount="1.00"))
    response = httpx.post(f"{live_site.url}/crm-api/paynow/ipn/", content=body)
    assert response.status_code == 200
    entry = wait_until(
        lambda: PaynowStatusUpdate.objects.filter(
            reference=payment.reference, processed=True
        ).first()
    )
    assert entry.flag == PaynowStatusUpdate.Flag.AMOUNT_MISMATCH
    assert _status(payment) == PaymentStatus.PENDING
    assert Booking.objects.get(pk=booking_200.pk).amount_paid == 0


def test_unknown_reference_is_stored_and_flagged(paynow_config, live_site):
    fields = [
        ("reference", "PAY-NOTOURS00000"),
        ("amount", "10.00"),
        ("paynowreference", "999"),
        ("pollurl", "http://127.0.0.1:1/x"),
        ("status", "Paid"),
    ]
    response = httpx.post(f"{live_site.url}/crm-api/paynow/ipn/", content=_signed_body(fields))
    assert response.status_code == 200
    entry = PaynowStatusUpdate.objects.get(reference="PAY-NOTOURS00000")
    assert entry.flag == PaynowStatusUpdate.Flag.UNKNOWN_REFERENCE and entry.processed


def test_capitalised_hash_and_unknown_fields_are_verified(paynow_config, live_site, booking_200):
    payment = initiate(booking_200, phone="0772222222").payment
    fields = [*_fields_for(payment, status="Sent"), ("token", "abc123")]
    from urllib.parse import urlencode

    body = urlencode([*fields, ("Hash", compute_hash(fields, INTEGRATION_KEY))])
    response = httpx.post(f"{live_site.url}/crm-api/paynow/ipn/", content=body)
    assert response.status_code == 200
    assert PaynowStatusUpdate.objects.get(reference=payment.reference).valid is True


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"%%%not a form",
        b"status=Paid&hash=ABC",
        b"reference=%00&status=Paid&hash=ABC",
        b"reference=PAY-1\x00&status=Paid&hash=ABC",
        b"reference=" + b"X" * 5000 + b"&status=Paid&hash=ABC",
        b"reference=a&reference=b&hash=ABC",
        b"\xff\xfe\x00r\x00e\x00f",
    ],
)
def test_garbage_bodies_get_4xx_never_500(paynow_config, live_site, body):
    response = httpx.post(
        f"{live_site.url}/crm-api/paynow/ipn/", content=body, headers={"User-Agent": "x\x01y"}
    )
    assert 400 <= response.status_code < 500
    assert PaynowStatusUpdate.objects.filter(valid__isnull=True, processed=False).count() == 0


@pytest.mark.parametrize(
    "amount", ["NaN", "Infinity", "1e2", "100.004", "\uff11\uff10\uff10.\uff10\uff10", "100"]
)
def test_signed_odd_amounts_are_refused_not_rounded(paynow_config, live_site, booking_200, amount):
    """A valid hash over an amount Paynow never sends: refused (400), nothing credited."""
    payment = initiate(booking_200, phone="0772222222").payment
    body = _signed_body(_fields_for(payment, amount=amount))
    response = httpx.post(f"{live_site.url}/crm-api/paynow/ipn/", content=body)
    assert response.status_code == 400
    assert _status(payment) == PaymentStatus.PENDING
    assert "amount" in PaynowStatusUpdate.objects.get().exception


def test_duplicated_fields_are_refused(paynow_config, live_site, booking_200):
    payment = initiate(booking_200, amount="100.00", phone="0772222222").payment
    fields = [("amount", "1.00"), *_fields_for(payment)]  # amount twice: which one counts?
    response = httpx.post(f"{live_site.url}/crm-api/paynow/ipn/", content=_signed_body(fields))
    assert response.status_code == 400
    assert _status(payment) == PaymentStatus.PENDING


def test_ipn_view_refuses_get(paynow_config, live_site):
    assert httpx.get(f"{live_site.url}/crm-api/paynow/ipn/").status_code == 405


def _paid(booking, paynow_emulator):
    """A payment for `booking` that Paynow settled as Paid and we applied."""
    payment = initiate(booking, phone="0772222222").payment
    paynow_emulator.state.approve(attempt(payment).paynow_reference)
    wait_until(lambda: _status(payment) == PaymentStatus.SUCCESSFUL)
    return payment


def test_paid_then_sent_never_moves_back(paynow_config, paynow_emulator, live_site, booking_200):
    payment = _paid(booking_200, paynow_emulator)
    paynow_emulator.state.push_status(attempt(payment).paynow_reference, "Sent")
    wait_until(lambda: PaynowStatusUpdate.objects.filter(status="Sent", processed=True).exists())
    assert _status(payment) == PaymentStatus.SUCCESSFUL
    assert Booking.objects.get(pk=booking_200.pk).amount_paid == Decimal("100.00")


@pytest.mark.parametrize(
    ("confirm_by_poll", "flags"),
    [
        # Poll confirms Paid: the stale Cancelled is read as Paid again, a plain duplicate.
        (True, ("",)),
        (False, (PaynowStatusUpdate.Flag.CONFLICTING_STATUS,)),
    ],
    ids=["confirmed_by_poll", "without_poll_confirmation"],
)
def test_cancelled_after_paid_is_flagged(
    paynow_config, paynow_emulator, live_site, booking_200, settings, confirm_by_poll, flags
):
    settings.PAYNOW_CONFIRM_BY_POLL = confirm_by_poll
    payment = _paid(booking_200, paynow_emulator)
    paynow_emulator.state.push_status(attempt(payment).paynow_reference, "Cancelled")
    entry = wait_until(
        lambda: PaynowStatusUpdate.objects.filter(status="Cancelled", processed=True).first()
    )
    assert _status(payment) == PaymentStatus.SUCCESSFUL
    assert entry.flag in flags


def test_unconfirmed_paid_is_not_credited(paynow_config, paynow_emulator, live_site, booking_200):
    """A validly signed Paid that Paynow's poll contradicts (still Sent) credits nothing."""
    payment = initiate(booking_200, phone="0772222222").payment
    paynow_emulator.state.push_status(attempt(payment).paynow_reference, "Paid")  # state stays Sent
    wait_until(lambda: PaynowStatusUpdate.objects.filter(status="Paid", processed=True).exists())
    assert _status(payment) == PaymentStatus.PENDING


@pytest.mark.postgres  # concurrent requests need a real database server
def test_ten_identical_ipns_at_once_credit_once(
    paynow_config, paynow_emulator, live_site, booking_200
):
    """Ten copies of the same Paid arrive together while the payment is still pending."""
    payment = initiate(booking_200, phone="0772222222").payment
    paynow_emulator.state.drop_next_updates(1)  # Paynow's own update is lost: only ours race
    paynow_emulator.state.approve(attempt(payment).paynow_reference)
    assert _status(payment) == PaymentStatus.PENDING
    body = _signed_body(_fields_for(Payment.objects.get(pk=payment.pk)))
    barrier = threading.Barrier(10)
    codes = []

    def post():
        barrier.wait()
        codes.append(httpx.post(f"{live_site.url}/crm-api/paynow/ipn/", content=body).status_code)

    threads = [threading.Thread(target=post) for _ in range(10)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    connections.close_all()
    assert codes == [200] * 10
    wait_until(lambda: PaynowStatusUpdate.objects.filter(processed=False).count() == 0)
    booking = Booking.objects.get(pk=booking_200.pk)
    assert booking.amount_paid == Decimal("100.00")
    assert payment.events.filter(new_status="successful", applied=True).count() == 1


@pytest.mark.postgres  # concurrent requests need a real database server
def test_duplicate_deliveries_from_paynow_credit_once(
    paynow_config, paynow_emulator, live_site, booking_200
):
    paynow_emulator.state.duplicate_next_updates(1, copies=4)
    payment = initiate(booking_200, phone="0771111111").payment
    wait_until(lambda: PaynowStatusUpdate.objects.filter(reference=payment.reference).count() >= 4)
    wait_until(lambda: not PaynowStatusUpdate.objects.filter(processed=False).exists())
    assert Booking.objects.get(pk=booking_200.pk).amount_paid == Decimal("100.00")


def test_our_failure_makes_paynow_retry(paynow_config, paynow_emulator, live_site, booking_200):
    """While our config is missing the IPN answers 503; Paynow retries and we apply it later."""
    from paynow_integration.models import PaynowConfig

    payment = initiate(booking_200, phone="0772222222").payment
    PaynowConfig.objects.update(is_active=False)
    paynow_emulator.state.approve(attempt(payment).paynow_reference)
    wait_until(lambda: PaynowStatusUpdate.objects.filter(reference=payment.reference).exists())
    PaynowConfig.objects.update(is_active=True)
    wait_until(lambda: _status(payment) == PaymentStatus.SUCCESSFUL, timeout=20)


def test_parse_form_roundtrip_of_stored_body(paynow_config, live_site, booking_200):
    payment = initiate(booking_200, phone="0771111111").payment
    entry = wait_until(
        lambda: PaynowStatusUpdate.objects.filter(reference=payment.reference).first()
    )
    assert dict(parse_form(entry.body.encode()))["reference"] == payment.reference


def test_update_before_our_poll_url_is_stored_is_confirmed_by_trace(
    paynow_config, paynow_emulator, live_site, booking_200
):
    """Paynow's update can overtake its own initiation reply: we then confirm by trace."""
    payment = initiate(booking_200, phone="0772222222").payment
    PaynowAttempt.objects.filter(payment=payment).update(poll_url="")  # as if not stored yet
    paynow_emulator.state.approve(attempt(payment).paynow_reference)
    wait_until(lambda: _status(payment) == PaymentStatus.SUCCESSFUL)
    assert payment.events.filter(new_status="successful", applied=True, source="ipn").exists()


def test_update_for_a_manual_payment_reference_is_flagged(paynow_config, live_site, booking_200):
    from customer_data.checkout import Payer, request_payment

    manual = request_payment(
        booking=booking_200,
        amount=Decimal("50.00"),
        method="bank_transfer",
        payer=Payer(),
        source="staff",
    ).payment
    fields = [
        ("reference", manual.reference),
        ("amount", "50.00"),
        ("paynowreference", "1"),
        ("pollurl", "http://127.0.0.1:1/x"),
        ("status", "Paid"),
    ]
    assert httpx.post(
        f"{live_site.url}/crm-api/paynow/ipn/", content=_signed_body(fields)
    ).is_success
    entry = wait_until(lambda: PaynowStatusUpdate.objects.filter(processed=True).first())
    assert entry.flag == PaynowStatusUpdate.Flag.UNKNOWN_REFERENCE
    assert _status(manual) == PaymentStatus.PENDING


def test_unconfirmed_paid_before_poll_url_is_stored_is_not_credited(
    paynow_config, paynow_emulator, live_site, booking_200
):
    payment = initiate(booking_200, phone="0772222222").payment
    PaynowAttempt.objects.filter(payment=payment).update(poll_url="")
    paynow_emulator.state.push_status(
        attempt(payment).paynow_reference, "Paid"
    )  # Paynow still says Sent
    wait_until(lambda: PaynowStatusUpdate.objects.filter(status="Paid", processed=True).exists())
    assert _status(payment) == PaymentStatus.PENDING
