"""The guide's rollback (`migrate customer_data 0007`) and forward again, with existing data, and
the move of gateway state from `Payment` to `paynow_integration.PaynowAttempt`.

Rows are written as the code of each state writes them: at the latest state through the
checkout, and at older states through the historical models (the rows a deployment has).
"""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.core.management import call_command
from django.db import IntegrityError, connection, transaction
from django.db.migrations.executor import MigrationExecutor
from django.utils import timezone

from tests.customer_data.support import pay

BEFORE_THE_MOVE = [
    ("customer_data", "0009_paynow_card"),
    ("paynow_integration", "0003_paynowstatusupdate_webhook_log"),
]
MOVED = {
    "paynow_reference": "15765841",
    "poll_url": "https://www.paynow.co.zw/Interface/CheckPayment/?guid=abc",
    "merchant_trace": "0123456789abcdef0123456789abcdef",
    "gateway_status": "Sent",
    "instructions": "Dial *151*2*4# and enter your PIN",
    "authorization_code": "",
    "check_attempts": 3,
}


def _latest(app="customer_data"):
    executor = MigrationExecutor(connection)
    return next(key for key in executor.loader.graph.leaf_nodes() if key[0] == app)[1]


def _apps_at(*targets):
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    return executor.loader.project_state(list(targets)).apps


def _migrate_to_latest():
    call_command("migrate", verbosity=0)


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_rollback_to_0007_and_forward_keeps_non_paynow_payments(make_booking):
    from paynow_integration.models import PaynowConfig, PaynowStatusUpdate

    booking = make_booking(total="200.00")
    cash = pay(booking, "20.00", "cash", source="staff")
    proof = pay(booking, "30.00", "bank_transfer")
    PaynowConfig.objects.create(integration_id="1", integration_key="k", is_active=True)
    log = PaynowStatusUpdate.objects.create(body="reference=X", exception="Invalid IPN signature")
    try:
        call_command("migrate", "customer_data", "0007", verbosity=0)
        Payment = _apps_at(("customer_data", "0007_payment_method_known")).get_model(
            "customer_data", "Payment"
        )
        assert Payment.objects.get(pk=cash.pk).amount == Decimal("20.00")
        assert Payment.objects.get(pk=proof.pk).payment_method == "bank_transfer"
        # At 0007 the database itself refuses Paynow methods.
        with pytest.raises(IntegrityError), transaction.atomic():
            Payment.objects.create(
                booking_id=booking.pk,
                amount=Decimal("1.00"),
                payment_method="paynow_ecocash",
                reference="PAY-AT-0007",
            )
    finally:
        _migrate_to_latest()
    from customer_data.models import Payment as CurrentPayment

    assert CurrentPayment.objects.get(pk=cash.pk).payment_method == "cash"
    assert CurrentPayment.objects.get(pk=proof.pk).status == "pending"
    # The rollback touched only what the Paynow methods brought: configuration and the
    # status-update log (with its webhook-log fields) are still there.
    assert PaynowConfig.objects.filter(integration_id="1").exists()
    assert PaynowStatusUpdate.objects.get(pk=log.pk).exception == "Invalid IPN signature"


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_rollback_refuses_while_paynow_payments_exist_and_loses_nothing(
    make_booking, paynow_config
):
    from customer_data.models import Payment
    from paynow_integration.models import PaynowAttempt

    booking = make_booking(total="200.00")
    payment = pay(booking, "10.00", "paynow_onemoney", phone="0711234567")
    before = PaynowAttempt.objects.values().get(payment=payment)
    with pytest.raises(RuntimeError, match="Paynow payment"):
        call_command("migrate", "customer_data", "0007", verbosity=0)
    _migrate_to_latest()  # still (or again) at the latest state
    assert Payment.objects.filter(payment_method="paynow_onemoney").count() == 1
    after = PaynowAttempt.objects.values().get(payment=payment)
    assert after == before and after["config_id"] == paynow_config.pk


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_rollback_refuses_while_card_payments_exist(make_booking, paynow_config, settings):
    from customer_data.models import Payment

    settings.PAYNOW_CARD_ENABLED = True
    pay(make_booking(total="200.00"), "10.00", "paynow_card")
    with pytest.raises(RuntimeError, match="card"):
        call_command("migrate", "customer_data", "0008", verbosity=0)
    _migrate_to_latest()
    assert Payment.objects.get().payment_method == "paynow_card"


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_gateway_state_of_existing_payments_moves_to_the_attempt_and_back(make_booking):
    """A deployment's rows from before the move (Payment carrying Paynow's state) end up on
    PaynowAttempt, value for value; rolled back, the values return to Payment."""
    booking = make_booking(total="200.00")
    expires = timezone.now() + timedelta(minutes=10)
    try:
        call_command("migrate", *BEFORE_THE_MOVE[0], verbosity=0)
        call_command("migrate", *BEFORE_THE_MOVE[1], verbosity=0)
        OldPayment = _apps_at(*BEFORE_THE_MOVE).get_model("customer_data", "Payment")
        eco = OldPayment.objects.create(
            booking_id=booking.pk,
            amount=Decimal("50.00"),
            payment_method="paynow_ecocash",
            reference="PAY-OLDECOCASH01",
            phone_number="0771234567",
            next_check_at=expires,
            **MOVED,
        )
        inn = OldPayment.objects.create(
            booking_id=booking.pk,
            amount=Decimal("20.00"),
            payment_method="paynow_innbucks",
            reference="PAY-OLDINNBUCKS1",
            **{**MOVED, "merchant_trace": None, "authorization_code": "123456789"},
            authorization_expires=expires,
        )
        cash = OldPayment.objects.create(
            booking_id=booking.pk,
            amount=Decimal("5.00"),
            payment_method="cash",
            reference="PAY-OLDCASH00001",
        )
    finally:
        _migrate_to_latest()
    from paynow_integration.models import PaynowAttempt

    moved = {a.payment_id: a for a in PaynowAttempt.objects.all()}
    assert set(moved) == {eco.pk, inn.pk}  # a cash payment has no Paynow attempt
    assert cash.pk not in moved
    for name, value in MOVED.items():
        assert getattr(moved[eco.pk], name) == value, name
    assert moved[eco.pk].next_check_at == expires and moved[eco.pk].config is None
    assert moved[eco.pk].kind == PaynowAttempt.Kind.EXPRESS
    assert moved[inn.pk].merchant_trace is None
    assert (moved[inn.pk].authorization_code, moved[inn.pk].authorization_expires) == (
        "123456789",
        expires,
    )

    # And back (undoing the move undoes customer_data 0010 first): the values return to
    # Payment, then forward again.
    try:
        call_command("migrate", *BEFORE_THE_MOVE[1], verbosity=0)
        OldPayment = _apps_at(*BEFORE_THE_MOVE).get_model("customer_data", "Payment")
        back = OldPayment.objects.get(pk=eco.pk)
        assert {name: getattr(back, name) for name in MOVED} == MOVED
        assert OldPayment.objects.get(pk=inn.pk).authorization_code == "123456789"
    finally:
        _migrate_to_latest()
    assert PaynowAttempt.objects.get(payment_id=eco.pk).paynow_reference == "15765841"


@pytest.mark.django_db
def test_models_and_migrations_agree():
    call_command("makemigrations", "--check", "--dry-run", verbosity=0)
