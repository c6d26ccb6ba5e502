"""The nightly steps' baselines: for each step of automation.pipeline, the minimal hand-written set-based
PostgreSQL doing the same work - same rows read, same rows written, events included. They always run
inside a transaction that is rolled back (timing.timed_rolled_back), so they never change the data; they
are the one place outside the case kernel that writes a case's state, on purpose: they measure what the
kernel and the services cost over the bare statements.

Each function takes the step's (as_of, now) and returns the rows it wrote. Table names come from model
metadata and every value is a parameter (hence the file-wide S608 exemption)."""

# ruff: noqa: S608

from __future__ import annotations

from datetime import date, datetime, timedelta

from django.conf import settings
from django.db import connection
from django.utils import timezone

from automation import pipeline
from collections_app.delinquency import BUCKET_LABELS, bucket_boundaries
from collections_app.models import CLOSED_STATES, OPEN_STATES, Case, CaseEvent, CreditAccount, Queue
from collections_app.services import queues as queue_service
from escalation.models import EscalationFiring, FiringOutcome
from repayment_plans.models import LIVE_STATES, RepaymentPlan

CASE, ACCOUNT, EVENT = Case._meta.db_table, CreditAccount._meta.db_table, CaseEvent._meta.db_table
HOLDER = "collections_app_cardholder"
PROMISE = "collections_app_promisetopay"
ATTEMPT = "collections_app_contactattempt"
PAYMENT = "collections_app_payment"
PLAN, INSTALLMENT = RepaymentPlan._meta.db_table, "repayment_plans_installment"
MESSAGE = "messaging_outboundmessage"


def _run(sql: str, params=None) -> int:
    with connection.cursor() as cursor:
        cursor.execute(sql, params or {})
        if cursor.description:
            return sum(row[0] or 0 for row in cursor.fetchall())
        return cursor.rowcount


def _dpd(param: str = "d") -> str:
    return (
        f"CASE WHEN overdue_amount > 0 AND first_missed_due_date < %({param})s "
        f"THEN %({param})s::date - first_missed_due_date ELSE 0 END"
    )


def refresh_delinquency(as_of: date, now: datetime) -> int:
    """DPD and bucket of every account whose figures change, one UPDATE."""
    dpd = _dpd()
    whens = " ".join(
        f"WHEN {dpd} <= {upper} THEN '{label}'"
        for label, upper in zip(BUCKET_LABELS, bucket_boundaries(), strict=True)
    )
    bucket = f"CASE WHEN {dpd} <= 0 THEN 'current' {whens} ELSE 'M6+' END"
    return _run(
        f"UPDATE {ACCOUNT} SET days_past_due = {dpd}, bucket = {bucket}, dpd_as_of = %(d)s, "  # noqa: S608
        f"updated_at = %(now)s WHERE days_past_due <> {dpd} OR bucket <> {bucket}",
        {"d": as_of, "now": now},
    )


def open_cases(now: datetime) -> int:
    """A case (and its OPENED event) for every delinquent account without an open or written-off case."""
    return _run(
        f"""
        WITH todo AS (
            SELECT a.id, (SELECT count(*) FROM {CASE} x WHERE x.account_id = a.id) AS n FROM {ACCOUNT} a
            WHERE a.overdue_amount > 0 AND a.first_missed_due_date IS NOT NULL
              AND NOT EXISTS (SELECT 1 FROM {CASE} c WHERE c.account_id = a.id
                              AND (c.state <> ALL(%(closed)s) OR c.state = 'written_off'))
        ), opened AS (
            INSERT INTO {CASE} (reference, account_id, state, resolution_reason, opened_at, priority,
                broken_promise_count, broken_plan_count, version, contact_block_rule, contact_zones)
            SELECT 'C' || lpad(id::text, 8, '0') || '-' || (n + 1), id, 'new', '', %(now)s, 0, 0, 0, 1, '', ''
            FROM todo RETURNING id
        ), events AS (
            INSERT INTO {EVENT} (case_id, kind, from_state, to_state, actor_id, reason, details, created_at)
            SELECT id, 'opened', '', 'new', NULL, 'Account became delinquent', '{{}}', %(now)s FROM opened
        )
        SELECT count(*) FROM opened
        """,  # noqa: S608
        {"closed": list(CLOSED_STATES), "now": now},
    )


def resolve_cured(now: datetime) -> int:
    """The cases of cured accounts resolved, one RESOLVED event each, their live plans cancelled with one
    event each - one statement."""
    return _run(
        f"""
        WITH src AS (
            SELECT c.id, c.state, CASE WHEN a.balance = 0 THEN 'paid_in_full' ELSE 'cured' END AS resolution
            FROM {CASE} c JOIN {ACCOUNT} a ON a.id = c.account_id
            WHERE c.state = ANY(%(open)s) AND a.overdue_amount = 0
            FOR UPDATE OF c
        ), moved AS (
            UPDATE {CASE} c SET state = 'resolved', resolution_reason = src.resolution, closed_at = %(now)s,
                version = c.version + 1
            FROM src WHERE c.id = src.id
            RETURNING c.id, src.state, src.resolution
        ), case_events AS (
            INSERT INTO {EVENT} (case_id, kind, from_state, to_state, actor_id, reason, details, created_at)
            SELECT id, 'resolved', state, 'resolved', NULL, %(reason)s,
                jsonb_build_object('resolution_reason', resolution), %(now)s
            FROM moved
        ), live AS (
            SELECT p.id, p.case_id, p.state FROM {PLAN} p JOIN moved ON moved.id = p.case_id
            WHERE p.state = ANY(%(live)s) FOR UPDATE OF p
        ), cancelled AS (
            UPDATE {PLAN} p SET state = 'cancelled', ended_by_id = NULL, ended_at = %(now)s,
                end_note = %(reason)s, updated_at = %(now)s
            FROM live WHERE p.id = live.id
            RETURNING p.id, live.case_id, live.state
        ), plan_events AS (
            INSERT INTO {EVENT} (case_id, kind, from_state, to_state, actor_id, reason, details, created_at)
            SELECT case_id, 'plan', '', '', NULL, %(reason)s,
                jsonb_build_object('plan', id, 'action', 'cancelled', 'from', state, 'to', 'cancelled'),
                %(now)s
            FROM cancelled
        )
        SELECT count(*) FROM moved
        """,  # noqa: S608
        {"open": list(OPEN_STATES), "live": list(LIVE_STATES), "now": now, "reason": pipeline.CURED_REASON},
    )


def cases(as_of: date, now: datetime) -> int:
    return open_cases(now) + resolve_cured(now)


def promises_and_plans(as_of: date, now: datetime) -> int:
    """Pending promises past their date plus grace broken (an event each, a promised case back to
    in_progress with its count and a transition event); installments past due marked late and plans
    short past grace broken (an event each, an on-plan case back to in_progress)."""
    cutoff = as_of - timedelta(days=settings.COLLECTIONS_PROMISE_GRACE_DAYS)
    promises = _run(
        f"""
        WITH broken AS (
            UPDATE {PROMISE} SET status = 'broken', settled_at = %(now)s
            WHERE status = 'pending' AND due_date < %(cutoff)s
            RETURNING id, case_id, amount, paid_amount
        ), promise_events AS (
            INSERT INTO {EVENT} (case_id, kind, from_state, to_state, actor_id, reason, details, created_at)
            SELECT case_id, 'promise_broken', '', '', NULL, '', jsonb_build_object('promise', id, 'amount',
                amount::text, 'paid', paid_amount::text, 'as_of', %(as_of)s::text), %(now)s FROM broken
        ), counted AS (
            UPDATE {CASE} c SET broken_promise_count = c.broken_promise_count + b.n,
                state = CASE WHEN c.state = 'promised' THEN 'in_progress' ELSE c.state END,
                version = c.version + 1
            FROM (SELECT case_id, count(*) AS n FROM broken GROUP BY case_id) b
            WHERE c.id = b.case_id RETURNING c.id, c.state
        ), moved_events AS (
            INSERT INTO {EVENT} (case_id, kind, from_state, to_state, actor_id, reason, details, created_at)
            SELECT id, 'transition', 'promised', 'in_progress', NULL, 'Promise broken', '{{}}', %(now)s
            FROM counted WHERE state = 'in_progress'
        )
        SELECT count(*) FROM broken
        """,  # noqa: S608
        {"now": now, "cutoff": cutoff, "as_of": as_of},
    )
    plan_cutoff = as_of - timedelta(days=settings.COLLECTIONS_PLAN_GRACE_DAYS)
    plans = _run(
        f"""
        WITH late AS (
            UPDATE {INSTALLMENT} i SET status = 'late' FROM {PLAN} p JOIN {CASE} c ON c.id = p.case_id
            WHERE i.plan_id = p.id AND p.state = 'active' AND c.state = ANY(%(open)s)
              AND i.due_date < %(as_of)s AND i.status IN ('due', 'partly_paid')
            RETURNING i.id
        ), short AS (
            SELECT i.plan_id, p.case_id FROM {INSTALLMENT} i JOIN {PLAN} p ON p.id = i.plan_id
            JOIN {CASE} c ON c.id = p.case_id
            WHERE p.state = 'active' AND c.state = ANY(%(open)s) AND i.due_date < %(cutoff)s
              AND i.status IN ('due', 'partly_paid', 'late')
            GROUP BY i.plan_id, p.case_id
        ), broken AS (
            UPDATE {PLAN} p SET state = 'broken', ended_at = %(now)s, updated_at = %(now)s
            FROM short WHERE p.id = short.plan_id AND p.state = 'active' RETURNING p.id, p.case_id
        ), plan_events AS (
            INSERT INTO {EVENT} (case_id, kind, from_state, to_state, actor_id, reason, details, created_at)
            SELECT case_id, 'plan', '', '', NULL, '', jsonb_build_object('plan', id, 'action', 'broken'),
                %(now)s FROM broken
        ), counted AS (
            UPDATE {CASE} c SET broken_plan_count = c.broken_plan_count + 1,
                state = CASE WHEN c.state = 'on_plan' THEN 'in_progress' ELSE c.state END,
                version = c.version + 1
            FROM broken WHERE c.id = broken.case_id RETURNING c.id
        )
        SELECT (SELECT count(*) FROM broken) + (SELECT count(*) FROM late)
        """,  # noqa: S608
        {"now": now, "cutoff": plan_cutoff, "as_of": as_of, "open": list(OPEN_STATES)},
    )
    return promises + plans


def _queue_criteria_sql(queue: Queue, params: list) -> str:
    """A queue's criteria as SQL over case c, account a, cardholder h (what queue_criteria says)."""
    parts = []
    for column, values in (
        ("a.bucket", queue.buckets),
        ("a.product", queue.products),
        ("h.jurisdiction", queue.jurisdictions),
        ("c.state", queue.states),
    ):
        if values:
            parts.append(f"{column} = ANY(%s)")
            params.append(list(values))
    for column, op, value in (
        ("a.days_past_due", ">=", queue.min_dpd),
        ("a.days_past_due", "<=", queue.max_dpd),
        ("a.balance", ">=", queue.min_balance),
        ("a.balance", "<=", queue.max_balance),
    ):
        if value is not None:
            parts.append(f"{column} {op} %s")
            params.append(value)
    return " AND ".join(parts)


def placement(now: datetime) -> int:
    """Every open case (not pinned by an escalation rule's firing) into the first active queue whose
    criteria it meets: one UPDATE of the rows that move."""
    params: list = []
    whens = []
    for queue in Queue.objects.filter(active=True).order_by("order", "pk"):
        criteria = _queue_criteria_sql(queue, params)
        if not criteria:
            whens.append(f"ELSE {int(queue.pk)}")
            break
        whens.append(f"WHEN {criteria} THEN {int(queue.pk)}")
    target = f"CASE {' '.join(whens)} END" if whens else "NULL"
    if whens and not whens[-1].startswith("ELSE"):
        target = f"CASE {' '.join(whens)} ELSE NULL END"
    params.append(list(OPEN_STATES))
    params.append(FiringOutcome.FIRED)
    return _run(
        f"""
        UPDATE {CASE} c SET queue_id = s.new_queue FROM (
            SELECT c.id, ({target})::bigint AS new_queue FROM {CASE} c
            JOIN {ACCOUNT} a ON a.id = c.account_id JOIN {HOLDER} h ON h.id = a.cardholder_id
            WHERE c.state = ANY(%s) AND NOT EXISTS (
                SELECT 1 FROM {EscalationFiring._meta.db_table} f WHERE f.case_id = c.id AND NOT f.dry_run
                AND f.outcome = %s AND f.queue_id IS NOT NULL)
        ) s WHERE c.id = s.id AND c.queue_id IS DISTINCT FROM s.new_queue
        """,  # noqa: S608
        params,
    )


def priorities(now: datetime) -> int:
    """Every open case's score (the same factors and weights, the escalation rules' points included), one
    UPDATE of the rows whose score changes."""
    weight = lambda name, default: getattr(queue_service, name, default)  # noqa: E731
    return _run(
        f"""
        UPDATE {CASE} c SET priority = s.score FROM (
            SELECT c.id,
                LEAST(a.days_past_due, %(dpd_cap)s) * %(per_day)s
                + LEAST(floor(a.overdue_amount / 1000)::int * %(per_thousand)s, %(amount_cap)s)
                + c.broken_promise_count * %(promise)s + c.broken_plan_count * %(plan)s
                + CASE WHEN c.next_action_at <= %(now)s THEN %(callback)s ELSE 0 END
                + COALESCE(f.points, 0) AS score
            FROM {CASE} c JOIN {ACCOUNT} a ON a.id = c.account_id
            LEFT JOIN (
                SELECT case_id, sum(priority_points) AS points FROM {EscalationFiring._meta.db_table}
                WHERE NOT dry_run AND outcome = %(fired)s GROUP BY case_id
            ) f ON f.case_id = c.id
            WHERE c.state <> ALL(%(closed)s)
        ) s
        WHERE c.id = s.id AND c.priority IS DISTINCT FROM s.score
        """,  # noqa: S608
        {
            "closed": list(CLOSED_STATES),
            "now": now,
            "dpd_cap": weight("DPD_CAP_DAYS", 180),
            "per_day": weight("DPD_POINTS_PER_DAY", 1),
            "per_thousand": weight("AMOUNT_POINTS_PER_THOUSAND", 5),
            "amount_cap": weight("AMOUNT_CAP_POINTS", 100),
            "promise": weight("BROKEN_PROMISE_POINTS", 20),
            "plan": weight("BROKEN_PLAN_POINTS", 30),
            "callback": weight("CALLBACK_DUE_POINTS", 200),
            "fired": FiringOutcome.FIRED,
        },
    )


def queues(as_of: date, now: datetime) -> int:
    return placement(now) + priorities(now)


def contactability(as_of: date, now: datetime) -> int:
    """The windows that closed rolled to their next opening, in the cardholder's own zone: 08:00-21:00
    local, today if before 08:00, else tomorrow - the common case of the contact policy (one window, no
    holidays), one UPDATE; cases never computed get the same."""
    return _run(
        f"""
        UPDATE {CASE} c SET contactable_from = w.opens, contactable_until = w.opens + interval '13 hours',
            contact_block_rule = CASE WHEN w.opens <= %(now)s THEN '' ELSE 'contact_window' END
        FROM (
            SELECT c.id, ((date_trunc('day', %(now)s AT TIME ZONE z.tz)
                + CASE WHEN (%(now)s AT TIME ZONE z.tz)::time < time '08:00' THEN interval '0' ELSE
                  interval '1 day' END + interval '8 hours') AT TIME ZONE z.tz) AS opens
            FROM {CASE} c JOIN {ACCOUNT} a ON a.id = c.account_id
            JOIN (SELECT id, COALESCE(NULLIF(time_zone, ''), %(default)s) AS tz FROM {HOLDER}) z
              ON z.id = a.cardholder_id
            WHERE c.state = ANY(%(open)s) AND (c.contactable_until <= %(now)s OR c.contactable_from IS NULL)
        ) w WHERE c.id = w.id
        """,  # noqa: S608
        {"now": now, "open": list(OPEN_STATES), "default": settings.TIME_ZONE},
    )


def reminders(as_of: date, now: datetime) -> int:
    """The day's reminders planned: one INSERT ... SELECT ... ON CONFLICT DO NOTHING per purpose (the
    same idempotency keys, channels and local send time as messaging.plan_reminders)."""
    send_at = settings.COLLECTIONS_REMINDER_SEND_AT
    before_due = as_of + timedelta(days=settings.COLLECTIONS_REMINDER_BEFORE_DUE_DAYS)
    promise_due = as_of + timedelta(days=settings.COLLECTIONS_PROMISE_REMINDER_DAYS_BEFORE)
    notice_days = sorted({int(d) for d in settings.COLLECTIONS_OVERDUE_NOTICE_DPD})
    tz = f"COALESCE(NULLIF(h.time_zone, ''), '{settings.TIME_ZONE}')"
    send = f"((%(as_of)s::date + %(send_at)s::time) AT TIME ZONE {tz})"
    base = (
        f"FROM {CASE} c JOIN {ACCOUNT} a ON a.id = c.account_id JOIN {HOLDER} h ON h.id = a.cardholder_id "
        "CROSS JOIN unnest(%(channels)s::text[]) ch WHERE c.state = ANY(%(open)s)"
    )
    insert = (
        f"INSERT INTO {MESSAGE} (idempotency_key, case_id, purpose, channel, about, status, reason, detail, "
        "send_after, run_id, language, recipient, subject, body, provider, provider_ref, attempts, "
        "last_error, created_at, updated_at) "
    )
    tail = " ON CONFLICT (idempotency_key) DO NOTHING"
    values = "'planned', '', '', " + send + ", NULL, '', '', '', '', '', '', 0, '', %(now)s, %(now)s"
    common = {"as_of": as_of, "send_at": send_at, "now": now, "open": list(OPEN_STATES)}
    from messaging.services import reminder_channels

    channels = reminder_channels()
    total = 0
    for purpose, day in (("before_due", before_due), ("due_today", as_of)):
        if channels.get(purpose):
            total += _run(
                insert + f"SELECT %(p)s || ':' || c.id || ':' || %(d)s::text || ':' || ch, c.id, %(p)s, ch, "
                f"jsonb_build_object('due_date', %(d)s::text), {values} {base} "
                "AND a.next_due_date = %(d)s" + tail,
                {**common, "p": purpose, "d": day, "channels": list(channels[purpose])},
            )
    if channels.get("overdue_notice"):
        total += _run(
            insert + "SELECT 'overdue_notice:' || c.id || ':' || a.first_missed_due_date::text || '+' || "
            "(%(as_of)s::date - a.first_missed_due_date) || ':' || ch, c.id, 'overdue_notice', ch, "
            "jsonb_build_object('due_date', a.first_missed_due_date::text, 'dpd', "
            f"%(as_of)s::date - a.first_missed_due_date), {values} {base} AND a.overdue_amount > 0 "
            "AND a.first_missed_due_date = ANY(%(missed)s)" + tail,
            {
                **common,
                "channels": list(channels["overdue_notice"]),
                "missed": [as_of - timedelta(days=n) for n in notice_days],
            },
        )
    if channels.get("promise_reminder"):
        total += _run(
            insert + "SELECT 'promise_reminder:' || c.id || ':' || %(d)s::text || ':' || ch, c.id, "
            f"'promise_reminder', ch, jsonb_build_object('due_date', %(d)s::text, 'promise', p.id), {values} "
            f"FROM {PROMISE} p JOIN {CASE} c ON c.id = p.case_id JOIN {ACCOUNT} a ON a.id = c.account_id "
            "JOIN " + HOLDER + " h ON h.id = a.cardholder_id CROSS JOIN unnest(%(channels)s::text[]) ch "
            "WHERE c.state = ANY(%(open)s) AND p.status = 'pending' AND p.due_date = %(d)s" + tail,
            {**common, "d": promise_due, "channels": list(channels["promise_reminder"])},
        )
    return total


def _temp_tables(tables: list[tuple[str, str]], params: dict) -> int:
    """Each (name, SELECT) into a temporary table of its own (dropped at commit); the rows written."""
    total = 0
    for name, select in tables:
        with connection.cursor() as cursor:
            cursor.execute(f"CREATE TEMP TABLE {name} ON COMMIT DROP AS {select}", params)
            total += cursor.rowcount
    return total


def dashboard_snapshots(as_of: date, now: datetime) -> int:
    """The day-end stocks, written where the project writes them: the open cases by every dimension and
    state (PortfolioDaily of the day that ended), every account's bucket at the month's end so far
    (AccountMonthEnd of that month, replaced) and the month's roll-rate transitions (bucket at the month-end
    before -> bucket now, by the same dimensions; RollTransitionMonthly, replaced)."""
    from dashboards.models import AccountMonthEnd, PortfolioDaily, RollTransitionMonthly

    day = as_of - timedelta(days=1)
    month = day.replace(day=1)
    portfolio, month_end = PortfolioDaily._meta.db_table, AccountMonthEnd._meta.db_table
    transitions = RollTransitionMonthly._meta.db_table
    params = {
        "day": day,
        "month": month,
        "before": (month - timedelta(days=1)).replace(day=1),
        "open": list(OPEN_STATES),
    }
    statements = [
        f"DELETE FROM {portfolio} WHERE day = %(day)s",
        f"""INSERT INTO {portfolio} (level, day, team_id, queue_id, agent_id, product, jurisdiction, bucket,
                currency, state, cases, balance, overdue)
            SELECT 'full', %(day)s, q.team_id, c.queue_id, c.assigned_agent_id, a.product, h.jurisdiction,
                   a.bucket, a.currency, c.state, count(*), sum(a.balance), sum(a.overdue_amount)
            FROM {CASE} c JOIN {ACCOUNT} a ON a.id = c.account_id JOIN {HOLDER} h ON h.id = a.cardholder_id
            LEFT JOIN {Queue._meta.db_table} q ON q.id = c.queue_id
            WHERE c.state = ANY(%(open)s)
            GROUP BY q.team_id, c.queue_id, c.assigned_agent_id, a.product, h.jurisdiction, a.bucket,
                     a.currency, c.state""",
        f"DELETE FROM {month_end} WHERE month = %(month)s",
        f"""INSERT INTO {month_end} (month, account_id, bucket, balance, currency, estimated, team_id,
                queue_id, agent_id, product, jurisdiction)
            SELECT %(month)s, a.id, a.bucket, a.balance, a.currency, false, q.team_id, c.queue_id,
                   c.assigned_agent_id, a.product, h.jurisdiction
            FROM {ACCOUNT} a JOIN {HOLDER} h ON h.id = a.cardholder_id
            LEFT JOIN {CASE} c ON c.account_id = a.id AND c.closed_at IS NULL
            LEFT JOIN {Queue._meta.db_table} q ON q.id = c.queue_id""",
        f"DELETE FROM {transitions} WHERE month = %(month)s",
        f"""INSERT INTO {transitions} (month, team_id, queue_id, agent_id, product, jurisdiction, from_bucket,
                to_bucket, currency, accounts, balance)
            SELECT %(month)s, f.team_id, f.queue_id, f.agent_id, f.product, f.jurisdiction, f.bucket,
                   t.bucket, f.currency, count(*), sum(f.balance)
            FROM {month_end} f JOIN {month_end} t ON t.account_id = f.account_id AND t.month = %(month)s
            WHERE f.month = %(before)s
            GROUP BY f.team_id, f.queue_id, f.agent_id, f.product, f.jurisdiction, f.bucket, t.bucket,
                     f.currency""",
    ]
    written = 0
    with connection.cursor() as cursor:
        for sql in statements:
            cursor.execute(sql, params)
            if sql.lstrip().startswith("INSERT"):
                written += cursor.rowcount
    return written


def dashboard_rollups(as_of: date, now: datetime) -> int:
    """The day tables of the days the project's step rebuilds (dashboards.rollups.nightly_ranges: the
    days rows arrived on since the last refresh for the contact tables, the last REFRESH_DAYS days for
    promises due and case flows): contact attempts by day, agent and outcome; reach (cases and accounts
    reached) by day; reasons by day; promises made and due by day and status; payments by day; case
    flows (opened, closed) by day; the agent-days - each one GROUP BY into a table of its own."""
    from dashboards import rollups

    ranges = rollups.nightly_ranges(as_of)
    day = "(({column}) AT TIME ZONE %(tz)s)::date"

    def between(column: str, table: str) -> str:
        return f"{column} >= %({table}_first)s::date AND {column} < %({table}_last)s::date"

    attempts = f"FROM {ATTEMPT} WHERE " + between("started_at", "activity")
    params = {"tz": str(timezone.get_current_timezone())}
    for key in ("activity", "promises", "collections", "flows"):
        first, last = ranges[key]
        params[f"{key}_first"], params[f"{key}_last"] = first, last + timedelta(days=1)
    return _temp_tables(
        [
            (
                "bench_activity",
                f"SELECT {day.format(column='started_at')} AS day, agent_id, outcome, count(*) AS n, "
                f"sum(duration_seconds) AS seconds {attempts} GROUP BY 1, 2, 3",
            ),
            (
                "bench_reach",
                f"SELECT {day.format(column='started_at')} AS day, count(DISTINCT case_id) AS cases, "
                f"count(DISTINCT cardholder_id) AS cardholders {attempts} "
                "AND outcome IN ('rpc', 'ptp', 'dispute', 'callback', 'refused') GROUP BY 1",
            ),
            (
                "bench_reasons",
                f"SELECT {day.format(column='started_at')} AS day, delinquency_reason, count(*) AS n "
                f"{attempts} AND delinquency_reason <> '' GROUP BY 1, 2",
            ),
            (
                "bench_promises",
                f"SELECT {day.format(column='created_at')} AS day, created_by_id, status, count(*) AS n, "
                f"sum(amount) AS amount, sum(paid_amount) AS paid FROM {PROMISE} WHERE "
                + between("created_at", "activity")
                + " GROUP BY 1, 2, 3",
            ),
            (
                "bench_promises_due",
                f"SELECT due_date AS day, status, count(*) AS n, sum(amount) AS amount FROM {PROMISE} "  # noqa: S608
                "WHERE " + between("due_date", "promises") + " GROUP BY 1, 2",
            ),
            (
                "bench_payments",
                f"SELECT {day.format(column='paid_at')} AS day, currency, count(*) AS n, "
                f"sum(amount) AS amount FROM {PAYMENT} WHERE "
                + between("paid_at", "collections")
                + " GROUP BY 1, 2",
            ),
            (
                "bench_flows",
                f"SELECT {day.format(column='created_at')} AS day, kind, count(*) AS n FROM {EVENT} WHERE "
                + between("created_at", "flows")
                + " AND kind IN ('opened', 'resolved', 'written_off', 'transition') GROUP BY 1, 2",
            ),
            (
                "bench_agents",
                f"SELECT {day.format(column='started_at')} AS day, agent_id, count(*) AS attempts, "
                "count(*) FILTER (WHERE outcome IN ('rpc', 'ptp', 'dispute', 'callback', 'refused')) AS rpc "
                f"{attempts} AND agent_id IS NOT NULL GROUP BY 1, 2",
            ),
        ],
        params,
    )


# Step name (automation.pipeline.STEP_NAMES) -> its baseline; a step without one is reported n/a.
BASELINES = {
    "dashboard_snapshots": dashboard_snapshots,
    "refresh_delinquency": refresh_delinquency,
    "cases": cases,
    "promises_and_plans": promises_and_plans,
    "queues": queues,
    "contactability": contactability,
    "reminders": reminders,
    "dashboard_rollups": dashboard_rollups,
}
