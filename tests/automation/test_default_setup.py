"""The default setup, end to end: what `make run` starts with nothing configured - a SQLite file, Celery's
filesystem broker, and the web server, a worker and beat as separate processes (scripts/run_all.py) -
runs the nightly pipeline, started by an admin from the runs page, while agents work their queues.

Issue 13, item 3: web, worker and beat writing one SQLite file failed the pipeline's steps with "database
is locked", left the run hanging in "Running", and answered one agent request in six with 500.

Everything runs in a temporary directory (database, broker, outbox) on free loopback ports; the test
process talks to the server over HTTP only, as the agents' browsers do, and reads the run records from
the SQLite file. Nothing depends on the time of day: when Next case hands out nothing (outside the
contact window), an agent works a case of their queue by adding notes. No PostgreSQL or Redis: it runs
the same everywhere, CI included."""

import contextlib
import http.cookiejar
import os
import re
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlencode

from automation.pipeline import STEP_NAMES

ROOT = Path(__file__).resolve().parents[2]
PASSWORD = "demo-pass-2026"  # accounts.demo.DEMO_PASSWORD, the published demo login
AGENTS = ["agent1", "agent2", "agent4"]  # East and West teams
CARDHOLDERS = 40  # the demo portfolio's size: enough for cases in every agent's queues
STARTUP_TIMEOUT = 300  # migrate and seed a new database, then start three processes
RUN_TIMEOUT = 120
FLASH = r'class="msg[^"]*">([^<]*)'  # the page's messages


def free_loopback_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def default_setup_environment(tmp_path: Path, port: int) -> dict[str, str]:
    """`make run`'s environment with nothing configured (no DATABASE_URL / REDIS_URL: SQLite and the
    filesystem broker), except that the SQLite file, the var/ folder and the port are the test's own."""
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("DJANGO_", "DATABASE_", "REDIS_", "COLLECTIONS_", "CELERY_"))
    }
    return env | {
        "DJANGO_DEBUG": "1",  # as `make run` sets it
        "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
        "COLLECTIONS_VAR_DIR": str(tmp_path / "var"),
        "RUN_HOST": "127.0.0.1",
        "RUN_PORT": str(port),
        "RUN_DEMO_CARDHOLDERS": str(CARDHOLDERS),
    }


def wait_for(predicate, *, timeout: float, what: str, log: Path | None = None):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.3)
    tail = f"\n--- log ---\n{log.read_text()[-5000:]}" if log else ""
    raise AssertionError(f"timed out after {timeout} s waiting for {what}{tail}")


@dataclass
class Browser:
    """A user's browser: a cookie jar, the CSRF token sent as Django expects, every answer recorded."""

    base: str
    answers: list[tuple[str, str, int]] = field(default_factory=list)  # method, path, status
    errors: list[str] = field(default_factory=list)  # 5xx answers, with the start of their body

    def __post_init__(self):
        self.jar = http.cookiejar.CookieJar()
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(self.jar))

    def request(self, method: str, path: str, form: dict | None = None) -> tuple[int, str, str]:
        """(status, final path after redirects, body)."""
        data = None
        headers = {}
        if form is not None:
            csrf = next((c.value for c in self.jar if c.name == "csrftoken"), "")
            data = urlencode({"csrfmiddlewaretoken": csrf, **form}).encode()
            headers = {"Content-Type": "application/x-www-form-urlencoded", "X-CSRFToken": csrf}
        request = urllib.request.Request(  # noqa: S310 - http://127.0.0.1 only
            self.base + path, data=data, headers=headers, method=method
        )
        try:
            with self.opener.open(request, timeout=90) as response:
                status, final, body = response.status, response.url, response.read().decode()
        except urllib.error.HTTPError as error:
            status, final, body = error.code, error.url, error.read().decode(errors="replace")
        self.answers.append((method, path, status))
        if status >= 500:
            self.errors.append(f"{method} {path} -> {status}: {body[:300]}")
        return status, final.removeprefix(self.base), body

    def log_in(self, username: str) -> None:
        self.request("GET", "/accounts/login/")
        status, final, body = self.request(
            "POST", "/accounts/login/", {"username": username, "password": PASSWORD}
        )
        assert status == 200 and 'data-testid="whoami"' in body, f"{username} could not log in ({status})"


class Agent(threading.Thread):
    """Works the queues until told to stop: Next case, open it, log a call, add a note - again and again."""

    def __init__(self, base: str, username: str, stop: threading.Event):
        super().__init__(name=username, daemon=True)
        self.browser = Browser(base)
        self.username = username
        self.stop = stop
        self.rounds = 0
        self.failure: BaseException | None = None

    def run(self) -> None:
        try:
            self.browser.log_in(self.username)
            own_cases = self.cases_of_my_queues()
            while not self.stop.is_set():
                self.work_one(own_cases)
                self.rounds += 1
        except BaseException as exc:  # reported by the test, not lost in the thread
            self.failure = exc

    def cases_of_my_queues(self) -> list[str]:
        _status, _final, work = self.browser.request("GET", "/work/")
        cases = []
        for queue in sorted(set(re.findall(r'href="(/queues/\d+/)"', work))):
            _status, _final, page = self.browser.request("GET", queue)
            cases += re.findall(r'href="(/cases/\d+/)"', page)
        assert cases, f"{self.username} has no case in their queues"
        return cases

    def work_one(self, own_cases: list[str]) -> None:
        _status, final, page = self.browser.request("POST", "/work/next/", {})
        if re.fullmatch(r"/cases/\d+/", final):
            case = final
            points = re.search(r'<select name="contact_point"[^>]*>(.*?)</select>', page, re.S)
            number = re.findall(r'<option value="(\d+)"', points.group(1)) if points else []
            self.browser.request(
                "POST",
                f"{case}contact/",
                {
                    "channel": "outbound_call",
                    "contact_point": number[0] if number else "",
                    "party_role": "debtor",
                    "outcome": "no_answer",
                    "duration_seconds": "0",
                },
            )
        else:  # nothing may be contacted now: work a case of the queue anyway
            case = own_cases[self.rounds % len(own_cases)]
            self.browser.request("GET", case)
        self.browser.request("POST", f"{case}note/", {"text": f"Round {self.rounds} by {self.username}."})
        self.browser.request("GET", case)


class DefaultSetup:
    """scripts/run_all.py (migrate, seed the demo, web + worker + beat) in its own process group, logging
    to a file."""

    def __init__(self, tmp_path: Path):
        self.port = free_loopback_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.database = tmp_path / "db.sqlite3"
        self.log = tmp_path / "run_all.log"
        self.env = default_setup_environment(tmp_path, self.port)
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        with self.log.open("wb") as log:
            self.process = subprocess.Popen(  # noqa: S603
                [sys.executable, "scripts/run_all.py"],
                cwd=ROOT,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        wait_for(self.ready, timeout=STARTUP_TIMEOUT, what="web, worker and beat", log=self.log)

    def ready(self) -> bool:
        assert self.process.poll() is None, f"run_all.py exited:\n{self.log.read_text()[-5000:]}"
        text = self.log.read_text(errors="replace")
        if " ready." not in text or "beat: Starting" not in text:
            return False
        try:
            with urllib.request.urlopen(f"{self.base}/accounts/login/", timeout=5) as response:  # noqa: S310
                return response.status == 200
        except OSError:
            return False

    def stop(self) -> None:
        """Ctrl-C's way (run_all.py stops its children on SIGTERM), then SIGKILL to whatever is left."""
        if self.process is None:
            return
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(timeout=30)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=10)

    def query(self, sql: str, params=()) -> list[tuple]:
        """Read the run records the way an operator's sqlite3 shell would, beside the running processes."""
        with sqlite3.connect(self.database, timeout=30) as db:
            return db.execute(sql, params).fetchall()


def test_the_nightly_run_succeeds_on_the_default_setup_while_agents_work(tmp_path):
    setup = DefaultSetup(tmp_path)  # run_all.py migrates the new database and seeds the demo
    stop = threading.Event()
    agents: list[Agent] = []
    try:
        setup.start()
        agents = [Agent(setup.base, name, stop) for name in AGENTS]
        for agent in agents:
            agent.start()
        wait_for(
            lambda: all(a.rounds >= 1 or a.failure for a in agents), timeout=120, what="the agents at work"
        )

        admin = Browser(setup.base)
        admin.log_in("admin")
        status, _final, page = admin.request("GET", "/automation/runs/")
        assert status == 200 and 'data-testid="run-now"' in page
        status, final, page = admin.request("POST", "/automation/runs/start/", {})
        assert (status, final) == (200, "/automation/runs/"), admin.errors
        # Beat's catch-up (every 5 minutes from setup_schedules) may have started today's run first; then
        # the page says so, and that run is the one to follow.
        started = re.search(r"Run #(\d+) for \d{4}-\d{2}-\d{2} started", page) or re.search(
            r"Not started: run #(\d+) for \d{4}-\d{2}-\d{2} is running", page
        )
        said = re.findall(FLASH, page)
        assert started, f"the run did not start: {said}"
        run_id = int(started.group(1))
        rounds_at_start = {a.name: a.rounds for a in agents}

        wait_for(
            lambda: (
                setup.query("SELECT status FROM automation_nightlyrun WHERE id = ?", [run_id])[0][0]
                != "running"
            ),
            timeout=RUN_TIMEOUT,
            what=f"run #{run_id} to finish",
            log=setup.log,
        )
        # The agents kept working through the run, and go on a little after it.
        wait_for(
            lambda: all(a.rounds >= rounds_at_start[a.name] + 2 or a.failure for a in agents),
            timeout=120,
            what="the agents to work on",
        )
    finally:
        stop.set()
        for agent in agents:
            agent.join(timeout=120)
        setup.stop()

    [(run_status, run_error)] = setup.query(
        "SELECT status, error FROM automation_nightlyrun WHERE id = ?", [run_id]
    )
    steps = setup.query(
        "SELECT name, status, error FROM automation_nightlystep WHERE run_id = ? ORDER BY position", [run_id]
    )
    assert run_status == "succeeded", f"run #{run_id} {run_status}: {run_error}"
    assert [(name, status) for name, status, _error in steps] == [(name, "succeeded") for name in STEP_NAMES]

    for agent in agents:
        assert agent.failure is None, f"{agent.name}: {agent.failure!r}"
        assert agent.browser.errors == [], f"{agent.name} got server errors: {agent.browser.errors}"
        assert len(agent.browser.answers) > 10
        notes = [a for a in agent.browser.answers if a[0] == "POST" and a[1].endswith("/note/")]
        assert notes and all(status == 200 for _m, _p, status in notes), "every note was saved"
    assert admin.errors == []
    log = setup.log.read_text(errors="replace")
    assert "database is locked" not in log
    assert "concurrency: 1 (prefork)" in log  # one worker process on SQLite (Celery's banner)
