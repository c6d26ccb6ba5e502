"""`make run`: migrate, seed the demo data on an empty database, then run the web server, a Celery
worker and Celery beat together in the foreground. Ctrl-C stops all three.

RUN_HOST and RUN_PORT choose where the web server listens (127.0.0.1:8000); RUN_DEMO_CARDHOLDERS the size
of the demo portfolio seeded into an empty database (seed_demo's default when unset). The database and
the broker are the settings' (DATABASE_URL, REDIS_URL, COLLECTIONS_VAR_DIR; unset: a SQLite file and a
broker folder under var/)."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
HOST = os.environ.get("RUN_HOST", "127.0.0.1")
PORT = os.environ.get("RUN_PORT", "8000")
DEMO_CARDHOLDERS = os.environ.get("RUN_DEMO_CARDHOLDERS", "")


def manage(*args: str) -> None:
    subprocess.run([str(BIN / "python"), "manage.py", *args], cwd=ROOT, check=True)


def on_sqlite() -> bool:
    """Whether the settings will use SQLite (no DATABASE_URL, or a sqlite:// one), as config/settings.py
    decides. Then the worker runs one task at a time: SQLite has one write lock for web, worker and beat,
    and a second worker process would only wait for it (config/settings.py sets the busy timeout)."""
    url = os.environ.get("DATABASE_URL", "")
    return not url or url.startswith("sqlite")


def _terminated(signum, frame):
    raise KeyboardInterrupt


def main() -> int:
    signal.signal(signal.SIGTERM, _terminated)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    manage("migrate", "--no-input")
    manage("seed_demo", "--if-empty", *(["--cardholders", DEMO_CARDHOLDERS] if DEMO_CARDHOLDERS else []))
    manage("setup_schedules")
    var = Path(os.environ.get("COLLECTIONS_VAR_DIR") or ROOT / "var")
    for folder in ("out", "processed"):  # kombu's filesystem transport does not create them
        (var / "broker" / folder).mkdir(parents=True, exist_ok=True)
    commands = {
        "web": [str(BIN / "python"), "manage.py", "runserver", f"{HOST}:{PORT}", "--noreload"],
        "worker": [
            str(BIN / "celery"),
            "-A",
            "config",
            "worker",
            "--loglevel=INFO",
            f"--concurrency={1 if on_sqlite() else 2}",
            # No -Q: one worker consumes every queue the settings declare (CELERY_TASK_QUEUES).
        ],
        "beat": [str(BIN / "celery"), "-A", "config", "beat", "--loglevel=INFO"],
    }
    processes = {name: subprocess.Popen(cmd, cwd=ROOT) for name, cmd in commands.items()}
    print(
        f"\n  Collections is running at http://{HOST}:{PORT}/  (web, worker and beat; Ctrl-C stops all three)"
    )
    manage("seed_demo", "--print-logins")
    try:
        while all(p.poll() is None for p in processes.values()):
            time.sleep(0.5)
        stopped = [name for name, p in processes.items() if p.poll() is not None]
        print(f"{', '.join(stopped)} stopped; stopping the rest.", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 0
    finally:
        for p in processes.values():
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for p in processes.values():
            try:
                p.wait(timeout=15)
            except subprocess.TimeoutExpired:
                p.kill()


if __name__ == "__main__":
    sys.exit(main())
