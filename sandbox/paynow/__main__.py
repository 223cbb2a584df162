"""`python -m sandbox.paynow`: run the Paynow emulator in the foreground."""

from __future__ import annotations

import argparse
import logging
import os
import sys

from sandbox.paynow.server import PaynowEmulator


def _env(name: str, default: str | None = None) -> str | None:
    return os.environ.get(f"SANDBOX_PAYNOW_{name}", default)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m sandbox.paynow", description=__doc__)
    parser.add_argument("--host", default=_env("HOST", "127.0.0.1"))
    parser.add_argument("--port", type=int, default=int(_env("PORT", "8101") or 8101))
    parser.add_argument("--integration-id", default=_env("INTEGRATION_ID"))
    parser.add_argument("--integration-key", default=_env("INTEGRATION_KEY"))
    parser.add_argument("--auth-email", default=_env("AUTH_EMAIL"))
    parser.add_argument("--time-scale", type=float, default=float(_env("TIME_SCALE", "1.0") or 1.0))
    parser.add_argument("--mode", choices=("test", "live"), default=_env("MODE", "test"))
    parser.add_argument(
        "--public-url",
        default=_env("PUBLIC_URL"),
        help="base URL to put in poll/browser URLs (default: http://HOST:PORT)",
    )
    parser.add_argument("--verbose", action="store_true", default=bool(_env("VERBOSE")))
    args = parser.parse_args(argv)
    missing = [
        flag
        for flag, value in (
            ("--integration-id", args.integration_id),
            ("--integration-key", args.integration_key),
            ("--auth-email", args.auth_email),
        )
        if not value
    ]
    if missing:
        parser.error(f"required (or SANDBOX_PAYNOW_* env): {', '.join(missing)}")

    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING)
    emulator = PaynowEmulator(
        integration_id=args.integration_id,
        integration_key=args.integration_key,
        auth_email=args.auth_email,
        time_scale=args.time_scale,
        mode=args.mode,
        host=args.host,
        port=args.port,
        public_url=args.public_url,
        verbose=args.verbose,
    )
    emulator.bind()
    print(f"Paynow emulator ({args.mode} mode) on {emulator.base_url}", flush=True)
    print(f"  remote_url: {emulator.remote_url}", flush=True)
    print(f"  control:    {emulator.control_url}/", flush=True)
    try:
        emulator.serve_forever()
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
