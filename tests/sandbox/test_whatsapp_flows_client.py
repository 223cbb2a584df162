"""The emulator's WhatsApp Flows client against a data endpoint built on pywa's server-side
helpers (`default_flow_request_decryptor`, `default_flow_response_encryptor`), which follow
Meta's own example: if pywa can read our requests and we can read pywa's answers, the wire
format is Meta's.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import ThreadingHTTPServer

import httpx
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from hypothesis import given, settings
from hypothesis import strategies as st
from pywa.utils import (
    default_flow_request_decryptor,
    default_flow_response_encryptor,
    webhook_updates_validator,
)

from sandbox.whatsapp.crypto import decrypt_response, encrypt_request
from sandbox.whatsapp.testing import ControlClient, WebhookRecorder, webhook_messages
from tests.helpers import serve_posts
from tests.sandbox.whatsapp_ids import APP_SECRET, PHONE_NUMBER_ID, USER, WABA_ID

BOOKING_FLOW = {
    "version": "7.3",
    "data_api_version": "3.0",
    "routing_model": {"DETAILS": ["CONFIRM"], "CONFIRM": []},
    "screens": [
        {
            "id": "DETAILS",
            "title": "Your details",
            "data": {
                "packages": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "properties": {"id": {"type": "string"}, "title": {"type": "string"}},
                    },
                    "__example__": [{"id": "vic", "title": "Victoria Falls"}],
                }
            },
            "layout": {
                "type": "SingleColumnLayout",
                "children": [
                    {
                        "type": "Form",
                        "name": "details_form",
                        "children": [
                            {
                                "type": "TextInput",
                                "name": "full_name",
                                "label": "Full name",
                                "required": True,
                            },
                            {
                                "type": "TextInput",
                                "name": "email",
                                "label": "Email",
                                "input-type": "email",
                                "required": True,
                            },
                            {
                                "type": "TextInput",
                                "name": "phone",
                                "label": "Phone",
                                "input-type": "phone",
                                "required": False,
                            },
                            {
                                "type": "Dropdown",
                                "name": "package",
                                "label": "Package",
                                "data-source": "${data.packages}",
                                "required": True,
                            },
                            {
                                "type": "Footer",
                                "label": "Continue",
                                "on-click-action": {
                                    "name": "data_exchange",
                                    "payload": {
                                        "full_name": "${form.full_name}",
                                        "email": "${form.email}",
                                        "package": "${form.package}",
                                        "note": "for ${form.full_name}",
                                    },
                                },
                            },
                        ],
                    }
                ],
            },
        },
        {
            "id": "CONFIRM",
            "title": "Confirm",
            "terminal": True,
            "data": {"summary": {"type": "string", "__example__": "2 nights"}},
            "layout": {
                "type": "SingleColumnLayout",
                "children": [
                    {"type": "TextBody", "text": "${data.summary}"},
                    {
                        "type": "Footer",
                        "label": "Book",
                        "on-click-action": {
                            "name": "data_exchange",
                            "payload": {"confirm": True, "quote_id": "${data.quote_id}"},
                        },
                    },
                ],
            },
        },
    ],
}

SURVEY_FLOW = {
    "version": "7.3",
    "screens": [
        {
            "id": "WELCOME",
            "title": "Welcome",
            "layout": {
                "type": "SingleColumnLayout",
                "children": [
                    {"type": "TextHeading", "text": "Hello ${data.first_name}"},
                    {
                        "type": "RadioButtonsGroup",
                        "name": "rating",
                        "label": "Rate us",
                        "required": True,
                        "data-source": [{"id": "5", "title": "Great"}, {"id": "1", "title": "Bad"}],
                    },
                    {
                        "type": "Footer",
                        "label": "Next",
                        "on-click-action": {
                            "name": "navigate",
                            "next": {"type": "screen", "name": "COMMENT"},
                            "payload": {"rating": "${form.rating}"},
                        },
                    },
                ],
            },
        },
        {
            "id": "COMMENT",
            "title": "Comment",
            "terminal": True,
            "layout": {
                "type": "SingleColumnLayout",
                "children": [
                    {"type": "TextArea", "name": "comment", "label": "Anything else?"},
                    {
                        "type": "Footer",
                        "label": "Send",
                        "on-click-action": {
                            "name": "complete",
                            "payload": {
                                "rating": "${data.rating}",
                                "comment": "${form.comment}",
                                "first": "${screen.WELCOME.form.rating}",
                            },
                        },
                    },
                ],
            },
        },
    ],
}


# -- the business's data endpoint, written with pywa -------------------------------------------
@pytest.fixture(scope="module")
def private_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def pem_private(key: rsa.RSAPrivateKey) -> str:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()


def pem_public(key: rsa.RSAPrivateKey) -> str:
    return (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )


@dataclass
class DataEndpoint:
    """Decrypts with pywa, hands the plaintext to `answer`, encrypts the reply with pywa.

    `answer(request) -> dict` answers 200; `-> (status, dict | None)` answers another code
    (the dict encrypted, as Meta expects for 427).
    """

    private_key_pem: str
    app_secret: str = APP_SECRET
    answer: Callable[[dict], object] = lambda request: {"data": {"status": "active"}}
    received: list[dict] = field(default_factory=list)
    raw_bodies: list[bytes] = field(default_factory=list)
    statuses: list[int] = field(default_factory=list)
    on_undecryptable: Callable[[], None] | None = None
    server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        assert self.server is not None
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}/flows/endpoint"

    def handle(self, raw: bytes, signature: str) -> tuple[int, bytes]:
        self.raw_bodies.append(raw)
        if not webhook_updates_validator(self.app_secret, raw, signature or ""):
            return 432, b""
        body = json.loads(raw)
        try:
            request, aes_key, iv = default_flow_request_decryptor(
                body["encrypted_flow_data"],
                body["encrypted_aes_key"],
                body["initial_vector"],
                self.private_key_pem,
            )
        except Exception:
            if self.on_undecryptable is not None:
                self.on_undecryptable()
            return 421, b""
        self.received.append(request)
        answer = self.answer(request)
        status, reply = answer if isinstance(answer, tuple) else (200, answer)
        if reply is None:
            return status, b""
        return status, default_flow_response_encryptor(reply, aes_key, iv).encode()


@pytest.fixture
def endpoint(private_key: rsa.RSAPrivateKey) -> Iterator[DataEndpoint]:
    data_endpoint = DataEndpoint(private_key_pem=pem_private(private_key))

    def handle(raw: bytes, headers) -> tuple[int, bytes]:
        status, body = data_endpoint.handle(raw, headers.get("X-Hub-Signature-256"))
        data_endpoint.statuses.append(status)
        return status, body

    server = data_endpoint.server = serve_posts(handle)
    yield data_endpoint
    server.shutdown()
    server.server_close()


@pytest.fixture
def emulator_options() -> dict:
    """No delivery statuses: these tests look at flow traffic only (see tests/sandbox/conftest.py
    for the recorder, emulator, control and graph fixtures)."""
    return {"status_delay": None}


@pytest.fixture
def booking_flow(
    graph: httpx.Client, endpoint: DataEndpoint, private_key: rsa.RSAPrivateKey
) -> str:
    """The booking flow, created and published through the Graph API, with our key uploaded."""
    created = graph.post(
        f"/{WABA_ID}/flows",
        json={
            "name": "booking",
            "categories": ["APPOINTMENT_BOOKING"],
            "flow_json": json.dumps(BOOKING_FLOW),
            "endpoint_uri": endpoint.url,
            "publish": True,
        },
    ).json()
    assert created["success"] is True, created
    assert created["validation_errors"] == []
    uploaded = graph.post(
        f"/{PHONE_NUMBER_ID}/whatsapp_business_encryption",
        data={"business_public_key": pem_public(private_key)},
    )
    assert uploaded.json() == {"success": True}
    return created["id"]


def send_flow_message(
    graph: httpx.Client, control: ControlClient, flow_id: str, **parameters
) -> str:
    control.send_text(USER, "book please")
    params = {
        "flow_message_version": "3",
        "flow_id": flow_id,
        "flow_token": "booking-42",
        "flow_cta": "Book now",
        "flow_action": "data_exchange",
        **parameters,
    }
    response = graph.post(
        f"/{PHONE_NUMBER_ID}/messages",
        json={
            "messaging_product": "whatsapp",
            "to": USER,
            "type": "interactive",
            "interactive": {
                "type": "flow",
                "body": {"text": "Book your safari"},
                "action": {"name": "flow", "parameters": params},
            },
        },
    )
    assert response.status_code == 200, response.text
    return response.json()["messages"][0]["id"]


def booking_answers(request: dict) -> dict:
    """The business side of the booking flow."""
    if request["action"] == "ping":
        return {"data": {"status": "active"}}
    if request["action"] == "INIT":
        return {
            "screen": "DETAILS",
            "data": {"packages": [{"id": "vic", "title": "Victoria Falls"}]},
        }
    if request["screen"] == "DETAILS":
        data = request["data"]
        return {
            "screen": "CONFIRM",
            "data": {"summary": f"{data['package']} for {data['full_name']}", "quote_id": "Q-7"},
        }
    return {
        "screen": "SUCCESS",
        "data": {
            "extension_message_response": {
                "params": {"flow_token": request["flow_token"], "booking": "BK-1"}
            }
        },
    }


def nfm_replies(recorder: WebhookRecorder, count: int = 1) -> list[dict]:
    def is_nfm(request) -> bool:
        return any(m.get("type") == "interactive" for m in webhook_messages(request))

    return [webhook_messages(r)[0] for r in recorder.wait_for(count, predicate=is_nfm)]


# -- crypto: our client side against pywa's server side ----------------------------------------
@settings(max_examples=15, deadline=None)
@given(
    payload=st.dictionaries(
        st.text(min_size=1, max_size=10),
        st.one_of(st.text(max_size=50), st.integers(), st.booleans(), st.none()),
        max_size=5,
    )
)
def test_our_encryption_is_what_pywa_decrypts_and_back(private_key, payload: dict):
    request = {"version": "3.0", "action": "data_exchange", "data": payload, "flow_token": "t"}
    encrypted = encrypt_request(request, pem_public(private_key))
    decrypted, aes_key, iv = default_flow_request_decryptor(
        encrypted.body["encrypted_flow_data"],
        encrypted.body["encrypted_aes_key"],
        encrypted.body["initial_vector"],
        pem_private(private_key),
    )
    assert decrypted == request
    assert (aes_key, iv) == (encrypted.aes_key, encrypted.iv)
    assert len(aes_key) == 16 and len(iv) == 16
    reply = {"screen": "NEXT", "data": payload}
    assert decrypt_response(default_flow_response_encryptor(reply, aes_key, iv), aes_key, iv) == (
        reply
    )


# -- Graph flows management ---------------------------------------------------------------------
def test_flow_management_through_graph(graph: httpx.Client, endpoint: DataEndpoint):
    created = graph.post(
        f"/{WABA_ID}/flows",
        data={"name": "survey", "categories": '["SURVEY"]', "flow_json": json.dumps(SURVEY_FLOW)},
    ).json()
    flow_id = created["id"]
    assert created == {"id": flow_id, "success": True, "validation_errors": []}
    flow = graph.get(f"/{flow_id}").json()
    assert (flow["name"], flow["status"], flow["json_version"]) == ("survey", "DRAFT", "7.3")
    assert graph.get(f"/{flow_id}", params={"fields": "status"}).json() == {
        "id": flow_id,
        "status": "DRAFT",
    }
    assert graph.post(f"/{flow_id}", json={"endpoint_uri": endpoint.url}).json()["success"]
    assert graph.post(f"/{flow_id}/publish").json() == {"success": True}
    assert graph.get(f"/{flow_id}").json()["status"] == "PUBLISHED"
    listed = graph.get(f"/{WABA_ID}/flows").json()["data"]
    assert [f["id"] for f in listed] == [flow_id]
    refused = graph.post(f"/{flow_id}/assets", files={"file": ("flow.json", b"{}")})
    assert refused.status_code == 400


def test_flow_json_upload_and_validation_errors(graph: httpx.Client):
    flow_id = graph.post(f"/{WABA_ID}/flows", json={"name": "draft"}).json()["id"]
    broken = dict(BOOKING_FLOW, screens=[BOOKING_FLOW["screens"][0]])
    upload = graph.post(
        f"/{flow_id}/assets",
        data={"name": "flow.json", "asset_type": "FLOW_JSON"},
        files={"file": ("flow.json", json.dumps(broken).encode(), "application/json")},
    ).json()
    assert upload["success"] is True
    assert upload["validation_errors"] == []
    bad = graph.post(
        f"/{flow_id}/assets", files={"file": ("flow.json", b"{not json", "application/json")}
    ).json()
    assert bad["validation_errors"][0]["error"] == "INVALID_JSON"
    refused = graph.post(f"/{flow_id}/publish")
    assert refused.status_code == 400
    assert refused.json()["error"]["code"] == 139001


def test_publishing_a_data_flow_needs_an_endpoint(graph: httpx.Client):
    answer = graph.post(
        f"/{WABA_ID}/flows",
        json={"name": "x", "flow_json": json.dumps(BOOKING_FLOW), "publish": True},
    )
    assert answer.status_code == 400
    assert "Endpoint Uri" in answer.json()["error"]["error_data"]["details"]


def test_business_public_key_upload(graph: httpx.Client, private_key):
    assert graph.get(f"/{PHONE_NUMBER_ID}/whatsapp_business_encryption").json() == {"data": []}
    refused = graph.post(
        f"/{PHONE_NUMBER_ID}/whatsapp_business_encryption",
        data={"business_public_key": "not a key"},
    )
    assert refused.json()["error"]["code"] == 100
    graph.post(
        f"/{PHONE_NUMBER_ID}/whatsapp_business_encryption",
        data={"business_public_key": pem_public(private_key)},
    )
    stored = graph.get(f"/{PHONE_NUMBER_ID}/whatsapp_business_encryption").json()["data"][0]
    assert stored["business_public_key"] == pem_public(private_key)
    assert stored["business_public_key_signature_status"] == "VALID"


# -- the data channel ---------------------------------------------------------------------------
def test_ping(control: ControlClient, booking_flow: str, endpoint: DataEndpoint):
    answer = control.ping_flow(booking_flow)
    assert answer == {"ok": True, "response": {"data": {"status": "active"}}}
    assert endpoint.received == [{"version": "3.0", "action": "ping"}]


def test_booking_flow_init_data_exchange_and_success(
    graph: httpx.Client,
    control: ControlClient,
    booking_flow: str,
    endpoint: DataEndpoint,
    recorder: WebhookRecorder,
):
    endpoint.answer = booking_answers
    wamid = send_flow_message(graph, control, booking_flow)

    opened = control.open_flow(USER, wamid)
    assert endpoint.received[0] == {
        "version": "3.0",
        "action": "INIT",
        "flow_token": "booking-42",
    }
    assert (opened["status"], opened["screen"], opened["title"]) == (
        "open",
        "DETAILS",
        "Your details",
    )
    assert opened["data"] == {"packages": [{"id": "vic", "title": "Victoria Falls"}]}
    assert opened["layout"]["type"] == "SingleColumnLayout"

    form = {"full_name": "Tendai Moyo", "email": "tendai@example.com", "package": "vic"}
    confirm = control.submit(opened["session"], form)
    assert endpoint.received[1] == {
        "version": "3.0",
        "action": "data_exchange",
        "screen": "DETAILS",
        "data": {**form, "note": "for Tendai Moyo"},
        "flow_token": "booking-42",
    }
    assert confirm["screen"] == "CONFIRM"
    assert confirm["data"]["summary"] == "vic for Tendai Moyo"
    assert confirm["history"] == ["DETAILS"]

    done = control.submit(opened["session"])
    assert endpoint.received[2]["data"] == {"confirm": True, "quote_id": "Q-7"}
    assert done["status"] == "completed"

    reply = nfm_replies(recorder)[0]
    assert reply["context"] == {"from": "263770000000", "id": wamid}
    nfm = reply["interactive"]["nfm_reply"]
    assert (nfm["name"], nfm["body"]) == ("flow", "Sent")
    assert json.loads(nfm["response_json"]) == {"flow_token": "booking-42", "booking": "BK-1"}
    assert done["completion"]["wamid"] == reply["id"]
    assert all(
        webhook_updates_validator(APP_SECRET, body, _sign(body)) for body in endpoint.raw_bodies
    )


def _sign(body: bytes) -> str:
    import hashlib
    import hmac

    return "sha256=" + hmac.new(APP_SECRET.encode(), body, hashlib.sha256).hexdigest()


@pytest.mark.parametrize(
    ("form", "field_errors"),
    [
        ({"email": "a@b.co", "package": "vic"}, {"full_name": "required"}),
        (
            {"full_name": "A", "email": "not-an-email", "package": "vic"},
            {"email": "not a valid email address"},
        ),
        (
            {"full_name": "A", "email": "a@b.co", "package": "vic", "phone": "call me"},
            {"phone": "not a valid phone number"},
        ),
        (
            {"full_name": "A", "email": "a@b.co", "package": "mars"},
            {"package": "not an option: ['mars']"},
        ),
        (
            {"full_name": "A", "email": "a@b.co", "package": "vic", "age": "9"},
            {"age": "no such input on this screen"},
        ),
    ],
)
def test_form_is_checked_before_anything_is_sent(
    graph: httpx.Client,
    control: ControlClient,
    booking_flow: str,
    endpoint: DataEndpoint,
    form: dict,
    field_errors: dict,
):
    endpoint.answer = booking_answers
    session = control.open_flow(USER, send_flow_message(graph, control, booking_flow))["session"]
    refused = control.submit(session, form, expect=422)
    assert refused["field_errors"] == field_errors
    assert refused["screen"] == "DETAILS"
    assert [r["action"] for r in endpoint.received] == ["INIT"]


def test_error_message_keeps_the_screen_with_a_banner(
    graph: httpx.Client, control: ControlClient, booking_flow: str, endpoint: DataEndpoint
):
    def answers(request: dict) -> dict:
        if request["action"] == "INIT":
            return booking_answers(request)
        return {
            "screen": "DETAILS",
            "data": {"packages": [{"id": "vic", "title": "V"}], "error_message": "Sold out"},
        }

    endpoint.answer = answers
    session = control.open_flow(USER, send_flow_message(graph, control, booking_flow))["session"]
    state = control.submit(session, {"full_name": "A", "email": "a@b.co", "package": "vic"})
    assert (state["screen"], state["error_message"], state["status"]) == (
        "DETAILS",
        "Sold out",
        "open",
    )
    assert state["history"] == []


def test_navigate_flow_runs_locally_and_completes_with_the_payload(
    graph: httpx.Client, control: ControlClient, recorder: WebhookRecorder
):
    flow = control.put_flow(flow_id="777", name="survey", flow_json=SURVEY_FLOW)
    assert flow["status"] == "PUBLISHED"
    wamid = send_flow_message(
        graph,
        control,
        "777",
        flow_action="navigate",
        flow_token="survey-1",
        flow_action_payload={"screen": "WELCOME", "data": {"first_name": "Rudo"}},
    )
    opened = control.open_flow(USER)  # the latest flow message
    assert (opened["screen"], opened["data"]) == ("WELCOME", {"first_name": "Rudo"})
    assert opened["exchanges"] == []

    control.submit(opened["session"], {"rating": "7"}, expect=422)
    comment = control.submit(opened["session"], {"rating": "5"})
    assert (comment["screen"], comment["data"]) == ("COMMENT", {"rating": "5"})

    back = control._post(f"/flow-sessions/{opened['session']}/back")
    assert back["screen"] == "WELCOME"
    control.submit(opened["session"], {"rating": "5"})

    done = control.submit(opened["session"], {"comment": "Lovely"})
    assert done["status"] == "completed"
    reply = nfm_replies(recorder)[0]
    assert reply["context"]["id"] == wamid
    assert json.loads(reply["interactive"]["nfm_reply"]["response_json"]) == {
        "flow_token": "survey-1",
        "rating": "5",
        "comment": "Lovely",
        "first": "5",
    }
    closed = control.submit(opened["session"], {}, expect=400)
    assert closed["kind"] == "session_closed"
    conversation = control.conversation(USER)["messages"]
    assert conversation[-1]["interactive_type"] == "nfm_reply"


def test_421_refetches_the_public_key_and_retries_once(
    graph: httpx.Client,
    control: ControlClient,
    booking_flow: str,
    endpoint: DataEndpoint,
    private_key: rsa.RSAPrivateKey,
):
    """The emulator holds a stale key; the business rotates it when it cannot decrypt."""
    stale = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    control.set_public_key(pem_public(stale))

    def rotate() -> None:
        graph.post(
            f"/{PHONE_NUMBER_ID}/whatsapp_business_encryption",
            data={"business_public_key": pem_public(private_key)},
        )

    endpoint.on_undecryptable = rotate
    endpoint.answer = booking_answers
    opened = control.open_flow(USER, send_flow_message(graph, control, booking_flow))
    assert endpoint.statuses == [421, 200]
    assert opened["screen"] == "DETAILS"
    assert [e["attempt"] for e in opened["exchanges"]] == [1, 2]


def test_421_twice_ends_in_a_decryption_error(
    graph: httpx.Client, control: ControlClient, booking_flow: str, endpoint: DataEndpoint
):
    control.set_public_key(
        pem_public(rsa.generate_private_key(public_exponent=65537, key_size=2048))
    )
    opened = control.open_flow(USER, send_flow_message(graph, control, booking_flow))
    assert endpoint.statuses == [421, 421]
    assert opened["status"] == "error"
    assert opened["error"]["kind"] == "decryption_failed"


def test_427_ends_the_session_with_the_endpoints_message(
    graph: httpx.Client, control: ControlClient, booking_flow: str, endpoint: DataEndpoint
):
    def answers(request: dict):
        if request["action"] == "INIT":
            return booking_answers(request)
        return 427, {"error_msg": "This booking has expired"}

    endpoint.answer = answers
    session = control.open_flow(USER, send_flow_message(graph, control, booking_flow))["session"]
    state = control.submit(session, {"full_name": "A", "email": "a@b.co", "package": "vic"})
    assert state["status"] == "error"
    assert state["error"] == {"kind": "flow_token_invalid", "message": "This booking has expired"}


def test_432_signature_refused_is_surfaced(
    graph: httpx.Client, control: ControlClient, booking_flow: str, endpoint: DataEndpoint
):
    endpoint.answer = booking_answers
    session = control.open_flow(USER, send_flow_message(graph, control, booking_flow))["session"]
    endpoint.app_secret = "rotated-secret"
    state = control.submit(session, {"full_name": "A", "email": "a@b.co", "package": "vic"})
    assert state["status"] == "open"
    assert state["screen"] == "DETAILS"
    assert state["error"]["kind"] == "signature_refused"
    assert endpoint.statuses[-1] == 432


def test_open_needs_a_known_flow_and_a_flow_message(graph: httpx.Client, control: ControlClient):
    wamid = send_flow_message(graph, control, "does-not-exist")
    assert control.open_flow(USER, wamid, expect=404)["kind"] == "unknown_flow"
    inbound = control.send_text(USER, "hi")["wamid"]
    assert control.open_flow(USER, inbound, expect=404)["kind"] == "not_found"


def test_flow_endpoint_override(
    graph: httpx.Client, control: ControlClient, endpoint: DataEndpoint, private_key
):
    control.put_flow(flow_id="888", flow_json=BOOKING_FLOW, endpoint_uri="http://127.0.0.1:9/x")
    control.set_public_key(pem_public(private_key))
    control.config(flow_endpoint_override=endpoint.url)
    assert control.ping_flow("888")["ok"] is True
