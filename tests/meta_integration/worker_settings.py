"""Settings for the Celery worker subprocess the worker tests start (not a test module).

The test suite's settings, plus the test's own task queue and a short retry delay.
"""

import os

from tests.settings import *  # noqa: F403

WHATSAPP_TASK_QUEUE = os.environ["WCRM_TEST_TASK_QUEUE"]
WHATSAPP_SEND_RETRY_BASE_SECONDS = 0.3
CELERY_TASK_ALWAYS_EAGER = False  # tests.settings runs tasks in-process; this is the worker
# As in the test process (conftest.channel_only): the channel's built-in inbound handler.
INBOUND_MESSAGE_HANDLER = "meta_integration.services.dispatch.default_inbound_handler"
