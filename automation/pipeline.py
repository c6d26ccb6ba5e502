"""The nightly pipeline: ordered, set-based, idempotent steps over the whole portfolio for one business date.

    refresh_delinquency   DPD and bucket of every account, in one UPDATE of the rows that change
    cases                 open cases for newly delinquent accounts; resolve those of cured accounts
    promises_and_plans    break promises and plans past their grace days
    escalation_rules      the admins' escalation rules (escalation.services)
    queues                place open cases in queues; refresh priorities (weights stored in the database)
    contactability        contact windows rolled to their next opening; new cases computed
    reminders             plan the day's reminders (messaging.services)

Two ways to run it, one implementation:
- `run_pipeline(as_of=...)` runs every step in this process (`manage.py run_nightly`);
- `run_begin` + `run_step` x N + `run_finish` are what the Celery chain calls (automation.tasks).

Guarantees:
- Each step commits in its own transaction(s) and is idempotent: run again, it changes nothing. A run that
  stops midway (an error, a killed worker) leaves consistent data; the next run for the same date skips the
  steps already finished for that date and does the rest.
- Runs never overlap. At most one NightlyRun is `running` (a unique constraint). Whoever works on a run
  holds the pipeline's lock while it does (a session advisory lock on PostgreSQL; on a SQLite file, an
  flock on a file beside it - both go with the process); a running run whose lock is free and whose
  heartbeat is older than COLLECTIONS_NIGHTLY_STALE_SECONDS belongs to a dead process (or a chain that
  stopped), and the next run - the catch-up task, `run_nightly` or the admin's "Run now" - marks it
  interrupted and takes over.
- A run never stays `running` because of an error: a step's exception marks the step and the run failed
  with the error, even when recording it must wait for the database (SQLite's write lock).
"""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import json
import logging
import os
import socket
import threading
import time
import traceback
import zoneinfo
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from django.conf import settings
from django.db import IntegrityError, OperationalError, close_old_connections, connection, transaction
from django.db.models import Case as SqlCase
from django.db.models import DateField, F, Func, IntegerField, Q, Value, When
from django.utils import timezone
from django.utils.translation import gettext_noop
from django_celery_beat.models import PeriodicTask

from automation.models import NightlyRun, NightlyStep, RunStatus, StepStatus
from collections_app import delinquency, services
from collections_app.models import OPEN_STATES, Case, CreditAccount, PromiseToPay
from collections_app.services import queues
from dashboards import rollups
from escalation import services as escalation
from messaging import services as messaging
from repayment_plans.models import Installment, RepaymentPlan
from repayment_plans.services import plans_check_broken

logger = logging.getLogger(__name__)

# pg_try_advisory_lock key of the pipeline ("coll" + 1): one lock, whatever the date.
ADVISORY_LOCK_KEY = 0x636F6C6C0001


class RunInProgress(Exception):  # noqa: N818 - a refusal, named as the reason
    """Another run is working; this one does not start (or this step does not run)."""


class StepFailed(Exception):
    pass


@dataclass(frozen=True)
class StepContext:
    run: NightlyRun
    as_of: date
    now: datetime


@dataclass(frozen=True)
class Step:
    name: str
    run: Callable[[StepContext], dict]
    description: str


# --- The steps ----------------------------------------------------------------------------------------


class DaysBetween(Func):
    """Whole days from `start` to `end` (two dates), as an integer, on PostgreSQL and SQLite."""

    output_field = IntegerField()
    arity = 2

    def as_sql(self, compiler, connection, **extra):
        end, start = self.source_expressions
        end_sql, end_params = compiler.compile(end)
        start_sql, start_params = compiler.compile(start)
        return f"(CAST({end_sql} AS date) - {start_sql})", (*end_params, *start_params)

    def as_sqlite(self, compiler, connection, **extra):
        end, start = self.source_expressions
        end_sql, end_params = compiler.compile(end)
        start_sql, start_params = compiler.compile(start)
        return f"CAST(julianday({end_sql}) - julianday({start_sql}) AS INTEGER)", (*end_params, *start_params)


def dpd_sql(as_of: date):
    """`delinquency.days_past_due` of a delinquent account (overdue amount above zero) as SQL; 0 otherwise."""
    return SqlCase(
        When(
            Q(overdue_amount__gt=0, first_missed_due_date__lt=as_of),
            then=DaysBetween(Value(as_of, output_field=DateField()), F("first_missed_due_date")),
        ),
        default=Value(0),
        output_field=IntegerField(),
    )


def refresh_delinquency(ctx: StepContext) -> dict:
    """Days past due and bucket of every account as of the date: one UPDATE, of the rows that change
    only (an unchanged row is not rewritten, so a second run writes nothing). `dpd_as_of` is the date of
    the last change: every night for an overdue account, the day it became current for the others."""
    dpd = dpd_sql(ctx.as_of)
    bucket = delinquency.bucket_sql(dpd)
    with transaction.atomic():
        updated = CreditAccount.objects.filter(~Q(days_past_due=dpd) | ~Q(bucket=bucket)).update(
            days_past_due=dpd, bucket=bucket, dpd_as_of=ctx.as_of, updated_at=ctx.now
        )
    return {"accounts_updated": updated}


CURED_REASON = gettext_noop("Overdue amount paid (nightly check).")


def open_and_resolve_cases(ctx: StepContext) -> dict:
    """Open a case for every delinquent account without one (set-based, one transaction so that no case
    is left without its "opened" event), then resolve the cases of cured accounts (`resolve_cured_cases`)."""
    with transaction.atomic():
        opened = services.cases_open_for_delinquent_accounts(now=ctx.now)
    return {"opened": opened, **resolve_cured_cases(now=ctx.now)}


def resolve_cured_cases(*, now: datetime) -> dict:
    """Resolve the open cases of accounts whose overdue amount is paid - paid in full when the balance is
    nil, else cured - set-based through the case kernel (`services.cases_resolve_cured`: one statement
    moves every such case and writes its RESOLVED event; their live repayment plans cancelled), in one
    transaction. The same statements whether one case closes or a hundred thousand."""
    cured = Case.objects.filter(state__in=OPEN_STATES, account__overdue_amount=0)
    with transaction.atomic():
        candidates = cured.count()
        resolved = services.cases_resolve_cured(cured, reason=CURED_REASON, now=now)
    # A case counted but not resolved was closed by someone else between the two statements.
    return {"resolved": len(resolved), "not_resolved": max(candidates - len(resolved), 0)}


def check_promises_and_plans(ctx: StepContext) -> dict:
    """Break promises and repayment plans whose date plus grace days has passed: each check is one
    transaction of a few statements (events by INSERT ... SELECT, state changes through the kernel's
    `bulk_transition`), compare-and-swap, so a second run changes nothing."""
    promises = services.promises_check_broken(as_of=ctx.as_of)
    plans = plans_check_broken(as_of=ctx.as_of)
    # A night breaks a few percent of the promises: too few for autovacuum to re-sample the table (10 %
    # changed), enough for "broken" to go from rare to tens of thousands of rows - and a planner that still
    # estimates one row joins and sorts them all (the broken-promises drill-down, 1.2 s at 1M accounts).
    if promises:
        refresh_statistics(PromiseToPay)
    if plans:
        refresh_statistics(RepaymentPlan, Installment)
    return {"promises_broken": promises, "plans_broken": plans}


def refresh_statistics(*models) -> None:
    """The planner's statistics of these tables sampled again now (PostgreSQL's ANALYZE: a sample of the
    rows, a fraction of a second at a million), after a step changed the make-up of their rows."""
    if connection.vendor != "postgresql":
        return
    with connection.cursor() as cursor:
        for model in models:
            cursor.execute(f"ANALYZE {connection.ops.quote_name(model._meta.db_table)}")


def _jsonable(value) -> dict:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        value = dataclasses.asdict(value)
    if not isinstance(value, dict):
        value = {"result": value}
    return json.loads(json.dumps(value, default=str))


def run_escalation_rules(ctx: StepContext) -> dict:
    """The admins' escalation rules, in order (escalation.services.run_rules)."""
    return _jsonable(escalation.run_rules(as_of=ctx.as_of))


def place_in_queues(ctx: StepContext) -> dict:
    """Every open case into the first queue whose criteria it meets (one UPDATE), then every open case's
    score from the weights stored in the database (one UPDATE, `queues.refresh_priorities`); unchanged
    rows are not rewritten."""
    with transaction.atomic():
        moved = queues.place_cases_in_queues()
    with transaction.atomic():
        reprioritised = queues.refresh_priorities(now=ctx.now)
    return {"moved": sum(moved.values()), "moved_by_queue": moved, "priorities_changed": reprioritised}


def roll_contactability(ctx: StepContext) -> dict:
    """Every open case's stored contactability up to date: windows that closed moved to their next opening,
    cases not computed yet computed (collections_app.services.contactability.contactability_roll, which
    beat also runs every few minutes). Set-based: one UPDATE per (jurisdiction, zones) group."""
    return services.contactability.contactability_roll(now=ctx.now)


def plan_reminders(ctx: StepContext) -> dict:
    """The day's reminders, planned (sent later by the every-minute dispatcher, under the contact policy)."""
    planned = messaging.plan_reminders(as_of=ctx.as_of, run_id=ctx.run.pk)
    return {"planned": sum(planned.values()), "by_purpose": planned}


def dashboard_snapshots(ctx: StepContext) -> dict:
    """The dashboards' snapshots of the day that ended (open cases, month-end buckets), before DPD moves."""
    return _jsonable(rollups.nightly_snapshot_step(ctx))


def dashboard_rollups(ctx: StepContext) -> dict:
    """The dashboards' rollup tables up to yesterday, once promises and plans are settled."""
    return _jsonable(rollups.nightly_step(ctx))


STEPS: list[Step] = [
    Step("dashboard_snapshots", dashboard_snapshots, "Dashboard snapshots of the day that ended"),
    Step("refresh_delinquency", refresh_delinquency, "Days past due and buckets"),
    Step("cases", open_and_resolve_cases, "Open cases for new delinquencies; resolve cured ones"),
    Step("promises_and_plans", check_promises_and_plans, "Promises and installments kept or broken"),
    Step("escalation_rules", run_escalation_rules, "Escalation rules"),
    Step("queues", place_in_queues, "Queue placement and priorities"),
    Step("contactability", roll_contactability, "Who may be called now, and from when"),
    Step("reminders", plan_reminders, "The day's reminders"),
    Step("dashboard_rollups", dashboard_rollups, "Dashboard rollups (the days that changed)"),
]
STEP_NAMES = [s.name for s in STEPS]


def step_named(name: str) -> Step:
    for step in STEPS:
        if step.name == name:
            return step
    raise KeyError(f"no nightly step {name!r}; the steps are {', '.join(STEP_NAMES)}")


# --- Who may work: the advisory lock and the running row --------------------------------------------


def _owner() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def _stale_after() -> timedelta:
    return timedelta(seconds=settings.COLLECTIONS_NIGHTLY_STALE_SECONDS)


# How deep this thread is inside working() on SQLite: like PostgreSQL's advisory lock, the file lock is
# re-entrant for its holder (an flock taken again through a new file would refuse its own process).
_file_lock_depth = threading.local()


@contextlib.contextmanager
def file_lock(path: str | None) -> Iterator[None]:
    """An exclusive flock on `path`: SQLite's counterpart of the advisory lock (see working()). The
    kernel drops it when the process dies, however it dies. No path: nobody to keep out."""
    if path is None or getattr(_file_lock_depth, "depth", 0):
        _file_lock_depth.depth = getattr(_file_lock_depth, "depth", 0) + 1
        try:
            yield
        finally:
            _file_lock_depth.depth -= 1
        return
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise RunInProgress("another process is running the nightly pipeline right now") from None
        _file_lock_depth.depth = 1
        try:
            yield
        finally:
            _file_lock_depth.depth = 0
    finally:
        os.close(fd)  # releases the flock


@contextlib.contextmanager
def working() -> Iterator[None]:
    """Hold the pipeline's lock while working on a run; RunInProgress if someone else holds it. On
    PostgreSQL a session advisory lock (it goes with the connection), on SQLite an flock on a file beside
    the database (it goes with the process): a killed process cannot keep either."""
    if connection.vendor == "sqlite":
        # Beside the database file (`db.sqlite3-nightly.lock`); an in-memory database (tests) is reached
        # by this process only.
        path = None if connection.is_in_memory_db() else f"{connection.settings_dict['NAME']}-nightly.lock"
        with file_lock(path):
            yield
        return
    if connection.vendor != "postgresql":
        yield
        return
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_lock(%s)", [ADVISORY_LOCK_KEY])
        if not cursor.fetchone()[0]:
            raise RunInProgress("another process is running the nightly pipeline right now")
    try:
        yield
    finally:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_unlock(%s)", [ADVISORY_LOCK_KEY])


def _pid_alive(owner: str) -> bool | None:
    """True / False for a process of this host; None when it runs elsewhere (cannot tell)."""
    host, _sep, pid = owner.rpartition(":")
    if host != socket.gethostname() or not pid.isdigit():
        return None
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a killed process nobody has reaped yet is a zombie: dead all the same
        with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
            return stat.read().rpartition(")")[2].split()[0] != "Z"
    except (OSError, IndexError):
        return True


def run_is_alive(run: NightlyRun, now: datetime) -> bool:
    """Whether a `running` run still has a process working on it (called while holding the lock, so
    nobody is inside a step right now)."""
    if _pid_alive(run.owner) is False:
        return False  # its process (on this host) is gone
    # Between two steps of a chain, or just started. A silent run is dead, even if the process that last
    # touched it lives on: a worker whose chain stopped, or the web process that queued a chain nobody ran.
    return now - run.heartbeat_at < _stale_after()


def run_is_stale(run: NightlyRun, now: datetime | None = None) -> bool:
    """Whether a `running` run has shown no sign of life for COLLECTIONS_NIGHTLY_STALE_SECONDS: its
    process stopped, or it is inside a step longer than that (the next run_begin tells which, under the
    lock). For the run pages; deciding is run_begin's."""
    return run.status == RunStatus.RUNNING and (now or timezone.now()) - run.heartbeat_at >= _stale_after()


def _interrupt(run: NightlyRun, now: datetime, by: str) -> None:
    steps = NightlyStep.objects.filter(run=run, status=StepStatus.RUNNING)
    steps.update(status=StepStatus.INTERRUPTED, finished_at=now, error=f"The process stopped. {by}")
    run.status, run.finished_at = RunStatus.INTERRUPTED, now
    run.error = (
        f"The process working on this run stopped (last sign of life {run.heartbeat_at:%Y-%m-%d %H:%M:%S} "
        f"UTC). {by}"
    )
    run.save(update_fields=["status", "finished_at", "error"])


def run_begin(*, as_of: date, trigger: str) -> NightlyRun:
    """Start a run for `as_of` (call inside `working()`). A running run of a dead process is marked
    interrupted; a live one makes this raise RunInProgress."""
    now = timezone.now()
    with transaction.atomic():
        current = NightlyRun.objects.select_for_update().filter(status=RunStatus.RUNNING).first()
        if current is not None:
            if run_is_alive(current, now):
                raise RunInProgress(
                    f"run #{current.pk} for {current.run_date} is running ({current.owner}, last sign of "
                    f"life {current.heartbeat_at:%H:%M:%S} UTC)"
                )
            _interrupt(current, now, by=f"Taken over by a new run for {as_of} ({trigger}).")
        try:
            with transaction.atomic():
                run = NightlyRun.objects.create(
                    run_date=as_of, trigger=trigger, owner=_owner(), started_at=now, heartbeat_at=now
                )
        except IntegrityError:
            raise RunInProgress("another run started at the same moment") from None
    logger.info("nightly: run #%s for %s started (%s)", run.pk, as_of, trigger)
    return run


def _touch(run: NightlyRun) -> None:
    run.heartbeat_at, run.owner = timezone.now(), _owner()
    NightlyRun.objects.filter(pk=run.pk).update(heartbeat_at=run.heartbeat_at, owner=run.owner)


def finished_steps(as_of: date) -> dict[str, int]:
    """Step name -> the run that finished it, for the steps done for this date."""
    rows = NightlyStep.objects.filter(run__run_date=as_of, status=StepStatus.SUCCEEDED).values_list(
        "name", "run_id"
    )
    return dict(rows)


def date_is_complete(as_of: date) -> bool:
    return set(STEP_NAMES) <= set(finished_steps(as_of))


def run_step(run: NightlyRun, name: str, *, again: bool = False) -> NightlyStep:
    """Run one step of a running run (call inside `working()`), unless an earlier run finished it for this
    date (then it is recorded as skipped) - or `again`, which runs it anyway (steps are idempotent).
    A failure - of the step or of its bookkeeping - is recorded on the step and the run, then raised as
    StepFailed: the run never stays `running` because of an error."""
    step = step_named(name)
    try:
        return _run_step(run, step, again=again)
    except Exception as exc:
        logger.exception("nightly: step %s of run #%s failed", name, run.pk)
        _record_failure(run, name, exc, traceback.format_exc()[-8000:])
        raise StepFailed(f"step {name} failed: {exc}") from exc


def _run_step(run: NightlyRun, step: Step, *, again: bool) -> NightlyStep:
    name = step.name
    position = STEP_NAMES.index(name) + 1
    now = timezone.now()
    _touch(run)
    done_by = finished_steps(run.run_date).get(name)
    if done_by is not None and done_by != run.pk and not again:
        row, _created = NightlyStep.objects.update_or_create(
            run=run,
            name=name,
            defaults={
                "position": position,
                "status": StepStatus.SKIPPED,
                "started_at": now,
                "finished_at": now,
                "note": f"Already done for {run.run_date} by run #{done_by}.",
            },
        )
        return row
    if done_by == run.pk and not again:
        return NightlyStep.objects.get(run=run, name=name)
    row, _created = NightlyStep.objects.update_or_create(
        run=run,
        name=name,
        defaults={
            "position": position,
            "status": StepStatus.RUNNING,
            "started_at": now,
            "finished_at": None,
            "counts": {},
            "note": "",
            "error": "",
        },
    )
    counts = step.run(StepContext(run=run, as_of=run.run_date, now=now))
    row.status, row.finished_at, row.counts = StepStatus.SUCCEEDED, timezone.now(), _jsonable(counts)
    row.save(update_fields=["status", "finished_at", "counts"])
    _touch(run)
    logger.info("nightly: step %s done %s", name, row.counts)
    return row


# Writing down a failure may itself meet a busy database (SQLite: another process holds the write lock
# longer than the busy timeout); it is tried again, with a pause, before giving up.
FAILURE_RECORD_ATTEMPTS = 4


def _record_failure(run: NightlyRun, name: str, exc: Exception, error: str) -> None:
    """Mark the step (created if it failed before its row was written) and the run failed, with the error."""
    finished = timezone.now()
    run_error = f"{name}: {exc}"[:2000]
    for attempt in range(FAILURE_RECORD_ATTEMPTS):
        try:
            with transaction.atomic():
                NightlyStep.objects.update_or_create(
                    run=run,
                    name=name,
                    defaults={"status": StepStatus.FAILED, "finished_at": finished, "error": error},
                    create_defaults={
                        "position": STEP_NAMES.index(name) + 1,
                        "status": StepStatus.FAILED,
                        "started_at": finished,
                        "finished_at": finished,
                        "error": error,
                    },
                )
                NightlyRun.objects.filter(pk=run.pk, status=RunStatus.RUNNING).update(
                    status=RunStatus.FAILED, finished_at=finished, error=run_error
                )
            break
        except OperationalError:
            if attempt == FAILURE_RECORD_ATTEMPTS - 1 or connection.in_atomic_block:
                raise
            close_old_connections()  # a connection the error left unusable is replaced
            time.sleep(2**attempt)
    run.status, run.finished_at, run.error = RunStatus.FAILED, finished, run_error


def run_finish(run: NightlyRun) -> NightlyRun:
    """Close a run whose steps all ran: succeeded."""
    run.refresh_from_db()
    if run.status == RunStatus.RUNNING:
        run.status, run.finished_at = RunStatus.SUCCEEDED, timezone.now()
        run.save(update_fields=["status", "finished_at"])
        logger.info("nightly: run #%s for %s finished", run.pk, run.run_date)
    return run


def business_date(now: datetime | None = None) -> date:
    """Today in the bank's time zone (settings.TIME_ZONE): the date a run is "as of"."""
    return timezone.localdate(now)


def run_pipeline(
    *, as_of: date | None = None, trigger: str = "command", again: bool = False, only: list[str] | None = None
) -> NightlyRun:
    """Run the pipeline for a date in this process, step after step. Returns the run (failed if a step
    failed). Raises RunInProgress if another run is working."""
    as_of = as_of or business_date()
    names = [n for n in STEP_NAMES if only is None or n in only]
    with working():
        run = run_begin(as_of=as_of, trigger=trigger)
        try:
            for name in names:
                run_step(run, name, again=again)
        except StepFailed:
            run.refresh_from_db()
            return run
        except BaseException as exc:
            # Interrupted from outside (Ctrl-C, a time limit): leave a record, not a running row.
            NightlyStep.objects.filter(run=run, status=StepStatus.RUNNING).update(
                status=StepStatus.INTERRUPTED, finished_at=timezone.now(), error=repr(exc)
            )
            NightlyRun.objects.filter(pk=run.pk).update(
                status=RunStatus.INTERRUPTED, finished_at=timezone.now(), error=repr(exc)
            )
            raise
        return run_finish(run)


# --- Catching up ------------------------------------------------------------------------------------


def scheduled_time_passed(now: datetime) -> bool:
    """Whether today's scheduled nightly run time (the enabled beat schedule of the pipeline) has passed.
    No schedule, a disabled one or an irregular crontab: False (nothing to catch up with)."""
    task = (
        PeriodicTask.objects.filter(task=NIGHTLY_TASK, enabled=True, crontab__isnull=False)
        .select_related("crontab")
        .first()
    )
    if task is None:
        return False
    cron = task.crontab
    if not (cron.hour.isdigit() and cron.minute.isdigit()):
        return False
    local = now.astimezone(zoneinfo.ZoneInfo(str(cron.timezone)))
    return (local.hour, local.minute) >= (int(cron.hour), int(cron.minute))


NIGHTLY_TASK = "automation.tasks.nightly_start"


def catch_up_due(now: datetime | None = None) -> date | None:
    """The date to run now, if today's run was missed (the machine was off at the scheduled time, or the
    run failed or its worker died): the scheduled time has passed, today is not complete, fewer than
    COLLECTIONS_NIGHTLY_MAX_ATTEMPTS runs for today failed. Else None. (Whether another run is working is
    for run_begin to decide.)"""
    now = now or timezone.now()
    as_of = business_date(now)
    if not scheduled_time_passed(now) or date_is_complete(as_of):
        return None
    failed = NightlyRun.objects.filter(run_date=as_of, status=RunStatus.FAILED).count()
    if failed >= settings.COLLECTIONS_NIGHTLY_MAX_ATTEMPTS:
        return None
    return as_of
