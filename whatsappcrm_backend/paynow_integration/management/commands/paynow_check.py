"""`manage.py paynow_check`: can the active Paynow configuration take payments? Charges nobody.

The deployment guide's "Test Paynow SDK connection manually". One request reaches Paynow: a trace
of a merchant trace made up on the spot, which no transaction can have. Paynow answers a trace
with a hashed `NotFound` only after it has found the integration ID and verified our request's
hash with the key it holds (docs/PROTOCOLS.md, "Trace"), so a correctly hashed `NotFound` proves
the ID and the key, and nothing is created or charged.

How a wrong key shows: as an `Error` reply ("Invalid Hash"), never as a hash mismatch. Paynow
checks our hash before anything else and its `Error` replies carry no hash. A `NotFound` whose
hash does not match means the answer did not come from Paynow for this integration (the API Base
URL leads somewhere else). An unknown ID is an `Error` too ("Invalid Id.").

Then the mode, and the result and return URLs Paynow is given with every payment (from
`SITE_URL`). Each check prints one line, `ok` or `FAIL` with what to fix; the command exits with
status 1 when any check failed.
"""

from __future__ import annotations

import ipaddress
import secrets
import time
from collections.abc import Iterator
from dataclasses import dataclass
from urllib.parse import urlsplit

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.urls import Resolver404, resolve

from paynow_integration.models import PaynowConfig
from paynow_integration.sdk import (
    PaynowError,
    PaynowGatewayError,
    PaynowHashMismatch,
    PaynowUnavailable,
    StatusUpdate,
)
from paynow_integration.services import (
    IPN_PATH,
    RETURN_PATH,
    PaynowNotConfigured,
    get_active_config,
    sdk_for,
    site_url,
)

# A trace is answered at once; slower than this and payments risk the read timeout.
SLOW_MS = 5000


@dataclass(frozen=True)
class Line:
    """One check's verdict, as printed."""

    ok: bool
    what: str
    detail: str

    def __str__(self) -> str:
        return f"{'ok' if self.ok else 'FAIL':<4}  {self.what}: {self.detail}"


class Command(BaseCommand):
    help = (
        "Check the active Paynow configuration without charging anyone: integration ID and key "
        "(a trace answered NotFound), reachability and latency, mode, result and return URLs."
    )

    def handle(self, *args, **options):
        lines = list(run_checks())
        for line in lines:
            style = self.style.SUCCESS if line.ok else self.style.ERROR
            self.stdout.write(style(str(line)))
        failed = sum(not line.ok for line in lines)
        if failed:
            raise CommandError(f"{failed} of {len(lines)} Paynow checks failed: see FAIL above.")
        self.stdout.write("All Paynow checks passed; nobody was charged.")


def run_checks() -> Iterator[Line]:
    """Every check, in the order an operator fixes them."""
    try:
        config = get_active_config()
    except PaynowNotConfigured:
        yield Line(
            False,
            "configuration",
            "no active Paynow configuration: add one in the admin (Paynow Integration → Paynow "
            "Configurations) or with `manage.py configure_paynow`",
        )
    else:
        yield Line(
            True,
            "configuration",
            f"integration {config.integration_id}, API Base URL {config.api_base_url}",
        )
        yield from check_gateway(config)
        yield check_mode(config)
    yield check_callback_url("result URL (IPN)", IPN_PATH, "paynow:ipn")
    yield check_callback_url("return URL", RETURN_PATH, "paynow:return")


def check_gateway(config: PaynowConfig) -> Iterator[Line]:
    """Reachability and latency, then what the trace proves about the ID and the key."""
    merchant_trace = "check-" + secrets.token_hex(13)  # 32 characters, Paynow's limit
    found: StatusUpdate | None = None
    failure: PaynowError | None = None
    with sdk_for(config) as sdk:
        endpoint = sdk.trace_url
        started = time.monotonic()
        try:
            found = sdk.trace(merchant_trace)
        except PaynowError as exc:
            failure = exc
        elapsed_ms = int((time.monotonic() - started) * 1000)
    host = urlsplit(endpoint).netloc
    if isinstance(failure, PaynowUnavailable):
        if failure.status_code:
            fix = "Paynow itself is failing: try again later, or ask Paynow support"
        else:
            fix = (
                "check the API Base URL, this server's DNS, and that its firewall allows "
                f"HTTPS requests out to {host}"
            )
        yield Line(False, "reachable", f"{endpoint} did not answer ({failure.message}): {fix}")
        yield Line(False, "integration ID and key", "not checked: Paynow was not reached")
        return
    speed = f"{elapsed_ms} ms"
    if elapsed_ms > SLOW_MS:
        speed += " (slow: payments may time out)"
    yield Line(True, "reachable", f"{host} answered in {speed}")
    yield check_credentials(config, merchant_trace, found, failure)


def check_credentials(
    config: PaynowConfig,
    merchant_trace: str,
    found: StatusUpdate | None,
    failure: PaynowError | None,
) -> Line:
    what = "integration ID and key"
    if failure is None and found is None:
        return Line(
            True,
            what,
            f"Paynow knows integration {config.integration_id} and our key: a trace of the "
            f"fresh merchant trace {merchant_trace} came back NotFound, correctly hashed",
        )
    if failure is None:
        return Line(
            False,
            what,
            f"Paynow reported a transaction for the merchant trace {merchant_trace}, which we "
            "had just made up: the API Base URL does not lead to Paynow's own service",
        )
    if isinstance(failure, PaynowGatewayError):
        text = failure.message.strip()
        if text.lower().startswith("invalid id"):
            return Line(
                False,
                what,
                f"Paynow does not know integration ID {config.integration_id} (it answered "
                f'"{text}"): copy the Integration ID from the Paynow dashboard into the '
                "configuration",
            )
        if text.lower().startswith("invalid hash"):
            # Paynow's text goes on to give the start of the hash it expected: not repeated.
            return Line(
                False,
                what,
                f'Paynow refused our request ("Invalid Hash"): the integration key is not the one '
                f"Paynow holds for integration {config.integration_id}. Enter the key Paynow "
                "e-mailed for this integration (its page in the Paynow dashboard can e-mail it "
                "again)",
            )
        return Line(
            False,
            what,
            f'Paynow answered Error: "{text}". An Error is not a NotFound: the ID and key are not '
            "confirmed",
        )
    if isinstance(failure, PaynowHashMismatch):
        return Line(
            False,
            what,
            "the NotFound reply's hash does not match our key. Paynow answers NotFound only after "
            "verifying our request with the same key, so this reply did not come from Paynow for "
            "this integration: check that the API Base URL is Paynow's own address",
        )
    return Line(
        False,
        what,
        f"the answer is not Paynow's ({failure.message}): the API Base URL must be Paynow's "
        "…/interface/remotetransaction address",
    )


def check_mode(config: PaynowConfig) -> Line:
    if config.mode == PaynowConfig.Mode.LIVE:
        return Line(True, "mode", "live: payers' real wallets are charged")
    if not config.auth_email:
        return Line(
            False,
            "mode",
            "test, without an Auth e-mail: in test mode Paynow accepts mobile money payments only "
            "with the merchant's Paynow login e-mail; enter it in the configuration",
        )
    return Line(
        True,
        "mode",
        f"test: payments are simulated, only Paynow's test numbers pay (Auth e-mail "
        f"{config.auth_email}); switch to Live once Paynow has activated the integration",
    )


def check_callback_url(what: str, path: str, view_name: str) -> Line:
    """The URL Paynow is given, as initiation builds it: absolute, public, ours."""
    url = site_url(path)
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return Line(False, what, f"{url} is not an absolute URL: set SITE_URL=https://<your host>")
    problems = []
    notes = ""
    if parts.scheme != "https" and not settings.DEBUG:
        problems.append("it is not HTTPS: in production set SITE_URL=https://<your host>")
    if _is_private_host(parts.hostname):
        if settings.DEBUG:
            notes = " (development: only a Paynow emulator on this machine can reach it)"
        else:
            problems.append(
                f"{parts.hostname} cannot be reached from the internet, so Paynow cannot call it:"
                " set SITE_URL to this site's public address"
            )
    try:
        match = resolve(parts.path)
    except Resolver404:
        match = None
    if match is None or match.view_name != view_name:
        reached = f"reaches {match.view_name}" if match else "reaches no page here"
        problems.append(
            f"its path {parts.path} {reached}: SITE_URL must be the site's address without a path"
        )
    if problems:
        return Line(False, what, f"{url}: " + "; ".join(problems))
    return Line(True, what, url + notes)


def _is_private_host(hostname: str) -> bool:
    """localhost, or a literal address no one outside this network can reach."""
    if hostname == "localhost" or hostname.endswith(".localhost"):
        return True
    try:
        address = ipaddress.ip_address(hostname)
    except ValueError:
        return False  # a name: whether it resolves publicly is for DNS to say
    return (
        address.is_loopback or address.is_private or address.is_unspecified or address.is_link_local
    )
