"""load_flow_definitions: validates everything, lists every problem, stores idempotently."""

from __future__ import annotations

import copy

import pytest
from django.core.management import CommandError, call_command

from flows.engine import loader
from flows.engine.loader import FlowDefinitionError, discover, load_flow_definitions
from flows.models import Flow
from tests.flows.engine import chat

pytestmark = pytest.mark.django_db


def test_discovers_only_conversation_flows():
    names = sorted(flow["name"] for _, flow in discover())
    # payment_whatsapp_flow.py holds Flow JSON for Meta (no FLOW/FLOWS): ignored.
    assert names == ["booking", "main_menu", "my_bookings"]


def test_loading_is_idempotent_and_updates_in_place(capsys):
    call_command("load_flow_definitions")
    assert "created: booking, main_menu, my_bookings" in capsys.readouterr().out
    ids = dict(Flow.objects.values_list("name", "id"))
    versions = dict(Flow.objects.values_list("name", "version"))

    call_command("load_flow_definitions")
    assert "unchanged: booking, main_menu, my_bookings" in capsys.readouterr().out

    changed = [(source, copy.deepcopy(flow)) for source, flow in discover()]
    for _, flow in changed:
        if flow["name"] == "main_menu":
            flow["steps"]["contact_details"]["message"] = "Call us on +263 77 100 0000."
    report = load_flow_definitions(changed)
    assert report.updated == ["main_menu"] and sorted(report.unchanged) == [
        "booking",
        "my_bookings",
    ]
    assert dict(Flow.objects.values_list("name", "id")) == ids  # same rows
    assert Flow.objects.get(name="main_menu").version != versions["main_menu"]
    assert (
        Flow.objects.get(name="main_menu").definition["steps"]["contact_details"]["message"]
        == "Call us on +263 77 100 0000."
    )


BROKEN = {
    "name": "broken",
    "triggers": ["broken"],
    "start": "ask",
    "steps": {
        "ask": {
            "type": "question",
            "expect": "choice",
            "message": {
                "kind": "buttons",
                "body": "Pick one",
                "buttons": [
                    {"id": "a", "title": "A"},
                    {"id": "b", "title": "B"},
                    {"id": "c", "title": "C"},
                    {"id": "d", "title": "D"},
                ],
            },
            "transitions": {"a": "teleport", "b": "do_it", "c": "check", "d": "list"},
        },
        "do_it": {"type": "action", "action": "launch_rockets", "next": "done"},
        "check": {
            "type": "branch",
            "branches": [{"if": "moon_is_full", "then": "done"}],
            "else": "done",
        },
        "list": {
            "type": "question",
            "expect": "choice",
            "message": {
                "kind": "list",
                "body": "Choose",
                "button": "Options",
                "sections": [
                    {
                        "title": "Mobile Money (Paynow)",
                        "rows": [{"id": "x", "title": "Pay 50% Deposit via Paynow"}],
                    }
                ],
            },
            "next": "done",
        },
        "wobble": {"type": "dance", "next": "done"},
        "orphan": {"type": "end", "message": "nobody gets here"},
        "pay": {
            "type": "action",
            "action": "initiate_paynow_payment",
            "transitions": {"started": "done"},
        },
        "elsewhere": {"type": "switch_flow", "flow": "no_such_flow"},
        "done": {"type": "end", "message": "Bye {{ contact.__class__ }}"},
    },
}


def test_broken_definitions_are_refused_with_every_problem_listed():
    with pytest.raises(FlowDefinitionError) as caught:
        load_flow_definitions([("broken_flow.py", BROKEN)])
    problems = caught.value.problems
    text = "\n".join(problems)
    expected = [
        "step 'ask': message: breaks Meta's limits: "
        "interactive.action.buttons: 4 items, limit is 3",
        "step 'ask': transitions['a'] leads to missing step 'teleport'",
        "step 'do_it': unknown action 'launch_rockets'",
        "step 'check': branches[0] uses unknown condition 'moon_is_full'",
        "step 'list': message: breaks Meta's limits: interactive.action.sections[0].rows[0].title: "
        "26 characters, limit is 24",
        "step 'wobble': unknown step type 'dance'",
        "step 'orphan': unreachable from 'ask'",
        "step 'pay': outcomes [",
        "step 'elsewhere': switches to unknown flow 'no_such_flow'",
        "step 'done': message: placeholder {{ contact.__class__ }} is not a plain dotted name",
    ]
    for fragment in expected:
        assert fragment in text, f"{fragment!r} not in:\n{text}"
    assert all(p.startswith("broken_flow.py: flow 'broken'") for p in problems)
    assert not Flow.objects.exists()  # nothing stored


def test_more_problems_unknown_expect_missing_fields_bad_types():
    flow = {
        "name": "Bad Name",
        "start": "nowhere",
        "colour": "blue",
        "steps": {
            "q": {
                "type": "question",
                "expect": "telepathy",
                "message": "?",
                "next": "q",
                "typo": 1,
            },
            "m": {"type": "message"},
        },
    }
    with pytest.raises(FlowDefinitionError) as caught:
        load_flow_definitions([("bad.py", flow), ("bad_again.py", {**flow})])
    text = "\n".join(caught.value.problems)
    for fragment in [
        "'name' must be a slug",
        "unknown field 'colour'",
        "start step 'nowhere' does not exist",
        "unknown expected type 'telepathy'",
        "unknown field 'typo' for a question step",
        "step 'm': missing required field 'message'",
        "flow 'Bad Name' is defined twice",
    ]:
        assert fragment in text, f"{fragment!r} not in:\n{text}"


def test_management_command_fails_listing_the_problems(monkeypatch):
    monkeypatch.setattr(loader, "discover", lambda: [("broken_flow.py", BROKEN)])
    with pytest.raises(CommandError) as caught:
        call_command("load_flow_definitions")
    message = str(caught.value)
    assert "problem(s) in the flow definitions" in message
    assert "unknown action 'launch_rockets'" in message and "unknown step type 'dance'" in message


def test_check_only_validates(capsys):
    call_command("load_flow_definitions", "--check")
    assert "are valid" in capsys.readouterr().out
    assert not Flow.objects.exists()


def test_an_empty_flow_table_is_loaded_on_the_first_message(
    client, django_capture_on_commit_callbacks, whatsapp_number
):
    assert not Flow.objects.exists()
    phone = chat.Phone(client, django_capture_on_commit_callbacks)
    reply = phone.says("hi")
    assert "How can I help you today" in chat.describe(reply[-1])
    assert Flow.objects.count() == 3
