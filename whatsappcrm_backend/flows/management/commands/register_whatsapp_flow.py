"""Create or update the ``WhatsAppFlow`` record of a flow defined in code (guide, step 4).

    python manage.py register_whatsapp_flow payment_whatsapp_flow [--flow-id ID] [--publish]
    python manage.py register_whatsapp_flow payment_whatsapp_flow --via-graph [--publish]
        [--endpoint-uri URL]

The Flow JSON is validated first. Without ``--via-graph`` only our record changes (use the Flow
ID copied from Meta's Flow Manager). With ``--via-graph`` the flow is created (or its JSON and
endpoint updated) through the Flows API of the active WhatsApp number (its
``graph_base_url``: Meta, or the WhatsApp emulator), and the Flow ID is taken from the answer.
"""

from __future__ import annotations

import json
from typing import Any

import httpx
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.urls import reverse

from flows import flow_json
from flows.models import WhatsAppFlow

GRAPH_TIMEOUT_SECONDS = 20


class Command(BaseCommand):
    help = "Create/update the WhatsAppFlow record from code, optionally through Meta's Flows API."

    def add_arguments(self, parser) -> None:
        parser.add_argument("name")
        parser.add_argument("--flow-id", help="the Flow ID from Meta's Flow Manager")
        parser.add_argument("--publish", action="store_true", help="mark (and make) it PUBLISHED")
        parser.add_argument("--via-graph", action="store_true", help="use Meta's Flows API")
        parser.add_argument(
            "--recreate",
            action="store_true",
            help="with --via-graph: create a new flow even if a Flow ID is stored "
            "(e.g. a new WhatsApp Business Account, or a fresh emulator)",
        )
        parser.add_argument(
            "--endpoint-uri", help="data endpoint (default: SITE_URL + the endpoint's path)"
        )

    def handle(self, *args, name: str, **options) -> None:
        definition = flow_json.known_whatsapp_flows().get(name)
        if definition is None:
            raise CommandError(f"unknown WhatsApp Flow {name!r}")
        problems = flow_json.validate_flow_json(definition)
        if problems:
            listing = "\n".join(f"  - {p}" for p in problems)
            raise CommandError(f"{name}: the Flow JSON is invalid:\n{listing}")
        record, created = WhatsAppFlow.objects.get_or_create(name=name)
        record.flow_json = definition
        if options.get("flow_id"):
            record.flow_id = options["flow_id"]
        if options.get("via_graph") and options.get("recreate") and not options.get("flow_id"):
            record.flow_id = ""
        if options.get("via_graph"):
            endpoint = options.get("endpoint_uri") or (
                settings.SITE_URL.rstrip("/") + reverse("flows:paynow_payment_webhook")
            )
            try:
                record.flow_id = self._sync(record, definition, endpoint, options["publish"])
            except CommandError:
                record.sync_status = "error"
                record.save()
                raise
            record.sync_status = "published" if options["publish"] else "draft"
        elif options["publish"]:
            record.sync_status = "published"
        if options["publish"]:
            if not record.flow_id:
                raise CommandError("cannot publish without a Flow ID (--flow-id or --via-graph)")
            record.status = WhatsAppFlow.Status.PUBLISHED
        record.save()
        verb = "created" if created else "updated"
        self.stdout.write(
            f"{name} {verb}: flow_id={record.flow_id or '-'} status={record.status} "
            f"sync_status={record.sync_status}"
        )

    def _sync(self, record: WhatsAppFlow, definition: dict, endpoint: str, publish: bool) -> str:
        from meta_integration.models import MetaAppConfig

        config = MetaAppConfig.objects.filter(is_active=True).order_by("pk").first()
        if config is None or not config.access_token or not config.waba_id:
            raise CommandError("no active Meta app config with an access token and WABA ID")
        base = f"{config.graph_base_url.rstrip('/')}/{config.api_version}"
        headers = {"Authorization": f"Bearer {config.access_token}"}
        text = json.dumps(definition)
        with httpx.Client(headers=headers, timeout=GRAPH_TIMEOUT_SECONDS) as client:
            if not record.flow_id:
                answer = _call(
                    client,
                    f"{base}/{config.waba_id}/flows",
                    {
                        "name": record.name,
                        "categories": ["OTHER"],
                        "flow_json": text,
                        "endpoint_uri": endpoint,
                        "publish": publish,
                    },
                )
                flow_id = str(answer.get("id") or "")
                if not flow_id:
                    raise CommandError(f"the Flows API answered no id: {answer}")
                if answer.get("validation_errors"):
                    raise CommandError(f"Meta reported problems: {answer['validation_errors']}")
            else:
                flow_id = record.flow_id
                _call(client, f"{base}/{flow_id}", {"endpoint_uri": endpoint})
                _call(
                    client,
                    f"{base}/{flow_id}/assets",
                    {"name": "flow.json", "asset_type": "FLOW_JSON", "flow_json": text},
                )
                if publish:
                    _call(client, f"{base}/{flow_id}/publish", {})
        return flow_id


def _call(client: httpx.Client, url: str, body: dict[str, Any]) -> dict[str, Any]:
    try:
        response = client.post(url, json=body)
    except httpx.HTTPError as exc:
        raise CommandError(f"Flows API call failed: {type(exc).__name__}") from None
    try:
        answer = response.json()
    except ValueError:
        answer = {"raw": response.text[:300]}
    if response.status_code != 200:
        message = (answer.get("error") or {}).get("message") if isinstance(answer, dict) else None
        raise CommandError(f"Flows API refused ({response.status_code}): {message or answer}")
    return answer if isinstance(answer, dict) else {}
