"""Settings, read from the environment (12-factor); a `.env` file is read when present.

Every variable is documented in `.env.example` at the repository root.
"""

from decimal import Decimal
from pathlib import Path

import environ
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent  # whatsappcrm_backend/
REPO_DIR = BASE_DIR.parent

env = environ.Env()
for candidate in (REPO_DIR / ".env", BASE_DIR / ".env"):
    if candidate.is_file():
        environ.Env.read_env(str(candidate), overwrite=False)
        break

DEBUG = env.bool("DEBUG", default=False)

SECRET_KEY = env.str("SECRET_KEY", default="")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured("SECRET_KEY must be set (only DEBUG=true may run without one).")
    SECRET_KEY = "insecure-development-only-key-do-not-use-in-production"  # noqa: S105

ALLOWED_HOSTS = env.list(
    "ALLOWED_HOSTS", default=["127.0.0.1", "localhost", "[::1]"] if DEBUG else []
)

SITE_URL = env.str("SITE_URL", default="").rstrip("/")
if not SITE_URL:
    if not DEBUG:
        raise ImproperlyConfigured(
            "SITE_URL must be set: every callback URL (Paynow result/return) is built from it."
        )
    SITE_URL = "http://127.0.0.1:8000"

CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[SITE_URL])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "conversations",
    "customer_data",
    "paynow_integration",
    "meta_integration",
    "flows",
    "monitoring",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "whatsappcrm.middleware.RequestIdMiddleware",
    "monitoring.ratelimit.RateLimitMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "whatsappcrm.urls"
WSGI_APPLICATION = "whatsappcrm.wsgi.application"
ASGI_APPLICATION = "whatsappcrm.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "meta_integration.context_processors.whatsapp_chat",
            ],
        },
    },
]

# The embedded default is a SQLite file; production and CI use PostgreSQL via DATABASE_URL.
DATABASES = {
    "default": env.db_url("DATABASE_URL", default=f"sqlite:///{REPO_DIR / 'var' / 'db.sqlite3'}")
}
DATABASES["default"].setdefault("CONN_MAX_AGE", env.int("DB_CONN_MAX_AGE", default=60))
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    Path(DATABASES["default"]["NAME"]).parent.mkdir(parents=True, exist_ok=True)
    DATABASES["default"]["CONN_MAX_AGE"] = 0
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {"timeout": 20, "transaction_mode": "IMMEDIATE"}
    )
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-gb"
TIME_ZONE = env.str("TIME_ZONE", default="Africa/Harare")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = env.str("STATIC_ROOT", default=str(REPO_DIR / "var" / "static"))
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"
        if not DEBUG
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}
MEDIA_ROOT = env.str("MEDIA_ROOT", default=str(REPO_DIR / "var" / "media"))
MEDIA_URL = "media/"

# Photos and PDFs travellers send (proofs of payment): private files, shown to staff only
# through the admin. "filesystem" keeps them under INBOUND_MEDIA_ROOT; "s3" in a bucket of
# any S3-compatible service (django-storages), never with public URLs.
INBOUND_MEDIA_STORAGE = env.str("INBOUND_MEDIA_STORAGE", default="filesystem").lower()
INBOUND_MEDIA_ROOT = env.str("INBOUND_MEDIA_ROOT", default=str(REPO_DIR / "var" / "inbound-media"))
if INBOUND_MEDIA_STORAGE == "filesystem":
    STORAGES["inbound_media"] = {
        "BACKEND": "django.core.files.storage.FileSystemStorage",
        # No base_url: the files are not served by URL, only streamed by the admin.
        "OPTIONS": {"location": INBOUND_MEDIA_ROOT, "base_url": None},
    }
elif INBOUND_MEDIA_STORAGE == "s3":
    STORAGES["inbound_media"] = {
        "BACKEND": "storages.backends.s3.S3Storage",
        "OPTIONS": {
            "bucket_name": env.str("INBOUND_MEDIA_S3_BUCKET"),
            "endpoint_url": env.str("INBOUND_MEDIA_S3_ENDPOINT_URL", default="") or None,
            "region_name": env.str("INBOUND_MEDIA_S3_REGION", default="") or None,
            "access_key": env.str("INBOUND_MEDIA_S3_ACCESS_KEY_ID", default="") or None,
            "secret_key": env.str("INBOUND_MEDIA_S3_SECRET_ACCESS_KEY", default="") or None,
            "location": env.str("INBOUND_MEDIA_S3_PREFIX", default="whatsapp-media"),
            "default_acl": "private",
            "querystring_auth": True,
            "file_overwrite": False,
        },
    }
else:
    raise ImproperlyConfigured("INBOUND_MEDIA_STORAGE must be 'filesystem' or 's3'.")
# What a traveller's file may be (bigger or other files are recorded, not stored).
INBOUND_MEDIA_MAX_BYTES = env.int("INBOUND_MEDIA_MAX_BYTES", default=16 * 1024 * 1024)
INBOUND_MEDIA_TYPES = env.list(
    "INBOUND_MEDIA_TYPES", default=["image/jpeg", "image/png", "image/webp", "application/pdf"]
)

# Secrets at rest (Paynow integration key, Meta tokens) are encrypted with this Fernet key.
# Several keys, comma-separated, allow rotation: the first encrypts, all decrypt.
FIELD_ENCRYPTION_KEY = env.list("FIELD_ENCRYPTION_KEY", default=[])
if not FIELD_ENCRYPTION_KEY and not DEBUG:
    raise ImproperlyConfigured(
        "FIELD_ENCRYPTION_KEY must be set; generate one with: python -c "
        "'from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())'"
    )

# --- Background work -------------------------------------------------------------------
# With a broker, Celery workers run tasks; without one (the embedded default) tasks run
# in-process, so `make run` needs no other service.
CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default="")
CELERY_RESULT_BACKEND = env.str("CELERY_RESULT_BACKEND", default="") or None
CELERY_TASK_ALWAYS_EAGER = not CELERY_BROKER_URL
CELERY_TASK_EAGER_PROPAGATES = False
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TIMEZONE = TIME_ZONE
CELERY_BROKER_TRANSPORT_OPTIONS: dict[str, object] = {}
CELERY_WORKER_HIJACK_ROOT_LOGGER = False  # keep our (JSON) log handler in workers
CELERY_BEAT_SCHEDULE = {
    "reconcile-paynow-payments": {
        "task": "paynow_integration.tasks.reconcile_payments",
        "schedule": env.float("PAYNOW_RECONCILE_INTERVAL", default=60.0),
    },
    "monitoring-payment-alerts": {
        "task": "monitoring.tasks.check_payment_alerts",
        "schedule": env.float("ALERT_CHECK_INTERVAL", default=60.0),
    },
    "sweep-whatsapp-queues": {
        "task": "meta_integration.tasks.sweep_outbound_queues",
        "schedule": 60.0,
    },
}

CACHES = {
    "default": env.cache_url("CACHE_URL", default="locmemcache://")
    if env.str("CACHE_URL", default="")
    else {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}
}

# --- Money -----------------------------------------------------------------------------
DEPOSIT_PERCENT = Decimal(env.str("DEPOSIT_PERCENT", default="50"))
DEFAULT_CURRENCY = env.str("DEFAULT_CURRENCY", default="USD")

# --- Paynow -----------------------------------------------------------------------------
# Off hides the Paynow options and refuses new Paynow payments (the guide's rollback switch).
PAYNOW_ENABLED = env.bool("PAYNOW_ENABLED", default=True)
# Card payments through Paynow's web checkout ("Pay by card"); the merchant's Paynow
# integration must accept cards. Off by default; `make run` switches it on.
PAYNOW_CARD_ENABLED = env.bool("PAYNOW_CARD_ENABLED", default=False)
# Confirm each status update by polling the poll URL we stored before crediting.
PAYNOW_CONFIRM_BY_POLL = env.bool("PAYNOW_CONFIRM_BY_POLL", default=True)
# Minutes a Paynow payment may stay pending before reconciliation expires it.
PAYNOW_PENDING_TIMEOUT = env.float("PAYNOW_PENDING_TIMEOUT", default=15.0)
# Seconds during which an identical request returns the pending payment (no second prompt).
PAYNOW_DUPLICATE_WINDOW = env.float("PAYNOW_DUPLICATE_WINDOW", default=300.0)
# Seconds after which a trace answering NotFound means Paynow never got the request.
PAYNOW_TRACE_GRACE = env.float("PAYNOW_TRACE_GRACE", default=120.0)
# Seconds to wait for Paynow: to connect, and for an answer.
PAYNOW_CONNECT_TIMEOUT = env.float("PAYNOW_CONNECT_TIMEOUT", default=5.0)
PAYNOW_READ_TIMEOUT = env.float("PAYNOW_READ_TIMEOUT", default=20.0)

# --- WhatsApp Cloud API ----------------------------------------------------------------
# Credentials live in the admin (Meta Integration → Meta App Configs), encrypted at rest.
# Dotted path of the function that handles each new inbound message (the flow engine).
INBOUND_MESSAGE_HANDLER = env.str(
    "INBOUND_MESSAGE_HANDLER", default="flows.services.handle_inbound_message"
)
# Template sent instead of a free-form message outside the 24-hour window ("" = none).
WHATSAPP_REENGAGEMENT_TEMPLATE = env.str("WHATSAPP_REENGAGEMENT_TEMPLATE", default="")
WHATSAPP_REENGAGEMENT_TEMPLATE_LANGUAGE = env.str(
    "WHATSAPP_REENGAGEMENT_TEMPLATE_LANGUAGE", default="en"
)
WHATSAPP_SEND_MAX_ATTEMPTS = env.int("WHATSAPP_SEND_MAX_ATTEMPTS", default=6)
WHATSAPP_SEND_RETRY_BASE_SECONDS = env.float("WHATSAPP_SEND_RETRY_BASE_SECONDS", default=2.0)
WHATSAPP_SEND_RETRY_MAX_SECONDS = env.float("WHATSAPP_SEND_RETRY_MAX_SECONDS", default=300.0)
# Celery queue for WhatsApp sends ("" = the default queue).
WHATSAPP_TASK_QUEUE = env.str("WHATSAPP_TASK_QUEUE", default="")
WHATSAPP_MARK_AS_READ = env.bool("WHATSAPP_MARK_AS_READ", default=True)
# Minutes the bot stays quiet after staff take over a conversation.
BOT_PAUSE_DEFAULT_MINUTES = env.int("BOT_PAUSE_DEFAULT_MINUTES", default=60)

# --- Conversations (flow engine) ---------------------------------------------------------
# Seconds of silence after which a conversation ends (with a short note when they return).
FLOW_IDLE_TIMEOUT = env.int("FLOW_IDLE_TIMEOUT", default=24 * 3600)
FLOW_DEFAULT = env.str("FLOW_DEFAULT", default="main_menu")
COMPANY_NAME = env.str("COMPANY_NAME", default="Kalai Safaris")
COMPANY_CONTACT_DETAILS = env.str(
    "COMPANY_CONTACT_DETAILS",
    default="Kalai Safaris, Park Way, Victoria Falls, Zimbabwe\n"
    "Phone: +263 83 284 0000 · E-mail: bookings@kalaisafaris.com\n"
    "Office hours: Mon-Sat 07:00-18:00",
)
BANK_TRANSFER_DETAILS = env.str(
    "BANK_TRANSFER_DETAILS",
    default="Bank: CBZ Bank, Victoria Falls branch\nAccount name: Kalai Safaris (Pvt) Ltd\n"
    "Account number: 01234567890123 (USD)",
)
OMARI_PAYMENT_DETAILS = env.str(
    "OMARI_PAYMENT_DETAILS", default="Omari merchant code: 123456 (Kalai Safaris)"
)

# --- WhatsApp Flows (native forms) ---------------------------------------------------------
# The data endpoint's RSA private key: a PEM file path, or the PEM itself (wins), and its
# passphrase. The previous key keeps decrypting during a rotation.
WHATSAPP_FLOW_PRIVATE_KEY_PATH = env.str(
    "WHATSAPP_FLOW_PRIVATE_KEY_PATH", default=str(REPO_DIR / "var" / "flow-keys" / "private.pem")
)
WHATSAPP_FLOW_PRIVATE_KEY = env.str("WHATSAPP_FLOW_PRIVATE_KEY", default="", multiline=True)
WHATSAPP_FLOW_PRIVATE_KEY_PASSPHRASE = env.str("WHATSAPP_FLOW_PRIVATE_KEY_PASSPHRASE", default="")
WHATSAPP_FLOW_PREVIOUS_PRIVATE_KEY_PATH = env.str(
    "WHATSAPP_FLOW_PREVIOUS_PRIVATE_KEY_PATH", default=""
)
WHATSAPP_FLOW_PREVIOUS_PRIVATE_KEY = env.str(
    "WHATSAPP_FLOW_PREVIOUS_PRIVATE_KEY", default="", multiline=True
)
WHATSAPP_FLOW_PREVIOUS_PRIVATE_KEY_PASSPHRASE = env.str(
    "WHATSAPP_FLOW_PREVIOUS_PRIVATE_KEY_PASSPHRASE", default=WHATSAPP_FLOW_PRIVATE_KEY_PASSPHRASE
)
# Seconds a payment form stays usable after it is sent.
WHATSAPP_FLOW_TOKEN_TTL = env.int("WHATSAPP_FLOW_TOKEN_TTL", default=3600)

# --- Operations (monitoring) ----------------------------------------------------------
# /metrics requires "Authorization: Bearer <token>" when set.
METRICS_TOKEN = env.str("METRICS_TOKEN", default="")
PAYMENT_SUCCESS_ALERT_THRESHOLD = env.float("PAYMENT_SUCCESS_ALERT_THRESHOLD", default=0.8)
PAYMENT_ALERT_MIN_PAYMENTS = env.int("PAYMENT_ALERT_MIN_PAYMENTS", default=5)
PAYMENT_ALERT_WINDOW_MINUTES = env.float("PAYMENT_ALERT_WINDOW_MINUTES", default=60.0)
IPN_SILENCE_ALERT_MINUTES = env.float("IPN_SILENCE_ALERT_MINUTES", default=30.0)
IPN_ALERT_PENDING_MINUTES = env.float("IPN_ALERT_PENDING_MINUTES", default=10.0)
ALERT_PERIOD = env.int("ALERT_PERIOD", default=3600)
STAFF_ALERT_EMAILS = env.list("STAFF_ALERT_EMAILS", default=[])
STAFF_ALERT_WHATSAPP_NUMBERS = env.list("STAFF_ALERT_WHATSAPP_NUMBERS", default=[])
STAFF_ALERT_WHATSAPP_TEMPLATE = env.str("STAFF_ALERT_WHATSAPP_TEMPLATE", default="")
STAFF_ALERT_WHATSAPP_TEMPLATE_LANGUAGE = env.str(
    "STAFF_ALERT_WHATSAPP_TEMPLATE_LANGUAGE", default="en"
)
RATE_LIMIT_ENABLED = env.bool("RATE_LIMIT_ENABLED", default=True)
RATE_LIMIT_REQUESTS = env.int("RATE_LIMIT_REQUESTS", default=120)
RATE_LIMIT_META_REQUESTS = env.int("RATE_LIMIT_META_REQUESTS", default=1200)
RATE_LIMIT_WINDOW = env.int("RATE_LIMIT_WINDOW", default=60)
RATE_LIMIT_TRUSTED_PROXIES = env.int("RATE_LIMIT_TRUSTED_PROXIES", default=0)
# Per-endpoint overrides {path prefix: requests per window}; set in code, not the environment.
RATE_LIMIT_RULES: dict[str, int] = {}
HEALTH_BROKER_TIMEOUT = env.float("HEALTH_BROKER_TIMEOUT", default=2.0)
vars().update(env.email_url("EMAIL_URL", default="consolemail://"))
SERVER_EMAIL = DEFAULT_FROM_EMAIL = env.str("SERVER_EMAIL", default="alerts@kalaisafaris.com")

# --- Security (production) ---------------------------------------------------------------
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SESSION_COOKIE_SECURE = env.bool("SESSION_COOKIE_SECURE", default=not DEBUG)
CSRF_COOKIE_SECURE = env.bool("CSRF_COOKIE_SECURE", default=not DEBUG)
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=not DEBUG)
SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$", r"^metrics$"]  # scraped over plain HTTP
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=0 if DEBUG else 31536000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = not DEBUG
SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=False)
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"
DATA_UPLOAD_MAX_MEMORY_SIZE = 3 * 1024 * 1024  # Meta's webhook payloads go up to 3 MB
if not DEBUG and not SECURE_HSTS_PRELOAD:
    SILENCED_SYSTEM_CHECKS = ["security.W021"]  # preload is opt-in: it is hard to undo

# --- Logging -----------------------------------------------------------------------------
LOG_LEVEL = env.str("LOG_LEVEL", default="INFO").upper()
LOG_FORMAT = env.str("LOG_FORMAT", default="text").lower()
if LOG_FORMAT not in {"text", "json"}:
    raise ImproperlyConfigured("LOG_FORMAT must be 'text' or 'json'.")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {
        "request_id": {"()": "whatsappcrm.logging.RequestIdFilter"},
        "redact": {"()": "whatsappcrm.logging.RedactFilter"},
    },
    "formatters": {
        "text": {
            "format": (
                "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s%(extra_fields)s"
            )
        },
        "json": {"()": "whatsappcrm.logging.JsonFormatter"},
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": LOG_FORMAT,
            "filters": ["request_id", "redact"],
        }
    },
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {
        "django": {"level": env.str("DJANGO_LOG_LEVEL", default="INFO")},
        "django.db.backends": {"level": "INFO"},
    },
}
