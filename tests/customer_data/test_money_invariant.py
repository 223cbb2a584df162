"""Property: booking.amount_paid == sum of its successful payments, whatever happens.

Random sequences of payments and transitions (hypothesis), and concurrent transitions from
several threads on PostgreSQL, must all end with the invariant holding.
"""

import threading
from decimal import Decimal

import pytest
from django.db import connection, connections
from django.db.models import Sum
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from customer_data import services
from customer_data.checkout import Payer, request_payment
from customer_data.models import Booking, Payment, PaymentMethod, PaymentStatus
from customer_data.pricing import deposit_for
from tests.customer_data.support import pay

S = PaymentStatus
TARGETS = [S.SUCCESSFUL, S.FAILED, S.CANCELLED, S.EXPIRED, S.REFUNDED, S.PENDING]


def assert_invariant(booking: Booking) -> None:
    booking.refresh_from_db()
    successful = booking.payments.filter(status=S.SUCCESSFUL).aggregate(s=Sum("amount"))["s"]
    assert booking.amount_paid == (successful or Decimal("0.00"))
    assert booking.amount_paid >= 0


operations = st.lists(
    st.one_of(
        st.tuples(
            st.just("pay"),
            st.decimals(min_value="0.01", max_value="120.00", places=2),
            st.sampled_from([PaymentMethod.PAYNOW_ECOCASH, PaymentMethod.BANK_TRANSFER]),
        ),
        st.tuples(
            st.just("move"), st.integers(min_value=0, max_value=20), st.sampled_from(TARGETS)
        ),
    ),
    max_size=25,
)


@pytest.mark.django_db
@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(ops=operations)
def test_random_sequences_keep_the_invariant(make_booking, paynow_config, ops):
    booking = make_booking(total="300.00")
    payments: list[Payment] = []
    for op in ops:
        if op[0] == "pay":
            # Through the checkout, Paynow answering from the emulator; a request over the
            # balance (with what is still pending) is refused and writes nothing.
            result = request_payment(
                booking=booking,
                amount=op[1],
                method=op[2],
                payer=Payer(phone="0781234567", email="tendai@example.com"),
                source="flow",
            )
            if result.started and result.payment not in payments:
                payments.append(result.payment)
        elif payments:
            payment = payments[op[1] % len(payments)]
            source = "staff" if op[2] == S.REFUNDED else "ipn"
            services.transition_payment(payment_id=payment.pk, new_status=op[2], source=source)
        assert_invariant(booking)
    booking.refresh_from_db()
    if booking.amount_paid >= booking.total_amount:
        expected = {Booking.PaymentStatus.PAID}
    elif booking.amount_paid >= deposit_for(booking.total_amount):
        expected = {Booking.PaymentStatus.DEPOSIT_PAID}
    elif booking.amount_paid > 0:
        expected = {Booking.PaymentStatus.PENDING, Booking.PaymentStatus.PENDING_MANUAL}
    else:
        expected = {
            Booking.PaymentStatus.PENDING,
            Booking.PaymentStatus.PENDING_MANUAL,
            Booking.PaymentStatus.REFUNDED,
        }
    assert booking.payment_status in expected


def _run_in_threads(work, count):
    barrier = threading.Barrier(count)
    errors = []

    def runner(index):
        try:
            barrier.wait(timeout=10)
            work(index)
        except Exception as exc:  # surfaced below
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=runner, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not errors, errors


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_identical_successes_credit_once(make_booking, paynow_config):
    booking = make_booking(total="200.00")
    payment = pay(booking, "100.00", PaymentMethod.PAYNOW_ECOCASH)
    results = []

    def work(_):
        results.append(
            services.transition_payment(
                payment_id=payment.pk, new_status=S.SUCCESSFUL, source="ipn"
            )
        )

    _run_in_threads(work, 8)
    assert sum(r.applied for r in results) == 1
    assert_invariant(booking)
    assert booking.amount_paid == Decimal("100.00")


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
@settings(
    max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    moves=st.lists(
        st.tuples(st.integers(min_value=0, max_value=5), st.sampled_from(TARGETS)),
        min_size=4,
        max_size=16,
    )
)
def test_concurrent_random_transitions_keep_the_invariant(make_booking, paynow_config, moves):
    assert connection.vendor == "postgresql"
    booking = make_booking(total="600.00")
    payments = [
        pay(booking, amount, PaymentMethod.PAYNOW_ECOCASH)
        for amount in ("100.00", "50.00", "25.50", "80.00", "99.99", "10.01")
    ]

    def work(index):
        # Each thread plays the whole list from a different starting point.
        for offset in range(len(moves)):
            which, target = moves[(index + offset) % len(moves)]
            source = "staff" if target == S.REFUNDED else "ipn"
            services.transition_payment(
                payment_id=payments[which].pk, new_status=target, source=source
            )

    _run_in_threads(work, 4)
    assert_invariant(booking)
