"""/healthz (alive) and /readyz (database, broker, Paynow and Meta configuration)."""

import pytest

STOPPED_REDIS = "redis://127.0.0.1:1/0"  # nothing listens on port 1


@pytest.fixture
def configured(db):
    from meta_integration.models import MetaAppConfig
    from paynow_integration.models import PaynowConfig

    PaynowConfig.objects.create(integration_id="20817", integration_key="k", is_active=True)
    MetaAppConfig.objects.create(phone_number_id="1100", app_secret="s", is_active=True)


def test_healthz_unchanged(client, db):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "database": "ok"}


def test_readyz_ok_without_broker(client, configured, settings):
    settings.CELERY_BROKER_URL = ""
    response = client.get("/readyz")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    checks = body["checks"]
    assert checks["database"]["status"] == "ok"
    assert checks["paynow_config"]["status"] == "ok"
    assert checks["meta_config"]["status"] == "ok"
    assert checks["broker"] == {
        "status": "ok",
        "required": False,
        "detail": "not configured (tasks eager)",
    }
    assert checks["cache"]["status"] == "ok"


def test_readyz_reports_a_missing_paynow_config(client, db, settings):
    from meta_integration.models import MetaAppConfig
    from paynow_integration.models import PaynowConfig

    settings.CELERY_BROKER_URL = ""
    MetaAppConfig.objects.create(phone_number_id="1100", is_active=True)
    PaynowConfig.objects.create(integration_id="1", integration_key="k", is_active=False)
    response = client.get("/readyz")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "error"
    assert body["checks"]["paynow_config"] == {
        "status": "error",
        "required": True,
        "detail": "no active configuration",
    }
    assert body["checks"]["meta_config"]["status"] == "ok"


def test_paynow_config_not_required_while_paynow_is_off(client, db, settings):
    from meta_integration.models import MetaAppConfig

    settings.CELERY_BROKER_URL = ""
    settings.PAYNOW_ENABLED = False  # the rollback switch
    MetaAppConfig.objects.create(phone_number_id="1100", is_active=True)
    response = client.get("/readyz")
    assert response.status_code == 200
    assert response.json()["checks"]["paynow_config"]["required"] is False


def test_readyz_reports_a_missing_meta_config(client, db, settings):
    from paynow_integration.models import PaynowConfig

    settings.CELERY_BROKER_URL = ""
    PaynowConfig.objects.create(integration_id="1", integration_key="k", is_active=True)
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json()["checks"]["meta_config"]["status"] == "error"


def test_readyz_reports_a_stopped_redis(client, configured, settings, caplog):
    settings.CELERY_BROKER_URL = STOPPED_REDIS
    response = client.get("/readyz")
    assert response.status_code == 503
    broker = response.json()["checks"]["broker"]
    assert broker["status"] == "error"
    assert broker["required"] is True
    assert broker["detail"]  # the kind of error only; the message goes to the log
    assert "127.0.0.1:1" not in response.content.decode()
    assert "Readiness check broker failed" in caplog.text


def test_broker_check_is_quick_against_a_stopped_redis(configured, settings):
    import time

    from monitoring import health

    settings.CELERY_BROKER_URL = STOPPED_REDIS
    started = time.monotonic()
    assert health.check_broker().ok is False
    assert time.monotonic() - started < 5


@pytest.mark.redis
def test_readyz_with_a_running_broker(client, configured, settings):
    from django.conf import settings as live

    # The environment's real broker (CI: Redis); the check opens a real connection.
    settings.CELERY_BROKER_URL = live.CELERY_BROKER_URL
    response = client.get("/readyz")
    assert response.json()["checks"]["broker"] == {"status": "ok", "required": True}
    assert response.status_code == 200


def test_readyz_database_down(client, configured, settings, monkeypatch):
    from monitoring import health

    settings.CELERY_BROKER_URL = ""

    def broken():
        return health.CheckResult("database", False, detail="OperationalError")

    monkeypatch.setattr(health, "check_database", broken)
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json()["checks"]["paynow_config"]["detail"] == "database unavailable"
