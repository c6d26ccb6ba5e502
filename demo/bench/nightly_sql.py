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


# The day tables' dimension columns (dashboards.models.Dims), and the levels each table is written at
# (dashboards.rollups.LEVELS, REACH_LEVELS): level -> the dimensions it keeps (the others NULL, or '').
DAY_DIMS = ("day", "team_id", "queue_id", "agent_id", "product", "jurisdiction", "bucket", "currency")
TEXT_DIMS = ("product", "jurisdiction", "bucket", "currency")
DAY_LEVELS = {
    "full": DAY_DIMS,
    "case": tuple(d for d in DAY_DIMS if d != "agent_id"),
    "agent": ("day", "team_id", "agent_id", "currency"),
}
REACH_LEVELS = {"bucket": ("day", "team_id", "agent_id", "bucket"), "agent": ("day", "team_id", "agent_id")}


def _levels_insert(
    table: str, rows: str, measures: dict[str, str], *, levels: dict = DAY_LEVELS, extra: tuple = ()
) -> str:
    """INSERT INTO `table` its rows of every level from `rows` (a SELECT of the dimension columns, the
    `extra` columns and the measures' inputs; `measures`: column -> its aggregate over them): the rows
    summed into their cells of every dimension, then the cells into each level by one GROUP BY GROUPING
    SETS; a dimension the level drops is NULL ('' for text), GROUPING() says which level a row is of."""
    used = [d for d in DAY_DIMS if any(d in kept for kept in levels.values())]
    bit = {d: 1 << (len(used) - 1 - i) for i, d in enumerate(used)}
    level = (
        f"CASE GROUPING({', '.join(f'x.{d}' for d in used)}) "
        + " ".join(
            f"WHEN {sum(bit[d] for d in used if d not in kept)} THEN %(level_{name})s"
            for name, kept in levels.items()
        )
        + " END"
    )
    select = [level]
    for d in DAY_DIMS:
        if d not in used:
            select.append("''" if d in TEXT_DIMS else "NULL")
        else:
            select.append(f"COALESCE(x.{d}, '')" if d in TEXT_DIMS else f"x.{d}")
    select += [f"x.{e}" for e in extra]
    select += [f"sum(x.{m})" for m in measures]
    cell = ", ".join(f"r.{c}" for c in (*used, *extra))
    cells = (
        f"SELECT {cell}, {', '.join(f'{agg} AS {m}' for m, agg in measures.items())} "
        f"FROM ({rows}) r GROUP BY {cell}"
    )
    sets = ", ".join(
        "(" + ", ".join(f"x.{d}" for d in (*(d for d in used if d in kept), *extra)) + ")"
        for kept in levels.values()
    )
    columns = ", ".join(["level", *DAY_DIMS, *extra, *measures])
    return (
        f"INSERT INTO {table} ({columns}) SELECT {', '.join(select)} FROM ({cells}) x "
        f"GROUP BY GROUPING SETS ({sets})"
    )


def _sums(*names: str) -> dict[str, str]:
    return {name: f"sum(r.{name})" for name in names}


def dashboard_rollups(as_of: date, now: datetime) -> int:
    """The day tables the project's step rebuilds (dashboards.rollups.refresh(snapshots=False)), written
    where it writes them: for each table and the days dashboards.rollups.nightly_ranges gives it (the
    days rows arrived on since the last refresh for the contact tables, the last REFRESH_DAYS days for
    promises due and case flows), its rows of those days deleted and the same rows inserted again -
    ActivityDaily, PromiseDaily, CollectionDaily, ReasonDaily and CaseFlowDaily at their three levels
    (full, case, agent) by day, team (of the case's queue), queue, agent, product, jurisdiction, bucket
    and currency; ReachDaily (levels bucket and agent, each case's previous day of contact, in the range
    or in the year before); AgentDaily (quarter-hours worked). The same facts as the project counts:
    corrected attempts left out, promises only with their contact, payments credited to the last
    right-party contact and in their own currency, payments and closures in the bucket of the month-end
    before. One INSERT per table: the sources' rows joined once to the dimensions, the levels summed by
    GROUPING SETS. Returns the rows inserted (every level)."""
    from django.contrib.auth import get_user_model

    from collections_app.models import (
        ANSWERED_OUTCOMES,
        CALL_CHANNELS,
        RIGHT_PARTY_OUTCOMES,
        CaseState,
        EventKind,
        PromiseStatus,
    )
    from core.clock import bank_zone, day_start
    from dashboards import rollups
    from dashboards.models import (
        AccountMonthEnd,
        ActivityDaily,
        AgentDaily,
        CaseFlowDaily,
        CollectionDaily,
        PromiseDaily,
        ReachDaily,
        ReasonDaily,
    )
    from legal.models import LegalReferral
    from repayment_plans.models import PlanState

    queue, user, month_end = (
        Queue._meta.db_table,
        get_user_model()._meta.db_table,
        AccountMonthEnd._meta.db_table,
    )

    # Django's icontains: the tag's LIKE wildcards escaped, compared in upper case.
    tags = [f"%{connection.ops.prep_for_like_query(tag)}%" for tag in rollups.COMPLAINT_TAGS]

    def day(column: str) -> str:
        return f"({column} AT TIME ZONE %(tz)s)::date"

    def in_days(column: str) -> str:
        return f"{column} >= %(start)s AND {column} < %(end)s"

    def not_corrected(alias: str) -> str:
        # corrects_id IS NOT NULL: the partial index of the corrections (contact_corrects_idx).
        return (
            f"NOT EXISTS (SELECT 1 FROM {ATTEMPT} k WHERE k.corrects_id = {alias}.id "
            "AND k.corrects_id IS NOT NULL)"
        )

    def complaint(column: str) -> str:  # icontains, as Django compiles it on PostgreSQL
        return (
            "("
            + " OR ".join(f"upper({column}) LIKE upper(%(complaint_{n})s)" for n in range(len(tags)))
            + ")"
        )

    def with_its_contact(p: str) -> str:
        return (
            f"({p}.contact_attempt_id IS NOT NULL OR EXISTS (SELECT 1 FROM {ATTEMPT} v "
            f"WHERE v.case_id = {p}.case_id AND v.agent_id = {p}.created_by_id AND v.outcome = ANY(%(rpc)s) "
            f"AND {not_corrected('v')} AND {day('v.started_at')} = {day(f'{p}.created_at')}))"
        )

    def case_dims(alias: str) -> str:
        return (
            f"JOIN {CASE} c ON c.id = {alias}.case_id LEFT JOIN {queue} q ON q.id = c.queue_id "
            f"JOIN {ACCOUNT} a ON a.id = c.account_id JOIN {HOLDER} h ON h.id = a.cardholder_id"
        )

    # For each month of the days, the last month-end snapshotted before it (dashboards.rollups
    # month_ends_before): a payment's or a closure's bucket is the account's there, else its bucket now.
    ends = (
        "(SELECT m::date AS month, "
        f"(SELECT max(e.month) FROM {month_end} e WHERE e.month < m::date) AS end_month "
        "FROM generate_series(%(first_month)s::timestamp, %(d2)s::timestamp, interval '1 month') m)"
    )

    def bucket_then(moment: str, account: str) -> str:
        return (
            f"LEFT JOIN {ends} em ON em.month = date_trunc('month', {moment} AT TIME ZONE %(tz)s)::date "
            f"LEFT JOIN {month_end} me ON me.month = em.end_month AND me.account_id = {account}"
        )

    dims = "q.team_id, c.queue_id, {agent} AS agent_id, a.product, h.jurisdiction, {bucket} AS bucket"
    case_cols = dims.format(agent="f.agent_id", bucket="a.bucket") + ", a.currency"

    activity = [
        "attempts",
        "calls",
        "answered",
        "rpc",
        "talk_seconds",
        "handled_calls",
        "overrides",
        "complaint_contacts",
        "refusals",
        "complaint_notes",
        "promises_made",
        "promised_amount",
    ]
    activity_rows = f"""
        SELECT f.day, {case_cols}, {", ".join(f"f.{m}" for m in activity)}
        FROM (
            SELECT t.case_id, {day("t.started_at")} AS day, t.agent_id,
                (t.agent_id IS NOT NULL)::int AS attempts,
                (t.agent_id IS NOT NULL AND t.channel = ANY(%(calls)s))::int AS calls,
                (t.agent_id IS NOT NULL AND t.outcome = ANY(%(answered)s))::int AS answered,
                (t.agent_id IS NOT NULL AND t.outcome = ANY(%(rpc)s))::int AS rpc,
                CASE WHEN t.agent_id IS NOT NULL AND t.channel = ANY(%(calls)s) THEN t.duration_seconds
                     ELSE 0 END AS talk_seconds,
                (t.agent_id IS NOT NULL AND t.channel = ANY(%(calls)s) AND t.duration_seconds > 0)::int
                    AS handled_calls,
                (t.policy_override_reason <> '')::int AS overrides,
                {complaint("t.notes")}::int AS complaint_contacts,
                0 AS refusals, 0 AS complaint_notes, 0 AS promises_made, 0 AS promised_amount
            FROM {ATTEMPT} t WHERE {in_days("t.started_at")} AND {not_corrected("t")}
            UNION ALL
            SELECT e.case_id, {day("e.created_at")}, e.actor_id, 0, 0, 0, 0, 0, 0, 0, 0,
                (e.kind = %(refused)s)::int, (e.kind = %(note)s AND {complaint("e.reason")})::int, 0, 0
            FROM {EVENT} e WHERE {in_days("e.created_at")} AND e.kind IN (%(refused)s, %(note)s)
            UNION ALL
            SELECT p.case_id, {day("p.created_at")}, p.created_by_id, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1,
                p.amount
            FROM {PROMISE} p WHERE {in_days("p.created_at")} AND {with_its_contact("p")}
        ) f {case_dims("f")}"""

    promises_rows = f"""
        SELECT p.due_date AS day, {dims.format(agent="p.created_by_id", bucket="a.bucket")}, a.currency,
            p.status, 1 AS promises, p.amount, LEAST(p.paid_amount, p.amount) AS paid_capped
        FROM {PROMISE} p {case_dims("p")}
        WHERE p.due_date >= %(d1)s AND p.due_date <= %(d2)s AND p.status <> %(cancelled)s
          AND {with_its_contact("p")}"""

    # The payment's account and currency; its case's queue (a payment may have no case); the agent of
    # the last right-party contact on the case in the ATTRIBUTION_DAYS before it.
    collections_rows = f"""
        SELECT {day("p.paid_at")} AS day,
            {dims.format(agent="credited.agent_id", bucket="COALESCE(me.bucket, a.bucket)")},
            p.currency, 1 AS payments, p.amount
        FROM {PAYMENT} p JOIN {ACCOUNT} a ON a.id = p.account_id JOIN {HOLDER} h ON h.id = a.cardholder_id
        LEFT JOIN {CASE} c ON c.id = p.case_id LEFT JOIN {queue} q ON q.id = c.queue_id
        {bucket_then("p.paid_at", "p.account_id")}
        LEFT JOIN LATERAL (
            SELECT t.agent_id FROM {ATTEMPT} t
            WHERE t.case_id = p.case_id AND t.outcome = ANY(%(rpc)s) AND t.agent_id IS NOT NULL
              AND t.started_at <= p.paid_at AND t.started_at >= p.paid_at - %(attribution)s
              AND {not_corrected("t")}
            ORDER BY t.started_at DESC, t.id DESC LIMIT 1
        ) credited ON true
        WHERE {in_days("p.paid_at")}"""

    reasons_rows = f"""
        SELECT {day("t.started_at")} AS day, {dims.format(agent="t.agent_id", bucket="a.bucket")},
            a.currency, t.delinquency_reason AS reason,
            (t.agent_id IS NOT NULL AND t.outcome = ANY(%(rpc)s))::int AS rpc
        FROM {ATTEMPT} t {case_dims("t")}
        WHERE {in_days("t.started_at")} AND {not_corrected("t")}"""

    # Cases opened and closed, referrals: the case's assigned agent; plans: who proposed them. A closed
    # case's bucket is the account's at the month-end before the closure (end_bucket), else now.
    flows = [
        "opened",
        "opened_balance",
        "cured",
        "resolved_other",
        "written_off",
        "escalated",
        "plans_activated",
        "plans_completed",
        "plans_broken",
    ]
    # (A plan's proposer is never NULL: NULL in the facts stands for the case's assigned agent.)
    flow_dims = dims.format(
        agent="COALESCE(f.agent_id, c.assigned_agent_id)", bucket="COALESCE(f.end_bucket, a.bucket)"
    )
    flows_rows = f"""
        SELECT f.day, {flow_dims}, a.currency,
            f.opened, f.opened * a.balance AS opened_balance,
            {", ".join(f"f.{m}" for m in flows if m not in ("opened", "opened_balance"))}
        FROM (
            SELECT c.id AS case_id, {day("c.opened_at")} AS day, NULL::bigint AS agent_id,
                NULL::varchar AS end_bucket, 1 AS opened, 0 AS cured, 0 AS resolved_other, 0 AS written_off,
                0 AS escalated, 0 AS plans_activated, 0 AS plans_completed, 0 AS plans_broken
            FROM {CASE} c WHERE {in_days("c.opened_at")}
            UNION ALL
            SELECT c.id, {day("c.closed_at")}, NULL, me.bucket, 0,
                (c.resolution_reason = ANY(%(cure)s))::int,
                (c.state = %(resolved)s AND c.resolution_reason <> ALL(%(cure)s))::int,
                (c.state = %(written_off)s)::int, 0, 0, 0, 0
            FROM {CASE} c {bucket_then("c.closed_at", "c.account_id")}
            WHERE {in_days("c.closed_at")}
            UNION ALL
            SELECT r.case_id, {day("r.referred_at")}, NULL, NULL, 0, 0, 0, 0, 1, 0, 0, 0
            FROM {LegalReferral._meta.db_table} r WHERE {in_days("r.referred_at")}
            UNION ALL
            SELECT p.case_id, {day("p.activated_at")}, p.proposed_by_id, NULL, 0, 0, 0, 0, 0, 1, 0, 0
            FROM {PLAN} p WHERE {in_days("p.activated_at")}
            UNION ALL
            SELECT p.case_id, {day("p.ended_at")}, p.proposed_by_id, NULL, 0, 0, 0, 0, 0, 0,
                (p.state = %(completed)s)::int, (p.state = %(broken)s)::int
            FROM {PLAN} p WHERE {in_days("p.ended_at")} AND p.state IN (%(completed)s, %(broken)s)
        ) f {case_dims("f")}"""

    # The distinct days of the agents' attempts (right-party ones for the "rpc" series) of each case
    # (scope "case") and of each case and agent (scope "agent"); the day before each is the previous one
    # in the days, or for the first one the last such day in the REACH_LOOKBACK_DAYS before them.
    reach_rows = f"""
        SELECT d.day, q.team_id, d.agent_id, a.bucket, d.scope, d.series,
            COALESCE(
                LAG(d.day) OVER (PARTITION BY d.case_id, d.agent_id, d.scope, d.series ORDER BY d.day),
                (SELECT {day("b.started_at")} FROM {ATTEMPT} b
                 WHERE b.case_id = d.case_id AND b.agent_id IS NOT NULL
                   AND (d.scope = %(scope_case)s OR b.agent_id = d.agent_id)
                   AND (d.series = %(series_attempt)s OR b.outcome = ANY(%(rpc)s))
                   AND b.started_at >= %(lookback)s AND b.started_at < %(start)s AND {not_corrected("b")}
                 ORDER BY b.started_at DESC LIMIT 1)
            ) AS prev_day
        FROM (
            SELECT DISTINCT t.case_id, CASE WHEN s.scope = %(scope_agent)s THEN t.agent_id END AS agent_id,
                s.scope, s.series, {day("t.started_at")} AS day
            FROM {ATTEMPT} t CROSS JOIN (VALUES (%(scope_case)s, %(series_attempt)s),
                (%(scope_case)s, %(series_rpc)s), (%(scope_agent)s, %(series_attempt)s),
                (%(scope_agent)s, %(series_rpc)s)) s (scope, series)
            WHERE {in_days("t.started_at")} AND t.agent_id IS NOT NULL
              AND (s.series = %(series_attempt)s OR t.outcome = ANY(%(rpc)s)) AND {not_corrected("t")}
        ) d JOIN {CASE} c ON c.id = d.case_id LEFT JOIN {queue} q ON q.id = c.queue_id
        JOIN {ACCOUNT} a ON a.id = c.account_id"""

    local = "t.started_at AT TIME ZONE %(tz)s"
    agents_insert = f"""
        INSERT INTO {AgentDaily._meta.db_table} (day, agent_id, team_id, active_slots, first_at, last_at)
        SELECT {day("t.started_at")}, t.agent_id, u.team_id,
            count(DISTINCT extract(hour FROM {local})::int * 4 + extract(minute FROM {local})::int / 15),
            min(t.started_at), max(t.started_at)
        FROM {ATTEMPT} t JOIN {user} u ON u.id = t.agent_id
        WHERE {in_days("t.started_at")} AND t.agent_id IS NOT NULL AND {not_corrected("t")}
        GROUP BY 1, 2, 3"""

    inserts = {
        "activity": (
            ActivityDaily,
            _levels_insert(ActivityDaily._meta.db_table, activity_rows, _sums(*activity)),
        ),
        "promises": (
            PromiseDaily,
            _levels_insert(
                PromiseDaily._meta.db_table,
                promises_rows,
                _sums("promises", "amount", "paid_capped"),
                extra=("status",),
            ),
        ),
        "collections": (
            CollectionDaily,
            _levels_insert(CollectionDaily._meta.db_table, collections_rows, _sums("payments", "amount")),
        ),
        "reasons": (
            ReasonDaily,
            _levels_insert(ReasonDaily._meta.db_table, reasons_rows, _sums("rpc"), extra=("reason",)),
        ),
        "flows": (CaseFlowDaily, _levels_insert(CaseFlowDaily._meta.db_table, flows_rows, _sums(*flows))),
        "reach": (
            ReachDaily,
            _levels_insert(
                ReachDaily._meta.db_table,
                reach_rows,
                {"accounts": "count(*)"},
                levels=REACH_LEVELS,
                extra=("scope", "series", "prev_day"),
            ),
        ),
        "agents": (AgentDaily, agents_insert),
    }
    common = {
        "tz": str(bank_zone()),
        "rpc": list(RIGHT_PARTY_OUTCOMES),
        "answered": list(ANSWERED_OUTCOMES),
        "calls": list(CALL_CHANNELS),
        "cure": list(rollups.CURE_REASONS),
        "refused": EventKind.POLICY_REFUSED,
        "note": EventKind.NOTE,
        "cancelled": PromiseStatus.CANCELLED,
        "resolved": CaseState.RESOLVED,
        "written_off": CaseState.WRITTEN_OFF,
        "completed": PlanState.COMPLETED,
        "broken": PlanState.BROKEN,
        "attribution": timedelta(days=rollups.ATTRIBUTION_DAYS),
        "scope_case": "case",
        "scope_agent": "agent",
        "series_attempt": "attempt",
        "series_rpc": "rpc",
        **{f"level_{name}": name for name in (*DAY_LEVELS, *REACH_LEVELS)},
        **{f"complaint_{n}": pattern for n, pattern in enumerate(tags)},
    }
    # The tables of one range together, as refresh does (rebuild_days per range).
    by_range: dict[tuple[date, date], list[str]] = {}
    for key, span in rollups.nightly_ranges(as_of).items():
        by_range.setdefault(span, []).append(key)
    written = 0
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL jit = off")
        for (d1, d2), keys in sorted(by_range.items()):
            params = {
                **common,
                "d1": d1,
                "d2": d2,
                "start": day_start(d1),
                "end": day_start(d2 + timedelta(days=1)),
                "first_month": d1.replace(day=1),
                "lookback": day_start(d1 - timedelta(days=rollups.REACH_LOOKBACK_DAYS)),
            }
            for key in keys:
                model, insert = inserts[key]
                cursor.execute(
                    f"DELETE FROM {model._meta.db_table} WHERE day >= %(d1)s AND day <= %(d2)s", params
                )
                cursor.execute(insert, params)
                written += cursor.rowcount
    return written


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
