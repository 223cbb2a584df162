"""Paynow admin (masked key, one active config), the return page, and the system check."""

import re

import pytest
from django.core.management import call_command
from django.db import IntegrityError, connection, transaction
from django.urls import reverse

from paynow_integration.models import PaynowConfig
from tests.paynow_integration.support import INTEGRATION_KEY, initiate

pytestmark = pytest.mark.django_db


def test_key_is_encrypted_at_rest(paynow_config):
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT integration_key FROM paynow_integration_paynowconfig WHERE id = %s",
            [paynow_config.pk],
        )
        stored = cursor.fetchone()[0]
    assert INTEGRATION_KEY not in stored and stored.startswith("fernet:")
    assert PaynowConfig.objects.get().integration_key == INTEGRATION_KEY


def test_admin_masks_key_and_keeps_it_when_left_blank(admin_client, paynow_config):
    url = reverse("admin:paynow_integration_paynowconfig_change", args=[paynow_config.pk])
    page = admin_client.get(url).content.decode()
    assert INTEGRATION_KEY not in page
    listing = admin_client.get(reverse("admin:paynow_integration_paynowconfig_changelist"))
    assert INTEGRATION_KEY not in listing.content.decode()
    response = admin_client.post(
        url,
        {
            "integration_id": "20817",
            "integration_key": "",
            "api_base_url": paynow_config.api_base_url,
            "auth_email": "new@kalaisafaris.example",
            "mode": "test",
            "is_active": "on",
        },
    )
    assert response.status_code == 302
    paynow_config.refresh_from_db()
    assert paynow_config.integration_key == INTEGRATION_KEY
    assert paynow_config.auth_email == "new@kalaisafaris.example"


def test_admin_mode_is_explained_to_staff_and_saved(admin_client, paynow_config):
    url = reverse("admin:paynow_integration_paynowconfig_change", args=[paynow_config.pk])
    page = admin_client.get(url).content.decode()
    assert '<option value="test" selected>Test</option>' in page
    assert '<option value="live">Live</option>' in page
    help_text = PaynowConfig._meta.get_field("mode").help_text
    assert "Paynow starts every new integration in test mode" in help_text
    assert help_text in page
    assert not re.search(r"\b[A-Z]{2,}_[A-Z_]+\b", help_text)  # no setting names for staff
    response = admin_client.post(
        url,
        {
            "integration_id": paynow_config.integration_id,
            "integration_key": "",
            "api_base_url": paynow_config.api_base_url,
            "auth_email": paynow_config.auth_email,
            "mode": "live",
            "is_active": "on",
        },
    )
    assert response.status_code == 302
    paynow_config.refresh_from_db()
    assert paynow_config.mode == PaynowConfig.Mode.LIVE


def test_guide_admin_path_exists(admin_client):
    index = admin_client.get(reverse("admin:index")).content.decode()
    assert "Paynow Integration" in index and "Paynow Configurations" in index


def test_only_one_active_config(paynow_config):
    with pytest.raises(IntegrityError), transaction.atomic():
        PaynowConfig.objects.create(integration_id="2", integration_key="k", is_active=True)
    PaynowConfig.objects.create(integration_id="2", integration_key="k", is_active=False)


def test_admin_explains_second_active_config(admin_client, paynow_config):
    response = admin_client.post(
        reverse("admin:paynow_integration_paynowconfig_add"),
        {
            "integration_id": "2",
            "integration_key": "k",
            "api_base_url": paynow_config.api_base_url,
            "is_active": "on",
        },
    )
    assert "Only one can be active" in response.content.decode().replace("only one", "Only one")
    assert PaynowConfig.objects.count() == 1


def test_return_page_shows_status_by_reference(client, paynow_config, booking_200):
    payment = initiate(booking_200, phone="0772222222").payment
    page = client.get("/crm-api/paynow/return/", {"reference": payment.reference})
    assert page.status_code == 200
    assert booking_200.booking_reference in page.content.decode()
    assert "We are still confirming your payment." in page.content.decode()


@pytest.mark.parametrize(
    "query",
    [{}, {"reference": "PAY-GUESSED00000"}, {"reference": "x" * 500}, {"reference": "\x00"}],
)
def test_return_page_reveals_nothing_without_the_reference(client, query, make_booking):
    make_booking()
    page = client.get("/crm-api/paynow/return/", query)
    assert page.status_code == 404
    assert "BK-" not in page.content.decode()


def test_system_check_warns_without_config(db, capsys):
    from django.core.management.base import SystemCheckError  # noqa: F401

    call_command("check", "--database", "default")
    assert "paynow_integration.W001" in capsys.readouterr().err


def test_system_check_quiet_with_config(paynow_config, capsys):
    call_command("check", "--database", "default")
    assert "paynow_integration.W001" not in capsys.readouterr().err


def test_configure_paynow_command_reads_key_from_environment(db, monkeypatch, capsys):
    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match="PAYNOW_INTEGRATION_KEY"):
        call_command("configure_paynow", "--integration-id", "1")
    monkeypatch.setenv("PAYNOW_INTEGRATION_KEY", "key-one")
    call_command("configure_paynow", "--integration-id", "1", "--auth-email", "m@example.com")
    monkeypatch.setenv("PAYNOW_INTEGRATION_KEY", "key-two")
    call_command("configure_paynow", "--integration-id", "2")
    call_command("configure_paynow", "--integration-id", "2")  # idempotent
    active = PaynowConfig.objects.get(is_active=True)
    assert (active.integration_id, active.integration_key) == ("2", "key-two")
    assert PaynowConfig.objects.count() == 2
    assert "key-two" not in capsys.readouterr().out
