"""Find, validate and store the conversation flows defined in ``flows/definitions/*.py``.

A module defines conversation flows with ``FLOW = {...}`` or ``FLOWS = [{...}, ...]``;
modules without either (e.g. ``payment_whatsapp_flow.py``, which holds Flow JSON for Meta)
are ignored. Validation collects every problem before failing, so one run lists them all.
"""

from __future__ import annotations

import hashlib
import importlib
import json
import pkgutil
import re
from dataclasses import dataclass, field
from typing import Any

from django.db import transaction

from meta_integration import messages as graph

from .. import templating
from . import registry
from .callbacks import COMMAND, Callback
from .render import RenderEnv, build
from .steps import (
    COMMON_FIELDS,
    EXPECT_TYPES,
    MESSAGE_KINDS,
    STEP_FIELDS,
    STEP_TYPES,
    transition_targets,
)

DEFINITIONS_PACKAGE = "flows.definitions"
FLOW_NAME = re.compile(r"^[a-z][a-z0-9_-]{0,63}$")
FLOW_FIELDS = frozenset({"name", "description", "triggers", "start", "steps", "entry_points"})
ENTRY_POINT_FIELDS = frozenset({"step", "context"})


class FlowDefinitionError(Exception):
    """The definitions cannot be loaded; ``problems`` lists every reason."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        listing = "\n".join(f"  - {p}" for p in problems)
        super().__init__(f"{len(problems)} problem(s) in the flow definitions:\n{listing}")


@dataclass
class LoadReport:
    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    deactivated: list[str] = field(default_factory=list)


def discover(package: str = DEFINITIONS_PACKAGE) -> list[tuple[str, dict[str, Any]]]:
    """``(source, definition)`` for every conversation flow in the package's modules."""
    found: list[tuple[str, dict[str, Any]]] = []
    problems: list[str] = []
    pkg = importlib.import_module(package)
    for info in sorted(pkgutil.iter_modules(pkg.__path__), key=lambda i: i.name):
        source = f"{info.name}.py"
        try:
            module = importlib.import_module(f"{package}.{info.name}")
        except Exception as exc:  # a broken module is one problem among others
            problems.append(f"{source}: cannot be imported: {type(exc).__name__}: {exc}")
            continue
        if hasattr(module, "FLOW"):
            found.append((source, module.FLOW))
        if hasattr(module, "FLOWS"):
            flows = module.FLOWS
            if not isinstance(flows, list | tuple):
                problems.append(f"{source}: FLOWS must be a list of flow definitions")
                continue
            found.extend((source, flow) for flow in flows)
    if problems:
        raise FlowDefinitionError(problems)
    return found


def validate(definitions: list[tuple[str, Any]], *, known_flows: dict | None = None) -> list[str]:
    """Every problem with these definitions (empty: they can be loaded).

    ``known_flows`` maps names of flows already stored (and not redefined here) to their
    step names, so a ``switch_flow`` may target them.
    """
    registry.ensure_registered()
    problems: list[str] = []
    by_name: dict[str, set[str]] = {}
    for source, flow in definitions:
        if isinstance(flow, dict) and isinstance(flow.get("name"), str):
            if flow["name"] in by_name:
                problems.append(f"{source}: flow {flow['name']!r} is defined twice")
            steps = flow.get("steps")
            by_name[flow["name"]] = set(steps) if isinstance(steps, dict) else set()
    all_flows = {**(known_flows or {}), **by_name}
    entries = _switch_entries(definitions)
    for source, flow in definitions:
        problems.extend(_validate_flow(source, flow, all_flows, entries))
    problems.extend(_validate_entry_points(definitions))
    return problems


def _entry_points(flow: Any) -> dict[str, Any]:
    points = flow.get("entry_points") if isinstance(flow, dict) else None
    return points if isinstance(points, dict) else {}


def _validate_entry_points(definitions: list[tuple[str, Any]]) -> list[str]:
    """``entry_points`` map a callback action (a button on our messages, e.g. ``pay``) to
    ``{"step": ..., "context": key}``: one flow per action, steps that exist."""
    problems: list[str] = []
    owner: dict[str, str] = {}
    for source, flow in definitions:
        if not isinstance(flow, dict):
            continue
        where = f"{source}: flow {flow.get('name')!r}"
        if "entry_points" in flow and not isinstance(flow["entry_points"], dict):
            problems.append(f"{where}: 'entry_points' must be a dict")
            continue
        steps = flow.get("steps") if isinstance(flow.get("steps"), dict) else {}
        for action, entry in _entry_points(flow).items():
            try:
                Callback(action)
            except ValueError:
                problems.append(f"{where}: entry point {action!r} is not a short lowercase name")
            if action == COMMAND:
                problems.append(f"{where}: entry point {action!r} is reserved for commands")
            if action in owner:
                problems.append(f"{where}: entry point {action!r} is also {owner[action]}'s")
            owner[action] = str(flow.get("name"))
            if not isinstance(entry, dict) or set(entry) != ENTRY_POINT_FIELDS:
                problems.append(
                    f"{where}: entry point {action!r} needs exactly 'step' and 'context'"
                )
                continue
            if entry["step"] not in steps:
                problems.append(
                    f"{where}: entry point {action!r} leads to missing step {entry['step']!r}"
                )
            if not isinstance(entry["context"], str) or not entry["context"]:
                problems.append(f"{where}: entry point {action!r} needs a context key")
    return problems


def _switch_entries(definitions: list[tuple[str, Any]]) -> dict[str, set[str]]:
    """Steps other flows switch into: entry points, reachable like the start step."""
    entries: dict[str, set[str]] = {}
    for _, flow in definitions:
        steps = flow.get("steps") if isinstance(flow, dict) else None
        for step in (steps or {}).values() if isinstance(steps, dict) else ():
            if isinstance(step, dict) and step.get("type") == "switch_flow" and step.get("step"):
                entries.setdefault(step.get("flow"), set()).add(step["step"])
    return entries


def _validate_flow(
    source: str, flow: Any, all_flows: dict[str, set[str]], entries: dict[str, set[str]]
) -> list[str]:
    if not isinstance(flow, dict):
        return [f"{source}: a flow definition must be a dict, got {type(flow).__name__}"]
    name = flow.get("name")
    where = f"{source}: flow {name!r}"
    problems: list[str] = []
    if not isinstance(name, str) or not FLOW_NAME.match(name):
        problems.append(f"{where}: 'name' must be a slug (a-z, 0-9, _ or -)")
    for key in sorted(set(flow) - FLOW_FIELDS):
        problems.append(f"{where}: unknown field {key!r}")
    try:
        json.dumps(flow)
    except (TypeError, ValueError) as exc:
        problems.append(f"{where}: not plain data (JSON): {exc}")
    triggers = flow.get("triggers", [])
    if not isinstance(triggers, list) or not all(
        isinstance(t, str) and t.strip() for t in triggers
    ):
        problems.append(f"{where}: 'triggers' must be a list of non-empty phrases")
    steps = flow.get("steps")
    if not isinstance(steps, dict) or not steps:
        problems.append(f"{where}: 'steps' must be a non-empty dict")
        return problems
    start = flow.get("start")
    if start not in steps:
        problems.append(f"{where}: start step {start!r} does not exist")
    for step_name, step in steps.items():
        problems.extend(_validate_step(f"{where}, step {step_name!r}", step, steps, all_flows))
    if start in steps:
        reachable = set()
        declared = {
            entry.get("step")
            for entry in _entry_points(flow).values()
            if isinstance(entry, dict) and isinstance(entry.get("step"), str)
        }
        for root in {start, *entries.get(name, set()), *declared}:
            reachable |= _reachable(root, steps)
        for step_name in steps:
            if step_name not in reachable:
                problems.append(f"{where}, step {step_name!r}: unreachable from {start!r}")
    return problems


def _reachable(start: str, steps: dict[str, Any]) -> set[str]:
    seen, todo = set(), [start]
    while todo:
        current = todo.pop()
        if current in seen or current not in steps:
            continue
        seen.add(current)
        step = steps[current]
        if isinstance(step, dict):
            todo.extend(target for _, target in transition_targets(step))
    return seen


def _validate_step(where: str, step: Any, steps: dict, all_flows: dict[str, set[str]]) -> list[str]:
    if not isinstance(step, dict):
        return [f"{where}: must be a dict"]
    kind = step.get("type")
    if kind not in STEP_TYPES:
        return [f"{where}: unknown step type {kind!r} (known: {', '.join(sorted(STEP_TYPES))})"]
    problems: list[str] = []
    spec = STEP_FIELDS[kind]
    for key in sorted(spec["required"] - set(step)):
        problems.append(f"{where}: missing required field {key!r}")
    for key in sorted(set(step) - spec["required"] - spec["optional"] - COMMON_FIELDS):
        problems.append(f"{where}: unknown field {key!r} for a {kind} step")
    for label, target in transition_targets(step):
        if not isinstance(target, str) or target not in steps:
            problems.append(f"{where}: {label} leads to missing step {target!r}")
    if isinstance(step.get("transitions"), dict) is False and "transitions" in step:
        problems.append(f"{where}: 'transitions' must be a dict")
    if "message" in step:
        problems.extend(_validate_message(where, step["message"]))

    if kind == "question":
        problems.extend(_validate_question(where, step))
    elif kind == "action":
        problems.extend(_validate_action(where, step))
    elif kind == "branch":
        branches = step.get("branches")
        if not isinstance(branches, list) or not branches:
            problems.append(f"{where}: 'branches' must be a non-empty list")
        else:
            for i, branch in enumerate(branches):
                if not isinstance(branch, dict) or "if" not in branch or "then" not in branch:
                    problems.append(f"{where}: branches[{i}] needs 'if' and 'then'")
                elif branch["if"] not in registry.CONDITIONS:
                    problems.append(
                        f"{where}: branches[{i}] uses unknown condition {branch['if']!r}"
                    )
    elif kind == "switch_flow":
        target_flow = step.get("flow")
        if target_flow not in all_flows:
            problems.append(f"{where}: switches to unknown flow {target_flow!r}")
        elif "step" in step and step["step"] not in all_flows[target_flow]:
            problems.append(
                f"{where}: switches to missing step {step['step']!r} of flow {target_flow!r}"
            )
        carry = step.get("carry", [])
        if not isinstance(carry, list) or not all(isinstance(k, str) for k in carry):
            problems.append(f"{where}: 'carry' must be a list of context keys")
    return problems


def _static_option_ids(message: Any) -> tuple[set[str], bool]:
    """The option ids a message offers as written, and whether some come from a provider."""
    ids: set[str] = set()
    dynamic = False
    if isinstance(message, dict):
        for button in message.get("buttons", []) or []:
            if isinstance(button, dict) and "id" in button:
                ids.add(button["id"])
        for section in message.get("sections", []) or []:
            if isinstance(section, dict):
                dynamic = dynamic or bool(section.get("rows_from"))
                for row in section.get("rows", []) or []:
                    if isinstance(row, dict) and "id" in row:
                        ids.add(row["id"])
    return ids, dynamic


def _validate_question(where: str, step: dict) -> list[str]:
    problems: list[str] = []
    expect = step.get("expect")
    if expect not in EXPECT_TYPES:
        problems.append(
            f"{where}: unknown expected type {expect!r} (known: {', '.join(sorted(EXPECT_TYPES))})"
        )
    message = step.get("message")
    kind = message.get("kind", "text") if isinstance(message, dict) else "text"
    transitions = step.get("transitions") or {}
    if expect in ("choice", "yes_no"):
        if kind not in ("buttons", "list"):
            problems.append(f"{where}: a {expect} question needs a buttons or list message")
        ids, dynamic = _static_option_ids(message)
        if expect == "yes_no" and not {"yes", "no"} <= ids:
            problems.append(f"{where}: a yes_no question needs options with ids 'yes' and 'no'")
        for key in transitions:
            if key not in ids:
                problems.append(
                    f"{where}: transitions[{key!r}] is not one of the options {sorted(ids)}"
                )
        if "next" not in step:
            missing = sorted(ids - set(transitions))
            if missing:
                problems.append(
                    f"{where}: options {missing} lead nowhere (add transitions or 'next')"
                )
            if dynamic:
                problems.append(f"{where}: options from a provider need a 'next' step")
    else:
        if transitions:
            problems.append(f"{where}: only choice and yes_no questions take 'transitions'")
        if "next" not in step:
            problems.append(f"{where}: a question needs a 'next' step")
    for key in ("min", "max", "min_length", "max_length", "min_days_ahead", "max_days_ahead"):
        if key in step and not isinstance(step[key], int):
            problems.append(f"{where}: {key!r} must be an integer")
    if "max_retries" in step and (
        not isinstance(step["max_retries"], int) or step["max_retries"] < 1
    ):
        problems.append(f"{where}: 'max_retries' must be a positive integer")
    if "error" in step:
        problems.extend(
            f"{where}: error: {p}" for p in templating.check_template(str(step["error"]))
        )
    return problems


def _validate_action(where: str, step: dict) -> list[str]:
    name = step.get("action")
    registered = registry.ACTIONS.get(name)
    if registered is None:
        return [f"{where}: unknown action {name!r}"]
    problems: list[str] = []
    if not isinstance(step.get("params", {}), dict):
        problems.append(f"{where}: 'params' must be a dict")
    transitions = step.get("transitions") or {}
    for outcome in transitions:
        if outcome not in registered.outcomes:
            problems.append(
                f"{where}: action {name!r} has no outcome {outcome!r} "
                f"(its outcomes: {', '.join(sorted(registered.outcomes))})"
            )
    if "next" not in step:
        missing = sorted(registered.outcomes - set(transitions))
        if missing:
            problems.append(f"{where}: outcomes {missing} of action {name!r} lead nowhere")
    return problems


def _validate_message(where: str, message: Any) -> list[str]:
    where = f"{where}: message"
    if isinstance(message, str):
        message = {"kind": "text", "body": message}
    if not isinstance(message, dict):
        return [f"{where}: must be a string or a dict"]
    kind = message.get("kind", "text")
    if kind not in MESSAGE_KINDS:
        return [f"{where}: unknown kind {kind!r} (known: {', '.join(sorted(MESSAGE_KINDS))})"]
    problems: list[str] = []
    texts: list[str] = [message.get(k, "") for k in ("body", "header", "footer", "button")]
    for item in (message.get("buttons") or []) + [
        row
        for s in message.get("sections") or []
        if isinstance(s, dict)
        for row in s.get("rows", [])
    ]:
        if isinstance(item, dict):
            texts += [item.get("title", ""), item.get("description", "")]
            if item.get("when") and item["when"] not in registry.CONDITIONS:
                problems.append(
                    f"{where}: option {item.get('id')!r} uses unknown condition {item['when']!r}"
                )
    for section in message.get("sections") or []:
        if not isinstance(section, dict):
            problems.append(f"{where}: each section must be a dict")
            continue
        texts.append(section.get("title", "") or "")
        if section.get("rows_from") and section["rows_from"] not in registry.OPTION_PROVIDERS:
            problems.append(f"{where}: unknown option provider {section['rows_from']!r}")
        if section.get("when") and section["when"] not in registry.CONDITIONS:
            problems.append(f"{where}: section uses unknown condition {section['when']!r}")
    for text in texts:
        problems.extend(f"{where}: {p}" for p in templating.check_template(str(text or "")))
    if problems:
        return problems
    env = RenderEnv(
        # Placeholders count as one character: the static text must fit as written; what
        # they expand to is cut to the limits at run time.
        text=lambda t: templating.PLACEHOLDER.sub("X", t),
        when=lambda name, params: True,
        rows=lambda name, params: [{"id": "sample", "title": "Sample"}],
        fit=False,
    )
    try:
        if kind == "flow":
            graph.flow_message(
                "0",
                message.get("body", ""),
                flow_id="0",
                flow_token="0",  # noqa: S106 (a placeholder, not a secret)
                flow_cta=message.get("cta", "Open"),
            )
        else:
            build(message, "0", env)
    except graph.MessageLimitError as exc:
        problems.append(f"{where}: breaks Meta's limits: {exc}")
    except (KeyError, TypeError, AttributeError) as exc:
        problems.append(f"{where}: malformed ({type(exc).__name__}: {exc})")
    return problems


def definition_version(definition: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(definition, sort_keys=True).encode()).hexdigest()[:16]


def load_flow_definitions(
    definitions: list[tuple[str, Any]] | None = None, *, dry_run: bool = False
) -> LoadReport:
    """Validate the definitions (all of ``flows/definitions`` by default) and store them.

    Idempotent: an unchanged flow is left alone, a changed one updated in place (rows keep
    their ids, so contacts in the middle of a flow stay attached). Raises
    ``FlowDefinitionError`` listing every problem; nothing is stored then.
    """
    from flows.models import Flow

    if definitions is None:
        definitions = discover()
    names = {flow.get("name") for _, flow in definitions if isinstance(flow, dict)}
    known = {
        flow.name: set((flow.definition or {}).get("steps", {}))
        for flow in Flow.objects.exclude(name__in=names).filter(is_active=True)
    }
    problems = validate(definitions, known_flows=known)
    if problems:
        raise FlowDefinitionError(problems)
    report = LoadReport()
    if dry_run:
        report.unchanged = sorted(n for n in names if n)
        return report
    with transaction.atomic():
        for _, definition in definitions:
            version = definition_version(definition)
            fields = {
                "description": definition.get("description", ""),
                "definition": definition,
                "trigger_keywords": definition.get("triggers", []),
                "is_active": True,
                "version": version,
            }
            flow = Flow.objects.select_for_update().filter(name=definition["name"]).first()
            if flow is None:
                Flow.objects.create(name=definition["name"], **fields)
                report.created.append(definition["name"])
            elif flow.version == version and flow.is_active:
                report.unchanged.append(definition["name"])
            else:
                for key, value in fields.items():
                    setattr(flow, key, value)
                flow.save()
                report.updated.append(definition["name"])
    return report


def ensure_flows_loaded() -> None:
    """Load the definitions if no flow is stored yet (a fresh database), else do nothing."""
    from flows.models import Flow

    if not Flow.objects.exists():
        load_flow_definitions()
