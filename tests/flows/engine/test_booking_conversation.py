"""Whole conversations through signed webhooks: from "hi" to a booking and the payment choice."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from conversations.models import Contact
from customer_data.models import Booking, Traveler
from flows.models import ContactFlowState
from tests.flows.engine.chat import (
    NEXT_YEAR,
    book_until_payment_choice,
    describe,
    options,
    section_titles,
    texts,
)

pytestmark = pytest.mark.django_db


def state_of(phone) -> ContactFlowState:
    return ContactFlowState.objects.select_related("flow").get(contact__whatsapp_id=phone.wa_id)


def test_happy_path_creates_booking_with_travellers_and_offers_payment(phone):
    summary = book_until_payment_choice(phone)
    summary_text = texts(summary)
    assert "Tour: Victoria Falls Tour" in summary_text
    assert f"Date: 15 Dec {NEXT_YEAR}" in summary_text
    assert "1. Tendai Moyo (34, Zimbabwean, ID AB123456)" in summary_text
    assert "2. Jane Smith (31, British)" in summary_text
    assert "2 x USD 50.00 = *USD 100.00*" in summary_text  # quote_booking's price
    assert options(summary[-1]).keys() == {"Confirm booking", "Edit details", "Don't book"}
    assert not Booking.objects.exists()

    confirmed = phone.taps("Confirm booking")
    booking = Booking.objects.get()
    assert booking.contact == phone.contact
    assert (booking.number_of_adults, booking.number_of_children) == (2, 0)
    assert booking.start_date == date(NEXT_YEAR, 12, 15)
    assert booking.email == "tendai@example.com"
    assert str(booking.total_amount) == "100.00"
    assert list(
        booking.travelers.values_list("name", "age", "nationality", "id_number", "traveler_type")
    ) == [
        ("Tendai Moyo", 34, "Zimbabwean", "AB123456", Traveler.TravelerType.ADULT),
        ("Jane Smith", 31, "British", "", Traveler.TravelerType.ADULT),
    ]
    assert booking.booking_reference in describe(confirmed[0])
    choice = confirmed[-1]
    assert choice.flow_step == "booking:ask_payment_option"
    assert choice.payload["interactive"]["type"] == "list"
    assert section_titles(choice) == ["Mobile Money (Paynow)", "Other ways to pay"]
    rows = options(choice)
    assert {"Pay Full via Paynow", "Pay 50% Deposit", "Omari", "Bank Transfer"} <= rows.keys()
    deposit_row = next(
        r
        for s in choice.payload["interactive"]["action"]["sections"]
        for r in s["rows"]
        if r["id"] == "paynow_deposit"
    )
    assert deposit_row["description"].startswith("via Paynow: USD 50.00")
    print("\n".join(phone.transcript))


def test_children_are_priced_and_stored_as_children(phone):
    summary = book_until_payment_choice(phone, children=1)
    assert "2 x USD 50.00 + 1 x USD 25.00 = *USD 125.00*" in texts(summary)
    phone.taps("Confirm booking")
    booking = Booking.objects.get()
    assert booking.number_of_children == 1
    assert booking.travelers.filter(traveler_type="child", name="Little Moyo", age=8).exists()


def test_every_question_reasks_an_invalid_answer_without_advancing(phone):
    phone.says("hello")
    phone.taps("Book a tour")

    def refused(answer: str, expected_step: str, hint: str):
        reply = phone.says(answer)
        assert len(reply) == 1, texts(reply)
        assert hint in describe(reply[0]), describe(reply[0])
        assert state_of(phone).current_step == expected_step
        return reply[0]

    tours = refused("the big one", "choose_tour", "Please choose one of the options")
    assert "Mosi-oa-Tunya Rhino Wal…" in options(tours)  # cut to Meta's 24 characters
    phone.says("mosi-oa-tunya rhino walk & game drive")  # typed in full: understood
    # The conversation goes on with the tour's full name, not the cut list title.
    assert state_of(phone).context["tour_id_label"] == "Mosi-oa-Tunya Rhino Walk & Game Drive"
    phone.says("menu")
    phone.taps("Book a tour")
    phone.says("zambezi sunset cruise")
    refused("next tuesday-ish", "ask_date", "couldn't read that date")
    past = date.today() - timedelta(days=3)
    refused(past.strftime("%d/%m/%Y"), "ask_date", "is in the past")
    phone.says(f"{NEXT_YEAR}-12-15")
    assert state_of(phone).context["travel_date"] == f"{NEXT_YEAR}-12-15"
    refused("lots", "ask_adults", "from 1 to 20")
    refused("0", "ask_adults", "from 1 to 20")
    phone.says("one")
    refused("-1", "ask_children", "from 0 to 20")
    phone.says("none")
    refused("A", "ask_traveller_name", "full name")
    phone.says("Tendai Moyo")
    refused("thirty", "ask_traveller_age", "age in years")
    refused("150", "ask_traveller_age", "age in years")
    phone.says("34")
    refused("?!", "ask_traveller_nationality", "nationality")
    phone.says("Zimbabwean")
    refused("12", "ask_traveller_id", "too short")
    phone.says("skip")
    refused("tendai at example", "ask_email", "doesn't look like an e-mail")
    summary = phone.says("Tendai@Example.com")
    refused("maybe", "confirm_booking", "Please choose one of the options")
    assert "1 x USD 85.00 = *USD 85.00*" in texts(summary)
    phone.says("yes")  # a typed synonym of "Confirm booking"
    assert Booking.objects.get().email == "tendai@example.com"
    assert state_of(phone).current_step == "ask_payment_option"
    refused("crypto", "ask_payment_option", "Please choose one of the options")


def test_three_invalid_answers_hand_over_to_a_person(phone):
    phone.says("book")
    for _ in range(2):
        phone.says("no idea")
        assert state_of(phone).current_step == "choose_tour"
    last = phone.says("still no idea")
    assert "get a person to help" in texts(last)
    contact = Contact.objects.get(whatsapp_id=phone.wa_id)
    assert contact.needs_human_intervention and contact.bot_paused_until
    assert state_of(phone).flow is None


def test_date_formats_are_understood(phone):
    phone.says("book a tour")
    phone.taps("Victoria Falls Tour")
    for answer in (
        f"15/12/{NEXT_YEAR}",
        f"15 Dec {NEXT_YEAR}",
        f"{NEXT_YEAR}-12-15",
        f"15th December {NEXT_YEAR}",
    ):
        phone.says(answer)
        assert state_of(phone).context["travel_date"] == f"{NEXT_YEAR}-12-15", answer
        phone.says("menu")
        phone.taps("Book a tour")
        phone.taps("Victoria Falls Tour")


def test_cancel_mid_flow_stops_and_keeps_nothing(phone):
    phone.says("book")
    phone.taps("Victoria Falls Tour")
    reply = phone.says("Cancel")
    assert "stopped there" in texts(reply)
    state = state_of(phone)
    assert state.flow is None and state.context == {}
    assert not Booking.objects.exists()
    # Idle again: anything not understood shows the main menu.
    reply = phone.says("what?")
    assert "How can I help you today" in describe(reply[-1])


def test_menu_mid_flow_goes_back_to_the_main_menu(phone):
    phone.says("book")
    phone.taps("Victoria Falls Tour")
    phone.says(f"15/12/{NEXT_YEAR}")
    reply = phone.says("MENU")
    assert "How can I help you today" in describe(reply[-1])
    assert state_of(phone).flow.name == "main_menu"
    assert "travel_date" not in state_of(phone).context


def test_help_repeats_the_current_question(phone):
    phone.says("book")
    phone.taps("Victoria Falls Tour")
    reply = phone.says("help")
    assert "*menu*" in describe(reply[0]) and "*agent*" in describe(reply[0])
    assert "On which date" in describe(reply[1])
    assert state_of(phone).current_step == "ask_date"


def test_hi_triggers_but_this_does_not(phone):
    from flows.engine.triggers import best_trigger, contains_phrase

    assert contains_phrase("Hi!", "hi") and contains_phrase("oh hi there", "hi")
    assert not contains_phrase("this", "hi") and not contains_phrase("which one", "hi")
    flows = [
        ("main_menu", ["hi"]),
        ("booking", ["book", "book a tour"]),
        ("my_bookings", ["my bookings"]),
    ]
    assert best_trigger("Hi, I want to book a tour", flows) == "booking"
    assert best_trigger("show me my bookings please", flows) == "my_bookings"
    assert best_trigger("this", flows) is None
    assert best_trigger("facebook", flows) is None  # "book" inside a word

    reply = phone.says("I'd like to book")
    assert state_of(phone).flow.name == "booking"
    phone.says("cancel")
    reply = phone.says("this")  # no trigger: the main menu, as for any unknown input
    assert state_of(phone).flow.name == "main_menu"
    assert "How can I help you today" in describe(reply[-1])


def test_idle_conversation_ends_with_a_note_and_starts_clean(phone):
    from django.utils import timezone

    phone.says("book")
    phone.taps("Victoria Falls Tour")
    ContactFlowState.objects.filter(contact__whatsapp_id=phone.wa_id).update(
        last_activity_at=timezone.now() - timedelta(hours=25)
    )
    reply = phone.says(f"15/12/{NEXT_YEAR}")  # an answer to a question from yesterday
    assert "closed our earlier conversation" in describe(reply[0])
    assert "How can I help you today" in describe(reply[-1])
    state = state_of(phone)
    assert state.flow.name == "main_menu" and "tour_id" not in state.context


def test_idle_timeout_is_a_setting(phone, settings):
    from django.utils import timezone

    settings.FLOW_IDLE_TIMEOUT = 60
    phone.says("book")
    ContactFlowState.objects.filter(contact__whatsapp_id=phone.wa_id).update(
        last_activity_at=timezone.now() - timedelta(seconds=61)
    )
    assert "closed our earlier conversation" in texts(phone.says("hello"))


def test_agent_hands_over_and_the_bot_stays_silent(phone):
    phone.says("book")
    reply = phone.says("agent")
    assert "member of our team" in texts(reply)
    contact = Contact.objects.get(whatsapp_id=phone.wa_id)
    assert contact.needs_human_intervention
    assert phone.says("hello?") == []
    assert phone.says("menu") == []


def test_unsupported_messages_get_a_polite_answer(phone):
    reply = phone.sends_location()
    assert "I can only read text" in texts(reply)
    phone.says("book")
    phone.taps("Victoria Falls Tour")
    reply = phone.sends_image()
    assert "I can only read text" in describe(reply[0])
    assert "On which date" in describe(reply[0])  # re-asked, not advanced
    assert state_of(phone).current_step == "ask_date"


def test_edit_from_the_summary_returns_to_the_summary(phone):
    book_until_payment_choice(phone)
    phone.taps("Edit details")
    phone.taps("Date")
    summary = phone.says(f"20/12/{NEXT_YEAR}")
    assert f"Date: 20 Dec {NEXT_YEAR}" in texts(summary)
    assert "1. Tendai Moyo" in texts(summary)  # nothing entered was lost
    phone.taps("Edit details")
    phone.taps("Travellers")
    phone.says("1")
    phone.says("0")
    phone.says("Tendai Moyo")
    phone.says("34")
    phone.says("Zimbabwean")
    phone.says("skip")
    summary = phone.says("new@example.com")
    assert "1 x USD 50.00 = *USD 50.00*" in texts(summary)
    assert "Jane Smith" not in texts(summary)
    phone.taps("Confirm booking")
    booking = Booking.objects.get()
    assert (booking.number_of_adults, booking.email) == (1, "new@example.com")
    assert booking.travelers.count() == 1


def test_paynow_disabled_hides_the_paynow_rows(phone, settings):
    settings.PAYNOW_ENABLED = False
    book_until_payment_choice(phone)
    choice = phone.taps("Confirm booking")[-1]
    assert section_titles(choice) == ["Other ways to pay"]
    assert not {"Pay Full via Paynow", "Pay 50% Deposit"} & options(choice).keys()
    assert phone.says("paynow") and state_of(phone).current_step == "ask_payment_option"


def test_my_bookings_lists_status_and_balance_and_pays_through_the_same_choice(phone, settings):
    book_until_payment_choice(phone)
    phone.taps("Confirm booking")
    booking = Booking.objects.get()
    phone.says("menu")
    reply = phone.taps("My bookings")
    listing = describe(reply[-1])
    assert booking.booking_reference in listing
    assert "Pending" in listing and "balance USD 100.00" in listing
    details = phone.taps(booking.booking_reference)
    assert "Balance: USD 100.00" in describe(details[-1])
    choice = phone.taps("Pay balance")[-1]
    assert choice.flow_step == "booking:ask_payment_option"
    assert "Pay Full via Paynow" in options(choice)


def test_no_bookings_yet(phone):
    reply = phone.says("my bookings")
    assert "don't have any bookings" in describe(reply[-1])
    reply = phone.taps("Book a tour")
    assert state_of(phone).flow.name == "booking"


def test_contact_details(phone):
    phone.says("hi")
    reply = phone.taps("Contact details")
    assert "Victoria Falls" in describe(reply[-1]) and "Office hours" in describe(reply[-1])
    assert state_of(phone).flow is None
