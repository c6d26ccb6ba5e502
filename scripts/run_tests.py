"""`make test`: run the suite against PostgreSQL and Redis when they answer, else on SQLite.

PostgreSQL and Redis are looked for at DATABASE_URL / REDIS_URL, or at their default local addresses.
When one cannot be reached, one line says so and the tests that need it are reported as skipped.
On CI (CI=true) a missing service is an error: those tests must run there, never skip.

The suite runs in one process per core, up to four (pytest-xdist, a test file per process at a time, so a
module's seeded data is built once); `-n 0` in the arguments runs it in this process. Each worker has its
own test database (pytest-django) and its own Redis database (tests/settings.py).
"""

import os
import socket
import sys
from urllib.parse import urlsplit

DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/collections"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"
# Worker N uses Redis database (configured + 1 + N): four workers stay within Redis's default 16.
MAX_PROCESSES = 4


def reachable(url: str, default_port: int) -> bool:
    parts = urlsplit(url)
    try:
        with socket.create_connection((parts.hostname or "127.0.0.1", parts.port or default_port), timeout=2):
            return True
    except OSError:
        return False


def main() -> int:
    on_ci = os.environ.get("CI", "").lower() in {"1", "true", "yes"}
    database_url = os.environ.get("DATABASE_URL", DEFAULT_DATABASE_URL)
    redis_url = os.environ.get("REDIS_URL", DEFAULT_REDIS_URL)
    env = dict(os.environ)
    env.setdefault("DJANGO_SECRET_KEY", "test-only-secret-key-not-for-production")
    env.setdefault("DJANGO_SECURE_SSL_REDIRECT", "0")
    env.setdefault("DJANGO_STATIC_MANIFEST", "0")
    missing = []
    if database_url.startswith("postgres") and not reachable(database_url, 5432):
        missing.append(f"PostgreSQL at {urlsplit(database_url).netloc}")
        env.pop("DATABASE_URL", None)
    else:
        env["DATABASE_URL"] = database_url
    if not reachable(redis_url, 6379):
        missing.append(f"Redis at {urlsplit(redis_url).netloc}")
        env.pop("REDIS_URL", None)
    else:
        env["REDIS_URL"] = redis_url
    if missing:
        message = (
            f"{' and '.join(missing)} not reachable: running on SQLite / without Redis;"
            " tests that need them are skipped."
        )
        if on_ci:
            print(f"CI: {message} On CI they must run: start the services first.", file=sys.stderr)
            return 2
        print(message, flush=True)
    pytest = os.path.join(os.path.dirname(sys.executable), "pytest")
    processes = min(os.cpu_count() or 1, MAX_PROCESSES)
    parallel = ["-n", str(processes), "--dist", "loadfile"] if processes > 1 else []
    os.execve(pytest, [pytest, *parallel, *sys.argv[1:]], env)
    return 0


if __name__ == "__main__":
    sys.exit(main())
