"""`python -m sandbox.whatsapp`: run the WhatsApp Cloud API emulator until interrupted."""

from __future__ import annotations

import argparse
import logging
import os

from sandbox.whatsapp.server import (
    DEFAULT_API_VERSION,
    DEFAULT_BUSINESS_NAME,
    DEFAULT_DISPLAY_PHONE_NUMBER,
    WhatsAppEmulator,
)

ENV_PREFIX = "SANDBOX_WHATSAPP_"


def _env(name: str, default: str | None = None) -> str | None:
    return os.environ.get(ENV_PREFIX + name, default)


def _delay(value: str) -> float | None:
    """A negative or 'off' status delay disables status webhooks."""
    if value.strip().lower() in ("off", "none", "disabled"):
        return None
    number = float(value)
    return None if number < 0 else number


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m sandbox.whatsapp",
        description="Emulator of the WhatsApp Cloud API (every flag also reads "
        f"{ENV_PREFIX}<FLAG>, e.g. {ENV_PREFIX}APP_SECRET).",
    )
    parser.add_argument("--host", default=_env("HOST", "127.0.0.1"))
    parser.add_argument("--port", type=int, default=int(_env("PORT", "8102") or 8102))
    parser.add_argument("--webhook-url", default=_env("WEBHOOK_URL"))
    parser.add_argument("--app-secret", default=_env("APP_SECRET"), required=not _env("APP_SECRET"))
    parser.add_argument(
        "--access-token", default=_env("ACCESS_TOKEN"), required=not _env("ACCESS_TOKEN")
    )
    parser.add_argument(
        "--phone-number-id",
        default=_env("PHONE_NUMBER_ID"),
        required=not _env("PHONE_NUMBER_ID"),
    )
    parser.add_argument("--waba-id", default=_env("WABA_ID"), required=not _env("WABA_ID"))
    parser.add_argument(
        "--display-phone-number",
        default=_env("DISPLAY_PHONE_NUMBER", DEFAULT_DISPLAY_PHONE_NUMBER),
    )
    parser.add_argument("--api-version", default=_env("API_VERSION", DEFAULT_API_VERSION))
    parser.add_argument(
        "--status-delay",
        type=_delay,
        default=_delay(_env("STATUS_DELAY", "0.2") or "0.2"),
        help="seconds between sent/delivered/read status webhooks; 'off' disables them",
    )
    parser.add_argument(
        "--retry-base-delay",
        type=float,
        default=float(_env("RETRY_BASE_DELAY", "1.0") or 1.0),
        help="first webhook retry delay in seconds; doubles on each retry",
    )
    parser.add_argument("--max-attempts", type=int, default=int(_env("MAX_ATTEMPTS", "8") or 8))
    parser.add_argument(
        "--window-enforcement",
        choices=("sync", "status", "off"),
        default=_env("WINDOW_ENFORCEMENT", "sync"),
    )
    parser.add_argument(
        "--paynow-url",
        default=_env("PAYNOW_URL"),
        help="base URL of the Paynow emulator (e.g. http://127.0.0.1:8101): the phone page "
        "shows its mobile-money prompts for the phone's number",
    )
    parser.add_argument(
        "--business-name",
        default=_env("BUSINESS_NAME", DEFAULT_BUSINESS_NAME),
        help="the business as the phone page shows it (chat title, payee in Paynow prompts)",
    )
    parser.add_argument("--log-level", default=_env("LOG_LEVEL", "INFO"))
    return parser


def main(argv: list[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s %(message)s"
    )
    emulator = WhatsAppEmulator(
        webhook_url=args.webhook_url,
        app_secret=args.app_secret,
        access_token=args.access_token,
        phone_number_id=args.phone_number_id,
        waba_id=args.waba_id,
        host=args.host,
        port=args.port,
        display_phone_number=args.display_phone_number,
        api_version=args.api_version,
        status_delay=args.status_delay,
        retry_base_delay=args.retry_base_delay,
        max_attempts=args.max_attempts,
        window_enforcement=args.window_enforcement,
        paynow_url=args.paynow_url,
        business_name=args.business_name,
    )
    emulator.start()
    print(f"WhatsApp emulator on {emulator.base_url}", flush=True)
    print(f"  phone page: {emulator.base_url}/", flush=True)
    emulator.serve_forever()


if __name__ == "__main__":
    main()
