"""The nightly pipeline run in-process (manage.py run_nightly): what each step does, that a second run
for the date changes nothing, that a run stopped midway is finished by the next one without duplicates,
and that two runs never overlap."""

import os
import socket
import subprocess
import sys
import threading
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import psycopg
import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import IntegrityError, OperationalError, connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from django_celery_beat.models import PeriodicTask

from automation import pipeline as nightly
from automation.models import NightlyRun, NightlyStep, RunStatus, StepStatus
from collections_app.delinquency import bucket_for, days_past_due
from collections_app.models import (
    Case,
    CaseEvent,
    CaseState,
    CreditAccount,
    EventKind,
    PromiseStatus,
    PromiseToPay,
    ResolutionReason,
)
from messaging.models import OutboundMessage
from repayment_plans import services as plan_services
from repayment_plans.models import PlanState
from tests.automation.conftest import AS_OF, overdue, snapshot
from tests.escalation.conftest import make_rule
from tests.factories import AccountFactory, open_case

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("night", "defaults")]


def run(**kwargs) -> NightlyRun:
    return nightly.run_pipeline(as_of=AS_OF, **kwargs)


# --- What the steps do ---------------------------------------------------------------------------------


def test_dpd_and_bucket_follow_the_python_rules_for_every_account():
    late_again = [
        AccountFactory(first_missed_due_date=AS_OF - timedelta(days=d), days_past_due=0)
        for d in (1, 30, 31, 60, 61, 150, 180, 181, 400)
    ]
    paid = AccountFactory(overdue_amount=Decimal("0.00"), days_past_due=12, bucket="M1")
    future = AccountFactory(first_missed_due_date=AS_OF, days_past_due=3, bucket="M1")

    counts = nightly.refresh_delinquency(nightly.StepContext(run=None, as_of=AS_OF, now=timezone.now()))

    assert counts == {"accounts_updated": 11}
    for account in CreditAccount.objects.filter(pk__in=[a.pk for a in late_again]):
        expected = days_past_due(account.first_missed_due_date, AS_OF)
        assert (account.days_past_due, account.bucket) == (expected, bucket_for(expected))
        assert account.dpd_as_of == AS_OF
    paid.refresh_from_db()
    future.refresh_from_db()
    assert (paid.days_past_due, paid.bucket) == (0, "current")  # overdue paid: not past due
    assert (future.days_past_due, future.bucket) == (0, "current")  # due today: not yet late


def test_dpd_refresh_is_one_update_and_writes_nothing_the_second_time():
    for d in (5, 45, 200):
        AccountFactory(first_missed_due_date=AS_OF - timedelta(days=d), days_past_due=0)
    context = nightly.StepContext(run=None, as_of=AS_OF, now=timezone.now())
    with CaptureQueriesContext(connection) as queries:
        assert nightly.refresh_delinquency(context) == {"accounts_updated": 3}
    updates = [q["sql"] for q in queries.captured_queries if q["sql"].startswith("UPDATE")]
    assert len(updates) == 1
    assert nightly.refresh_delinquency(context) == {"accounts_updated": 0}


def test_a_run_opens_resolves_breaks_places_and_plans(portfolio):
    result = run()

    assert result.status == RunStatus.SUCCEEDED
    steps = {s.name: s for s in result.steps.all()}
    assert [s.name for s in result.steps.order_by("position")] == nightly.STEP_NAMES
    assert all(s.status == StepStatus.SUCCEEDED for s in steps.values())
    assert steps["cases"].counts == {"opened": 1, "resolved": 2, "not_resolved": 0}
    assert steps["promises_and_plans"].counts == {"promises_broken": 1, "plans_broken": 0}

    new_case = Case.objects.get(account=portfolio.new_delinquent)
    assert new_case.state == CaseState.NEW and new_case.queue.name == "Early"
    portfolio.cured.refresh_from_db()
    portfolio.paid_off.refresh_from_db()
    assert (portfolio.cured.state, portfolio.cured.resolution_reason) == ("resolved", ResolutionReason.CURED)
    assert portfolio.paid_off.resolution_reason == ResolutionReason.PAID_IN_FULL
    (resolved,) = CaseEvent.objects.filter(case=portfolio.cured, kind=EventKind.RESOLVED, actor=None)
    assert (resolved.from_state, resolved.to_state) == (CaseState.NEW, CaseState.RESOLVED)
    assert (resolved.reason, resolved.details) == (
        "Overdue amount paid (nightly check).",
        {"resolution_reason": ResolutionReason.CURED},
    )
    assert portfolio.cured.closed_at == resolved.created_at
    portfolio.late.refresh_from_db()
    assert (portfolio.late.account.days_past_due, portfolio.late.account.bucket) == (75, "M3")
    assert portfolio.late.queue.name == "Late" and portfolio.late.priority > 0
    portfolio.promised.refresh_from_db()
    assert portfolio.promised.promises.get().status == PromiseStatus.BROKEN
    assert portfolio.promised.state == CaseState.IN_PROGRESS

    keys = set(OutboundMessage.objects.values_list("idempotency_key", flat=True))
    noticed = portfolio.noticed.pk
    assert {
        f"overdue_notice:{noticed}:2026-05-26+7:sms",
        f"overdue_notice:{noticed}:2026-05-26+7:email",
    } <= keys
    assert OutboundMessage.objects.filter(run=result).count() == len(keys)
    assert steps["reminders"].counts["planned"] == len(keys)


def cured_cases(team, agent, count: int) -> list[Case]:
    """`count` open cases whose accounts the bank's file now says are current; the first is on a repayment
    plan (active, made through the plan services)."""
    cases = [open_case(team=team, **overdue(20)) for _ in range(count)]
    plan_services.plan_propose(
        case_id=cases[0].pk,
        actor=agent,
        data=plan_services.PlanInput(
            kind="installment",
            amount=Decimal("1200.00"),
            installments=12,
            first_due_date=AS_OF + timedelta(days=7),
        ),
        cardholder_accepted=True,
    )
    CreditAccount.objects.filter(pk__in=[c.account_id for c in cases]).update(
        overdue_amount=Decimal("0.00"), minimum_due=Decimal("0.00"), first_missed_due_date=None
    )
    return cases


def test_cured_cases_are_resolved_in_bulk_and_their_live_plan_is_cancelled(team_a, agent):
    on_plan, *others = cured_cases(team_a, agent, 3)
    plan = on_plan.repayment_plans.get()
    assert (Case.objects.get(pk=on_plan.pk).state, plan.state) == (CaseState.ON_PLAN, PlanState.ACTIVE)
    context = nightly.StepContext(run=None, as_of=AS_OF, now=timezone.now())

    assert nightly.open_and_resolve_cases(context) == {"opened": 0, "resolved": 3, "not_resolved": 0}

    for case in [on_plan, *others]:
        case.refresh_from_db()
        assert (case.state, case.resolution_reason) == (CaseState.RESOLVED, ResolutionReason.CURED)
        assert case.events.filter(kind=EventKind.RESOLVED).count() == 1
    assert on_plan.events.get(kind=EventKind.RESOLVED).from_state == CaseState.ON_PLAN
    plan.refresh_from_db()
    assert (plan.state, plan.end_note) == (PlanState.CANCELLED, "Overdue amount paid (nightly check).")
    cancelled = [e for e in on_plan.events.filter(kind=EventKind.PLAN) if e.details["action"] == "cancelled"]
    assert [(e.details["from"], e.details["to"], e.actor) for e in cancelled] == [
        ("active", "cancelled", None)
    ]
    assert nightly.open_and_resolve_cases(context) == {"opened": 0, "resolved": 0, "not_resolved": 0}


def test_resolving_cured_cases_is_set_based(team_a, agent):
    context = nightly.StepContext(run=None, as_of=AS_OF, now=timezone.now())
    cured_cases(team_a, agent, 2)
    with CaptureQueriesContext(connection) as few:
        assert nightly.open_and_resolve_cases(context)["resolved"] == 2
    cured_cases(team_a, agent, 8)
    with CaptureQueriesContext(connection) as many:
        assert nightly.open_and_resolve_cases(context)["resolved"] == 8
    assert len(many.captured_queries) == len(few.captured_queries)


def test_reminders_go_out_at_nine_local_time(portfolio):
    run()
    message = OutboundMessage.objects.filter(case=portfolio.noticed).first()
    assert message.send_after == datetime(2026, 6, 2, 1, 0, tzinfo=UTC)  # 09:00 in Beijing


def _unsettled_share_the_planner_knows() -> float | None:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT null_frac FROM pg_stats WHERE tablename = 'collections_app_promisetopay' "
            "AND attname = 'settled_at'"
        )
        row = cursor.fetchone()
    return round(row[0], 3) if row else None


def _unsettled_share() -> float:
    promises = PromiseToPay.objects.all()
    return round(promises.filter(settled_at__isnull=True).count() / promises.count(), 3)


def test_a_night_that_breaks_promises_samples_the_promises_again_for_the_planner(portfolio):
    # Autovacuum re-samples a table after a tenth of it changed; a night breaks a few percent of the
    # promises, and a planner that still thinks "broken" is rare misplans every query for them.
    PromiseToPay.objects.create(
        case=portfolio.late, amount=Decimal("10.00"), due_date=AS_OF + timedelta(days=3), status="pending"
    )
    context = nightly.StepContext(run=None, as_of=AS_OF, now=timezone.now())

    assert nightly.check_promises_and_plans(context)["promises_broken"] == 1

    assert _unsettled_share() == 0.5  # one broken (settled), one pending
    assert _unsettled_share_the_planner_knows() == 0.5


# --- A second run changes nothing ----------------------------------------------------------------------


def test_a_second_run_for_the_date_skips_every_step_and_changes_nothing(portfolio):
    run()
    before = snapshot()

    second = run()

    assert second.status == RunStatus.SUCCEEDED
    assert {s.status for s in second.steps.all()} == {StepStatus.SKIPPED}
    assert "Already done for 2026-06-02" in second.steps.first().note
    assert snapshot() == before


def test_every_step_run_again_changes_nothing(portfolio):
    run()
    before = snapshot()

    again = run(again=True)

    assert {s.status for s in again.steps.all()} == {StepStatus.SUCCEEDED}
    assert snapshot() == before
    counts = {s.name: s.counts for s in again.steps.all()}
    assert counts["refresh_delinquency"] == {"accounts_updated": 0}
    assert counts["cases"] == {"opened": 0, "resolved": 0, "not_resolved": 0}
    assert counts["promises_and_plans"] == {"promises_broken": 0, "plans_broken": 0}
    assert counts["queues"]["moved"] == 0 and counts["queues"]["priorities_changed"] == 0
    assert counts["reminders"]["planned"] == 0


# --- Stopped midway: the next run finishes ----------------------------------------------------------


def test_a_failed_step_stops_the_run_and_the_next_run_does_only_what_is_left(portfolio, monkeypatch):
    make_rule([{"field": "dpd", "operator": "gte", "value": 60}], move_to_legal_review=True)
    at = [step.name for step in nightly.STEPS].index("queues")
    real = nightly.STEPS[at]
    calls = []

    def broken_queues(ctx):
        calls.append(ctx.as_of)
        raise RuntimeError("database went away")

    steps = list(nightly.STEPS)
    monkeypatch.setattr(
        nightly, "STEPS", [*steps[:at], nightly.Step(real.name, broken_queues, ""), *steps[at + 1 :]]
    )
    first = run()

    assert first.status == RunStatus.FAILED
    assert "queues: database went away" in first.error
    statuses = dict(first.steps.values_list("name", "status"))
    assert statuses == {
        "dashboard_snapshots": "succeeded",
        "refresh_delinquency": "succeeded",
        "cases": "succeeded",
        "promises_and_plans": "succeeded",
        "escalation_rules": "succeeded",
        "queues": "failed",
    }
    assert "RuntimeError: database went away" in first.steps.get(name="queues").error

    monkeypatch.setattr(nightly, "STEPS", steps)
    second = run()

    assert second.status == RunStatus.SUCCEEDED
    statuses = dict(second.steps.values_list("name", "status"))
    assert statuses == {
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
    # No duplicates: one "opened" event per case, one escalation, one resolution, unique messages.
    for case in Case.objects.all():
        assert case.events.filter(kind=EventKind.OPENED).count() == 1
        assert case.events.filter(kind=EventKind.ESCALATED).count() <= 1
        assert case.events.filter(kind=EventKind.RESOLVED).count() <= 1
    assert CaseEvent.objects.filter(kind=EventKind.ESCALATED).count() == 1  # the 75-day case
    before = snapshot()
    assert run(again=True).status == RunStatus.SUCCEEDED
    assert snapshot() == before


# --- Never two at once -------------------------------------------------------------------------------


def _running_run(owner: str, heartbeat_age: timedelta = timedelta(0)) -> NightlyRun:
    now = timezone.now()
    started = now - heartbeat_age - timedelta(seconds=5)
    return NightlyRun.objects.create(
        run_date=AS_OF, owner=owner, started_at=started, heartbeat_at=now - heartbeat_age, trigger="test"
    )


def test_a_run_does_not_start_while_another_is_alive():
    alive = _running_run(f"{socket.gethostname()}:{_own_pid()}")
    with pytest.raises(nightly.RunInProgress, match=f"run #{alive.pk} for 2026-06-02 is running"):
        run()
    assert NightlyRun.objects.count() == 1


def test_run_nightly_command_says_why_it_did_not_start():
    _running_run(f"{socket.gethostname()}:{_own_pid()}")
    with pytest.raises(CommandError, match="Not started: run #"):
        call_command("run_nightly", "--date", "2026-06-02")


def test_a_run_whose_process_died_is_marked_interrupted_and_taken_over(portfolio):
    dead = _running_run(f"{socket.gethostname()}:{_dead_pid()}")
    NightlyStep.objects.create(
        run=dead, name="cases", position=2, status="running", started_at=timezone.now()
    )

    taken_over = run()

    dead.refresh_from_db()
    assert dead.status == RunStatus.INTERRUPTED
    assert "Taken over by a new run for 2026-06-02" in dead.error
    assert dead.steps.get().status == StepStatus.INTERRUPTED
    assert taken_over.status == RunStatus.SUCCEEDED


def test_a_silent_run_on_another_host_is_taken_over_after_the_stale_time(settings):
    settings.COLLECTIONS_NIGHTLY_STALE_SECONDS = 300
    recent = _running_run("elsewhere:1", heartbeat_age=timedelta(seconds=60))
    with pytest.raises(nightly.RunInProgress):
        run()
    NightlyRun.objects.filter(pk=recent.pk).update(heartbeat_at=timezone.now() - timedelta(seconds=301))
    if connection.vendor != "postgresql":
        # SQLite cannot tell a long step elsewhere from a dead process; it waits for the heartbeat only.
        pass
    assert run().status == RunStatus.SUCCEEDED
    recent.refresh_from_db()
    assert recent.status == RunStatus.INTERRUPTED


def test_the_database_allows_one_running_run_only():
    _running_run("elsewhere:1")
    with pytest.raises(IntegrityError), transaction.atomic():
        _running_run("elsewhere:2")


@pytest.mark.postgres
def test_the_advisory_lock_keeps_a_second_process_out():
    params = connection.get_connection_params()
    params.pop("cursor_factory", None)
    params.pop("context", None)
    other = psycopg.connect(**params, autocommit=True)
    try:
        other.execute("SELECT pg_advisory_lock(%s)", [nightly.ADVISORY_LOCK_KEY])
        with pytest.raises(nightly.RunInProgress, match="another process is running"):
            run()
    finally:
        other.execute("SELECT pg_advisory_unlock(%s)", [nightly.ADVISORY_LOCK_KEY])
        other.close()
    assert run().status == RunStatus.SUCCEEDED


def _own_pid() -> int:
    return os.getpid()


def _dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])  # noqa: S603
    child.wait()
    return child.pid


# --- Catching up a missed night ---------------------------------------------------------------------


def test_catch_up_runs_today_once_the_scheduled_time_has_passed_and_until_it_is_complete(portfolio, night):
    call_command("setup_schedules", verbosity=0)
    night.move_to("2026-06-02 01:00 +0800")
    assert nightly.catch_up_due() is None  # before 01:30: tonight's run is still to come
    night.move_to("2026-06-02 10:00 +0800")
    assert nightly.catch_up_due() == AS_OF
    run()
    assert nightly.catch_up_due() is None


def test_catch_up_gives_up_after_repeated_failures(settings, night):
    call_command("setup_schedules", verbosity=0)
    settings.COLLECTIONS_NIGHTLY_MAX_ATTEMPTS = 2
    now = timezone.now()
    for _ in range(2):
        NightlyRun.objects.create(run_date=AS_OF, status="failed", started_at=now, heartbeat_at=now)
    assert nightly.catch_up_due() is None


def test_no_catch_up_when_the_nightly_schedule_is_disabled(night):
    call_command("setup_schedules", verbosity=0)
    PeriodicTask.objects.filter(task=nightly.NIGHTLY_TASK).update(enabled=False)
    assert nightly.catch_up_due() is None


# --- A run never stays "running" for an error; a silent run is taken over ---------------------------


def test_a_step_whose_result_cannot_be_written_fails_the_run_instead_of_leaving_it_running(
    portfolio, monkeypatch
):
    """The bookkeeping around a step fails too (here: its counts cannot be stored; on SQLite, a write
    lock held too long). The run is failed with the error, so the next run may start."""

    def unstorable(counts):
        raise ValueError("counts cannot be stored")

    monkeypatch.setattr(nightly, "_jsonable", unstorable)

    first = run()

    assert first.status == RunStatus.FAILED
    assert first.error == "dashboard_snapshots: counts cannot be stored"
    step = first.steps.get()
    assert step.status == StepStatus.FAILED and "ValueError: counts cannot be stored" in step.error
    monkeypatch.undo()
    assert run().status == RunStatus.SUCCEEDED


def test_a_failure_before_the_step_row_is_written_is_recorded_on_a_new_failed_step(monkeypatch):
    def locked(run):
        raise OperationalError("database is locked")

    monkeypatch.setattr(nightly, "_touch", locked)

    failed = run()

    assert failed.status == RunStatus.FAILED and failed.error == "dashboard_snapshots: database is locked"
    assert list(failed.steps.values_list("name", "position", "status")) == [
        ("dashboard_snapshots", 1, "failed")
    ]


@pytest.mark.django_db(transaction=True)
def test_writing_down_a_failure_waits_for_a_busy_database(monkeypatch):
    """Outside a transaction (as on the worker), a busy database while recording the failure is tried
    again, so that the run does not stay running."""
    monkeypatch.setattr(nightly, "_touch", lambda run: (_ for _ in ()).throw(RuntimeError("step broke")))
    real = NightlyStep.objects.update_or_create
    attempts = []

    def busy_once(**kwargs):
        attempts.append(kwargs["name"])
        if len(attempts) == 1:
            raise OperationalError("database is locked")
        return real(**kwargs)

    monkeypatch.setattr(NightlyStep.objects, "update_or_create", busy_once)

    failed = run()

    assert attempts == ["dashboard_snapshots", "dashboard_snapshots"]
    failed.refresh_from_db()
    assert failed.status == RunStatus.FAILED and failed.error == "dashboard_snapshots: step broke"


def test_a_silent_run_whose_process_lives_on_is_taken_over_after_the_stale_time(settings):
    """The worker process lives, but the run's chain stopped (or the web process queued a chain nobody
    ran): a live process is no proof of a live run once the heartbeat is stale."""
    settings.COLLECTIONS_NIGHTLY_STALE_SECONDS = 300
    silent = _running_run(f"{socket.gethostname()}:{_own_pid()}", heartbeat_age=timedelta(seconds=301))

    assert run().status == RunStatus.SUCCEEDED

    silent.refresh_from_db()
    assert silent.status == RunStatus.INTERRUPTED
    assert "Taken over by a new run for 2026-06-02" in silent.error


def test_the_file_lock_of_sqlite_keeps_a_second_holder_out_until_its_process_dies(tmp_path):
    path = str(tmp_path / "db.sqlite3-nightly.lock")
    holder = subprocess.Popen(  # noqa: S603 - another process holding the lock, as a worker in a step does
        [
            sys.executable,
            "-c",
            "import fcntl, sys; f = open(sys.argv[1], 'a'); fcntl.flock(f, fcntl.LOCK_EX); "
            "print('held', flush=True); sys.stdin.read()",
            path,
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "held"
        with (
            pytest.raises(nightly.RunInProgress, match="another process is running"),
            nightly.file_lock(path),
        ):
            pass
    finally:
        holder.kill()  # no clean exit: the kernel drops the lock with the process
        holder.wait()

    with nightly.file_lock(path), nightly.file_lock(path):  # its holder may take it again
        refused = []

        def other_thread():
            try:
                with nightly.file_lock(path):
                    pass
            except nightly.RunInProgress:
                refused.append(True)

        thread = threading.Thread(target=other_thread)
        thread.start()
        thread.join()
        assert refused == [True]  # another thread of the same process is kept out too
    with nightly.file_lock(path):
        pass  # released
