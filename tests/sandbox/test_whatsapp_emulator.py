"""The WhatsApp Cloud API emulator: Graph `messages` (limits, auth, window, faults), signed
webhooks (envelopes, retries, duplicates, ordering) and the control API.

A `WebhookRecorder` plays our backend; pywa's validator checks the signatures independently.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pywa import WhatsApp
from pywa.errors import InvalidParameter
from pywa.types import URLButton
from pywa.utils import webhook_updates_validator

from sandbox.whatsapp import WhatsAppEmulator
from sandbox.whatsapp import limits as L
from sandbox.whatsapp.errors import GraphApiError
from sandbox.whatsapp.testing import (
    ControlClient,
    WebhookRecorder,
    webhook_messages,
    webhook_statuses,
)
from tests.sandbox.whatsapp_ids import ACCESS_TOKEN, APP_SECRET, PHONE_NUMBER_ID, USER, WABA_ID

OTHER_USER = "263772222222"
BSUID = re.compile(r"[A-Z]{2}\.[0-9]{5,20}")  # Meta's BSUID page: country, a dot, digits
REPO_ROOT = Path(__file__).resolve().parents[2]
OUTBOUND_FIXTURES = REPO_ROOT / "tests" / "fixtures" / "meta" / "outbound"
PAYNOW_PAGE = "https://www.paynow.co.zw/Payment/ConfirmPayment/16347219"


# -- fixtures (recorder, emulator, control, graph: tests/sandbox/conftest.py) ------------------
@pytest.fixture
def open_window(control: ControlClient) -> None:
    """USER has written, so free-form messages to USER are allowed."""
    control.send_text(USER, "hello", name="Alice")


def send(graph: httpx.Client, payload: dict) -> httpx.Response:
    body = {"messaging_product": "whatsapp", "recipient_type": "individual", "to": USER}
    body.update(payload)
    return graph.post(f"/{PHONE_NUMBER_ID}/messages", json=body)


def assert_meta_error(response: httpx.Response, codes: tuple[int, ...], status: int = 400) -> dict:
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert error["code"] in codes, error
    assert error["type"] in ("OAuthException", "GraphMethodException")
    assert error["message"].startswith(f"(#{error['code']})")
    assert error["fbtrace_id"]
    return error


def signed_ok(request) -> bool:
    signature = request.headers["x-hub-signature-256"]
    return signature.startswith("sha256=") and webhook_updates_validator(
        APP_SECRET, request.body, signature
    )


# -- payload builders for the limits table ----------------------------------------------------
def text(n: int) -> dict:
    return {"type": "text", "text": {"body": "x" * n}}


def buttons(
    *, body: int = 10, footer: int | None = None, header: int | None = None, count: int = 2,
    id_len: int = 5, title_len: int = 5,
) -> dict:  # fmt: skip
    interactive: dict = {
        "type": "button",
        "body": {"text": "b" * body},
        "action": {
            "buttons": [
                {
                    "type": "reply",
                    "reply": {
                        "id": f"{i}".ljust(id_len, "i"),
                        "title": f"{i}".ljust(title_len, "t"),
                    },
                }
                for i in range(count)
            ]
        },
    }
    if footer is not None:
        interactive["footer"] = {"text": "f" * footer}
    if header is not None:
        interactive["header"] = {"type": "text", "text": "h" * header}
    return {"type": "interactive", "interactive": interactive}


def a_list(
    *, header: int | None = None, body: int = 10, footer: int | None = None, button: int = 5,
    sections: int = 1, rows: int = 2, section_title: int = 5, row_id: int = 5,
    row_title: int = 5, description: int | None = None,
) -> dict:  # fmt: skip
    per_section = [rows // sections + (1 if i < rows % sections else 0) for i in range(sections)]
    counter = iter(range(1000))
    interactive: dict = {
        "type": "list",
        "body": {"text": "b" * body},
        "action": {
            "button": "B" * button,
            "sections": [
                {
                    "title": f"{s}".ljust(section_title, "s"),
                    "rows": [
                        {
                            "id": f"{n}".ljust(row_id, "r"),
                            "title": "T" * row_title,
                            **({"description": "d" * description} if description else {}),
                        }
                        for n in (next(counter) for _ in range(count))
                    ],
                }
                for s, count in enumerate(per_section)
            ],
        },
    }
    if header is not None:
        interactive["header"] = {"type": "text", "text": "h" * header}
    if footer is not None:
        interactive["footer"] = {"text": "f" * footer}
    return {"type": "interactive", "interactive": interactive}


def flow(*, body: int = 10, cta: int = 5, **overrides) -> dict:
    parameters = {
        "flow_message_version": "3",
        "flow_id": "1234567890",
        "flow_token": "tok-1",
        "flow_cta": "C" * cta,
        "flow_action": "navigate",
        "flow_action_payload": {"screen": "WELCOME", "data": {"x": 1}},
    }
    parameters.update(overrides)
    parameters = {k: v for k, v in parameters.items() if v is not None}
    return {
        "type": "interactive",
        "interactive": {
            "type": "flow",
            "body": {"text": "b" * body},
            "action": {"name": "flow", "parameters": parameters},
        },
    }


def cta(
    *, body: int = 10, display_text: int = 5, url: str = PAYNOW_PAGE,
    header: int | None = None, footer: int | None = None, **parameters,
) -> dict:  # fmt: skip
    interactive: dict = {
        "type": "cta_url",
        "body": {"text": "b" * body},
        "action": {
            "name": "cta_url",
            "parameters": {"display_text": "D" * display_text, "url": url, **parameters},
        },
    }
    interactive["action"]["parameters"] = {
        k: v for k, v in interactive["action"]["parameters"].items() if v is not None
    }
    if header is not None:
        interactive["header"] = {"type": "text", "text": "h" * header}
    if footer is not None:
        interactive["footer"] = {"text": "f" * footer}
    return {"type": "interactive", "interactive": interactive}


def url_of(n: int) -> str:
    base = "https://www.paynow.co.zw/"
    return base + "x" * (n - len(base))


LIMIT_RULES: dict[str, tuple[Callable[[int], dict], int]] = {
    "text body": (text, L.TEXT_BODY_MAX),
    "button body": (lambda n: buttons(body=n), L.BUTTON_BODY_MAX),
    "button footer": (lambda n: buttons(footer=n), L.FOOTER_TEXT_MAX),
    "button header": (lambda n: buttons(header=n), L.HEADER_TEXT_MAX),
    "button count": (lambda n: buttons(count=n), L.BUTTONS_MAX),
    "button id": (lambda n: buttons(id_len=n), L.BUTTON_ID_MAX),
    "button title": (lambda n: buttons(title_len=n), L.BUTTON_TITLE_MAX),
    "list header": (lambda n: a_list(header=n), L.HEADER_TEXT_MAX),
    "list body": (lambda n: a_list(body=n), L.LIST_BODY_MAX),
    "list footer": (lambda n: a_list(footer=n), L.FOOTER_TEXT_MAX),
    "list button": (lambda n: a_list(button=n), L.LIST_BUTTON_MAX),
    "list sections": (lambda n: a_list(sections=n, rows=n), L.LIST_SECTIONS_MAX),
    "list section title": (lambda n: a_list(section_title=n), L.LIST_SECTION_TITLE_MAX),
    "list rows in one section": (lambda n: a_list(rows=n), L.LIST_ROWS_MAX),
    "list rows across sections": (lambda n: a_list(sections=3, rows=n), L.LIST_ROWS_MAX),
    "list row id": (lambda n: a_list(row_id=n), L.LIST_ROW_ID_MAX),
    "list row title": (lambda n: a_list(row_title=n), L.LIST_ROW_TITLE_MAX),
    "list row description": (lambda n: a_list(description=n), L.LIST_ROW_DESCRIPTION_MAX),
    "flow body": (lambda n: flow(body=n), L.FLOW_BODY_MAX),
    "flow cta": (lambda n: flow(cta=n), L.FLOW_CTA_MAX),
    "cta_url body": (lambda n: cta(body=n), L.CTA_URL_BODY_MAX),
    "cta_url display_text": (lambda n: cta(display_text=n), L.CTA_URL_DISPLAY_TEXT_MAX),
    "cta_url header": (lambda n: cta(header=n), L.HEADER_TEXT_MAX),
    "cta_url footer": (lambda n: cta(footer=n), L.FOOTER_TEXT_MAX),
    "cta_url url": (lambda n: cta(url=url_of(n)), L.CTA_URL_URL_MAX),
}


# -- Graph: limits ----------------------------------------------------------------------------
@pytest.mark.usefixtures("open_window")
@pytest.mark.parametrize("rule", sorted(LIMIT_RULES))
def test_payload_at_the_limit_passes_and_one_over_is_refused(graph: httpx.Client, rule: str):
    build, limit = LIMIT_RULES[rule]
    accepted = send(graph, build(limit))
    assert accepted.status_code == 200, accepted.text
    assert accepted.json()["messages"][0]["id"].startswith("wamid.")

    refused = send(graph, build(limit + 1))
    error = assert_meta_error(refused, (100, 131009))
    assert error["error_data"]["details"]


@pytest.mark.usefixtures("open_window")
@pytest.mark.parametrize(
    ("case", "payload"),
    [
        (
            "duplicate button titles",
            {
                "type": "interactive",
                "interactive": {
                    "type": "button",
                    "body": {"text": "Pick"},
                    "action": {
                        "buttons": [
                            {"type": "reply", "reply": {"id": "a", "title": "Same"}},
                            {"type": "reply", "reply": {"id": "b", "title": "Same"}},
                        ]
                    },
                },
            },
        ),
        ("no buttons", buttons(count=0)),
        ("button without body", {"type": "interactive", "interactive": {"type": "button"}}),
        ("empty text", text(0)),
        ("list without rows", a_list(rows=0)),
        ("flow version 2", flow(flow_message_version="2")),
        ("flow action unknown", flow(flow_action="open")),
        (
            "flow payload with data_exchange",
            flow(flow_action="data_exchange"),
        ),
        ("flow navigate without payload", flow(flow_action_payload=None)),
        ("flow navigate with empty data", flow(flow_action_payload={"screen": "A", "data": {}})),
        ("flow without cta", flow(flow_cta=None)),
        ("unknown type", {"type": "carrier_pigeon", "carrier_pigeon": {}}),
        ("template without language", {"type": "template", "template": {"name": "hello"}}),
        ("image without id or link", {"type": "image", "image": {"caption": "x"}}),
        (
            "cta_url without body",
            {
                "type": "interactive",
                "interactive": {
                    "type": "cta_url",
                    "action": {
                        "name": "cta_url",
                        "parameters": {"display_text": "Pay", "url": PAYNOW_PAGE},
                    },
                },
            },
        ),
        ("cta_url without display_text", cta(display_text=0)),
        ("cta_url without url", cta(url=None)),
        ("cta_url relative url", cta(url="/Payment/ConfirmPayment/1")),
        ("cta_url ftp url", cta(url="ftp://files.example.com/a.pdf")),
        ("cta_url javascript url", cta(url="javascript:alert(1)")),
        ("cta_url url with a space", cta(url="https://www.paynow.co.zw/a b")),
        ("cta_url url not a string", cta(url=42)),
        (
            "cta_url action named flow",
            {
                "type": "interactive",
                "interactive": {
                    **cta()["interactive"],
                    "action": {
                        "name": "flow",
                        "parameters": {"display_text": "Pay", "url": PAYNOW_PAGE},
                    },
                },
            },
        ),
        (
            "cta_url sticker header",
            {
                "type": "interactive",
                "interactive": {
                    **cta()["interactive"],
                    "header": {"type": "sticker", "sticker": {"id": "1"}},
                },
            },
        ),
    ],
)
def test_malformed_payloads_are_refused_like_meta(graph: httpx.Client, case: str, payload: dict):
    assert_meta_error(send(graph, payload), (100, 131009))


@pytest.mark.usefixtures("open_window")
def test_distinct_button_titles_and_flow_data_exchange_without_payload_pass(graph: httpx.Client):
    assert send(graph, buttons(count=3)).status_code == 200
    data_exchange = flow(flow_action="data_exchange", flow_action_payload=None)
    assert send(graph, data_exchange).status_code == 200


@pytest.mark.usefixtures("open_window")
@pytest.mark.parametrize("name", ["cta_url_meta_docs", "cta_url_pywa"])
def test_cta_url_shapes_from_metas_docs_and_pywa_are_accepted(
    graph: httpx.Client, control: ControlClient, name: str
):
    fixture = json.loads((OUTBOUND_FIXTURES / f"{name}.json").read_text())
    assert fixture["source"]
    answer = graph.post(f"/{PHONE_NUMBER_ID}/messages", json=fixture["payload"])
    assert answer.status_code == 200, answer.text
    stored = control.message(answer.json()["messages"][0]["id"])["message"]
    assert stored["interactive_type"] == "cta_url"
    assert stored["text"] == fixture["payload"]["interactive"]["body"]["text"]
    assert stored["interactive"] == fixture["payload"]["interactive"]


class _ToEmulator(httpx.BaseTransport):
    """Sends what pywa addresses to graph.facebook.com to the emulator instead."""

    def __init__(self, base_url: str) -> None:
        self.base = httpx.URL(base_url)
        self.inner = httpx.HTTPTransport()

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        request.url = request.url.copy_with(
            scheme=self.base.scheme, host=self.base.host, port=self.base.port
        )
        return self.inner.handle_request(request)

    def close(self) -> None:
        self.inner.close()


@pytest.mark.usefixtures("open_window")
def test_pywa_sends_a_cta_url_and_reads_the_emulators_refusal(
    emulator: WhatsAppEmulator, control: ControlClient
):
    """A peer library, not our code, builds the message and parses Meta's error shape."""
    with httpx.Client(transport=_ToEmulator(emulator.base_url)) as session:
        client = WhatsApp(
            phone_id=PHONE_NUMBER_ID,
            token=ACCESS_TOKEN,
            session=session,
            server=None,
            api_version=emulator.api_version.removeprefix("v"),
        )
        sent = client.send_message(
            to=USER,
            text="Pay your deposit of USD 100.00 by card.",
            header="Booking BK-ZW3K7Q2P",
            footer="Secure payment by Paynow",
            buttons=URLButton(title="Pay by card", url=PAYNOW_PAGE),
        )
        stored = control.message(sent.id)["message"]
        assert stored["interactive"]["action"] == {
            "name": "cta_url",
            "parameters": {"display_text": "Pay by card", "url": PAYNOW_PAGE},
        }
        assert stored["interactive"]["header"] == {"type": "text", "text": "Booking BK-ZW3K7Q2P"}
        with pytest.raises(InvalidParameter) as refused:
            client.send_message(
                to=USER, text="Pay", buttons=URLButton(title="P" * 21, url=PAYNOW_PAGE)
            )
        assert refused.value.code == 131009
        assert "display_text" in refused.value.details


@pytest.mark.usefixtures("open_window")
def test_cta_url_with_image_header_and_plain_http_url_pass(graph: httpx.Client):
    with_image = cta(url="http://127.0.0.1:8401/Payment/ConfirmPayment/?guid=1")
    with_image["interactive"]["header"] = {"type": "image", "image": {"link": PAYNOW_PAGE}}
    assert send(graph, with_image).status_code == 200


def test_messaging_product_is_required(graph: httpx.Client):
    response = graph.post(f"/{PHONE_NUMBER_ID}/messages", json={"to": USER, "type": "text"})
    error = assert_meta_error(response, (100,))
    assert "messaging_product" in error["error_data"]["details"]


def test_body_that_is_not_json_is_refused(graph: httpx.Client):
    response = graph.post(f"/{PHONE_NUMBER_ID}/messages", content=b"{nope")
    assert_meta_error(response, (100,))


@settings(max_examples=40, deadline=None)
@given(body=st.text(min_size=1, max_size=L.TEXT_BODY_MAX + 50))
def test_text_length_rule_matches_meta_for_any_unicode(body: str):
    payload = {"messaging_product": "whatsapp", "to": USER, "type": "text", "text": {"body": body}}
    if len(body) <= L.TEXT_BODY_MAX:
        assert L.validate_request(payload).type == "text"
    else:
        with pytest.raises(GraphApiError) as refused:
            L.validate_request(payload)
        assert refused.value.code == 100


# -- Graph: auth, ids, success shape -----------------------------------------------------------
@pytest.mark.parametrize("header", [None, "Bearer wrong", "Basic " + ACCESS_TOKEN, "Bearer"])
def test_wrong_or_missing_token_answers_190(emulator: WhatsAppEmulator, header: str | None):
    headers = {"Authorization": header} if header else {}
    response = httpx.post(
        f"{emulator.graph_url}/{PHONE_NUMBER_ID}/messages", json=text(3), headers=headers
    )
    assert_meta_error(response, (190,), status=401)


def test_unknown_phone_number_id_is_refused(graph: httpx.Client):
    response = graph.post("/999999999/messages", json={"messaging_product": "whatsapp"})
    error = assert_meta_error(response, (100,))
    assert error["type"] == "GraphMethodException"
    assert error["error_subcode"] == 33


@pytest.mark.usefixtures("open_window")
def test_success_answers_contacts_and_wamid(graph: httpx.Client, control: ControlClient):
    body = text(5)
    body["to"] = "+263 77 123 4567"
    answer = graph.post(
        f"/{PHONE_NUMBER_ID}/messages", json={"messaging_product": "whatsapp", **body}
    ).json()
    assert answer["messaging_product"] == "whatsapp"
    assert answer["contacts"] == [{"input": "+263 77 123 4567", "wa_id": USER}]
    wamid = answer["messages"][0]["id"]
    assert wamid.startswith("wamid.")
    stored = control.message(wamid)["message"]
    assert stored["direction"] == "out"
    assert stored["wa_id"] == USER
    assert stored["text"] == "xxxxx"


# -- Graph: 24-hour window --------------------------------------------------------------------
def test_free_form_to_a_user_who_never_wrote_answers_131047(graph: httpx.Client):
    error = assert_meta_error(send(graph, text(5)), (131047,))
    assert "24 hours" in error["error_data"]["details"]


def test_template_is_allowed_outside_the_window(graph: httpx.Client):
    template = {"type": "template", "template": {"name": "hello", "language": {"code": "en"}}}
    assert send(graph, template).status_code == 200


@pytest.mark.usefixtures("open_window")
def test_age_window_closes_the_window(graph: httpx.Client, control: ControlClient):
    assert send(graph, text(5)).status_code == 200
    aged = control.age_window(USER, hours=25)
    assert aged["window_open"] is False
    assert_meta_error(send(graph, text(5)), (131047,))
    assert control.age_window(USER, hours=23)["window_open"] is True
    assert send(graph, text(5)).status_code == 200


def test_window_in_status_mode_fails_through_a_status_webhook(
    graph: httpx.Client, control: ControlClient, recorder: WebhookRecorder
):
    control.config(window_enforcement="status")
    response = send(graph, text(5))
    assert response.status_code == 200
    wamid = response.json()["messages"][0]["id"]
    failed = recorder.wait_for(1, predicate=lambda r: webhook_statuses(r))
    status = webhook_statuses(failed[0])[0]
    assert status["id"] == wamid
    assert status["status"] == "failed"
    assert status["errors"][0]["code"] == 131047
    assert control.message(wamid)["message"]["status"] == "failed"


# -- Graph: statuses and mark-as-read ----------------------------------------------------------
@pytest.mark.usefixtures("open_window")
def test_statuses_sent_delivered_read_are_signed_and_in_order(
    graph: httpx.Client, recorder: WebhookRecorder, control: ControlClient
):
    wamid = send(graph, text(5)).json()["messages"][0]["id"]
    status_requests = recorder.wait_for(3, predicate=lambda r: webhook_statuses(r))
    statuses = [webhook_statuses(r)[0] for r in status_requests]
    assert [s["status"] for s in statuses] == ["sent", "delivered", "read"]
    for request, status in zip(status_requests, statuses, strict=True):
        assert signed_ok(request)
        assert status["id"] == wamid
        assert status["recipient_id"] == USER
        assert status["recipient_user_id"].startswith("ZW.")  # every status names the BSUID
        assert status["timestamp"].isdigit()
        value = request.json()["entry"][0]["changes"][0]["value"]
        assert value["metadata"] == {
            "display_phone_number": "263770000000",
            "phone_number_id": PHONE_NUMBER_ID,
        }
        # As pywa's status fixtures: the contact with sent, delivered and read.
        assert value["contacts"][0]["wa_id"] == USER
    message = control.message(wamid, wait_status="read", timeout=5)["message"]
    assert message["status"] == "read"
    assert [s["status"] for s in message["statuses"]] == ["sent", "delivered", "read"]


@pytest.mark.usefixtures("open_window")
def test_status_webhooks_can_be_disabled(
    graph: httpx.Client, recorder: WebhookRecorder, control: ControlClient
):
    control.config(status_delay=None)
    wamid = send(graph, text(5)).json()["messages"][0]["id"]
    time.sleep(0.2)
    assert not [r for r in recorder.requests if webhook_statuses(r)]
    assert control.message(wamid)["message"]["status"] == "accepted"


def test_mark_as_read(graph: httpx.Client, control: ControlClient):
    inbound = control.send_text(USER, "hi")["wamid"]
    answer = graph.post(
        f"/{PHONE_NUMBER_ID}/messages",
        json={"messaging_product": "whatsapp", "status": "read", "message_id": inbound},
    )
    assert answer.json() == {"success": True}
    assert control.message(inbound)["message"]["read_by_business"] is True
    unknown = graph.post(
        f"/{PHONE_NUMBER_ID}/messages",
        json={"messaging_product": "whatsapp", "status": "read", "message_id": "wamid.nope"},
    )
    assert_meta_error(unknown, (100,))


# -- Graph: fault injection --------------------------------------------------------------------
@pytest.mark.usefixtures("open_window")
@pytest.mark.parametrize(
    ("fault", "code", "status"),
    [("rate_limit", 130429, 400), ("pair_rate_limit", 131056, 400), ("server_error", 1, 500)],
)
def test_faults_answer_the_next_n_sends(
    graph: httpx.Client, control: ControlClient, fault: str, code: int, status: int
):
    assert control.faults(**{fault: 2})[fault] == 2
    for _ in range(2):
        assert_meta_error(send(graph, text(5)), (code,), status=status)
    assert send(graph, text(5)).status_code == 200


@pytest.mark.usefixtures("open_window")
def test_undeliverable_fault_fails_through_status(
    graph: httpx.Client, control: ControlClient, recorder: WebhookRecorder
):
    control.faults(undeliverable=1)
    wamid = send(graph, text(5)).json()["messages"][0]["id"]
    failed = recorder.wait_for(1, predicate=lambda r: webhook_statuses(r))
    status = webhook_statuses(failed[0])[0]
    assert (status["id"], status["status"], status["errors"][0]["code"]) == (
        wamid,
        "failed",
        131026,
    )


# -- webhooks: envelopes, signatures, retries, duplicates, order -------------------------------
def test_inbound_text_envelope_is_metas_and_signed(
    control: ControlClient, recorder: WebhookRecorder
):
    answer = control.send_text(USER, "Hi there", name="Alice")
    assert answer["accepted"] is True
    request = recorder.wait_for(1)[0]
    assert request.method == "POST"
    assert request.headers["content-type"] == "application/json"
    assert signed_ok(request)
    assert request.headers["x-hub-signature"].startswith("sha1=")
    envelope = request.json()
    assert envelope["object"] == "whatsapp_business_account"
    entry = envelope["entry"][0]
    assert entry["id"] == WABA_ID
    change = entry["changes"][0]
    assert change["field"] == "messages"
    value = change["value"]
    assert value["messaging_product"] == "whatsapp"
    assert value["metadata"]["phone_number_id"] == PHONE_NUMBER_ID
    user_id = value["contacts"][0]["user_id"]
    assert BSUID.fullmatch(user_id)
    assert value["contacts"] == [{"profile": {"name": "Alice"}, "wa_id": USER, "user_id": user_id}]
    message = value["messages"][0]
    assert message == {
        "from": USER,
        "from_user_id": user_id,
        "id": answer["wamid"],
        "timestamp": message["timestamp"],
        "type": "text",
        "text": {"body": "Hi there"},
    }
    assert abs(int(message["timestamp"]) - time.time()) < 5


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        (
            {"type": "button_reply", "id": "pay", "title": "Pay now"},
            {"type": "button_reply", "button_reply": {"id": "pay", "title": "Pay now"}},
        ),
        (
            {"type": "list_reply", "id": "vic", "title": "Vic Falls", "description": "2 nights"},
            {
                "type": "list_reply",
                "list_reply": {"id": "vic", "title": "Vic Falls", "description": "2 nights"},
            },
        ),
        (
            {"type": "nfm_reply", "response_json": {"flow_token": "t", "name": "Ann"}},
            {
                "type": "nfm_reply",
                "nfm_reply": {
                    "response_json": '{"flow_token": "t", "name": "Ann"}',
                    "body": "Sent",
                    "name": "flow",
                },
            },
        ),
    ],
)
def test_inbound_interactive_kinds(
    control: ControlClient, recorder: WebhookRecorder, spec: dict, expected: dict
):
    answer = control.send(USER, **spec, context="wamid.bot-message", wait=True)
    message = webhook_messages(recorder.wait_for(1)[0])[0]
    assert message["type"] == "interactive"
    assert message["interactive"] == expected
    assert message["context"] == {"from": "263770000000", "id": "wamid.bot-message"}
    assert message["id"] == answer["wamid"]


def test_inbound_image_and_location(
    control: ControlClient, recorder: WebhookRecorder, emulator: WhatsAppEmulator
):
    control.send(USER, type="image", caption="our tent", wait=True)
    control.send(USER, type="location", latitude=-17.92, longitude=25.85, location_name="Vic Falls")
    image_request, location_request = recorder.wait_for(2, predicate=webhook_messages)
    image = webhook_messages(image_request)[0]
    assert image["type"] == "image"
    assert image["image"]["caption"] == "our tent"
    assert image["image"]["mime_type"] == "image/png"  # the sample file (a real 8x8 PNG)
    media_id = image["image"]["id"]
    location = webhook_messages(location_request)[0]
    assert location["location"] == {"latitude": -17.92, "longitude": 25.85, "name": "Vic Falls"}

    auth = {"Authorization": f"Bearer {ACCESS_TOKEN}"}
    info = httpx.get(f"{emulator.graph_url}/{media_id}", headers=auth).json()
    assert info["id"] == media_id
    download = httpx.get(info["url"], headers=auth)
    assert download.status_code == 200
    assert download.headers["content-type"] == "image/png"
    assert download.content.startswith(b"\x89PNG")
    assert info["sha256"] == hashlib.sha256(download.content).hexdigest()
    assert info["file_size"] == str(len(download.content))
    # The webhook carries the same digest in base64.
    digest = base64.b64decode(image["image"]["sha256"])
    assert digest == hashlib.sha256(download.content).digest()
    assert httpx.get(info["url"]).status_code == 401


def test_unknown_inbound_kind_is_a_control_error(control: ControlClient):
    response = control.http.post(f"/users/{USER}/send", json={"type": "hologram"})
    assert response.status_code == 400
    assert "hologram" in response.json()["error"]


def test_webhook_retried_until_200_with_every_attempt_recorded(
    control: ControlClient, recorder: WebhookRecorder
):
    recorder.responses = [500, 503]
    answer = control.send_text(USER, "hi")
    assert answer["accepted"] is True
    assert answer["delivery"]["attempts"] == 3
    assert [r.body for r in recorder.requests] == [recorder.requests[0].body] * 3
    deliveries = control.deliveries(kind="message")["deliveries"]
    assert [d["status_code"] for d in deliveries] == [500, 503, 200]
    assert [d["attempt"] for d in deliveries] == [1, 2, 3]


def test_webhook_gives_up_after_max_attempts(control: ControlClient, recorder: WebhookRecorder):
    control.config(max_attempts=3)
    recorder.default_status = 500
    answer = control.send_text(USER, "hi")
    assert answer["accepted"] is False
    assert answer["delivery"]["state"] == "failed"
    assert len(recorder.requests) == 3
    assert control.conversation(USER)["messages"][0]["status"] == "failed"


def test_connection_errors_are_retried_and_webhook_url_can_be_set_late(
    emulator: WhatsAppEmulator, control: ControlClient, recorder: WebhookRecorder
):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        dead_port = probe.getsockname()[1]
    control.config(webhook_url=f"http://127.0.0.1:{dead_port}/webhook", retry_base_delay=0.05)
    sent = control.send_text(USER, "hi", wait=False)
    assert sent["accepted"] is None
    time.sleep(0.1)
    emulator.webhook_url = recorder.url
    recorder.wait_for(1)
    deliveries = control.deliveries(kind="message", wait_for=1)["deliveries"]
    assert deliveries[0]["status_code"] is None
    assert "ConnectError" in deliveries[0]["error"]
    assert deliveries[-1]["status_code"] == 200


def test_duplicate_fault_delivers_the_same_webhook_k_times(
    control: ControlClient, recorder: WebhookRecorder
):
    control.faults(duplicate_webhooks=1, duplicate_times=3)
    first = control.send_text(USER, "once")
    control.send_text(USER, "twice")
    requests = recorder.wait_for(4)
    ids = [webhook_messages(r)[0]["id"] for r in requests]
    assert ids.count(first["wamid"]) == 3
    assert len(set(ids)) == 2
    assert all(signed_ok(r) for r in requests)


def test_deliveries_for_one_user_keep_their_order_even_across_retries(
    control: ControlClient, recorder: WebhookRecorder
):
    recorder.responses = [500, 500]
    sent = [control.send_text(USER, f"m{i}", wait=False)["wamid"] for i in range(5)]
    recorder.wait_for(5, predicate=lambda r: True)
    control.deliveries(kind="message", wait_for=5)
    ok_order = [
        webhook_messages(r)[0]["id"]
        for r, d in zip(recorder.requests, control.deliveries()["deliveries"], strict=True)
        if d["status_code"] == 200
    ]
    assert ok_order == sent


def test_users_do_not_block_each_other(control: ControlClient, recorder: WebhookRecorder):
    slow_user_answers = iter([500] * 3)

    def handler(request):
        first = webhook_messages(request)[0]
        status = next(slow_user_answers, 200) if first["from"] == USER else 200
        return status, b"", "text/plain"

    control.config(retry_base_delay=0.2)
    recorder.handler = handler
    control.send_text(USER, "slow", wait=False)
    answer = control.send_text(OTHER_USER, "fast")
    assert answer["accepted"] is True
    assert answer["delivery"]["attempts"] == 1


def test_subscription_verification_handshake(control: ControlClient, recorder: WebhookRecorder):
    def handler(request):
        from urllib.parse import parse_qs, urlsplit

        query = parse_qs(urlsplit(request.path).query)
        if query.get("hub.verify_token") == ["right"] and query["hub.mode"] == ["subscribe"]:
            return 200, query["hub.challenge"][0].encode(), "text/plain"
        return 403, b"", "text/plain"

    recorder.handler = handler
    assert control._post("/verify-webhook", {"verify_token": "right"})["ok"] is True
    refused = control._post("/verify-webhook", {"verify_token": "wrong"})
    assert (refused["ok"], refused["status_code"]) == (False, 403)


# -- control API ------------------------------------------------------------------------------
def test_tap_replies_with_the_buttons_title_and_context(
    graph: httpx.Client, control: ControlClient, recorder: WebhookRecorder
):
    control.send_text(USER, "hi")
    wamid = send(graph, buttons(count=3, title_len=6)).json()["messages"][0]["id"]
    answer = control.tap(USER, wamid=wamid, button_id="1iiii", wait=True)
    assert answer["accepted"] is True
    message = webhook_messages(recorder.wait_for(2, predicate=webhook_messages)[-1])[0]
    assert message["interactive"]["button_reply"] == {"id": "1iiii", "title": "1ttttt"}
    assert message["context"]["id"] == wamid
    missing = control.http.post(f"/users/{USER}/tap", json={"wamid": wamid, "button_id": "zz"})
    assert missing.status_code == 404


def test_tap_a_list_row_of_the_latest_list(
    graph: httpx.Client, control: ControlClient, recorder: WebhookRecorder
):
    control.send_text(USER, "hi")
    wamid = send(graph, a_list(rows=3, description=10)).json()["messages"][0]["id"]
    control.tap(USER, row_id="2rrrr", wait=True)
    message = webhook_messages(recorder.wait_for(2, predicate=webhook_messages)[-1])[0]
    assert message["interactive"]["list_reply"] == {
        "id": "2rrrr",
        "title": "TTTTT",
        "description": "dddddddddd",
    }
    assert message["context"]["id"] == wamid


def test_conversation_lists_both_directions_in_order(graph: httpx.Client, control: ControlClient):
    inbound = control.send_text(USER, "hi", name="Alice")["wamid"]
    outbound = send(graph, text(3)).json()["messages"][0]["id"]
    control.message(outbound, wait_status="read", timeout=5)
    conversation = control.conversation(USER)
    assert conversation["user"]["name"] == "Alice"
    assert conversation["user"]["window_open"] is True
    messages = conversation["messages"]
    assert [(m["direction"], m["wamid"]) for m in messages] == [
        ("in", inbound),
        ("out", outbound),
    ]
    assert messages[0]["text"] == "hi"
    assert messages[0]["status"] == "delivered"
    assert messages[1]["status"] == "read"
    assert [u["wa_id"] for u in control._get("/users")["users"]] == [USER]


def test_long_poll_waits_for_outbound_messages(graph: httpx.Client, control: ControlClient):
    control.send_text(USER, "hi")
    timer = threading.Timer(0.3, lambda: send(graph, text(4)))
    timer.start()
    started = time.monotonic()
    messages = control.wait_for_messages(1, to=USER, timeout=5)
    assert time.monotonic() - started >= 0.25
    assert messages[0]["text"] == "xxxx"
    timer.join()
    since = messages[0]["seq"]
    empty = control._get("/messages", since=since, wait_for=1, timeout=0.2)
    assert empty == {"messages": [], "last_seq": since, "timed_out": True}
    by_conversation = control.conversation(USER, wait_for=1, timeout=1)
    assert by_conversation["timed_out"] is False


def test_reset_forgets_users_messages_and_faults(graph: httpx.Client, control: ControlClient):
    control.send_text(USER, "hi")
    control.faults(rate_limit=5)
    control.reset()
    assert control._get("/users")["users"] == []
    assert control._get("/faults")["rate_limit"] == 0
    assert_meta_error(send(graph, text(3)), (131047,))


def test_config_rejects_unknown_keys(control: ControlClient):
    response = control.http.post("/config", json={"webhok_url": "x"})
    assert response.status_code == 400
    assert control._get("/config")["status_delay"] == 0.02


def test_unknown_routes(emulator: WhatsAppEmulator, control: ControlClient):
    assert control.http.get("/nope").status_code == 404
    response = httpx.get(f"{emulator.base_url}/v23.0/x/y/z")
    assert response.json()["error"]["code"] == 100
    assert httpx.get(emulator.base_url + "/").status_code == 200


# -- CLI --------------------------------------------------------------------------------------
def test_cli_serves_until_terminated(recorder: WebhookRecorder):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {**os.environ, "SANDBOX_WHATSAPP_APP_SECRET": APP_SECRET}
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "sandbox.whatsapp",
            "--port",
            str(port),
            "--webhook-url",
            recorder.url,
            "--access-token",
            ACCESS_TOKEN,
            "--phone-number-id",
            PHONE_NUMBER_ID,
            "--waba-id",
            WABA_ID,
            "--status-delay",
            "off",
        ],
        cwd=REPO_ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        for _ in range(100):
            try:
                health = httpx.get(f"{base}/_control/health").json()
                break
            except httpx.TransportError:
                time.sleep(0.05)
        else:
            pytest.fail("the CLI emulator did not come up")
        assert health["phone_number_id"] == PHONE_NUMBER_ID
        config = httpx.get(f"{base}/_control/config").json()
        assert config["status_delay"] is None
        assert config["webhook_url"] == recorder.url
        httpx.post(f"{base}/_control/users/{USER}/send", json={"type": "text", "text": "hi"})
        assert signed_ok(recorder.wait_for(1)[0])
        assert json.loads(recorder.requests[0].body)["entry"][0]["id"] == WABA_ID
    finally:
        process.terminate()
        process.wait(timeout=10)
