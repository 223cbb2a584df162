"""Input a real person (or a prankster) might send, through signed webhooks."""

import pytest

from tests.flows_engine.chat import describe

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
