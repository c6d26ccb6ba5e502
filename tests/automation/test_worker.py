"""Integration: a real Celery worker (a subprocess: `celery -A config worker`) against the real Redis
(REDIS_URL, a database number of the automation tests' own, e.g. /11) and the test PostgreSQL database.

- the pipeline runs as a chain of tasks on the `nightly` queue and writes its run record;
- reminders are dispatched and sent by the worker, through an HTTP gateway that first answers 503 (the
  task retries with back-off) and the file outbox;
- a worker killed with SIGKILL in the middle of a step leaves consistent data, and the next run finishes
  the work: no duplicate events, escalations or messages.

The worker reads the real clock; nothing here depends on the time of day (explicit business dates, and
cardholders under a profile without a contact window)."""

import os
import signal
import subprocess
import sys
import time
import uuid
from datetime import timedelta
from pathlib import Path

import psycopg
import pytest
import redis
from django.conf import settings
from django.db import connection
from django.utils import timezone

from automation import pipeline as nightly
from automation.models import NightlyRun, RunStatus, StepStatus
from automation.tasks import messages_send_due, nightly_start
from collections_app.models import Case, CaseEvent, EventKind
from messaging import services as messaging
from messaging.models import OutboundMessage
from tests.automation.conftest import AS_OF, build_portfolio, sms_gateway
from tests.escalation.conftest import make_rule
from tests.factories import ContactPointFactory, open_case

pytestmark = [pytest.mark.redis, pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

ROOT = Path(__file__).resolve().parents[2]
CELERY = str(Path(sys.executable).parent / "celery")


def _database_url() -> str:
    db = connection.settings_dict
    auth = db["USER"] + (f":{db['PASSWORD']}" if db["PASSWORD"] else "")
    return f"postgres://{auth}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


def _raw_connection() -> psycopg.Connection:
    return psycopg.connect(_database_url().replace("postgres://", "postgresql://"), autocommit=True)


def wait_for(predicate, *, timeout: float = 60, what: str = "the condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


class Worker:
    """`celery -A config worker` without -Q, as `make run` starts it: on every queue the settings declare
    (CELERY_TASK_QUEUES), in its own process group (so it can be killed whole)."""

    def __init__(self, tmp_path: Path, **env: str):
        self.name = f"test-{uuid.uuid4().hex[:8]}@{os.uname().nodename}"
        self.log = tmp_path / f"{self.name}.log"
        self.env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "tests.automation.worker_settings",
            "DATABASE_URL": _database_url(),
            "DATABASE_CONN_MAX_AGE": "0",
            **env,
        }
        self.process: subprocess.Popen | None = None

    def start(self) -> "Worker":
        command = [CELERY, "-A", "config", "worker", "-n", self.name]
        command += ["--concurrency=2", "--loglevel=INFO", "--without-gossip", "--without-mingle"]
        with open(self.log, "wb") as log:
            self.process = subprocess.Popen(  # noqa: S603
                command, cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
        wait_for(
            lambda: b" ready." in self.log.read_bytes() or self.process.poll() is not None, what="worker"
        )
        assert self.process.poll() is None, self.log.read_text()
        return self

    def kill(self) -> None:
        """What the OOM killer or a lost machine does: SIGKILL, no warm shutdown, no acks."""
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.kill()


@pytest.fixture
def broker():
    """The Redis database of these tests, emptied before and after (leftover tasks would run in the next)."""
    client = redis.Redis.from_url(settings.CELERY_BROKER_URL)
    client.flushdb()
    yield
    client.flushdb()


@pytest.fixture
def workers(tmp_path, broker):
    started: list[Worker] = []

    def start(**env) -> Worker:
        worker = Worker(tmp_path, TEST_OUTBOX_DIR=str(tmp_path / "outbox"), **env).start()
        started.append(worker)
        return worker

    yield start
    for worker in started:
        worker.stop()


def finished_run(as_of, *, exclude=(), timeout=90) -> NightlyRun:
    return wait_for(
        lambda: (
            NightlyRun.objects.filter(run_date=as_of, status__in=["succeeded", "failed"])
            .exclude(pk__in=exclude)
            .first()
        ),
        timeout=timeout,
        what=f"a finished run for {as_of}",
    )


def test_a_worker_started_without_q_consumes_every_queue_the_settings_declare(workers):
    from config.celery import app

    worker = workers()
    answer = wait_for(
        lambda: app.control.inspect(destination=[worker.name], timeout=2).active_queues(),
        timeout=30,
        what="the worker's queues",
    )
    consumed = {queue["name"] for queue in answer[worker.name]}
    assert consumed == {queue.name for queue in settings.CELERY_TASK_QUEUES}
    assert {"default", "nightly", "messages", "rollups"} <= consumed


def test_the_pipeline_runs_as_a_chain_on_a_real_worker(workers, team_a, agent):
    portfolio = build_portfolio(team_a)
    messaging.ensure_defaults()
    worker = workers()

    nightly_start.delay(AS_OF.isoformat(), trigger="test")

    run = finished_run(AS_OF)
    assert run.status == RunStatus.SUCCEEDED, run.error
    assert run.trigger == "test" and run.owner.endswith(tuple(str(p) for p in _children(worker)))
    assert list(run.steps.order_by("position").values_list("name", "status")) == [
        (name, "succeeded") for name in nightly.STEP_NAMES
    ]
    assert Case.objects.filter(account=portfolio.new_delinquent, state="new").exists()
    assert Case.objects.get(pk=portfolio.cured.pk).state == "resolved"
    assert (
        OutboundMessage.objects.filter(run=run).count() == run.steps.get(name="reminders").counts["planned"]
    )


def _children(worker: Worker) -> list[int]:
    out = subprocess.run(
        ["ps", "-o", "pid=", "--ppid", str(worker.process.pid)], capture_output=True, text=True
    )
    return [int(p) for p in out.stdout.split()] + [worker.process.pid]


def test_reminders_are_sent_by_a_real_worker_retrying_a_busy_gateway(workers, tmp_path, always_open):
    messaging.ensure_defaults()
    yesterday = timezone.localdate() - timedelta(days=1)
    cases = []
    for n in range(3):
        case = open_case(
            first_missed_due_date=yesterday - timedelta(days=7),
            cardholder__jurisdiction="ZZ",
            cardholder__time_zone="UTC",
            cardholder__email=f"holder{n}@example.com",
        )
        ContactPointFactory(cardholder=case.account.cardholder, value=f"+861380000000{n}")
        cases.append(case)
    assert messaging.plan_reminders(as_of=yesterday)["overdue_notice"] == 6  # SMS and e-mail each

    with sms_gateway() as gateway:
        gateway.answers.append((503, {"error": "busy"}))
        workers(TEST_SMS_PROVIDER="http", TEST_SMS_GATEWAY_URL=gateway.url, TEST_MESSAGE_RETRY_SECONDS="1")

        messages_send_due.delay()

        wait_for(
            # SMS through the gateway is sent; e-mail through the file provider only written.
            lambda: not OutboundMessage.objects.exclude(status__in=["sent", "written"]).exists(),
            timeout=120,  # a liveness bound: retries of a busy gateway on a loaded 2-core machine
            what="every message sent",
        )
        messages_send_due.delay()  # a second dispatch finds nothing to do
        time.sleep(2)

    sms = OutboundMessage.objects.filter(channel="sms")
    assert sorted(sms.values_list("attempts", flat=True)) == [1, 1, 2]  # one retried after the 503
    assert len(gateway.received) == 4
    retried = sms.get(attempts=2)
    assert [r["headers"]["Idempotency-Key"] for r in gateway.received].count(retried.idempotency_key) == 2
    assert len(list((tmp_path / "outbox" / "email").iterdir())) == 3
    for case in cases:
        statuses = CaseEvent.objects.filter(case=case, kind=EventKind.REMINDER).values_list(
            "details__status", flat=True
        )
        assert sorted(statuses) == ["sent", "written"]


def test_a_worker_killed_mid_step_leaves_consistent_data_and_the_next_run_finishes(workers, team_a, agent):
    """The worker is killed (SIGKILL) while step "queues" waits for a row lock; a second worker and a second
    run take over: the steps finished before the kill are not repeated, the interrupted one is redone."""
    portfolio = build_portfolio(team_a)
    messaging.ensure_defaults()
    make_rule([{"field": "dpd", "operator": "gte", "value": 60}], move_to_legal_review=True)
    blocker = _raw_connection()
    blocker.autocommit = False
    blocker.execute("SELECT id FROM collections_app_case WHERE id = %s FOR UPDATE", [portfolio.noticed.pk])
    first_worker = workers(TEST_NIGHTLY_STALE_SECONDS="1")

    nightly_start.delay(AS_OF.isoformat(), trigger="test")
    wait_for(
        lambda: _waiting_on_a_lock(blocker) and NightlyRun.objects.filter(steps__name="queues").exists(),
        what="step queues to wait for the locked row",
    )
    first_worker.kill()
    blocker.rollback()  # the killed worker's statement finishes, finds its client gone, and rolls back
    blocker.close()
    wait_for(_advisory_lock_free, what="the dead worker's lock to go with its connection")

    first = NightlyRun.objects.get()
    assert first.status == RunStatus.RUNNING  # nobody could record anything
    before_escalations = CaseEvent.objects.filter(kind=EventKind.ESCALATED).count()
    assert before_escalations == 1
    assert not OutboundMessage.objects.exists()

    workers(TEST_NIGHTLY_STALE_SECONDS="1")
    time.sleep(1.5)  # the dead run's heartbeat grows older than the stale time
    nightly_start.delay(AS_OF.isoformat(), trigger="test")
    second = finished_run(AS_OF, exclude=[first.pk])

    first.refresh_from_db()
    assert first.status == RunStatus.INTERRUPTED
    assert first.steps.get(name="queues").status == StepStatus.INTERRUPTED
    assert second.status == RunStatus.SUCCEEDED, second.error
    assert dict(second.steps.values_list("name", "status")) == {
        "dashboard_snapshots": "skipped",
        "refresh_delinquency": "skipped",
        "cases": "skipped",
        "promises_and_plans": "skipped",
        "escalation_rules": "skipped",
        "queues": "succeeded",
        "contactability": "succeeded",
        "reminders": "succeeded",
        "dashboard_rollups": "succeeded",
    }
    # Everything exactly once.
    for case in Case.objects.all():
        assert case.events.filter(kind=EventKind.OPENED).count() == 1
    assert CaseEvent.objects.filter(kind=EventKind.ESCALATED).count() == 1
    assert CaseEvent.objects.filter(kind=EventKind.RESOLVED).count() == 2
    assert CaseEvent.objects.filter(kind=EventKind.PROMISE_BROKEN).count() == 1
    noticed = Case.objects.get(pk=portfolio.noticed.pk)
    assert noticed.queue.name == "Early"
    planned = OutboundMessage.objects.count()
    assert planned == second.steps.get(name="reminders").counts["planned"] > 0
    # And once more for good measure: a third run for the date changes nothing.
    assert nightly.run_pipeline(as_of=AS_OF).status == RunStatus.SUCCEEDED
    assert OutboundMessage.objects.count() == planned
    assert CaseEvent.objects.filter(kind=EventKind.ESCALATED).count() == 1


def _waiting_on_a_lock(blocker: psycopg.Connection) -> bool:
    with _raw_connection() as probe:
        row = probe.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
            "AND wait_event_type = 'Lock' AND pid <> %s",
            [blocker.info.backend_pid],
        ).fetchone()
    return row[0] > 0


def _advisory_lock_free() -> bool:
    with _raw_connection() as probe:
        got = probe.execute("SELECT pg_try_advisory_lock(%s)", [nightly.ADVISORY_LOCK_KEY]).fetchone()[0]
        if got:
            probe.execute("SELECT pg_advisory_unlock(%s)", [nightly.ADVISORY_LOCK_KEY])
    return got
