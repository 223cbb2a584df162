"""Inbound photos and PDFs: fetched from Meta, checked, kept in the media storage.

Meta's media flow (developers.facebook.com/documentation/business-messaging/whatsapp/
business-phone-numbers/media): the webhook carries a media ID; ``GET /{media-id}`` answers a
URL valid for a few minutes with the file's ``mime_type``, ``sha256`` and ``file_size``; the
bytes come from that URL with the same access token. Before anything is stored we check, in
this order: the declared size and type against our limits (``INBOUND_MEDIA_MAX_BYTES``,
``INBOUND_MEDIA_TYPES``), the size again while reading (a stream is cut at the limit), that the
bytes are what the type says (their magic number: a "PDF" that is HTML never reaches staff's
browser), and the SHA-256 Meta gave. A file that fails a check is ``refused`` (recorded, never
stored); one that cannot be fetched is retried (the sweep re-queues it) and ``failed`` after
``MAX_ATTEMPTS``.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import logging
from enum import StrEnum

from django.conf import settings
from django.db import transaction

from conversations import services as conversations
from conversations.models import MessageMedia

from .. import selectors
from ..client import GraphClient, GraphRequestError, GraphRetryableError, MediaTooLarge

logger = logging.getLogger(__name__)

MAX_ATTEMPTS = 5
# The first bytes of each type we keep (the files' own format specifications).
MAGIC_NUMBERS: dict[str, tuple[bytes, ...]] = {
    "image/jpeg": (b"\xff\xd8\xff",),
    "image/png": (b"\x89PNG\r\n\x1a\n",),
    "image/webp": (b"RIFF",),  # then 4 size bytes and "WEBP", checked below
    "application/pdf": (b"%PDF-",),
}


class MediaOutcome(StrEnum):
    STORED = "stored"
    REFUSED = "refused"
    RETRY = "retry"  # still pending: try again later
    FAILED = "failed"  # given up
    NOTHING_TO_DO = "nothing_to_do"  # stored, refused or failed already, or unknown


def download_inbound_media(media_id: int) -> MediaOutcome:
    """One attempt at fetching, checking and storing an inbound file. Idempotent: a file
    already stored (or refused, or given up) is left alone."""
    with transaction.atomic():
        media = conversations.claim_media_download(media_id)
    if media is None:
        return MediaOutcome.NOTHING_TO_DO
    message = media.message
    config = selectors.config_for_message(message)
    if config is None:
        return _failed(media, "No WhatsApp number is configured to fetch it", final=True)
    limit = int(settings.INBOUND_MEDIA_MAX_BYTES)
    allowed = {t.lower() for t in settings.INBOUND_MEDIA_TYPES}
    try:
        with GraphClient(config) as client:
            info = client.media_info(media.channel_media_id)
            mime_type = info.mime_type.split(";")[0].strip().lower()
            if mime_type not in allowed:
                return _refused(media, f"type {mime_type or 'unknown'} is not accepted", mime_type)
            if info.file_size is not None and info.file_size > limit:
                return _refused(
                    media, f"{info.file_size} bytes is over the {limit}-byte limit", mime_type
                )
            content = client.download_media(info.url, max_bytes=limit)
    except MediaTooLarge as exc:
        return _refused(media, exc.title, "")
    except GraphRetryableError as exc:
        return _failed(media, exc.title, final=media.attempts >= MAX_ATTEMPTS)
    except GraphRequestError as exc:
        # The media ID expired (Meta keeps webhook media for days) or was never ours.
        return _failed(media, exc.title, final=True)
    if not looks_like(mime_type, content):
        return _refused(media, f"the bytes are not a {mime_type} file", mime_type, len(content))
    digest = hashlib.sha256(content).digest()
    expected = info.sha256 or media.declared_sha256
    if not expected:
        return _refused(media, "no checksum to verify the file against", mime_type, len(content))
    if not sha256_matches(digest, expected):
        return _refused(media, "checksum does not match", mime_type, len(content))
    with transaction.atomic():
        locked = (
            MessageMedia.objects.select_for_update()
            .filter(pk=media.pk, status=MessageMedia.Status.PENDING)
            .first()
        )
        if locked is None:
            return MediaOutcome.NOTHING_TO_DO
        conversations.store_media(locked, content=content, mime_type=mime_type, sha256=digest.hex())
    logger.info(
        "Inbound %s stored (%s bytes)",
        media.kind,
        len(content),
        extra={"contact": message.contact_id, "wamid": message.wamid},
    )
    return MediaOutcome.STORED


def looks_like(mime_type: str, content: bytes) -> bool:
    """Whether the bytes start as a file of that type does (types without a known magic
    number are not accepted by the default settings; they pass this check)."""
    magics = MAGIC_NUMBERS.get(mime_type)
    if magics is None:
        return True
    if not content.startswith(magics):
        return False
    return mime_type != "image/webp" or content[8:12] == b"WEBP"


def sha256_matches(digest: bytes, expected: str) -> bool:
    """Meta writes the SHA-256 as hex in the media endpoint's answer and as base64 in some
    webhooks (pywa's and courier's fixtures show both): either encoding of our digest."""
    expected = expected.strip()
    if len(expected) == 64 and all(ch in "0123456789abcdefABCDEF" for ch in expected):
        return hmac.compare_digest(expected.lower(), digest.hex())
    try:
        padded = expected + "=" * (-len(expected) % 4)
        decoded = base64.b64decode(padded.replace("-", "+").replace("_", "/"), validate=True)
    except (binascii.Error, ValueError):
        return False
    return hmac.compare_digest(decoded, digest)


def _refused(
    media: MessageMedia, reason: str, mime_type: str, size: int | None = None
) -> MediaOutcome:
    with transaction.atomic():
        conversations.refuse_media(media, reason=reason, mime_type=mime_type, size=size)
    return MediaOutcome.REFUSED


def _failed(media: MessageMedia, error: str, *, final: bool) -> MediaOutcome:
    with transaction.atomic():
        conversations.media_download_failed(media, error=error, final=final)
    if final:
        logger.warning("Inbound media could not be fetched: %s", error)
        return MediaOutcome.FAILED
    return MediaOutcome.RETRY
