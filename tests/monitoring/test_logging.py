"""LOG_FORMAT=json: one JSON object per line, request id, payment fields, nothing secret."""

import io
import json
import logging
import re
from pathlib import Path

import pytest

from whatsappcrm.logging import (
    JsonFormatter,
    RedactFilter,
    RequestIdFilter,
    mask_phone,
    redact,
)

REPO = Path(__file__).resolve().parents[2]
SECRET = "0f3a5c2e-8b1d-4e6f-9a7c-2d4b6e8f0a1c"


@pytest.fixture
def json_lines():
    """The production handler (filters + JSON formatter) on the root logger, into a buffer."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(RequestIdFilter())
    handler.addFilter(RedactFilter())
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    old_level = root.level
    root.addHandler(handler)
    root.setLevel(logging.INFO)

    def read():
        return [json.loads(line) for line in stream.getvalue().splitlines()]

    read.raw = stream.getvalue
    yield read
    root.removeHandler(handler)
    root.setLevel(old_level)


def test_payment_line_is_one_json_object_with_its_fields(json_lines):
    logging.getLogger("customer_data.services").info(
        "Payment %s marked as successful",
        "7c9e6679-7425-40de-944b-e07fc1f90ae7",
        extra={
            "payment_id": "7c9e6679-7425-40de-944b-e07fc1f90ae7",
            "booking_reference": "BK-7KQ2M9XD",
            "paynow_reference": "15765841",
        },
    )
    (line,) = json_lines()
    assert line["message"] == "Payment 7c9e6679-7425-40de-944b-e07fc1f90ae7 marked as successful"
    assert line["payment_id"] == "7c9e6679-7425-40de-944b-e07fc1f90ae7"
    assert line["booking_reference"] == "BK-7KQ2M9XD"
    assert line["paynow_reference"] == "15765841"  # a number, but not a phone number
    assert line["request_id"] == "-"
    assert line["level"] == "INFO" and line["logger"] == "customer_data.services"


def test_phone_numbers_are_masked_to_the_last_three_digits(json_lines):
    log = logging.getLogger("paynow_integration.services")
    log.info("Prompt sent to %s", "0771234567")
    log.info("Prompt sent to +263 77 123 4567 and 263771234567")
    log.info("Contact wrote", extra={"contact": "447700900123", "phone_number": "0771234567"})
    raw = json_lines.raw()
    for number in ("0771234567", "771234567", "263771234567", "447700900123", "77 123 4567"):
        assert number not in raw
    lines = json_lines()
    assert lines[0]["message"] == "Prompt sent to *******567"
    assert lines[2]["contact"] == "*********123"
    assert lines[2]["phone_number"] == "*******567"


def test_secrets_never_appear(json_lines, settings):
    from whatsappcrm.logging import register_secret

    settings.METRICS_TOKEN = "metrics-token-value-123"
    register_secret(SECRET)  # as a decrypted credential would be
    log = logging.getLogger("paynow_integration.sdk")
    log.info("Paynow request: id=20817&integration_key=%s&amount=10.00", SECRET)
    log.warning("Calling Graph with Authorization: Bearer EAAGm0PX4ZCpsBA1234567890")
    log.info("Config", extra={"integration_key": SECRET, "access_token": "EAAG-token"})
    log.info("Broker at redis://user:hunter2-password@redis:6379/0")
    log.info("Scraped with %s", "metrics-token-value-123")
    try:
        raise ValueError(f"bad key {SECRET}")
    except ValueError:
        log.exception("Initiation failed for app_secret=abcdef0123456789")
    raw = json_lines.raw()
    for secret in (
        SECRET,
        "EAAGm0PX4ZCpsBA1234567890",
        "EAAG-token",
        "hunter2-password",
        "metrics-token-value-123",
        "abcdef0123456789",
    ):
        assert secret not in raw
    lines = json_lines()
    assert lines[0]["message"] == "Paynow request: id=20817&integration_key=***&amount=10.00"
    assert lines[2]["integration_key"] == "***"
    assert "Traceback" in lines[-1]["exc_info"]


def test_guide_log_lines_carry_request_id_and_fields(client, db, json_lines, settings):
    """A real request: the IPN view's line has the request id the response carries."""
    response = client.post(
        "/crm-api/paynow/ipn/",
        data="reference=PAY-X&status=Paid",
        content_type="text/plain",
        HTTP_X_REQUEST_ID="req-abc-123",
    )
    assert response["X-Request-ID"] == "req-abc-123"
    lines = json_lines()
    received = [line for line in lines if line["message"] == "Paynow IPN received"]
    assert received, lines
    assert received[0]["request_id"] == "req-abc-123"
    assert received[0]["source"] == "ipn"


def test_state_machine_line_exact_with_payment_fields(db, make_booking, paynow_config, json_lines):
    from customer_data import services
    from customer_data.models import PaymentEvent
    from paynow_integration.models import PaynowAttempt
    from tests.customer_data.support import pay

    booking = make_booking(total="100.00")
    payment = pay(booking, "40.00", "paynow_ecocash")
    services.transition_payment(
        payment_id=payment.pk, new_status="successful", source=PaymentEvent.Source.IPN
    )
    lines = [line for line in json_lines() if line["logger"] == "customer_data.services"]
    (line,) = [x for x in lines if x["message"] == f"Payment {payment.pk} marked as successful"]
    assert line["payment_id"] == str(payment.pk)
    assert line["booking_reference"] == booking.booking_reference
    # The gateway adds its own reference: `grep -i paynow` finds the guide's line.
    assert line["paynow_reference"] == PaynowAttempt.objects.get(payment=payment).paynow_reference


GUIDE_LINES = (
    "Paynow payment webhook called",
    "Payment initiated successfully",
    "Paynow IPN received",
    "marked as successful",  # "Payment %s marked as successful"
)


@pytest.mark.parametrize("line", GUIDE_LINES)
def test_guide_log_lines_exist_verbatim_in_the_code(line):
    sources = (REPO / "whatsappcrm_backend").rglob("*.py")
    found = any(line in path.read_text() for path in sources if "migrations" not in path.parts)
    assert found, f"the guide's log line {line!r} is not logged anywhere"


def test_text_format_keeps_fields_and_masks(settings):
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "To %s", ("0771234567",), None)
    record.payment_id = "p-1"
    record.contact = "263771234567"
    RequestIdFilter().filter(record)
    RedactFilter().filter(record)
    text = logging.Formatter("%(message)s [%(request_id)s]%(extra_fields)s").format(record)
    assert text == "To *******567 [-] payment_id=p-1 contact=*********567"


def test_mask_and_redact_helpers():
    assert mask_phone("+263 77 123 4567") == "*********567"
    assert mask_phone("12") == "***"
    # UUIDs, references, amounts and short numbers survive.
    text = "Payment 7c9e6679-7425-40de-944b-123456789012 BK-7KQ2M9XD 15765841 amount 100.00"
    assert redact(text) == text
    assert re.fullmatch(r"\*+567", redact("263771234567"))


def test_a_decrypted_credential_is_masked_by_value(db, json_lines):
    """Reading a secret from its encrypted field registers it: a careless log line is safe."""
    from paynow_integration.models import PaynowConfig

    key = "a7c1e3f5-careless-logging-of-a-real-key"
    PaynowConfig.objects.create(integration_id="1", integration_key=key, is_active=True)
    loaded = PaynowConfig.objects.get().integration_key  # decrypts
    logging.getLogger("paynow_integration").warning("debugging with key %s", loaded)
    assert key not in json_lines.raw()
    assert "debugging with key" in json_lines.raw()


def test_djangos_own_response_lines_carry_the_request_id(client, db, json_lines):
    response = client.get("/crm-api/paynow/return/", HTTP_X_REQUEST_ID="req-404-check")
    assert response.status_code == 404
    lines = [line for line in json_lines() if line["logger"] == "django.request"]
    assert lines and all(line["request_id"] == "req-404-check" for line in lines)
