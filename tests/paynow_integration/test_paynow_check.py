"""`manage.py paynow_check` against the Paynow emulator: right key, wrong key, wrong id, Paynow
unreachable, a reply not from Paynow; the mode; the result and return URLs from SITE_URL."""

from __future__ import annotations

import socket
from io import StringIO

import httpx
import pytest
from django.core.management import CommandError, ManagementUtility, call_command

from paynow_integration.models import PaynowConfig
from tests.helpers import serve_posts

pytestmark = pytest.mark.django_db

PUBLIC_SITE = "https://backend.kalaisafaris.com"


def run_check() -> tuple[list[str], CommandError | None]:
    """The command's lines, and its error when a check failed."""
    out = StringIO()
    try:
        call_command("paynow_check", stdout=out)
    except CommandError as exc:
        return out.getvalue().splitlines(), exc
    return out.getvalue().splitlines(), None


def line(lines: list[str], what: str) -> str:
    [found] = [text for text in lines if text[6:].startswith(what + ":")]
    return found


@pytest.fixture(autouse=True)
def production_site(settings):
    settings.DEBUG = False
    settings.SITE_URL = PUBLIC_SITE


def test_right_key_passes_every_check_and_creates_nothing(paynow_config, paynow_emulator):
    lines, error = run_check()
    assert error is None, lines
    assert [text[:4] for text in lines[:-1]] == ["ok  "] * 6
    assert line(lines, "configuration").endswith(f"API Base URL {paynow_emulator.remote_url}")
    assert "answered in" in line(lines, "reachable")
    assert "came back NotFound, correctly hashed" in line(lines, "integration ID and key")
    assert "test: payments are simulated" in line(lines, "mode")
    assert (
        line(lines, "result URL (IPN)")
        == f"ok    result URL (IPN): {PUBLIC_SITE}/crm-api/paynow/ipn/"
    )
    assert line(lines, "return URL") == f"ok    return URL: {PUBLIC_SITE}/crm-api/paynow/return/"
    assert lines[-1] == "All Paynow checks passed; nobody was charged."
    # A trace only: Paynow has no transaction afterwards.
    listed = httpx.get(f"{paynow_emulator.control_url}/transactions").json()
    assert listed == {"transactions": []}


def test_each_run_traces_a_fresh_merchant_trace(paynow_config):
    first, _ = run_check()
    second, _ = run_check()
    trace = [
        line(lines, "integration ID and key").split("merchant trace ")[1]
        for lines in (first, second)
    ]
    assert trace[0] != trace[1]


def test_wrong_key_is_paynows_invalid_hash_error(paynow_config):
    paynow_config.integration_key = "not-the-key-paynow-holds"
    paynow_config.save()
    lines, error = run_check()
    assert str(error) == "1 of 6 Paynow checks failed: see FAIL above."
    verdict = line(lines, "integration ID and key")
    assert verdict.startswith(
        'FAIL  integration ID and key: Paynow refused our request ("Invalid Hash")'
    )
    assert "the integration key is not the one Paynow holds for integration 20817" in verdict
    assert "should start with" not in verdict  # Paynow's hint about the right hash is not echoed
    assert line(lines, "reachable").startswith("ok  ")


def test_wrong_id_is_paynows_invalid_id_error(paynow_config):
    paynow_config.integration_id = "99999"
    paynow_config.save()
    lines, error = run_check()
    assert error is not None
    assert line(lines, "integration ID and key") == (
        "FAIL  integration ID and key: Paynow does not know integration ID 99999 (it answered "
        '"Invalid Id."): copy the Integration ID from the Paynow dashboard into the configuration'
    )


def test_paynow_unreachable(paynow_config):
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    paynow_config.api_base_url = f"http://127.0.0.1:{port}/interface/remotetransaction"
    paynow_config.save()
    lines, error = run_check()
    assert str(error) == "2 of 6 Paynow checks failed: see FAIL above."
    reachable = line(lines, "reachable")
    assert reachable.startswith(f"FAIL  reachable: http://127.0.0.1:{port}/interface/trace did not")
    assert "firewall allows HTTPS requests out to" in reachable
    assert line(lines, "integration ID and key").endswith("not checked: Paynow was not reached")


def test_paynow_answering_503(paynow_config, paynow_emulator):
    server = serve_posts(lambda body, headers: (503, b"Service Unavailable"))
    try:
        port = server.server_address[1]
        paynow_config.api_base_url = f"http://127.0.0.1:{port}/interface/remotetransaction"
        paynow_config.save()
        lines, _ = run_check()
    finally:
        server.shutdown()
        server.server_close()
    assert "Paynow itself is failing" in line(lines, "reachable")


def test_a_not_found_with_a_wrong_hash_did_not_come_from_paynow(paynow_config):
    """What a reply from something that is not Paynow (a proxy, another service) looks like."""
    server = serve_posts(lambda body, headers: (200, b"status=NotFound&hash=ABCDEF0123"))
    try:
        port = server.server_address[1]
        paynow_config.api_base_url = f"http://127.0.0.1:{port}/interface/remotetransaction"
        paynow_config.save()
        lines, error = run_check()
    finally:
        server.shutdown()
        server.server_close()
    assert error is not None
    assert "the NotFound reply's hash does not match our key" in line(
        lines, "integration ID and key"
    )


def test_an_address_that_is_not_paynow(paynow_config):
    server = serve_posts(lambda body, headers: (404, b"<html>Not found</html>"), "text/html")
    try:
        port = server.server_address[1]
        paynow_config.api_base_url = f"http://127.0.0.1:{port}/pay"
        paynow_config.save()
        lines, _ = run_check()
    finally:
        server.shutdown()
        server.server_close()
    assert line(lines, "integration ID and key").startswith(
        "FAIL  integration ID and key: the answer is not Paynow's (Paynow answered 404: /trace)"
    )


def test_no_active_configuration(db):
    lines, error = run_check()
    assert error is not None
    assert line(lines, "configuration").startswith("FAIL  configuration: no active Paynow")
    # The URLs are still checked: they do not need a configuration.
    assert line(lines, "result URL (IPN)").startswith("ok  ")


def test_mode(paynow_config):
    paynow_config.auth_email = ""
    paynow_config.save()
    lines, error = run_check()
    assert error is not None
    assert "test, without an Auth e-mail" in line(lines, "mode")
    paynow_config.mode = PaynowConfig.Mode.LIVE
    paynow_config.save()
    lines, error = run_check()
    assert error is None
    assert line(lines, "mode") == "ok    mode: live: payers' real wallets are charged"


@pytest.mark.parametrize(
    ("site_url", "problem"),
    [
        ("http://backend.kalaisafaris.com", "it is not HTTPS"),
        ("https://localhost:8000", "localhost cannot be reached from the internet"),
        ("https://192.168.1.20", "192.168.1.20 cannot be reached from the internet"),
        ("https://backend.kalaisafaris.com/app", "reaches no page here"),
        ("backend.kalaisafaris.com", "is not an absolute URL"),
    ],
)
def test_callback_urls_paynow_could_not_use(paynow_config, settings, site_url, problem):
    settings.SITE_URL = site_url
    lines, error = run_check()
    assert str(error) == "2 of 6 Paynow checks failed: see FAIL above."
    assert problem in line(lines, "result URL (IPN)") and problem in line(lines, "return URL")


def test_local_site_is_fine_in_development(paynow_config, settings):
    settings.DEBUG = True
    settings.SITE_URL = "http://127.0.0.1:8600"
    lines, error = run_check()
    assert error is None, lines
    assert line(lines, "result URL (IPN)") == (
        "ok    result URL (IPN): http://127.0.0.1:8600/crm-api/paynow/ipn/ (development: only a "
        "Paynow emulator on this machine can reach it)"
    )


def test_exit_status_is_non_zero_on_a_failure(db, capsys):
    with pytest.raises(SystemExit) as exited:
        ManagementUtility(["manage.py", "paynow_check"]).execute()
    assert exited.value.code == 1
    assert "Paynow checks failed" in capsys.readouterr().err
