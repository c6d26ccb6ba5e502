"""Every KPI the dashboards show: its written formula, next to the code that computes it.

Two layers:
- MEASURES are counts and sums over one source (collections_app rows for a period, see
  dashboards.rollups.SOURCES) with one filter. Each is computed two ways that must agree: from the
  rollup tables (`figures`, fast, what the pages show) and straight from the base tables
  (`measure_live`, what the drill-down lists and the rollup test use).
- KPIS are formulas over measures. The text in `formula` is shown on the page under each number and in
  docs/kpis.md; the lambda in `compute` is the same formula in code.

Conventions: a rate is None (shown "—") when its denominator is 0; money is an Amounts (currency ->
Decimal, core.money): amounts in different currencies are never added, and a rate over money (kept rate
by amount, liquidation) is a rate per currency. A period is a closed range of the bank's days
(scope.Period). docs/kpis.md says why each definition was chosen.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal

from django.db.models import Count, Exists, F, Max, OuterRef, Q, QuerySet, Sum
from django.db.models.functions import Coalesce
from django.utils.translation import gettext_lazy as _

from collections_app.models import Bucket, Case, Payment, PromiseStatus
from core.money import Amounts
from dashboards import rollups
from dashboards.models import PortfolioDaily, RollTransitionMonthly
from dashboards.scope import Filters, Period

ZERO = Decimal("0.00")
DELINQUENT_BUCKETS = tuple(b for b in Bucket.values if b != Bucket.CURRENT)
ACTIVE_HOURS = _(
    "Active hours: the number of distinct quarter-hours in which the agent logged at least one contact "
    "attempt, divided by 4 (the system has no log-in clock)."
)


# --- Measures ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Measure:
    key: str
    table: str  # a rollups.TABLES key, or "reach"
    column: str  # the rollup column (m_<column>) summed
    where: dict = field(default_factory=dict)  # extra dimension alias -> allowed values
    list_kind: str = (
        "contacts"  # what its drill-down lists: contacts | events | promises | payments | cases ...
    )
    money: bool = False

    def source(self) -> str:
        if self.table == "reach":
            return "attempts"
        return rollups.TABLES[self.table].column(self.column).source


def _m(key, table, column=None, *, where=None, kind="contacts", money=False) -> Measure:
    return Measure(key, table, column or key, where or {}, kind, money)


KEPT_OR_BROKEN = {"d_status": (PromiseStatus.KEPT, PromiseStatus.BROKEN)}
MEASURES: dict[str, Measure] = {
    m.key: m
    for m in [
        _m("attempts", "activity"),
        _m("calls", "activity"),
        _m("answered", "activity"),
        _m("rpc", "activity"),
        _m("talk_seconds", "activity"),
        _m("handled_calls", "activity"),
        _m("overrides", "activity"),
        _m("complaint_contacts", "activity"),
        _m("refusals", "activity", kind="events"),
        _m("complaint_notes", "activity", kind="events"),
        _m("promises_made", "activity", kind="promises"),
        _m("promised_amount", "activity", kind="promises", money=True),
        _m("accounts_attempted", "reach", "accounts", where={"d_series": ("attempt",)}, kind="cases"),
        _m("accounts_rpc", "reach", "accounts", where={"d_series": ("rpc",)}, kind="cases"),
        _m(
            "promises_kept",
            "promises",
            "promises",
            where={"d_status": (PromiseStatus.KEPT,)},
            kind="promises",
        ),
        _m(
            "promises_broken",
            "promises",
            "promises",
            where={"d_status": (PromiseStatus.BROKEN,)},
            kind="promises",
        ),
        _m(
            "promises_open",
            "promises",
            "promises",
            where={"d_status": (PromiseStatus.PENDING,)},
            kind="promises",
        ),
        _m("promises_due_amount", "promises", "amount", where=KEPT_OR_BROKEN, kind="promises", money=True),
        _m(
            "promises_paid_amount",
            "promises",
            "paid_capped",
            where=KEPT_OR_BROKEN,
            kind="promises",
            money=True,
        ),
        _m("payments", "collections", kind="payments"),
        _m("collected", "collections", "amount", kind="payments", money=True),
        _m("opened", "flows", kind="cases"),
        _m("opened_balance", "flows", kind="cases", money=True),
        _m("cured", "flows", kind="cases"),
        _m("resolved_other", "flows", kind="cases"),
        _m("written_off", "flows", kind="cases"),
        _m("escalated", "flows", kind="referrals"),
        _m("plans_activated", "flows", kind="plans"),
        _m("plans_completed", "flows", kind="plans"),
        _m("plans_broken", "flows", kind="plans"),
    ]
}


def _sql_literal(value: str) -> str:
    if not str(value).replace("_", "").isalnum():
        raise ValueError(f"unexpected dimension value {value!r}")
    return f"'{value}'"


def _sum_expr(measure: Measure) -> str:
    column = f"x.m_{measure.column}"
    if not measure.where:
        return f"COALESCE(SUM({column}), 0)"
    cond = " AND ".join(
        f"x.{alias} IN ({', '.join(_sql_literal(v) for v in values)})"
        for alias, values in measure.where.items()
    )
    return f"COALESCE(SUM(CASE WHEN {cond} THEN {column} ELSE 0 END), 0)"


def reach_where(filters: Filters, period: Period, group: tuple[str, ...] = ()) -> tuple[str, tuple]:
    """The ReachDaily rows that count each account once: per agent when an agent is chosen (or the read
    is per agent), else per account; and only the first day in the period (no earlier day inside it)."""
    return "x.d_scope = %s AND (x.d_prev IS NULL OR x.d_prev < %s)", (
        "agent" if filters.agent or "d_agent" in group else "case",
        period.start,
    )


def read_measures(
    keys: list[str], filters: Filters, period: Period, *, group: tuple[str, ...] = (), through=...
) -> list[dict]:
    """Measures from the rollups (plus today live), one query per table, optionally grouped. A money
    measure comes back as an Amounts (its table is read per currency as well); a count as an int."""
    by_table: dict[str, list[Measure]] = {}
    for key in keys:
        by_table.setdefault(MEASURES[key].table, []).append(MEASURES[key])
    merged: dict[tuple, dict] = {}
    for table, measures in by_table.items():
        where = (reach_where(filters, period, group),) if table == "reach" else ()
        per_currency = any(m.money for m in measures)
        rows = rollups.read(
            table,
            filters,
            period.start,
            period.end,
            measures={m.key: _sum_expr(m) for m in measures},
            group=(*group, "d_currency") if per_currency else group,
            where=where,
            through=through,
        )
        for row in rows:
            k = tuple(row[g] for g in group)
            out = merged.setdefault(k, {g: row[g] for g in group})
            for m in measures:
                if m.money:
                    out[m.key] = out.get(m.key, Amounts()) + Amounts({row["d_currency"]: row[m.key]})
                else:
                    out[m.key] = out.get(m.key, 0) + int(row[m.key] or 0)
    out_rows = []
    for row in merged.values():
        for key in keys:
            row.setdefault(key, Amounts() if MEASURES[key].money else 0)
        out_rows.append(row)
    if not group and not out_rows:
        out_rows = [{key: (Amounts() if MEASURES[key].money else 0) for key in keys}]
    return out_rows


def figures(keys: list[str], filters: Filters, period: Period, *, through=...) -> dict:
    return read_measures(keys, filters, period, through=through)[0]


# --- The same measures, straight from the base tables ----------------------------------------------


def source_rows(measure: Measure, filters: Filters, period: Period) -> QuerySet:
    """The base-table rows a measure counts (the drill-down list before it is shown)."""
    source = measure.source()
    qs = rollups.SOURCES[source](period.start, period.end)
    if measure.table == "reach":
        qs = qs.filter(agent__isnull=False)
        if measure.key == "accounts_rpc":
            qs = qs.filter(outcome__in=rollups.RIGHT_PARTY_OUTCOMES)
        return qs.filter(filters.q())
    table = rollups.TABLES[measure.table]
    if table.extra:
        qs = qs.annotate(**rollups._extra_annotations(table))
    column = table.column(measure.column)
    qs = qs.filter(filters.q()).filter(column.q)
    for alias, values in measure.where.items():
        qs = qs.filter(**{f"{alias}__in": values})
    return qs


def measure_live(key: str, filters: Filters, period: Period):
    """The measure computed directly (no rollup): the reference the rollup must agree with."""
    measure = MEASURES[key]
    rows = source_rows(measure, filters, period)
    if measure.table == "reach":
        return rows.order_by().values("case_id").distinct().count()
    column = rollups.TABLES[measure.table].column(measure.column)
    if measure.money:
        totals = rows.order_by().values("d_currency").annotate(total=Sum(column.sum_of))
        return Amounts((row["d_currency"], row["total"]) for row in totals)
    if column.sum_of:
        total = rows.aggregate(total=Coalesce(Sum(column.sum_of), 0, output_field=column._output()))["total"]
        return int(total)
    return rows.aggregate(n=Count("pk"))["n"]


def drill_cases(measure: Measure, filters: Filters, period: Period) -> QuerySet[Case]:
    """For measures counted per account: the cases behind them."""
    rows = source_rows(measure, filters, period)
    if measure.source() in ("cases_opened", "cases_closed"):
        return Case.objects.filter(pk__in=rows.values("pk"))
    return Case.objects.filter(pk__in=rows.values("case_id"))


# --- KPIs -------------------------------------------------------------------------------------------


def ratio(numerator, denominator) -> Decimal | None:
    if not denominator:
        return None
    return (Decimal(numerator) / Decimal(denominator)).quantize(Decimal("0.0001"))


def ratio_per_currency(numerator: Amounts, denominator: Amounts) -> dict[str, Decimal]:
    """A rate of two money figures, currency by currency (there is no exchange rate to pool them):
    one rate for each currency the denominator has."""
    return {c: ratio(numerator.get(c), amount) for c, amount in denominator.items()}


def _liquidation(f: dict) -> dict[str, Decimal] | None:
    if f.get("open_start") is None:
        return None
    return ratio_per_currency(f["collected"], f["open_start"] + f["opened_balance"])


@dataclass(frozen=True)
class Kpi:
    key: str
    label: str
    formula: str
    unit: str  # "count" | "rate" | "money" | "seconds" | "per_hour"; a money rate is {currency: rate}
    measures: tuple[str, ...]
    compute: Callable[[dict], object]
    drill: str  # the measure whose list a click opens
    group: str = "contact"  # contact | promise | recovery | compliance


KPIS: list[Kpi] = [
    Kpi(
        "contact_attempts",
        _("Contact attempts"),
        _("Contact attempts logged by agents in the period (any channel; a corrected attempt counts once)."),
        "count",
        ("attempts",),
        lambda f: f["attempts"],
        "attempts",
    ),
    Kpi(
        "contact_rate",
        _("Contact rate"),
        _("Attempts that reached a person (right party, third party or wrong number) ÷ contact attempts."),
        "rate",
        ("answered", "attempts"),
        lambda f: ratio(f["answered"], f["attempts"]),
        "answered",
    ),
    Kpi(
        "rpc_rate",
        _("Right-party contact rate (per attempt)"),
        _("Right-party contacts ÷ contact attempts."),
        "rate",
        ("rpc", "attempts"),
        lambda f: ratio(f["rpc"], f["attempts"]),
        "rpc",
    ),
    Kpi(
        "rpc_rate_accounts",
        _("Right-party contact rate (per account)"),
        _("Accounts with at least one right-party contact ÷ accounts attempted at least once."),
        "rate",
        ("accounts_rpc", "accounts_attempted"),
        lambda f: ratio(f["accounts_rpc"], f["accounts_attempted"]),
        "accounts_rpc",
    ),
    Kpi(
        "promise_rate",
        _("Promise rate"),
        _(
            "Promises to pay recorded with their contact ÷ right-party contacts. A promise counts when it "
            "was recorded against the contact it was made in, or its recorder had a right-party contact "
            "with the case that day."
        ),
        "rate",
        ("promises_made", "rpc"),
        lambda f: ratio(f["promises_made"], f["rpc"]),
        "promises_made",
        "promise",
    ),
    Kpi(
        "kept_rate",
        _("Promise kept rate (count)"),
        _(
            "Promises due in the period that were kept ÷ those kept or broken. Kept: paid in full by the "
            "promised date plus the grace days. Promises still open (within grace) are left out."
        ),
        "rate",
        ("promises_kept", "promises_broken", "promises_open"),
        lambda f: ratio(f["promises_kept"], f["promises_kept"] + f["promises_broken"]),
        "promises_kept",
        "promise",
    ),
    Kpi(
        "kept_rate_amount",
        _("Promise kept rate (amount)"),
        _(
            "For promises due in the period that were kept or broken: amount paid toward them (at most each "
            "promised amount) ÷ amount promised, per currency. A partial payment counts for what was paid."
        ),
        "rate",
        ("promises_paid_amount", "promises_due_amount"),
        lambda f: ratio_per_currency(f["promises_paid_amount"], f["promises_due_amount"]),
        "promises_broken",
        "promise",
    ),
    Kpi(
        "broken_promises",
        _("Broken promises"),
        _("Promises due in the period that were broken (not paid in full by the date plus grace days)."),
        "count",
        ("promises_broken",),
        lambda f: f["promises_broken"],
        "promises_broken",
        "promise",
    ),
    Kpi(
        "amount_collected",
        _("Amount collected"),
        _("Sum of the payments received in the period, per currency."),
        "money",
        ("collected",),
        lambda f: f["collected"],
        "collected",
        "recovery",
    ),
    Kpi(
        "liquidation_rate",
        _("Liquidation rate"),
        _(
            "Amount collected ÷ (balance of the open cases at the start of the period, from the nightly "
            "snapshot of the day before, + balance of the cases opened in the period), per currency. "
            "Before the first nightly snapshot: the balance of the cases then open, now plus the payments "
            "since."
        ),
        "rate",
        ("collected", "open_start", "opened_balance"),
        _liquidation,
        "collected",
        "recovery",
    ),
    Kpi(
        "cure_rate",
        _("Cure rate"),
        _(
            "For each month of the period: accounts delinquent (M1 or later) at the end of the month before "
            "that are current at the end of the month (or last night, for the running month) ÷ accounts "
            "delinquent at the end of the month before; months pooled. A month-end before the first nightly "
            "run is estimated (as for the roll rates)."
        ),
        "rate",
        ("cure_cured", "cure_base"),
        lambda f: ratio(f["cure_cured"], f["cure_base"]),
        "cure_cured",
        "recovery",
    ),
    Kpi(
        "cases_cured",
        _("Cases cured"),
        _("Cases closed in the period as cured, paid in full or plan completed."),
        "count",
        ("cured",),
        lambda f: f["cured"],
        "cured",
        "recovery",
    ),
    Kpi(
        "escalations",
        _("Escalations to legal"),
        _("Cases referred to legal review in the period (by a person or an escalation rule)."),
        "count",
        ("escalated",),
        lambda f: f["escalated"],
        "escalated",
        "recovery",
    ),
    Kpi(
        "plans_activated",
        _("Plans started"),
        _("Repayment plans that became active in the period."),
        "count",
        ("plans_activated",),
        lambda f: f["plans_activated"],
        "plans_activated",
        "recovery",
    ),
    Kpi(
        "plans_completed",
        _("Plans completed"),
        _("Repayment plans completed (every installment paid) in the period."),
        "count",
        ("plans_completed",),
        lambda f: f["plans_completed"],
        "plans_completed",
        "recovery",
    ),
    Kpi(
        "plans_broken",
        _("Plans broken"),
        _("Repayment plans broken (an installment unpaid past its grace days) in the period."),
        "count",
        ("plans_broken",),
        lambda f: f["plans_broken"],
        "plans_broken",
        "recovery",
    ),
    Kpi(
        "refusals",
        _("Attempts refused by the contact policy"),
        _("Contact attempts the contact policy refused (quiet hours, caps, flags, holds) in the period."),
        "count",
        ("refusals",),
        lambda f: f["refusals"],
        "refusals",
        "compliance",
    ),
    Kpi(
        "overrides",
        _("Supervisor overrides"),
        _("Contacts logged over a refusal of the contact policy, by a supervisor with a recorded reason."),
        "count",
        ("overrides",),
        lambda f: f["overrides"],
        "overrides",
        "compliance",
    ),
    Kpi(
        "complaints",
        _("Complaints"),
        _(
            "Contacts and notes flagged as a complaint (their text carries #complaint or #投诉) in the "
            "period: contacts + notes."
        ),
        "count",
        ("complaint_contacts", "complaint_notes"),
        lambda f: f["complaint_contacts"] + f["complaint_notes"],
        "complaint_contacts",
        "compliance",
    ),
    Kpi(
        "aht",
        _("Average handle time"),
        _(
            "Talk time of agents' calls ÷ calls with a duration (handled calls). Hold and wrap-up time are "
            "not logged."
        ),
        "seconds",
        ("talk_seconds", "handled_calls"),
        lambda f: ratio(f["talk_seconds"], f["handled_calls"]),
        "calls",
    ),
]
KPI_BY_KEY = {k.key: k for k in KPIS}

RPC_PER_HOUR = _("Right-party contacts ÷ active hours.")
PLANS_ACTIVE = _("Repayment plans active now (a stock, not a period figure).")
ROLL_RATE = _(
    "Accounts in bucket B at the end of the month before that are in bucket B' at the end of the month "
    "(or last night, for the running month) ÷ accounts in bucket B at the end of the month before. "
    "Right of the diagonal: rolled forward; left: rolled back (cured or partly paid). A month-end before "
    "the first nightly run is estimated from the first missed due dates and the cases then open."
)
REASONS = _("Right-party contacts in the period by the reason for delinquency recorded on them.")


def all_measure_keys() -> list[str]:
    """The MEASURES the KPIs read (the month-based and snapshot figures are read apart)."""
    keys: list[str] = []
    for kpi in KPIS:
        keys.extend(m for m in kpi.measures if m in MEASURES and m not in keys)
    return keys


MEASURE_LABELS = {
    "attempts": _("contact attempts"),
    "calls": _("calls"),
    "answered": _("attempts that reached a person"),
    "rpc": _("right-party contacts"),
    "talk_seconds": _("talk time (seconds)"),
    "handled_calls": _("handled calls"),
    "overrides": _("overridden refusals"),
    "complaint_contacts": _("contacts flagged as complaint"),
    "complaint_notes": _("notes flagged as complaint"),
    "refusals": _("refused attempts"),
    "promises_made": _("promises recorded with their contact"),
    "promised_amount": _("amount promised"),
    "accounts_attempted": _("accounts attempted"),
    "accounts_rpc": _("accounts reached (right party)"),
    "promises_kept": _("promises kept"),
    "promises_broken": _("promises broken"),
    "promises_open": _("promises still open"),
    "promises_due_amount": _("amount promised (kept or broken)"),
    "promises_paid_amount": _("amount paid toward them"),
    "payments": _("payments"),
    "collected": _("amount collected"),
    "opened": _("cases opened"),
    "opened_balance": _("balance of the cases opened"),
    "cured": _("cases cured"),
    "resolved_other": _("cases resolved otherwise"),
    "written_off": _("cases written off"),
    "escalated": _("referrals to legal"),
    "plans_activated": _("plans started"),
    "plans_completed": _("plans completed"),
    "plans_broken": _("plans broken"),
    "cure_cured": _("accounts cured"),
    "cure_base": _("accounts delinquent at the month-end before"),
    "open_start": _("balance open at the start (nightly snapshot)"),
    "plans_active": _("plans active now"),
}
SPECIAL_LABELS = {k: MEASURE_LABELS[k] for k in ("cure_cured", "cure_base", "open_start", "plans_active")}


# --- Month-based figures: roll rates and cure rate ------------------------------------------------------


def months_in(period: Period) -> list[date]:
    months, month = [], period.start.replace(day=1)
    while month <= period.end:
        months.append(month)
        month = _next_month(month)
    return months


previous_month = rollups.previous_month


def _next_month(month: date) -> date:
    return date(month.year + (month.month == 12), month.month % 12 + 1, 1)


def transitions(filters: Filters, months: list[date]) -> QuerySet:
    qs = RollTransitionMonthly.objects.filter(month__in=months)
    if filters.teams is not None:
        qs = qs.filter(team_id__in=filters.teams)
    for alias, value in filters.conditions().items():
        if alias == "d_bucket":
            qs = qs.filter(from_bucket=value)
        else:
            qs = qs.filter(**{rollups.DIM_COLUMNS[alias]: value})
    return qs


def cure_figures(filters: Filters, period: Period) -> dict:
    rows = (
        transitions(filters, months_in(period))
        .filter(from_bucket__in=DELINQUENT_BUCKETS)
        .aggregate(
            base=Coalesce(Sum("accounts"), 0),
            cured=Coalesce(Sum("accounts", filter=Q(to_bucket=Bucket.CURRENT)), 0),
        )
    )
    return {"cure_base": rows["base"], "cure_cured": rows["cured"]}


@dataclass
class RollMatrix:
    month: date | None
    buckets: list[str]
    rows: list[dict]  # {"from": b, "total": n, "cells": [{"to": b2, "n": n, "rate": r, "heat": 0..9}]}


def latest_roll_month(end: date) -> date:
    """The month the roll-rate matrix opens on: the last month up to `end` with transitions (on the
    first night of a month its own transitions are not built yet), else `end`'s month."""
    month = RollTransitionMonthly.objects.filter(month__lte=end).aggregate(m=Max("month"))["m"]
    return month or end.replace(day=1)


HEAT_STEPS = 10


def heat_step(share: Decimal | None) -> int | None:
    """The shade of a heatmap cell, 0 (none) .. 9 (all): its share in tenths; None for no share (an
    empty row). CSS classes heat-0 .. heat-9 colour it (no inline style)."""
    if share is None:
        return None
    return min(int(share * HEAT_STEPS), HEAT_STEPS - 1)


def roll_matrix(filters: Filters, month: date) -> RollMatrix:
    """Accounts by bucket at the month-end before `month` and at `month`'s end (counts: the balance
    would add currencies together)."""
    buckets = list(Bucket.values)
    counts: dict[tuple[str, str], int] = {}
    for row in (
        transitions(filters.without("bucket"), [month])
        .values("from_bucket", "to_bucket")
        .annotate(n=Sum("accounts"))
        .order_by()
    ):
        counts[(row["from_bucket"], row["to_bucket"])] = row["n"] or 0
    rows = []
    for b in buckets:
        total = sum(counts.get((b, b2), 0) for b2 in buckets)
        rows.append(
            {
                "from": b,
                "total": total,
                "cells": [
                    {
                        "to": b2,
                        "n": counts.get((b, b2), 0),
                        "rate": ratio(counts.get((b, b2), 0), total),
                        "heat": heat_step(ratio(counts.get((b, b2), 0), total)),
                        "side": "same"
                        if b == b2
                        else ("back" if buckets.index(b2) < buckets.index(b) else "forward"),
                    }
                    for b2 in buckets
                ],
            }
        )
    return RollMatrix(month=month, buckets=buckets, rows=rows)


def open_balance_at_start(filters: Filters, period: Period) -> Amounts | None:
    """The balance of the cases open at the start of the period, per currency: from the nightly snapshot
    of the day before (PortfolioDaily); for a day no nightly run snapshotted (before the first one),
    from the cases open at that moment, each account's balance now plus the payments received since
    (`open_balance_rebuilt`). None only when nothing was open then and no snapshot says so."""
    day = period.start - timedelta(days=1)
    qs = PortfolioDaily.objects.filter(day=day, level="full")
    if not qs.exists():
        return open_balance_rebuilt(filters, period)
    if filters.teams is not None:
        qs = qs.filter(team_id__in=filters.teams)
    for alias, value in filters.conditions().items():
        qs = qs.filter(**{rollups.DIM_COLUMNS[alias]: value})
    rows = qs.order_by().values("currency").annotate(total=Sum("balance"))
    return Amounts((row["currency"], row["total"]) for row in rows)


def open_balance_rebuilt(filters: Filters, period: Period) -> Amounts | None:
    """The open balance at the start without a snapshot: the cases open at that moment (the same cases
    as the "open_start" drill-down), with their dimensions now; a balance moves between two daily files
    only by the payments recorded here, so the balance then is the balance now plus the payments since.
    Two set-based sums: the balances of those cases (one pass), and the payments since the start whose
    account has one of them (the payments are few; each finds its case by the account's index). None when
    no case was open then (a period before the first case)."""
    start = period.start_at
    if not Case.objects.filter(opened_at__lt=start).exists():
        return None
    cases = (
        Case.objects.filter(opened_at__lt=start)
        .filter(Q(closed_at__isnull=True) | Q(closed_at__gte=start))
        .annotate(**rollups._case_dims(""), d_agent=F("assigned_agent_id"))
        .filter(filters.q())
    )
    balances = cases.order_by().values("d_currency").annotate(total=Sum("account__balance"))
    paid_since = (
        Payment.objects.filter(paid_at__gte=start)
        .filter(Exists(cases.filter(account_id=OuterRef("account_id"))))
        .order_by()
        .values("account__currency")
        .annotate(total=Sum("amount"))
    )
    return Amounts((row["d_currency"], row["total"]) for row in balances) + Amounts(
        (row["account__currency"], row["total"]) for row in paid_since
    )


def kpi_values(filters: Filters, period: Period, *, through=...) -> dict:
    """Every measure the KPIs need, in a fixed number of queries."""
    values = figures(all_measure_keys(), filters, period, through=through)
    values.update(cure_figures(filters, period))
    values["open_start"] = open_balance_at_start(filters, period)
    return values


# --- The promise funnel ----------------------------------------------------------------------------------

FUNNEL = _(
    "Right-party contacts and promises recorded (with their contact) in the period; promises due in the "
    "period (by promised date, so not only those recorded in it), and of those the kept and broken ones "
    "(each ÷ the promises settled) and the ones still open (÷ promises due)."
)


@dataclass(frozen=True)
class FunnelStep:
    key: str  # the measure (or "promises_due") its drill-down lists
    label: str
    count: int
    rate: Decimal | None  # ÷ the count of `base`; None for the first step or a base of 0
    base: str  # what the rate is of ("" for the first step)


def promise_funnel(values: dict) -> list[FunnelStep]:
    """The promise funnel from the KPI values (no query): right-party contacts -> promises recorded ->
    promises due -> kept / broken / still open. The due promises are counted by promised date, a set
    that overlaps the promises recorded but is not a subset of it: the honest rate of each step is
    given with its own base."""
    rpc, made = values["rpc"], values["promises_made"]
    kept, broken, still_open = values["promises_kept"], values["promises_broken"], values["promises_open"]
    due, settled = kept + broken + still_open, kept + broken
    return [
        FunnelStep("rpc", _("Right-party contacts"), rpc, None, ""),
        FunnelStep(
            "promises_made", _("Promises recorded"), made, ratio(made, rpc), _("of right-party contacts")
        ),
        FunnelStep("promises_due", _("Promises due"), due, None, ""),
        FunnelStep("promises_kept", _("Kept"), kept, ratio(kept, settled), _("of promises settled")),
        FunnelStep("promises_broken", _("Broken"), broken, ratio(broken, settled), _("of promises settled")),
        FunnelStep(
            "promises_open", _("Still open"), still_open, ratio(still_open, due), _("of promises due")
        ),
    ]
