"""manage.py bench_dashboards: the dashboards' figures at scale (see dashboards.bench)."""

from __future__ import annotations

import time
from datetime import timedelta

from django.core.management.base import BaseCommand, CommandError
from django.db import connection
from django.db.models import Count

from accounts.models import Role, User
from collections_app.models import ContactAttempt
from core.clock import bank_today
from dashboards import bench, rollups
from dashboards import models as rollup_models
from dashboards.scope import Filters, Period


class Command(BaseCommand):
    help = (
        "Time every dashboard panel on the data in the database (PostgreSQL). --generate-attempts N first "
        "adds N contact attempts (and their promises, payments, events) to a generate_portfolio portfolio."
    )

    def add_arguments(self, parser):
        parser.add_argument("--generate-attempts", type=int, default=0, metavar="N")
        parser.add_argument("--days", type=int, default=90, help="spread the attempts over this many days")
        parser.add_argument(
            "--skip-rollups",
            action="store_true",
            help="do not rebuild the rollups first (the intraday one runs)",
        )
        parser.add_argument("--repeat", type=int, default=5, help="runs per panel (median and max shown)")
        parser.add_argument("--period-days", type=int, default=30)

    def handle(self, *args, generate_attempts, days, skip_rollups, repeat, period_days, **options):
        if connection.vendor != "postgresql":
            raise CommandError(
                "bench_dashboards measures PostgreSQL (set DATABASE_URL to a database of its own)."
            )
        out = self.stdout.write
        if generate_attempts:
            out("Setting up teams and queues ...")
            bench.setup_teams(out)
            out(f"Generating {generate_attempts:,} contact attempts over {days} days ...")
            counts = bench.generate_activity(attempts=generate_attempts, days=days, out=out)
            out(f"  done in {counts['seconds']} s")
        today = bank_today()
        if not skip_rollups:
            started = time.perf_counter()
            result = rollups.refresh(as_of=today, days=days + 1)
            seconds = time.perf_counter() - started
            out(f"Rollups rebuilt for {result['from']}..{result['to']} in {seconds:.1f} s")
            started = time.perf_counter()
            rollups.refresh(as_of=today)
            out(
                f"A nightly refresh ({rollups.REFRESH_DAYS} days) takes {time.perf_counter() - started:.1f} s"
            )
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT reltuples::bigint FROM pg_class WHERE relname = %s", [ContactAttempt._meta.db_table]
            )
            attempts = cursor.fetchone()[0]
            cursor.execute("SHOW server_version")
            version = cursor.fetchone()[0]
        out(f"PostgreSQL {version}; about {attempts:,} contact attempts; watermark {rollups.watermark()}")
        period = Period(today - timedelta(days=period_days - 1), today)
        supervisor = User.objects.filter(
            username__startswith=f"{bench.PREFIX}_", role=Role.SUPERVISOR
        ).first()
        admin, _created = User.objects.get_or_create(
            username=f"{bench.PREFIX}_admin", defaults={"role": Role.ADMIN, "language": "en"}
        )
        viewers = []
        if supervisor:
            viewers.append(
                (
                    f"supervisor of {supervisor.team} (1/{bench.TEAMS} of the work)",
                    supervisor,
                    Filters(teams=(supervisor.team_id,)),
                )
            )
        viewers.append(("admin, every team", admin, Filters(teams=None)))
        self._sizes(out)
        rounds = [("today computed live", None), ("today from the intraday rollup", "intraday")]
        for round_label, mode in rounds:
            if mode == "intraday":
                started = time.perf_counter()
                counts = rollups.refresh_today()
                seconds = time.perf_counter() - started
                out("")
                out(f"Intraday refresh of today ({counts['agents']:,} agent-days): {seconds:.1f} s")
            for label, user, filters in viewers:
                out("")
                out(f"{label}; {period.start}..{period.end} (last {period_days} days), {round_label}")
                out(f"  {'panel':<30} {'median ms':>10} {'max ms':>10}")
                for name, fn in bench.panels(user, filters, period, today_live=mode is None).items():
                    fn()  # warm
                    t = bench.timed(fn, repeat)
                    out(f"  {name:<30} {t['median']:>10.1f} {t['max']:>10.1f}")
                team = filters.teams[0] if filters.teams else None
                base = bench.timed(bench.raw_baseline(period, team), repeat)
                label = "raw SQL: attempts, RPC, accounts"
                out(f"  {label:<30} {base['median']:>10.1f} {base['max']:>10.1f}")

    def _sizes(self, out):
        out("Rollup rows (all days) by level:")
        for model in (
            rollup_models.ActivityDaily,
            rollup_models.ReachDaily,
            rollup_models.PromiseDaily,
            rollup_models.CollectionDaily,
            rollup_models.ReasonDaily,
            rollup_models.CaseFlowDaily,
            rollup_models.PortfolioDaily,
        ):
            levels = dict(model.objects.values_list("level").annotate(n=Count("pk")).order_by())
            line = ", ".join(f"{level} {n:,}" for level, n in sorted(levels.items()))
            out(f"  {model.__name__:<16} {line}")
        out(f"  {'AgentDaily':<16} {rollup_models.AgentDaily.objects.count():,}")
        out(f"  {'AccountMonthEnd':<16} {rollup_models.AccountMonthEnd.objects.count():,}")
