"""Settings of the bare-stack yardstick: one app, no middleware, PostgreSQL from DATABASE_URL
with the connection kept as ours keeps it (``CONN_MAX_AGE``), DEBUG off."""

import environ

env = environ.Env()

DEBUG = False
SECRET_KEY = env.str("SECRET_KEY", default="bare-yardstick-key-not-for-production-0123456789")
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]
INSTALLED_APPS = ["benchmarks.bare"]
MIDDLEWARE: list[str] = []
ROOT_URLCONF = "benchmarks.bare.urls"
WSGI_APPLICATION = "benchmarks.bare.wsgi.application"
DATABASES = {"default": env.db_url("DATABASE_URL")}
DATABASES["default"]["CONN_MAX_AGE"] = env.int("DB_CONN_MAX_AGE", default=60)
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
USE_TZ = True
DATA_UPLOAD_MAX_MEMORY_SIZE = 3 * 1024 * 1024

# The secrets the yardstick verifies with: the same ones the benchmark signs with.
BARE_APP_SECRET = env.str("BARE_APP_SECRET", default="bench-app-secret")
BARE_PAYNOW_KEY = env.str("BARE_PAYNOW_KEY", default="0f3a5c2e-8b1d-4e6f-9a7c-2d4b6e8f0a1c")
