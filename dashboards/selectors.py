"""Reads for the dashboard pages. Each function costs a fixed number of queries, whatever the size of
the team or the portfolio (the tests pin the counts)."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal

from django.contrib.auth import get_user_model
from django.db.models import Count, Exists, F, OuterRef, Q, QuerySet, Subquery, Sum
from django.db.models.functions import Coalesce
from django.utils import timezone

from accounts.models import Role
from collections_app.access import cases_visible_to
from collections_app.models import (
    LEGAL_STATES,
    OPEN_STATES,
    Bucket,
    Case,
    CaseEvent,
    CaseState,
    ContactAttempt,
    CreditAccount,
    DelinquencyReason,
    EventKind,
    Queue,
    ResolutionReason,
)
from contact_policy.engine import OVERRIDABLE_RULES
from core.clock import bank_date, bank_today, day_start
from core.money import Amounts
from dashboards import kpis, rollups
from dashboards.models import AccountMonthEnd, AgentDaily, AgentStatus, Availability, PortfolioDaily
from dashboards.scope import Filters, Period
from legal.models import LegalDecision, LegalReferral
from legal.services import limitation_date_for, with_limitation
from repayment_plans.models import PlanState, RepaymentPlan
from repayment_plans.selectors import inbox_rows

User = get_user_model()

IDLE_MINUTES = 30  # no lease and no activity for this long: offline
STUCK_MINUTES = 30  # a lease whose holder has done nothing for this long is stuck
CALLBACK_GRACE = timedelta(minutes=15)  # as collections_app.selectors: later than this is overdue
OVERRIDE_REQUEST_HOURS = 24  # a refused contact waits this long in the inbox for an override
INBOX_LIMIT = 50
DRILL_PAGE = 50


def case_q(filters: Filters, prefix: str = "") -> Q:
    """The filters over Case (or a model reaching it through `prefix`), with current dimensions."""
    mapping = {
        "team": "queue__team_id",
        "queue": "queue_id",
        "agent": "assigned_agent_id",
        "product": "account__product",
        "jurisdiction": "account__cardholder__jurisdiction",
        "bucket": "account__bucket",
    }
    q = Q()
    if filters.teams is not None:
        q &= Q(**{f"{prefix}queue__team_id__in": filters.teams})
    for attr, path in mapping.items():
        value = getattr(filters, attr)
        if value:
            q &= Q(**{f"{prefix}{path}": value})
    return q


def team_agents(filters: Filters) -> QuerySet:
    """The agents whose rows the pages show: active agents of the teams in reach (or the chosen team)."""
    agents = User.objects.filter(is_active=True, role=Role.AGENT).select_related("team")
    if filters.team:
        agents = agents.filter(team_id=filters.team)
    elif filters.teams is not None:
        agents = agents.filter(team_id__in=filters.teams)
    if filters.agent:
        agents = agents.filter(pk=filters.agent)
    return agents.order_by("first_name", "last_name", "username")


# --- Supervisor home: the team right now ---------------------------------------------------------------


@dataclass
class AgentNow:
    agent: object
    status: str  # working | idle | offline
    availability: str
    current_case: Case | None = None
    last_activity: datetime | None = None
    attempts: int = 0
    rpc: int = 0
    promises: int = 0
    collected: Amounts = field(default_factory=Amounts)


@dataclass
class QueueDepth:
    queue_id: int | None
    name: str
    total: int = 0
    by_state: dict = field(default_factory=dict)
    by_bucket: dict = field(default_factory=dict)


@dataclass
class TeamNow:
    agents: list[AgentNow]
    queues: list[QueueDepth]
    states: list[tuple[str, str]]
    buckets: list[str]
    callbacks_overdue: list[Case]
    callbacks_overdue_count: int
    stuck_leases: list[Case]
    plans: list
    escalations: list[CaseEvent]
    override_requests: list[CaseEvent]
    depths_from: OpenCasesSnapshot | None = None  # the snapshot the depths were read from; None: counted live

    @property
    def inbox_count(self) -> int:
        return len(self.plans) + len(self.escalations) + len(self.override_requests)


def _status(agent, lease: Case | None, last: datetime | None, availability: str, now: datetime) -> str:
    if lease is not None:
        return "working"
    if availability == Availability.OFF:
        return "offline"
    if last is not None and last >= now - timedelta(minutes=IDLE_MINUTES):
        return "idle"
    return "offline"


def agents_now(user, filters: Filters, *, now: datetime, through) -> list[AgentNow]:
    today = bank_today(now)
    # Each agent's latest attempt today: one probe of contact_agent_time_idx per agent, read backward and
    # stopped at the first row - not every attempt of the day grouped by agent (150 ms at 10M attempts).
    latest_today = (
        ContactAttempt.objects.filter(agent_id=OuterRef("pk"), started_at__gte=day_start(today))
        .order_by("-started_at")
        .values("started_at")[:1]
    )
    agents = list(team_agents(filters).annotate(last_attempt_today=Subquery(latest_today)))
    ids = [a.pk for a in agents]
    leases = {
        c.lease_owner_id: c
        for c in Case.objects.filter(lease_owner_id__in=ids, lease_expires_at__gte=now).select_related(
            "account__cardholder"
        )
    }
    availability = dict(AgentStatus.objects.filter(agent_id__in=ids).values_list("agent_id", "availability"))
    counts = {
        row["d_agent"]: row
        for row in kpis.read_measures(
            ["attempts", "rpc", "promises_made", "collected"],
            filters.without("agent"),
            Period(today, today),
            group=("d_agent",),
            through=through,
        )
    }
    rows = []
    for agent in agents:
        seen = max(filter(None, [agent.last_attempt_today, agent.last_login]), default=None)
        avail = availability.get(agent.pk, Availability.AVAILABLE)
        c = counts.get(agent.pk, {})
        rows.append(
            AgentNow(
                agent=agent,
                status=_status(agent, leases.get(agent.pk), seen, avail, now),
                availability=avail,
                current_case=leases.get(agent.pk),
                last_activity=agent.last_attempt_today,
                attempts=c.get("attempts", 0),
                rpc=c.get("rpc", 0),
                promises=c.get("promises_made", 0),
                collected=c.get("collected", Amounts()),
            )
        )
    order = {"working": 0, "idle": 1, "offline": 2}
    return sorted(rows, key=lambda r: (order[r.status], str(r.agent)))


def scoped_cases(user, filters: Filters) -> QuerySet[Case]:
    """The cases whose figures `filters` covers (a team's are its queues' cases, as in the rollups);
    always within what `user` may see."""
    return cases_visible_to(user, Case.objects.filter(case_q(filters)))


@dataclass(frozen=True)
class OpenCasesSnapshot:
    """The snapshot of the open cases (PortfolioDaily rows) the "now" panels - queue depths, aging - read
    instead of counting a million open cases: today's intraday one (`at`: its time; `late`: older than
    DASHBOARDS_INTRADAY_MAX_AGE_MINUTES), else the latest nightly one (`at` None: the close of `day`)."""

    day: date
    at: datetime | None = None
    late: bool = False


def open_cases_snapshot(fresh) -> OpenCasesSnapshot | None:
    """Which snapshot the "now" panels read, given the rollups' freshness: today's intraday one when the
    reads take today's rows, else the latest nightly one up to the watermark (before the day's first
    intraday rollup, or a deployment without it); None when there is none yet (then counted live)."""
    if fresh is None:
        return None
    if fresh.today_as_of is not None:
        return OpenCasesSnapshot(fresh.through, fresh.today_as_of, fresh.late)
    if fresh.nightly is None:
        return None
    day = (
        PortfolioDaily.objects.filter(day__lte=fresh.nightly)
        .order_by("-day")
        .values_list("day", flat=True)
        .first()
    )
    return None if day is None else OpenCasesSnapshot(day)


def _snapshot_rows(filters: Filters, snapshot: OpenCasesSnapshot) -> QuerySet:
    qs = PortfolioDaily.objects.filter(day=snapshot.day)
    if filters.teams is not None:
        qs = qs.filter(team_id__in=filters.teams)
    for alias, value in filters.conditions().items():
        qs = qs.filter(**{rollups.DIM_COLUMNS[alias]: value})
    return qs


def queue_depths(user, filters: Filters, *, snapshot: OpenCasesSnapshot | None = None) -> list[QueueDepth]:
    """Open cases by queue, state and bucket: from `snapshot` (`open_cases_snapshot`; a few hundred rows)
    when given, else counted live."""
    if snapshot is not None:
        rows = (
            _snapshot_rows(filters, snapshot)
            .values("queue_id", "state", "bucket")
            .annotate(n=Sum("cases"))
            .order_by()
            .values_list("queue_id", "state", "bucket", "n")
        )
    else:
        rows = (
            scoped_cases(user, filters)
            .filter(state__in=OPEN_STATES)
            .values("queue_id", "state", "account__bucket")
            .annotate(n=Count("pk"))
            .order_by()
            .values_list("queue_id", "state", "account__bucket", "n")
        )
    depths: dict[int | None, QueueDepth] = {}
    for queue_id, state, bucket, n in rows:
        depth = depths.setdefault(queue_id, QueueDepth(queue_id, ""))
        depth.total += n
        depth.by_state[state] = depth.by_state.get(state, 0) + n
        depth.by_bucket[bucket] = depth.by_bucket.get(bucket, 0) + n
    names = dict(Queue.objects.filter(pk__in=[k for k in depths if k]).values_list("pk", "name"))
    for depth in depths.values():
        depth.name = names.get(depth.queue_id, "")
    return sorted(depths.values(), key=lambda d: (d.queue_id is None, d.name))


def _case_list(qs: QuerySet[Case]) -> QuerySet[Case]:
    return qs.select_related("account__cardholder", "assigned_agent", "lease_owner", "queue")


def callbacks_overdue(user, filters: Filters, *, now: datetime) -> tuple[list[Case], int]:
    qs = scoped_cases(user, filters).filter(
        state__in=OPEN_STATES, assigned_agent__isnull=False, next_action_at__lt=now - CALLBACK_GRACE
    )
    return list(_case_list(qs).order_by("next_action_at", "pk")[:INBOX_LIMIT]), qs.count()


def stuck_leases(user, filters: Filters, *, now: datetime) -> list[Case]:
    """Leases that expired without being released, and leases whose holder has logged nothing for
    STUCK_MINUTES (the agent left with the case open)."""
    quiet_since = now - timedelta(minutes=STUCK_MINUTES)
    active = ContactAttempt.objects.filter(agent_id=OuterRef("lease_owner_id"), started_at__gte=quiet_since)
    qs = (
        scoped_cases(user, filters)
        .filter(lease_owner__isnull=False)
        .annotate(holder_active=Exists(active))
        .filter(Q(lease_expires_at__lt=now) | Q(holder_active=False))
    )
    return list(_case_list(qs).order_by("lease_expires_at", "pk")[:INBOX_LIMIT])


def inbox_escalations(user, filters: Filters) -> list[CaseEvent]:
    open_states = [s for s in OPEN_STATES if s not in LEGAL_STATES]
    qs = CaseEvent.objects.filter(
        kind=EventKind.ESCALATION_REQUESTED,
        inbox_closure__isnull=True,
        case__in=scoped_cases(user, filters).filter(state__in=open_states),
    ).exclude(actor=user)  # a request is answered by someone else (dashboards.services: own_request)
    return list(
        qs.select_related("case__account__cardholder", "actor").order_by("created_at", "pk")[:INBOX_LIMIT]
    )


def inbox_override_requests(user, filters: Filters, *, now: datetime) -> list[CaseEvent]:
    """Refusals that a supervisor may override (a frequency limit, and nothing else failing), logged by
    an agent in the last day, not yet overridden on that case since, nor answered."""
    overridable = [str(r) for r in OVERRIDABLE_RULES]
    overridden_since = CaseEvent.objects.filter(
        case_id=OuterRef("case_id"), kind=EventKind.POLICY_OVERRIDE, created_at__gte=OuterRef("created_at")
    )
    qs = (
        CaseEvent.objects.filter(
            kind=EventKind.POLICY_REFUSED,
            created_at__gte=now - timedelta(hours=OVERRIDE_REQUEST_HOURS),
            details__rule__in=overridable,
            actor__role=Role.AGENT,
            inbox_closure__isnull=True,
            case__in=scoped_cases(user, filters).filter(state__in=OPEN_STATES),
        )
        .exclude(Exists(overridden_since))
        .select_related("case__account__cardholder", "actor")
        .order_by("-created_at", "-pk")
    )
    # The other rules failing at the same time ("also") must be overridable too (policy.Decision).
    rows = [e for e in qs[: INBOX_LIMIT * 4] if all(r in overridable for r in e.details.get("also") or [])]
    return rows[:INBOX_LIMIT]


def team_now(user, filters: Filters, *, now: datetime | None = None, through=...) -> TeamNow:
    now = now or timezone.now()
    if through is ...:
        through = rollups.freshness()
    overdue, overdue_count = callbacks_overdue(user, filters, now=now)
    depths_from = open_cases_snapshot(through)
    return TeamNow(
        agents=agents_now(user, filters, now=now, through=through),
        queues=queue_depths(user, filters, snapshot=depths_from),
        states=[(s, CaseState(s).label) for s in OPEN_STATES],
        buckets=list(Bucket.values),
        callbacks_overdue=overdue,
        callbacks_overdue_count=overdue_count,
        stuck_leases=stuck_leases(user, filters, now=now),
        plans=inbox_rows(user)[:INBOX_LIMIT],
        escalations=inbox_escalations(user, filters),
        override_requests=inbox_override_requests(user, filters, now=now),
        depths_from=depths_from,
    )


# --- KPI page pieces ------------------------------------------------------------------------------------

AGENT_COLUMNS = (
    "attempts",
    "rpc",
    "rpc_per_hour",
    "promises_made",
    "kept_rate",
    "collected",
    "aht",
    "overrides",
)


@dataclass
class AgentLine:
    agent_id: int
    name: str
    team: str
    attempts: int = 0
    rpc: int = 0
    active_hours: Decimal = Decimal("0.00")
    rpc_per_hour: Decimal | None = None
    promises_made: int = 0
    promises_kept: int = 0
    promises_broken: int = 0
    kept_rate: Decimal | None = None
    collected: Amounts = field(default_factory=Amounts)
    talk_seconds: int = 0
    handled_calls: int = 0
    aht: Decimal | None = None
    overrides: int = 0


def _agent_hours(filters: Filters, period: Period, through) -> dict[int, int]:
    """Active quarter-hours per agent (AgentDaily for the rolled-up days, live for the others)."""
    slots: dict[int, int] = defaultdict(int)
    since, through = rollups._coverage(through)
    rolled_from = period.start if since is None else max(period.start, since)
    qs = AgentDaily.objects.filter(day__gte=rolled_from, day__lte=period.end)
    live_start = period.start if through is None else max(period.start, through + timedelta(days=1))
    live_ranges = []
    if through is None:
        qs = qs.none()
    else:
        qs = qs.filter(day__lte=through)
        if period.start < rolled_from:
            live_ranges.append((period.start, min(period.end, rolled_from - timedelta(days=1))))
    if live_start <= period.end:
        live_ranges.append((live_start, period.end))
    team_filter = (filters.team,) if filters.team else filters.teams
    if team_filter is not None:
        qs = qs.filter(team_id__in=team_filter)
    if filters.agent:
        qs = qs.filter(agent_id=filters.agent)
    for agent_id, n in qs.values("agent_id").annotate(n=Sum("active_slots")).values_list("agent_id", "n"):
        slots[agent_id] += n or 0
    for first, last in live_ranges:
        live = rollups._agent_query(first, last)
        if team_filter is not None:
            live = live.filter(a_team__in=team_filter)
        if filters.agent:
            live = live.filter(agent_id=filters.agent)
        for row in live:
            slots[row["agent_id"]] += row["active_slots"]
    return slots


def agent_table(
    filters: Filters, period: Period, *, through, sort: str = "attempts", descending: bool = True
) -> list[AgentLine]:
    measures = [
        "attempts",
        "rpc",
        "promises_made",
        "promises_kept",
        "promises_broken",
        "collected",
        "talk_seconds",
        "handled_calls",
        "overrides",
    ]
    by_agent = {
        row["d_agent"]: row
        for row in kpis.read_measures(measures, filters, period, group=("d_agent",), through=through)
        if row["d_agent"] is not None
    }
    hours = _agent_hours(filters, period, through)
    agents = {a.pk: a for a in team_agents(filters)}
    missing = set(by_agent) - set(agents)
    if missing:
        agents.update({a.pk: a for a in User.objects.filter(pk__in=missing).select_related("team")})
    lines = []
    for pk, agent in agents.items():
        row = by_agent.get(pk, {})
        line = AgentLine(agent_id=pk, name=str(agent), team=str(agent.team or ""))
        for key in measures:
            setattr(line, key, row.get(key, getattr(line, key)))
        line.active_hours = (Decimal(hours.get(pk, 0)) / 4).quantize(Decimal("0.01"))
        line.rpc_per_hour = kpis.ratio(line.rpc, line.active_hours)
        line.kept_rate = kpis.ratio(line.promises_kept, line.promises_kept + line.promises_broken)
        line.aht = kpis.ratio(line.talk_seconds, line.handled_calls)
        lines.append(line)
    key = sort if sort in (*AGENT_COLUMNS, "name", "active_hours") else "attempts"

    currencies = sorted({c for line in lines for c in line.collected})

    def sort_key(line):
        value = getattr(line, key)
        if key == "collected":  # currency by currency, never a sum across them
            return (False, tuple(value.get(c) for c in currencies))
        return (value is None, value if value is not None else 0) if key != "name" else (False, value)

    lines.sort(key=sort_key, reverse=descending)
    if descending:  # keep "no figure" rows last either way
        lines.sort(key=lambda line: getattr(line, key) is None)
    return lines


TREND_MEASURES = ("attempts", "rpc", "promises_made", "collected")


def daily_trend(filters: Filters, period: Period, *, through) -> list[dict]:
    rows = kpis.read_measures(list(TREND_MEASURES), filters, period, group=("d_day",), through=through)
    return trend_from_rows(rows, period.days)


def trend_from_rows(rows: list[dict], days: list[date]) -> list[dict]:
    """One line per day of `days`, from rows grouped by "d_day" (a day without a row is zeros). The
    day may come back as text (SQLite): it is read as a date before matching."""
    by_day = {rollups.as_day(row["d_day"]): row for row in rows}
    out = []
    for day in days:
        row = by_day.get(day, {})
        out.append(
            {
                "day": day,
                "attempts": int(row.get("attempts", 0)),
                "rpc": int(row.get("rpc", 0)),
                "promises_made": int(row.get("promises_made", 0)),
                "collected": Amounts(row.get("collected", {})),
            }
        )
    return out


def aging(user, filters: Filters, *, snapshot: OpenCasesSnapshot | None = None) -> list[dict]:
    """Open cases by bucket now (count, balance, overdue amount): from `snapshot` (`open_cases_snapshot`)
    when given, else counted live."""
    if snapshot is not None:
        found = (
            _snapshot_rows(filters.without("bucket"), snapshot)
            .values("bucket", "currency")
            .annotate(cases=Sum("cases"), balance=Sum("balance"), overdue=Sum("overdue"))
        )
    else:
        found = (
            scoped_cases(user, filters.without("bucket"))
            .filter(state__in=OPEN_STATES)
            .annotate(bucket=F("account__bucket"), currency=F("account__currency"))
            .values("bucket", "currency")
            .annotate(
                cases=Count("pk"),
                balance=Coalesce(Sum("account__balance"), kpis.ZERO),
                overdue=Coalesce(Sum("account__overdue_amount"), kpis.ZERO),
            )
        )
    rows = {b: {"bucket": b, "cases": 0, "balance": Amounts(), "overdue": Amounts()} for b in Bucket.values}
    for row in found.order_by():
        line = rows.setdefault(
            row["bucket"], {"bucket": row["bucket"], "cases": 0, "balance": Amounts(), "overdue": Amounts()}
        )
        line["cases"] += row["cases"] or 0
        line["balance"] += Amounts({row["currency"]: row["balance"]})
        line["overdue"] += Amounts({row["currency"]: row["overdue"]})
    return [rows[b] for b in Bucket.values]


def reasons(filters: Filters, period: Period, *, through) -> list[dict]:
    rows = rollups.read(
        "reasons",
        filters,
        period.start,
        period.end,
        measures={"rpc": "COALESCE(SUM(x.m_rpc), 0)"},
        group=("d_reason",),
        through=through,
    )
    total = sum(int(r["rpc"]) for r in rows)
    labels = dict(DelinquencyReason.choices)
    out = [
        {
            "reason": r["d_reason"],
            "label": labels.get(r["d_reason"], r["d_reason"] or "—"),
            "rpc": int(r["rpc"]),
            "share": kpis.ratio(int(r["rpc"]), total),
        }
        for r in rows
        if int(r["rpc"])
    ]
    return sorted(out, key=lambda r: -r["rpc"])


def plans_active(user, filters: Filters) -> int:
    # The same cases as its drill-down ("plans_active"): the filters' cases, as in the rollups.
    return RepaymentPlan.objects.filter(
        state=PlanState.ACTIVE, case__in=Case.objects.filter(case_q(filters)).values("pk")
    ).count()


# --- Drill-down ---------------------------------------------------------------------------------------


@dataclass
class DrillPage:
    kind: str
    rows: list
    page: int
    has_more: bool
    agents: dict = field(default_factory=dict)


def drill_queryset(key: str, filters: Filters, period: Period) -> tuple[str, QuerySet]:
    """What a number counted, as a queryset of the rows to list, and the kind of rows."""
    if key in ("cure_cured", "cure_base"):
        return "accounts", cure_accounts(filters, period, cured_only=key == "cure_cured")
    if key == "plans_active":
        plans = RepaymentPlan.objects.filter(
            state=PlanState.ACTIVE, case__in=Case.objects.filter(case_q(filters))
        )
        return "plans", plans.select_related("case__account__cardholder", "proposed_by").order_by("-pk")
    if key == "open_start":
        start = day_start(period.start)
        qs = Case.objects.filter(case_q(filters), opened_at__lt=start).filter(
            Q(closed_at__isnull=True) | Q(closed_at__gte=start)
        )
        return "cases", _case_list(qs).order_by("-pk")
    measure = kpis.MEASURES[key]
    kind = measure.list_kind
    rows = kpis.source_rows(measure, filters, period)
    if kind == "cases":
        return kind, _case_list(kpis.drill_cases(measure, filters, period)).order_by("-pk")
    if kind == "contacts":
        return kind, rows.select_related("case__account__cardholder", "agent").order_by("-started_at", "-pk")
    if kind == "events":
        return kind, rows.select_related("case__account__cardholder", "actor").order_by("-created_at", "-pk")
    if kind == "promises":
        return kind, rows.select_related(
            "case__account__cardholder", "case__assigned_agent", "created_by"
        ).order_by("-due_date", "-pk")
    if kind == "payments":
        return kind, rows.select_related("account__cardholder", "case").order_by("-paid_at", "-pk")
    if kind == "referrals":
        return kind, rows.select_related("case__account__cardholder", "referred_by").order_by("-referred_at")
    if kind == "plans":
        return kind, rows.select_related("case__account__cardholder", "proposed_by").order_by("-pk")
    raise KeyError(kind)


# The reach drill-downs read the period's attempts newest first, this many at first, twice as many each
# time the page is not full yet.
REACH_CHUNK = 2_000


def reached_cases_page(key: str, filters: Filters, period: Period, *, page: int) -> tuple[list[Case], bool]:
    """The cases a reach measure counted (accounts attempted, reached), the most recently contacted first:
    the period's attempts read newest first, in growing chunks, until the page's cases and one more are
    seen. (Listing the cases newest first and asking each for an attempt in the period walks every case
    opened since, none of them called yet.) The same cases as `drill_queryset`, in another order."""
    attempts = (
        kpis.source_rows(kpis.MEASURES[key], filters, period)
        .order_by("-started_at", "-pk")
        .values_list("case_id", flat=True)
    )
    wanted = page * DRILL_PAGE + 1
    seen: dict[int, None] = {}
    offset, size = 0, REACH_CHUNK
    while len(seen) < wanted:
        chunk = list(attempts[offset : offset + size])
        seen.update(dict.fromkeys(chunk))
        if len(chunk) < size:
            break
        offset, size = offset + size, size * 2
    ids = list(seen)[(page - 1) * DRILL_PAGE : wanted]
    by_id = _case_list(Case.objects.all()).in_bulk(ids)
    rows = [by_id[case_id] for case_id in ids]
    return rows[:DRILL_PAGE], len(rows) > DRILL_PAGE


def drill_page(key: str, filters: Filters, period: Period, *, page: int = 1) -> DrillPage:
    page = max(1, page)
    if key in kpis.MEASURES and kpis.MEASURES[key].table == "reach":
        rows, has_more = reached_cases_page(key, filters, period, page=page)
        return DrillPage("cases", rows, page, has_more)
    kind, qs = drill_queryset(key, filters, period)
    start = (page - 1) * DRILL_PAGE
    rows = list(qs[start : start + DRILL_PAGE + 1])
    agents = {}
    if kind == "payments":
        ids = {r.d_agent for r in rows if r.d_agent}
        agents = {u.pk: u for u in User.objects.filter(pk__in=ids)}
    return DrillPage(kind, rows[:DRILL_PAGE], page, len(rows) > DRILL_PAGE, agents)


def cure_accounts(filters: Filters, period: Period, *, cured_only: bool) -> QuerySet:
    """The accounts behind the cure rate: delinquent at the end of the month before each month of the
    period (cured_only: and current at that month's end)."""
    q = Q()
    for month in kpis.months_in(period):
        before = AccountMonthEnd.objects.filter(
            month=kpis.previous_month(month), bucket__in=kpis.DELINQUENT_BUCKETS
        )
        if filters.teams is not None:
            before = before.filter(team_id__in=filters.teams)
        for alias, value in filters.conditions().items():
            before = before.filter(**{rollups.DIM_COLUMNS[alias]: value})
        ids = before.values("account_id")
        if cured_only:
            ids = AccountMonthEnd.objects.filter(
                month=month, bucket=Bucket.CURRENT, account_id__in=ids
            ).values("account_id")
        q |= Q(pk__in=ids)
    if not q:
        return CreditAccount.objects.none()
    return CreditAccount.objects.filter(q).select_related("cardholder").order_by("-pk")


# --- Legal dashboard --------------------------------------------------------------------------------------

AGE_BANDS = ((0, 7), (8, 30), (31, 90), (91, None))


@dataclass
class LegalDashboard:
    bands: list[str]
    by_reason: list[dict]  # {"reason": str, "counts": [n per band], "total": n}
    in_review: int
    decisions: list[dict]
    outcomes: list[dict]
    limitation: list
    as_of: date


def _band(days: int) -> int:
    for i, (low, high) in enumerate(AGE_BANDS):
        if days >= low and (high is None or days <= high):
            return i
    return len(AGE_BANDS) - 1


def legal_dashboard(
    user, filters: Filters, period: Period, *, as_of: date, horizon_days: int = 90
) -> LegalDashboard:
    cases = cases_visible_to(user, Case.objects.filter(case_q(filters.without("bucket", "agent"))))
    pending = LegalReferral.objects.filter(
        decision=LegalDecision.PENDING, case__in=cases.filter(state=CaseState.LEGAL_REVIEW)
    ).values_list("rule_name", "referred_at")
    table: dict[str, list[int]] = {}
    for rule_name, referred_at in pending:
        days = (as_of - bank_date(referred_at)).days
        table.setdefault(rule_name or "", [0] * len(AGE_BANDS))[_band(days)] += 1
    by_reason = [
        {"reason": reason, "counts": counts, "total": sum(counts)}
        for reason, counts in sorted(table.items(), key=lambda kv: -sum(kv[1]))
    ]
    decided = (
        LegalReferral.objects.filter(
            case__in=cases,
            decided_at__gte=period.start_at,
            decided_at__lt=period.end_before,
        )
        .exclude(decision=LegalDecision.PENDING)
        .values("decision", "reviewer__username", "reviewer__first_name", "reviewer__last_name")
        .annotate(n=Count("pk"))
        .order_by("decision")
    )
    labels = dict(LegalDecision.choices)
    decisions = [
        {
            "decision": row["decision"],
            "label": labels.get(row["decision"], row["decision"]),
            "reviewer": " ".join(filter(None, [row["reviewer__first_name"], row["reviewer__last_name"]]))
            or row["reviewer__username"]
            or "—",
            "n": row["n"],
        }
        for row in decided
    ]
    outcome_rows = (
        Case.objects.filter(
            pk__in=LegalReferral.objects.filter(decision=LegalDecision.LITIGATION, case__in=cases).values(
                "case_id"
            )
        )
        .values("state", "resolution_reason")
        .annotate(n=Count("pk"))
        .order_by("state", "resolution_reason")
    )
    reasons = dict(ResolutionReason.choices)
    outcomes = [
        {
            "state": row["state"],
            "label": CaseState(row["state"]).label
            + (f" · {reasons.get(row['resolution_reason'], '')}" if row["resolution_reason"] else ""),
            "n": row["n"],
        }
        for row in outcome_rows
    ]
    horizon = as_of + timedelta(days=horizon_days)
    coming = []
    for case in with_limitation(cases.filter(state__in=LEGAL_STATES).select_related("account__cardholder")):
        limit = limitation_date_for(case.limitation_restart)
        if limit is not None and limit <= horizon:
            coming.append({"case": case, "limitation_date": limit, "days_left": (limit - as_of).days})
    coming.sort(key=lambda r: r["limitation_date"])
    return LegalDashboard(
        bands=[f"{low}–{high}" if high is not None else f"{low}+" for low, high in AGE_BANDS],
        by_reason=by_reason,
        in_review=sum(r["total"] for r in by_reason),
        decisions=decisions,
        outcomes=outcomes,
        limitation=coming,
        as_of=as_of,
    )
