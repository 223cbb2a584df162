"""The Graph API client for one business number: ``POST /{phone_number_id}/messages`` and the
media endpoints (``GET /{media-id}``, then the file from the URL it gives).

Every payload passes ``messages.validate_payload`` before it leaves. Failures come back as one
exception type per thing the caller can do about it: retry later, give up on this message, or
switch to a template because the 24-hour window is closed.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlsplit

import httpx

from meta_integration import messages
from meta_integration.constants import GraphErrorCode, is_retryable

if TYPE_CHECKING:  # annotations only: the client needs no Django models at import time
    from meta_integration.models import MetaAppConfig

logger = logging.getLogger(__name__)

TIMEOUT = httpx.Timeout(15.0, connect=5.0)
_CODE_PREFIX = re.compile(r"^\(#\d+\)\s*")


class GraphError(Exception):
    """A send that Meta did not accept."""

    def __init__(
        self,
        title: str,
        *,
        code: int | None = None,
        http_status: int | None = None,
        details: str = "",
        fbtrace_id: str = "",
    ) -> None:
        super().__init__(f"({code}) {title}" if code is not None else title)
        self.code = code
        self.title = title
        self.http_status = http_status
        self.details = details
        self.fbtrace_id = fbtrace_id


class GraphRetryableError(GraphError):
    """Throughput or pair rate limit, a 5xx, or the network: try again later."""


class GraphRequestError(GraphError):
    """Any other refusal (4xx): repeating the same request gets the same answer."""


class OutsideWindowError(GraphRequestError):
    """131047: more than 24 h since the contact wrote; only a template may be sent."""


@dataclass(frozen=True, slots=True)
class SendResult:
    wamid: str
    wa_id: str  # Meta's normalised phone number of the recipient ("" when not told)
    response: dict[str, Any]
    user_id: str = ""  # the recipient's business-scoped user ID, when Meta answered it


@dataclass(frozen=True, slots=True)
class MediaInfo:
    """``GET /{media-id}``: where to fetch the file (a URL valid for minutes) and what it is."""

    url: str
    mime_type: str
    sha256: str
    file_size: int | None


class MediaTooLarge(GraphRequestError):
    """The file is bigger than we accept; nothing more is read."""


class GraphClient:
    """Sends messages through one ``MetaAppConfig``. Reuse one instance for a batch of sends."""

    def __init__(self, config: MetaAppConfig, *, http: httpx.Client | None = None) -> None:
        self.config = config
        self._own_http = http is None
        self.http = http or httpx.Client(timeout=TIMEOUT)

    def close(self) -> None:
        if self._own_http:
            self.http.close()

    def __enter__(self) -> GraphClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def send(self, payload: dict[str, Any]) -> SendResult:
        """Send a message payload; return Meta's ``wamid`` or raise a ``GraphError``."""
        data = self._post(payload)
        try:
            wamid = data["messages"][0]["id"]
            contacts = data.get("contacts") or [{}]
            wa_id = contacts[0].get("wa_id") or payload.get("to", "")
            user_id = contacts[0].get("user_id") or ""
        except (KeyError, IndexError, TypeError, AttributeError):
            raise GraphRequestError("Graph answered 200 without a message id") from None
        if not isinstance(wamid, str) or not wamid:
            raise GraphRequestError("Graph answered 200 without a message id")
        return SendResult(wamid=wamid, wa_id=str(wa_id), response=data, user_id=str(user_id))

    def media_info(self, media_id: str) -> MediaInfo:
        """The short-lived download URL of an inbound file, with its type, hash and size."""
        if not self.config.access_token:
            raise GraphRequestError("no access token configured for this number")
        base = self.config.graph_base_url.rstrip("/")
        url = f"{base}/{self.config.api_version}/{quote(media_id, safe='')}"
        data = self._get_json(url, params={"phone_number_id": self.config.phone_number_id})
        link = data.get("url")
        if not isinstance(link, str) or urlsplit(link).scheme not in ("http", "https"):
            raise GraphRequestError("Graph answered without a media URL")
        size = data.get("file_size")
        try:
            file_size = int(size) if size is not None else None  # Meta sends it as a string
        except (TypeError, ValueError):
            file_size = None
        return MediaInfo(
            url=link,
            mime_type=str(data.get("mime_type") or ""),
            sha256=str(data.get("sha256") or ""),
            file_size=file_size,
        )

    def download_media(self, url: str, *, max_bytes: int) -> bytes:
        """The file's bytes from the URL ``media_info`` gave, with the access token (Meta
        requires it); stops reading and raises ``MediaTooLarge`` past ``max_bytes``."""
        headers = {"Authorization": f"Bearer {self.config.access_token}"}
        try:
            with self.http.stream("GET", url, headers=headers) as response:
                if response.status_code != 200:
                    response.read()
                    raise _error_from_response(response.status_code, _json_or_none(response))
                declared = response.headers.get("content-length")
                if declared and declared.isdigit() and int(declared) > max_bytes:
                    raise MediaTooLarge(f"file of {declared} bytes is over {max_bytes}")
                chunks, total = [], 0
                for chunk in response.iter_bytes():
                    total += len(chunk)
                    if total > max_bytes:
                        raise MediaTooLarge(f"file is over {max_bytes} bytes")
                    chunks.append(chunk)
        except httpx.TransportError as exc:
            raise GraphRetryableError(f"network error: {type(exc).__name__}") from exc
        return b"".join(chunks)

    def _get_json(self, url: str, *, params: dict[str, str]) -> dict[str, Any]:
        try:
            response = self.http.get(
                url,
                params=params,
                headers={"Authorization": f"Bearer {self.config.access_token}"},
            )
        except httpx.TransportError as exc:
            raise GraphRetryableError(f"network error: {type(exc).__name__}") from exc
        data = _json_or_none(response)
        if response.status_code == 200 and isinstance(data, dict):
            return data
        raise _error_from_response(response.status_code, data)

    def mark_as_read(self, wamid: str) -> None:
        """Blue ticks for an inbound message."""
        self._post(messages.mark_as_read(wamid))

    def _post(self, payload: dict[str, Any]) -> dict[str, Any]:
        messages.validate_payload(payload)  # a programming error must never reach Meta
        if not self.config.access_token:
            raise GraphRequestError("no access token configured for this number")
        try:
            response = self.http.post(
                self.config.messages_url,
                json=payload,
                headers={"Authorization": f"Bearer {self.config.access_token}"},
            )
        except httpx.TransportError as exc:  # connect/read timeouts, refused, reset
            raise GraphRetryableError(f"network error: {type(exc).__name__}") from exc
        try:
            data = response.json()
        except ValueError:
            data = None
        if response.status_code == 200 and isinstance(data, dict):
            return data
        raise _error_from_response(response.status_code, data)


def _json_or_none(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return None


def _error_from_response(http_status: int, data: Any) -> GraphError:
    error = data.get("error") if isinstance(data, dict) else None
    if not isinstance(error, dict):
        title = f"HTTP {http_status} without a Graph error body"
        if is_retryable(http_status=http_status) or http_status == 429:
            return GraphRetryableError(title, http_status=http_status)
        return GraphRequestError(title, http_status=http_status)
    code = error.get("code")
    code = code if isinstance(code, int) else None
    raw_title = error.get("error_user_title") or error.get("message") or "Graph API error"
    title = _CODE_PREFIX.sub("", str(raw_title))[:255]
    error_data = error.get("error_data")
    details = str(error_data.get("details", "")) if isinstance(error_data, dict) else ""
    kind: type[GraphError] = GraphRequestError
    if code == GraphErrorCode.OUTSIDE_SERVICE_WINDOW:
        kind = OutsideWindowError
    elif is_retryable(error_code=code, http_status=http_status):
        kind = GraphRetryableError
    return kind(
        title,
        code=code,
        http_status=http_status,
        details=details,
        fbtrace_id=str(error.get("fbtrace_id", "")),
    )
