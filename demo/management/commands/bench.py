"""Figures for DESIGN section 8, each beside a raw-SQL baseline where one makes sense, all in one run:

1. the DPD / bucket refresh: a hand-written UPDATE (the baseline) for one business date, then the nightly
   step (`nightly.refresh_delinquency`, the ORM) for the next - the same work, every overdue account;
2. `run_nightly` (every step) for the date after, per step;
3. optionally, Next case: agents in threads claiming cases for a few seconds (claims per second, p99).

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
from collections_app.models import Case, CreditAccount, Queue
from demo.management.commands.generate_portfolio import generate as generate_portfolio


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
