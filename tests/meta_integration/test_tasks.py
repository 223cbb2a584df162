"""Ordering, retries and dispatch with a real Celery worker on Redis and PostgreSQL.

The worker runs as a subprocess against the test database, on a queue of its own, with two
threads, so two drains of one contact's queue really can run at the same time.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connections
from django.utils import timezone

from conversations import services as conversations
from conversations.models import Contact, Message
from meta_integration import messages as payloads
from meta_integration.services.dispatch import UNSUPPORTED_REPLY
from tests.meta_integration.whatsapp_helpers import fixture_json, fresh, wait_until
from whatsappcrm.celery import app as celery_app

pytestmark = [
    pytest.mark.redis,
    pytest.mark.postgres,
    pytest.mark.django_db(transaction=True),
]

REPO = Path(__file__).resolve().parents[2]
BACKEND = REPO / "whatsappcrm_backend"
START_TIMEOUT = 45.0


def _test_database_url() -> str:
    db = settings.DATABASES["default"]
    auth = db.get("USER") or ""
    if db.get("PASSWORD"):
        auth += f":{db['PASSWORD']}"
    host = f"{db.get('HOST') or '127.0.0.1'}:{db.get('PORT') or 5432}"
    return f"postgres://{auth}@{host}/{db['NAME']}" if auth else f"postgres://{host}/{db['NAME']}"


@pytest.fixture
def worker(transactional_db, settings, tmp_path) -> Iterator[str]:
    queue = f"wcrm-test-{uuid.uuid4().hex[:12]}"
    settings.WHATSAPP_TASK_QUEUE = queue
    celery_app.conf.task_always_eager = False  # the autouse fixture restores it
    log_path = tmp_path / "worker.log"
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tests.meta_integration.worker_settings",
        "PYTHONPATH": os.pathsep.join([str(REPO), str(BACKEND)]),
        "DATABASE_URL": _test_database_url(),
        "CELERY_BROKER_URL": settings.CELERY_BROKER_URL,
        "WCRM_TEST_TASK_QUEUE": queue,
    }
    command = [
        sys.executable, "-m", "celery", "-A", "whatsappcrm", "worker",
        "--pool=threads", "--concurrency=2", "-Q", queue, "--loglevel=INFO",
        "--without-gossip", "--without-mingle", "--without-heartbeat",
        "-n", f"{queue}@%h",
    ]  # fmt: skip
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            command, cwd=BACKEND, env=env, stdout=log, stderr=subprocess.STDOUT
        )
    try:
        deadline = time.monotonic() + START_TIMEOUT
        while b" ready." not in log_path.read_bytes():
            if process.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(
                    f"Celery worker did not start:\n{log_path.read_text(errors='replace')}"
                )
            time.sleep(0.1)
        yield queue
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)
        with celery_app.connection_for_write() as connection:
            connection.default_channel.client.delete(queue)
        connections.close_all()
        print(log_path.read_text(errors="replace")[-4000:])  # shown when the test fails


def open_window(whatsapp_id: str) -> Contact:
    return Contact.objects.create(whatsapp_id=whatsapp_id, last_inbound_at=timezone.now())


def test_three_replies_arrive_in_order_when_the_first_meets_130429(
    worker, emulated_config, control
):
    contact = open_window("263771234567")
    control.faults(rate_limit=1)
    for text in ("one", "two", "three"):
        conversations.queue_message(contact, payloads.text(contact.whatsapp_id, text))

    received = control.wait_for_messages(3, to=contact.whatsapp_id, timeout=30)
    assert [m["text"] for m in received] == ["one", "two", "three"]
    wait_until(lambda: not Message.objects.filter(status="pending").exists(), timeout=10)
    first, second, third = Message.objects.order_by("created_at", "id")
    assert first.attempts == 2 and first.status == "accepted"
    assert (second.attempts, third.attempts) == (1, 1)
    assert [m.wamid for m in (first, second, third)] == [m["wamid"] for m in received]


def test_concurrent_drains_keep_each_contacts_order(worker, emulated_config, control):
    contacts = [open_window("263771111111"), open_window("263772222222")]
    control.faults(rate_limit=3, server_error=2)
    for i in range(6):
        for contact in contacts:
            conversations.queue_message(contact, payloads.text(contact.whatsapp_id, f"msg {i}"))

    for contact in contacts:
        received = control.wait_for_messages(6, to=contact.whatsapp_id, timeout=45)
        assert [m["text"] for m in received] == [f"msg {i}" for i in range(6)]
    wait_until(lambda: not Message.objects.filter(status="pending").exists(), timeout=10)
    assert Message.objects.filter(status="accepted").count() == 12
    assert len(set(Message.objects.values_list("wamid", flat=True))) == 12


def test_inbound_message_is_dispatched_by_the_worker(worker, config_for_webhooks, client, control):
    from django.urls import reverse

    from meta_integration.signature import compute_signature
    from tests.meta_integration.whatsapp_helpers import APP_SECRET

    body = fresh(fixture_json("image"))
    for _ in range(3):  # Meta retries: still one dispatch, one answer
        response = client.post(
            reverse("meta_integration:webhook"),
            data=body,
            content_type="application/json",
            HTTP_X_HUB_SIGNATURE_256=compute_signature(APP_SECRET, body),
        )
        assert response.status_code == 200
    received = control.wait_for_messages(1, to="263771234567", timeout=30)
    assert received[0]["text"] == UNSUPPORTED_REPLY
    inbound = Message.objects.get(direction="in")
    wait_until(lambda: Message.objects.get(pk=inbound.pk).dispatched_at is not None)
    time.sleep(1.0)  # a second dispatch, if there were one, would have answered by now
    assert len(control.messages(to="263771234567")) == 1
    assert Message.objects.filter(direction="out").count() == 1


@pytest.fixture
def config_for_webhooks(emulated_config):
    return emulated_config
