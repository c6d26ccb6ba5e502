"""Figures for DESIGN section 8, each beside a raw-SQL baseline where one makes sense, all in one run:

1. the DPD / bucket refresh: a hand-written UPDATE (the baseline) for one business date, then the nightly
   step (`nightly.refresh_delinquency`, the ORM) for the next - the same work, every overdue account;
2. the cure / close step (`nightly.resolve_cured_cases`: the kernel's bulk transition, events, plans
   cancelled) and the priority step (`queues.refresh_priorities`), each after its hand-written SQL
   baseline doing the same work on the same rows in the same run - the baseline in a transaction that
   is rolled back, so the step then finds the data the baseline found (a share of the open cases' accounts
   is cured first so that the close has work);
3. `run_nightly` (every step) for the date after, per step;
4. optionally, Next case: agents in threads claiming cases for a few seconds (claims per second, p99).

It works on the portfolio in the database (make one with `manage.py generate_portfolio --accounts N`, or
pass --generate N) and moves the business date forward from the last run, so each figure is a night with
real work. Use a database of its own: the runs change the data.
"""

from __future__ import annotations

import statistics
import threading
import time
from datetime import date, datetime, timedelta

from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError
from django.db import connection, connections, transaction
from django.db.models import Max
from django.utils import timezone

from accounts.models import Role, Team, User
from automation import pipeline as nightly
from automation.models import NightlyRun
from collections_app import services
from collections_app.delinquency import BUCKET_LABELS, bucket_boundaries
from collections_app.models import CLOSED_STATES, OPEN_STATES, Case, CaseEvent, CreditAccount, Queue
from collections_app.services import queues
from demo.management.commands.generate_portfolio import generate as generate_portfolio
from escalation.models import EscalationFiring, FiringOutcome
from repayment_plans.models import LIVE_STATES, RepaymentPlan


def raw_refresh(as_of: date) -> int:
    """The baseline: the DPD / bucket refresh as one hand-written PostgreSQL UPDATE."""
    dpd = (
        "CASE WHEN overdue_amount > 0 AND first_missed_due_date < %(d)s "
        "THEN %(d)s::date - first_missed_due_date ELSE 0 END"
    )
    whens = " ".join(
        f"WHEN {dpd} <= {upper} THEN '{label}'"
        for label, upper in zip(BUCKET_LABELS, bucket_boundaries(), strict=True)
    )
    bucket = f"CASE WHEN {dpd} <= 0 THEN 'current' {whens} ELSE 'M6+' END"
    sql = (
        f"UPDATE {CreditAccount._meta.db_table} SET days_past_due = {dpd}, bucket = {bucket}, "  # noqa: S608
        f"dpd_as_of = %(d)s, updated_at = now() WHERE days_past_due <> {dpd} OR bucket <> {bucket}"
    )
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(sql, {"d": as_of})
        return cursor.rowcount


def claims_per_second(*, agents: int, seconds: float, at: datetime) -> dict:
    """`agents` threads pressing Next case for `seconds`; each claim is one transaction."""
    team, _ = Team.objects.get_or_create(name="Bench team")
    queues = list(Queue.objects.filter(name__startswith="Bench").order_by("order"))
    Queue.objects.filter(pk__in=[q.pk for q in queues]).update(team=team)
    users = []
    for n in range(agents):
        user, _ = User.objects.get_or_create(username=f"bench_agent_{n}", defaults={"role": Role.AGENT})
        user.team = team
        user.save(update_fields=["team"])
        # Each agent works one queue, as on a collections floor (the M1 callers, the M3-M4 callers ...).
        user.work_queues.set([queues[n % len(queues)]])
        users.append(user)
    # What beat keeps up to date: who may be called at `at` (Next case reads the stored answer).
    services.contactability.contactability_roll(now=at)
    latencies: list[float] = []
    claimed = [0]
    lock = threading.Lock()
    stop = time.monotonic() + seconds

    def work(user):
        try:
            while time.monotonic() < stop:
                started = time.perf_counter()
                result = services.case_claim_next(actor=user, now=at)
                elapsed = time.perf_counter() - started
                with lock:
                    latencies.append(elapsed)
                    claimed[0] += result.case is not None
        finally:
            connections.close_all()

    threads = [threading.Thread(target=work, args=(u,)) for u in users]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    latencies.sort()
    return {
        "claims": claimed[0],
        "per_second": claimed[0] / seconds,
        "p99_ms": 1000 * latencies[int(0.99 * (len(latencies) - 1))] if latencies else 0,
        "median_ms": 1000 * statistics.median(latencies) if latencies else 0,
    }


class _RolledBack(Exception):
    pass


def timed_and_rolled_back(work) -> tuple[float, int]:
    """Run `work()` (returns a row count) in a transaction, time it, then roll it back: a baseline that
    leaves the data as it found it for the project's step."""
    result = [0, 0.0]
    try:
        with transaction.atomic():
            started = time.perf_counter()
            result[0] = work()
            result[1] = time.perf_counter() - started
            raise _RolledBack
    except _RolledBack:
        pass
    return result[1], result[0]


def timed(work) -> tuple[float, int]:
    started = time.perf_counter()
    rows = work()
    return time.perf_counter() - started, rows


def cure_some_accounts(share: int = 20) -> int:
    """Make every `share`-th account with an open case current (its overdue amount paid), a tenth of those
    paid off entirely, so that the close step has work."""
    table, cases = CreditAccount._meta.db_table, Case._meta.db_table
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {table} a SET overdue_amount = 0, minimum_due = 0, first_missed_due_date = NULL, "  # noqa: S608
            "principal = CASE WHEN a.id %% %(tenth)s = 0 THEN 0 ELSE a.principal END, "
            "interest = CASE WHEN a.id %% %(tenth)s = 0 THEN 0 ELSE a.interest END, "
            "fees = CASE WHEN a.id %% %(tenth)s = 0 THEN 0 ELSE a.fees END, "
            "penalties = CASE WHEN a.id %% %(tenth)s = 0 THEN 0 ELSE a.penalties END "
            f"WHERE a.id %% %(share)s = 0 AND a.overdue_amount > 0 AND EXISTS (SELECT 1 FROM {cases} c "
            "WHERE c.account_id = a.id AND c.state <> ALL(%(closed)s))",
            {"share": share, "tenth": share * 10, "closed": list(CLOSED_STATES)},
        )
        return cursor.rowcount


def raw_close(now: datetime) -> int:
    """The baseline of the close step: the cases of cured accounts resolved (reason, closed_at, version),
    one RESOLVED event each, their live plans cancelled with one event each - one hand-written statement.
    The one place outside the kernel that writes a case's state, on purpose: it measures what the kernel's
    bulk transition costs, and always runs in a transaction that is rolled back (timed_and_rolled_back)."""
    case, account, event = Case._meta.db_table, CreditAccount._meta.db_table, CaseEvent._meta.db_table
    plan = RepaymentPlan._meta.db_table
    sql = f"""
        WITH src AS (
            SELECT c.id, c.state,
                CASE WHEN a.balance = 0 THEN 'paid_in_full' ELSE 'cured' END AS resolution
            FROM {case} c JOIN {account} a ON a.id = c.account_id
            WHERE c.state = ANY(%(open)s) AND a.overdue_amount = 0
            FOR UPDATE OF c
        ), moved AS (
            UPDATE {case} c SET state = 'resolved', resolution_reason = src.resolution, closed_at = %(now)s,
                version = c.version + 1
            FROM src WHERE c.id = src.id
            RETURNING c.id, src.state, src.resolution
        ), case_events AS (
            INSERT INTO {event} (case_id, kind, from_state, to_state, actor_id, reason, details, created_at)
            SELECT id, 'resolved', state, 'resolved', NULL, %(reason)s,
                jsonb_build_object('resolution_reason', resolution), %(now)s
            FROM moved
        ), live AS (
            SELECT p.id, p.case_id, p.state FROM {plan} p JOIN moved ON moved.id = p.case_id
            WHERE p.state = ANY(%(live)s) FOR UPDATE OF p
        ), cancelled AS (
            UPDATE {plan} p SET state = 'cancelled', ended_by_id = NULL, ended_at = %(now)s,
                end_note = %(reason)s, updated_at = %(now)s
            FROM live WHERE p.id = live.id
            RETURNING p.id, live.case_id, live.state
        ), plan_events AS (
            INSERT INTO {event} (case_id, kind, from_state, to_state, actor_id, reason, details, created_at)
            SELECT case_id, 'plan', '', '', NULL, %(reason)s,
                jsonb_build_object('plan', id, 'action', 'cancelled', 'from', state, 'to', 'cancelled'),
                %(now)s
            FROM cancelled
        )
        SELECT count(*) FROM moved
    """  # noqa: S608
    with connection.cursor() as cursor:
        cursor.execute(
            sql,
            {
                "open": list(OPEN_STATES),
                "live": list(LIVE_STATES),
                "now": now,
                "reason": nightly.CURED_REASON,
            },
        )
        return cursor.fetchone()[0]


def raw_priorities(now: datetime) -> int:
    """The baseline of the priority step: every open case's score (the same factors and weights, the
    escalation rules' points included) in one hand-written UPDATE of the rows whose score changes."""
    case, account, firing = Case._meta.db_table, CreditAccount._meta.db_table, EscalationFiring._meta.db_table
    sql = f"""
        UPDATE {case} c SET priority = s.score FROM (
            SELECT c.id,
                LEAST(a.days_past_due, %(dpd_cap)s) * %(per_day)s
                + LEAST(floor(a.overdue_amount / 1000)::int * %(per_thousand)s, %(amount_cap)s)
                + c.broken_promise_count * %(promise)s + c.broken_plan_count * %(plan)s
                + CASE WHEN c.next_action_at <= %(now)s THEN %(callback)s ELSE 0 END
                + COALESCE(f.points, 0) AS score
            FROM {case} c JOIN {account} a ON a.id = c.account_id
            LEFT JOIN (
                SELECT case_id, sum(priority_points) AS points FROM {firing}
                WHERE NOT dry_run AND outcome = %(fired)s GROUP BY case_id
            ) f ON f.case_id = c.id
            WHERE c.state <> ALL(%(closed)s)
        ) s
        WHERE c.id = s.id AND c.priority IS DISTINCT FROM s.score
    """  # noqa: S608
    with connection.cursor() as cursor:
        cursor.execute(
            sql,
            {
                "closed": list(CLOSED_STATES),
                "now": now,
                "dpd_cap": queues.DPD_CAP_DAYS,
                "per_day": queues.DPD_POINTS_PER_DAY,
                "per_thousand": queues.AMOUNT_POINTS_PER_THOUSAND,
                "amount_cap": queues.AMOUNT_CAP_POINTS,
                "promise": queues.BROKEN_PROMISE_POINTS,
                "plan": queues.BROKEN_PLAN_POINTS,
                "callback": queues.CALLBACK_DUE_POINTS,
                "fired": FiringOutcome.FIRED,
            },
        )
        return cursor.rowcount


def compare_steps(out, now: datetime) -> list[dict]:
    """The close and priority steps against their baselines, same rows, same run; prints the table."""
    cured = cure_some_accounts()
    rows = []
    for name, baseline, step in (
        (
            "cure/close",
            lambda: raw_close(now),
            lambda: nightly.resolve_cured_cases(now=now)["resolved"],
        ),
        ("priorities", lambda: raw_priorities(now), lambda: queues.refresh_priorities(now=now)),
    ):
        raw_seconds, raw_rows = timed_and_rolled_back(baseline)
        with transaction.atomic():
            step_seconds, step_rows = timed(step)
        rows.append(
            {
                "step": name,
                "project_s": step_seconds,
                "baseline_s": raw_seconds,
                "ratio": step_seconds / raw_seconds if raw_seconds else None,
                "project_rows": step_rows,
                "baseline_rows": raw_rows,
            }
        )
    out("")
    out(f"Nightly steps against raw SQL (same rows, same run; {cured:,} accounts cured for the close)")
    out(f"  {'step':<12} {'project':>9} {'baseline':>9} {'ratio':>7} {'rows':>10} {'baseline rows':>14}")
    for row in rows:
        ratio = f"{row['ratio']:7.2f}" if row["ratio"] is not None else "      -"
        out(
            f"  {row['step']:<12} {row['project_s']:8.2f}s {row['baseline_s']:8.2f}s {ratio} "
            f"{row['project_rows']:>10,} {row['baseline_rows']:>14,}"
        )
    return rows


class Command(BaseCommand):
    help = (
        "Benchmark the nightly pipeline (and Next case) on the portfolio in the database. See the docstring."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--generate", type=int, metavar="N", help="first generate a portfolio of N accounts"
        )
        parser.add_argument("--claims-seconds", type=float, default=0, help="measure Next case for this long")
        parser.add_argument("--agents", type=int, default=4, help="agents pressing Next case at once")
        parser.add_argument(
            "--dashboards-attempts",
            type=int,
            default=None,
            metavar="N",
            help="add N contact attempts, then time the dashboard panels (dashboards.bench)",
        )

    def handle(self, *args, generate, claims_seconds, agents, dashboards_attempts=None, **options):
        if connection.vendor != "postgresql":
            raise CommandError("bench measures PostgreSQL (set DATABASE_URL to a database of its own).")
        out = self.stdout.write
        if generate:
            out(f"Generating {generate:,} accounts ...")
            totals = generate_portfolio(accounts=generate, prefix=f"GEN{int(time.time())}")
            out(f"  generated in {totals['seconds']} s (COPY)")
        accounts = CreditAccount.objects.count()
        if not accounts:
            raise CommandError(
                "No accounts: run manage.py generate_portfolio --accounts N first (or --generate)."
            )
        last = NightlyRun.objects.aggregate(last=Max("run_date"))["last"]
        day = (last + timedelta(days=1)) if last else timezone.localdate()
        with connection.cursor() as cursor:
            cursor.execute("SHOW server_version")
            version = cursor.fetchone()[0]
        open_cases = Case.objects.filter(closed_at__isnull=True).count()
        out(f"Portfolio: {accounts:,} accounts, {open_cases:,} open cases")
        out(f"PostgreSQL {version}; business dates from {day}")
        # Start from clean tables and fresh statistics, as autovacuum would leave them between two nights.
        with connection.cursor() as cursor:
            for table in (
                "collections_app_creditaccount",
                "collections_app_case",
                "messaging_outboundmessage",
            ):
                cursor.execute(f"VACUUM (ANALYZE) {table}")

        started = time.perf_counter()
        raw_rows = raw_refresh(day)
        raw_seconds = time.perf_counter() - started
        context = nightly.StepContext(run=None, as_of=day + timedelta(days=1), now=timezone.now())
        started = time.perf_counter()
        orm_rows = nightly.refresh_delinquency(context)["accounts_updated"]
        orm_seconds = time.perf_counter() - started
        out("")
        out("DPD / bucket refresh (same work, consecutive dates)")
        out(f"  raw SQL baseline   {raw_seconds:7.2f} s   {raw_rows:>10,} rows   ({day})")
        out(f"  nightly step (ORM) {orm_seconds:7.2f} s   {orm_rows:>10,} rows   ({context.as_of})")
        out(f"  ratio ORM / raw    {orm_seconds / raw_seconds:7.2f}")

        compare_steps(out, now=timezone.now())

        as_of = day + timedelta(days=2)
        run = nightly.run_pipeline(as_of=as_of, trigger="bench")
        out("")
        out(f"run_nightly for {as_of}: {run.status} in {run.duration_seconds:.2f} s")
        for step in run.steps.all():
            counts = ", ".join(f"{k}={v}" for k, v in step.counts.items() if isinstance(v, int | str))
            out(f"  {step.name:<20} {step.duration_seconds:7.2f} s   {counts}")
        if run.status != "succeeded":
            raise CommandError(run.error)

        if claims_seconds:
            at = datetime.combine(
                as_of, datetime.min.time().replace(hour=10), tzinfo=timezone.get_current_timezone()
            )
            figures = claims_per_second(agents=agents, seconds=claims_seconds, at=at)
            out("")
            out(
                f"Next case: {agents} agents x {claims_seconds:g} s: {figures['claims']:,} claims, "
                f"{figures['per_second']:.0f}/s, median {figures['median_ms']:.1f} ms, "
                f"p99 {figures['p99_ms']:.1f} ms"
            )

        if dashboards_attempts is not None:
            call_command("bench_dashboards", generate_attempts=dashboards_attempts, stdout=self.stdout)
