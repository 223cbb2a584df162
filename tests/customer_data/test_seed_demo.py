import json
from io import StringIO

import pytest
from django.contrib.auth import authenticate
from django.core.management import call_command

from customer_data.models import SeasonalTourPrice, Tour

pytestmark = pytest.mark.django_db


def test_seed_demo_is_idempotent():
    call_command("seed_demo", stdout=StringIO())
    counts = (Tour.objects.count(), SeasonalTourPrice.objects.count())
    call_command("seed_demo", stdout=StringIO())
    assert (Tour.objects.count(), SeasonalTourPrice.objects.count()) == counts
    assert counts[0] >= 5 and counts[1] >= 1
    assert Tour.objects.filter(name__icontains="Victoria Falls", is_active=True).exists()


def test_seed_demo_admin_prints_working_credentials(settings, tmp_path):
    settings.REPO_DIR = tmp_path
    out = StringIO()
    call_command("seed_demo", "--admin", stdout=out)
    saved = json.loads((tmp_path / "var" / "local-admin.json").read_text())
    assert saved["password"] in out.getvalue()
    user = authenticate(username=saved["username"], password=saved["password"])
    assert user is not None and user.is_superuser
    again = StringIO()
    call_command("seed_demo", "--admin", stdout=again)
    assert saved["password"] in again.getvalue()  # a second run keeps the same credentials
