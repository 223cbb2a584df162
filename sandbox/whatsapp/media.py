"""Files users send (photos, PDFs), kept as Meta keeps them and served as its media API does.

A file gets a media ID when the user sends it. `GET /{version}/{media-id}` (bearer token)
answers `{messaging_product, url, mime_type, sha256, file_size, id}`; the `url` works for
`URL_TTL_SECONDS` only, and only with the same bearer token. Rules and their sources are in the
README ("Media").
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import struct
import threading
import time
import zlib
from dataclasses import dataclass

URL_TTL_SECONDS = 300  # Meta: the URL from GET /{media-id} is valid for 5 minutes
# Meta's "Supported media types": what a user can send as an image or a document, and how big.
IMAGE_TYPES = ("image/jpeg", "image/png")
DOCUMENT_TYPES = (
    "text/plain",
    "application/pdf",
    "application/msword",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "application/vnd.ms-excel",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "application/vnd.ms-powerpoint",
    "application/vnd.openxmlformats-officedocument.presentationml.presentation",
)
LIMITS = {
    "image": (IMAGE_TYPES, 5 * 1024 * 1024),
    "document": (DOCUMENT_TYPES, 100 * 1024 * 1024),
}


# A phone sends real files; a control request without one gets these (a valid 8x8 PNG, and a
# one-page PDF), so the bytes are what their type says.
def _png(width: int = 8, height: int = 8, rgb: tuple[int, int, int] = (37, 211, 102)) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    rows = b"".join(b"\x00" + bytes(rgb) * width for _ in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


SAMPLE_PNG = _png()
SAMPLE_PDF = (
    b"%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n"
    b"2 0 obj<</Type/Pages/Kids[3 0 R]/Count 1>>endobj\n"
    b"3 0 obj<</Type/Page/Parent 2 0 R/MediaBox[0 0 200 100]>>endobj\n"
    b"trailer<</Root 1 0 R>>\n%%EOF\n"
)


class MediaError(ValueError):
    """A file a user could not send (type or size outside Meta's limits)."""


@dataclass(frozen=True)
class MediaFile:
    id: str
    kind: str  # image, document
    mime_type: str
    content: bytes
    filename: str = ""

    @property
    def sha256_hex(self) -> str:
        return hashlib.sha256(self.content).hexdigest()

    @property
    def sha256_b64(self) -> str:
        return base64.b64encode(hashlib.sha256(self.content).digest()).decode("ascii")

    def webhook_fields(self) -> dict:
        return {
            "id": self.id,
            "mime_type": self.mime_type,
            "sha256_b64": self.sha256_b64,
            "filename": self.filename,
        }

    def describe(self) -> dict:
        return {
            "id": self.id,
            "kind": self.kind,
            "mime_type": self.mime_type,
            "filename": self.filename,
            "size": len(self.content),
        }


class MediaStore:
    def __init__(self) -> None:
        self._files: dict[str, MediaFile] = {}
        self._lock = threading.Lock()
        self._url_key = secrets.token_bytes(32)

    def clear(self) -> None:
        with self._lock:
            self._files.clear()

    def add(
        self, kind: str, *, content: bytes | None, mime_type: str, filename: str = ""
    ) -> MediaFile:
        """Keep a file a user sends; refuses types and sizes Meta does not carry."""
        types, limit = LIMITS[kind]
        if content is None:
            content = SAMPLE_PNG if kind == "image" else SAMPLE_PDF
            mime_type = "image/png" if kind == "image" else "application/pdf"
        if mime_type not in types:
            raise MediaError(f"a {kind} must be one of {', '.join(types)}, not {mime_type!r}")
        if len(content) > limit:
            raise MediaError(f"a {kind} may be at most {limit} bytes, this one is {len(content)}")
        if not content:
            raise MediaError("the file is empty")
        media = MediaFile(
            id=str(secrets.randbelow(10**15) + 10**15),
            kind=kind,
            mime_type=mime_type,
            content=content,
            filename=filename[:240],
        )
        with self._lock:
            self._files[media.id] = media
        return media

    def get(self, media_id: str) -> MediaFile | None:
        with self._lock:
            return self._files.get(media_id)

    # -- the short-lived download URL ---------------------------------------------------------
    def _signature(self, media_id: str, expires: int) -> str:
        message = f"{media_id}:{expires}".encode()
        return hmac.new(self._url_key, message, hashlib.sha256).hexdigest()[:32]

    def url_for(self, base_url: str, media_id: str, *, now: float | None = None) -> str:
        expires = int((now or time.time()) + URL_TTL_SECONDS)
        return (
            f"{base_url}/_media/{media_id}?ext={expires}&hash={self._signature(media_id, expires)}"
        )

    def url_valid(
        self, media_id: str, ext: str, signature: str, *, now: float | None = None
    ) -> bool:
        try:
            expires = int(ext)
        except (TypeError, ValueError):
            return False
        if expires < (now or time.time()):
            return False
        return hmac.compare_digest(signature or "", self._signature(media_id, expires))
