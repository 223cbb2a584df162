"""Every webhook shape other WhatsApp libraries test with, and Meta's documentation shows, played
through the signed webhook: each is answered 200 and handled as its type requires.

Zulip's habit: one fixture per shape (``tests/fixtures/meta/webhooks/<name>.json``, our own
values, the shape's source in ``index.json``), one parametrised test, and for each fixture
name the exact outcome: what was recorded, what reached the bot, what was answered, what was
kept aside as unreadable, what Meta's account and template news became.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pytest

from conversations.models import Contact, Message, MessageMedia, MessageStatusEvent, Referral
from meta_integration.models import AccountUpdate, MessageTemplate, SkippedWebhookItem
from tests.meta_integration import whatsapp_helpers as h

SHAPES = Path(__file__).resolve().parents[1] / "fixtures" / "meta" / "webhooks"
INDEX = json.loads((SHAPES / "index.json").read_text())

PHONE, PHONE_NEW, CHIPO = "263771234567", "263779876543", "263772345678"
BSUID, USERNAME_BSUID = "ZW.4417250098311276402", "ZW.7301946628810453377"
V = "entry[0].changes[0].value"


@dataclass(frozen=True)
class Outcome:
    """What one delivery left behind (empty fields: nothing of that kind)."""

    messages: tuple[tuple[str, str], ...] = ()  # inbound (message_type, text), in order
    to_bot: int = 0  # messages handed to the bot (silent kinds never are)
    answered: int = 0  # "I can only read text" replies queued
    statuses: tuple[str, ...] = ()  # delivery statuses stored
    skipped: tuple[str, ...] = ()  # where the unreadable items were
    updates: tuple[tuple[str, str], ...] = ()  # non-message changes: (field, update type)
    contacts: tuple[tuple[str | None, str | None, str], ...] = ()  # (phone, user id, username)
    media: tuple[tuple[str, str], ...] = ()  # (kind, status) of files to fetch
    referral: str = ""  # the ad's headline
    templates: tuple[tuple[str, str, str], ...] = ()  # (name, status, quality)


def _chat(kind: str, text: str, *, answered: bool = False) -> dict:
    """A message a person sent to talk to us: recorded and handed to the bot; kinds the bot
    cannot read get the "only text" answer."""
    return {"messages": ((kind, text),), "to_bot": 1, "answered": int(answered)}


def _silent(kind: str, text: str) -> dict:
    """Not a person talking to us: recorded, never handed to the bot, never answered."""
    return {"messages": ((kind, text),)}


TENDAI = ((PHONE, BSUID, ""),)
TENDAI_PHONE = ((PHONE, None, ""),)
CHIPO_PHONE = ((CHIPO, None, ""),)
MEDIA_PENDING = "pending"  # the Graph API is unreachable in these tests: the fetch waits

EXPECTED: dict[str, Outcome] = {
    # -- pywa: messages --------------------------------------------------------------------
    "pywa_text": Outcome(**_chat("text", "Hi, do you have space on Saturday?"), contacts=TENDAI),
    "pywa_image": Outcome(
        **_chat("image", "[image]", answered=True),
        contacts=TENDAI,
        media=(("image", MEDIA_PENDING),),
    ),
    "pywa_media_with_url": Outcome(
        **_chat("image", "[image]", answered=True),
        contacts=TENDAI,
        media=(("image", MEDIA_PENDING),),
    ),
    "pywa_video": Outcome(
        **_chat("video", "[video] The gorge from the bridge", answered=True), contacts=TENDAI
    ),
    "pywa_document": Outcome(
        **_chat("document", "[document] My deposit slip", answered=True),
        contacts=TENDAI,
        media=(("document", MEDIA_PENDING),),
    ),
    "pywa_audio": Outcome(**_chat("audio", "[audio]", answered=True), contacts=TENDAI),
    "pywa_voice": Outcome(**_chat("audio", "[audio]", answered=True), contacts=TENDAI),
    "pywa_static_sticker": Outcome(**_chat("sticker", "[sticker]", answered=True), contacts=TENDAI),
    "pywa_animated_sticker": Outcome(
        **_chat("sticker", "[sticker]", answered=True), contacts=TENDAI
    ),
    "pywa_reaction": Outcome(**_silent("reaction", "[reaction 👍]"), contacts=TENDAI),
    "pywa_unreaction_empty": Outcome(**_silent("reaction", "[reaction removed]"), contacts=TENDAI),
    "pywa_unreaction_no_emoji": Outcome(
        **_silent("reaction", "[reaction removed]"), contacts=TENDAI
    ),
    "pywa_current_location": Outcome(
        **_chat("location", "[location]", answered=True), contacts=TENDAI
    ),
    "pywa_chosen_location": Outcome(
        **_chat("location", "[location] Victoria Falls Bridge", answered=True), contacts=TENDAI
    ),
    "pywa_contacts": Outcome(**_chat("contacts", "[contacts]", answered=True), contacts=TENDAI),
    "pywa_order": Outcome(**_chat("order", "[order]", answered=True), contacts=TENDAI),
    "pywa_unsupported": Outcome(
        **_chat("unsupported", "[unsupported]", answered=True), contacts=TENDAI
    ),
    "pywa_unsupported_with_type": Outcome(
        **_chat("unsupported", "[unsupported]", answered=True), contacts=TENDAI
    ),
    "pywa_reply": Outcome(**_chat("text", "Yes, that date works"), contacts=TENDAI),
    "pywa_forwarded": Outcome(**_chat("text", "Look at this offer"), contacts=TENDAI),
    "pywa_forwarded_many_times": Outcome(
        **_chat("text", "Falls at sunrise, forwarded again"), contacts=TENDAI
    ),
    "pywa_interactive_message_with_err": Outcome(skipped=(f"{V}.messages[0]",)),
    "pywa_referral": Outcome(
        **_chat("text", "I saw your ad, is the sunset cruise on?"),
        contacts=TENDAI,
        referral="Zambezi sunset cruise",
    ),
    # -- pywa: callbacks, flows, edits, deletions, system ------------------------------------
    "pywa_callback_button": Outcome(**_chat("button_reply", "Book a tour"), contacts=TENDAI),
    "pywa_quick_reply": Outcome(**_chat("button_reply", "Pay balance"), contacts=TENDAI),
    "pywa_quick_reply_without_context": Outcome(
        **_chat("button_reply", "Pay balance"), contacts=TENDAI
    ),
    "pywa_callback_selection": Outcome(**_chat("list_reply", "Falls Guided Tour"), contacts=TENDAI),
    "pywa_callback_selection_description": Outcome(
        **_chat("list_reply", "Falls Guided Tour"), contacts=TENDAI
    ),
    "pywa_flow_completion": Outcome(**_chat("flow_reply", "[form submitted]"), contacts=TENDAI),
    "pywa_flow_completion_without_token": Outcome(
        **_chat("flow_reply", "[form submitted]"), contacts=TENDAI
    ),
    "pywa_revoke": Outcome(**_silent("revoke", "[deleted a message]"), contacts=TENDAI),
    "pywa_edit": Outcome(
        **_silent("edit", "[edited] Deposit slip (the right one)"), contacts=TENDAI
    ),
    "pywa_call_permission_accept": Outcome(
        **_silent("call_permission_reply", "[call permission: accept]"), contacts=TENDAI
    ),
    "pywa_call_permission_reject": Outcome(
        **_silent("call_permission_reply", "[call permission: reject]"), contacts=TENDAI
    ),
    "pywa_system_phone_number_change": Outcome(
        **_silent(
            "system",
            f"[user_changed_number] User Tendai Moyo changed from {PHONE} to {PHONE_NEW}",
        ),
        contacts=((PHONE_NEW, None, ""),),  # the contact moved to the new number
    ),
    "pywa_system_identity_change": Outcome(
        **_silent("system", "[customer_identity_changed] User identity changed"),
        contacts=TENDAI_PHONE,
    ),
    # -- pywa: statuses ----------------------------------------------------------------------
    "pywa_status_sent": Outcome(statuses=("sent",)),
    "pywa_status_delivered": Outcome(statuses=("delivered",)),
    "pywa_status_read": Outcome(statuses=("read",)),
    "pywa_status_played": Outcome(statuses=("played",)),
    "pywa_status_failed": Outcome(statuses=("failed",)),
    "pywa_status_with_tracker": Outcome(statuses=("sent",)),
    "pywa_status_group": Outcome(statuses=("read",)),
    # -- pywa: template and account news (no metadata) ----------------------------------------
    "pywa_template_approved": Outcome(
        updates=(("message_template_status_update", "APPROVED"),),
        templates=(("booking_reminder", "APPROVED", ""),),
    ),
    "pywa_template_rejected": Outcome(
        updates=(("message_template_status_update", "REJECTED"),),
        templates=(("booking_reminder_promo", "REJECTED", ""),),
    ),
    "pywa_template_quality_yellow": Outcome(
        updates=(("message_template_quality_update", "YELLOW"),),
        templates=(("booking_reminder", "UNKNOWN", "YELLOW"),),
    ),
    "pywa_template_category_marketing": Outcome(
        updates=(("template_category_update", "MARKETING"),),
        templates=(("booking_reminder", "UNKNOWN", ""),),
    ),
    "pywa_template_components": Outcome(
        updates=(("message_template_components_update", ""),),
        templates=(("booking_reminder", "UNKNOWN", ""),),
    ),
    # -- pywa: other fields (calls, preferences, echoes) ------------------------------------
    "pywa_call_connect_business_initiated": Outcome(updates=(("calls", ""),)),
    "pywa_call_connect_user_initiated": Outcome(updates=(("calls", ""),)),
    "pywa_call_status": Outcome(updates=(("calls", ""),)),
    "pywa_call_terminate": Outcome(updates=(("calls", ""),)),
    "pywa_user_preferences_resume": Outcome(updates=(("user_preferences", ""),)),
    "pywa_user_preferences_signup": Outcome(updates=(("user_preferences", ""),)),
    "pywa_echo_text": Outcome(updates=(("smb_message_echoes", ""),)),
    "pywa_echo_delete": Outcome(updates=(("smb_message_echoes", ""),)),
    "pywa_echo_edit": Outcome(updates=(("smb_message_echoes", ""),)),
    # -- courier -------------------------------------------------------------------------------
    "courier_hello": Outcome(**_chat("text", "Hello Kalai"), contacts=CHIPO_PHONE),
    "courier_hello_user_id": Outcome(
        **_chat("text", "Hello Kalai"), contacts=((CHIPO, "ZW.5510", "chipo.d"),)
    ),
    "courier_hello_from_bsuid": Outcome(
        **_chat("text", "Hello Kalai"), contacts=((None, "ZW.5511", "chipo.d"),)
    ),
    "courier_hello_bsuid_in_from": Outcome(
        **_chat("text", "Hello Kalai"), contacts=((None, "ZW.5513", "chipo.d"),)
    ),
    "courier_hello_invalid_user_id": Outcome(**_chat("text", "Hello Kalai"), contacts=CHIPO_PHONE),
    "courier_no_from": Outcome(skipped=(f"{V}.contacts[0]", f"{V}.messages[0]")),
    "courier_invalid_from": Outcome(skipped=(f"{V}.contacts[0]", f"{V}.messages[0]")),
    "courier_invalid_timestamp": Outcome(skipped=(f"{V}.messages[0]",)),
    "courier_group_message": Outcome(skipped=(f"{V}.messages[0]",)),
    "courier_duplicate": Outcome(**_chat("text", "Hello twice"), contacts=CHIPO_PHONE),
    "courier_error_msg": Outcome(
        **_chat("unsupported", "[unsupported]", answered=True), contacts=CHIPO_PHONE
    ),
    "courier_error_errors": Outcome(),
    "courier_valid_status": Outcome(statuses=("sent",)),
    "courier_error_status": Outcome(statuses=("failed",)),
    "courier_ignore_status": Outcome(statuses=("deleted",)),
    "courier_invalid_status": Outcome(statuses=("in_orbit",)),
    "courier_button": Outcome(**_chat("button_reply", "Yes"), contacts=CHIPO_PHONE),
    "courier_button_reply": Outcome(**_chat("button_reply", "Sounds good"), contacts=CHIPO_PHONE),
    "courier_list_reply": Outcome(**_chat("list_reply", "Sunset cruise"), contacts=CHIPO_PHONE),
    "courier_nfm_reply": Outcome(**_chat("flow_reply", "[form submitted]"), contacts=CHIPO_PHONE),
    "courier_nfm_reply_non_object": Outcome(skipped=(f"{V}.messages[0]",)),
    "courier_document": Outcome(
        **_chat("document", "[document] Booking form", answered=True),
        contacts=CHIPO_PHONE,
        media=(("document", MEDIA_PENDING),),
    ),
    "courier_image": Outcome(
        **_chat("image", "[image] Our group at the Falls", answered=True),
        contacts=CHIPO_PHONE,
        media=(("image", MEDIA_PENDING),),
    ),
    "courier_video": Outcome(
        **_chat("video", "[video] Rafting!", answered=True), contacts=CHIPO_PHONE
    ),
    "courier_voice": Outcome(**_chat("voice", "[voice]", answered=True), contacts=CHIPO_PHONE),
    "courier_audio": Outcome(**_chat("audio", "[audio]", answered=True), contacts=CHIPO_PHONE),
    "courier_location": Outcome(
        **_chat("location", "[location] Rainforest entrance", answered=True), contacts=CHIPO_PHONE
    ),
    # -- Meta's documentation -------------------------------------------------------------------
    "meta_bsuid_username_text": Outcome(
        **_chat("text", "Hi, I'd like to book"), contacts=((None, USERNAME_BSUID, "tendai.moyo"),)
    ),
    "meta_bsuid_username_document": Outcome(
        **_chat("document", "[document] Bank transfer proof", answered=True),
        contacts=((None, USERNAME_BSUID, "tendai.moyo"),),
        media=(("document", MEDIA_PENDING),),
    ),
    "meta_bsuid_status_read": Outcome(statuses=("read",)),
    "meta_system_user_changed_number": Outcome(
        **_silent(
            "system",
            f"[user_changed_number] User Tendai Moyo changed from {PHONE} to {PHONE_NEW}",
        ),
        contacts=((PHONE_NEW, None, ""),),
    ),
    "meta_template_paused": Outcome(
        updates=(("message_template_status_update", "PAUSED"),),
        templates=(("reengage_traveller", "PAUSED", ""),),
    ),
    "meta_template_disabled": Outcome(
        updates=(("message_template_status_update", "DISABLED"),),
        templates=(("reengage_traveller", "DISABLED", ""),),
    ),
    "meta_template_reinstated": Outcome(
        updates=(("message_template_status_update", "REINSTATED"),),
        templates=(("reengage_traveller", "APPROVED", ""),),
    ),
    "meta_one_bad_item_in_three": Outcome(
        messages=(("text", "First, fine"), ("text", "Third, fine")),
        to_bot=2,
        contacts=TENDAI,
        skipped=(f"{V}.messages[1]",),
    ),
}
ACCOUNT_EVENTS = {
    "account_deleted": "ACCOUNT_DELETED",
    "account_restriction": "ACCOUNT_RESTRICTION",
    "account_violation": "ACCOUNT_VIOLATION",
    "ad_account_linked": "AD_ACCOUNT_LINKED",
    "authentication_international_eligibility": "AUTH_INTL_PRICE_ELIGIBILITY_UPDATE",
    "account_disabled": "DISABLED_UPDATE",
    "mm_api_for_wa_terms_of_service": "MM_LITE_TERMS_SIGNED",
    "partner_added": "PARTNER_ADDED",
    "partner_app_installed": "PARTNER_APP_INSTALLED",
    "partner_app_uninstalled": "PARTNER_APP_UNINSTALLED",
    "partner_led_business_verification_status": "PARTNER_CLIENT_CERTIFICATION_STATUS_UPDATE",
    "partner_removed": "PARTNER_REMOVED",
    "partner_removed_wa_app_disconnection": "PARTNER_REMOVED",
    "primary_business_location_set": "BUSINESS_PRIMARY_LOCATION_COUNTRY_UPDATE",
    "pricing_tiering_update": "VOLUME_BASED_PRICING_TIER_UPDATE",
    "account_offboarded": "ACCOUNT_OFFBOARDED",
    "account_reconnected": "ACCOUNT_RECONNECTED",
}
EXPECTED.update(
    {
        f"pywa_account_{key}": Outcome(updates=(("account_update", event),))
        for key, event in ACCOUNT_EVENTS.items()
    }
)


def test_every_fixture_names_its_source_and_has_an_expected_outcome():
    on_disk = {p.stem for p in SHAPES.glob("*.json")} - {"index"}
    assert on_disk == set(INDEX) == set(EXPECTED)
    for name, entry in INDEX.items():
        assert entry["source"] and entry["shape"], name
    assert len(EXPECTED) >= 100


def outcome_now(dispatched: list[int]) -> Outcome:
    inbound = Message.objects.filter(direction=Message.Direction.INBOUND).order_by("id")
    contacts = Contact.objects.filter(messages__direction="in").distinct().order_by("id")
    return Outcome(
        messages=tuple((m.message_type, m.text) for m in inbound),
        to_bot=len(dispatched),
        answered=Message.objects.filter(flow_step="unsupported_message_type").count(),
        statuses=tuple(MessageStatusEvent.objects.order_by("id").values_list("status", flat=True)),
        skipped=tuple(SkippedWebhookItem.objects.order_by("path").values_list("path", flat=True)),
        updates=tuple(AccountUpdate.objects.order_by("id").values_list("field", "update_type")),
        contacts=tuple((c.whatsapp_id, c.user_id, c.username) for c in contacts),
        media=tuple(MessageMedia.objects.order_by("id").values_list("kind", "status")),
        referral=Referral.objects.values_list("headline", flat=True).first() or "",
        templates=tuple(
            MessageTemplate.objects.order_by("id").values_list("name", "status", "quality_score")
        ),
    )


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_shape_plays_through_the_signed_webhook(name, config, post_webhook, dispatched):
    response = post_webhook((SHAPES / f"{name}.json").read_bytes())
    assert response.status_code == 200, INDEX[name]
    assert outcome_now(dispatched) == EXPECTED[name], INDEX[name]["source"]


def test_a_redelivery_of_any_shape_changes_nothing(config, post_webhook, dispatched):
    for name in sorted(EXPECTED):
        assert post_webhook((SHAPES / f"{name}.json").read_bytes()).status_code == 200
    before = outcome_now(dispatched)
    for name in sorted(EXPECTED):
        assert post_webhook((SHAPES / f"{name}.json").read_bytes()).status_code == 200
    assert outcome_now(dispatched) == before
    assert h.PHONE_NUMBER_ID  # the fixtures are addressed to the test business number
