"""Staff alerts: fire when the rule says so, once and only once per period."""

from datetime import timedelta

import pytest
from django.core import mail
from django.utils import timezone

from monitoring import alerts
from tests.monitoring.conftest import _payment


@pytest.fixture
def alert_settings(settings):
    settings.STAFF_ALERT_EMAILS = ["ops@kalaisafaris.example"]
    settings.STAFF_ALERT_WHATSAPP_NUMBERS = []
    settings.PAYMENT_SUCCESS_ALERT_THRESHOLD = 0.8
    settings.PAYMENT_ALERT_MIN_PAYMENTS = 5
    settings.ALERT_PERIOD = 3600
    return settings


def _last_hour(booking, *statuses):
    for status in statuses:
        _payment(booking, "paynow_ecocash", status, age=timedelta(minutes=10))


@pytest.fixture
def booking(make_booking):
    return make_booking(total="10000.00")


def test_low_success_rate_alert_fires_once_per_period(alert_settings, booking):
    _last_hour(booking, "successful", "successful", "failed", "failed", "cancelled")
    assert alerts.run_alert_checks() == ["payment_success_rate"]
    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    assert message.to == ["ops@kalaisafaris.example"]
    assert "40%" in message.subject
    assert "2/5" in message.body
    # The next runs within the period send nothing more.
    assert alerts.run_alert_checks() == []
    assert alerts.run_alert_checks() == []
    assert len(mail.outbox) == 1


def test_alert_again_after_the_period(alert_settings, booking):
    from django.core.cache import cache

    _last_hour(booking, "failed", "failed", "failed", "failed", "failed")
    assert alerts.run_alert_checks() == ["payment_success_rate"]
    cache.delete(f"{alerts.CACHE_PREFIX}:payment_success_rate")  # the period ran out
    assert alerts.run_alert_checks() == ["payment_success_rate"]
    assert len(mail.outbox) == 2


def test_no_alert_with_too_few_payments(alert_settings, booking):
    _last_hour(booking, "failed", "failed", "failed", "failed")  # 4 < 5
    assert alerts.run_alert_checks() == []
    assert mail.outbox == []


def test_no_alert_at_or_above_threshold(alert_settings, booking):
    _last_hour(booking, "successful", "successful", "successful", "successful", "failed")
    assert alerts.run_alert_checks() == []


def test_older_payments_do_not_count(alert_settings, booking):
    for _ in range(6):
        _payment(booking, "paynow_ecocash", "failed", age=timedelta(hours=2))
    assert alerts.run_alert_checks() == []


def test_ipn_silence_alert(alert_settings, booking):
    from paynow_integration.models import PaynowStatusUpdate

    alert_settings.IPN_SILENCE_ALERT_MINUTES = 30
    alert_settings.IPN_ALERT_PENDING_MINUTES = 10
    _payment(booking, "paynow_ecocash", "pending", age=timedelta(minutes=5))
    assert alerts.run_alert_checks() == []  # pending, but not for long
    _payment(booking, "paynow_ecocash", "pending", age=timedelta(minutes=12))
    ipn = PaynowStatusUpdate.objects.create(source="ipn", valid=True)
    assert alerts.run_alert_checks() == []  # an IPN arrived just now
    PaynowStatusUpdate.objects.filter(pk=ipn.pk).update(
        received_at=timezone.now() - timedelta(minutes=45)
    )
    assert alerts.run_alert_checks() == ["ipn_silence"]
    assert "No Paynow IPN since" in mail.outbox[0].subject
    assert alerts.run_alert_checks() == []
    assert len(mail.outbox) == 1


def test_falls_back_to_admins(alert_settings, booking):
    alert_settings.STAFF_ALERT_EMAILS = []
    alert_settings.ADMINS = [("Ops", "admin@kalaisafaris.example")]
    _last_hour(booking, "failed", "failed", "failed", "failed", "failed")
    alerts.run_alert_checks()
    assert mail.outbox[0].to == ["admin@kalaisafaris.example"]


def test_whatsapp_alert_queued_to_staff_numbers(alert_settings, booking):
    from conversations.models import Message

    alert_settings.STAFF_ALERT_WHATSAPP_NUMBERS = ["+263 77 200 0001"]
    _last_hour(booking, "failed", "failed", "failed", "failed", "failed")
    alerts.run_alert_checks()
    message = Message.objects.get(flow_step="staff_alert")
    assert message.contact.whatsapp_id == "263772000001"
    assert message.direction == "out" and message.status == "pending"
    assert "success rate" in message.text


def test_whatsapp_alert_as_template(alert_settings, booking):
    from conversations.models import Message

    alert_settings.STAFF_ALERT_WHATSAPP_NUMBERS = ["263772000001"]
    alert_settings.STAFF_ALERT_WHATSAPP_TEMPLATE = "staff_alert"
    _last_hour(booking, "failed", "failed", "failed", "failed", "failed")
    alerts.run_alert_checks()
    payload = Message.objects.get(flow_step="staff_alert").payload
    assert payload["type"] == "template"
    assert payload["template"]["name"] == "staff_alert"


def test_celery_task_runs_the_checks(alert_settings, booking):
    from monitoring.tasks import check_payment_alerts

    _last_hour(booking, "failed", "failed", "failed", "failed", "failed")
    assert check_payment_alerts.delay().get() == ["payment_success_rate"]
    assert len(mail.outbox) == 1


# --- message templates the system sends --------------------------------------------------


def _template_news(client, config_waba: str, shape: str) -> None:
    """Meta's template status webhook (a fixture from tests/fixtures/meta/webhooks), signed."""
    import json
    from pathlib import Path

    from django.urls import reverse

    from meta_integration.signature import compute_signature
    from tests.meta_integration import whatsapp_helpers as h

    path = Path(h.FIXTURES) / "webhooks" / f"{shape}.json"
    data = json.loads(path.read_text())
    data["entry"][0]["id"] = config_waba
    body = json.dumps(data).encode()
    response = client.post(
        reverse("meta_integration:webhook"),
        data=body,
        content_type="application/json",
        HTTP_X_HUB_SIGNATURE_256=compute_signature(h.APP_SECRET, body),
    )
    assert response.status_code == 200


@pytest.fixture
def whatsapp_number(db):
    from meta_integration.models import MetaAppConfig
    from tests.meta_integration import whatsapp_helpers as h

    return MetaAppConfig.objects.create(
        phone_number_id=h.PHONE_NUMBER_ID, waba_id=h.WABA_ID, app_secret=h.APP_SECRET
    )


def test_a_paused_template_the_system_sends_raises_an_alert(
    alert_settings, whatsapp_number, client
):
    alert_settings.WHATSAPP_REENGAGEMENT_TEMPLATE = "reengage_traveller"
    _template_news(client, whatsapp_number.waba_id, "meta_template_paused")
    assert alerts.run_alert_checks() == ["template_unsendable:reengage_traveller"]
    [message] = mail.outbox
    assert message.subject.endswith("WhatsApp template reengage_traveller cannot be sent")
    assert "reengage_traveller (en): Paused" in message.body
    assert alerts.run_alert_checks() == []  # once per period


def test_a_rejected_template_nobody_sends_raises_nothing_and_reinstated_ends_it(
    alert_settings, whatsapp_number, client
):
    alert_settings.WHATSAPP_REENGAGEMENT_TEMPLATE = "reengage_traveller"
    _template_news(client, whatsapp_number.waba_id, "pywa_template_rejected")  # another one
    assert alerts.run_alert_checks() == []
    _template_news(client, whatsapp_number.waba_id, "meta_template_disabled")
    _template_news(client, whatsapp_number.waba_id, "meta_template_reinstated")
    assert alerts.run_alert_checks() == []
    assert mail.outbox == []


def test_the_staff_alert_template_counts_as_used(alert_settings, whatsapp_number, client):
    alert_settings.STAFF_ALERT_WHATSAPP_TEMPLATE = "booking_reminder_promo"
    _template_news(client, whatsapp_number.waba_id, "pywa_template_rejected")
    assert alerts.run_alert_checks() == ["template_unsendable:booking_reminder_promo"]
    assert "reason INVALID_FORMAT" in mail.outbox[0].body
