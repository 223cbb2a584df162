"""Sandboxed message templates: ``{{ name }}`` and ``{{ booking.reference }}``, nothing else.

The renderer sees plain data only (dicts, lists, strings, numbers): dotted paths walk into
dicts by key and into lists by index, never into attributes, so a template cannot reach
model instances, methods or internals. Keys starting with ``_`` are private to the engine
and render as empty. A missing value renders as empty text, never as an error.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

PLACEHOLDER = re.compile(r"\{\{\s*([^{}]*?)\s*\}\}")
VALID_PATH = re.compile(r"^[A-Za-z][A-Za-z0-9_]*(\.[A-Za-z0-9_]+)*$")
_SCALARS = (str, int, float, Decimal)


class TemplateSyntaxError(ValueError):
    """A placeholder that is not a plain dotted path (e.g. ``{{ a.__class__ }}``)."""


def placeholders(template: str) -> list[str]:
    return [match.group(1) for match in PLACEHOLDER.finditer(template)]


def check_template(template: str) -> list[str]:
    """Problems with a template's placeholders (empty when it is fine)."""
    problems = []
    for path in placeholders(template):
        if not VALID_PATH.match(path) or any(part.startswith("_") for part in path.split(".")):
            problems.append(f"placeholder {{{{ {path} }}}} is not a plain dotted name")
    stray = PLACEHOLDER.sub("", template)
    if "{{" in stray or "}}" in stray:
        problems.append("unbalanced '{{' or '}}'")
    return problems


def lookup(data: Mapping[str, Any], path: str) -> Any:
    """Walk ``path`` through dicts (by key) and lists (by index); None when it leads nowhere."""
    if not VALID_PATH.match(path):
        return None
    value: Any = data
    for part in path.split("."):
        if part.startswith("_"):
            return None
        if isinstance(value, Mapping):
            value = value.get(part)
        elif isinstance(value, list | tuple) and part.isdigit():
            index = int(part)
            value = value[index] if index < len(value) else None
        else:
            return None
    return value


def render(template: str, data: Mapping[str, Any]) -> str:
    """Fill ``{{ path }}`` placeholders from ``data``; only scalars are printed."""

    def fill(match: re.Match) -> str:
        value = lookup(data, match.group(1))
        if isinstance(value, bool):
            return "yes" if value else "no"
        if isinstance(value, _SCALARS):
            return str(value)
        return ""

    return PLACEHOLDER.sub(fill, template)
