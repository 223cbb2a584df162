"""The status-update intake and processing as services: typed rejections (no HTTP codes),
everything stored first, failures recorded with their traceback."""

from __future__ import annotations

from urllib.parse import urlencode

import pytest

from customer_data.models import PaymentStatus
from paynow_integration.models import PaynowStatusUpdate
from paynow_integration.sdk import PaynowError, compute_hash
from paynow_integration.services import (
    IncompleteStatusUpdate,
    MalformedStatusUpdate,
    StatusUpdateHashMismatch,
    StatusUpdateNotVerifiable,
    StatusUpdateRejected,
    UnreadableStatusUpdate,
    process_status_message,
    receive_status_update,
)
from tests.paynow_integration.support import INTEGRATION_KEY, attempt, initiate

pytestmark = pytest.mark.django_db


def _signed(fields, key=INTEGRATION_KEY) -> bytes:
    return urlencode([*fields, ("hash", compute_hash(fields, key))]).encode()


def _receive(body: bytes) -> PaynowStatusUpdate:
    return receive_status_update(body=body, headers={"User-Agent": "Paynow"}, remote_ip="1.2.3.4")


@pytest.mark.parametrize(
    ("body", "rejection", "valid"),
    [
        (b"%%%not a form", UnreadableStatusUpdate, None),
        (b"reference=a&reference=b&hash=ABC", MalformedStatusUpdate, None),
        (
            _signed([("reference", "PAY-1"), ("status", "Paid")], key="wrong"),
            StatusUpdateHashMismatch,
            False,
        ),
        (_signed([("reference", "PAY-1"), ("status", "Paid")]), IncompleteStatusUpdate, True),
    ],
)
def test_each_refusal_is_its_own_exception_and_the_message_is_kept(
    paynow_config, body, rejection, valid
):
    with pytest.raises(rejection) as caught:
        _receive(body)
    entry = caught.value.entry
    assert isinstance(caught.value, StatusUpdateRejected)
    assert not hasattr(caught.value, "status_code") and not hasattr(caught.value, "http_status")
    stored = PaynowStatusUpdate.objects.get(pk=entry.pk)
    assert stored.body == body.decode("utf-8", "replace") and stored.processed
    assert stored.exception == caught.value.reason
    assert stored.remote_ip == "1.2.3.4" and stored.headers == {"User-Agent": "Paynow"}
    assert stored.valid is valid


def test_without_a_configuration_the_update_cannot_be_verified_yet(db):
    with pytest.raises(StatusUpdateNotVerifiable):
        _receive(_signed([("reference", "PAY-1"), ("amount", "1.00"), ("status", "Paid")]))
    assert PaynowStatusUpdate.objects.get().valid is None


def test_a_processing_failure_keeps_exception_and_traceback(
    paynow_config, paynow_emulator, booking_200
):
    payment = initiate(booking_200, phone="0772222222").payment
    kept = attempt(payment)
    fields = [
        ("reference", payment.reference),
        ("amount", "100.00"),
        ("paynowreference", kept.paynow_reference),
        ("pollurl", kept.poll_url),
        ("status", "Paid"),
    ]
    entry = _receive(_signed(fields))
    paynow_emulator.stop()  # the confirming poll cannot reach Paynow
    with pytest.raises(PaynowError):
        process_status_message(entry.pk)
    entry.refresh_from_db()
    assert not entry.processed  # stays for a retry or a replay from the admin
    assert entry.exception.startswith("PaynowUnavailable")
    assert "Traceback" in entry.traceback and "_confirm_by_poll" in entry.traceback
    payment.refresh_from_db()
    assert payment.status == PaymentStatus.PENDING
