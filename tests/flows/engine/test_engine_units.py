"""The engine's small parts: sandboxed templates, answer parsing, trigger matching."""

from __future__ import annotations

from datetime import date

import pytest

from flows import templating
from flows.engine import answers
from flows.engine.triggers import command_for

TODAY = date(2026, 6, 1)


def test_templates_render_plain_data_with_dotted_access_into_dicts_only():
    data = {"name": "Tendai", "booking": {"reference": "BK-ABCD2345", "travellers": ["A", "B"]}}
    assert (
        templating.render("Hi {{ name }}, ref {{booking.reference}}", data)
        == "Hi Tendai, ref BK-ABCD2345"
    )
    assert templating.render("{{ booking.travellers.1 }}", data) == "B"
    assert templating.render("[{{ missing.value }}]", data) == "[]"
    assert templating.render("{{ booking }}", data) == ""  # structures are not printed


class Secretive:
    password = "hunter2"

    def __str__(self):
        return "secret"


@pytest.mark.parametrize(
    "template",
    [
        "{{ obj.password }}",
        "{{ obj.__class__ }}",
        "{{ name.__class__.__mro__ }}",
        "{{ name.upper }}",
        "{{ _private }}",
        "{{ obj }}",
        "{{ name|safe }}",
        "{{ name() }}",
    ],
)
def test_templates_cannot_reach_attributes_or_internals(template):
    data = {"obj": Secretive(), "name": "Tendai", "_private": "x"}
    assert templating.render(template, data) in ("", "{{ name|safe }}", "{{ name() }}")
    assert "hunter2" not in templating.render(template, data)
    assert "secret" not in templating.render(template, data)


def test_template_check_reports_bad_placeholders():
    assert templating.check_template("Hello {{ contact.first_name }}") == []
    assert templating.check_template("{{ a.__class__ }}")
    assert templating.check_template("{{ a }")


@pytest.mark.parametrize(
    "text",
    [
        "15/12/2026",
        "15-12-2026",
        "2026-12-15",
        "15 Dec 2026",
        "15 december 2026",
        "December 15, 2026",
        "15th Dec 2026",
        "15 Dec",
        "15.12.2026",
    ],
)
def test_dates_in_common_formats(text):
    assert answers.parse_date(text, TODAY) == date(2026, 12, 15)


@pytest.mark.parametrize("text", ["31/02/2027", "soon", "12/13/2026", ""])
def test_nonsense_dates(text):
    assert answers.parse_date(text, TODAY) is None


def test_past_dates_are_refused():
    step = {"expect": "date"}
    result = answers.parse(step, answers.Incoming(kind="text", text="01/05/2026"), [], TODAY)
    assert not result.ok and "in the past" in result.error
    result = answers.parse(step, answers.Incoming(kind="text", text="tomorrow"), [], TODAY)
    assert result.ok and result.value == "2026-06-02"


@pytest.mark.parametrize(
    ("text", "value"), [("2", 2), (" two ", 2), ("none", 0), ("Zero", 0), ("20", 20)]
)
def test_integers_and_words(text, value):
    step = {"expect": "integer", "min": 0, "max": 20}
    assert answers.parse(step, answers.Incoming(kind="text", text=text), [], TODAY).value == value


@pytest.mark.parametrize("text", ["21", "-1", "2.5", "a few", ""])
def test_integers_out_of_range_or_unreadable(text):
    step = {"expect": "integer", "min": 0, "max": 20}
    assert not answers.parse(step, answers.Incoming(kind="text", text=text), [], TODAY).ok


def test_choice_matches_id_title_number_and_synonym_not_stale_buttons():
    options = [
        {"id": "confirm", "title": "Confirm booking", "synonyms": ["yes"]},
        {"id": "edit", "title": "Edit"},
    ]
    step = {"expect": "choice"}

    def pick(**kw):
        return answers.parse(step, answers.Incoming(**{"kind": "text", **kw}), options, TODAY)

    assert pick(text="confirm booking").value == "confirm"
    assert pick(text="2").value == "edit"
    assert pick(text="Yes!").value == "confirm"
    assert pick(kind="button_reply", reply_id="edit", reply_title="Edit").value == "edit"
    assert not pick(kind="button_reply", reply_id="paynow_full", reply_title="Edit").ok


def test_global_commands_are_whole_messages():
    assert command_for("Menu") == "menu"
    assert command_for("main menu.") == "menu"
    assert command_for("CANCEL") == "cancel"
    assert command_for("talk to an agent") == "agent"
    assert command_for("I want to cancel my booking") is None
    assert command_for("Helper") is None
    assert command_for("", reply_id="cmd:agent") == "agent"
    assert command_for("Cancel", reply_id="discard") is None  # a button of ours, not a command
