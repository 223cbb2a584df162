"""Migrations 0003-0005: Message.config (a foreign key into the channel) becomes the business
number's id as a string, keeping every existing row's value, and back again."""

from __future__ import annotations

import pytest
from django.core.management import call_command
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

BEFORE = "0002_outboundlane_message_messagestatusevent_and_more"
AFTER = "0005_remove_message_config"


def _apps_at(target: str):
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    return executor.loader.project_state([("conversations", target)]).apps


def _latest() -> str:
    executor = MigrationExecutor(connection)
    return next(key for key in executor.loader.graph.leaf_nodes() if key[0] == "conversations")[1]


@pytest.mark.django_db(transaction=True)
def test_existing_messages_keep_their_business_number_forward_and_back():
    latest = _latest()
    try:
        call_command("migrate", "conversations", BEFORE, verbosity=0)
        old = _apps_at(BEFORE)
        MetaAppConfig = old.get_model("meta_integration", "MetaAppConfig")
        Contact = old.get_model("conversations", "Contact")
        Message = old.get_model("conversations", "Message")
        main = MetaAppConfig.objects.create(phone_number_id="123456789012345")
        second = MetaAppConfig.objects.create(phone_number_id="555000111222333", is_active=False)
        contact = Contact.objects.create(whatsapp_id="263771234567")

        def message(config, **fields):
            return Message.objects.create(
                contact=contact, config=config, message_type="text", **fields
            ).pk

        ids = {
            "in_main": message(main, direction="in", status="received", wamid="wamid.1"),
            "out_second": message(second, direction="out", status="accepted", wamid="wamid.2"),
            "out_unknown": message(None, direction="out", status="pending"),
        }

        call_command("migrate", "conversations", AFTER, verbosity=0)
        new = _apps_at(AFTER)
        numbers = dict(
            new.get_model("conversations", "Message")
            .objects.filter(pk__in=ids.values())
            .values_list("pk", "business_number_id")
        )
        assert numbers == {
            ids["in_main"]: "123456789012345",
            ids["out_second"]: "555000111222333",  # an inactive number is still its number
            ids["out_unknown"]: "",
        }

        call_command("migrate", "conversations", BEFORE, verbosity=0)
        configs = dict(
            _apps_at(BEFORE)
            .get_model("conversations", "Message")
            .objects.filter(pk__in=ids.values())
            .values_list("pk", "config_id")
        )
        assert configs == {
            ids["in_main"]: main.pk,
            ids["out_second"]: second.pk,
            ids["out_unknown"]: None,
        }
    finally:
        # Every app forward again: going back unapplied the migrations of other apps that
        # depend on these (customer_data's Payment.proof needs conversations 0006).
        call_command("migrate", verbosity=0)
        assert _latest() == latest
    from conversations.models import Message as CurrentMessage

    assert CurrentMessage.objects.get(pk=ids["in_main"]).business_number_id == "123456789012345"
