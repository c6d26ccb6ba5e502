"""Settings of the Celery worker that the integration tests start as a subprocess: the project's settings,
plus what each test passes in the environment (TEST_*), since config/settings.py reads only its own
variables."""

import os

from config.settings import *  # noqa: F403

COLLECTIONS_OUTBOX_DIR = os.environ.get("TEST_OUTBOX_DIR", "")
COLLECTIONS_SMS_PROVIDER = os.environ.get("TEST_SMS_PROVIDER", "file")
COLLECTIONS_SMS_GATEWAY_URL = os.environ.get("TEST_SMS_GATEWAY_URL", "")
COLLECTIONS_MESSAGE_RETRY_SECONDS = int(os.environ.get("TEST_MESSAGE_RETRY_SECONDS", "60"))
COLLECTIONS_NIGHTLY_STALE_SECONDS = int(os.environ.get("TEST_NIGHTLY_STALE_SECONDS", "300"))
