"""Inbound photos and PDFs (services.media): fetched through the Graph API as Meta serves them
(the WhatsApp emulator over real HTTP), checked (type, size, magic number, SHA-256) and kept in
the media storage; staff open them from the admin, nobody else can.

The checks Meta's own server never fails are played against a small Graph stand-in
(``WebhookRecorder`` answering as told): a wrong checksum, a URL that stopped working.
"""

from __future__ import annotations

import base64
import hashlib
import json
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
from django.contrib.auth.models import Permission
from django.urls import reverse

from conversations import selectors as conversation_selectors
from conversations.models import Message, MessageMedia
from meta_integration import tasks
from meta_integration.services import housekeeping
from meta_integration.services import media as media_service
from sandbox.whatsapp.media import SAMPLE_PDF, SAMPLE_PNG
from sandbox.whatsapp.testing import WebhookRecorder
from tests.meta_integration import whatsapp_helpers as h

pytestmark = pytest.mark.django_db

REPO = Path(__file__).resolve().parents[3]
USER = "263771234567"


@pytest.fixture
def send_from_phone(emulator, emulated_config, post_webhook):
    """A user sends a file on the emulated phone; the webhook reaches us signed (in-process)."""

    def send(handle: str = USER, **spec) -> Message:
        record, event = emulator.user_sends(handle, spec)
        assert post_webhook(json.dumps(event["body"]).encode()).status_code == 200
        return Message.objects.get(wamid=record.wamid)

    return send


def b64(content: bytes) -> str:
    return base64.b64encode(content).decode()


def test_a_pdf_proof_is_fetched_checked_and_stored(send_from_phone):
    message = send_from_phone(
        type="document",
        data=b64(SAMPLE_PDF),
        mime_type="application/pdf",
        filename="deposit slip.pdf",
        caption="My deposit",
    )
    media = conversation_selectors.stored_media_of_message(message.pk)
    assert media is not None
    assert (media.kind, media.mime_type, media.size) == (
        "document",
        "application/pdf",
        len(SAMPLE_PDF),
    )
    assert media.sha256 == hashlib.sha256(SAMPLE_PDF).hexdigest()
    assert (media.filename, media.caption, media.attempts) == ("deposit slip.pdf", "My deposit", 1)
    with media.file.open("rb") as stored:
        assert stored.read() == SAMPLE_PDF
    # The sender's file name never becomes a path: the stored name is the content's hash (with
    # the storage's suffix when the same bytes were stored before).
    assert media.file.name.startswith("inbound/") and media.sha256 in media.file.name
    assert "deposit" not in media.file.name


def test_a_photo_is_stored_and_a_second_attempt_changes_nothing(send_from_phone):
    message = send_from_phone(type="image", data=b64(SAMPLE_PNG), mime_type="image/png")
    media = MessageMedia.objects.get(message=message)
    assert media.status == MessageMedia.Status.STORED and media.is_image
    assert (
        media_service.download_inbound_media(media.pk) == media_service.MediaOutcome.NOTHING_TO_DO
    )
    assert MessageMedia.objects.get(pk=media.pk).attempts == 1


def test_a_type_we_do_not_keep_is_refused_before_it_is_downloaded(send_from_phone, settings):
    settings.INBOUND_MEDIA_TYPES = ["application/pdf"]
    message = send_from_phone(type="image", data=b64(SAMPLE_PNG), mime_type="image/png")
    media = MessageMedia.objects.get(message=message)
    assert (media.status, media.error) == ("refused", "type image/png is not accepted")
    assert not media.file
    assert conversation_selectors.stored_media_of_message(message.pk) is None


def test_a_file_over_the_limit_is_refused(send_from_phone, settings):
    settings.INBOUND_MEDIA_MAX_BYTES = len(SAMPLE_PDF) - 1
    message = send_from_phone(type="document", data=b64(SAMPLE_PDF), mime_type="application/pdf")
    media = MessageMedia.objects.get(message=message)
    assert media.status == "refused"
    assert media.error == f"{len(SAMPLE_PDF)} bytes is over the {len(SAMPLE_PDF) - 1}-byte limit"


def test_bytes_that_are_not_what_the_type_says_are_refused(send_from_phone):
    html = b"<html><script>alert(1)</script></html>"
    message = send_from_phone(type="document", data=b64(html), mime_type="application/pdf")
    media = MessageMedia.objects.get(message=message)
    assert (media.status, media.error) == ("refused", "the bytes are not a application/pdf file")
    assert not media.file


@pytest.fixture
def graph_stand_in():
    """A Graph server that answers what the test says (for what Meta's never does)."""
    recorder = WebhookRecorder()
    yield recorder
    recorder.close()


def _stand_in_answers(recorder: WebhookRecorder, *, content: bytes, sha256: str, media_status=200):
    base = recorder.url.rsplit("/", 1)[0]

    def answer(request):
        if "/files/" in request.path:
            return media_status, content, "application/pdf"
        info = {
            "messaging_product": "whatsapp",
            "url": f"{base}/files/1",
            "mime_type": "application/pdf",
            "sha256": sha256,
            "file_size": str(len(content)),
            "id": "1",
        }
        return 200, json.dumps(info).encode(), "application/json"

    recorder.handler = answer
    return base


def _pending_document(config) -> MessageMedia:
    from conversations import services as conversations

    contact = conversations.resolve_contact(conversations.Identity(whatsapp_id=USER))
    message, _ = conversations.record_inbound_message(
        contact=contact,
        business_number_id=config.phone_number_id,
        wamid="wamid.MEDIA-TEST-1",
        message_type="document",
        text="[document]",
        payload={},
        timestamp=contact.created_at,
    )
    return conversations.expect_media(message, channel_media_id="1", kind="document")


def test_a_checksum_that_does_not_match_is_refused(make_config, graph_stand_in):
    base = _stand_in_answers(graph_stand_in, content=SAMPLE_PDF, sha256="0" * 64)
    media = _pending_document(make_config(graph_base_url=base))
    assert media_service.download_inbound_media(media.pk) == media_service.MediaOutcome.REFUSED
    media.refresh_from_db()
    assert (media.status, media.error) == ("refused", "checksum does not match")
    # The request for the bytes carried the access token, as Meta requires.
    download = [r for r in graph_stand_in.requests if "/files/" in r.path]
    assert download[0].headers["authorization"] == f"Bearer {h.ACCESS_TOKEN}"


def test_a_base64_checksum_is_as_good_as_a_hex_one(make_config, graph_stand_in):
    digest = base64.b64encode(hashlib.sha256(SAMPLE_PDF).digest()).decode()
    base = _stand_in_answers(graph_stand_in, content=SAMPLE_PDF, sha256=digest)
    media = _pending_document(make_config(graph_base_url=base))
    assert media_service.download_inbound_media(media.pk) == media_service.MediaOutcome.STORED


def test_a_failed_fetch_is_retried_by_the_sweep_then_given_up(make_config, graph_stand_in):
    base = _stand_in_answers(
        graph_stand_in,
        content=b"",
        sha256=hashlib.sha256(SAMPLE_PDF).hexdigest(),
        media_status=503,
    )
    media = _pending_document(make_config(graph_base_url=base))
    assert media_service.download_inbound_media(media.pk) == media_service.MediaOutcome.RETRY
    media.refresh_from_db()
    assert (media.status, media.attempts) == ("pending", 1)
    assert housekeeping.pending_media(grace=timedelta(0)) == [media.pk]
    for _ in range(media_service.MAX_ATTEMPTS - 1):
        tasks.download_media(media.pk)  # what the sweep enqueues
    media.refresh_from_db()
    assert (media.status, media.attempts) == ("failed", media_service.MAX_ATTEMPTS)
    assert housekeeping.pending_media(grace=timedelta(0)) == []


def test_an_expired_media_id_gives_up_at_once(emulated_config):
    media = _pending_document(emulated_config)  # the emulator has no media "1"
    assert media_service.download_inbound_media(media.pk) == media_service.MediaOutcome.FAILED
    media.refresh_from_db()
    assert media.status == "failed" and "Unsupported get request" in media.error


@pytest.mark.parametrize(
    ("expected", "digest"),
    [
        (True, hashlib.sha256(b"x").hexdigest()),
        (True, hashlib.sha256(b"x").hexdigest().upper()),
        (True, base64.b64encode(hashlib.sha256(b"x").digest()).decode()),
        (True, base64.urlsafe_b64encode(hashlib.sha256(b"x").digest()).decode().rstrip("=")),
        (False, hashlib.sha256(b"y").hexdigest()),
        (False, "not base64 !!"),
        (False, ""),
    ],
)
def test_sha256_is_compared_in_either_encoding(expected, digest):
    assert media_service.sha256_matches(hashlib.sha256(b"x").digest(), digest) is expected


# --- staff see it, nobody else ----------------------------------------------------------------


def test_staff_open_the_pdf_and_see_the_photo_from_the_message(
    send_from_phone, client, django_user_model
):
    pdf = send_from_phone(type="document", data=b64(SAMPLE_PDF), mime_type="application/pdf")
    photo = send_from_phone(type="image", data=b64(SAMPLE_PNG), mime_type="image/png")
    staff = django_user_model.objects.create_user("agent", password="x", is_staff=True)
    staff.user_permissions.add(Permission.objects.get(codename="view_message"))
    client.force_login(staff)

    answer = client.get(reverse("admin:conversations_message_media", args=[pdf.pk]))
    assert answer.status_code == 200
    assert answer["Content-Type"] == "application/pdf"
    assert answer["X-Content-Type-Options"] == "nosniff"
    assert "default-src 'none'" in answer["Content-Security-Policy"]
    assert b"".join(answer.streaming_content) == SAMPLE_PDF

    page = client.get(reverse("admin:conversations_message_change", args=[photo.pk]))
    photo_url = reverse("admin:conversations_message_media", args=[photo.pk])
    assert f'<img src="{photo_url}"'.encode() in page.content
    page = client.get(reverse("admin:conversations_message_change", args=[pdf.pk]))
    assert b"Open the document" in page.content


def test_the_file_needs_the_view_permission_and_a_login(send_from_phone, client, django_user_model):
    pdf = send_from_phone(type="document", data=b64(SAMPLE_PDF), mime_type="application/pdf")
    url = reverse("admin:conversations_message_media", args=[pdf.pk])
    assert client.get(url).status_code == 302  # to the login page
    nobody = django_user_model.objects.create_user("clerk", password="x", is_staff=True)
    client.force_login(nobody)
    assert client.get(url).status_code == 403


def test_a_message_without_a_stored_file_has_nothing_to_open(config, client, admin_user):
    from conversations import services as conversations

    contact = conversations.resolve_contact(conversations.Identity(whatsapp_id=USER))
    message = Message.objects.create(
        contact=contact, direction="in", message_type="text", text="hi", status="received"
    )
    client.force_login(admin_user)
    url = reverse("admin:conversations_message_media", args=[message.pk])
    assert client.get(url).status_code == 404


# --- where the files go ---------------------------------------------------------------------


def _storage_setting(**env: str) -> dict:
    script = (
        "import json, os; os.environ.update(DEBUG='true');"
        "from whatsappcrm import settings;"
        "print(json.dumps(settings.STORAGES['inbound_media']))"
    )
    answer = subprocess.run(
        [sys.executable, "-c", script],
        cwd=REPO,
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(REPO / "whatsappcrm_backend"), **env},
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(answer.stdout)


def test_the_embedded_default_is_a_private_local_folder():
    storage = _storage_setting()
    assert storage["BACKEND"] == "django.core.files.storage.FileSystemStorage"
    assert storage["OPTIONS"]["location"].endswith("var/inbound-media")
    assert storage["OPTIONS"]["base_url"] is None


def test_s3_compatible_storage_by_setting():
    storage = _storage_setting(
        INBOUND_MEDIA_STORAGE="s3",
        INBOUND_MEDIA_S3_BUCKET="kalai-proofs",
        INBOUND_MEDIA_S3_ENDPOINT_URL="https://s3.eu-central-1.example.com",
        INBOUND_MEDIA_S3_REGION="eu-central-1",
    )
    assert storage["BACKEND"] == "storages.backends.s3.S3Storage"
    options = storage["OPTIONS"]
    assert (options["bucket_name"], options["endpoint_url"], options["region_name"]) == (
        "kalai-proofs",
        "https://s3.eu-central-1.example.com",
        "eu-central-1",
    )
    assert (options["default_acl"], options["querystring_auth"]) == ("private", True)
    from storages.backends.s3 import S3Storage  # the backend named there exists and loads

    assert S3Storage(**options).bucket_name == "kalai-proofs"
