"""Webhook bodies parse once into typed, immutable values; malformed bodies are refused."""

import copy
import dataclasses
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from meta_integration.payloads import (
    ChangeValue,
    ContactProfile,
    InboundMessage,
    MalformedWebhook,
    MessageKind,
    StatusUpdate,
    WebhookEnvelope,
    WebhookError,
    parse_webhook,
)

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "meta"

PHONE_NUMBER_ID = "123456789012345"
WABA_ID = "102290129340398"
DISPLAY_NUMBER = "263771000000"
CUSTOMER = "263771234567"
WAMID_PREFIX = "wamid.HBgMMjYzNzcxMjM0NTY3FQIA"
OUR_RECEIPT_WAMID = WAMID_PREFIX + "ERgSMTdBMkM5ODNGRTVERjQ2MjA3AA=="


def load(name: str) -> dict:
    return json.loads((FIXTURES / f"{name}.json").read_text())


def only_message(name: str) -> InboundMessage:
    envelope = parse_webhook(load(name))
    assert len(envelope.messages) == 1
    return envelope.messages[0]


def only_status(name: str) -> StatusUpdate:
    envelope = parse_webhook(load(name))
    assert envelope.messages == ()
    assert len(envelope.statuses) == 1
    return envelope.statuses[0]


def at(seconds: int) -> datetime:
    return datetime.fromtimestamp(seconds, tz=UTC)


# --- fixtures --------------------------------------------------------------------------------

ALL_FIXTURES = sorted(p.stem for p in FIXTURES.glob("*.json"))


def test_all_expected_fixtures_exist():
    assert set(ALL_FIXTURES) >= {
        "text",
        "button_reply",
        "list_reply",
        "flow_completion_nfm_reply",
        "image",
        "location",
        "status_sent",
        "status_delivered",
        "status_read",
        "status_failed",
        "multiple_messages",
    }


@pytest.mark.parametrize("name", ALL_FIXTURES)
def test_every_fixture_has_the_test_business_identity(name):
    envelope = parse_webhook(load(name))
    assert len(envelope.changes) == 1
    change = envelope.changes[0]
    assert isinstance(change, ChangeValue)
    assert change.waba_id == WABA_ID
    assert change.phone_number_id == PHONE_NUMBER_ID
    assert change.display_phone_number == DISPLAY_NUMBER
    assert change.errors == ()
    assert envelope.others == ()
    assert envelope.all_skipped == ()


def test_text():
    envelope = parse_webhook(load("text"))
    assert isinstance(envelope, WebhookEnvelope)
    assert envelope.changes[0].contacts == (ContactProfile(CUSTOMER, None, "Tendai"),)
    message = envelope.messages[0]
    assert message == InboundMessage(
        wamid=WAMID_PREFIX + "EhggM0EwMUI2QkY5QzM4RDZGNTk1QjQ4ODE5MzdDNzhCQjIA",
        from_wa_id=CUSTOMER,
        timestamp=datetime(2025, 11, 30, 22, 0, 0, tzinfo=UTC),
        type="text",
        kind=MessageKind.TEXT,
        raw={},  # raw is excluded from equality
        profile_name="Tendai",
        text="Hi",
    )
    assert message.raw["text"] == {"body": "Hi"}
    assert message.timestamp.tzinfo is UTC


def test_button_reply():
    message = only_message("button_reply")
    assert message.kind is MessageKind.BUTTON_REPLY
    assert message.type == "interactive"
    assert (message.reply_id, message.reply_title) == ("menu_book_tour", "Book a Tour")
    assert message.reply_description is None
    assert message.text is None
    assert message.context_wamid == WAMID_PREFIX + "ERgSNEU3QjI5RDE0QjA2QjdGNUI3AA=="
    assert message.timestamp == at(1764540042)
    assert message.profile_name == "Tendai"


def test_list_reply():
    message = only_message("list_reply")
    assert message.kind is MessageKind.LIST_REPLY
    assert message.reply_id == "tour_victoria_falls"
    assert message.reply_title == "Victoria Falls Tour"
    assert message.reply_description == "Full-day guided tour of the Falls, from USD 150"
    assert message.context_wamid == WAMID_PREFIX + "ERgSQjU4RjYwRTM2MUY0QjE5QkE0AA=="


def test_flow_completion():
    message = only_message("flow_completion_nfm_reply")
    assert message.kind is MessageKind.FLOW_REPLY
    assert message.flow_response == {
        "flow_token": "bk_ZW3K7Q2P.pay_full.15000.1764540000.9f2c1e7a4b",
        "payment_method": "ecocash",
        "phone_number": "0771234567",
        "email": "tendai@example.co.zw",
    }
    assert message.flow_token == "bk_ZW3K7Q2P.pay_full.15000.1764540000.9f2c1e7a4b"
    assert message.reply_id is None
    assert message.context_wamid == WAMID_PREFIX + "ERgSRDk0QzFBNkE3OEYyM0UwNTlFAA=="


@pytest.mark.parametrize("name,type_", [("image", "image"), ("location", "location")])
def test_media_and_location_are_unsupported_not_errors(name, type_):
    message = only_message(name)
    assert message.kind is MessageKind.UNSUPPORTED
    assert message.type == type_
    assert message.text is None
    assert message.reply_id is None
    assert message.flow_response is None
    assert type_ in message.raw  # the original content is kept for the record


def test_location_raw_keeps_coordinates():
    assert only_message("location").raw["location"]["latitude"] == -17.9318


@pytest.mark.parametrize(
    "name,status,seconds",
    [
        ("status_sent", "sent", 1764540005),
        ("status_delivered", "delivered", 1764540006),
        ("status_read", "read", 1764540043),
    ],
)
def test_status_updates(name, status, seconds):
    update = only_status(name)
    assert update.wamid == OUR_RECEIPT_WAMID
    assert update.status == status
    assert update.timestamp == at(seconds)
    assert update.recipient_id == CUSTOMER
    assert update.errors == ()
    assert update.error_code is None
    assert update.error_title is None
    assert update.error_details is None


def test_status_failed_carries_the_error():
    update = only_status("status_failed")
    assert update.status == "failed"
    assert update.errors == (
        WebhookError(
            code=131047,
            title="Re-engagement message",
            message="Re-engagement message",
            details=(
                "Message failed to send because more than 24 hours have passed since the "
                "customer last replied to this number."
            ),
        ),
    )
    assert update.error_code == 131047
    assert update.error_title == "Re-engagement message"
    assert update.error_message == "Re-engagement message"
    assert update.error_details.startswith("Message failed to send")


def test_status_pricing_stays_available_in_raw():
    assert only_status("status_sent").raw["pricing"]["category"] == "service"


def test_multiple_messages_keep_order_and_profile_names():
    envelope = parse_webhook(load("multiple_messages"))
    change = envelope.changes[0]
    assert [(c.wa_id, c.name) for c in change.contacts] == [
        (CUSTOMER, "Tendai"),
        ("263772345678", "Chipo"),
    ]
    assert [(m.from_wa_id, m.profile_name, m.text) for m in change.messages] == [
        (CUSTOMER, "Tendai", "Hi"),
        (CUSTOMER, "Tendai", "I'd like to book the Victoria Falls tour for 2 people"),
        ("263772345678", "Chipo", "menu"),
    ]
    assert len({m.wamid for m in change.messages}) == 3
    assert envelope.messages == change.messages


def test_parsed_values_are_frozen_and_detached_from_input():
    data = load("text")
    message = parse_webhook(data).messages[0]
    with pytest.raises(dataclasses.FrozenInstanceError):
        message.text = "changed"  # type: ignore[misc]
    data["entry"][0]["changes"][0]["value"]["messages"][0]["text"]["body"] = "mutated"
    assert message.raw["text"]["body"] == "Hi"


def test_parse_does_not_modify_its_input():
    data = load("flow_completion_nfm_reply")
    before = copy.deepcopy(data)
    parse_webhook(data)
    assert data == before


# --- shapes beyond the fixtures --------------------------------------------------------------


def envelope_with(value_patch: dict | None = None, message: dict | None = None) -> dict:
    data = load("text")
    value = data["entry"][0]["changes"][0]["value"]
    if message is not None:
        value["messages"] = [message]
    if value_patch:
        value.update(value_patch)
    return data


def base_message(**fields) -> dict:
    message = {"from": CUSTOMER, "id": "wamid.X1", "timestamp": "1764540000"}
    message.update(fields)
    return message


@pytest.mark.parametrize(
    "message",
    [
        base_message(type="sticker", sticker={"id": "1", "animated": False}),
        base_message(type="some_future_type"),
        base_message(
            type="unsupported",
            errors=[{"code": 131051, "title": "Message type unknown"}],
        ),
        base_message(type="interactive", interactive={"type": "some_future_reply"}),
    ],
    ids=["sticker", "unknown", "meta-unsupported", "unknown-interactive"],
)
def test_unknown_types_are_unsupported_kind(message):
    parsed = parse_webhook(envelope_with(message=message)).messages[0]
    assert parsed.kind is MessageKind.UNSUPPORTED
    assert parsed.type == message["type"]


def test_meta_unsupported_message_keeps_its_error():
    message = base_message(type="unsupported", errors=[{"code": 131051, "title": "Unknown"}])
    parsed = parse_webhook(envelope_with(message=message)).messages[0]
    assert parsed.errors == (WebhookError(131051, "Unknown", "", ""),)


def test_template_quick_reply_button_is_a_button_reply():
    message = base_message(type="button", button={"payload": "confirm_booking", "text": "Confirm"})
    parsed = parse_webhook(envelope_with(message=message)).messages[0]
    assert parsed.kind is MessageKind.BUTTON_REPLY
    assert (parsed.reply_id, parsed.reply_title) == ("confirm_booking", "Confirm")
    assert parsed.type == "button"


def test_list_reply_without_description():
    message = base_message(
        type="interactive",
        interactive={"type": "list_reply", "list_reply": {"id": "r1", "title": "Row"}},
    )
    assert parse_webhook(envelope_with(message=message)).messages[0].reply_description is None


def test_flow_reply_without_token_has_none():
    message = base_message(
        type="interactive",
        interactive={
            "type": "nfm_reply",
            "nfm_reply": {"name": "flow", "body": "Sent", "response_json": '{"a": 1}'},
        },
    )
    parsed = parse_webhook(envelope_with(message=message)).messages[0]
    assert parsed.flow_response == {"a": 1}
    assert parsed.flow_token is None


def test_integer_timestamp_is_accepted():
    parsed = parse_webhook(envelope_with(message=base_message(type="text", text={"body": "x"})))
    assert parsed.messages[0].timestamp == at(1764540000)
    message = base_message(type="text", text={"body": "x"}, timestamp=1764540000)
    assert parse_webhook(envelope_with(message=message)).messages[0].timestamp == at(1764540000)


def test_message_without_contacts_has_empty_profile_name():
    data = envelope_with({"contacts": None})
    assert parse_webhook(data).messages[0].profile_name == ""


def test_contact_without_profile():
    data = envelope_with({"contacts": [{"wa_id": CUSTOMER}]})
    assert parse_webhook(data).changes[0].contacts == (ContactProfile(CUSTOMER, None, ""),)


def test_value_level_errors():
    data = envelope_with({"messages": None, "errors": [{"code": 131000, "title": "Something"}]})
    change = parse_webhook(data).changes[0]
    assert change.messages == ()
    assert change.errors == (WebhookError(131000, "Something", "", ""),)


def test_other_fields_are_kept_apart_with_their_place():
    data = load("text")
    data["entry"][0]["changes"].append(
        {"field": "message_template_status_update", "value": {"event": "APPROVED"}}
    )
    envelope = parse_webhook(data)
    assert len(envelope.changes) == 1
    assert [(c.waba_id, c.field_name, c.event, c.path) for c in envelope.others] == [
        (WABA_ID, "message_template_status_update", "APPROVED", "entry[0].changes[1]")
    ]


def test_several_entries_and_changes_are_flattened_in_order():
    first, second = load("text"), load("status_read")
    first["entry"].append(second["entry"][0])
    envelope = parse_webhook(first)
    assert len(envelope.changes) == 2
    assert [m.text for m in envelope.messages] == ["Hi"]
    assert [s.status for s in envelope.statuses] == ["read"]


def test_empty_entry_list_is_an_empty_envelope():
    assert parse_webhook({"object": "whatsapp_business_account", "entry": []}).changes == ()


# --- malformed -------------------------------------------------------------------------------


def _mutate(name: str, mutate) -> dict:
    data = load(name)
    mutate(data)
    return data


def _value(data: dict) -> dict:
    return data["entry"][0]["changes"][0]["value"]


def _msg(data: dict) -> dict:
    return _value(data)["messages"][0]


def _status(data: dict) -> dict:
    return _value(data)["statuses"][0]


ENVELOPE_MALFORMED = {
    "not an object (list)": [],
    "not an object (str)": "hello",
    "not an object (None)": None,
    "wrong object": {"object": "page", "entry": []},
    "missing object": {"entry": []},
    "missing entry": {"object": "whatsapp_business_account"},
    "entry not a list": {"object": "whatsapp_business_account", "entry": {}},
    "entry item not an object": {"object": "whatsapp_business_account", "entry": ["x"]},
    "entry without id": _mutate("text", lambda d: d["entry"][0].pop("id")),
    "entry without changes": _mutate("text", lambda d: d["entry"][0].pop("changes")),
}


@pytest.mark.parametrize("data", ENVELOPE_MALFORMED.values(), ids=ENVELOPE_MALFORMED.keys())
def test_a_body_without_metas_envelope_is_refused(data):
    with pytest.raises(MalformedWebhook) as excinfo:
        parse_webhook(data)
    assert excinfo.value.reason
    assert isinstance(excinfo.value, ValueError)


# One unreadable item inside the envelope: (body, kind, path, reason fragment).
ITEM_MALFORMED = {
    "change without field": (
        _mutate("text", lambda d: d["entry"][0]["changes"][0].pop("field")),
        "change",
        "entry[0].changes[0]",
        "field: missing",
    ),
    "change without value": (
        _mutate("text", lambda d: d["entry"][0]["changes"][0].pop("value")),
        "change",
        "entry[0].changes[0]",
        "value: expected an object",
    ),
    "missing metadata": (
        _mutate("text", lambda d: _value(d).pop("metadata")),
        "change",
        "entry[0].changes[0]",
        "metadata: expected an object",
    ),
    "missing phone_number_id": (
        _mutate("text", lambda d: _value(d)["metadata"].pop("phone_number_id")),
        "change",
        "entry[0].changes[0]",
        "phone_number_id: missing",
    ),
    "empty phone_number_id": (
        _mutate("text", lambda d: _value(d)["metadata"].update(phone_number_id="")),
        "change",
        "entry[0].changes[0]",
        "phone_number_id: empty",
    ),
    "numeric phone_number_id": (
        _mutate("text", lambda d: _value(d)["metadata"].update(phone_number_id=123456789012345)),
        "change",
        "entry[0].changes[0]",
        "phone_number_id: expected a string",
    ),
    "messages not a list": (
        _mutate("text", lambda d: _value(d).update(messages={})),
        "message",
        "entry[0].changes[0].value.messages",
        "expected a list",
    ),
    "message not an object": (
        _mutate("text", lambda d: _value(d).update(messages=["x"])),
        "message",
        "entry[0].changes[0].value.messages[0]",
        "expected an object",
    ),
    "contact without any id": (
        _mutate("text", lambda d: _value(d)["contacts"][0].pop("wa_id")),
        "contact",
        "entry[0].changes[0].value.contacts[0]",
        "neither wa_id nor user_id",
    ),
    "message without id": (
        _mutate("text", lambda d: _msg(d).pop("id")),
        "message",
        "entry[0].changes[0].value.messages[0]",
        ".id: missing",
    ),
    "message without from nor from_user_id": (
        _mutate("text", lambda d: _msg(d).pop("from")),
        "message",
        "entry[0].changes[0].value.messages[0]",
        "neither from nor from_user_id",
    ),
    "message from a non-number": (
        _mutate("text", lambda d: _msg(d).update({"from": "bla"})),
        "message",
        "entry[0].changes[0].value.messages[0]",
        "from: not a phone number",
    ),
    "message without type": (
        _mutate("text", lambda d: _msg(d).pop("type")),
        "message",
        "entry[0].changes[0].value.messages[0]",
        ".type: missing",
    ),
    "message without timestamp": (
        _mutate("text", lambda d: _msg(d).pop("timestamp")),
        "message",
        "entry[0].changes[0].value.messages[0]",
        "timestamp: missing",
    ),
    "non-numeric timestamp": (
        _mutate("text", lambda d: _msg(d).update(timestamp="yesterday")),
        "message",
        "entry[0].changes[0].value.messages[0]",
        "messages[0].timestamp: expected an integer",
    ),
    "float timestamp": (
        _mutate("text", lambda d: _msg(d).update(timestamp="1764540000.5")),
        "message",
        "entry[0].changes[0].value.messages[0]",
        "timestamp: expected an integer",
    ),
    "negative timestamp": (
        _mutate("text", lambda d: _msg(d).update(timestamp=-1)),
        "message",
        "entry[0].changes[0].value.messages[0]",
        "timestamp: negative",
    ),
    "bool timestamp": (
        _mutate("text", lambda d: _msg(d).update(timestamp=True)),
        "message",
        "entry[0].changes[0].value.messages[0]",
        "got bool",
    ),
    "huge timestamp": (
        _mutate("text", lambda d: _msg(d).update(timestamp="9" * 30)),
        "message",
        "entry[0].changes[0].value.messages[0]",
        "out of range",
    ),
    "text without body": (
        _mutate("text", lambda d: _msg(d).update(text={})),
        "message",
        "entry[0].changes[0].value.messages[0]",
        "text.body: missing",
    ),
    "text not an object": (
        _mutate("text", lambda d: _msg(d).update(text="Hi")),
        "message",
        "entry[0].changes[0].value.messages[0]",
        "text: expected an object",
    ),
    "button_reply without id": (
        _mutate("button_reply", lambda d: _msg(d)["interactive"]["button_reply"].pop("id")),
        "message",
        "entry[0].changes[0].value.messages[0]",
        "button_reply.id: missing",
    ),
    "list_reply without id": (
        _mutate("list_reply", lambda d: _msg(d)["interactive"]["list_reply"].pop("id")),
        "message",
        "entry[0].changes[0].value.messages[0]",
        "list_reply.id: missing",
    ),
    "interactive without type": (
        _mutate("button_reply", lambda d: _msg(d)["interactive"].pop("type")),
        "message",
        "entry[0].changes[0].value.messages[0]",
        "interactive.type: missing",
    ),
    "interactive without its object (WhatsApp Web reconnecting)": (
        _mutate("button_reply", lambda d: _msg(d).pop("interactive")),
        "message",
        "entry[0].changes[0].value.messages[0]",
        "interactive: expected an object",
    ),
    "response_json not JSON": (
        _mutate(
            "flow_completion_nfm_reply",
            lambda d: _msg(d)["interactive"]["nfm_reply"].update(response_json="{flow_token: x"),
        ),
        "message",
        "entry[0].changes[0].value.messages[0]",
        "response_json: not JSON",
    ),
    "response_json not an object": (
        _mutate(
            "flow_completion_nfm_reply",
            lambda d: _msg(d)["interactive"]["nfm_reply"].update(response_json="[1, 2]"),
        ),
        "message",
        "entry[0].changes[0].value.messages[0]",
        "not a JSON object",
    ),
    "response_json missing": (
        _mutate(
            "flow_completion_nfm_reply",
            lambda d: _msg(d)["interactive"]["nfm_reply"].pop("response_json"),
        ),
        "message",
        "entry[0].changes[0].value.messages[0]",
        "response_json: missing",
    ),
    "status without id": (
        _mutate("status_sent", lambda d: _status(d).pop("id")),
        "status",
        "entry[0].changes[0].value.statuses[0]",
        ".id: missing",
    ),
    "status without status": (
        _mutate("status_sent", lambda d: _status(d).pop("status")),
        "status",
        "entry[0].changes[0].value.statuses[0]",
        ".status: missing",
    ),
    "status without any recipient": (
        _mutate("status_sent", lambda d: _status(d).pop("recipient_id")),
        "status",
        "entry[0].changes[0].value.statuses[0]",
        "neither recipient_id nor recipient_user_id",
    ),
    "status with bad timestamp": (
        _mutate("status_read", lambda d: _status(d).update(timestamp="")),
        "status",
        "entry[0].changes[0].value.statuses[0]",
        "timestamp: expected an integer",
    ),
    "status error without code": (
        _mutate("status_failed", lambda d: _status(d)["errors"][0].pop("code")),
        "status",
        "entry[0].changes[0].value.statuses[0]",
        "errors[0].code: missing",
    ),
    "status error with non-numeric code": (
        _mutate("status_failed", lambda d: _status(d)["errors"][0].update(code="oops")),
        "status",
        "entry[0].changes[0].value.statuses[0]",
        "errors[0].code: expected an integer",
    ),
    "status errors not a list": (
        _mutate("status_failed", lambda d: _status(d).update(errors={})),
        "status",
        "entry[0].changes[0].value.statuses[0]",
        "errors: expected a list",
    ),
}


@pytest.mark.parametrize(
    "data,kind,path,reason", ITEM_MALFORMED.values(), ids=ITEM_MALFORMED.keys()
)
def test_one_unreadable_item_is_skipped_with_where_and_why(data, kind, path, reason):
    envelope = parse_webhook(data)
    skipped = [s for s in envelope.all_skipped if s.kind == kind]
    assert [s.path for s in skipped] == [path]
    assert reason in skipped[0].reason
    assert envelope.messages == () or kind == "contact"


def test_the_other_messages_of_a_delivery_survive_a_bad_one():
    data = load("multiple_messages")
    broken = _value(data)["messages"][1]
    broken.pop("text")  # e.g. a type whose object Meta left out
    envelope = parse_webhook(data)
    assert [m.text for m in envelope.messages] == ["Hi", "menu"]
    [skipped] = envelope.all_skipped
    assert skipped.path == "entry[0].changes[0].value.messages[1]"
    assert skipped.wamid == broken["id"]
    assert skipped.raw == broken


def test_malformed_reason_says_where():
    data = _mutate("text", lambda d: _msg(d).update(timestamp="yesterday"))
    [skipped] = parse_webhook(data).all_skipped
    assert "messages[0].timestamp" in skipped.reason
