"""Named actions, conditions and option providers that flow definitions refer to, and the
handlers of WhatsApp Flow form completions.

Definitions are data, so they name code instead of holding it. A name is registered with a
decorator in ``flows/actions.py``, ``flows/conditions.py`` or ``flows/selectors.py``;
the loader refuses definitions that name anything not registered here. A form's completion
(its ``nfm_reply``) goes to the handler registered for the WhatsApp Flow's name (the payment
form registers ``@form_completion("payment_whatsapp_flow")``), so the engine knows no form.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any


@dataclass
class ActionResult:
    """What an action did: ``outcome`` picks the transition; ``updates`` go into the context;
    ``messages`` (message specs) are sent when the result is applied.

    ``deferred``: slow work (a gateway call) that must not run inside the conversation's
    transaction and row lock. The flow waits at the action step; the callable runs after
    commit and returns the real ``ActionResult``, which then moves the flow on.
    """

    outcome: str = "ok"
    updates: dict[str, Any] = field(default_factory=dict)
    messages: list[Any] = field(default_factory=list)
    deferred: Callable[[], ActionResult] | None = None


@dataclass(frozen=True)
class RegisteredAction:
    name: str
    func: Callable[..., ActionResult]
    outcomes: frozenset[str]


ACTIONS: dict[str, RegisteredAction] = {}
CONDITIONS: dict[str, Callable[..., bool]] = {}
OPTION_PROVIDERS: dict[str, Callable[..., list[dict[str, str]]]] = {}
FormCompletionHandler = Callable[[Any, Any], None]  # (contact, inbound message)
FORM_COMPLETIONS: dict[str, FormCompletionHandler] = {}

_MODULES = ("flows.actions", "flows.conditions", "flows.selectors")


def action(name: str, *, outcomes: tuple[str, ...] = ("ok",)):
    """Register ``func(run, **params) -> ActionResult`` under ``name``.

    ``run`` is the runner's ``ActionContext`` (contact, context, send); ``outcomes`` are the
    outcomes it may return, which a step maps to its next steps.
    """

    def register(func):
        ACTIONS[name] = RegisteredAction(name, func, frozenset(outcomes))
        return func

    return register


def condition(name: str):
    """Register ``func(run, **params) -> bool`` under ``name``."""

    def register(func):
        CONDITIONS[name] = func
        return func

    return register


def option_provider(name: str):
    """Register ``func(run, **params) -> [{"id", "title", "description"?}]`` under ``name``."""

    def register(func):
        OPTION_PROVIDERS[name] = func
        return func

    return register


def form_completion(whatsapp_flow_name: str):
    """Register ``func(contact, message)`` for completions of the WhatsApp Flow of that name."""

    def register(func: FormCompletionHandler) -> FormCompletionHandler:
        FORM_COMPLETIONS[whatsapp_flow_name] = func
        return func

    return register


def ensure_registered() -> None:
    """Import the modules whose decorators fill the registries."""
    for module in _MODULES:
        importlib.import_module(module)
