"""Per-IP rate limits on the webhook endpoints, counted in the shared cache (Redis).

A fixed window per (endpoint, client IP): the first request of a window creates the counter
with ``cache.add`` and every request increments it atomically, so every web process and host
counts together. Over the limit the answer is 429 with ``Retry-After``, and one log line per
client and window (an attacker cannot flood the log). When the cache is unreachable the
request is let through: refusing Paynow's result URL would cost more than an unlimited minute.

Settings (all optional; see docs/OPERATIONS.md):
- ``RATE_LIMIT_ENABLED`` (True)
- ``RATE_LIMIT_REQUESTS`` (120) requests per ``RATE_LIMIT_WINDOW`` (60) seconds, per IP and
  endpoint; ``RATE_LIMIT_RULES`` ({path prefix: requests}) overrides per endpoint.
- ``RATE_LIMIT_TRUSTED_PROXIES`` (0): how many reverse proxies (nginx, a load balancer) append
  to ``X-Forwarded-For`` in front of us; the client IP is the entry that many from the right.
"""

from __future__ import annotations

import logging
import math
import time

from django.conf import settings
from django.core.cache import cache
from django.http import HttpResponse

from whatsappcrm.http import client_ip as shared_client_ip

logger = logging.getLogger(__name__)

PAYNOW_PATHS = ("/crm-api/paynow/ipn/",)
# Meta sends every webhook and flow request from a small pool of addresses, and each message
# we send comes back as up to three status webhooks: its endpoints get a higher limit.
META_PATHS = ("/crm-api/meta/webhook/", "/crm-api/flows/paynow-payment-webhook/")
DEFAULT_PATHS = PAYNOW_PATHS + META_PATHS
KEY_PREFIX = "ratelimit"


def rules() -> dict[str, int]:
    """``{path prefix: requests per window}`` for every limited endpoint."""
    requests = int(settings.RATE_LIMIT_REQUESTS)
    meta = int(settings.RATE_LIMIT_META_REQUESTS)
    configured = {path: requests for path in PAYNOW_PATHS}
    configured.update({path: meta for path in META_PATHS})
    configured.update(settings.RATE_LIMIT_RULES)
    return configured


def client_ip(request) -> str:
    """The client's address (see whatsappcrm.http.client_ip), "unknown" when there is none."""
    return shared_client_ip(request) or "unknown"


class RateLimitMiddleware:
    """Place it early in MIDDLEWARE (after SecurityMiddleware): refused requests cost little."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if settings.RATE_LIMIT_ENABLED:
            refused = self._check(request)
            if refused is not None:
                return refused
        return self.get_response(request)

    def _check(self, request) -> HttpResponse | None:
        path = request.path
        matched = next(
            ((prefix, limit) for prefix, limit in rules().items() if path.startswith(prefix)),
            None,
        )
        if matched is None:
            return None
        prefix, limit = matched
        window = max(int(settings.RATE_LIMIT_WINDOW), 1)
        ip = client_ip(request)
        now = time.time()
        bucket = int(now // window)
        key = f"{KEY_PREFIX}:{prefix}:{ip}:{bucket}"
        try:
            cache.add(key, 0, timeout=window + 5)
            try:
                count = cache.incr(key)
            except ValueError:  # expired between add and incr
                cache.set(key, 1, timeout=window + 5)
                count = 1
        except Exception as exc:
            logger.warning("Rate limit not checked (cache unavailable): %s", type(exc).__name__)
            return None
        if count <= limit:
            return None
        retry_after = max(1, math.ceil((bucket + 1) * window - now))
        if count == limit + 1:
            logger.warning(
                "Rate limit exceeded: %s from %s (%s requests per %ss)",
                prefix,
                ip,
                limit,
                window,
                extra={"client_ip": ip, "path": prefix},
            )
        response = HttpResponse("Too Many Requests\n", status=429, content_type="text/plain")
        response["Retry-After"] = str(retry_after)
        response._has_been_logged = True  # our line above; not one django.request line per hit
        return response
