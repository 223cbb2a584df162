"""A light Flow JSON check, answering `validation_errors` the way the Flows API lists them."""

from __future__ import annotations

import json
from typing import Any

from sandbox.whatsapp.flows_client import iter_components

FOOTER_LABEL_MAX = 35


def _error(error: str, message: str, **extra: Any) -> dict:
    return {"error": error, "error_type": "FLOW_JSON_ERROR", "message": message, **extra}


def validation_errors(flow_json: str | None) -> list[dict]:
    if flow_json is None:
        return []
    try:
        document = json.loads(flow_json)
    except ValueError as exc:
        return [_error("INVALID_JSON", f"Flow JSON is not valid JSON: {exc}")]
    if not isinstance(document, dict):
        return [_error("INVALID_JSON", "Flow JSON must be an object")]
    errors: list[dict] = []
    if not document.get("version"):
        errors.append(_error("MISSING_REQUIRED_PROPERTY", "Missing property 'version'"))
    screens = document.get("screens")
    if not isinstance(screens, list) or not screens:
        errors.append(_error("MISSING_REQUIRED_PROPERTY", "Missing property 'screens'"))
        return errors
    ids = [s.get("id") for s in screens if isinstance(s, dict)]
    for screen_id in {i for i in ids if ids.count(i) > 1}:
        errors.append(_error("DUPLICATE_SCREEN_ID", f"Duplicate screen id {screen_id!r}"))
    for screen in screens:
        if not isinstance(screen, dict) or not screen.get("id"):
            errors.append(_error("MISSING_REQUIRED_PROPERTY", "A screen is missing 'id'"))
            continue
        layout = screen.get("layout")
        if not isinstance(layout, dict) or not isinstance(layout.get("children"), list):
            errors.append(
                _error("MISSING_REQUIRED_PROPERTY", f"Screen {screen['id']!r} has no layout")
            )
            continue
        for component in iter_components(layout["children"]):
            if component.get("type") != "Footer":
                continue
            label = component.get("label")
            if isinstance(label, str) and len(label) > FOOTER_LABEL_MAX:
                errors.append(
                    _error(
                        "INVALID_PROPERTY_VALUE",
                        f"Footer label on {screen['id']!r} longer than {FOOTER_LABEL_MAX}",
                    )
                )
            action = component.get("on-click-action") or {}
            if action.get("name") == "navigate":
                target = (action.get("next") or {}).get("name")
                if target not in ids:
                    errors.append(
                        _error(
                            "INVALID_PROPERTY_VALUE",
                            f"navigate on {screen['id']!r} to unknown screen {target!r}",
                        )
                    )
    return errors


def data_api_version(flow_json: str | None) -> str | None:
    try:
        return json.loads(flow_json or "{}").get("data_api_version")
    except (ValueError, AttributeError):
        return None
