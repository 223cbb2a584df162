"""Input a real person (or a prankster) might send, through signed webhooks."""

import pytest

from tests.flows.engine.chat import describe

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("odd", ["²", "٣", "9" * 5000, "\u200b", "🙂"])
def test_odd_answers_to_a_menu_are_re_asked(phone, odd):
    menu = phone.says("hi")
    assert menu, "the menu comes first"
    replies = phone.says(odd)
    assert replies, f"the bot must answer {odd[:10]!r}"
    assert "Sorry, something went wrong" not in describe(replies[-1])


def test_a_number_configured_without_waba_id_still_talks(phone, whatsapp_number):
    whatsapp_number.waba_id = ""
    whatsapp_number.display_phone_number = ""
    whatsapp_number.save()
    replies = phone.says("hi")
    assert replies and "only read text" not in describe(replies[0])


def test_a_pay_button_for_someone_elses_booking_finds_nothing(phone, make_booking):
    """Button ids come back from the client: a forged `pay:<id>` must not reach another
    traveller's booking."""
    from conversations.models import Contact
    from customer_data.models import Payment

    stranger = Contact.objects.create(whatsapp_id="263779999999", name="Someone else")
    theirs = make_booking(total="200.00", contact=stranger)
    phone.says("hi")
    reply = {"type": "button_reply", "button_reply": {"id": f"pay:{theirs.pk}", "title": "Pay"}}
    answer = phone._post({"type": "interactive", "interactive": reply}, "(forged) pay")
    shown = " ".join(describe(m) for m in answer)
    assert "couldn't find that booking" in shown
    assert theirs.booking_reference not in shown
    assert not Payment.objects.filter(booking=theirs).exists()
