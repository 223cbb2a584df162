"""A structural check of Flow JSON against Meta's rules, run before a flow is exported or uploaded.

Meta's Flow Builder rejects a broken flow only at upload time, and a flow that passes there can
still break at run time (a ``${data.x}`` that the endpoint never sends shows an empty field).
``validate_flow_json`` catches the structural mistakes here, in tests and in
``export_whatsapp_flow``: screen ids, the routing model, terminal screens, each component's
required properties, the Footer label length, and every ``${data.x}`` / ``${form.x}`` reference.
It does not replace Meta's validation; it covers what this project relies on.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

SCREEN_ID_RE = re.compile(r"^[A-Z][A-Z_]*$")
RESERVED_SCREEN_IDS = frozenset({"SUCCESS"})  # Meta's completion answer, never a screen
VERSION_RE = re.compile(r"^\d+\.\d+$")
DATA_API_VERSIONS = frozenset({"3.0"})
FOOTER_LABEL_MAX = 35
TOP_LEVEL_KEYS = frozenset({"version", "data_api_version", "routing_model", "screens"})
SCREEN_KEYS = frozenset(
    {"id", "title", "terminal", "success", "data", "layout", "refresh_on_back", "sensitive"}
)
DATA_TYPES = frozenset({"string", "number", "integer", "boolean", "object", "array"})
INPUT_TYPES = frozenset({"text", "number", "email", "password", "passcode", "phone"})
ACTIONS = frozenset({"navigate", "data_exchange", "complete", "update_data", "open_url"})

# Required properties per component type (Meta's component reference).
COMPONENT_REQUIRED: Mapping[str, tuple[str, ...]] = {
    "TextHeading": ("text",),
    "TextSubheading": ("text",),
    "TextBody": ("text",),
    "TextCaption": ("text",),
    "RichText": ("text",),
    "TextInput": ("name", "label"),
    "TextArea": ("name", "label"),
    "RadioButtonsGroup": ("name", "data-source"),
    "CheckboxGroup": ("name", "data-source"),
    "Dropdown": ("name", "label", "data-source"),
    "ChipsSelector": ("name", "label", "data-source"),
    "DatePicker": ("name", "label"),
    "CalendarPicker": ("name",),
    "OptIn": ("name", "label"),
    "PhotoPicker": ("name",),
    "DocumentPicker": ("name",),
    "NavigationList": ("name", "list-items"),
    "Footer": ("label", "on-click-action"),
    "EmbeddedLink": ("text", "on-click-action"),
    "Image": ("src",),
    "Form": ("name", "children"),
    "If": ("condition", "then"),
    "Switch": ("value", "cases"),
}
INPUT_COMPONENTS = frozenset(
    {
        "TextInput",
        "TextArea",
        "RadioButtonsGroup",
        "CheckboxGroup",
        "Dropdown",
        "ChipsSelector",
        "DatePicker",
        "CalendarPicker",
        "OptIn",
        "PhotoPicker",
        "DocumentPicker",
    }
)
CHOICE_COMPONENTS = frozenset({"RadioButtonsGroup", "CheckboxGroup", "Dropdown", "ChipsSelector"})
EXPRESSION_RE = re.compile(r"\$\{([^}]*)\}")


@dataclass(frozen=True, slots=True)
class Problem:
    """One broken rule: ``where`` is a path into the JSON, ``message`` says what is wrong."""

    where: str
    message: str

    def __str__(self) -> str:
        return f"{self.where}: {self.message}"


class FlowJSONInvalid(ValueError):
    """Raised by ``check_flow_json``; ``problems`` lists every broken rule."""

    def __init__(self, problems: list[Problem]) -> None:
        super().__init__("; ".join(str(p) for p in problems))
        self.problems = problems


def check_flow_json(flow_json: Any) -> None:
    """Raise ``FlowJSONInvalid`` unless ``flow_json`` passes ``validate_flow_json``."""
    problems = validate_flow_json(flow_json)
    if problems:
        raise FlowJSONInvalid(problems)


def validate_flow_json(flow_json: Any) -> list[Problem]:
    """Every structural problem in a Flow JSON document (a dict); an empty list means valid."""
    if not isinstance(flow_json, Mapping):
        return [Problem("$", "Flow JSON must be an object")]
    problems: list[Problem] = []
    add = problems.append

    for key in flow_json:
        if key not in TOP_LEVEL_KEYS:
            why = (
                "the endpoint URI is set on the flow, not in the JSON, since Flow JSON 3.0"
                if key == "data_channel_uri"
                else "unknown property"
            )
            add(Problem(f"$.{key}", why))
    version = flow_json.get("version")
    if not isinstance(version, str) or not VERSION_RE.match(version):
        add(Problem("$.version", "required: a Flow JSON version such as '7.3'"))
    data_api_version = flow_json.get("data_api_version")
    if data_api_version is not None and data_api_version not in DATA_API_VERSIONS:
        add(Problem("$.data_api_version", f"must be one of {sorted(DATA_API_VERSIONS)}"))

    screens = flow_json.get("screens")
    if not isinstance(screens, list) or not screens:
        add(Problem("$.screens", "required: a non-empty list of screens"))
        return problems

    screen_ids: list[str] = []
    for index, screen in enumerate(screens):
        where = f"$.screens[{index}]"
        if not isinstance(screen, Mapping):
            add(Problem(where, "a screen must be an object"))
            continue
        screen_id = screen.get("id")
        if not isinstance(screen_id, str) or not screen_id:
            add(Problem(f"{where}.id", "required"))
            continue
        if screen_id in RESERVED_SCREEN_IDS:
            add(
                Problem(
                    f"{where}.id",
                    f"{screen_id!r} is reserved (the endpoint answers it to finish the flow)",
                )
            )
        elif not SCREEN_ID_RE.match(screen_id):
            add(Problem(f"{where}.id", f"{screen_id!r}: use capital letters and underscores"))
        if screen_id in screen_ids:
            add(Problem(f"{where}.id", f"duplicate screen id {screen_id!r}"))
        screen_ids.append(screen_id)
    known = set(screen_ids)

    routing = flow_json.get("routing_model")
    uses_endpoint = _uses_action(screens, "data_exchange")
    if uses_endpoint and data_api_version is None:
        add(Problem("$.data_api_version", "required when a screen uses data_exchange"))
    if data_api_version is not None and routing is None:
        add(Problem("$.routing_model", "required when data_api_version is set"))
    if routing is not None:
        problems.extend(_validate_routing(routing, known))

    if not any(isinstance(s, Mapping) and s.get("terminal") is True for s in screens):
        add(Problem("$.screens", "at least one screen must be terminal"))

    data_by_screen = {
        s["id"]: s.get("data") if isinstance(s.get("data"), Mapping) else {}
        for s in screens
        if isinstance(s, Mapping) and isinstance(s.get("id"), str)
    }
    for index, screen in enumerate(screens):
        if isinstance(screen, Mapping) and isinstance(screen.get("id"), str):
            problems.extend(
                _validate_screen(
                    screen,
                    f"$.screens[{index}]",
                    known=known,
                    routing=routing if isinstance(routing, Mapping) else None,
                    data_by_screen=data_by_screen,
                )
            )
    return problems


# --- routing ---------------------------------------------------------------------------------


def _validate_routing(routing: Any, known: set[str]) -> list[Problem]:
    if not isinstance(routing, Mapping):
        return [Problem("$.routing_model", "must be an object: screen id -> list of screen ids")]
    problems: list[Problem] = []
    for source, targets in routing.items():
        where = f"$.routing_model.{source}"
        if source not in known:
            problems.append(Problem(where, f"unknown screen {source!r}"))
        if not isinstance(targets, list):
            problems.append(Problem(where, "must be a list of screen ids"))
            continue
        for target in targets:
            if target == source:
                problems.append(Problem(where, f"{source!r} routes to itself"))
            elif target in RESERVED_SCREEN_IDS:
                problems.append(Problem(where, f"{target!r} is reserved, not a screen"))
            elif target not in known:
                problems.append(Problem(where, f"routes to unknown screen {target!r}"))
    for screen_id in sorted(known - set(routing)):
        problems.append(Problem("$.routing_model", f"screen {screen_id!r} is missing"))
    cycle = _find_cycle(routing)
    if cycle:
        problems.append(Problem("$.routing_model", "routes must not loop: " + " -> ".join(cycle)))
    return problems


def _find_cycle(routing: Mapping[str, Any]) -> list[str] | None:
    graph = {
        source: [t for t in targets if isinstance(t, str) and t != source]
        for source, targets in routing.items()
        if isinstance(targets, list)
    }
    state: dict[str, int] = {}  # 1 = on the stack, 2 = done

    def visit(node: str, path: list[str]) -> list[str] | None:
        state[node] = 1
        for nxt in graph.get(node, []):
            if state.get(nxt) == 1:
                return [*path, node, nxt]
            if state.get(nxt) is None:
                found = visit(nxt, [*path, node])
                if found:
                    return found
        state[node] = 2
        return None

    for node in graph:
        if state.get(node) is None:
            found = visit(node, [])
            if found:
                return found
    return None


# --- screens and components ------------------------------------------------------------------


def _validate_screen(
    screen: Mapping[str, Any],
    where: str,
    *,
    known: set[str],
    routing: Mapping[str, Any] | None,
    data_by_screen: Mapping[str, Any],
) -> list[Problem]:
    problems: list[Problem] = []
    add = problems.append
    screen_id = screen["id"]
    for key in screen:
        if key not in SCREEN_KEYS:
            add(Problem(f"{where}.{key}", "unknown screen property"))
    terminal = screen.get("terminal", False)
    if not isinstance(terminal, bool):
        add(Problem(f"{where}.terminal", "must be true or false"))
    if "title" in screen and not isinstance(screen["title"], str):
        add(Problem(f"{where}.title", "must be a string"))

    data = screen.get("data", {})
    if not isinstance(data, Mapping):
        add(Problem(f"{where}.data", "must be an object"))
        data = {}
    for name, declaration in data.items():
        dwhere = f"{where}.data.{name}"
        if not isinstance(declaration, Mapping):
            add(Problem(dwhere, "must be an object with 'type' and '__example__'"))
            continue
        if declaration.get("type") not in DATA_TYPES:
            add(Problem(dwhere, f"'type' must be one of {sorted(DATA_TYPES)}"))
        if "__example__" not in declaration:
            add(Problem(dwhere, "'__example__' is required"))

    layout = screen.get("layout")
    if not isinstance(layout, Mapping):
        add(Problem(f"{where}.layout", "required"))
        return problems
    if layout.get("type") != "SingleColumnLayout":
        add(Problem(f"{where}.layout.type", "must be 'SingleColumnLayout'"))
    children = layout.get("children")
    if not isinstance(children, list):
        add(Problem(f"{where}.layout.children", "required: a list of components"))
        return problems

    components = list(_walk(children, f"{where}.layout.children"))
    input_names: set[str] = set()
    footers = 0
    for cwhere, component in components:
        kind = component.get("type")
        if kind not in COMPONENT_REQUIRED:
            add(Problem(cwhere, f"unknown component type {kind!r}"))
            continue
        for prop in COMPONENT_REQUIRED[kind]:
            if component.get(prop) in (None, "", [], {}):
                add(Problem(cwhere, f"{kind} requires {prop!r}"))
        if kind in INPUT_COMPONENTS and isinstance(component.get("name"), str):
            if component["name"] in input_names:
                add(Problem(cwhere, f"duplicate input name {component['name']!r}"))
            input_names.add(component["name"])
        if kind == "TextInput" and component.get("input-type", "text") not in INPUT_TYPES:
            add(Problem(cwhere, f"input-type must be one of {sorted(INPUT_TYPES)}"))
        if kind in CHOICE_COMPONENTS:
            problems.extend(_validate_data_source(component.get("data-source"), cwhere))
        if kind == "Footer":
            footers += 1
            label = component.get("label")
            if isinstance(label, str) and "${" not in label and len(label) > FOOTER_LABEL_MAX:
                add(
                    Problem(
                        cwhere,
                        f"Footer label is {len(label)} characters; at most {FOOTER_LABEL_MAX}",
                    )
                )
        action = component.get("on-click-action")
        if action is not None:
            problems.extend(
                _validate_action(
                    action,
                    f"{cwhere}.on-click-action",
                    screen_id=screen_id,
                    terminal=terminal is True,
                    known=known,
                    routing=routing,
                )
            )
    if footers > 1:
        add(Problem(f"{where}.layout", f"{footers} Footers; a screen has at most one"))
    if terminal is True and footers == 0:
        add(Problem(f"{where}.layout", "a terminal screen needs a Footer"))

    for cwhere, component in components:
        for text, path in _strings(component, cwhere):
            for expression in EXPRESSION_RE.findall(text):
                problem = _check_expression(
                    expression.strip(),
                    path,
                    data=data,
                    input_names=input_names,
                    data_by_screen=data_by_screen,
                )
                if problem:
                    add(problem)
    return problems


def _walk(children: Any, where: str) -> Iterator[tuple[str, Mapping[str, Any]]]:
    """Every component with its path, descending into Form children and If/Switch branches."""
    if not isinstance(children, list):
        return
    for index, component in enumerate(children):
        cwhere = f"{where}[{index}]"
        if not isinstance(component, Mapping):
            yield cwhere, {"type": None}
            continue
        yield cwhere, component
        for key in ("children", "then", "else"):
            if isinstance(component.get(key), list):
                yield from _walk(component[key], f"{cwhere}.{key}")
        cases = component.get("cases")
        if isinstance(cases, Mapping):
            for case, branch in cases.items():
                yield from _walk(branch, f"{cwhere}.cases.{case}")


def _validate_data_source(source: Any, where: str) -> list[Problem]:
    if isinstance(source, str):
        return []  # a ${data.x} reference: checked with the other expressions
    if not isinstance(source, list) or not source:
        return [Problem(f"{where}.data-source", "must be a non-empty list or a ${data.x}")]
    problems: list[Problem] = []
    seen: set[str] = set()
    for index, item in enumerate(source):
        iwhere = f"{where}.data-source[{index}]"
        if not isinstance(item, Mapping) or not item.get("id") or not item.get("title"):
            problems.append(Problem(iwhere, "each option needs 'id' and 'title'"))
            continue
        if item["id"] in seen:
            problems.append(Problem(iwhere, f"duplicate option id {item['id']!r}"))
        seen.add(item["id"])
    return problems


def _validate_action(
    action: Any,
    where: str,
    *,
    screen_id: str,
    terminal: bool,
    known: set[str],
    routing: Mapping[str, Any] | None,
) -> list[Problem]:
    if not isinstance(action, Mapping):
        return [Problem(where, "must be an object")]
    problems: list[Problem] = []
    name = action.get("name")
    if name not in ACTIONS:
        problems.append(Problem(f"{where}.name", f"must be one of {sorted(ACTIONS)}"))
        return problems
    if "payload" in action and not isinstance(action["payload"], Mapping):
        problems.append(Problem(f"{where}.payload", "must be an object"))
    if name == "navigate":
        target = action.get("next")
        target_name = target.get("name") if isinstance(target, Mapping) else None
        if not isinstance(target, Mapping) or target.get("type", "screen") != "screen":
            problems.append(Problem(f"{where}.next", "required: {'type': 'screen', 'name': ...}"))
        elif target_name not in known:
            problems.append(Problem(f"{where}.next.name", f"unknown screen {target_name!r}"))
        elif routing is not None and target_name not in (routing.get(screen_id) or []):
            problems.append(
                Problem(
                    f"{where}.next.name",
                    f"the routing model has no route {screen_id} -> {target_name}",
                )
            )
    if name == "complete" and not terminal:
        problems.append(Problem(f"{where}.name", "'complete' is only allowed on terminal screens"))
    return problems


def _strings(value: Any, where: str) -> Iterator[tuple[str, str]]:
    """Every string inside a component, with its path (not descending into child components)."""
    if isinstance(value, str):
        yield value, where
    elif isinstance(value, Mapping):
        for key, item in value.items():
            if key in ("children", "then", "else", "cases"):
                continue  # child components are walked on their own
            yield from _strings(item, f"{where}.{key}")
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _strings(item, f"{where}[{index}]")


def _check_expression(
    expression: str,
    where: str,
    *,
    data: Mapping[str, Any],
    input_names: set[str],
    data_by_screen: Mapping[str, Any],
) -> Problem | None:
    parts = expression.split(".")
    root = parts[0]
    if root == "data" and len(parts) >= 2:
        if parts[1] not in data:
            return Problem(where, f"${{{expression}}}: {parts[1]!r} is not declared in the data")
        return None
    if root == "form" and len(parts) >= 2:
        if parts[1] not in input_names:
            return Problem(where, f"${{{expression}}}: no input named {parts[1]!r} on this screen")
        return None
    if root == "screen" and len(parts) >= 4 and parts[2] in ("data", "form"):
        other = parts[1]
        if other not in data_by_screen:
            return Problem(where, f"${{{expression}}}: unknown screen {other!r}")
        if parts[2] == "data" and parts[3] not in (data_by_screen[other] or {}):
            return Problem(where, f"${{{expression}}}: {parts[3]!r} is not declared on {other}")
        return None
    return Problem(where, f"${{{expression}}}: not a ${{data.x}}, ${{form.x}} or ${{screen...}}")


def _uses_action(screens: list[Any], action_name: str) -> bool:
    for screen in screens:
        if not isinstance(screen, Mapping):
            continue
        layout = screen.get("layout")
        children = layout.get("children") if isinstance(layout, Mapping) else None
        for _, component in _walk(children, ""):
            action = component.get("on-click-action")
            if isinstance(action, Mapping) and action.get("name") == action_name:
                return True
    return False


def known_whatsapp_flows() -> dict[str, dict[str, Any]]:
    """The WhatsApp Flows defined in code, by record name (``WhatsAppFlow.name``)."""
    from .definitions.payment_whatsapp_flow import FLOW_NAME, PAYMENT_WHATSAPP_FLOW

    return {FLOW_NAME: PAYMENT_WHATSAPP_FLOW}
