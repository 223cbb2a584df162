"""Readiness checks for `/readyz`: each says whether it passed and whether it is required.

The body is public (load balancers call it), so a failing check reports only the kind of
error; the full message goes to the log.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from django.apps import apps
from django.conf import settings
from django.db import connection

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class CheckResult:
    name: str
    ok: bool
    required: bool = True
    detail: str = ""

    def as_dict(self) -> dict:
        body: dict = {"status": "ok" if self.ok else "error", "required": self.required}
        if self.detail:
            body["detail"] = self.detail
        return body


def _failure(name: str, exc: Exception, *, required: bool = True) -> CheckResult:
    logger.warning("Readiness check %s failed: %s: %s", name, type(exc).__name__, exc)
    return CheckResult(name, False, required, type(exc).__name__)


def check_database() -> CheckResult:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            ok = cursor.fetchone() == (1,)
        return CheckResult("database", ok, detail="" if ok else "unexpected answer")
    except Exception as exc:
        return _failure("database", exc)


def check_broker() -> CheckResult:
    """A real connection to the Celery broker, with a short timeout; skipped without one."""
    url = settings.CELERY_BROKER_URL or ""
    if not url:
        return CheckResult("broker", True, required=False, detail="not configured (tasks eager)")
    from kombu import Connection

    timeout = float(settings.HEALTH_BROKER_TIMEOUT)
    options = {
        **(settings.CELERY_BROKER_TRANSPORT_OPTIONS),
        "socket_connect_timeout": timeout,
        "socket_timeout": timeout,
        "max_retries": 0,
    }
    try:
        with Connection(url, connect_timeout=timeout, transport_options=options) as conn:
            conn.ensure_connection(
                max_retries=1, interval_start=0, interval_step=0, interval_max=0, timeout=timeout
            )
        return CheckResult("broker", True)
    except Exception as exc:
        return _failure("broker", exc)


def check_cache() -> CheckResult:
    """The shared cache (rate limits, alert throttling). Not required: both fail open."""
    from django.core.cache import cache

    try:
        cache.set("monitoring:readyz", "1", timeout=10)
        ok = cache.get("monitoring:readyz") == "1"
        return CheckResult("cache", ok, required=False, detail="" if ok else "value not kept")
    except Exception as exc:
        return _failure("cache", exc, required=False)


def _active_config(label: str, name: str, *, required: bool) -> CheckResult:
    try:
        model = apps.get_model(label)
    except LookupError:
        return CheckResult(name, False, required, "model not installed")
    try:
        ok = model.objects.filter(is_active=True).exists()
    except Exception as exc:
        return _failure(name, exc, required=required)
    return CheckResult(name, ok, required, "" if ok else "no active configuration")


def check_paynow_config() -> CheckResult:
    """An active PaynowConfig; only informative while PAYNOW_ENABLED is off (the rollback)."""
    required = bool(settings.PAYNOW_ENABLED)
    return _active_config("paynow_integration.PaynowConfig", "paynow_config", required=required)


def check_meta_config() -> CheckResult:
    return _active_config("meta_integration.MetaAppConfig", "meta_config", required=True)


def run_readiness_checks() -> list[CheckResult]:
    results = [check_database()]
    if results[0].ok:
        results += [check_paynow_config(), check_meta_config()]
    else:
        results += [
            CheckResult(
                "paynow_config",
                False,
                required=bool(settings.PAYNOW_ENABLED),
                detail="database unavailable",
            ),
            CheckResult("meta_config", False, detail="database unavailable"),
        ]
    results += [check_broker(), check_cache()]
    return results
