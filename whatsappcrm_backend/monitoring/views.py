"""Health endpoints for load balancers and humans."""

import logging

from django.db import connection
from django.http import JsonResponse
from django.views.decorators.http import require_GET

logger = logging.getLogger(__name__)


def _database_ok() -> bool:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            return cursor.fetchone() == (1,)
    except Exception:
        logger.exception("Health check: database unreachable")
        return False


@require_GET
def healthz(request):
    """The process is alive and can reach its database."""
    database = "ok" if _database_ok() else "error"
    status = "ok" if database == "ok" else "error"
    return JsonResponse(
        {"status": status, "database": database}, status=200 if status == "ok" else 503
    )
