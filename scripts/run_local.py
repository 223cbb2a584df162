"""`make run`: the whole system on one machine, with both emulators and the browser phone.

Prepares the embedded database (or the one DATABASE_URL names), local test-mode credentials
(generated once into var/, never committed), flow keys and flow definitions; then starts,
together, the app, the Paynow emulator, the WhatsApp emulator and background task
processing. One Ctrl-C stops them all. Safe to run again: nothing is reset.

Only the standard library here: it runs the project's own commands as subprocesses.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
BACKEND = REPO / "whatsappcrm_backend"
VAR = REPO / "var"
LOCAL_CONFIG = VAR / "local-sandbox.json"
FLOW_KEY = VAR / "flow-keys" / "private.pem"
PYTHON = sys.executable


def log(message: str) -> None:
    print(f"[make run] {message}", flush=True)


def local_credentials() -> dict:
    """Test-mode credentials for the emulators, generated once and kept in var/."""
    if LOCAL_CONFIG.is_file():
        return json.loads(LOCAL_CONFIG.read_text())
    config = {
        "paynow": {
            "integration_id": str(10000 + secrets.randbelow(89999)),
            "integration_key": secrets.token_hex(16),
            "auth_email": "merchant@kalaisafaris.example",
        },
        "meta": {
            "phone_number_id": str(100000000000000 + secrets.randbelow(899999999999999)),
            "waba_id": str(100000000000000 + secrets.randbelow(899999999999999)),
            "display_phone_number": "263780000000",
            "access_token": "EAAlocal" + secrets.token_urlsafe(32),
            "app_secret": secrets.token_hex(16),
            "verify_token": secrets.token_urlsafe(16),
        },
    }
    VAR.mkdir(parents=True, exist_ok=True)
    LOCAL_CONFIG.write_text(json.dumps(config, indent=2))
    LOCAL_CONFIG.chmod(0o600)
    return config


def django_env(args: argparse.Namespace) -> dict[str, str]:
    env = dict(os.environ)
    env.setdefault("DEBUG", "true")
    env.setdefault("SITE_URL", f"http://{args.host}:{args.port}")
    env.setdefault("WHATSAPP_FLOW_PRIVATE_KEY_PATH", str(FLOW_KEY))
    env.setdefault("PAYNOW_CARD_ENABLED", "true")  # the emulator serves the card checkout
    env.setdefault("PYTHONUNBUFFERED", "1")
    return env


def manage(*command: str, env: dict[str, str], capture: bool = False) -> str:
    result = subprocess.run(  # noqa: S603 (our own commands)
        [PYTHON, str(BACKEND / "manage.py"), *command],
        env=env,
        cwd=REPO,
        check=False,
        text=True,
        capture_output=capture,
    )
    if result.returncode != 0:
        if capture:
            sys.stderr.write(result.stdout + result.stderr)
        raise SystemExit(f"`manage.py {' '.join(command)}` failed (exit {result.returncode})")
    return result.stdout if capture else ""


def port_is_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        return probe.connect_ex(("127.0.0.1", port)) != 0


def wait_for_http(url: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2):  # noqa: S310 (loopback only)
                return
        except urllib.error.HTTPError:
            return  # it answered
        except OSError:
            time.sleep(0.2)
    raise SystemExit(f"{url} did not come up within {timeout:.0f}s")


class Processes:
    """Children started together and stopped together."""

    def __init__(self) -> None:
        self.children: list[tuple[str, subprocess.Popen]] = []
        self.stopping = threading.Event()

    def start(self, name: str, command: list[str], *, env: dict[str, str], cwd: Path) -> None:
        log(f"starting {name}")
        process = subprocess.Popen(command, env=env, cwd=cwd, start_new_session=True)  # noqa: S603
        self.children.append((name, process))

    def stop(self) -> None:
        self.stopping.set()
        children, self.children = self.children, []
        for name, process in reversed(children):
            if process.poll() is None:
                log(f"stopping {name}")
                os.killpg(process.pid, signal.SIGTERM)
        deadline = time.monotonic() + 10
        for _, process in children:
            try:
                process.wait(timeout=max(deadline - time.monotonic(), 0.1))
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)

    def watch(self) -> int:
        """Block until Ctrl-C or until a child dies; return an exit code."""
        while not self.stopping.is_set():
            for name, process in self.children:
                code = process.poll()
                if code is not None:
                    log(f"{name} exited with {code}; stopping everything")
                    return code or 1
            time.sleep(0.5)
        return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--paynow-port", type=int, default=8101)
    parser.add_argument("--whatsapp-port", type=int, default=8102)
    parser.add_argument("--time-scale", default="1.0", help="Paynow emulator delays x this")
    parser.add_argument("--prepare-only", action="store_true", help="set up, start nothing")
    args = parser.parse_args()

    busy = [p for p in (args.port, args.paynow_port, args.whatsapp_port) if not port_is_free(p)]
    if busy and not args.prepare_only:
        raise SystemExit(
            f"Port(s) {', '.join(map(str, busy))} already in use: is `make run` already "
            "running? Stop it, or choose other ports (PORT=8010 make run)."
        )
    creds = local_credentials()
    env = django_env(args)
    paynow_url = f"http://127.0.0.1:{args.paynow_port}"
    whatsapp_url = f"http://127.0.0.1:{args.whatsapp_port}"
    site = env["SITE_URL"]
    pay, meta = creds["paynow"], creds["meta"]

    log("migrating the database")
    manage("migrate", "--noinput", "-v", "0", env=env)
    admin_line = manage("seed_demo", "--admin", env=env, capture=True).strip().splitlines()[-1]
    manage(
        "configure_paynow",
        "--integration-id",
        pay["integration_id"],
        "--api-base-url",
        f"{paynow_url}/interface/remotetransaction",
        "--auth-email",
        pay["auth_email"],
        env={**env, "PAYNOW_INTEGRATION_KEY": pay["integration_key"]},
    )
    manage(
        "configure_meta",
        "--phone-number-id",
        meta["phone_number_id"],
        "--waba-id",
        meta["waba_id"],
        "--display-phone-number",
        meta["display_phone_number"],
        "--graph-base-url",
        whatsapp_url,
        env={
            **env,
            "META_ACCESS_TOKEN": meta["access_token"],
            "META_APP_SECRET": meta["app_secret"],
            "META_VERIFY_TOKEN": meta["verify_token"],
        },
    )
    if not FLOW_KEY.is_file():
        manage("generate_flow_keys", env=env, capture=True)
    manage("load_flow_definitions", env=env)
    if args.prepare_only:
        return 0

    processes = Processes()
    signal.signal(signal.SIGINT, lambda *_: processes.stopping.set())
    signal.signal(signal.SIGTERM, lambda *_: processes.stopping.set())
    try:
        processes.start(
            "Paynow emulator",
            [
                PYTHON, "-m", "sandbox.paynow", "--port", str(args.paynow_port),
                "--integration-id", pay["integration_id"],
                "--integration-key", pay["integration_key"],
                "--auth-email", pay["auth_email"], "--time-scale", args.time_scale,
            ],
            env=env,
            cwd=REPO,
        )  # fmt: skip
        processes.start(
            "WhatsApp emulator",
            [
                PYTHON, "-m", "sandbox.whatsapp", "--port", str(args.whatsapp_port),
                "--webhook-url", f"{site}/crm-api/meta/webhook/",
                "--app-secret", meta["app_secret"], "--access-token", meta["access_token"],
                "--phone-number-id", meta["phone_number_id"], "--waba-id", meta["waba_id"],
                "--display-phone-number", meta["display_phone_number"],
                "--paynow-url", paynow_url,
            ],
            env=env,
            cwd=REPO,
        )  # fmt: skip
        wait_for_http(f"{paynow_url}/_control/config")
        wait_for_http(f"{whatsapp_url}/_control/health")
        # Meta's side of the setup: our public key, and the published payment form.
        manage("generate_flow_keys", "--existing", "--upload", env=env, capture=True)
        manage(
            "register_whatsapp_flow",
            "payment_whatsapp_flow",
            "--via-graph",
            "--recreate",
            "--publish",
            env=env,
        )
        processes.start(
            "app",
            [PYTHON, str(BACKEND / "manage.py"), "runserver", f"{args.host}:{args.port}",
             "--noreload"],
            env=env,
            cwd=REPO,
        )  # fmt: skip
        if env.get("CELERY_BROKER_URL"):
            processes.start(
                "Celery worker + beat",
                [PYTHON, "-m", "celery", "-A", "whatsappcrm", "worker", "-B",
                 "--schedule", str(VAR / "celerybeat-schedule"),
                 "--loglevel", "INFO", "--concurrency", "2"],
                env=env,
                cwd=BACKEND,
            )  # fmt: skip
        else:
            threading.Thread(
                target=reconcile_forever, args=(env, processes.stopping), daemon=True
            ).start()
        wait_for_http(f"{site}/healthz")
        banner(site, whatsapp_url, paynow_url, admin_line, env)
        return processes.watch()
    finally:
        processes.stop()


def reconcile_forever(env: dict[str, str], stopping: threading.Event) -> None:
    """The embedded default has no beat: reconcile pending payments every minute in-process."""
    while not stopping.wait(60):
        subprocess.run(  # noqa: S603
            [PYTHON, str(BACKEND / "manage.py"), "reconcile_payments"],
            env=env,
            cwd=REPO,
            check=False,
            capture_output=True,
        )


def banner(site, whatsapp_url, paynow_url, admin_line, env) -> None:
    tasks = (
        "Celery worker (" + env["CELERY_BROKER_URL"] + ")"
        if env.get("CELERY_BROKER_URL")
        else "in-process"
    )
    database = env.get("DATABASE_URL") or "SQLite (var/db.sqlite3)"
    print(
        f"""
  ┌──────────────────────────────────────────────────────────────────────────
  │ Kalai Safaris booking backend is running.
  │
  │   Phone (chat as a traveller):  {whatsapp_url}/
  │   Admin:                        {site}/admin/
  │     {admin_line}
  │   Health:                       {site}/healthz   {site}/readyz
  │   Metrics:                      {site}/metrics
  │   Paynow emulator:              {paynow_url}/_control/transactions
  │
  │   Database: {database}    Tasks: {tasks}
  │   Try: open the phone, say "hi", book a tour and pay with EcoCash.
  │   Ctrl-C stops everything.
  └──────────────────────────────────────────────────────────────────────────
""",
        flush=True,
    )


if __name__ == "__main__":
    sys.exit(main())
