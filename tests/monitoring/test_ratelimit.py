"""Per-IP rate limits on the webhook endpoints, counted in the shared cache."""

import logging

import pytest

MIDDLEWARE = "monitoring.ratelimit.RateLimitMiddleware"
IPN = "/crm-api/paynow/ipn/"
META = "/crm-api/meta/webhook/"
FLOW = "/crm-api/flows/paynow-payment-webhook/"


@pytest.fixture
def limited(settings):
    """The middleware wired as the lead will wire it, with a small limit for the test."""
    if MIDDLEWARE not in settings.MIDDLEWARE:
        settings.MIDDLEWARE = [settings.MIDDLEWARE[0], MIDDLEWARE, *settings.MIDDLEWARE[1:]]
    settings.RATE_LIMIT_ENABLED = True  # tests/settings.py switches it off for other tests
    settings.RATE_LIMIT_REQUESTS = 3
    settings.RATE_LIMIT_META_REQUESTS = 3
    settings.RATE_LIMIT_WINDOW = 60
    settings.RATE_LIMIT_TRUSTED_PROXIES = 0
    return settings


def post(client, path, ip="203.0.113.5", **extra):
    return client.post(path, data="x=1", content_type="text/plain", REMOTE_ADDR=ip, **extra)


@pytest.mark.parametrize("path", [IPN, META, FLOW])
def test_over_the_limit_answers_429(client, db, limited, path):
    codes = [post(client, path).status_code for _ in range(3)]
    assert 429 not in codes  # the view's own answers (e.g. 400/403), not the limiter's
    refused = post(client, path)
    assert refused.status_code == 429
    assert 1 <= int(refused["Retry-After"]) <= 60


def test_each_ip_and_endpoint_counts_separately(client, db, limited):
    for _ in range(3):
        post(client, IPN)
    assert post(client, IPN).status_code == 429
    assert post(client, IPN, ip="198.51.100.7").status_code != 429  # another client
    assert post(client, META).status_code != 429  # another endpoint


def test_other_paths_are_not_limited(client, db, limited):
    for _ in range(10):
        assert client.get("/healthz", REMOTE_ADDR="203.0.113.5").status_code == 200


def test_one_log_line_per_client_and_window(client, db, limited, caplog):
    caplog.set_level(logging.WARNING, logger="monitoring.ratelimit")
    for _ in range(8):
        post(client, IPN)
    lines = [r for r in caplog.records if r.name == "monitoring.ratelimit"]
    assert len(lines) == 1
    assert "Rate limit exceeded: /crm-api/paynow/ipn/ from 203.0.113.5" in lines[0].getMessage()


def test_default_is_generous(client, db, settings):
    from monitoring import ratelimit

    assert ratelimit.rules() == {IPN: 120, META: 1200, FLOW: 1200}
    settings.RATE_LIMIT_RULES = {META: 600}
    assert ratelimit.rules()[META] == 600


def test_client_ip_behind_trusted_proxies(rf, settings):
    from monitoring.ratelimit import client_ip

    request = rf.post(IPN, REMOTE_ADDR="10.0.0.2", HTTP_X_FORWARDED_FOR="1.2.3.4, 203.0.113.9")
    settings.RATE_LIMIT_TRUSTED_PROXIES = 0
    assert client_ip(request) == "10.0.0.2"  # the header is not trusted by default
    settings.RATE_LIMIT_TRUSTED_PROXIES = 1
    assert client_ip(request) == "203.0.113.9"  # what our nginx saw; 1.2.3.4 may be forged
    settings.RATE_LIMIT_TRUSTED_PROXIES = 3
    assert client_ip(request) == "10.0.0.2"
    garbage = rf.post(IPN, REMOTE_ADDR="10.0.0.2", HTTP_X_FORWARDED_FOR="not-an-ip")
    settings.RATE_LIMIT_TRUSTED_PROXIES = 1
    assert client_ip(garbage) == "10.0.0.2"


def test_disabled(client, db, limited):
    limited.RATE_LIMIT_ENABLED = False
    for _ in range(6):
        assert post(client, IPN).status_code != 429


def test_fails_open_when_the_cache_is_down(client, db, limited, monkeypatch, caplog):
    from monitoring import ratelimit

    class DownCache:
        def add(self, *args, **kwargs):
            raise ConnectionError("redis down")

    monkeypatch.setattr(ratelimit, "cache", DownCache())
    for _ in range(5):
        assert post(client, IPN).status_code != 429
    assert "Rate limit not checked" in caplog.text


@pytest.mark.redis
def test_counts_in_redis(client, db, limited):
    """With the shared cache on Redis, the same counter serves every process."""
    from django.conf import settings as live

    url = live.CELERY_BROKER_URL.rsplit("/", 1)[0] + "/8"
    limited.CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": url}
    }
    from django.core.cache import cache

    cache.clear()
    try:
        for _ in range(3):
            post(client, IPN, ip="192.0.2.44")
        assert post(client, IPN, ip="192.0.2.44").status_code == 429
        assert any(key for key in cache._cache.get_client().keys("*ratelimit*"))
    finally:
        cache.clear()
