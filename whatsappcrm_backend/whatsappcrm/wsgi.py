"""WSGI entry point (gunicorn whatsappcrm.wsgi)."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "whatsappcrm.settings")
application = get_wsgi_application()
