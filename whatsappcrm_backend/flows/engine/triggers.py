"""Trigger phrases and global commands, matched on whole words, case-insensitively.

"hi" fires for "Hi!" and "hi there" but never inside "this" or "which". A global command
(menu, cancel, help, agent) must be the whole message ("menu", "Main menu.", "cancel"), so
an answer that merely contains the word (a name like "Helper") is still an answer.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from .answers import normalise
from .callbacks import COMMAND, Callback

GLOBAL_COMMANDS: dict[str, frozenset[str]] = {
    "menu": frozenset({"menu", "main menu", "home", "start over", "restart", "back to menu"}),
    "cancel": frozenset({"cancel", "stop", "quit", "exit", "abort"}),
    "help": frozenset({"help", "?", "how does this work"}),
    "agent": frozenset(
        {
            "agent",
            "human",
            "person",
            "talk to an agent",
            "talk to agent",
            "speak to an agent",
            "talk to a person",
            "talk to someone",
            "real person",
        }
    ),
}


def command_for(text: str, reply_id: str = "") -> str | None:
    """The global command this message is, if it is one (typed, or a ``cmd`` button)."""
    callback = Callback.decode(reply_id)
    if callback is not None and callback.action == COMMAND:
        return callback.value if callback.value in GLOBAL_COMMANDS else None
    if reply_id:
        return None
    said = normalise(text)
    for name, phrases in GLOBAL_COMMANDS.items():
        if said in phrases:
            return name
    return None


def phrase_pattern(phrase: str) -> re.Pattern:
    words = [re.escape(word) for word in normalise(phrase).split()]
    return re.compile(r"(?<!\w)" + r"\s+".join(words) + r"(?!\w)", re.IGNORECASE)


def contains_phrase(text: str, phrase: str) -> bool:
    return bool(phrase.strip()) and phrase_pattern(phrase).search(text or "") is not None


def best_trigger(text: str, flows: Iterable[tuple[str, Iterable[str]]]) -> str | None:
    """The flow whose longest trigger phrase occurs in ``text`` as whole words."""
    best: tuple[int, str] | None = None
    for name, phrases in flows:
        for phrase in phrases:
            if contains_phrase(text, phrase):
                score = len(normalise(phrase))
                if best is None or score > best[0]:
                    best = (score, name)
    return best[1] if best else None
