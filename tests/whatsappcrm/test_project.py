"""Project-level behaviour: health, settings from the environment, deploy checks."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
MANAGE = REPO / "whatsappcrm_backend" / "manage.py"
PRODUCTION_ENV = {
    "DEBUG": "false",
    "SECRET_KEY": "x" * 20 + "production-like-secret-key-0123456789-abcdefghijklmnop",
    "SITE_URL": "https://backend.kalaisafaris.com",
    "ALLOWED_HOSTS": "backend.kalaisafaris.com",
    "FIELD_ENCRYPTION_KEY": "dGVzdC1vbmx5LWZpZWxkLWVuY3J5cHRpb24ta2V5ISE=",
}


def _manage(*args, env):
    # Only what a real process would have: none of the test settings' defaults.
    clean = {k: os.environ[k] for k in ("PATH", "HOME", "LANG") if k in os.environ}
    clean["DJANGO_SETTINGS_MODULE"] = "whatsappcrm.settings"
    clean.update(env)
    return subprocess.run(
        [sys.executable, str(MANAGE), *args],
        env=clean,
        capture_output=True,
        text=True,
        cwd=REPO / "var" if (REPO / "var").is_dir() else REPO,
        timeout=120,
    )


@pytest.mark.django_db
def test_healthz_reports_database(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "database": "ok"}
    assert response["X-Request-ID"]


def test_check_deploy_passes_with_production_settings():
    result = _manage("check", "--deploy", "--fail-level", "WARNING", env=PRODUCTION_ENV)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("missing", ["SECRET_KEY", "SITE_URL", "FIELD_ENCRYPTION_KEY"])
def test_refuses_to_start_without_required_settings(missing):
    env = {**PRODUCTION_ENV, missing: ""}
    result = _manage("check", env=env)
    assert result.returncode != 0
    assert missing in result.stderr


def test_debug_starts_without_secrets():
    env = {k: "" for k in PRODUCTION_ENV} | {"DEBUG": "true"}
    result = _manage("check", env=env)
    assert result.returncode == 0, result.stderr


def test_encrypted_field_round_trip_and_rotation(settings):
    from cryptography.fernet import Fernet

    from whatsappcrm import fields

    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    settings.FIELD_ENCRYPTION_KEY = [old]
    stored = fields.encrypt("integration-key-secret")
    assert "integration-key-secret" not in stored and stored.startswith("fernet:")
    settings.FIELD_ENCRYPTION_KEY = [new, old]  # rotation: new key first, old still decrypts
    assert fields.decrypt(stored) == "integration-key-secret"
    settings.FIELD_ENCRYPTION_KEY = [new]
    from django.core.exceptions import ImproperlyConfigured

    with pytest.raises(ImproperlyConfigured):
        fields.decrypt(stored)


def test_every_setting_read_from_the_environment_is_documented():
    import re

    settings_py = (REPO / "whatsappcrm_backend" / "whatsappcrm" / "settings.py").read_text()
    read = set(re.findall(r'env(?:\.\w+)?\(\s*"([A-Z_0-9]+)"', settings_py))
    example = (REPO / ".env.example").read_text()
    documented = set(re.findall(r"^#?\s*([A-Z_0-9]+)=", example, re.M))
    assert len(read) > 40
    assert read <= documented, sorted(read - documented)
