"""The guide's rollback: `migrate customer_data 0007`, then forward again, keeps payments."""

from decimal import Decimal

import pytest
from django.core.management import call_command
from django.db import connection
from django.db.migrations.executor import MigrationExecutor


def _latest():
    executor = MigrationExecutor(connection)
    return next(key for key in executor.loader.graph.leaf_nodes() if key[0] == "customer_data")[1]


def _apps_at(target):
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    return executor.loader.project_state([("customer_data", target)]).apps


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_rollback_to_0007_and_forward_keeps_non_paynow_payments(make_booking):
    booking = make_booking(total="200.00")
    from customer_data import services

    cash = services.create_payment(
        booking=booking, amount=Decimal("20.00"), payment_method="cash", source="staff"
    )
    from paynow_integration.models import PaynowConfig

    PaynowConfig.objects.create(integration_id="1", integration_key="k", is_active=True)
    latest = _latest()
    try:
        call_command("migrate", "customer_data", "0007", verbosity=0)
        Payment = _apps_at("0007_payment_method_known").get_model("customer_data", "Payment")
        assert Payment.objects.get(pk=cash.pk).amount == Decimal("20.00")
        # At 0007 the database itself refuses Paynow methods.
        from django.db import IntegrityError, transaction

        with pytest.raises(IntegrityError), transaction.atomic():
            Payment.objects.create(
                booking_id=booking.pk,
                amount=Decimal("1.00"),
                payment_method="paynow_ecocash",
                reference="PAY-AT-0007",
            )
    finally:
        call_command("migrate", "customer_data", latest, verbosity=0)
    from customer_data.models import Payment as CurrentPayment

    assert CurrentPayment.objects.get(pk=cash.pk).payment_method == "cash"
    # The rollback touched only customer_data: the Paynow configuration is still there.
    assert PaynowConfig.objects.filter(integration_id="1").exists()
    paynow = services.create_payment(
        booking=booking, amount=Decimal("10.00"), payment_method="paynow_ecocash", source="flow"
    )
    assert paynow.pk


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_rollback_refuses_while_paynow_payments_exist(make_booking):
    from customer_data import services
    from customer_data.models import Payment

    booking = make_booking(total="200.00")
    services.create_payment(
        booking=booking, amount=Decimal("10.00"), payment_method="paynow_onemoney", source="flow"
    )
    with pytest.raises(RuntimeError, match="Paynow payment"):
        call_command("migrate", "customer_data", "0007", verbosity=0)
    assert Payment.objects.filter(payment_method="paynow_onemoney").count() == 1
    call_command("migrate", verbosity=0)  # still (or again) at the latest state


@pytest.mark.django_db
def test_models_and_migrations_agree():
    call_command("makemigrations", "--check", "--dry-run", verbosity=0)
