"""/metrics: Prometheus text format, computed by the selectors, behind an optional token."""

import pytest
from prometheus_client.parser import text_string_to_metric_families


def samples(response):
    text = response.content.decode()
    found = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


def value(found, name, **labels):
    return found[(f"whatsappcrm_{name}", tuple(sorted(labels.items())))]


@pytest.fixture
def no_token(settings):
    settings.METRICS_TOKEN = ""


def test_metrics_parse_and_match_the_selectors(client, seeded, no_token):
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain")
    found = samples(response)
    assert value(found, "metrics_up") == 1
    assert value(found, "paynow_payments_finished", window="7d", method="all") == 7
    assert value(found, "paynow_payments_successful", window="7d", method="all") == 4
    assert value(found, "paynow_payment_success_ratio", window="7d", method="all") == (
        pytest.approx(4 / 7)
    )
    assert value(
        found, "paynow_payment_success_ratio", window="7d", method="paynow_ecocash"
    ) == pytest.approx(0.75)
    assert (
        value(
            found,
            "paynow_payments_outcome",
            window="7d",
            method="paynow_onemoney",
            status="expired",
        )
        == 1
    )
    # No InnBucks payment finished: the ratio is absent rather than a misleading 0.
    assert (
        "whatsappcrm_paynow_payment_success_ratio",
        (("method", "paynow_innbucks"), ("window", "7d")),
    ) not in found
    assert value(found, "paynow_ipn_processing_seconds", window="7d", quantile="0.5") == 0.3
    assert value(
        found, "paynow_ipn_processing_seconds", window="7d", quantile="0.95"
    ) == pytest.approx(0.88)
    assert value(found, "paynow_ipn_processing_seconds", window="7d", quantile="1") == 1.0
    assert value(found, "flow_forms", window="7d", stage="sent") == 4
    assert value(found, "flow_forms", window="7d", stage="payment_started") == 2
    assert value(found, "flow_completion_ratio", window="7d", stage="completed") == 0.25
    assert value(found, "paynow_payments_pending") == 2
    assert value(found, "paynow_payments_stuck_pending") == 1
    assert value(found, "paynow_status_updates_flagged") == 1
    assert value(found, "paynow_payments_expired", window="7d") == 1
    assert (
        value(found, "webhook_failures", window="7d", source="meta", reason="invalid_signature")
        == 1
    )
    assert (
        value(found, "webhook_failures", window="7d", source="paynow", reason="invalid_hash") == 1
    )
    assert value(found, "contacts_waiting_for_agent") == 1
    assert value(found, "outbound_messages_failed", window="7d") == 1
    assert value(found, "paynow_last_ipn_timestamp_seconds") > 0


def test_metrics_on_an_empty_database(client, db, no_token):
    found = samples(client.get("/metrics"))
    assert value(found, "metrics_up") == 1
    assert value(found, "paynow_payments_finished", window="1h", method="all") == 0


def test_metrics_token_required_when_set(client, db, settings):
    settings.METRICS_TOKEN = "s3cret-metrics-token"
    assert client.get("/metrics").status_code == 401
    wrong = client.get("/metrics", HTTP_AUTHORIZATION="Bearer nope")
    assert wrong.status_code == 401
    assert wrong["WWW-Authenticate"].startswith("Bearer")
    assert (
        client.get("/metrics", HTTP_AUTHORIZATION="Basic s3cret-metrics-token").status_code == 401
    )
    right = client.get("/metrics", HTTP_AUTHORIZATION="Bearer s3cret-metrics-token")
    assert right.status_code == 200
    assert "whatsappcrm_metrics_up 1.0" in right.content.decode()


def test_metrics_refuse_post(client, db, no_token):
    assert client.post("/metrics").status_code == 405


def test_collection_failure_is_reported_not_raised(client, db, no_token, monkeypatch):
    from monitoring import selectors

    def boom(*args, **kwargs):
        raise RuntimeError("database went away")

    monkeypatch.setattr(selectors, "payment_success_rates", boom)
    response = client.get("/metrics")
    assert response.status_code == 200
    assert value(samples(response), "metrics_up") == 0
