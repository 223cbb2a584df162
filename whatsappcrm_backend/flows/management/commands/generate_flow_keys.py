"""Make the WhatsApp Flows key pair: the private key stays here, the public key goes to Meta.

    python manage.py generate_flow_keys [--passphrase P] [--output PATH] [--force] [--upload]

The private key (2048-bit RSA, PKCS8 PEM, encrypted when a passphrase is given) is written to
``--output`` or ``WHATSAPP_FLOW_PRIVATE_KEY_PATH`` with mode 0600; an existing file is kept
unless ``--force``. Without ``--passphrase``, ``WHATSAPP_FLOW_PRIVATE_KEY_PASSPHRASE`` is used
when set, so the new key loads with the configured settings. The public key is printed, to
upload to Meta (``POST /{phone_number_id}/whatsapp_business_encryption``); ``--upload`` does
that with the active WhatsApp number's credentials.
"""

from __future__ import annotations

import os
from pathlib import Path

import httpx
from cryptography.hazmat.primitives import serialization
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from flows import keys
from flows.crypto import generate_key_pair


def write_private_key(path: Path, pem: bytes, *, force: bool) -> None:
    """Write ``pem`` to ``path`` readable by its owner only; refuse to overwrite unless forced."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    flags = os.O_WRONLY | os.O_CREAT | (os.O_TRUNC if force else os.O_EXCL)
    try:
        fd = os.open(path, flags, 0o600)
    except FileExistsError:
        raise CommandError(
            f"{path} already exists; keep it, or pass --force to replace it (configure the old "
            "key as WHATSAPP_FLOW_PREVIOUS_PRIVATE_KEY_PATH while Meta switches over)"
        ) from None
    with os.fdopen(fd, "wb") as handle:
        os.fchmod(handle.fileno(), 0o600)  # also when an existing file is replaced
        handle.write(pem)


class Command(BaseCommand):
    help = "Generate the WhatsApp Flows RSA key pair; store the private key, print the public key."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--passphrase", help="encrypt the private key with this passphrase")
        parser.add_argument(
            "--output", help="private key file (default: WHATSAPP_FLOW_PRIVATE_KEY_PATH)"
        )
        parser.add_argument("--force", action="store_true", help="replace an existing key file")
        parser.add_argument(
            "--existing",
            action="store_true",
            help="no new key: print (and with --upload, upload) the configured key's public key",
        )
        parser.add_argument(
            "--upload",
            action="store_true",
            help="upload the public key to Meta for the active WhatsApp number",
        )

    def handle(self, *args, **options) -> None:
        output = options.get("output") or settings.WHATSAPP_FLOW_PRIVATE_KEY_PATH
        if not output:
            raise CommandError("set WHATSAPP_FLOW_PRIVATE_KEY_PATH or pass --output PATH")
        passphrase = options.get("passphrase")
        if passphrase is None:
            passphrase = settings.WHATSAPP_FLOW_PRIVATE_KEY_PASSPHRASE or None
        if options.get("existing"):
            current = keys.private_keys()
            if not current:
                raise CommandError("no Flows private key is configured to take the public key of")
            public_pem = (
                current[0]
                .public_key()
                .public_bytes(
                    serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
                )
            )
            if options.get("upload"):
                self._upload(public_pem.decode("ascii"))
            self.stdout.write(public_pem.decode("ascii"), ending="")
            return
        private_pem, public_pem = generate_key_pair(passphrase or None)
        path = Path(output).expanduser()
        write_private_key(path, private_pem, force=bool(options.get("force")))
        keys.clear_cache()
        protected = "passphrase-protected" if passphrase else "not passphrase-protected"
        self.stderr.write(f"Private key written to {path} (mode 0600, {protected}).")
        if options.get("upload"):
            self._upload(public_pem.decode("ascii"))
        else:
            self.stderr.write(
                "Upload this public key to Meta: POST /{phone_number_id}/"
                "whatsapp_business_encryption with business_public_key=<the PEM below>."
            )
        self.stdout.write(public_pem.decode("ascii"), ending="")

    def _upload(self, public_pem: str) -> None:
        from meta_integration.models import MetaAppConfig

        config = MetaAppConfig.objects.filter(is_active=True).order_by("pk").first()
        if config is None or not config.access_token:
            raise CommandError("no active Meta app config with an access token to upload with")
        url = (
            f"{config.graph_base_url.rstrip('/')}/{config.api_version}/"
            f"{config.phone_number_id}/whatsapp_business_encryption"
        )
        try:
            response = httpx.post(
                url,
                data={"business_public_key": public_pem},
                headers={"Authorization": f"Bearer {config.access_token}"},
                timeout=20,
            )
        except httpx.HTTPError as exc:
            raise CommandError(f"upload failed: {type(exc).__name__}") from None
        if response.status_code != 200:
            raise CommandError(f"upload refused: HTTP {response.status_code} {response.text[:300]}")
        self.stderr.write(f"Public key uploaded for phone number {config.phone_number_id}.")
