import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from meta_integration.models import MetaAppConfig

pytestmark = pytest.mark.django_db


def test_configure_meta_reads_secrets_from_environment(monkeypatch, capsys):
    with pytest.raises(CommandError, match="META_ACCESS_TOKEN"):
        call_command("configure_meta", "--phone-number-id", "111")
    monkeypatch.setenv("META_ACCESS_TOKEN", "token-1")
    monkeypatch.setenv("META_APP_SECRET", "secret-1")
    monkeypatch.setenv("META_VERIFY_TOKEN", "verify-1")
    call_command(
        "configure_meta", "--phone-number-id", "111", "--graph-base-url", "http://127.0.0.1:8102"
    )
    monkeypatch.setenv("META_APP_SECRET", "secret-2")
    call_command("configure_meta", "--phone-number-id", "111")  # update in place
    config = MetaAppConfig.objects.get()
    assert (config.app_secret, config.access_token) == ("secret-2", "token-1")
    assert config.graph_base_url == "http://127.0.0.1:8102" and config.is_active
    out = capsys.readouterr().out
    assert "secret" not in out and "token-1" not in out
