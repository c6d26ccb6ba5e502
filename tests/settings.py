"""The test suite's settings: the project's own, with each pytest-xdist worker on its own Redis database.

`make test` runs the suite in two processes (pytest-xdist). pytest-django gives each its own test database;
Redis has no such thing, so worker N uses the database after the configured one plus N (gw0 -> 1, gw1 ->
2 for the default /0): one worker's broker flush, cache or rate-limit counters never reach the other.
Set before the project's settings are read, so processes a test starts (a Celery worker) inherit it."""

import os
from urllib.parse import urlsplit

_worker = os.environ.get("PYTEST_XDIST_WORKER", "")
if _worker.startswith("gw") and os.environ.get("REDIS_URL"):
    _url = urlsplit(os.environ["REDIS_URL"])
    _database = int(_url.path.strip("/") or 0) + 1 + int(_worker[2:])
    os.environ["REDIS_URL"] = _url._replace(path=f"/{_database}").geturl()

from config.settings import *  # noqa: E402, F403

# DEBUG is off in tests, which would ask supervisors, legal reviewers and admins for a second factor on
# every page; the suite signs them in with force_login. tests/accounts/test_two_factor.py turns it on.
COLLECTIONS_REQUIRE_2FA = False

# The suite runs with DEBUG off and writes reminders to a temporary outbox on purpose: without this,
# every management command would refuse to start (messaging.checks, E001).
# tests/config/test_no_pretend_delivery.py turns it off.
COLLECTIONS_ALLOW_FILE_DELIVERY = True

# Tests move the clock by hours between two requests of one signed-in user (time-machine): the idle
# sign-out would end their sessions. tests/accounts/test_idle_timeout.py puts the shipped limits back.
IDLE_TIMEOUT_MINUTES: dict[str, int] = {}

# Every persona fixture sets a password: with the production hasher (PBKDF2, a million rounds, ~0.5 s) the
# personas alone cost seconds per test. MD5 here only; PBKDF2 stays available for the tests that sign in
# to a server running the production settings (tests/config/test_production_serving.py) and for the
# hash-upgrade test.
PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.MD5PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
]

# The suite runs with DEBUG off, which refuses the derived development key (core.checks): it is named
# here, as an operator would set PII_ENCRYPTION_KEYS. tests/core/test_crypto.py sets keys of its own.
if not PII_ENCRYPTION_KEYS:  # noqa: F405
    from core.crypto import development_key

    PII_ENCRYPTION_KEYS = [development_key(SECRET_KEY)]  # noqa: F405

# A second alias for the read replica (core.db_routing), mirroring the test database as Django's
# primary/replica testing does: tests/core/test_db_routing.py turns DATABASE_READ_REPLICA on and sees the
# dashboards' queries arrive on it. Everywhere else reads stay on "default", as without a replica.
if "replica" not in DATABASES:  # noqa: F405
    DATABASES["replica"] = {**DATABASES["default"], "TEST": {"MIRROR": "default"}}  # noqa: F405
DATABASE_READ_REPLICA = None
