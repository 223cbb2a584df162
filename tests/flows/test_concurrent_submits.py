"""One form, one payment: also when two submissions with different details race."""

import threading

import httpx
import pytest
from django.db import connections

from customer_data.models import Payment
from tests.flows import support as s

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def test_racing_submissions_with_different_details_start_one_payment(
    live_server, flow_key, meta_config, paynow_config, make_form, booking
):
    def post(body: bytes, headers: dict):
        response = httpx.post(
            live_server.url + s.ENDPOINT_PATH, content=body, headers=headers, timeout=20
        )
        return response.status_code, response.content, response.headers.get("content-type", "")

    client = s.MetaFlowsClient(post, flow_key)
    _, token = make_form(amount="50.00")  # a deposit: two would still fit the balance
    answers: list = []
    barrier = threading.Barrier(2)

    def press(phone):
        barrier.wait()
        answers.append(client.submit(token, phone=phone))
        connections.close_all()

    threads = [threading.Thread(target=press, args=(p,)) for p in ("0781234567", "0772222222")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert len(answers) == 2
    assert Payment.objects.filter(booking=booking).count() == 1
    assert sorted(a.screen == "SUCCESS" for a in answers) == [False, True]
