"""SQL statements per step, for one WhatsApp message end to end and for one Paynow IPN.

    .venv/bin/python benchmarks/queries_per_step.py [--json PATH] [--database-url ...]

In this process, on a fresh PostgreSQL database, with our production settings but no broker
(tasks run in-process, each still as its own Celery task, so each step is counted apart) and the
two emulators in-process: a traveller's first message ("hi", a new contact), a second one
("book": the tour list), a ``delivered`` status webhook for a reply, then a Paynow IPN for a
payment started through the payment form. Every statement our code sends is recorded (Django's
``execute_wrapper``) under the step that sent it: the HTTP request, or the Celery task running.
Prints, per step, the statements by kind (SELECT, INSERT, UPDATE, savepoints) and in total.
"""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from decimal import Decimal

import harness

KINDS = ("SELECT", "INSERT", "UPDATE", "DELETE", "SAVEPOINT", "RELEASE", "ROLLBACK")


class Recorder:
    """Counts statements by the step that runs them (a stack: request, then tasks inside it)."""

    def __init__(self) -> None:
        self.stack: list[str] = []
        self.counts: dict[str, Counter] = {}
        self.order: list[str] = []

    def __call__(self, execute, sql, params, many, context):
        step = self.stack[-1] if self.stack else "(outside a step)"
        if step not in self.counts:
            self.counts[step] = Counter()
            self.order.append(step)
        word = sql.lstrip().split(None, 1)[0].upper() if sql.strip() else "?"
        self.counts[step][word if word in KINDS else "other"] += 1
        return execute(sql, params, many, context)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    harness.add_common_arguments(parser)
    args = parser.parse_args()
    db_name = None
    private_pem, public_pem = harness.flow_key_pair()
    results: dict = {"benchmark": "queries_per_step", "machine": harness.machine_facts()}
    try:
        db_url, db_name = harness.fresh_database(args.database_url, args.db_prefix, "queries")
        env = harness.app_environment(
            db_url,
            "http://testserver",
            extra={
                "WHATSAPP_FLOW_PRIVATE_KEY": private_pem.decode(),
                "ALLOWED_HOSTS": "testserver,127.0.0.1,localhost",
            },
        )
        env.pop("CACHE_URL", None)
        harness.setup_django(env)
        from celery.signals import task_postrun, task_prerun
        from django.core.management import call_command
        from django.db import connection
        from django.test import Client

        from sandbox.paynow import PaynowEmulator
        from sandbox.whatsapp import WhatsAppEmulator

        call_command("migrate", verbosity=0)
        call_command("seed_demo", verbosity=0)
        call_command("load_flow_definitions", verbosity=0)
        recorder = Recorder()
        task_prerun.connect(  # weak=False: a lambda has no other reference to keep it alive
            lambda task=None, **_: recorder.stack.append(f"   task {task.name}"), weak=False
        )
        task_postrun.connect(lambda **_: recorder.stack.pop(), weak=False)
        client = Client()

        def post(step: str, path: str, body: bytes, content_type: str, **headers):
            recorder.stack.append(step)
            try:
                with connection.execute_wrapper(recorder):
                    response = client.post(path, data=body, content_type=content_type, **headers)
            finally:
                recorder.stack.pop()
            if response.status_code != 200:
                raise SystemExit(f"{step}: HTTP {response.status_code}")
            return response

        def webhook(step: str, body: bytes):
            return post(
                step,
                "/crm-api/meta/webhook/",
                body,
                "application/json",
                HTTP_X_HUB_SIGNATURE_256=harness.meta_signature(body),
            )

        with (
            WhatsAppEmulator(
                app_secret=harness.META_APP_SECRET,
                access_token=harness.META_ACCESS_TOKEN,
                phone_number_id=harness.META_PHONE_NUMBER_ID,
                waba_id=harness.META_WABA_ID,
                host="127.0.0.1",
                port=0,
                status_delay=None,
                window_enforcement="off",  # our webhooks come from this script, not the phone
            ) as wa,
            PaynowEmulator(
                integration_id=harness.INTEGRATION_ID,
                integration_key=harness.INTEGRATION_KEY,
                auth_email=harness.MERCHANT_EMAIL,
                time_scale=0.01,
            ) as paynow,
        ):
            harness.create_meta_config(graph_base_url=wa.base_url)
            harness.create_paynow_config(paynow.remote_url)
            wa_id = "263771234567"
            profiles = {wa_id: "Tendai"}
            webhook(
                "1. webhook POST: 'hi' from a new contact",
                harness.webhook_body([harness.text_message(wa_id, "hi")], profiles),
            )
            results["first_message"] = {s: dict(recorder.counts[s]) for s in recorder.order}
            recorder.counts.clear()
            recorder.order.clear()
            webhook(
                "2. webhook POST: 'book' (the tour list)",
                harness.webhook_body([harness.text_message(wa_id, "book")], profiles),
            )
            from conversations.models import Message

            reply = Message.objects.filter(direction="out").exclude(wamid="").latest("created_at")
            status = {
                "id": reply.wamid,
                "status": "delivered",
                "timestamp": str(int(reply.created_at.timestamp()) + 1),
                "recipient_id": wa_id,
                "conversation": {"id": "bench", "origin": {"type": "service"}},
                "pricing": {"billable": True, "pricing_model": "CBP", "category": "service"},
            }
            body = harness.webhook_body([], {}, statuses=[status])
            webhook("3. webhook POST: a 'delivered' status", body)
            results["next_message"] = {s: dict(recorder.counts[s]) for s in recorder.order}
            recorder.counts.clear()
            recorder.order.clear()

            bookings = harness.create_bookings(1, "2637840")
            token = harness.create_payment_form(bookings, Decimal("100.00"))[0]
            body, _key, _iv = harness.flow_encrypt(
                {
                    "version": "3.0",
                    "action": "data_exchange",
                    "screen": "PAYMENT",
                    "data": {
                        "payment_method": "ecocash",
                        "phone": "0781234567",
                        "email": "bench@example.com",
                    },
                    "flow_token": token,
                },
                public_pem,
            )
            post(
                "4. Flows data_exchange: Pay (starts the Paynow payment)",
                harness.FLOWS_PATH,
                body,
                "application/json",
                HTTP_X_HUB_SIGNATURE_256=harness.meta_signature(body),
            )
            import httpx

            (transaction,) = httpx.get(paynow.base_url + "/_control/transactions").json()[
                "transactions"
            ]
            harness.approve_silently(
                paynow.base_url + "/_control", [transaction["paynowreference"]], 1e12
            )
            ipn = harness.paynow_status_update(
                transaction["reference"],
                Decimal(transaction["amount"]),
                transaction["paynowreference"],
                transaction["pollurl"],
            )
            post(
                "5. IPN POST: Paid",
                "/crm-api/paynow/ipn/",
                ipn,
                "application/x-www-form-urlencoded",
            )
            results["payment"] = {s: dict(recorder.counts[s]) for s in recorder.order}
        connection.close()
    finally:
        harness.drop_database(args.database_url, db_name)

    for title, key in (
        ("A traveller's first message ('hi', new contact)", "first_message"),
        ("The next message ('book') and a status webhook", "next_message"),
        ("A payment: the form's Pay, then Paynow's IPN", "payment"),
    ):
        print(f"\n{title}")
        print(f"  {'total':>5} " + " ".join(f"{k[:7]:>7}" for k in KINDS) + "  step")
        for step, counts in results[key].items():
            cells = " ".join(f"{counts.get(k, 0):>7}" for k in KINDS)
            print(f"  {sum(counts.values()):>5} {cells}  {step}")
    harness.write_json(args, results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
