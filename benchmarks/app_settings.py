"""Our app's production settings for a benchmark run: ``whatsappcrm.settings`` with the
broker's Redis keys prefixed by the run (``BENCH_REDIS_KEY_PREFIX``), so a run never shares a
queue with anything else in that Redis database and removes exactly its own keys afterwards.
Nothing else differs from production."""

import os

from whatsappcrm.settings import *  # noqa: F403

_PREFIX = os.environ.get("BENCH_REDIS_KEY_PREFIX", "")
if _PREFIX:
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        **CELERY_BROKER_TRANSPORT_OPTIONS,  # noqa: F405
        "global_keyprefix": _PREFIX,
    }
