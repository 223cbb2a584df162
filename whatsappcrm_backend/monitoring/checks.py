"""Deploy checks (``manage.py check --deploy``): operations settings worth a second look.

They are ``Info``, not warnings: the embedded setup (one process, no Redis) is legitimate,
and ``check --deploy --fail-level WARNING`` must keep passing there.
"""

from django.conf import settings
from django.core.checks import Info, Tags, register

RATE_LIMIT_MIDDLEWARE = "monitoring.ratelimit.RateLimitMiddleware"


@register(Tags.security, deploy=True)
def operations_settings(app_configs, **kwargs):
    messages = []
    if not settings.METRICS_TOKEN:
        messages.append(
            Info(
                "METRICS_TOKEN is not set: /metrics answers anyone who can reach it.",
                hint="Set METRICS_TOKEN and give Prometheus the same bearer token, or keep "
                "/metrics off the public proxy.",
                id="monitoring.I001",
            )
        )
    backend = settings.CACHES.get("default", {}).get("BACKEND", "")
    if backend.endswith(("LocMemCache", "DummyCache")):
        messages.append(
            Info(
                "The default cache is per process: rate limits and the once-per-period alert "
                "throttle are not shared between gunicorn workers, Celery workers or hosts.",
                hint="Set CACHE_URL=redis://... (the docker-compose file does).",
                id="monitoring.I002",
            )
        )
    if RATE_LIMIT_MIDDLEWARE not in settings.MIDDLEWARE:
        messages.append(
            Info(
                "Webhook rate limits are off: RateLimitMiddleware is not in MIDDLEWARE.",
                hint=f"Add {RATE_LIMIT_MIDDLEWARE!r} after SecurityMiddleware.",
                id="monitoring.I003",
            )
        )
    return messages
