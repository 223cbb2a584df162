"""Shared constants and helpers for the WhatsApp channel tests (imported by conftest and tests).

Kept out of conftest.py so tests can import it by its dotted name, and so
``INBOUND_MESSAGE_HANDLER`` can point at ``recording_handler``.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from django.db import OperationalError, connection

from meta_integration.services.dispatch import default_inbound_handler

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "meta"
PHONE_NUMBER_ID = "123456789012345"  # the fixtures' metadata.phone_number_id
WABA_ID = "102290129340398"
APP_SECRET = "app-secret-7f3c9e1d5b2a4f68"
OLD_APP_SECRET = "old-app-secret-0a1b2c3d4e5f"
ACCESS_TOKEN = "EAAG-access-token-9d8c7b6a5f4e3d2c1b0a"
VERIFY_TOKEN = "verify-token-kalai-2026"
UNREACHABLE_GRAPH = "http://127.0.0.1:9"  # discard port: nothing listens
# The wamid of our outbound message that the status_*.json fixtures report on.
OUR_WAMID = "wamid.HBgMMjYzNzcxMjM0NTY3FQIAERgSMTdBMkM5ODNGRTVERjQ2MjA3AA=="

# Inbound messages handed to the bot, in order (see ``recording_handler``).
DISPATCHED: list[int] = []


def recording_handler(message) -> None:
    """An INBOUND_MESSAGE_HANDLER that notes each dispatch, then does what the default does."""
    DISPATCHED.append(message.pk)
    default_inbound_handler(message)


def fixture_bytes(name: str) -> bytes:
    return (FIXTURES / f"{name}.json").read_bytes()


def fixture_json(name: str) -> dict:
    return json.loads(fixture_bytes(name))


def fresh(data: dict) -> bytes:
    """The fixture with its message/status timestamps set to now (a message sent just now)."""
    now = str(int(time.time()))
    for entry in data["entry"]:
        for change in entry["changes"]:
            for item in change["value"].get("messages", []) + change["value"].get("statuses", []):
                item["timestamp"] = now
    return json.dumps(data).encode()


def wait_until(predicate: Callable[[], Any], timeout: float = 10.0, interval: float = 0.05):
    """Poll until truthy. A database error counts as "not yet": with SQLite's shared in-memory
    test database, a read can meet the live server's write ("table is locked")."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            value = predicate()
        except OperationalError:
            value = None
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout}s")
        time.sleep(interval)


@contextmanager
def table_locked(table: str, *, our_lock_timeout_ms: int = 300) -> Iterator[None]:
    """PostgreSQL only: another session holds ``table`` exclusively, and our session gives up
    waiting for it after ``our_lock_timeout_ms`` (a real database failure, no stand-in)."""
    other = connection.copy()
    try:
        other.set_autocommit(False)  # LOCK TABLE holds until the other session's rollback
        with other.cursor() as cursor:
            cursor.execute(f"LOCK TABLE {table} IN ACCESS EXCLUSIVE MODE")
        with connection.cursor() as cursor:
            cursor.execute(f"SET lock_timeout = '{int(our_lock_timeout_ms)}ms'")
        yield
    finally:
        with connection.cursor() as cursor:
            cursor.execute("RESET lock_timeout")
        other.rollback()
        other.close()
