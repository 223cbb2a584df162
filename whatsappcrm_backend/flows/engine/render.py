"""Turn a step's message spec into a Graph payload (via ``meta_integration.messages``).

A message spec is a string (plain text) or a dict with ``kind``:

- ``{"kind": "text", "body": ...}``
- ``{"kind": "buttons", "body", "buttons": [{"id", "title", "synonyms"?, "when"?}],
  "header"?, "footer"?}`` (at most 3 buttons)
- ``{"kind": "list", "body", "button", "sections": [{"title", "rows": [{"id", "title",
  "description"?, "synonyms"?, "when"?}], "rows_from"?: provider, "params"?: {...},
  "when"?: condition}], "header"?, "footer"?}`` (at most 10 rows in all)
- ``{"kind": "flow", "whatsapp_flow": name, "body", "cta", "screen"?}``
- ``{"kind": "cta_url", "body", "display_text", "url"}``: one button that opens ``url``
  (the URL is used as given, never a template)

Texts are templates (``flows.templating``). ``when`` names a registered condition that
hides the row, button or section when false. The options shown are returned with the
payload, so the answer is checked against exactly what the traveller saw. At run time texts
are cut to Meta's limits; at load time (``fit=False``) the static texts must fit as written.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from meta_integration import constants as c
from meta_integration import messages as graph

ELLIPSIS = "…"


@dataclass
class Rendered:
    payload: dict[str, Any]
    options: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class RenderEnv:
    """How to fill a spec: ``text`` renders a template; ``when`` checks a condition;
    ``rows`` calls an option provider; ``fit`` cuts texts to Meta's limits."""

    text: Callable[[str], str]
    when: Callable[[str, dict], bool]
    rows: Callable[[str, dict], list[dict[str, str]]]
    fit: bool = True


def cut(value: str, limit: int, enabled: bool = True) -> str:
    if not enabled or len(value) <= limit:
        return value
    return value[: limit - 1].rstrip() + ELLIPSIS


def build(spec: Any, to: str, env: RenderEnv, *, prefix: str = "") -> Rendered:
    """The payload for ``spec``; ``prefix`` (e.g. a re-prompt's error) goes before the body."""
    if isinstance(spec, str):
        spec = {"kind": "text", "body": spec}
    kind = spec.get("kind", "text")
    body = env.text(spec.get("body", ""))
    if prefix:
        body = f"{prefix}\n\n{body}" if body else prefix
    header = env.text(spec["header"]) if spec.get("header") else None
    footer = env.text(spec["footer"]) if spec.get("footer") else None
    if header is not None:
        header = cut(header, c.INTERACTIVE_HEADER_TEXT_MAX, env.fit)
    if footer is not None:
        footer = cut(footer, c.INTERACTIVE_FOOTER_MAX, env.fit)

    if kind == "buttons":
        options = [
            {
                "id": b["id"],
                "title": cut(env.text(b["title"]), c.BUTTON_TITLE_MAX, env.fit),
                "synonyms": list(b.get("synonyms", [])),
            }
            for b in spec.get("buttons", [])
            if not b.get("when") or env.when(b["when"], b.get("when_params", {}))
        ]
        payload = graph.reply_buttons(
            to,
            cut(body, c.BUTTONS_BODY_MAX, env.fit),
            [(o["id"], o["title"]) for o in options],
            header=header,
            footer=footer,
        )
        return Rendered(payload, options)

    if kind == "list":
        sections: list[tuple[str | None, list[graph.Row]]] = []
        options: list[dict[str, Any]] = []
        for section in spec.get("sections", []):
            if section.get("when") and not env.when(
                section["when"], section.get("when_params", {})
            ):
                continue
            rows = [
                r
                for r in section.get("rows", [])
                if not r.get("when") or env.when(r["when"], r.get("when_params", {}))
            ]
            if section.get("rows_from"):
                rows = rows + env.rows(section["rows_from"], section.get("params", {}))
            built = []
            for r in rows:
                if env.fit and len(options) >= c.LIST_ROWS_TOTAL_MAX:
                    break
                full_title = env.text(r["title"])
                row = graph.Row(
                    r["id"],
                    cut(full_title, c.LIST_ROW_TITLE_MAX, env.fit),
                    cut(env.text(r.get("description", "")), c.LIST_ROW_DESCRIPTION_MAX, env.fit),
                )
                built.append(row)
                # A title cut to fit still matches when the traveller types it in full.
                synonyms = [
                    *r.get("synonyms", []),
                    *([full_title] if full_title != row.title else []),
                ]
                options.append(
                    {"id": row.id, "title": row.title, "label": full_title, "synonyms": synonyms}
                )
            if built:
                title = section.get("title")
                sections.append(
                    (
                        cut(env.text(title), c.LIST_SECTION_TITLE_MAX, env.fit) if title else None,
                        built,
                    )
                )
        if not sections:
            return Rendered(graph.text(to, cut(body, c.TEXT_BODY_MAX, env.fit)), [])
        payload = graph.list_message(
            to,
            cut(body, c.LIST_BODY_MAX, env.fit),
            cut(env.text(spec.get("button", "Choose")), c.LIST_BUTTON_MAX, env.fit),
            sections,
            header=header,
            footer=footer,
        )
        return Rendered(payload, options)

    if kind == "flow":
        from flows.models import WhatsAppFlow

        name = spec.get("whatsapp_flow", "")
        record = (
            WhatsAppFlow.objects.filter(name=name, status=WhatsAppFlow.Status.PUBLISHED)
            .exclude(flow_id="")
            .first()
        )
        if record is None:
            return Rendered(graph.text(to, cut(body, c.TEXT_BODY_MAX, env.fit)), [])
        payload = graph.flow_message(
            to,
            cut(body, c.FLOW_BODY_MAX, env.fit),
            flow_id=record.flow_id,
            flow_token=env.text(spec.get("flow_token", "unused")),
            flow_cta=cut(env.text(spec.get("cta", "Open")), c.FLOW_CTA_MAX, env.fit),
            flow_action="navigate" if spec.get("screen") else "data_exchange",
            screen=spec.get("screen"),
            header=header,
            footer=footer,
        )
        return Rendered(payload, [])

    if kind == "cta_url":
        payload = graph.cta_url(
            to,
            cut(body, c.CTA_URL_BODY_MAX, env.fit),
            cut(env.text(spec.get("display_text", "Open")), c.CTA_URL_DISPLAY_TEXT_MAX, env.fit),
            str(spec.get("url", "")),
            header=header,
            footer=footer,
        )
        return Rendered(payload, [])

    return Rendered(graph.text(to, cut(body, c.TEXT_BODY_MAX, env.fit)), [])
