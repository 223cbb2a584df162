"""The Flow JSON and its validator; export, key generation and registration commands."""

from __future__ import annotations

import copy
import json
import os
import stat
import subprocess
import sys
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from flows import flow_json
from flows.crypto import load_private_key
from flows.definitions.payment_whatsapp_flow import PAYMENT_WHATSAPP_FLOW
from flows.flow_json import FlowJSONInvalid, check_flow_json, validate_flow_json

REPO = Path(__file__).resolve().parents[2]


def test_the_payment_flow_is_valid_and_meta_shaped():
    assert validate_flow_json(PAYMENT_WHATSAPP_FLOW) == []
    assert PAYMENT_WHATSAPP_FLOW["data_api_version"] == "3.0"
    ids = [screen["id"] for screen in PAYMENT_WHATSAPP_FLOW["screens"]]
    assert ids == ["PAYMENT", "ERROR"]
    payment = PAYMENT_WHATSAPP_FLOW["screens"][0]
    [radio] = [c for c in payment["layout"]["children"] if c["type"] == "RadioButtonsGroup"]
    assert [o["title"] for o in radio["data-source"]] == ["EcoCash", "OneMoney", "InnBucks"]
    [footer] = [c for c in payment["layout"]["children"] if c["type"] == "Footer"]
    assert footer["label"] == "Pay" and footer["on-click-action"]["name"] == "data_exchange"


def test_the_guides_json_dump_export_works(tmp_path):
    """Deployment guide, step 4, as written."""
    from flows.definitions.payment_whatsapp_flow import PAYMENT_WHATSAPP_FLOW as exported

    target = tmp_path / "payment_flow.json"
    with open(target, "w") as f:
        json.dump(exported, f, indent=2)
    assert json.loads(target.read_text()) == PAYMENT_WHATSAPP_FLOW


def _broken(change):
    document = copy.deepcopy(PAYMENT_WHATSAPP_FLOW)
    change(document)
    return document


def _payment(doc):
    return doc["screens"][0]


def _children(doc, index=0):
    return doc["screens"][index]["layout"]["children"]


def _footer(doc, index=0):
    return next(c for c in _children(doc, index) if c["type"] == "Footer")


BROKEN = [
    ("no version", lambda d: d.pop("version"), "$.version"),
    ("bad data_api_version", lambda d: d.update(data_api_version="2.0"), "data_api_version"),
    ("data_channel_uri", lambda d: d.update(data_channel_uri="https://x"), "endpoint URI"),
    ("no screens", lambda d: d.update(screens=[]), "$.screens"),
    ("lowercase id", lambda d: _payment(d).update(id="payment"), "capital letters"),
    ("reserved SUCCESS", lambda d: d["screens"][1].update(id="SUCCESS"), "reserved"),
    ("duplicate id", lambda d: d["screens"][1].update(id="PAYMENT"), "duplicate screen id"),
    ("route to unknown", lambda d: d["routing_model"].update(PAYMENT=["NOPE"]), "unknown screen"),
    ("route to itself", lambda d: d["routing_model"].update(PAYMENT=["PAYMENT"]), "itself"),
    ("route to SUCCESS", lambda d: d["routing_model"].update(PAYMENT=["SUCCESS"]), "reserved"),
    ("screen missing", lambda d: d["routing_model"].pop("ERROR"), "'ERROR' is missing"),
    ("loop", lambda d: d["routing_model"].update(ERROR=["PAYMENT"]), "must not loop"),
    ("no routing model", lambda d: d.pop("routing_model"), "routing_model"),
    ("no terminal", lambda d: d["screens"][1].update(terminal=False), "terminal"),
    ("terminal no footer", lambda d: _children(d, 1).pop(), "needs a Footer"),
    ("footer too long", lambda d: _footer(d).update(label="P" * 36), "at most 35"),
    ("two footers", lambda d: _children(d).append(copy.deepcopy(_footer(d))), "at most one"),
    ("footer no action", lambda d: _footer(d).pop("on-click-action"), "'on-click-action'"),
    ("input no name", lambda d: _children(d)[5].pop("name"), "requires 'name'"),
    ("input no label", lambda d: _children(d)[5].pop("label"), "requires 'label'"),
    ("bad input-type", lambda d: _children(d)[5].update({"input-type": "tel"}), "input-type"),
    ("unknown component", lambda d: _children(d).append({"type": "Button"}), "unknown component"),
    ("text missing", lambda d: _children(d)[1].pop("text"), "requires 'text'"),
    ("option no title", lambda d: _children(d)[4]["data-source"][0].pop("title"), "'title'"),
    ("undeclared data", lambda d: _payment(d)["data"].pop("tour_name"), "'tour_name' is not"),
    ("no __example__", lambda d: _payment(d)["data"]["phone"].pop("__example__"), "__example__"),
    (
        "form ref unknown",
        lambda d: _footer(d)["on-click-action"]["payload"].update(x="${form.nope}"),
        "no input named 'nope'",
    ),
    ("bad expression", lambda d: _children(d)[1].update(text="${foo}"), "not a ${data.x}"),
    (
        "complete off terminal",
        lambda d: _footer(d)["on-click-action"].update(name="complete"),
        "terminal",
    ),
    (
        "navigate off routing",
        lambda d: _footer(d).update(
            {"on-click-action": {"name": "navigate", "next": {"type": "screen", "name": "NOPE"}}}
        ),
        "unknown screen 'NOPE'",
    ),
    (
        "unknown action",
        lambda d: _footer(d)["on-click-action"].update(name="submit"),
        "must be one of",
    ),
    ("not an object", lambda d: d.clear() or d.update(screens="x"), "$.screens"),
]


@pytest.mark.parametrize(("label", "change", "fragment"), BROKEN, ids=[b[0] for b in BROKEN])
def test_validator_catches_broken_flow_json(label, change, fragment):
    problems = validate_flow_json(_broken(change))
    assert problems, label
    assert any(fragment in str(p) for p in problems), [str(p) for p in problems]
    with pytest.raises(FlowJSONInvalid):
        check_flow_json(_broken(change))


def test_validator_refuses_a_non_object():
    assert [str(p) for p in validate_flow_json([])] == ["$: Flow JSON must be an object"]


# --- export_whatsapp_flow ----------------------------------------------------------------------


def test_export_prints_the_flow_json():
    out = StringIO()
    call_command("export_whatsapp_flow", "payment_whatsapp_flow", stdout=out)
    assert json.loads(out.getvalue()) == PAYMENT_WHATSAPP_FLOW


def test_export_writes_a_file(tmp_path):
    target = tmp_path / "flow.json"
    call_command(
        "export_whatsapp_flow", "payment_whatsapp_flow", "-o", str(target), stderr=StringIO()
    )
    assert json.loads(target.read_text()) == PAYMENT_WHATSAPP_FLOW


def test_export_refuses_broken_json_and_lists_the_problems(monkeypatch, tmp_path):
    broken = _broken(lambda d: (_footer(d).update(label="P" * 40), d.pop("version")))
    monkeypatch.setattr(
        flow_json, "known_whatsapp_flows", lambda: {"payment_whatsapp_flow": broken}
    )
    target = tmp_path / "flow.json"
    with pytest.raises(CommandError) as caught:
        call_command("export_whatsapp_flow", "payment_whatsapp_flow", "-o", str(target))
    assert "$.version" in str(caught.value) and "at most 35" in str(caught.value)
    assert not target.exists()


def test_export_of_an_unknown_flow_exits_non_zero():
    result = subprocess.run(
        [sys.executable, "whatsappcrm_backend/manage.py", "export_whatsapp_flow", "nope"],
        cwd=REPO,
        capture_output=True,
        text=True,
        env={**os.environ, "DJANGO_SETTINGS_MODULE": "tests.settings", "PYTHONPATH": str(REPO)},
        timeout=120,
    )
    assert result.returncode != 0
    assert "unknown WhatsApp Flow 'nope'" in result.stderr


# --- generate_flow_keys ------------------------------------------------------------------------


def test_generate_keys_without_passphrase(tmp_path, settings):
    path = tmp_path / "keys" / "flows_private.pem"
    settings.WHATSAPP_FLOW_PRIVATE_KEY_PATH = str(path)
    settings.WHATSAPP_FLOW_PRIVATE_KEY = ""
    settings.WHATSAPP_FLOW_PRIVATE_KEY_PASSPHRASE = ""
    out = StringIO()
    call_command("generate_flow_keys", stdout=out, stderr=StringIO())
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    key = load_private_key(path.read_bytes())
    assert key.key_size == 2048
    assert out.getvalue().startswith("-----BEGIN PUBLIC KEY-----")
    from cryptography.hazmat.primitives import serialization

    public = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    assert out.getvalue() == public.decode()
    from flows import keys

    keys.clear_cache()
    assert keys.private_keys()[0].private_numbers() == key.private_numbers()


def test_generate_keys_with_passphrase_and_overwrite_rules(tmp_path, settings):
    path = tmp_path / "flows_private.pem"
    settings.WHATSAPP_FLOW_PRIVATE_KEY_PASSPHRASE = ""
    call_command(
        "generate_flow_keys",
        "--output",
        str(path),
        "--passphrase",
        "s3cret phrase",
        stdout=StringIO(),
        stderr=StringIO(),
    )
    assert b"ENCRYPTED" in path.read_bytes()
    load_private_key(path.read_bytes(), "s3cret phrase")
    first = path.read_bytes()
    with pytest.raises(CommandError, match="already exists"):
        call_command("generate_flow_keys", "--output", str(path), stdout=StringIO())
    assert path.read_bytes() == first
    path.chmod(0o644)
    call_command(
        "generate_flow_keys", "--output", str(path), "--force", stdout=StringIO(), stderr=StringIO()
    )
    assert path.read_bytes() != first and stat.S_IMODE(path.stat().st_mode) == 0o600


def test_generate_keys_needs_a_destination(settings):
    settings.WHATSAPP_FLOW_PRIVATE_KEY_PATH = ""
    with pytest.raises(CommandError, match="WHATSAPP_FLOW_PRIVATE_KEY_PATH"):
        call_command("generate_flow_keys", stdout=StringIO())


def test_key_file_with_passphrase_is_loaded_from_settings(tmp_path, settings):
    from flows import keys
    from flows.crypto import FlowKeyError

    path = tmp_path / "k.pem"
    call_command(
        "generate_flow_keys",
        "--output",
        str(path),
        "--passphrase",
        "pw",
        stdout=StringIO(),
        stderr=StringIO(),
    )
    settings.WHATSAPP_FLOW_PRIVATE_KEY = ""
    settings.WHATSAPP_FLOW_PRIVATE_KEY_PATH = str(path)
    settings.WHATSAPP_FLOW_PRIVATE_KEY_PASSPHRASE = "pw"
    keys.clear_cache()
    assert len(keys.private_keys()) == 1
    settings.WHATSAPP_FLOW_PRIVATE_KEY_PASSPHRASE = "wrong"
    with pytest.raises(FlowKeyError):
        keys.private_keys()
    settings.WHATSAPP_FLOW_PRIVATE_KEY_PATH = str(tmp_path / "missing.pem")
    with pytest.raises(FlowKeyError, match="cannot read"):
        keys.private_keys()
    keys.clear_cache()


# --- register_whatsapp_flow and the admin ------------------------------------------------------


def test_register_creates_the_guides_record(db):
    from flows.models import WhatsAppFlow

    call_command(
        "register_whatsapp_flow",
        "payment_whatsapp_flow",
        "--flow-id",
        "123",
        "--publish",
        stdout=StringIO(),
    )
    record = WhatsAppFlow.objects.get(name="payment_whatsapp_flow")
    assert (record.flow_id, record.status, record.sync_status) == ("123", "PUBLISHED", "published")
    assert record.flow_json == PAYMENT_WHATSAPP_FLOW
    with pytest.raises(CommandError, match="unknown"):
        call_command("register_whatsapp_flow", "nope")


def test_admin_lists_flows_and_shows_sessions_read_only(admin_client, published_flow, make_form):
    import flows.admin_whatsapp_flows  # noqa: F401  (flows/admin.py imports it)

    session, _ = make_form()
    listing = admin_client.get("/admin/flows/whatsappflow/")
    assert listing.status_code == 200 and b"payment_whatsapp_flow" in listing.content
    detail = admin_client.get(f"/admin/flows/whatsappflow/{published_flow.pk}/change/")
    assert detail.status_code == 200 and b"&quot;data_api_version&quot;" in detail.content
    sessions = admin_client.get(f"/admin/flows/flowformsession/{session.pk}/change/")
    assert sessions.status_code == 200
    assert b'name="_save"' not in sessions.content  # read-only
    assert admin_client.get("/admin/flows/flowformsession/add/").status_code == 403
