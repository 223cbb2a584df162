"""End to end: inbound WhatsApp messages turned into the booking bot's replies, accepted by the
Graph emulator, with a Celery worker on Redis, on this machine.

    .venv/bin/python benchmarks/e2e_messages.py [--quick | --full] [--contacts 20] [--cycles 2]
        [--worker-concurrency 2] [--status-delay 0.2] [--json PATH] [--database-url ...]

Starts, all on loopback: the WhatsApp Cloud API emulator (``sandbox/whatsapp``, its own process:
Meta's side, signing and delivering webhooks one user at a time in order, and the Graph API our
replies go to), our app under gunicorn with ``deploy/gunicorn.conf.py`` (3 workers) and a Celery
worker as deployed (prefork, 2 processes) on the run's Redis keys.

Each contact has the same conversation with the booking bot, ``--cycles`` times: "hi", "book",
a tour, a date, 1 adult, 0 children, the traveller's name, age, nationality, "skip", an e-mail,
"confirm" (a booking is created), "later". First one reference contact has it one message at a
time (each sent after the previous reply was accepted): its replies are the expected transcript.
Then every contact's messages are queued in the emulator at once (a backlog, as after an outage),
and the clock runs until every reply has been accepted by the Graph emulator.

Prints messages/s (inbound messages / time until the last reply was accepted), and checks: every
contact's replies, in the order Graph accepted them, equal the reference transcript (so no
contact's messages were handled out of order and none was lost or answered twice); every inbound
message was dispatched once; no reply failed; bookings were created; and the money invariant
holds (``amount_paid`` equals the successful payments, for every booking).
"""

from __future__ import annotations

import argparse
import re
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import date

import harness

WEBHOOK_PATH = "/crm-api/meta/webhook/"
NAME = "Bench Traveller"
_BOOKING_REF = re.compile(r"BK-[A-Z0-9]{8}")


def script(tour_name: str) -> list[str]:
    """One booking conversation, as a traveller types it."""
    travel_date = date(date.today().year + 1, 12, 15).strftime("%d/%m/%Y")
    return [
        "hi",
        "book",
        tour_name,
        travel_date,
        "1",
        "0",
        "Tendai Moyo",
        "34",
        "Zimbabwean",
        "skip",
        "bench@example.com",
        "confirm",
        "later",
    ]


def transcript(messages: list[dict]) -> list[str]:
    """What the traveller saw, one line per reply, without what differs between contacts."""
    lines = []
    for message in messages:
        kind = message["type"] + (
            f"/{message['interactive_type']}" if message.get("interactive_type") else ""
        )
        text = _BOOKING_REF.sub("BK-*", message.get("text") or "")
        lines.append(f"{kind}: {text[:120]}")
    return lines


class Emulator:
    """The parts of the WhatsApp emulator's control API the benchmark uses."""

    def __init__(self, base_url: str) -> None:
        import httpx

        self.http = httpx.Client(base_url=base_url + "/_control", timeout=130)

    def send(self, wa_id: str, text: str, *, wait: bool) -> dict:
        body = {"type": "text", "text": text, "name": NAME, "wait": wait, "timeout": 30}
        response = self.http.post(f"/users/{wa_id}/send", json=body)
        response.raise_for_status()
        return response.json()

    def messages(self, *, to: str | None = None, since: int = 0, wait_for: int = 0, timeout=0):
        params = {"since": since, "wait_for": wait_for, "timeout": timeout}
        if to:
            params["to"] = to
        response = self.http.get("/messages", params=params)
        response.raise_for_status()
        return response.json()

    def last_seq(self) -> int:
        return int(self.messages().get("last_seq") or 0)


def settle(wa_id: str, deadline: float) -> None:
    """Wait until the contact's messages are all handled and its replies all sent."""
    from conversations.models import Message

    def done() -> bool:
        mine = Message.objects.filter(contact__whatsapp_id=wa_id)
        return (
            not mine.filter(
                direction=Message.Direction.INBOUND, dispatched_at__isnull=True
            ).exists()
            and not mine.filter(
                direction=Message.Direction.OUTBOUND, status=Message.Status.PENDING
            ).exists()
        )

    if not harness.wait_until(done, deadline, 0.05):
        raise SystemExit(f"contact {wa_id} did not settle before the deadline")


def idle(inbound_expected: int) -> bool:
    """Every message in, handled, and every reply sent (or failed): nothing left to wait for."""
    from conversations.models import Message

    inbound = Message.objects.filter(direction=Message.Direction.INBOUND)
    return (
        inbound.count() >= inbound_expected
        and not inbound.filter(dispatched_at__isnull=True).exists()
        and not Message.objects.filter(
            direction=Message.Direction.OUTBOUND, status=Message.Status.PENDING
        ).exists()
    )


def reference_transcript(emulator: Emulator, wa_id: str, texts: list[str], deadline) -> list[str]:
    """The conversation had one message at a time: each sent when the last reply is out."""
    from conversations.models import Message

    for text in texts:
        answer = emulator.send(wa_id, text, wait=True)
        if answer.get("accepted") is not True:
            raise SystemExit(f"the reference contact's message was not accepted: {answer}")
        harness.wait_until(
            lambda w=answer["wamid"]: Message.objects.filter(wamid=w).exists(), deadline, 0.02
        )
        settle(wa_id, deadline)
    sent = Message.objects.filter(
        contact__whatsapp_id=wa_id, direction=Message.Direction.OUTBOUND
    ).count()
    got = emulator.messages(to=wa_id, wait_for=sent, timeout=30)["messages"]
    return transcript(got)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--contacts", type=int, help="contacts writing at once")
    parser.add_argument("--cycles", type=int, help="booking conversations per contact")
    parser.add_argument("--workers", type=int, default=3, help="gunicorn workers")
    parser.add_argument("--worker-concurrency", type=int, default=2, help="Celery processes")
    parser.add_argument(
        "--status-delay", default="0.2", help="seconds between the emulator's status webhooks "
        "(sent, delivered, read, as Meta sends them); 'off' for none",
    )  # fmt: skip
    harness.add_common_arguments(parser)
    args = parser.parse_args()
    contacts = args.contacts or harness.size(args, 2, 20, 50)
    cycles = args.cycles or harness.size(args, 1, 2, 3)
    deadline = time.monotonic() + args.deadline
    results: dict = {"benchmark": "e2e_messages", "machine_start": harness.machine_facts()}

    redis = harness.RedisRun(args.redis_url)
    redis.check()
    port, wa_port = harness.free_port(), harness.free_port()
    site = f"http://127.0.0.1:{port}"
    wa_url = f"http://127.0.0.1:{wa_port}"
    processes = harness.Processes()
    db_name = None
    try:
        db_url, db_name = harness.fresh_database(args.database_url, args.db_prefix, "e2e_msg")
        env = harness.app_environment(
            db_url, site, broker_url=redis.url, cache_url=args.cache_url, key_prefix=redis.prefix
        )
        harness.setup_django(env)
        from django.core.management import call_command
        from django.db import connections

        from conversations.models import Message
        from customer_data.models import Booking, Tour

        call_command("migrate", verbosity=0)
        call_command("seed_demo", verbosity=0)
        call_command("load_flow_definitions", verbosity=0)
        harness.create_meta_config(graph_base_url=wa_url)
        tour_name = Tour.objects.filter(is_active=True).order_by("name").first().name
        connections.close_all()
        results["postgres"] = harness.postgres_version(db_url)

        harness.start_whatsapp_emulator(
            processes, wa_port, site + WEBHOOK_PATH, status_delay=args.status_delay,
            deadline=deadline,
        )  # fmt: skip
        web = harness.start_gunicorn(
            processes, "e2e-messages-web.log", "whatsappcrm.wsgi:application", port, env,
            workers=args.workers, deadline=deadline,
        )  # fmt: skip
        worker = harness.start_worker(
            processes, "e2e-messages-worker.log", env, concurrency=args.worker_concurrency,
            deadline=deadline,
        )  # fmt: skip
        emulator = Emulator(wa_url)
        texts = script(tour_name) * cycles
        reference = reference_transcript(emulator, "263779900000", texts, deadline)
        results["replies_per_conversation"] = len(reference)

        wa_ids = [f"26377910{n:04d}" for n in range(contacts)]
        since = emulator.last_seq()
        expected = len(reference) * contacts
        cpu_before = harness.tree_cpu_seconds(web.pid) + harness.tree_cpu_seconds(worker.pid)
        load_before = harness.load_average()
        started = time.monotonic()

        def backlog(wa_id: str) -> None:  # one contact's messages, queued in order
            for text in texts:
                emulator.send(wa_id, text, wait=False)

        with ThreadPoolExecutor(max_workers=min(8, contacts)) as pool:
            list(pool.map(backlog, wa_ids))
        queued = time.monotonic()
        got, finished = 0, time.monotonic()
        inbound_n = len(texts) * contacts
        quiet = 0  # polls in a row with nothing new while nothing is left to do
        while got < expected and time.monotonic() < deadline and quiet < 3:
            answer = emulator.messages(since=since, wait_for=expected, timeout=2)
            if len(answer["messages"]) > got:
                got, finished, quiet = len(answer["messages"]), time.monotonic(), 0
            elif idle(inbound_n + len(texts)):
                quiet += 1  # a reply that never comes: stop waiting, the checks will say
        if got >= expected:
            finished = time.monotonic()
        cpu_after = harness.tree_cpu_seconds(web.pid) + harness.tree_cpu_seconds(worker.pid)
        elapsed = finished - started
        results.update(
            contacts=contacts,
            cycles=cycles,
            inbound_messages=inbound_n,
            replies_expected=expected,
            replies_accepted=got,
            queue_seconds=round(queued - started, 2),
            seconds=round(elapsed, 2),
            messages_per_second=round(inbound_n / elapsed, 1),
            cpu_ms_per_message=round((cpu_after - cpu_before) * 1000 / inbound_n, 1),
            load_during=f"{load_before} -> {harness.load_average()}",
        )
        for wa_id in wa_ids:  # late sends may still be in flight
            settle(wa_id, deadline)

        checks = {}
        wrong = []
        for wa_id in wa_ids:
            seen = transcript(emulator.messages(to=wa_id)["messages"])
            if seen != reference:
                first = next(
                    (i for i, (a, b) in enumerate(zip(seen, reference, strict=False)) if a != b),
                    min(len(seen), len(reference)),
                )
                wrong.append(
                    f"{wa_id}: {len(seen)} replies; first difference at reply {first}: "
                    f"{seen[first] if first < len(seen) else '-'!r} instead of "
                    f"{reference[first] if first < len(reference) else '-'!r}"
                )
        checks["every contact's replies in order, as in the reference"] = {
            "ok": not wrong and got >= expected,
            "detail": f"{contacts - len(wrong)} of {contacts} contacts; {got} of {expected} replies"
            + ("; " + "; ".join(wrong[:3]) if wrong else ""),
        }
        inbound = Message.objects.filter(direction=Message.Direction.INBOUND)
        checks["every inbound message recorded and dispatched once"] = {
            "ok": inbound.count() == inbound_n + len(texts)
            and not inbound.filter(dispatched_at__isnull=True).exists(),
            "detail": f"{inbound.count()} inbound ({inbound_n} + {len(texts)} reference), "
            f"{inbound.filter(dispatched_at__isnull=True).count()} undispatched",
        }
        outbound = Message.objects.filter(direction=Message.Direction.OUTBOUND)
        bad = outbound.filter(status__in=[Message.Status.FAILED, Message.Status.PENDING]).count()
        checks["no reply failed or left pending"] = {
            "ok": bad == 0 and outbound.count() == expected + len(reference),
            "detail": f"{outbound.count()} outbound, {bad} failed or pending",
        }
        bookings = Booking.objects.count()
        checks["one booking per conversation"] = {
            "ok": bookings == (contacts + 1) * cycles,
            "detail": f"{bookings} bookings for {(contacts + 1) * cycles} conversations",
        }
        problems = harness.money_invariant_problems()
        checks["money invariant (amount_paid = successful payments)"] = {
            "ok": not problems,
            "detail": "; ".join(problems[:3]) or f"{bookings} bookings",
        }
        results["checks"] = checks
        connections.close_all()
    finally:
        processes.stop_all()
        harness.drop_database(args.database_url, db_name)
        results["redis_keys_removed"] = redis.release()

    results["machine_end"] = harness.machine_facts()
    results["ok"] = all(c["ok"] for c in results["checks"].values())
    print(
        f"\nEnd to end, messages: {results['inbound_messages']} inbound messages from {contacts} "
        f"contacts ({cycles} booking conversations each, {results['replies_per_conversation']} "
        f"replies per contact), Celery {args.worker_concurrency} processes, statuses every "
        f"{args.status_delay} s"
    )
    print(
        f"  {results['messages_per_second']} messages/s: last reply accepted "
        f"{results['seconds']} s after the first message was queued (queueing took "
        f"{results['queue_seconds']} s); {results['cpu_ms_per_message']} CPU-ms per message "
        f"(web + worker); load {results['load_during']}"
    )
    for name, check in results["checks"].items():
        print(f"Check {'OK    ' if check['ok'] else 'FAILED'} {name}: {check['detail']}")
    harness.write_json(args, results)
    return 0 if results["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
