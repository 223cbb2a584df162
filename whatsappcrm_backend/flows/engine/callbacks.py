"""Typed callback data: what the buttons on our own messages (receipts, help) carry.

A reply id is ``<action>:<value>`` (e.g. ``pay:42`` or ``cmd:menu``), at most Meta's button
id length. ``Callback(...).encode()`` writes one, ``Callback.decode`` reads one back; nobody
else splits strings. ``cmd`` callbacks are global commands (``triggers.command_for``); any
other action names an entry point that a flow definition declares (``entry_points``), so
where a button leads is data, not code.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

COMMAND = "cmd"
SEPARATOR = ":"
_ACTION = re.compile(r"[a-z][a-z0-9_]{0,15}", re.ASCII)
MAX_LENGTH = 256  # Meta: a reply button's id


@dataclass(frozen=True)
class Callback:
    action: str
    value: str = ""

    def __post_init__(self) -> None:
        if not _ACTION.fullmatch(self.action):
            raise ValueError(f"callback action {self.action!r} is not a short lowercase name")
        if len(self.encode()) > MAX_LENGTH:
            raise ValueError("callback data longer than a button id may be")

    def encode(self) -> str:
        return f"{self.action}{SEPARATOR}{self.value}"

    @classmethod
    def decode(cls, reply_id: str) -> Callback | None:
        """The callback a reply id carries; None for ids that are not callbacks (the ids of
        a question's own options)."""
        action, separator, value = (reply_id or "").partition(SEPARATOR)
        if not separator or not _ACTION.fullmatch(action) or len(reply_id) > MAX_LENGTH:
            return None
        return cls(action, value)


def command(name: str) -> str:
    """The reply id of a button that runs the global command ``name`` (menu, agent, ...)."""
    return Callback(COMMAND, name).encode()
