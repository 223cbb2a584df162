"""Two messages from one contact at the same moment are handled one after the other."""

from __future__ import annotations

import json
import threading
import time

import httpx
import pytest

from flows.engine.runner import Runner
from flows.models import ContactFlowState
from meta_integration.signature import compute_signature
from tests.flows.engine import chat
from tests.flows.engine.chat import describe, outbound


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_messages_at_once_are_processed_one_after_the_other(
    client, whatsapp_number, flows, tours, live_server, monkeypatch
):
    phone = chat.Phone(client)
    phone.says("book")
    phone.taps("Victoria Falls Tour")
    phone.says(f"15/12/{chat.NEXT_YEAR}")
    assert ContactFlowState.objects.get().current_step == "ask_adults"
    before = len(outbound())

    spans: list[tuple[float, float, str]] = []
    original = Runner.handle

    def slow_handle(self, incoming, message=None):
        started = time.monotonic()
        time.sleep(0.4)  # hold the contact's lock long enough for the other message to wait
        try:
            return original(self, incoming, message)
        finally:
            spans.append((started, time.monotonic(), incoming.text))

    monkeypatch.setattr(Runner, "handle", slow_handle)

    def body(text: str, n: int) -> bytes:
        message = {
            "from": phone.wa_id,
            "id": f"wamid.concurrent.{n}.{time.time_ns()}",
            "timestamp": str(int(time.time())),
            "type": "text",
            "text": {"body": text},
        }
        return json.dumps(phone.envelope(message)).encode()

    bodies = [body("2", 1), body("1", 2)]
    barrier = threading.Barrier(len(bodies))
    statuses: list[int] = []

    def deliver(raw: bytes) -> None:
        barrier.wait()
        response = httpx.post(
            f"{live_server.url}/crm-api/meta/webhook/",
            content=raw,
            headers={
                "Content-Type": "application/json",
                "X-Hub-Signature-256": compute_signature(chat.APP_SECRET, raw),
            },
            timeout=30,
        )
        statuses.append(response.status_code)

    threads = [threading.Thread(target=deliver, args=(raw,)) for raw in bodies]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert statuses == [200, 200]
    assert len(spans) == 2
    (_, end_a, _), (start_b, _, _) = sorted(spans)
    assert end_a <= start_b, "the two messages were handled at the same time"

    state = ContactFlowState.objects.get()
    assert {state.context["adults"], state.context["children"]} == {1, 2}
    assert state.current_step == "ask_traveller_name"
    replies = [describe(m) for m in outbound()[before:]]
    assert len(replies) == 2, replies
    assert "how many children" in replies[0]
    assert "Traveller 1 of 3" in replies[1]
