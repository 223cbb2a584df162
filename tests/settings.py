"""Settings for the test suite: production settings with test-safe values for the secrets.

Everything else (DATABASE_URL, CELERY_BROKER_URL, ...) comes from the environment as in
production, so CI runs the suite against PostgreSQL and Redis.
"""

import os
import tempfile
from pathlib import Path

os.environ.setdefault("DEBUG", "false")
os.environ.setdefault("SECRET_KEY", "test-secret-key-not-for-production-0123456789abcdef")
os.environ.setdefault("SITE_URL", "http://testserver")
os.environ.setdefault("ALLOWED_HOSTS", "testserver,127.0.0.1,localhost")
# A fixed Fernet key, only for tests.
os.environ.setdefault("FIELD_ENCRYPTION_KEY", "dGVzdC1vbmx5LWZpZWxkLWVuY3J5cHRpb24ta2V5ISE=")
os.environ.setdefault("SECURE_SSL_REDIRECT", "false")

from whatsappcrm.settings import *  # noqa: F403

Path(STATIC_ROOT).mkdir(parents=True, exist_ok=True)  # noqa: F405
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]  # fast test users

# Tasks run in-process unless a test starts a real Celery worker (those tests switch this
# off for their duration); CI still has CELERY_BROKER_URL pointing at Redis for them.
CELERY_TASK_ALWAYS_EAGER = True

# The suite posts many webhooks from 127.0.0.1; the rate-limit tests switch this on.
RATE_LIMIT_ENABLED = False

# Inbound photos and PDFs go to a throw-away folder, not the repository's var/.
INBOUND_MEDIA_ROOT = tempfile.mkdtemp(prefix="wacrm-test-media-")
STORAGES["inbound_media"]["OPTIONS"]["location"] = INBOUND_MEDIA_ROOT  # noqa: F405
