"""The step kinds a flow definition may use, the fields each takes, and where each can lead.

A flow definition is a dict::

    FLOW = {
        "name": "booking",                 # slug, unique
        "description": "...",
        "triggers": ["book", "book a tour"],  # whole words / exact phrases
        "start": "choose_tour",
        "steps": {"choose_tour": {"type": "question", ...}, ...},
    }

Step kinds (``type``):

- ``message``: send ``message``, then go to ``next`` (or end the flow).
- ``question``: send ``message`` and wait; the answer is checked against ``expect``
  (text, number, integer, date, email, phone, choice, yes_no, image); a valid answer is
  stored under ``save_as`` and leads to ``transitions[answer]`` or ``next``; an invalid one
  re-asks (with ``error``) and never advances; after ``max_retries`` invalid answers the
  flow goes to ``on_max_retries`` (default: hand over to a person).
- ``action``: run a registered action with ``params``; its outcome picks
  ``transitions[outcome]`` or ``next``.
- ``branch``: the first of ``branches`` (``{"if": condition, "params": {...}, "then": step}``)
  whose condition holds, else ``else``.
- ``handover``: tell the traveller a person will reply and pause the bot.
- ``switch_flow``: continue in ``flow`` (at ``step``, default its start), carrying the
  context keys listed in ``carry``.
- ``end``: optionally send ``message``; the conversation returns to idle.
"""

from __future__ import annotations

from typing import Any

COMMON_FIELDS = frozenset({"type", "description"})

STEP_FIELDS: dict[str, dict[str, frozenset[str]]] = {
    "message": {"required": frozenset({"message"}), "optional": frozenset({"next"})},
    "question": {
        "required": frozenset({"message", "expect"}),
        "optional": frozenset(
            {
                "save_as",
                "next",
                "transitions",
                "error",
                "max_retries",
                "on_max_retries",
                "optional",
                "min",
                "max",
                "min_length",
                "max_length",
                "min_days_ahead",
                "max_days_ahead",
                "return_if_editing",
            }
        ),
    },
    "action": {
        "required": frozenset({"action"}),
        "optional": frozenset({"params", "next", "transitions"}),
    },
    "branch": {"required": frozenset({"branches", "else"}), "optional": frozenset()},
    "handover": {"required": frozenset(), "optional": frozenset({"message"})},
    "switch_flow": {"required": frozenset({"flow"}), "optional": frozenset({"step", "carry"})},
    "end": {"required": frozenset(), "optional": frozenset({"message"})},
}
STEP_TYPES = frozenset(STEP_FIELDS)

EXPECT_TYPES = frozenset(
    {"text", "number", "integer", "date", "email", "phone", "choice", "yes_no", "image"}
)
MESSAGE_KINDS = frozenset({"text", "buttons", "list", "flow", "cta_url"})

DEFAULT_MAX_RETRIES = 3
# The context key a question honours when ``return_if_editing`` is set (see booking flow).
RETURN_TO_KEY = "_return_to"


def transition_targets(step: dict[str, Any]) -> list[tuple[str, str]]:
    """Every ``(where, target step)`` this step can lead to within its flow."""
    found: list[tuple[str, str]] = []
    if isinstance(step.get("next"), str):
        found.append(("next", step["next"]))
    transitions = step.get("transitions")
    if isinstance(transitions, dict):
        for key, target in transitions.items():
            found.append((f"transitions[{key!r}]", target))
    if isinstance(step.get("on_max_retries"), str):
        found.append(("on_max_retries", step["on_max_retries"]))
    if step.get("type") == "branch":
        for i, branch in enumerate(step.get("branches") or []):
            if isinstance(branch, dict) and "then" in branch:
                found.append((f"branches[{i}].then", branch["then"]))
        if "else" in step:
            found.append(("else", step["else"]))
    return found
