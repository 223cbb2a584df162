"""The WhatsApp emulator follows Meta's published rules for usernames (business-scoped user IDs)
and media: a username user's webhooks carry no phone number, a reply reaches them by
`recipient`, statuses name them by `recipient_user_id`; a photo or a PDF is served through
`GET /{media-id}` and a short-lived URL that wants the access token. Each rule's source is in
sandbox/whatsapp/README.md."""

from __future__ import annotations

import base64
import hashlib
import time

import httpx
import pytest

from sandbox.whatsapp import WhatsAppEmulator
from sandbox.whatsapp.media import SAMPLE_PDF, SAMPLE_PNG, URL_TTL_SECONDS
from sandbox.whatsapp.testing import (
    ControlClient,
    WebhookRecorder,
    webhook_messages,
    webhook_statuses,
)
from tests.sandbox.whatsapp_ids import ACCESS_TOKEN, PHONE_NUMBER_ID, USER

AUTH = {"Authorization": f"Bearer {ACCESS_TOKEN}"}


def value(request) -> dict:
    return request.json()["entry"][0]["changes"][0]["value"]


@pytest.fixture
def username_user(control: ControlClient) -> dict:
    return control._post(
        "/users", {"username": "tendai.moyo", "name": "Tendai", "private_phone": "263771999888"}
    )


def test_a_username_user_is_named_by_bsuid_only(
    control: ControlClient, recorder: WebhookRecorder, username_user: dict
):
    assert username_user["wa_id"] is None and username_user["phone_hidden"] is True
    handle = username_user["handle"]
    assert handle == username_user["user_id"] and handle.startswith("ZW.")
    control.send_text(handle, "hi")
    [request] = recorder.wait_for(1, predicate=webhook_messages)
    contact = value(request)["contacts"][0]
    assert contact == {
        "profile": {"name": "Tendai", "username": "tendai.moyo"},
        "user_id": handle,
    }
    message = webhook_messages(request)[0]
    assert "from" not in message and message["from_user_id"] == handle
    # Their own number never leaves the phone.
    assert "263771999888" not in request.body.decode()
    # The same username is the same user (and BSUID) again.
    again = control._post("/users", {"username": "tendai.moyo"})
    assert again["handle"] == handle


def test_a_reply_reaches_a_username_user_by_recipient_and_its_statuses_by_user_id(
    graph: httpx.Client,
    control: ControlClient,
    recorder: WebhookRecorder,
    username_user: dict,
):
    handle = username_user["handle"]
    control.send_text(handle, "hi")
    payload = {
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        "recipient": handle,
        "type": "text",
        "text": {"body": "Welcome"},
    }
    answer = graph.post(f"/{PHONE_NUMBER_ID}/messages", json=payload).json()
    assert answer["contacts"] == [{"input": handle, "user_id": handle}]  # no wa_id
    statuses = [webhook_statuses(r)[0] for r in recorder.wait_for(3, predicate=webhook_statuses)]
    assert [s["status"] for s in statuses] == ["sent", "delivered", "read"]
    assert all(s["recipient_user_id"] == handle and "recipient_id" not in s for s in statuses)
    assert control.conversation(handle)["messages"][-1]["text"] == "Welcome"


@pytest.mark.usefixtures("open_window")
def test_to_wins_over_recipient_and_a_bsuid_in_to_is_refused(
    graph: httpx.Client, control: ControlClient
):
    user = control._get("/users")["users"][0]
    both = {
        "messaging_product": "whatsapp",
        "to": USER,
        "recipient": user["user_id"],
        "type": "text",
        "text": {"body": "by phone"},
    }
    answer = graph.post(f"/{PHONE_NUMBER_ID}/messages", json=both).json()
    assert answer["contacts"] == [{"input": USER, "wa_id": USER}]
    refused = graph.post(f"/{PHONE_NUMBER_ID}/messages", json={**both, "to": user["user_id"]})
    assert refused.status_code == 400 and refused.json()["error"]["code"] == 100
    unknown = {**both, "recipient": "ZW.1"}
    del unknown["to"]
    assert graph.post(f"/{PHONE_NUMBER_ID}/messages", json=unknown).status_code == 400


@pytest.fixture
def open_window(control: ControlClient) -> None:
    control.send_text(USER, "hello", name="Alice")


def test_a_pdf_is_served_as_metas_media_api_serves_it(
    emulator: WhatsAppEmulator, control: ControlClient, recorder: WebhookRecorder
):
    control.send(
        USER,
        type="document",
        data=base64.b64encode(SAMPLE_PDF).decode(),
        mime_type="application/pdf",
        filename="slip.pdf",
        caption="Deposit",
    )
    [request] = recorder.wait_for(1, predicate=webhook_messages)
    document = webhook_messages(request)[0]["document"]
    assert (document["filename"], document["caption"], document["mime_type"]) == (
        "slip.pdf",
        "Deposit",
        "application/pdf",
    )
    assert base64.b64decode(document["sha256"]) == hashlib.sha256(SAMPLE_PDF).digest()

    info = httpx.get(f"{emulator.graph_url}/{document['id']}", headers=AUTH).json()
    assert info["messaging_product"] == "whatsapp" and info["file_size"] == str(len(SAMPLE_PDF))
    assert info["sha256"] == hashlib.sha256(SAMPLE_PDF).hexdigest()
    assert httpx.get(info["url"], headers=AUTH).content == SAMPLE_PDF
    assert httpx.get(info["url"]).status_code == 401  # the token is required
    tampered = info["url"].replace("hash=", "hash=0")
    assert httpx.get(tampered, headers=AUTH).status_code == 404
    other_number = httpx.get(
        f"{emulator.graph_url}/{document['id']}",
        params={"phone_number_id": "999"},
        headers=AUTH,
    )
    assert other_number.status_code == 400


def test_the_media_url_expires(emulator: WhatsAppEmulator):
    media = emulator.media.add("image", content=SAMPLE_PNG, mime_type="image/png")
    url = emulator.media.url_for(emulator.base_url, media.id, now=time.time() - URL_TTL_SECONDS - 1)
    assert httpx.get(url, headers=AUTH).status_code == 404
    fresh = emulator.media.url_for(emulator.base_url, media.id)
    assert httpx.get(fresh, headers=AUTH).content == SAMPLE_PNG


@pytest.mark.parametrize(
    ("spec", "error"),
    [
        ({"type": "image", "mime_type": "image/gif"}, "must be one of image/jpeg, image/png"),
        ({"type": "document", "mime_type": "application/x-msdownload"}, "a document must be"),
        ({"type": "image", "mime_type": "image/png", "data": "not base64!"}, "must be base64"),
    ],
)
def test_files_meta_would_not_carry_are_refused(control: ControlClient, spec, error):
    if "data" not in spec:
        spec = {**spec, "data": base64.b64encode(b"\x89PNG fake").decode()}
    answer = control.http.post(f"/users/{USER}/send", json=spec)
    assert answer.status_code == 400 and error in answer.json()["error"]


def test_a_reaction_and_its_removal(control: ControlClient, recorder: WebhookRecorder):
    control.send(USER, type="reaction", message_id="wamid.OURS", emoji="👍")
    control.send(USER, type="reaction", message_id="wamid.OURS")
    first, second = (
        webhook_messages(r)[0] for r in recorder.wait_for(2, predicate=webhook_messages)
    )
    assert first["reaction"] == {"message_id": "wamid.OURS", "emoji": "👍"}
    assert second["reaction"] == {"message_id": "wamid.OURS", "emoji": ""}


def test_an_unknown_handle_is_not_a_user(control: ControlClient):
    answer = control.http.post("/users/ZW.123/send", json={"type": "text", "text": "hi"})
    assert answer.status_code == 404
