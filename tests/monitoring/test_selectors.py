"""The selectors against seeded data with known answers (see conftest.py)."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from monitoring import selectors


def week():
    return selectors.last(days=7)


def test_success_rate_per_method_and_overall(seeded):
    rates = selectors.payment_success_rates(week())
    eco = rates.by_method["paynow_ecocash"]
    assert (eco.successful, eco.failed, eco.finished) == (3, 1, 4)
    assert eco.rate == pytest.approx(0.75)
    one = rates.by_method["paynow_onemoney"]
    assert (one.successful, one.cancelled, one.expired, one.finished) == (1, 1, 1, 3)
    assert one.rate == pytest.approx(1 / 3)
    assert rates.by_method["paynow_innbucks"].finished == 0
    assert rates.by_method["paynow_innbucks"].rate is None  # no data is not 0 %
    assert rates.overall.finished == 7
    assert rates.overall.rate == pytest.approx(4 / 7)
    assert rates.pending == 2
    assert rates.window.label == "7d"


def test_success_rate_window_includes_older_payments(seeded):
    rates = selectors.payment_success_rates(selectors.last(days=30))
    assert rates.overall.successful == 5  # + the EcoCash payment from 10 days ago
    assert rates.overall.finished == 8


def test_guide_query(seeded):
    stats = selectors.guide_payment_stats(days=7)
    assert (stats.total, stats.successful, stats.failed, stats.pending) == (9, 4, 1, 2)


def test_recent_failed_payments(seeded):
    failed = list(selectors.recent_failed_payments(limit=10))
    assert failed == [seeded.payments["eco_failed"]]


def test_percentile_interpolates_like_percentile_cont():
    assert selectors.percentile([], 0.5) is None
    assert selectors.percentile([7], 0.95) == 7
    assert selectors.percentile([100, 200, 300, 400], 0.5) == 250
    assert selectors.percentile([100, 200, 300, 400, 1000], 0.95) == pytest.approx(880)


def test_ipn_processing_times_from_valid_ipns(seeded):
    times = selectors.ipn_processing_times(week())
    assert times.count == 5
    assert times.median_ms == 300
    assert times.p95_ms == pytest.approx(880)
    assert times.max_ms == 1000


def test_ipn_processing_times_empty_window(seeded):
    times = selectors.ipn_processing_times(selectors.last(minutes=1))
    assert times.count == 0 and times.median_ms is None and times.max_ms is None


def test_flow_completion(seeded):
    flows = selectors.flow_completion(week())
    assert (flows.sent, flows.payment_started, flows.completed) == (4, 2, 1)
    assert flows.payment_start_rate == 0.5
    assert flows.completion_rate == 0.25


def test_backlog_counts(seeded):
    backlog = selectors.payment_backlog(week())
    assert backlog.pending == 2
    assert backlog.stuck_pending == 1  # older than PAYNOW_PENDING_TIMEOUT (15 min)
    assert backlog.expired == 1
    assert backlog.flagged == 1  # the resolved flag does not count
    assert list(selectors.stuck_pending_payments()) == [seeded.payments["eco_pending_stuck"]]


def test_stuck_pending_follows_the_timeout(seeded, settings):
    settings.PAYNOW_PENDING_TIMEOUT = 60
    assert selectors.payment_backlog(week()).stuck_pending == 0


def test_webhook_failures(seeded):
    failures = selectors.webhook_failures(week())
    assert failures.meta_invalid_signature == 1
    assert failures.meta_errored == 1
    assert failures.paynow_invalid == 1
    assert failures.total == 3


def test_lists_that_need_a_human(seeded):
    assert selectors.flagged_status_updates().get().flag == "amount_mismatch"
    assert selectors.failed_outbound_messages(week()).count() == 1
    assert [c.name for c in selectors.contacts_waiting_for_agent()] == ["Waiting"]


def test_amount_collected_per_currency(seeded):
    assert selectors.amount_collected(week()) == {"USD": Decimal("55.50")}


def test_daily_figures(seeded):
    days = selectors.daily_figures(days=30)
    assert len(days) == 30
    assert days[-1].day == timezone.localdate()
    assert sum(d.finished for d in days) == 8
    assert sum(d.successful for d in days) == 5
    assert sum(d.forms_sent for d in days) == 4
    assert sorted(v for d in days for v in d.ipn_values) == [100, 200, 300, 400, 1000]


def test_today_starts_at_local_midnight():
    window = selectors.today()
    local = timezone.localtime(window.since)
    assert (local.hour, local.minute, local.second) == (0, 0, 0)
    assert window.until - window.since < timedelta(days=1)


# --- bookings per ad (click-to-WhatsApp referrals) ------------------------------------------


def test_a_booking_is_counted_for_the_ad_its_contact_came_from(make_booking):
    from datetime import timedelta

    from django.utils import timezone

    from conversations import services as conversations
    from conversations.models import Contact, Message
    from monitoring import selectors as s

    def arrived(contact, *, headline, ad, days_ago):
        message = Message.objects.create(
            contact=contact,
            direction="in",
            message_type="text",
            status="received",
            timestamp=timezone.now() - timedelta(days=days_ago),
        )
        conversations.record_referral(
            message, ctwa_clid=f"clid-{ad}", source_id=ad, source_type="ad", headline=headline
        )

    tendai = Contact.objects.create(whatsapp_id="263771234567")
    chipo = Contact.objects.create(user_id="ZW.5511", username="chipo.d")
    walk_in = Contact.objects.create(whatsapp_id="263772222222")
    arrived(tendai, headline="Falls tour", ad="ad-1", days_ago=30)
    arrived(tendai, headline="Sunset cruise", ad="ad-2", days_ago=2)  # the latest before booking
    arrived(chipo, headline="Sunset cruise", ad="ad-2", days_ago=1)
    booked = [make_booking(contact=c) for c in (tendai, chipo, walk_in)]

    assert s.booking_referral(booked[0]).headline == "Sunset cruise"
    assert s.booking_referral(booked[0]).ctwa_clid == "clid-ad-2"
    assert s.booking_referral(booked[2]) is None
    assert s.bookings_per_ad(s.last(days=7)) == [
        s.AdBookings(ad="ad-2", headline="Sunset cruise", bookings=2)
    ]
