"""Gunicorn settings for the web service, sized for a small VPS (2 vCPU, 2-4 GB RAM).

Every value can be overridden from the environment (docker-compose passes .env through):
WEB_CONCURRENCY (worker processes), WEB_THREADS (threads per worker), WEB_TIMEOUT, PORT.

Threads, not just processes: the payment form's data endpoint waits for Paynow (up to
PAYNOW_CONNECT_TIMEOUT + PAYNOW_READ_TIMEOUT seconds), and a thread waiting on the network
must not keep Meta's and Paynow's webhooks waiting behind it.
"""

import multiprocessing
import os
import sys
from pathlib import Path

BACKEND_DIR = Path(__file__).resolve().parent.parent / "whatsappcrm_backend"
sys.path.insert(0, str(BACKEND_DIR))  # so the logging classes below import in the master
chdir = str(BACKEND_DIR)

bind = f"0.0.0.0:{os.environ.get('PORT', '8000')}"
worker_class = "gthread"
workers = int(os.environ.get("WEB_CONCURRENCY", min(multiprocessing.cpu_count() * 2 + 1, 5)))
threads = int(os.environ.get("WEB_THREADS", "4"))
# Above the Paynow timeouts (5 s connect + 20 s read), below nginx's proxy_read_timeout (60 s).
timeout = int(os.environ.get("WEB_TIMEOUT", "40"))
graceful_timeout = 30
keepalive = 5
# Recycle workers now and then: bounded memory on a small machine.
max_requests = 1000
max_requests_jitter = 100
worker_tmp_dir = "/dev/shm" if os.path.isdir("/dev/shm") else None  # noqa: S108
# Limits on the request line and headers (bodies are limited by Django: 3 MB).
limit_request_line = 8190
limit_request_fields = 100

# Logs go to stdout/stderr (docker logs, journald). With LOG_FORMAT=json gunicorn's own
# lines use the application's JSON formatter and redaction too; the access line carries the
# request id our middleware returns in X-Request-ID.
accesslog = "-"
errorlog = "-"
access_log_format = '%(h)s "%(r)s" %(s)s %(b)s %(M)sms "%(a)s" request_id=%({x-request-id}o)s'

_LOG_FORMAT = os.environ.get("LOG_FORMAT", "text").lower()
_FORMATTER = (
    {"()": "whatsappcrm.logging.JsonFormatter"}
    if _LOG_FORMAT == "json"
    else {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}
)
logconfig_dict = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {
        "request_id": {"()": "whatsappcrm.logging.RequestIdFilter"},
        "redact": {"()": "whatsappcrm.logging.RedactFilter"},
    },
    "formatters": {"app": _FORMATTER},
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": "app",
            "filters": ["request_id", "redact"],
            "stream": "ext://sys.stdout",
        }
    },
    "root": {"level": "INFO", "handlers": ["console"]},
    "loggers": {
        "gunicorn.error": {"level": "INFO", "handlers": ["console"], "propagate": False},
        "gunicorn.access": {"level": "INFO", "handlers": ["console"], "propagate": False},
    },
}
