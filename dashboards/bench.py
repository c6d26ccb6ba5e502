"""The dashboards section of the benchmark (DESIGN section 8): each panel's answer time at 10 million
contact attempts, beside a raw-SQL baseline for the same period.

`generate_activity` adds work to a portfolio made by `manage.py generate_portfolio` (which makes accounts
and cases, not contact history): teams, queues and agents, then N contact attempts spread over the last
DAYS days with a realistic outcome mix, the promises of the PTP outcomes (kept, broken, partly paid),
their payments, refusals, notes (some flagged as complaints) and escalation requests - each table filled
by one INSERT ... SELECT over generate_series. `run` then builds the rollups and times every panel.

PostgreSQL only; use a database of its own (`manage.py bench_dashboards --help`).
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from datetime import timedelta

from django.contrib.auth.hashers import make_password
from django.db import connection, transaction
from django.utils import timezone

from accounts.models import Role, Team, User
from collections_app.models import Case, ContactAttempt, Queue
from core.clock import bank_today, day_start
from dashboards import kpis, rollups, selectors
from dashboards.scope import Filters, Period

TEAMS = 10
AGENTS_PER_TEAM = 20
QUEUES_PER_TEAM = 3
PREFIX = "dash_bench"


def _exec(sql: str, params=None) -> int:
    with connection.cursor() as cursor:
        cursor.execute(sql, params or [])
        return cursor.rowcount


def setup_teams(out) -> tuple[list[Team], list[User]]:
    """10 teams of 20 agents and a supervisor, 3 queues each; every open case put in one of the queues."""
    teams, supervisors = [], []
    password = make_password("bench-pass-2026")
    for t in range(TEAMS):
        team, _ = Team.objects.get_or_create(name=f"Bench team {t + 1:02d}")
        teams.append(team)
        for q in range(QUEUES_PER_TEAM):
            Queue.objects.get_or_create(
                name=f"Bench team {t + 1:02d} queue {q + 1}",
                defaults={"team": team, "order": 500 + t * 10 + q},
            )
        for a in range(AGENTS_PER_TEAM):
            User.objects.get_or_create(
                username=f"{PREFIX}_t{t:02d}_a{a:02d}",
                defaults={"role": Role.AGENT, "team": team, "password": password, "language": "en"},
            )
        sup, _ = User.objects.get_or_create(
            username=f"{PREFIX}_t{t:02d}_sup",
            defaults={
                "role": Role.SUPERVISOR,
                "team": team,
                "password": password,
                "email": f"sup{t}@bench.invalid",
                "language": "en",
            },
        )
        supervisors.append(sup)
    queue_ids = list(
        Queue.objects.filter(name__startswith="Bench team").order_by("name").values_list("pk", flat=True)
    )
    # Spread the open cases over the 30 queues (the benchmark's own placement; the nightly would use
    # the queues' criteria).
    _exec(
        f"UPDATE {Case._meta.db_table} SET queue_id = (%s::bigint[])[1 + (id %% %s)] "  # noqa: S608
        "WHERE closed_at IS NULL",
        [queue_ids, len(queue_ids)],
    )
    out(f"  teams {TEAMS}, agents {TEAMS * AGENTS_PER_TEAM}, queues {len(queue_ids)}")
    return teams, supervisors


def generate_activity(*, attempts: int, days: int, out) -> dict:
    """N contact attempts over the `days` days up to now, by the bench agents of each case's team, and
    what follows from them. One statement per table."""
    now = timezone.now()
    first = day_start(bank_today() - timedelta(days=days - 1))
    span = (now - first).total_seconds()
    agents = dict(
        User.objects.filter(username__startswith=f"{PREFIX}_", role=Role.AGENT)
        .order_by("username")
        .values_list("username", "pk")
    )
    team_agent_ids = [
        [agents[f"{PREFIX}_t{t:02d}_a{a:02d}"] for a in range(AGENTS_PER_TEAM)] for t in range(TEAMS)
    ]
    teams = list(
        Team.objects.filter(name__startswith="Bench team").order_by("name").values_list("pk", flat=True)
    )
    open_cases = Case.objects.filter(closed_at__isnull=True).count()
    per_case = max(1, round(attempts / open_cases))
    ca, c, a, q = (
        ContactAttempt._meta.db_table,
        Case._meta.db_table,
        "collections_app_creditaccount",
        Queue._meta.db_table,
    )
    started = time.perf_counter()
    counts = {}
    with transaction.atomic():
        # Outcome mix of an outbound call floor (no answer dominates); reasons only on right-party ones.
        counts["attempts"] = _exec(
            f"""
            INSERT INTO {ca} (case_id, cardholder_id, channel, contact_point_id, party_role, person_reached,
                outcome, delinquency_reason, started_at, duration_seconds, agent_id, notes, recording_ref,
                policy_override_reason, disclosures_given, created_at)
            SELECT x.case_id, x.cardholder_id, 'outbound_call', NULL, 'debtor', '', x.outcome,
                CASE WHEN x.outcome IN ('rpc', 'ptp', 'dispute', 'callback', 'refused')
                     THEN (ARRAY['job_loss','illness','business_trouble','forgot','dispute','fraud_claim',
                                 'over_indebted','family','refuses','other'])[1 + floor(random() * 10)::int]
                     ELSE '' END,
                x.at,
                CASE WHEN x.outcome IN ('no_answer', 'busy') THEN 0
                     WHEN x.outcome = 'voicemail' THEN 20 + floor(random() * 40)::int
                     ELSE 40 + floor(random() * 400)::int END,
                (%(agents)s::bigint[])[x.team_idx * {AGENTS_PER_TEAM} + 1
                                       + floor(random() * {AGENTS_PER_TEAM})::int],
                '', '', CASE WHEN random() < 0.002 THEN 'Customer asked to be called back today' ELSE '' END,
                '[]'::jsonb, x.at
            FROM (
                SELECT c.id AS case_id, acc.cardholder_id,
                       (array_position(%(teams)s::bigint[], q.team_id) - 1) AS team_idx,
                       %(first)s::timestamptz + make_interval(secs => random() * %(span)s) AS at,
                       (ARRAY['no_answer','no_answer','no_answer','no_answer','no_answer','no_answer',
                              'no_answer','no_answer','no_answer','busy','busy','voicemail','voicemail',
                              'voicemail','rpc','rpc','rpc','ptp','ptp','callback','refused',
                              'third_party','wrong_number','dispute'])[1 + floor(random() * 24)::int]
                       AS outcome
                FROM {c} c
                JOIN {a} acc ON acc.id = c.account_id
                JOIN {q} q ON q.id = c.queue_id
                CROSS JOIN generate_series(1, %(per_case)s) g
                WHERE c.closed_at IS NULL
            ) x
            """,  # noqa: S608 - table names from model metadata, values are parameters
            {
                "agents": [pk for team in team_agent_ids for pk in team],
                "teams": teams,
                "first": first,
                "span": span,
                "per_case": per_case,
            },
        )
        out(f"  {counts['attempts']:,} contact attempts ({time.perf_counter() - started:.0f} s)")
        today = bank_today()
        counts["promises"] = _exec(
            f"""
            INSERT INTO collections_app_promisetopay (case_id, amount, due_date, status, paid_amount,
                contact_attempt_id, created_by_id, created_at, settled_at)
            SELECT y.case_id, y.amount, y.due,
                   CASE WHEN y.due >= %(recent)s THEN 'cancelled' WHEN y.kept THEN 'kept' ELSE 'broken' END,
                   CASE WHEN y.kept THEN y.amount ELSE round(y.amount * (random() * 0.6)::numeric, 2) END,
                   y.id, y.agent_id, y.started_at,
                   CASE WHEN y.due >= %(recent)s THEN y.started_at ELSE y.due + interval '1 day' END
            FROM (
                SELECT a.id, a.case_id, a.agent_id, a.started_at,
                       (round((100 + random() * 2900)::numeric, -2))::numeric(14, 2) AS amount,
                       ((a.started_at AT TIME ZONE %(tz)s)::date + floor(random() * 8)::int) AS due,
                       random() < 0.6 AS kept
                FROM {ca} a WHERE a.outcome = 'ptp' AND a.started_at >= %(first)s
            ) y
            """,  # noqa: S608 - table names from model metadata, values are parameters
            {"first": first, "recent": today - timedelta(days=1), "tz": str(timezone.get_current_timezone())},
        )
        out(f"  {counts['promises']:,} promises ({time.perf_counter() - started:.0f} s)")
        counts["payments"] = _exec(
            f"""
            INSERT INTO collections_app_payment (external_ref, account_id, case_id, amount, currency, paid_at,
                source, allocation, recorded_by_id, created_at)
            SELECT 'DASHB-' || p.id, c.account_id, p.case_id, p.paid_amount, 'CNY',
                   LEAST(%(now)s::timestamptz, (p.due_date - floor(random() * 3)::int) + time '15:00'
                         AT TIME ZONE %(tz)s),
                   'bench', '{{}}'::jsonb, NULL, %(now)s
            FROM collections_app_promisetopay p JOIN {c} c ON c.id = p.case_id
            WHERE p.status IN ('kept', 'broken') AND p.paid_amount > 0 AND p.created_at >= %(first)s
            """,  # noqa: S608 - table names from model metadata, values are parameters
            {"first": first, "now": now, "tz": str(timezone.get_current_timezone())},
        )
        out(f"  {counts['payments']:,} payments ({time.perf_counter() - started:.0f} s)")
        counts["events"] = _exec(
            f"""
            INSERT INTO collections_app_caseevent (case_id, kind, from_state, to_state, actor_id, reason,
                details, created_at)
            SELECT a.case_id,
                   CASE WHEN r < 0.01 THEN 'policy_refused' WHEN r < 0.03 THEN 'note'
                        ELSE 'escalation_requested' END,
                   '', '', a.agent_id,
                   CASE WHEN r < 0.01 THEN 'calls per number per day'
                        WHEN r < 0.0205 THEN 'Customer complained about the calls #complaint'
                        WHEN r < 0.03 THEN 'Promised to pay after payday'
                        ELSE 'Refuses to pay; please escalate' END,
                   CASE WHEN r < 0.01 THEN '{{"rule": "calls_per_number_per_day", "also": []}}'::jsonb
                        ELSE '{{}}'::jsonb END,
                   a.started_at + interval '1 minute'
            FROM (SELECT a.*, random() AS r FROM {ca} a WHERE a.started_at >= %(first)s) a
            WHERE a.r < 0.0302
            """,  # noqa: S608 - table names from model metadata, values are parameters
            {"first": first},
        )
        out(f"  {counts['events']:,} case events ({time.perf_counter() - started:.0f} s)")
    for table in (
        ca,
        "collections_app_promisetopay",
        "collections_app_payment",
        "collections_app_caseevent",
        c,
    ):
        _exec(f"VACUUM (ANALYZE) {table}")
    counts["seconds"] = round(time.perf_counter() - started, 1)
    return counts


def timed(fn: Callable, repeat: int) -> dict:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        times.append((time.perf_counter() - started) * 1000)
    times.sort()
    return {"median": statistics.median(times), "max": times[-1]}


def raw_baseline(period: Period, team_id: int | None) -> Callable:
    """The same 30-day contact figures straight from the contact log, by hand-written SQL (btree index)."""
    team_join = (
        "JOIN collections_app_case c ON c.id = a.case_id JOIN collections_app_queue q ON q.id = c.queue_id "
        "AND q.team_id = %(team)s"
        if team_id
        else ""
    )
    sql = f"""
        SELECT count(*) FILTER (WHERE a.agent_id IS NOT NULL),
               count(*) FILTER (WHERE a.outcome IN ('rpc','ptp','dispute','callback','refused')),
               count(DISTINCT a.case_id)
        FROM collections_app_contactattempt a {team_join}
        WHERE a.started_at >= %(start)s AND a.started_at < %(end)s
    """  # noqa: S608

    def run():
        with connection.cursor() as cursor:
            cursor.execute(sql, {"start": period.start_at, "end": period.end_before, "team": team_id})
            cursor.fetchall()

    return run


def panels(user, filters: Filters, period: Period, *, today_live: bool = False) -> dict[str, Callable]:
    """Each panel as a callable. `today_live`: read today from the contact log even if today's intraday
    rollup is fresh (the figure for a deployment without the every-few-minutes task)."""
    through = rollups.freshness()
    if today_live:
        through = rollups.Freshness(through.nightly, through.nightly, None, through.since)
    return {
        "home (team now)": lambda: selectors.team_now(user, filters, through=through),
        "KPI tiles": lambda: kpis.kpi_values(filters, period, through=through),
        "per-agent table": lambda: selectors.agent_table(filters, period, through=through),
        "daily trend": lambda: selectors.daily_trend(filters, period, through=through),
        "aging (now)": lambda: selectors.aging(
            user, filters, snapshot=selectors.open_cases_snapshot(through)
        ),
        "reasons": lambda: selectors.reasons(filters, period, through=through),
        "roll-rate matrix": lambda: kpis.roll_matrix(filters, period.end.replace(day=1)),
        "plans active": lambda: selectors.plans_active(user, filters),
        "drill: broken promises p.1": lambda: selectors.drill_page("promises_broken", filters, period),
        "drill: attempts p.1": lambda: selectors.drill_page("attempts", filters, period),
        "drill: accounts reached p.1": lambda: selectors.drill_page("accounts_rpc", filters, period),
        "legal dashboard": lambda: selectors.legal_dashboard(user, filters, period, as_of=period.end),
    }
