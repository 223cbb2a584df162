"""Small HTTP helpers shared by the views and middleware."""

import ipaddress

from django.conf import settings


def client_ip(request) -> str | None:
    """The client's address: REMOTE_ADDR, or behind RATE_LIMIT_TRUSTED_PROXIES reverse
    proxies, the address the outermost trusted proxy saw (its X-Forwarded-For entry)."""
    remote = request.META.get("REMOTE_ADDR", "") or None
    proxies = int(settings.RATE_LIMIT_TRUSTED_PROXIES)
    if proxies <= 0:
        return remote
    forwarded = [part.strip() for part in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")]
    forwarded = [part for part in forwarded if part]
    if len(forwarded) < proxies:
        return remote
    try:
        return str(ipaddress.ip_address(forwarded[-proxies]))
    except ValueError:
        return remote
