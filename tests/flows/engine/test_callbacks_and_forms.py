"""Buttons on our own messages (typed callback data, entry points declared by flows) and form
completions routed by the WhatsApp Flow's name: the engine knows neither payments nor forms."""

from __future__ import annotations

import json
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from django.utils import timezone

from flows.engine import registry
from flows.engine.callbacks import COMMAND, Callback, command
from flows.engine.loader import validate

ENGINE = Path(__file__).resolve().parents[3] / "whatsappcrm_backend" / "flows" / "engine"


def test_callback_data_round_trips():
    for callback in (Callback("pay", "42"), Callback(COMMAND, "menu"), Callback("pay")):
        assert Callback.decode(callback.encode()) == callback
    assert command("agent") == "cmd:agent"


@pytest.mark.parametrize("reply_id", ["", "paynow_full", "12", "Pay:1", "x" * 300 + ":1", ":1"])
def test_ids_that_are_not_callbacks_decode_to_nothing(reply_id):
    assert Callback.decode(reply_id) is None


def test_callback_actions_are_short_names():
    with pytest.raises(ValueError):
        Callback("Pay now")
    with pytest.raises(ValueError):
        Callback("pay", "9" * 300)


def _flow(name: str, **extra) -> tuple[str, dict]:
    return (
        f"{name}.py",
        {
            "name": name,
            "start": "first",
            "steps": {"first": {"type": "end"}, "later": {"type": "end"}},
            **extra,
        },
    )


def test_an_entry_point_makes_its_step_reachable():
    flow = _flow("paying", entry_points={"pay": {"step": "later", "context": "booking_id"}})
    assert validate([flow]) == []
    assert any("unreachable" in p for p in validate([_flow("paying")]))


@pytest.mark.parametrize(
    ("entry_points", "problem"),
    [
        ({"pay": {"step": "nowhere", "context": "booking_id"}}, "missing step"),
        ({"pay": {"step": "later"}}, "exactly 'step' and 'context'"),
        ({"cmd": {"step": "later", "context": "x"}}, "reserved"),
        ({"Pay Now": {"step": "later", "context": "x"}}, "short lowercase"),
        ([], "must be a dict"),
    ],
)
def test_bad_entry_points_are_refused(entry_points, problem):
    problems = validate([_flow("paying", entry_points=entry_points)])
    assert any(problem in p for p in problems), problems


def test_one_flow_per_entry_point():
    point = {"pay": {"step": "later", "context": "booking_id"}}
    problems = validate([_flow("one", entry_points=point), _flow("two", entry_points=point)])
    assert any("also" in p for p in problems), problems


def test_the_booking_flow_declares_the_receipts_pay_button():
    from flows.definitions.booking_flow import FLOW, PAY_ENTRY_POINT

    assert FLOW["entry_points"][PAY_ENTRY_POINT] == {
        "step": "prepare_payment",
        "context": "booking_id",
    }


@pytest.mark.django_db
def test_a_pay_button_opens_the_declared_step(phone, make_booking):
    from tests.flows.engine.chat import describe

    phone.says("hi")
    booking = make_booking(total="200.00", contact=phone.contact)
    reply = {
        "type": "button_reply",
        "button_reply": {"id": Callback("pay", str(booking.pk)).encode(), "title": "Pay balance"},
    }
    answer = phone._post({"type": "interactive", "interactive": reply}, "(taps) Pay balance")
    assert answer[-1].flow_step == "booking:ask_payment_option"
    assert "Amount due: USD 200.00" in describe(answer[-1])


def test_the_engine_imports_no_form_and_names_no_flow():
    for path in ENGINE.glob("*.py"):
        text = path.read_text()
        assert "payment_form" not in text, path.name
        assert "prepare_payment" not in text, path.name


@pytest.mark.django_db
def test_a_form_completion_goes_to_the_handler_of_its_whatsapp_flow(phone, settings):
    """Another WhatsApp Flow (not the payment form) gets its own completions."""
    from conversations.models import Message
    from customer_data.models import Tour
    from flows.form_tokens import new_token_id, sign_flow_token
    from flows.models import FlowFormSession, WhatsAppFlow

    phone.says("hi")
    survey = WhatsAppFlow.objects.create(name="feedback_survey", flow_id="999", status="PUBLISHED")
    tour = Tour.objects.filter(is_active=True).first()
    from customer_data.services import create_booking

    booking = create_booking(
        tour=tour,
        start_date=timezone.localdate() + timedelta(days=9),
        adults=1,
        contact=phone.contact,
    )
    session = FlowFormSession.objects.create(
        token_id=new_token_id(),
        whatsapp_flow=survey,
        contact=phone.contact,
        booking=booking,
        amount=Decimal("1.00"),
        expires_at=timezone.now() + timedelta(hours=1),
    )
    seen = []

    @registry.form_completion("feedback_survey")
    def handle(contact, message):
        seen.append((contact.pk, message.pk))

    try:
        reply = {
            "type": "nfm_reply",
            "nfm_reply": {
                "name": "flow",
                "body": "Sent",
                "response_json": json.dumps({"flow_token": sign_flow_token(session.token_id)}),
            },
        }
        phone._post({"type": "interactive", "interactive": reply}, "(submits the survey)")
    finally:
        del registry.FORM_COMPLETIONS["feedback_survey"]
    inbound = Message.objects.get(direction="in", message_type="flow_reply")
    assert seen == [(phone.contact.pk, inbound.pk)]
    session.refresh_from_db()
    assert session.status == "sent"  # the payment form's handler never saw it


def test_the_payment_form_is_registered_for_its_whatsapp_flow():
    from flows import payment_form

    registry.ensure_registered()
    assert registry.FORM_COMPLETIONS["payment_whatsapp_flow"] is payment_form.handle_form_completion
