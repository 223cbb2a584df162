"""Named actions, conditions and option providers that flow definitions refer to.

Definitions are data, so they name code instead of holding it. A name is registered with a
decorator in ``flows/actions.py``, ``flows/conditions.py`` or ``flows/selectors.py``;
the loader refuses definitions that name anything not registered here.
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


def ensure_registered() -> None:
    """Import the modules whose decorators fill the registries."""
    for module in _MODULES:
        importlib.import_module(module)
