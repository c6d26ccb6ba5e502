"""The rollup tables: how each is built (`refresh`, a nightly step) and how the dashboards read them
(`read`: rollup rows for the days up to the watermark, the same SELECT run live for the later days).

Sources. Each source is a queryset over one base table for a day range, annotated with the dimension
aliases every rollup shares (d_day, d_team, d_queue, d_agent, d_product, d_jurisdiction, d_bucket) -
only those asked for, so that a live read joins no more tables than it needs. A rollup column is
(source, filter, COUNT or SUM); `dashboards.kpis` names the same columns, so a KPI's drill-down list is
exactly the source rows its number counted.

Building. For a day range, a table's columns are grouped by source; each source becomes one grouped
SELECT; the SELECTs are joined with UNION ALL and summed per dimension cell ("full" level), then the
"case" (no agent) and "agent" (team and agent only) levels are summed from it:

    DELETE FROM table WHERE day BETWEEN d1 AND d2;
    INSERT INTO table (level, day, dims..., columns...)
        SELECT 'full', d_day, ..., SUM(m_...) FROM (... UNION ALL ...) GROUP BY ...;
    INSERT INTO table (...) SELECT 'case', day, ..., SUM(...) FROM table WHERE level = 'full' ... GROUP BY ...

in one transaction, so running it twice gives the same rows. The SQL is compiled by the ORM (and a few
portable statements), so it runs on PostgreSQL and SQLite alike.
"""

from __future__ import annotations

import logging
import time as clock
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date, timedelta

from django.conf import settings
from django.db import connection, transaction
from django.db.models import (
    Count,
    DateField,
    DecimalField,
    Exists,
    F,
    IntegerField,
    Max,
    Min,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Sum,
    Value,
    Window,
)
from django.db.models.expressions import RawSQL
from django.db.models.functions import (
    Cast,
    Coalesce,
    ExtractHour,
    ExtractMinute,
    Least,
    RowNumber,
    TruncDate,
    TruncMonth,
)
from django.utils import timezone

from collections_app.delinquency import bucket_sql
from collections_app.models import (
    ANSWERED_OUTCOMES,
    CALL_CHANNELS,
    OPEN_STATES,
    RIGHT_PARTY_OUTCOMES,
    Case,
    CaseEvent,
    CaseState,
    ContactAttempt,
    CreditAccount,
    EventKind,
    Payment,
    PromiseStatus,
    PromiseToPay,
    Queue,
    ResolutionReason,
)
from core.clock import bank_today, bank_zone, day_start
from core.db_routing import read_connection
from dashboards.models import (
    AccountMonthEnd,
    ActivityDaily,
    AgentDaily,
    CaseFlowDaily,
    CollectionDaily,
    PortfolioDaily,
    PromiseDaily,
    ReachDaily,
    ReasonDaily,
    RollTransitionMonthly,
    RollupWatermark,
)
from dashboards.scope import Filters
from legal.models import LegalReferral
from repayment_plans.models import PlanState, RepaymentPlan

logger = logging.getLogger(__name__)

DIMS = ("d_day", "d_team", "d_queue", "d_agent", "d_product", "d_jurisdiction", "d_bucket", "d_currency")
ALL_DIMS = frozenset(DIMS)
DIM_COLUMNS = {
    "d_day": "day",
    "d_team": "team_id",
    "d_queue": "queue_id",
    "d_agent": "agent_id",
    "d_product": "product",
    "d_jurisdiction": "jurisdiction",
    "d_bucket": "bucket",
    "d_currency": "currency",
}
TEXT_DIMS = ("d_product", "d_jurisdiction", "d_bucket", "d_currency")
NULL_TYPES = {
    "d_day": "date",
    "d_prev": "date",
    "d_team": "integer",
    "d_queue": "integer",
    "d_agent": "integer",
}
# The dimensions each level keeps (the others are NULL or empty in its rows). Every level keeps the
# currency, so that a money column is never summed across currencies.
LEVELS = {
    "agent": frozenset({"d_day", "d_team", "d_agent", "d_currency"}),
    "case": ALL_DIMS - {"d_agent"},
    "full": ALL_DIMS,
}
REACH_LEVELS = {
    "agent": frozenset({"d_day", "d_team", "d_agent"}),
    "bucket": frozenset({"d_day", "d_team", "d_agent", "d_bucket"}),
}

# Days rebuilt every night (promises settle after their grace days; contacts can be logged late).
REFRESH_DAYS = 7
# Payments are credited to the last right-party contact by an agent within this many days.
ATTRIBUTION_DAYS = 30
# Resolution reasons that mean the account is current again.
CURE_REASONS = (ResolutionReason.CURED, ResolutionReason.PAID_IN_FULL, ResolutionReason.PLAN_COMPLETED)
COMPLAINT_TAGS = ("#complaint", "#投诉")
REACH_LOOKBACK_DAYS = 367


def level_for(needed: Iterable[str], levels: dict[str, frozenset] = LEVELS) -> str | None:
    """The smallest level that keeps every needed dimension (None: no level does)."""
    needed = set(needed) | {"d_day"}
    for name, dims in levels.items():
        if needed <= dims:
            return name
    return None


def needed_dims(filters: Filters, group: Iterable[str] = ()) -> set[str]:
    needed = set(filters.conditions()) | set(group)
    if filters.teams is not None:
        needed.add("d_team")
    return {d for d in needed if d in ALL_DIMS}


# --- Sources ----------------------------------------------------------------------------------------


def _case_dims(path: str, dims: frozenset = ALL_DIMS) -> dict:
    paths = {
        "d_team": f"{path}queue__team_id",
        "d_queue": f"{path}queue_id",
        "d_product": f"{path}account__product",
        "d_jurisdiction": f"{path}account__cardholder__jurisdiction",
        "d_bucket": f"{path}account__bucket",
        "d_currency": f"{path}account__currency",
    }
    return {alias: F(p) for alias, p in paths.items() if alias in dims}


def _month(moment_field: str):
    return TruncMonth(moment_field, output_field=DateField(), tzinfo=bank_zone())


def _bucket_then(account_ref: str, month_ref: str):
    """The account's bucket at the last month-end before the month `month_ref` (an annotation of the
    outer query) from AccountMonthEnd, else its bucket now. Used where the event itself changes the
    bucket (a payment that cures the account, a closure). A lookup per row: for the drill-down lists
    (a page of rows); the rollups join the month-ends once instead (`_bucket_then_select`)."""
    return Coalesce(
        Subquery(
            AccountMonthEnd.objects.filter(account_id=OuterRef(account_ref), month__lt=OuterRef(month_ref))
            .order_by("-month")
            .values("bucket")[:1]
        ),
        F(f"{account_ref.removesuffix('_id')}__bucket"),
    )


def complaint_q(field_name: str) -> Q:
    """A contact or note is a complaint when its text carries a complaint tag (there is no complaint
    field yet; see docs/kpis.md)."""
    q = Q()
    for tag in COMPLAINT_TAGS:
        q |= Q(**{f"{field_name}__icontains": tag})
    return q


def _between(field_name: str, d1: date, d2: date) -> Q:
    return Q(**{f"{field_name}__gte": day_start(d1), f"{field_name}__lt": day_start(d2 + timedelta(days=1))})


def not_corrected() -> Exists:
    """The attempt has no correction. `corrects` IS NOT NULL lets the anti-join read the small partial
    index contact_corrects_idx (the corrections only) instead of every attempt of the log."""
    return ~Exists(ContactAttempt.objects.filter(corrects_id=OuterRef("pk"), corrects__isnull=False))


def _with_dims(qs: QuerySet, dims: frozenset, *, day, agent, case_path: str, **special) -> QuerySet:
    annotations = {"d_day": day, **_case_dims(case_path, dims)}
    if "d_agent" in dims:
        annotations["d_agent"] = agent
    for alias, expr in special.items():
        if alias in dims:
            annotations[alias] = expr
    return qs.annotate(**annotations)


def src_attempts(d1: date, d2: date, dims: frozenset = ALL_DIMS) -> QuerySet:
    """Contact attempts started in the days (a corrected attempt counts through its correction)."""
    qs = ContactAttempt.objects.filter(_between("started_at", d1, d2)).filter(not_corrected())
    return _with_dims(
        qs, dims, day=TruncDate("started_at", tzinfo=bank_zone()), agent=F("agent_id"), case_path="case__"
    )


def src_refusals(d1: date, d2: date, dims: frozenset = ALL_DIMS) -> QuerySet:
    qs = CaseEvent.objects.filter(_between("created_at", d1, d2), kind=EventKind.POLICY_REFUSED)
    return _with_dims(
        qs, dims, day=TruncDate("created_at", tzinfo=bank_zone()), agent=F("actor_id"), case_path="case__"
    )


def src_notes(d1: date, d2: date, dims: frozenset = ALL_DIMS) -> QuerySet:
    qs = CaseEvent.objects.filter(_between("created_at", d1, d2), kind=EventKind.NOTE)
    return _with_dims(
        qs, dims, day=TruncDate("created_at", tzinfo=bank_zone()), agent=F("actor_id"), case_path="case__"
    )


def with_its_contact() -> Q:
    """A promise counts only with its contact: recorded against the contact attempt it was made in
    (`contact_attempt`), or its recorder's own right-party contact with the case on the bank day it was
    recorded (a call logged just before or after). A promise typed in with no conversation behind it
    counts in no figure - made, kept or broken - live or rolled up."""
    own_contact = (
        ContactAttempt.objects.filter(
            case_id=OuterRef("case_id"),
            agent_id=OuterRef("created_by_id"),
            outcome__in=RIGHT_PARTY_OUTCOMES,
        )
        .filter(not_corrected())
        .alias(contact_day=TruncDate("started_at", tzinfo=bank_zone()))
        .filter(contact_day=OuterRef("made_day"))
        .order_by()
    )
    return Q(contact_attempt__isnull=False) | Q(Exists(own_contact))


def _promises_with_contact(qs: QuerySet) -> QuerySet:
    """`qs` (promises) narrowed to those that count (`with_its_contact`). Needs `made_day`."""
    return qs.alias(made_day=TruncDate("created_at", tzinfo=bank_zone())).filter(with_its_contact())


def src_promises_made(d1: date, d2: date, dims: frozenset = ALL_DIMS) -> QuerySet:
    qs = _promises_with_contact(PromiseToPay.objects.filter(_between("created_at", d1, d2)))
    return _with_dims(
        qs,
        dims,
        day=TruncDate("created_at", tzinfo=bank_zone()),
        agent=F("created_by_id"),
        case_path="case__",
    )


def src_promises_due(d1: date, d2: date, dims: frozenset = ALL_DIMS) -> QuerySet:
    """Promises by their promised date; a promise replaced by another (cancelled) is left out, and so is
    one without its contact (`with_its_contact`)."""
    qs = _promises_with_contact(
        PromiseToPay.objects.filter(due_date__gte=d1, due_date__lte=d2).exclude(
            status=PromiseStatus.CANCELLED
        )
    ).annotate(d_status=F("status"), paid_capped=Least("paid_amount", "amount"))
    return _with_dims(qs, dims, day=F("due_date"), agent=F("created_by_id"), case_path="case__")


def credited_agent():
    """The agent a payment is credited to (see CollectionDaily): the last right-party contact by an agent
    on the case in the ATTRIBUTION_DAYS before it - as corrected (a contact corrected to another outcome
    counts through its correction, as in every other figure)."""
    window = ContactAttempt.objects.filter(
        case_id=OuterRef("case_id"),
        outcome__in=RIGHT_PARTY_OUTCOMES,
        agent__isnull=False,
        started_at__lte=OuterRef("paid_at"),
        started_at__gte=OuterRef("paid_at") - timedelta(days=ATTRIBUTION_DAYS),
    ).filter(not_corrected())
    return Subquery(window.order_by("-started_at", "-id").values("agent_id")[:1], output_field=IntegerField())


def src_payments(d1: date, d2: date, dims: frozenset = ALL_DIMS) -> QuerySet:
    qs = Payment.objects.filter(_between("paid_at", d1, d2))
    if "d_bucket" in dims:
        qs = qs.annotate(d_month=_month("paid_at"))
    return _with_dims(
        qs,
        dims - {"d_product", "d_jurisdiction", "d_bucket", "d_currency"},
        day=TruncDate("paid_at", tzinfo=bank_zone()),
        agent=credited_agent(),
        case_path="case__",
    ).annotate(
        **{
            alias: expr
            for alias, expr in {
                "d_product": F("account__product"),
                "d_jurisdiction": F("account__cardholder__jurisdiction"),
                "d_currency": F("currency"),  # the payment's own currency
            }.items()
            if alias in dims
        },
        **({"d_bucket": _bucket_then("account_id", "d_month")} if "d_bucket" in dims else {}),
    )


def src_cases_opened(d1: date, d2: date, dims: frozenset = ALL_DIMS) -> QuerySet:
    qs = Case.objects.filter(_between("opened_at", d1, d2))
    return _with_dims(
        qs, dims, day=TruncDate("opened_at", tzinfo=bank_zone()), agent=F("assigned_agent_id"), case_path=""
    )


def src_cases_closed(d1: date, d2: date, dims: frozenset = ALL_DIMS) -> QuerySet:
    qs = Case.objects.filter(_between("closed_at", d1, d2))
    if "d_bucket" in dims:
        qs = qs.annotate(d_month=_month("closed_at"))
    qs = _with_dims(
        qs,
        dims - {"d_bucket"},
        day=TruncDate("closed_at", tzinfo=bank_zone()),
        agent=F("assigned_agent_id"),
        case_path="",
    )
    return qs.annotate(d_bucket=_bucket_then("account_id", "d_month")) if "d_bucket" in dims else qs


def src_referrals(d1: date, d2: date, dims: frozenset = ALL_DIMS) -> QuerySet:
    qs = LegalReferral.objects.filter(_between("referred_at", d1, d2))
    return _with_dims(
        qs,
        dims,
        day=TruncDate("referred_at", tzinfo=bank_zone()),
        agent=F("case__assigned_agent_id"),
        case_path="case__",
    )


def src_plans_activated(d1: date, d2: date, dims: frozenset = ALL_DIMS) -> QuerySet:
    qs = RepaymentPlan.objects.filter(_between("activated_at", d1, d2))
    return _with_dims(
        qs,
        dims,
        day=TruncDate("activated_at", tzinfo=bank_zone()),
        agent=F("proposed_by_id"),
        case_path="case__",
    )


def src_plans_ended(d1: date, d2: date, dims: frozenset = ALL_DIMS) -> QuerySet:
    qs = RepaymentPlan.objects.filter(
        _between("ended_at", d1, d2), state__in=[PlanState.COMPLETED, PlanState.BROKEN]
    )
    return _with_dims(
        qs, dims, day=TruncDate("ended_at", tzinfo=bank_zone()), agent=F("proposed_by_id"), case_path="case__"
    )


SOURCES: dict[str, Callable[..., QuerySet]] = {
    "attempts": src_attempts,
    "refusals": src_refusals,
    "notes": src_notes,
    "promises_made": src_promises_made,
    "promises_due": src_promises_due,
    "payments": src_payments,
    "cases_opened": src_cases_opened,
    "cases_closed": src_cases_closed,
    "referrals": src_referrals,
    "plans_activated": src_plans_activated,
    "plans_ended": src_plans_ended,
}


# --- Tables -----------------------------------------------------------------------------------------

AGENT = Q(agent__isnull=False)
AGENT_CALL = AGENT & Q(channel__in=CALL_CHANNELS)


@dataclass(frozen=True)
class Column:
    name: str
    source: str
    sum_of: str = ""  # "" counts rows; else the field (or annotation) summed
    q: Q = field(default_factory=Q)

    def aggregate(self):
        if self.sum_of:
            return Coalesce(Sum(self.sum_of, filter=self.q or None), Value(0), output_field=self._output())
        return Count("pk", filter=self.q or None)

    def _output(self):
        return (
            IntegerField()
            if self.sum_of == "duration_seconds"
            else DecimalField(max_digits=16, decimal_places=2)
        )


@dataclass(frozen=True)
class Table:
    key: str
    model: type
    columns: tuple[Column, ...]
    # Extra dimension alias -> (column, expression; None when the source annotates it already).
    extra: dict = field(default_factory=dict)

    @property
    def db_table(self) -> str:
        return self.model._meta.db_table

    def column(self, name: str) -> Column:
        for column in self.columns:
            if column.name == name:
                return column
        raise KeyError(name)

    @property
    def aliases(self) -> list[str]:
        return [*DIMS, *self.extra, *(f"m_{c.name}" for c in self.columns)]


TABLES: dict[str, Table] = {
    "activity": Table(
        "activity",
        ActivityDaily,
        (
            Column("attempts", "attempts", q=AGENT),
            Column("calls", "attempts", q=AGENT_CALL),
            Column("answered", "attempts", q=AGENT & Q(outcome__in=ANSWERED_OUTCOMES)),
            Column("rpc", "attempts", q=AGENT & Q(outcome__in=RIGHT_PARTY_OUTCOMES)),
            Column("talk_seconds", "attempts", "duration_seconds", AGENT_CALL),
            Column("handled_calls", "attempts", q=AGENT_CALL & Q(duration_seconds__gt=0)),
            Column("overrides", "attempts", q=~Q(policy_override_reason="")),
            Column("complaint_contacts", "attempts", q=complaint_q("notes")),
            Column("refusals", "refusals"),
            Column("complaint_notes", "notes", q=complaint_q("reason")),
            Column("promises_made", "promises_made"),
            Column("promised_amount", "promises_made", "amount"),
        ),
    ),
    "promises": Table(
        "promises",
        PromiseDaily,
        (
            Column("promises", "promises_due"),
            Column("amount", "promises_due", "amount"),
            Column("paid_capped", "promises_due", "paid_capped"),
        ),
        extra={"d_status": ("status", None)},
    ),
    "collections": Table(
        "collections",
        CollectionDaily,
        (Column("payments", "payments"), Column("amount", "payments", "amount")),
    ),
    "reasons": Table(
        "reasons",
        ReasonDaily,
        (Column("rpc", "attempts", q=AGENT & Q(outcome__in=RIGHT_PARTY_OUTCOMES)),),
        extra={"d_reason": ("reason", F("delinquency_reason"))},
    ),
    "flows": Table(
        "flows",
        CaseFlowDaily,
        (
            Column("opened", "cases_opened"),
            Column("opened_balance", "cases_opened", "account__balance"),
            Column("cured", "cases_closed", q=Q(resolution_reason__in=CURE_REASONS)),
            Column(
                "resolved_other",
                "cases_closed",
                q=Q(state=CaseState.RESOLVED) & ~Q(resolution_reason__in=CURE_REASONS),
            ),
            Column("written_off", "cases_closed", q=Q(state=CaseState.WRITTEN_OFF)),
            Column("escalated", "referrals"),
            Column("plans_activated", "plans_activated"),
            Column("plans_completed", "plans_ended", q=Q(state="completed")),
            Column("plans_broken", "plans_ended", q=Q(state="broken")),
        ),
    ),
}
# The distinct-account table has its own builder (see ReachDaily); its columns for `read`:
REACH_ALIASES = [*DIMS, "d_scope", "d_series", "d_prev", "m_accounts"]


def _quote(name: str) -> str:
    return connection.ops.quote_name(name)


def _sql(qs: QuerySet) -> tuple[str, tuple]:
    sql, params = qs.query.sql_with_params()
    return sql, tuple(params)


def _project(qs: QuerySet, aliases: list[str]) -> tuple[str, tuple]:
    """SELECT the aliases from a grouped source query, in order; an alias it lacks reads as 0 (a measure)
    or NULL (a dimension)."""
    sql, params = _sql(qs)
    present = set(qs.query.annotation_select)
    cols = []
    for alias in aliases:
        if alias in present:
            cols.append(f"p.{_quote(alias)}")
        elif alias.startswith("m_"):
            cols.append(f"0 AS {_quote(alias)}")
        else:
            # Typed, so that a UNION of parts that all lack it still has the column's type.
            kind = NULL_TYPES.get(alias, "varchar(24)")
            cols.append(f"CAST(NULL AS {kind}) AS {_quote(alias)}")
    return f"SELECT {', '.join(cols)} FROM ({sql}) p", params  # noqa: S608 - aliases are ours, values params


def _extra_annotations(table: Table) -> dict:
    return {alias: expr for alias, (_col, expr) in table.extra.items() if expr is not None}


# Sources whose bucket is the account's at the month-end before the event (`_bucket_then`): the
# moment field whose month picks the month-end.
BUCKET_THEN = {"payments": "paid_at", "cases_closed": "closed_at"}
BUCKET_THEN_KEYS = ("bt_account", "bt_month", "bt_now")


def _grouped(
    table: Table, source: str, d1: date, d2: date, filters: Filters | None, dims: frozenset
) -> QuerySet:
    """The source's rows for the days grouped by dimension cell, one column per measure. For a
    BUCKET_THEN source the bucket is left out (grouped by account, event month and bucket now instead,
    and filtered on later): `_bucket_then_select` joins the month-ends once."""
    bucket_then = source in BUCKET_THEN and "d_bucket" in dims
    qs = SOURCES[source](d1, d2, dims - {"d_bucket"} if bucket_then else dims)
    if bucket_then:
        qs = qs.annotate(
            bt_account=F("account_id"), bt_month=_month(BUCKET_THEN[source]), bt_now=F("account__bucket")
        )
    if table.extra:
        qs = qs.annotate(**_extra_annotations(table))
    if filters is not None:
        qs = qs.filter(filters.q(skip=("d_bucket",) if bucket_then else ()))
    columns = [c for c in table.columns if c.source == source]
    keys = [d for d in DIMS if d in dims and not (bucket_then and d == "d_bucket")]
    if bucket_then:
        keys += BUCKET_THEN_KEYS
    return (
        qs.order_by().values(*keys, *table.extra).annotate(**{f"m_{c.name}": c.aggregate() for c in columns})
    )


def month_ends_before(d1: date, d2: date) -> dict[date, date]:
    """For each month of d1..d2, the last month-end snapshotted before it (AccountMonthEnd holds every
    account at each month-end it has): a backward index scan per month, a handful of months."""
    ends, month = {}, month_of(d1)
    while month <= d2:
        end = (
            AccountMonthEnd.objects.filter(month__lt=month)
            .order_by("-month")
            .values_list("month", flat=True)
            .first()
        )
        if end is not None:
            ends[month] = end
        month = next_month(month)
    return ends


def _bucket_then_select(
    qs: QuerySet, aliases: list[str], d1: date, d2: date, filters: Filters | None
) -> tuple[str, tuple]:
    """`_project` for a BUCKET_THEN source: its grouped rows joined once to the month-ends (a hash join
    over (month, account), not a lookup per row), d_bucket the account's bucket at the last month-end
    before the event's month, else its bucket now - what `_bucket_then` gives row by row."""
    sql, params = _project(qs, [*aliases, *BUCKET_THEN_KEYS])
    ends = month_ends_before(d1, d2)
    joins, bucket, join_params = "", "b.bt_now", []
    if ends:
        months = " UNION ALL ".join(["SELECT %s AS event_month, %s AS end_month"] * len(ends))
        for event_month, end_month in ends.items():
            join_params.extend([event_month, end_month])
        joins = (
            f" LEFT JOIN ({months}) mm ON mm.event_month = b.bt_month"
            f" LEFT JOIN {_quote(AccountMonthEnd._meta.db_table)} me"
            " ON me.month = mm.end_month AND me.account_id = b.bt_account"
        )
        bucket = "COALESCE(me.bucket, b.bt_now)"
    cols = [f"{bucket} AS {_quote(a)}" if a == "d_bucket" else f"b.{_quote(a)}" for a in aliases]
    where, where_params = "", []
    wanted = (filters.conditions() if filters is not None else {}).get("d_bucket")
    if wanted:
        where, where_params = f" WHERE {bucket} = %s", [wanted]
    return (
        f"SELECT {', '.join(cols)} FROM ({sql}) b{joins}{where}",  # noqa: S608 - aliases ours, values params
        (*params, *join_params, *where_params),
    )


def _grouped_select(
    table: Table, d1: date, d2: date, filters: Filters | None = None, dims: frozenset = ALL_DIMS
) -> tuple[str, tuple]:
    """One row per dimension cell for the days, summed over the table's sources (the dimensions not in
    `dims` are NULL or empty)."""
    aliases = table.aliases
    parts, params = [], []
    for source in dict.fromkeys(c.source for c in table.columns):
        grouped = _grouped(table, source, d1, d2, filters, dims)
        if "bt_month" in grouped.query.annotation_select:
            sql, p = _bucket_then_select(grouped, aliases, d1, d2, filters)
        else:
            sql, p = _project(grouped, aliases)
        parts.append(sql)
        params.extend(p)
    keys = [*DIMS, *table.extra]
    select = [
        f"COALESCE(u.{_quote(a)}, '') AS {_quote(a)}" if a in TEXT_DIMS else f"u.{_quote(a)}" for a in keys
    ]
    select += [f"SUM(u.{_quote(f'm_{c.name}')}) AS {_quote(f'm_{c.name}')}" for c in table.columns]
    group = ", ".join(f"u.{_quote(a)}" for a in keys)
    sql = f"SELECT {', '.join(select)} FROM ({' UNION ALL '.join(parts)}) u GROUP BY {group}"  # noqa: S608
    return sql, tuple(params)


def _table_columns(table: Table) -> list[str]:
    return [
        *(DIM_COLUMNS[a] for a in DIMS),
        *(col for col, _expr in table.extra.values()),
        *(c.name for c in table.columns),
    ]


def _reach_select(
    d1: date,
    d2: date,
    filters: Filters | None = None,
    dims: frozenset = REACH_LEVELS["bucket"],
    scopes: tuple[str, ...] = ("case", "agent"),
) -> tuple[str, tuple]:
    """Reach rows for the days: accounts per (day, dims, scope, series, prev_day).

    For each scope and series: the distinct (case[, agent], day) of the agents' attempts in d1..d2; LAG
    over each case's (or case and agent's) days gives the day before, and for the first of them in the
    range the last day of such an attempt in the year before d1 (one backward scan of the case's
    attempts on its (case, started_at) index, evaluated only for those rows). The same rows as a LAG over
    the whole year, without reading the year of every case touched."""
    parts, params = [], []
    lookback = d1 - timedelta(days=REACH_LOOKBACK_DAYS)
    for scope in scopes:
        for series in ("attempt", "rpc"):
            days = src_attempts(d1, d2, dims).filter(agent__isnull=False)
            if series == "rpc":
                days = days.filter(outcome__in=RIGHT_PARTY_OUTCOMES)
            if scope == "case":
                days = days.annotate(d_agent=Cast(Value(None), IntegerField()))
            elif "d_agent" not in dims:
                days = days.annotate(d_agent=F("agent_id"))
            if filters is not None:
                days = days.filter(filters.q(skip=("d_agent",) if scope == "case" else ()))
            keys = [d for d in DIMS if d in dims or d == "d_agent"]
            days = days.order_by().values("case_id", *keys).distinct()
            sql, p = _project(
                days.annotate(d_scope=Value(scope), d_series=Value(series)), [*REACH_ALIASES[:-2]]
            )
            before_sql, before_p = _reach_day_before(lookback, d1, series, scope)
            partition = "w.case_id" if scope == "case" else "w.case_id, w.d_agent"
            sql = sql.replace("SELECT ", "SELECT p.case_id, ", 1)
            parts.append(
                f"SELECT w.*, COALESCE(LAG(w.d_day) OVER (PARTITION BY {partition} ORDER BY w.d_day), "  # noqa: S608
                f"({before_sql})) AS d_prev, 1 AS {_quote('m_accounts')} FROM ({sql}) w"
            )
            params.extend([*before_p, *p])
    keys = REACH_ALIASES[:-1]
    select = [
        f"COALESCE(u.{_quote(a)}, '') AS {_quote(a)}" if a in TEXT_DIMS else f"u.{_quote(a)}" for a in keys
    ]
    group = ", ".join(f"u.{_quote(a)}" for a in keys)
    sql = (
        f"SELECT {', '.join(select)}, SUM(u.{_quote('m_accounts')}) AS {_quote('m_accounts')} "  # noqa: S608
        f"FROM ({' UNION ALL '.join(parts)}) u GROUP BY {group}"
    )
    return sql, tuple(params)


REACH_COLUMNS = [*(DIM_COLUMNS[a] for a in DIMS), "scope", "series", "prev_day", "accounts"]


def _reach_day_before(lookback: date, d1: date, series: str, scope: str) -> tuple[str, tuple]:
    """The last bank day in lookback..d1-1 of an agent's attempt (right-party for the "rpc" series) on
    the case `w.case_id` (by the agent `w.d_agent` for the "agent" scope): a subquery for `_reach_select`."""
    qs = src_attempts(lookback, d1 - timedelta(days=1), frozenset({"d_day"})).filter(
        agent__isnull=False, case_id=RawSQL("w.case_id", ())
    )
    if series == "rpc":
        qs = qs.filter(outcome__in=RIGHT_PARTY_OUTCOMES)
    if scope == "agent":
        qs = qs.filter(agent_id=RawSQL("w.d_agent", ()))
    return _sql(qs.order_by("-started_at").values("d_day")[:1])


# --- Building ---------------------------------------------------------------------------------------


def _insert(db_table: str, columns: list[str], select: tuple[str, tuple], level: str = "") -> int:
    sql, params = select
    if level:
        columns = ["level", *columns]
        sql = f"SELECT %s, z.* FROM ({sql}) z"  # noqa: S608
        params = (level, *params)
    with connection.cursor() as cursor:
        cursor.execute(f"INSERT INTO {_quote(db_table)} ({', '.join(map(_quote, columns))}) {sql}", params)
        return cursor.rowcount


def _roll_up(
    db_table: str,
    keep: frozenset,
    extra_columns: list[str],
    measures: list[str],
    *,
    source: str,
    target: str,
    d1: date,
    d2: date,
) -> int:
    """Sum the `source` level rows of the days into `target` level rows that keep only `keep`."""
    dim_cols = [DIM_COLUMNS[d] for d in DIMS]
    select = []
    for alias, col in zip(DIMS, dim_cols, strict=True):
        if alias in keep:
            select.append(_quote(col))
        else:
            select.append("''" if alias in TEXT_DIMS else "NULL")
    group = [_quote(DIM_COLUMNS[d]) for d in DIMS if d in keep] + [_quote(c) for c in extra_columns]
    extra = "".join(f"{_quote(c)}, " for c in extra_columns)
    columns = ["level", *dim_cols, *extra_columns, *measures]
    sql = (
        f"INSERT INTO {_quote(db_table)} ({', '.join(map(_quote, columns))}) "  # noqa: S608
        f"SELECT %s, {', '.join(select)}, {extra}"
        f"{', '.join(f'SUM({_quote(m)})' for m in measures)} FROM {_quote(db_table)} "
        f"WHERE level = %s AND day >= %s AND day <= %s GROUP BY {', '.join(group)}"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [target, source, d1, d2])
        return cursor.rowcount


def rebuild_days(d1: date, d2: date, tables: Iterable[str] | None = None) -> dict[str, int]:
    """Delete and rebuild the day-keyed rollups (every one, or those of `tables`: keys of TABLES, "reach",
    "agents") for the days d1..d2 (inclusive). One transaction."""
    counts = {}
    wanted = set(ALL_TABLES if tables is None else tables)
    with transaction.atomic():
        _no_jit()
        for table in TABLES.values():
            if table.key not in wanted:
                continue
            table.model.objects.filter(day__gte=d1, day__lte=d2).delete()
            counts[table.key] = _insert(
                table.db_table, _table_columns(table), _grouped_select(table, d1, d2), level="full"
            )
            extra = [col for col, _expr in table.extra.values()]
            measures = [c.name for c in table.columns]
            for level in ("case", "agent"):
                _roll_up(
                    table.db_table, LEVELS[level], extra, measures, source="full", target=level, d1=d1, d2=d2
                )
        if "reach" in wanted:
            counts.update(_rebuild_reach(d1, d2))
        if "agents" in wanted:
            counts.update(_rebuild_agents(d1, d2))
    return counts


def _no_jit() -> None:
    """PostgreSQL compiles a statement with JIT above a cost estimate; the rollup statements pass it (their
    per-case index probes are costed at their worst) and the compile took seconds - on a 2-core machine
    10 s of a reach rebuild that runs in a second. Off for the current transaction only."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL jit = off")


def _rebuild_reach(d1: date, d2: date) -> dict[str, int]:
    with transaction.atomic():
        ReachDaily.objects.filter(day__gte=d1, day__lte=d2).delete()
        counts = {}
        counts["reach"] = _insert(
            ReachDaily._meta.db_table, REACH_COLUMNS, _reach_select(d1, d2), level="bucket"
        )
        _roll_up(
            ReachDaily._meta.db_table,
            REACH_LEVELS["agent"],
            ["scope", "series", "prev_day"],
            ["accounts"],
            source="bucket",
            target="agent",
            d1=d1,
            d2=d2,
        )
    return counts


def _rebuild_agents(d1: date, d2: date) -> dict[str, int]:
    with transaction.atomic():
        AgentDaily.objects.filter(day__gte=d1, day__lte=d2).delete()
        return {
            "agents": _insert(
                AgentDaily._meta.db_table,
                ["day", "agent_id", "team_id", "active_slots", "first_at", "last_at"],
                _agent_select(d1, d2),
            )
        }


# The tables a nightly refresh rebuilds from the first day on which rows arrived since the last refresh
# (contacts, events, promises and payments are written when they happen, or logged late), and those it
# rebuilds over the REFRESH_DAYS days before (promises settle after their grace days, cases close and
# plans end on the day's own dates).
ARRIVAL_TABLES = ("activity", "reasons", "collections", "reach", "agents")
SETTLING_TABLES = ("promises", "flows")
ALL_TABLES = (*ARRIVAL_TABLES, *SETTLING_TABLES)


def seen_ids() -> dict[str, int]:
    """The last id of each table whose new rows are arrivals (read at a refresh: the next one looks at
    the rows after them only)."""
    return {
        key: model.objects.aggregate(last=Max("pk"))["last"] or 0
        for key, model in (
            ("attempt", ContactAttempt),
            ("event", CaseEvent),
            ("promise", PromiseToPay),
            ("payment", Payment),
        )
    }


def first_arrival_day(seen: dict) -> date | None:
    """The first bank day that rows written after the `seen` ids fall on (contacts and their corrections,
    refusals and notes, promises made, payments): each a range scan of the primary key from the last id
    seen, that is of the rows written since the last refresh."""
    moments = [
        ContactAttempt.objects.filter(pk__gt=seen.get("attempt", 0)).aggregate(m=Min("started_at"))["m"],
        ContactAttempt.objects.filter(
            pk__in=ContactAttempt.objects.filter(
                pk__gt=seen.get("attempt", 0), corrects__isnull=False
            ).values("corrects_id")
        ).aggregate(m=Min("started_at"))["m"],
        CaseEvent.objects.filter(
            pk__gt=seen.get("event", 0), kind__in=[EventKind.POLICY_REFUSED, EventKind.NOTE]
        ).aggregate(m=Min("created_at"))["m"],
        PromiseToPay.objects.filter(pk__gt=seen.get("promise", 0)).aggregate(m=Min("created_at"))["m"],
        Payment.objects.filter(pk__gt=seen.get("payment", 0)).aggregate(m=Min("paid_at"))["m"],
    ]
    days = [timezone.localtime(moment, bank_zone()).date() for moment in moments if moment is not None]
    return min(days) if days else None


def nightly_ranges(as_of: date, days: int | None = None, mark=None) -> dict[str, tuple[date, date]]:
    """What a refresh for `as_of` rebuilds: table key -> (first day, last day).

    With `days`, every table over those days before `as_of` (a backfill, a month rebuilt). The first
    refresh rolls up the history (a year at most), and one after missed nights every day since the
    last one. Otherwise (a night after a night) the SETTLING_TABLES are rebuilt over the REFRESH_DAYS
    days before `as_of` and the ARRIVAL_TABLES from the first day rows arrived on since the last refresh
    (`first_arrival_day`; usually yesterday alone)."""
    last = as_of - timedelta(days=1)
    window_first = last - timedelta(days=max(REFRESH_DAYS if days is None else days, 1) - 1)
    if mark is None:
        mark = RollupWatermark.objects.filter(pk=1).first()
    through = mark.through if mark is not None else None
    first = window_first
    if through is None:
        # The first refresh rolls up the history too (a year at most; earlier days stay live).
        first = min(first, max(earliest_day(last), last - timedelta(days=365)))
    elif through < window_first:
        first = max(through + timedelta(days=1), last - timedelta(days=365))
    if days is not None or through is None or through < window_first or not mark.seen_ids:
        return dict.fromkeys(ALL_TABLES, (first, last))
    arrived = min(through + timedelta(days=1), last)
    day = first_arrival_day(mark.seen_ids)
    if day is not None:
        arrived = max(min(arrived, day), last - timedelta(days=365))
    return {
        **dict.fromkeys(ARRIVAL_TABLES, (arrived, last)),
        **dict.fromkeys(SETTLING_TABLES, (window_first, last)),
    }


def _agent_query(d1: date, d2: date) -> QuerySet:
    zone = bank_zone()
    return (
        src_attempts(d1, d2, frozenset({"d_day"}))
        .filter(agent__isnull=False)
        .annotate(
            # A whole quarter-hour index (0..95) on every database: PostgreSQL's EXTRACT is numeric,
            # so minute / 15 without the cast is a fraction and every minute became a slot of its own.
            slot=Cast(ExtractHour("started_at", tzinfo=zone), IntegerField()) * 4
            + Cast(ExtractMinute("started_at", tzinfo=zone), IntegerField()) / Value(15),
            a_team=F("agent__team_id"),
        )
        .order_by()
        .values("d_day", "agent_id", "a_team")
        .annotate(
            active_slots=Count("slot", distinct=True), first_at=Min("started_at"), last_at=Max("started_at")
        )
    )


def _agent_select(d1: date, d2: date) -> tuple[str, tuple]:
    sql, params = _sql(_agent_query(d1, d2))
    cols = ["d_day", "agent_id", "a_team", "active_slots", "first_at", "last_at"]
    return f"SELECT {', '.join('p.' + _quote(c) for c in cols)} FROM ({sql}) p", params  # noqa: S608


def _money():
    return DecimalField(max_digits=16, decimal_places=2)


def snapshot_portfolio(day: date) -> int:
    """PortfolioDaily for `day`: the open cases as they stand now (run by the nightly that closes `day`)."""
    qs = (
        Case.objects.filter(state__in=OPEN_STATES)
        .annotate(
            d_day=Value(day, output_field=DateField()), d_agent=F("assigned_agent_id"), **_case_dims("")
        )
        .order_by()
        .values(*DIMS, "state")
        .annotate(
            m_cases=Count("pk"),
            m_balance=Coalesce(Sum("account__balance"), Value(0), output_field=_money()),
            m_overdue=Coalesce(Sum("account__overdue_amount"), Value(0), output_field=_money()),
        )
    )
    sql, params = _sql(qs)
    cols = [*DIMS, "state", "m_cases", "m_balance", "m_overdue"]
    select = ", ".join(f"COALESCE(p.{_quote(c)}, '')" if c in TEXT_DIMS else f"p.{_quote(c)}" for c in cols)
    with transaction.atomic():
        PortfolioDaily.objects.filter(day=day).delete()
        return _insert(
            PortfolioDaily._meta.db_table,
            [*(DIM_COLUMNS[a] for a in DIMS), "state", "cases", "balance", "overdue"],
            (f"SELECT {select} FROM ({sql}) p", params),  # noqa: S608
            level="full",
        )


# Days before the first nightly snapshot that a refresh estimates (the day before each period start the KPI
# page offers - the last 30 days, this month, last month, a quarter - has a snapshot to read).
PORTFOLIO_ESTIMATE_DAYS = 92


def _paid_since_select(moment) -> tuple[str, tuple]:
    """SELECT account_id, total: the payments received at or after `moment`, summed per account - what
    turns a balance now into the balance then (the estimates of past days)."""
    return _sql(
        Payment.objects.filter(paid_at__gte=moment)
        .order_by()
        .values("account_id")
        .annotate(total=Sum("amount"))
        .values("account_id", "total")
    )


def estimate_portfolio_day(day: date) -> int:
    """PortfolioDaily for a past `day` no nightly run snapshotted (before the first one): the cases open at
    its close, with their dimensions now, each at its account's balance now plus the payments received
    since (a balance moves between two daily files only by the payments recorded here) - the figures
    kpis.open_balance_rebuilt computes, kept once so that a page reads them in a few rows. One statement:
    the cases, and the payments since summed per account, joined once."""
    start = day_start(day + timedelta(days=1))
    cases = (
        Case.objects.filter(opened_at__lt=start)
        .filter(Q(closed_at__isnull=True) | Q(closed_at__gte=start))
        .annotate(
            d_day=Value(day, output_field=DateField()),
            d_agent=F("assigned_agent_id"),
            **_case_dims(""),
            c_account=F("account_id"),
            c_balance=F("account__balance"),
            c_overdue=F("account__overdue_amount"),
        )
        .order_by()
        .values(*DIMS, "state", "c_account", "c_balance", "c_overdue")
    )
    cases_sql, cases_params = _sql(cases)
    paid_sql, paid_params = _paid_since_select(start)
    keys = [*DIMS, "state"]
    select = ", ".join(f"COALESCE(c.{_quote(k)}, '')" if k in TEXT_DIMS else f"c.{_quote(k)}" for k in keys)
    group = ", ".join(f"c.{_quote(k)}" for k in keys)
    sql = (
        f"SELECT {select}, COUNT(*), SUM(c.c_balance + COALESCE(p.total, 0)), SUM(c.c_overdue) "  # noqa: S608
        f"FROM ({cases_sql}) c LEFT JOIN ({paid_sql}) p ON p.account_id = c.c_account GROUP BY {group}"
    )
    with transaction.atomic():
        PortfolioDaily.objects.filter(day=day).delete()
        return _insert(
            PortfolioDaily._meta.db_table,
            [*(DIM_COLUMNS[a] for a in DIMS), "state", "cases", "balance", "overdue"],
            (sql, (*cases_params, *paid_params)),
            level="full",
        )


def estimate_missing_portfolio_days(last: date) -> dict:
    """The days of the PORTFOLIO_ESTIMATE_DAYS before `last` (none before the first fact) without a
    PortfolioDaily snapshot, estimated (`estimate_portfolio_day`): a new installation's first night (or
    seeded data) pays it once; a night after a night finds none missing."""
    first = max(earliest_day(last), last - timedelta(days=PORTFOLIO_ESTIMATE_DAYS))
    have = set(
        PortfolioDaily.objects.filter(day__gte=first, day__lt=last).values_list("day", flat=True).distinct()
    )
    days, rows, day = 0, 0, first
    while day < last:
        if day not in have:
            rows += estimate_portfolio_day(day)
            days += 1
        day += timedelta(days=1)
    return {"portfolio_days_estimated": days, "portfolio_rows_estimated": rows}


def month_of(day: date) -> date:
    return day.replace(day=1)


def previous_month(month: date) -> date:
    return (month - timedelta(days=1)).replace(day=1)


def snapshot_month_end(month: date) -> int:
    """AccountMonthEnd for `month`: every account's bucket now (the month's end, or so far)."""
    a, ch = CreditAccount._meta.db_table, "collections_app_cardholder"
    c, q = Case._meta.db_table, Queue._meta.db_table
    sql = f"""
        INSERT INTO {_quote(AccountMonthEnd._meta.db_table)}
            (month, account_id, bucket, balance, currency, estimated, team_id, queue_id, agent_id,
             product, jurisdiction)
        SELECT %s, a.id, a.bucket, a.balance, a.currency, %s, q.team_id, c.queue_id, c.assigned_agent_id,
               a.product, ch.jurisdiction
        FROM {_quote(a)} a
        JOIN {_quote(ch)} ch ON ch.id = a.cardholder_id
        LEFT JOIN {_quote(c)} c ON c.account_id = a.id AND c.closed_at IS NULL
        LEFT JOIN {_quote(q)} q ON q.id = c.queue_id
    """  # noqa: S608 - table names from model metadata
    with transaction.atomic():
        AccountMonthEnd.objects.filter(month=month).delete()
        with connection.cursor() as cursor:
            cursor.execute(sql, [month, False])
            return cursor.rowcount


def build_transitions(month: date) -> int:
    """RollTransitionMonthly for `month`: bucket at the previous month's end -> bucket at this one's."""
    table = _quote(AccountMonthEnd._meta.db_table)
    sql = f"""
        INSERT INTO {_quote(RollTransitionMonthly._meta.db_table)}
            (month, team_id, queue_id, agent_id, product, jurisdiction, from_bucket, to_bucket,
             currency, accounts, balance)
        SELECT %s, f.team_id, f.queue_id, f.agent_id, f.product, f.jurisdiction, f.bucket, t.bucket,
               f.currency, COUNT(*), SUM(f.balance)
        FROM {table} f JOIN {table} t ON t.account_id = f.account_id AND t.month = %s
        WHERE f.month = %s
        GROUP BY f.team_id, f.queue_id, f.agent_id, f.product, f.jurisdiction, f.bucket, t.bucket,
                 f.currency
    """  # noqa: S608 - table names from model metadata
    with transaction.atomic():
        RollTransitionMonthly.objects.filter(month=month).delete()
        with connection.cursor() as cursor:
            cursor.execute(sql, [month, month, previous_month(month)])
            return cursor.rowcount


# Month-ends before the first nightly run that a refresh estimates (enough for the roll-rate matrix and
# the cure rate of the last few months; older ones stay empty).
MONTH_END_ESTIMATE_MONTHS = 3


def next_month(month: date) -> date:
    return (month.replace(day=28) + timedelta(days=4)).replace(day=1)


def estimate_month_end(month: date) -> int:
    """AccountMonthEnd for a month-end that no nightly run snapshotted (the month before the first one:
    a new installation, seeded data), estimated from what the base tables still say, `estimated=True`:

    - an account overdue now whose first missed due date is before the month-end has been overdue since
      then (only a payment that clears the overdue amount resets that date): its DPD then is exact;
    - else an account with a case open at the month-end was delinquent then; cases are opened on the
      night an account reaches 1 DPD, so its DPD is counted from the case's opening day (a lower bound
      when the case was opened later than that, e.g. for accounts imported already overdue);
    - else the account was current.
    The balance then is the balance now plus the payments received since (the system's own payments are
    what move a balance between two daily files). Dimensions are those of the case open then.
    One INSERT ... SELECT (the accounts joined once to the cases open then and the payments since)."""
    end = next_month(month) - timedelta(days=1)
    end_at = day_start(end + timedelta(days=1))
    # The case open at the month-end of each account (the latest opened, should there be two), with the
    # bank day it was opened on.
    open_then = (
        Case.objects.filter(opened_at__lt=end_at)
        .filter(Q(closed_at__isnull=True) | Q(closed_at__gte=end_at))
        .annotate(
            opened_day=TruncDate("opened_at", tzinfo=bank_zone()),
            team=F("queue__team_id"),
            rn=Window(
                RowNumber(), partition_by=[F("account_id")], order_by=[F("opened_at").desc(), F("pk").desc()]
            ),
        )
        .order_by()
        .values("pk", "account_id", "opened_day", "team", "queue_id", "assigned_agent_id", "rn")
    )
    open_sql, open_params = _sql(open_then)
    paid_sql, paid_params = _paid_since_select(end_at)
    # delinquency.days_past_due and bucket_for, as SQL over the rows of `x`.
    since_missed = _days_between("%s", "a.first_missed_due_date")
    since_opened = _days_between("%s", "c.opened_day") + " + 1"
    bucket, bucket_params = _compile(
        bucket_sql(RawSQL("x.dpd", (), output_field=IntegerField())), CreditAccount
    )
    a, ch = _quote(CreditAccount._meta.db_table), _quote("collections_app_cardholder")
    sql = f"""
        INSERT INTO {_quote(AccountMonthEnd._meta.db_table)}
            (month, account_id, bucket, balance, currency, estimated, team_id, queue_id, agent_id,
             product, jurisdiction)
        SELECT %s, x.id, {bucket}, x.balance, x.currency, %s, x.team, x.queue_id, x.assigned_agent_id,
               x.product, x.jurisdiction
        FROM (
            SELECT a.id, a.balance + COALESCE(p.total, 0) AS balance, a.currency, a.product,
                   ch.jurisdiction, c.team, c.queue_id, c.assigned_agent_id,
                   CASE WHEN a.first_missed_due_date IS NOT NULL AND a.overdue_amount > 0
                             AND a.first_missed_due_date < %s THEN {since_missed}
                        WHEN c.account_id IS NOT NULL THEN
                             CASE WHEN {since_opened} < 1 THEN 1 ELSE {since_opened} END
                        ELSE 0 END AS dpd
            FROM {a} a
            JOIN {ch} ch ON ch.id = a.cardholder_id
            LEFT JOIN ({open_sql}) c ON c.account_id = a.id AND c.rn = 1
            LEFT JOIN ({paid_sql}) p ON p.account_id = a.id
            WHERE a.opened_on IS NULL OR a.opened_on <= %s
        ) x
    """  # noqa: S608 - table names from model metadata, values are parameters
    params = [
        month,
        *bucket_params,
        True,
        end,
        end,
        end,
        end,
        *open_params,
        *paid_params,
        end,
    ]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.rowcount


def _days_between(end_sql: str, start_sql: str) -> str:
    """Whole days from the date `start_sql` to the date `end_sql` (SQL over dates), on either database."""
    if connection.vendor == "sqlite":
        return f"CAST(julianday({end_sql}) - julianday({start_sql}) AS INTEGER)"
    return f"(CAST({end_sql} AS date) - {start_sql})"


def _compile(expression, model) -> tuple[str, tuple]:
    """An ORM expression as SQL and its parameters (to place in a hand-written statement)."""
    query = model.objects.all().query
    compiler = query.get_compiler(connection=connection)
    sql, params = compiler.compile(expression.resolve_expression(query))
    return sql, tuple(params)


def estimate_missing_month_ends(last: date) -> dict:
    """The month-ends before `last`'s month (MONTH_END_ESTIMATE_MONTHS of them, none before the first
    fact in the database) that no nightly run snapshotted: estimated (`estimate_month_end`), and the
    roll-rate transitions of the months they open or close rebuilt."""
    first_fact = earliest_day(last)
    months, month = [], month_of(last)
    for _ in range(MONTH_END_ESTIMATE_MONTHS):
        month = previous_month(month)
        if next_month(month) - timedelta(days=1) >= first_fact - timedelta(days=1):
            months.append(month)
    have = set(AccountMonthEnd.objects.filter(month__in=months).values_list("month", flat=True).distinct())
    estimated, transitions = 0, 0
    for month in sorted(set(months) - have):
        estimated += estimate_month_end(month)
        for later in (month, next_month(month)):
            ends = AccountMonthEnd.objects.filter(month__in=[previous_month(later), later])
            if ends.values("month").distinct().count() == 2:
                transitions += build_transitions(later)
    return {"month_ends_estimated": estimated, "transitions_rebuilt": transitions}


@dataclass(frozen=True)
class Freshness:
    """What the rollups hold: `through` is the last day a read takes from them (today, when today has
    intraday rows), `nightly` the last day of the nightly refresh, `today_as_of` the time of the intraday
    rows in use (None: today is read live), `late` whether they are older than
    DASHBOARDS_INTRADAY_MAX_AGE_MINUTES (the every-few-minutes refresh has stopped: the page says so)."""

    through: date | None
    nightly: date | None
    today_as_of: object = None
    since: date | None = None
    late: bool = False


def intraday_max_age() -> timedelta:
    return timedelta(minutes=settings.DASHBOARDS_INTRADAY_MAX_AGE_MINUTES)


def freshness(now=None) -> Freshness:
    row = (
        RollupWatermark.objects.filter(pk=1).values("since", "through", "intraday_day", "intraday_at").first()
    )
    if row is None:
        return Freshness(None, None)
    now = now or timezone.now()
    through = row["through"]
    today = bank_today(now)
    if (
        row["intraday_day"] == today
        and through is not None
        and through == today - timedelta(days=1)
        and row["intraday_at"] is not None
    ):
        # Today's rows are read however old they are: a page never sums a whole day of the contact log
        # (seconds at a million accounts); when they are late it says so, with their time.
        late = now - row["intraday_at"] > intraday_max_age()
        return Freshness(today, through, row["intraday_at"], row["since"], late)
    return Freshness(through, through, None, row["since"])


def watermark(now=None) -> date | None:
    """The last day reads take from the rollup tables (later days are computed live)."""
    return freshness(now).through


def _coverage(through) -> tuple[date | None, date | None]:
    """(since, through) from a Freshness, or from a bare `through` date (then since is unknown: None)."""
    if isinstance(through, Freshness):
        return through.since, through.through
    return None, through


def refresh_today(*, now=None) -> dict:
    """Roll up today so far (every few minutes, a beat task), so that reads of today sum a few rows
    instead of the day's contact log, and snapshot the open cases (queue depths and aging "now").
    Used while the nightly refresh is up to yesterday, marked late once older than
    DASHBOARDS_INTRADAY_MAX_AGE_MINUTES; before the first of the day, today is read live."""
    now = now or timezone.now()
    today = bank_today(now)
    started = clock.monotonic()
    with transaction.atomic():
        mark = _lock_watermark()
        counts = rebuild_days(today, today)
        # The open cases as they stand (queue depths, aging): today's PortfolioDaily, replaced by the
        # nightly snapshot of the day once it is over.
        counts["portfolio"] = snapshot_portfolio(today)
        mark.intraday_day, mark.intraday_at = today, now
        mark.save(update_fields=["intraday_day", "intraday_at"])
    counts["seconds"] = round(clock.monotonic() - started, 3)
    return counts


def refresh(*, as_of: date, days: int | None = None, snapshots: bool = True) -> dict:
    """Rollups for business date `as_of`: rebuild the day-keyed tables up to the day before it - the days
    `nightly_ranges` says: those whose rows changed since the last refresh, every day since the last one
    after missed nights (up to a year), or the `days` days before it - and move the watermark to the day
    before; with `snapshots`, also take the snapshots of that day (`refresh_snapshots`). Idempotent: a
    second run rebuilds the same rows."""
    started = clock.monotonic()
    last = as_of - timedelta(days=1)
    with transaction.atomic():
        # The watermark row's lock serialises refreshes (a nightly one and the intraday one, or two
        # workers): each deletes and re-inserts rows, which two at once would duplicate.
        mark = _lock_watermark()
        ranges = nightly_ranges(as_of, days, mark)
        seen = seen_ids()  # before the rebuild: a row written during it is seen by the next refresh
        counts: dict = {}
        by_range: dict[tuple[date, date], list[str]] = {}
        for key, span in ranges.items():
            by_range.setdefault(span, []).append(key)
        for (d1, d2), keys in sorted(by_range.items()):
            counts.update(rebuild_days(d1, d2, keys))
        first = min(d1 for d1, _d2 in ranges.values())
        if snapshots:
            counts.update(_snapshots(last))
        # The roll rates and the cure rate compare two month-ends; before the first nightly run has
        # seen one, the last few are estimated from the history (a new installation, seeded data).
        counts.update(estimate_missing_month_ends(last))
        # The KPI page's opening balance of a period reads the snapshot of the day before it; the days
        # before the first nightly snapshot are estimated once (a pass over the cases each, not per read).
        counts.update(estimate_missing_portfolio_days(last))
        seconds = round(clock.monotonic() - started, 3)
        if mark.since is None or first < mark.since:
            mark.since = first
        mark.through = max(filter(None, [mark.through, last]))
        mark.refreshed_at = timezone.now()
        mark.last_as_of = as_of
        spans = {key: f"{d1.isoformat()}..{d2.isoformat()}" for key, (d1, d2) in ranges.items()}
        mark.last_counts = {**counts, "from": first.isoformat(), "to": last.isoformat(), "days": spans}
        mark.last_seconds = seconds
        mark.seen_ids = seen
        mark.save()
    logger.info("dashboards: rollups %s..%s in %.1fs %s", first, last, seconds, counts)
    return {**counts, "from": first.isoformat(), "to": last.isoformat(), "days": spans, "seconds": seconds}


def rebuild(d1: date, d2: date) -> dict:
    """Every day rollup of d1..d2 rebuilt in full (`manage.py rollups_rebuild`), up to the watermark at
    most (later days are read live). The watermark does not move; its first day moves back to d1 when the
    days rebuilt reach it."""
    started = clock.monotonic()
    with transaction.atomic():
        mark = _lock_watermark()
        if mark.through is None:
            return {"from": d1.isoformat(), "to": d2.isoformat(), "seconds": 0.0, "note": "no rollups yet"}
        d2 = min(d2, mark.through)
        counts = rebuild_days(d1, d2) if d1 <= d2 else {}
        if d1 <= d2 and mark.since is not None and d1 < mark.since <= d2 + timedelta(days=1):
            mark.since = d1
            mark.save(update_fields=["since"])
    seconds = round(clock.monotonic() - started, 3)
    logger.info("dashboards: rollups rebuilt %s..%s in %.1fs %s", d1, d2, seconds, counts)
    return {**counts, "from": d1.isoformat(), "to": d2.isoformat(), "seconds": seconds}


def earliest_day(default: date) -> date:
    """The first day any source has a fact on (each a MIN over an indexed column)."""
    firsts = [
        ContactAttempt.objects.order_by("started_at").values_list("started_at", flat=True).first(),
        Case.objects.order_by("opened_at").values_list("opened_at", flat=True).first(),
        Payment.objects.order_by("paid_at").values_list("paid_at", flat=True).first(),
    ]
    days = [timezone.localtime(moment, bank_zone()).date() for moment in firsts if moment is not None]
    due = PromiseToPay.objects.order_by("due_date").values_list("due_date", flat=True).first()
    if due is not None:
        days.append(due)
    return min([*days, default])


def _snapshots(last: date) -> dict:
    month = month_of(last)
    return {
        "portfolio": snapshot_portfolio(last),
        "month_end": snapshot_month_end(month),
        "transitions": build_transitions(month),
    }


def refresh_snapshots(*, as_of: date) -> dict:
    """The stocks at the close of the day before `as_of` - the open cases (PortfolioDaily), every
    account's bucket for that month's end (AccountMonthEnd) and the month's roll-rate transitions - taken
    before the nightly pipeline moves days past due and buckets to `as_of`. Idempotent."""
    with transaction.atomic():
        _lock_watermark()
        return _snapshots(as_of - timedelta(days=1))


def _lock_watermark() -> RollupWatermark:
    RollupWatermark.objects.get_or_create(pk=1)
    return RollupWatermark.objects.select_for_update().get(pk=1)


def nightly_snapshot_step(ctx) -> dict:
    """automation.pipeline step, FIRST in the pipeline: the day-end snapshots (ctx has `as_of`)."""
    return refresh_snapshots(as_of=ctx.as_of)


def nightly_step(ctx) -> dict:
    """automation.pipeline step, LAST in the pipeline (promises and plans are settled by then): the
    day tables up to the day before `as_of` (ctx has `as_of`)."""
    return refresh(as_of=ctx.as_of, snapshots=False)


# --- Reading ----------------------------------------------------------------------------------------


def _rollup_rows(
    db_table: str, aliases: list[str], columns: list[str], d1: date, d2: date, filters: Filters, level: str
):
    where = ["level = %s", "day >= %s", "day <= %s"]
    params: list = [level, d1, d2]
    if filters.teams is not None:
        if not filters.teams:
            where.append("1 = 0")
        else:
            where.append(f"team_id IN ({', '.join(['%s'] * len(filters.teams))})")
            params.extend(filters.teams)
    for alias, value in filters.conditions().items():
        where.append(f"{_quote(DIM_COLUMNS[alias])} = %s")
        params.append(value)
    select = ", ".join(
        f"{_quote(col)} AS {_quote(alias)}" for alias, col in zip(aliases, columns, strict=True)
    )
    sql = f"SELECT {select} FROM {_quote(db_table)} WHERE {' AND '.join(where)}"  # noqa: S608
    return sql, tuple(params)


def _union(
    table_key: str, d1: date, d2: date, filters: Filters, through, group: Iterable[str]
) -> tuple[str, tuple]:
    """Rows of `table_key` for d1..d2: rollup rows up to the watermark `through` (at the smallest level
    that keeps the dimensions the read needs), live rows after it (joining only what those need)."""
    needed = needed_dims(filters, group)
    if table_key == "reach":
        aliases, columns, db_table = REACH_ALIASES, REACH_COLUMNS, ReachDaily._meta.db_table
        level = level_for(needed, REACH_LEVELS)
        live_dims = REACH_LEVELS[level] if level else ALL_DIMS
    else:
        table = TABLES[table_key]
        aliases, columns, db_table = table.aliases, _table_columns(table), table.db_table
        level = level_for(needed)
        live_dims = frozenset(needed | {"d_day"})
    since, through = _coverage(through)
    if level is None:  # a reach read on dimensions it does not keep: all live
        since = through = None
    segments = []  # (first day, last day, from the rollups?)
    if through is None:
        segments.append((d1, d2, False))
    else:
        start = d1 if since is None else max(d1, since)
        if d1 < start:
            segments.append((d1, min(d2, start - timedelta(days=1)), False))
        if start <= min(d2, through):
            segments.append((start, min(d2, through), True))
        if through < d2:
            segments.append((max(d1, through + timedelta(days=1)), d2, False))
    parts, params = [], []
    for first, last, rolled in segments:
        if first > last:
            continue
        if rolled:
            sql, p = _rollup_rows(db_table, aliases, columns, first, last, filters, level)
        elif table_key == "reach":
            # A read counts one scope (kpis.reach_where): per agent when it filters or groups on agents.
            scope = "agent" if "d_agent" in needed else "case"
            sql, p = _reach_select(first, last, filters, live_dims, scopes=(scope,))
        else:
            sql, p = _grouped_select(TABLES[table_key], first, last, filters, live_dims)
        parts.append(sql)
        params.extend(p)
    return " UNION ALL ".join(parts), tuple(params)


def read(
    table_key: str,
    filters: Filters,
    d1: date,
    d2: date,
    *,
    measures: dict[str, str],
    group: tuple[str, ...] = (),
    where: tuple[tuple[str, tuple], ...] = (),
    through=...,
) -> list[dict]:
    """Aggregate a table over d1..d2 within `filters`. `measures`: output name -> SQL over the aliases
    (e.g. "SUM(x.m_attempts)"); `group`: aliases to group by; `where`: extra (sql, params) conditions;
    `through`: the watermark if the caller has read it already (one query saved per call)."""
    if through is ...:
        through = freshness()
    union, params = _union(table_key, d1, d2, filters, through, group)
    select = [f"x.{_quote(g)} AS {_quote(g)}" for g in group]
    select += [f"{expr} AS {_quote(name)}" for name, expr in measures.items()]
    sql = f"SELECT {', '.join(select)} FROM ({union}) x"  # noqa: S608
    all_params = list(params)
    if where:
        sql += " WHERE " + " AND ".join(f"({w})" for w, _p in where)
        for _w, p in where:
            all_params.extend(p)
    if group:
        sql += " GROUP BY " + ", ".join(f"x.{_quote(g)}" for g in group)
    with read_connection().cursor() as cursor:  # the read replica for the dashboards (core.db_routing)
        cursor.execute(sql, all_params)
        names = [c[0] for c in cursor.description]
        return [typed_row(dict(zip(names, row, strict=True))) for row in cursor.fetchall()]


DATE_ALIASES = ("d_day", "d_prev")


def as_day(value) -> date | None:
    """A day as the database hands it back: a date (PostgreSQL), or text "YYYY-MM-DD" (SQLite, whose
    raw cursors do not convert the result of a UNION or a GROUP BY)."""
    if value is None or isinstance(value, date):
        return value
    return date.fromisoformat(str(value)[:10])


def typed_row(row: dict) -> dict:
    """One row of `read` with its day columns as dates, whichever database answered."""
    for alias in DATE_ALIASES:
        if alias in row:
            row[alias] = as_day(row[alias])
    return row


def today() -> date:
    return bank_today()
