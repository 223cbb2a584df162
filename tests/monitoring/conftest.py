"""Seeded data with known answers for the monitoring tests.

Within the last 7 days (Paynow):
- EcoCash: 3 successful, 1 failed            -> 3/4
- OneMoney: 1 successful, 1 cancelled, 1 expired -> 1/3
- InnBucks: nothing                           -> no rate
- overall: 4/7; plus 2 EcoCash pending (one 2 min old, one 40 min old: stuck)
Outside the window or not Paynow: a bank transfer (successful, 1 day old) and an EcoCash
payment (successful, 10 days old).
Valid IPN processing times in the last day: 100, 200, 300, 400, 1000 ms
-> median 300, p95 880 (linear interpolation), max 1000.
Payment forms in the window: 4 sent, 2 started a payment, 1 completed.
"""

from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

WA_ID = "263771234567"


@pytest.fixture(autouse=True)
def fresh_cache(settings, request):
    """A cache of each test's own: rate-limit counters and alert throttles never leak."""
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.locmem.LocMemCache",
            "LOCATION": f"monitoring-{request.node.nodeid}",
        }
    }
    from django.core.cache import cache

    cache.clear()


@dataclass
class Seeded:
    booking: object
    payments: dict
    contact: object
    now: object


def _payment(booking, method, status, *, age, amount="10.00", **fields):
    from customer_data.models import Payment

    now = timezone.now()
    payment = Payment.objects.create(
        booking=booking,
        amount=Decimal(amount),
        payment_method=method,
        status=status,
        paid_at=now - age if status == "successful" else None,
        **fields,
    )
    Payment.objects.filter(pk=payment.pk).update(created_at=now - age)
    payment.refresh_from_db()
    return payment


@pytest.fixture
def seeded(db, make_booking):
    from conversations.models import Contact, Message
    from flows.models import FlowFormSession, WhatsAppFlow
    from meta_integration.models import WebhookEvent
    from paynow_integration.models import PaynowStatusUpdate

    now = timezone.now()
    contact = Contact.objects.create(whatsapp_id=WA_ID, name="Tendai")
    booking = make_booking(total="10000.00", contact=contact, email="tendai@example.com")
    hour = timedelta(hours=1)
    p = {}
    p["eco_ok_1"] = _payment(booking, "paynow_ecocash", "successful", age=hour)
    p["eco_ok_2"] = _payment(booking, "paynow_ecocash", "successful", age=2 * hour)
    p["eco_ok_3"] = _payment(booking, "paynow_ecocash", "successful", age=timedelta(days=2))
    p["eco_failed"] = _payment(
        booking,
        "paynow_ecocash",
        "failed",
        age=3 * hour,
        notes="Insufficient balance on 0771234567",
        phone_number="0771234567",
    )
    p["one_ok"] = _payment(booking, "paynow_onemoney", "successful", age=hour, amount="25.50")
    p["one_cancelled"] = _payment(booking, "paynow_onemoney", "cancelled", age=hour)
    p["one_expired"] = _payment(booking, "paynow_onemoney", "expired", age=timedelta(days=3))
    p["eco_pending_new"] = _payment(booking, "paynow_ecocash", "pending", age=timedelta(minutes=2))
    p["eco_pending_stuck"] = _payment(
        booking,
        "paynow_ecocash",
        "pending",
        age=timedelta(minutes=40),
        phone_number="0779876543",
    )
    p["bank_ok"] = _payment(booking, "bank_transfer", "successful", age=timedelta(days=1))
    p["eco_old_ok"] = _payment(booking, "paynow_ecocash", "successful", age=timedelta(days=10))

    def update(**fields):
        received = fields.pop("age", timedelta(minutes=30))
        entry = PaynowStatusUpdate.objects.create(**fields)
        PaynowStatusUpdate.objects.filter(pk=entry.pk).update(received_at=now - received)
        return entry

    for ms in (100, 200, 300, 400, 1000):
        update(source="ipn", valid=True, processed=True, processing_ms=ms, status="Paid")
    update(source="ipn", valid=False, processing_ms=99999, exception="hash mismatch")  # invalid
    update(source="poll", valid=True, processing_ms=50000)  # a poll, not an IPN
    update(source="ipn", valid=True, processing_ms=None)  # not processed yet
    update(source="ipn", valid=True, processing_ms=70000, age=timedelta(days=40))  # too old
    update(
        source="ipn",
        valid=True,
        processed=True,
        processing_ms=None,
        flag="amount_mismatch",
        reference=p["eco_ok_1"].reference,
        paynow_reference="15765841",
        status="Paid",
        amount=Decimal("9.00"),
        payment=p["eco_ok_1"],
    )
    update(source="ipn", valid=True, flag="unknown_reference", flag_resolved=True)

    flow = WhatsAppFlow.objects.create(name="payment_whatsapp_flow", flow_id="1234")

    def session(token, status, **fields):
        return FlowFormSession.objects.create(
            token_id=token,
            whatsapp_flow=flow,
            contact=contact,
            booking=booking,
            amount=Decimal("10.00"),
            status=status,
            expires_at=now + hour,
            **fields,
        )

    session("t-sent", "sent")
    session("t-submitted", "submitted", submitted_at=now, payment=p["eco_pending_new"])
    session("t-completed", "completed", submitted_at=now, completed_at=now, payment=p["eco_ok_1"])
    session("t-expired", "expired")

    WebhookEvent.objects.create(body="{}", body_sha256="a" * 64, valid=False)
    WebhookEvent.objects.create(
        body="{}", body_sha256="b" * 64, valid=True, exception="KeyError: 'entry'"
    )
    WebhookEvent.objects.create(body="{}", body_sha256="c" * 64, valid=True)

    Message.objects.create(
        contact=contact,
        direction="out",
        message_type="text",
        text="Your receipt",
        status="failed",
        failed_at=now,
        error_code=131047,
        error_title="Re-engagement message",
    )
    Contact.objects.create(
        whatsapp_id="263712345678", name="Waiting", needs_human_intervention=True
    )
    return Seeded(booking=booking, payments=p, contact=contact, now=now)
