"""The operations dashboard in the admin: staff only, figures, charts, lists."""

import pytest
from django.contrib.auth import get_user_model

URL = "/admin/monitoring/dashboard/"


@pytest.fixture
def staff_client(client, db):
    user = get_user_model().objects.create_user("ops", password="pw", is_staff=True)
    client.force_login(user)
    return client


def test_dashboard_renders_for_staff(staff_client, seeded):
    response = staff_client.get(URL)
    assert response.status_code == 200
    html = response.content.decode()
    assert "Operations dashboard" in html
    for label in ("Today", "7 days", "30 days"):
        assert label in html
    assert "57.1 %" in html  # 4/7 over 7 days
    assert html.count('class="chart"') == 4  # server-side SVG charts, no JavaScript
    assert "<script" not in html.split('id="content-main"')[1]
    assert "Amount differs from the payment" in html  # the flagged IPN
    assert seeded.payments["eco_pending_stuck"].reference in html  # stuck pending
    assert "Re-engagement message" in html  # failed outbound message
    assert "Waiting" in html  # contact waiting for an agent
    # Phone numbers are masked on the page.
    assert "0779876543" not in html and "*******543" in html
    assert "263712345678" not in html


def test_dashboard_renders_on_an_empty_database(staff_client):
    response = staff_client.get(URL)
    assert response.status_code == 200
    assert "no data yet" in response.content.decode()


def test_dashboard_refused_to_anonymous_and_non_staff(client, db):
    response = client.get(URL)
    assert response.status_code == 302
    assert "/admin/login/" in response["Location"]
    user = get_user_model().objects.create_user("traveller", password="pw", is_staff=False)
    client.force_login(user)
    response = client.get(URL)
    assert response.status_code == 302
    assert "/admin/login/" in response["Location"]


def test_admin_index_links_to_the_dashboard(staff_client):
    html = staff_client.get("/admin/").content.decode()
    assert URL in html
    assert "Operations dashboard" in html


def test_the_dashboard_counts_bookings_per_ad(admin_client, make_booking):
    from django.urls import reverse
    from django.utils import timezone

    from conversations import services as conversations
    from conversations.models import Contact, Message

    contact = Contact.objects.create(user_id="ZW.5511", username="chipo.d")
    message = Message.objects.create(
        contact=contact,
        direction="in",
        message_type="text",
        status="received",
        timestamp=timezone.now(),
    )
    conversations.record_referral(message, source_id="ad-77", headline="Zambezi sunset cruise")
    make_booking(contact=contact)
    page = admin_client.get(reverse("admin:monitoring_dashboard"))
    assert page.status_code == 200
    assert b"Bookings from WhatsApp ads" in page.content
    assert b"Zambezi sunset cruise" in page.content
