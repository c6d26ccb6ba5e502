"""Supervisor and legal dashboards, drill-down lists and team management.

Pages are GET views that render the full page or, for an HTMX request, the fragment that changed; every
table has a CSV twin at the same URL with ?export=<table>. Actions are POST views that call one service
(dashboards.team, dashboards.services) and go back where they came from with a message. The read-only
pages and their exports read the read replica when one is configured (core.db_routing.replica_reads);
the team page, where a supervisor acts on what they see, reads the primary."""

from __future__ import annotations

import csv
from collections.abc import Iterable, Iterator, Mapping
from datetime import date

from django.contrib import messages
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import formats, timezone
from django.utils.html import escape
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET, require_POST

from accounts.models import Role, User
from accounts.permissions import Capability, capability_required, has_capability
from collections_app.access import get_case_for_user
from collections_app.models import Bucket
from core.clock import bank_today
from core.db_routing import replica_reads
from core.exceptions import DomainError, NotAllowed
from core.masking import mask_name, redact
from dashboards import kpis, rollups, selectors, services, team
from dashboards.exports import audited_exports, personal_rows
from dashboards.forms import (
    EARLIEST,
    LATEST,
    AgentSettingsForm,
    BulkReassignForm,
    DashboardFilterForm,
    InboxAnswerForm,
    ReassignForm,
)
from dashboards.models import AgentStatus, Availability
from dashboards.scope import Filters, Period, teams_for
from repayment_plans.selectors import plan_status

FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
MAX_DRILL_PAGE = 1_000_000
AGENT_COLUMN_LABELS = [
    ("name", gettext_lazy("Agent")),
    ("attempts", gettext_lazy("Attempts")),
    ("rpc", gettext_lazy("RPC")),
    ("rpc_per_hour", gettext_lazy("RPC per hour")),
    ("promises_made", gettext_lazy("Promises")),
    ("kept_rate", gettext_lazy("Kept rate")),
    ("collected", gettext_lazy("Collected")),
    ("aht", gettext_lazy("Average handle time")),
    ("overrides", gettext_lazy("Overrides")),
]
AVAILABILITY_LABELS = dict(Availability.choices)
SPECIAL_DRILLS = {
    "cure_cured": "cure_cured",
    "cure_base": "cure_base",
    "open_start": "open_start",
    "plans_active": "plans_active",
}


# --- Helpers ------------------------------------------------------------------------------------------


def _back(request: HttpRequest, default: str) -> HttpResponse:
    target = request.POST.get("next") or request.GET.get("next") or ""
    if not url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}):
        target = default
    return redirect(target or default)


def _cell(value) -> str:
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(FORMULA_PREFIXES) and not _is_number(text) else text


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


class _Echo:
    def write(self, value):
        return value


def csv_response(filename: str, header: list[str], rows: Iterable[Iterable]) -> StreamingHttpResponse:
    """A CSV download, streamed row by row (a drill-down can be long); cells that a spreadsheet would
    run as a formula are prefixed with a quote."""
    writer = csv.writer(_Echo())

    def lines() -> Iterator[str]:
        yield "\ufeff"  # a BOM, so that spreadsheet programs read UTF-8 (Chinese names) correctly
        yield writer.writerow(header)
        for row in rows:
            yield writer.writerow([_cell(v) for v in row])

    response = StreamingHttpResponse(lines(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


def _filter_form(request: HttpRequest) -> tuple[DashboardFilterForm, Filters, Period, str]:
    form = DashboardFilterForm(request.GET or None, user=request.user)
    filters, period, choice = form.result(bank_today())
    return form, filters, period, choice


def _query_without(request: HttpRequest, *names: str) -> str:
    query = request.GET.copy()
    for name in names:
        query.pop(name, None)
    return query.urlencode()


def _percent(value) -> str:
    return "" if value is None else f"{value * 100:.1f}%"


def _currencies(amounts: Iterable[Mapping]) -> list[str]:
    """Every currency the money figures of a table have, in order: one CSV column each."""
    return sorted({currency for figure in amounts for currency in figure})


def _per_currency(label, currencies: list[str]) -> list[str]:
    return [_("%(label)s (%(currency)s)") % {"label": label, "currency": c} for c in currencies]


def _amounts(figure: Mapping, currencies: list[str]) -> list:
    return [figure.get(c, "") for c in currencies]


# --- Supervisor home ------------------------------------------------------------------------------------


@capability_required(Capability.SUPERVISE)
@require_GET
@replica_reads
@audited_exports
def home(request: HttpRequest) -> HttpResponse:
    form, filters, period, _choice = _filter_form(request)
    now = timezone.now()
    data = selectors.team_now(
        request.user, filters.without("queue", "product", "jurisdiction", "bucket"), now=now
    )
    export = request.GET.get("export")
    if export == "agents":
        currencies = _currencies(r.collected for r in data.agents)
        return csv_response(
            "team-now.csv",
            [
                _("Agent"),
                _("Status"),
                _("Availability"),
                _("Case"),
                _("Attempts"),
                _("RPC"),
                _("Promises"),
                *_per_currency(_("Collected"), currencies),
            ],
            (
                [
                    r.agent,
                    r.status,
                    AVAILABILITY_LABELS.get(r.availability, r.availability),
                    r.current_case.reference if r.current_case else "",
                    r.attempts,
                    r.rpc,
                    r.promises,
                    *_amounts(r.collected, currencies),
                ]
                for r in data.agents
            ),
        )
    if export == "queues":
        header = [_("Queue"), _("Open"), *(label for _s, label in data.states), *data.buckets]
        return csv_response(
            "queue-depths.csv",
            header,
            (
                [
                    q.name or _("No queue"),
                    q.total,
                    *(q.by_state.get(s, 0) for s, _l in data.states),
                    *(q.by_bucket.get(b, 0) for b in data.buckets),
                ]
                for q in data.queues
            ),
        )
    if export in ("callbacks", "leases"):
        cases = data.callbacks_overdue if export == "callbacks" else data.stuck_leases
        return csv_response(
            f"{export}.csv",
            [_("Case"), _("Cardholder"), _("Agent"), _("Next action"), _("Lease holder"), _("Lease expires")],
            personal_rows(
                request.export_access,
                (
                    (
                        c.pk,
                        [
                            c.reference,
                            c.account.cardholder.name,
                            c.assigned_agent or "",
                            c.next_action_at,
                            c.lease_owner or "",
                            c.lease_expires_at,
                        ],
                    )
                    for c in cases
                ),
                {1: mask_name},
            ),
        )
    context = {
        "form": form,
        "data": data,
        "now": now,
        "agents_for_reassign": team.agents_managed_by(request.user).order_by("first_name", "username"),
        "inbox_form": InboxAnswerForm(),
        "availability_labels": AVAILABILITY_LABELS,
        "tab": "home",
    }
    return render(request, "dashboards/home.html", context)


# --- KPIs ----------------------------------------------------------------------------------------------


def _kpi_rows(values: dict) -> list[dict]:
    rows = []
    for kpi in kpis.KPIS:
        rows.append(
            {
                "kpi": kpi,
                "value": kpi.compute(values),
                "parts": [(m, kpis.MEASURE_LABELS.get(m, m), values.get(m)) for m in kpi.measures],
            }
        )
    return rows


@capability_required(Capability.SUPERVISE)
@require_GET
@replica_reads
@audited_exports
def kpi_page(request: HttpRequest) -> HttpResponse:
    form, filters, period, choice = _filter_form(request)
    fresh = rollups.freshness()
    through = fresh  # reads take the days fresh.since..fresh.through from the rollups
    values = kpis.kpi_values(filters, period, through=through)
    rows = _kpi_rows(values)
    sort = request.GET.get("sort", "attempts")
    descending = request.GET.get("dir", "desc") != "asc"
    agents = selectors.agent_table(filters, period, through=through, sort=sort, descending=descending)
    trend = selectors.daily_trend(filters, period, through=through)
    aging_from = selectors.open_cases_snapshot(fresh)
    aging = selectors.aging(request.user, filters, snapshot=aging_from)
    reasons = selectors.reasons(filters, period, through=through)
    try:
        roll_month = date.fromisoformat(request.GET.get("roll_month", "")).replace(day=1)
    except ValueError:
        roll_month = None
    if roll_month is None or not EARLIEST <= roll_month <= LATEST:  # year 1 or 9999: the latest instead
        roll_month = kpis.latest_roll_month(period.end)
    roll = kpis.roll_matrix(filters, roll_month)
    funnel = kpis.promise_funnel(values)
    export = request.GET.get("export")
    if export == "funnel":
        return csv_response(
            "promise-funnel.csv",
            [_("Step"), _("Count"), _("Rate"), _("Of")],
            ([str(f.label), f.count, _percent(f.rate), str(f.base)] for f in funnel),
        )
    if export:
        return _kpi_export(
            export, rows=rows, agents=agents, trend=trend, aging=aging, reasons=reasons, roll=roll
        )
    context = {
        "form": form,
        "filters": filters,
        "period": period,
        "period_choice": choice,
        "fresh": fresh,
        "groups": _grouped(rows),
        "plans_group": _("Recovery"),
        "agent_columns": AGENT_COLUMN_LABELS,
        "values": values,
        "agents": agents,
        "sort": sort,
        "descending": descending,
        "trend": trend,
        "aging": aging,
        "aging_from": aging_from,
        "reasons": reasons,
        "roll": roll,
        "roll_prev": kpis.previous_month(roll_month),
        "roll_next": kpis._next_month(roll_month),
        "plans_active": selectors.plans_active(request.user, filters),
        "query": _query_without(request, "sort", "dir", "export", "page"),
        "chart_trend": {
            "labels": [d["day"].isoformat() for d in trend],
            "ticks": [formats.date_format(d["day"], "MONTH_DAY_FORMAT") for d in trend],  # as the table
            "attempts": [d["attempts"] for d in trend],
            "rpc": [d["rpc"] for d in trend],
            "promises": [d["promises_made"] for d in trend],
            # Per currency (a chart never adds currencies together).
            "collected": {
                c: [float(d["collected"].get(c)) for d in trend]
                for c in _currencies(d["collected"] for d in trend)
            },
            "names": {"attempts": _("Attempts"), "rpc": _("RPC"), "promises": _("Promises")},
        },
        "chart_aging": {
            "labels": [str(Bucket(a["bucket"]).label) for a in aging],  # "Current" in the reader's language
            "cases": [a["cases"] for a in aging],
            "balance": {
                c: [float(a["balance"].get(c)) for a in aging]
                for c in _currencies(a["balance"] for a in aging)
            },
            "names": {"cases": _("Open cases")},
        },
        "funnel": funnel,
        "funnel_formula": kpis.FUNNEL,
        "measures": kpis.MEASURES,
        "chart_funnel": {
            "labels": [str(f.label) for f in funnel],
            "counts": [f.count for f in funnel],
            "rates": [None if f.rate is None else float(f.rate) for f in funnel],
            "names": {"count": _("Count")},
        },
        "active_hours_note": kpis.ACTIVE_HOURS,
        "rpc_per_hour_formula": kpis.RPC_PER_HOUR,
        "plans_active_formula": kpis.PLANS_ACTIVE,
        "roll_formula": kpis.ROLL_RATE,
        "reasons_formula": kpis.REASONS,
        "tab": "kpis",
    }
    if request.htmx:
        return render(request, "dashboards/kpis.html#kpi-body", context)
    return render(request, "dashboards/kpis.html", context)


def _grouped(rows: list[dict]) -> list[tuple[str, list[dict]]]:
    titles = {
        "contact": _("Contact"),
        "promise": _("Promises"),
        "recovery": _("Recovery"),
        "compliance": _("Compliance"),
    }
    return [(titles[g], [r for r in rows if r["kpi"].group == g]) for g in titles]


def _kpi_csv_lines(row: dict) -> list[list]:
    """A KPI's CSV lines: one, or one per currency for money and money rates (never a sum of them)."""
    kpi, value = row["kpi"], row["value"]
    if isinstance(value, Mapping):
        if not value:
            return [[str(kpi.label), "", "", str(kpi.formula)]]
        shown = (lambda v: _percent(v)) if kpi.unit == "rate" else (lambda v: v)
        return [[str(kpi.label), shown(v), c, str(kpi.formula)] for c, v in sorted(value.items())]
    if kpi.unit == "rate":
        value = _percent(value)
    return [[str(kpi.label), "" if value is None else value, "", str(kpi.formula)]]


def _kpi_export(export: str, *, rows, agents, trend, aging, reasons, roll) -> HttpResponse:
    if export == "kpis":
        return csv_response(
            "kpis.csv",
            [_("KPI"), _("Value"), _("Currency"), _("Formula")],
            (line for r in rows for line in _kpi_csv_lines(r)),
        )
    if export == "agents":
        currencies = _currencies(a.collected for a in agents)
        return csv_response(
            "agents.csv",
            [
                _("Agent"),
                _("Team"),
                _("Attempts"),
                _("Right-party contacts"),
                _("Active hours"),
                _("RPC per hour"),
                _("Promises"),
                _("Kept rate"),
                *_per_currency(_("Collected"), currencies),
                _("Average handle time (s)"),
                _("Overrides"),
            ],
            (
                [
                    a.name,
                    a.team,
                    a.attempts,
                    a.rpc,
                    a.active_hours,
                    a.rpc_per_hour,
                    a.promises_made,
                    _percent(a.kept_rate),
                    *_amounts(a.collected, currencies),
                    a.aht,
                    a.overrides,
                ]
                for a in agents
            ),
        )
    if export == "trend":
        currencies = _currencies(d["collected"] for d in trend)
        return csv_response(
            "daily.csv",
            [
                _("Day"),
                _("Attempts"),
                _("Right-party contacts"),
                _("Promises"),
                *_per_currency(_("Collected"), currencies),
            ],
            (
                [d["day"], d["attempts"], d["rpc"], d["promises_made"], *_amounts(d["collected"], currencies)]
                for d in trend
            ),
        )
    if export == "aging":
        currencies = _currencies([*(a["balance"] for a in aging), *(a["overdue"] for a in aging)])
        return csv_response(
            "aging.csv",
            [
                _("Bucket"),
                _("Open cases"),
                *_per_currency(_("Balance"), currencies),
                *_per_currency(_("Overdue"), currencies),
            ],
            (
                [
                    a["bucket"],
                    a["cases"],
                    *_amounts(a["balance"], currencies),
                    *_amounts(a["overdue"], currencies),
                ]
                for a in aging
            ),
        )
    if export == "reasons":
        return csv_response(
            "reasons.csv",
            [_("Reason"), _("Right-party contacts"), _("Share")],
            ([r["label"], r["rpc"], _percent(r["share"])] for r in reasons),
        )
    if export == "roll":
        return csv_response(
            f"roll-rates-{roll.month:%Y-%m}.csv",
            [_("From"), _("Accounts"), *roll.buckets],
            ([row["from"], row["total"], *(_percent(c["rate"]) for c in row["cells"])] for row in roll.rows),
        )
    raise Http404(_("No such table"))


# --- Drill-down ----------------------------------------------------------------------------------------


DRILL_HEADERS = {
    "contacts": ["time", "case", "cardholder", "agent", "channel", "outcome", "reason", "duration"],
    "events": ["time", "case", "cardholder", "actor", "kind", "text"],
    "promises": ["due", "case", "cardholder", "recorded by", "amount", "paid", "currency", "status"],
    "payments": ["paid at", "case", "account", "cardholder", "amount", "currency", "credited to"],
    "cases": ["case", "cardholder", "state", "bucket", "DPD", "balance", "currency", "agent", "queue"],
    "referrals": ["referred", "case", "cardholder", "reason", "rule", "decision"],
    "plans": ["plan", "case", "cardholder", "kind", "state", "amount", "currency", "proposed by"],
    "accounts": ["account", "cardholder", "bucket", "DPD", "balance", "currency"],
}


def _drill_csv_row(kind: str, row, agents: dict) -> list:
    if kind == "contacts":
        return [
            timezone.localtime(row.started_at),
            row.case.reference,
            row.case.account.cardholder.name,
            row.agent or "",
            row.get_channel_display(),
            row.get_outcome_display(),
            row.get_delinquency_reason_display() if row.delinquency_reason else "",
            row.duration_seconds,
        ]
    if kind == "events":
        return [
            timezone.localtime(row.created_at),
            row.case.reference,
            row.case.account.cardholder.name,
            row.actor or "",
            row.get_kind_display(),
            row.reason,
        ]
    if kind == "promises":
        return [
            row.due_date,
            row.case.reference,
            row.case.account.cardholder.name,
            row.created_by or "",
            row.amount,
            row.paid_amount,
            row.case.account.currency,
            row.get_status_display(),
        ]
    if kind == "payments":
        return [
            timezone.localtime(row.paid_at),
            row.case.reference if row.case else "",
            row.account.external_ref,
            row.account.cardholder.name,
            row.amount,
            row.currency,
            agents.get(row.d_agent, "") if row.d_agent else "",
        ]
    if kind == "cases":
        return [
            row.reference,
            row.account.cardholder.name,
            row.get_state_display(),
            row.account.bucket,
            row.account.days_past_due,
            row.account.balance,
            row.account.currency,
            row.assigned_agent or "",
            row.queue or "",
        ]
    if kind == "referrals":
        return [
            timezone.localtime(row.referred_at),
            row.case.reference,
            row.case.account.cardholder.name,
            row.reason,
            row.rule_name,
            row.get_decision_display(),
        ]
    if kind == "plans":
        return [
            row.pk,
            row.case.reference,
            row.case.account.cardholder.name,
            row.get_kind_display(),
            plan_status(row).label,
            row.payable_amount,
            row.currency,
            row.proposed_by,
        ]
    return [row.external_ref, row.cardholder.name, row.bucket, row.days_past_due, row.balance, row.currency]


def _drill_case_id(kind: str, row) -> int | None:
    if kind == "cases":
        return row.pk
    return None if kind == "accounts" else row.case_id


def _drill_maskers(kind: str) -> dict:
    """Which columns of a drill-down's CSV are personal: the cardholder's name, and the text of an event
    (a person's note may hold a number)."""
    header = DRILL_HEADERS[kind]
    maskers = {header.index("cardholder"): mask_name}
    if "text" in header:
        maskers[header.index("text")] = redact
    return maskers


def _drill_label(key: str) -> str:
    if key in SPECIAL_DRILLS:
        return str(kpis.SPECIAL_LABELS[key])
    return str(kpis.MEASURE_LABELS.get(key, key))


@capability_required(Capability.SUPERVISE)
@require_GET
@replica_reads
@audited_exports
def drill(request: HttpRequest, key: str) -> HttpResponse:
    if key not in kpis.MEASURES and key not in SPECIAL_DRILLS:
        raise Http404(_("No such figure"))
    form, filters, period, choice = _filter_form(request)
    if form.is_bound and form.non_field_errors():  # this page has no filter form to show them beside
        messages.error(request, " ".join(form.non_field_errors()))
    if request.GET.get("export") == "csv":
        kind, qs = selectors.drill_queryset(key, filters, period)
        agents: dict = {}
        if kind == "payments":
            workers = [Role.AGENT, Role.TEAM_LEAD, Role.SUPERVISOR, Role.HEAD]
            agents = {u.pk: str(u) for u in User.objects.filter(role__in=workers)}
        return csv_response(
            f"{key}-{period.start}-{period.end}.csv",
            DRILL_HEADERS[kind],
            personal_rows(
                request.export_access,
                (
                    (_drill_case_id(kind, row), _drill_csv_row(kind, row, agents))
                    for row in qs.iterator(chunk_size=2000)
                ),
                _drill_maskers(kind),
            ),
        )
    try:
        # Bounded: a huge page number would be an OFFSET beyond PostgreSQL's bigint.
        page_no = min(max(int(request.GET.get("page", "1")), 1), MAX_DRILL_PAGE)
    except ValueError:
        page_no = 1
    page = selectors.drill_page(key, filters, period, page=page_no)
    figure = None
    if key in kpis.MEASURES:
        figure = kpis.figures([key], filters, period)[key]
    context = {
        "form": form,
        "key": key,
        "label": _drill_label(key),
        "figure": figure,
        "period": period,
        "page": page,
        "query": _query_without(request, "page", "export"),
        "agents_for_reassign": team.agents_managed_by(request.user).order_by("first_name", "username"),
        "can_reassign": True,
        "tab": "kpis",
    }
    return render(request, "dashboards/drill.html", context)


# --- Team management -----------------------------------------------------------------------------------


def _domain_error(request: HttpRequest, error: DomainError) -> None:
    messages.error(request, error.message)


@capability_required(Capability.SUPERVISE)
@require_POST
def case_reassign(request: HttpRequest, case_id: int) -> HttpResponse:
    try:
        case = get_case_for_user(request.user, case_id)
    except NotAllowed as exc:
        raise PermissionDenied(exc.message) from exc
    form = ReassignForm(request.POST, agents=team.agents_managed_by(request.user))
    default = reverse("dashboards:home")
    if not form.is_valid():
        messages.error(request, _("Choose an agent of your team."))
        return _back(request, default)
    agent = form.cleaned_data["agent"]
    try:
        team.case_reassign(
            case_id=case.pk, actor=request.user, agent_id=agent.pk, reason=form.cleaned_data["reason"]
        )
    except DomainError as exc:
        _domain_error(request, exc)
        return _back(request, default)
    messages.success(
        request, _("%(case)s is now assigned to %(agent)s.") % {"case": case.reference, "agent": agent}
    )
    if request.htmx:
        text = escape(_("Assigned to %(agent)s") % {"agent": agent})
        return HttpResponse(f'<span class="badge badge-ok" role="status">{text}</span>')
    return _back(request, default)


def _bulk_reassign(request: HttpRequest, data: dict) -> tuple[int | None, bool]:
    """Count the matching cases (preview) or move them. Returns (preview count, moved)."""
    criteria = team.ReassignCriteria(
        case_ids=data["case_ids"],
        queue_id=data["queue"].pk if data["queue"] else None,
        bucket=data["bucket"] or "",
        state=data["state"] or "",
        from_agent_id=data["from_agent"].pk if data["from_agent"] else None,
        unassigned=data["unassigned"],
        min_dpd=data["min_dpd"],
        max_dpd=data["max_dpd"],
    )
    if request.POST.get("preview"):
        return team.cases_matching(request.user, criteria).count(), False
    try:
        result = team.cases_reassign_bulk(
            actor=request.user,
            criteria=criteria,
            agent_ids=[a.pk for a in data["agents"]],
            reason=data["reason"],
            limit=data["limit"] or team.MAX_BULK,
        )
    except DomainError as exc:
        _domain_error(request, exc)
        return None, False
    messages.success(
        request,
        _("%(n)s of %(matched)s matching cases reassigned.")
        % {"n": result.reassigned, "matched": result.matched},
    )
    return None, True


LIVE_LEASES = 50  # held leases listed on the team page's live part (the oldest expiry first)


def _team_live(user) -> dict:
    """The read-only, self-refreshing part of the team page: each agent's status and today's counts (as
    on Team now), the leases held in the team and how many have expired. A fixed number of queries,
    whatever the size of the team."""
    now = timezone.now()
    filters = Filters(teams=teams_for(user))
    held = selectors.scoped_cases(user, filters).filter(lease_owner__isnull=False)
    leases = list(held.select_related("lease_owner").order_by("lease_expires_at", "pk")[: LIVE_LEASES + 1])
    return {
        "now": now,
        "live_agents": selectors.agents_now(user, filters, now=now, through=rollups.freshness(now)),
        "live_leases": leases[:LIVE_LEASES],
        "more_leases": len(leases) > LIVE_LEASES,
        "stale_count": held.filter(lease_expires_at__lt=now).count(),
        "availability_labels": AVAILABILITY_LABELS,
    }


@capability_required(Capability.SUPERVISE)
@require_GET
def team_live(request: HttpRequest) -> HttpResponse:
    """The team page's live part alone (its HTMX poll, every 30 s): the forms around it keep their input.
    Opened as a page (not by the poll), it is the team page."""
    if not request.htmx:
        return redirect("dashboards:team")
    return render(request, "dashboards/team.html#team-live", _team_live(request.user))


@capability_required(Capability.SUPERVISE)
def team_page(request: HttpRequest) -> HttpResponse:
    agents = team.agents_managed_by(request.user).select_related("team").order_by("first_name", "username")
    queues = team.queues_managed_by(request.user).select_related("team")
    bulk = BulkReassignForm(request.POST or None, queues=queues, agents=agents)
    preview = None
    if request.method == "POST" and bulk.is_valid():
        preview, done = _bulk_reassign(request, bulk.cleaned_data)
        if done:
            return redirect("dashboards:team")
    statuses = {s.agent_id: s for s in AgentStatus.objects.filter(agent__in=agents)}
    memberships: dict[int, set[int]] = {}
    for agent_id, queue_id in queues.model.agents.through.objects.filter(user__in=agents).values_list(
        "user_id", "queue_id"
    ):
        memberships.setdefault(agent_id, set()).add(queue_id)
    rows = []
    for agent in agents:
        status = statuses.get(agent.pk)
        rows.append(
            {
                "agent": agent,
                "status": status,
                "form": AgentSettingsForm(
                    initial={
                        "availability": status.availability if status else Availability.AVAILABLE,
                        "note": status.note if status else "",
                        "queues": sorted(memberships.get(agent.pk, ())),
                    },
                    queues=queues,
                    prefix=f"a{agent.pk}",
                ),
            }
        )
    context = {
        **_team_live(request.user),
        "rows": rows,
        "bulk": bulk,
        "preview": preview,
        "max_bulk": team.MAX_BULK,
        "tab": "team",
    }
    return render(request, "dashboards/team.html", context, status=422 if request.method == "POST" else 200)


@capability_required(Capability.SUPERVISE)
@require_POST
def agent_settings(request: HttpRequest, agent_id: int) -> HttpResponse:
    queues = team.queues_managed_by(request.user)
    form = AgentSettingsForm(request.POST, queues=queues, prefix=f"a{agent_id}")
    if not form.is_valid():
        messages.error(request, _("Check the agent's settings."))
        return redirect("dashboards:team")
    try:
        team.agent_set_availability(
            actor=request.user,
            agent_id=agent_id,
            availability=form.cleaned_data["availability"],
            note=form.cleaned_data["note"],
        )
        team.agent_set_queues(
            actor=request.user, agent_id=agent_id, queue_ids=[q.pk for q in form.cleaned_data["queues"]]
        )
    except NotAllowed as exc:
        raise PermissionDenied(exc.message) from exc
    except DomainError as exc:
        _domain_error(request, exc)
    else:
        messages.success(request, _("Settings saved."))
    return redirect("dashboards:team")


@capability_required(Capability.SUPERVISE)
@require_POST
def leases_release(request: HttpRequest) -> HttpResponse:
    n = team.leases_release_stale(actor=request.user)
    messages.success(request, _("%(n)s stale leases released.") % {"n": n})
    return _back(request, reverse("dashboards:home"))


@capability_required(Capability.SUPERVISE)
@require_POST
def lease_release(request: HttpRequest, case_id: int) -> HttpResponse:
    try:
        case = get_case_for_user(request.user, case_id)
        released = team.lease_release(
            case_id=case.pk, actor=request.user, reason=request.POST.get("reason", "")
        )
    except NotAllowed as exc:
        raise PermissionDenied(exc.message) from exc
    if released:
        messages.success(request, _("%(case)s is free again.") % {"case": case.reference})
    return _back(request, reverse("dashboards:home"))


@capability_required(Capability.SUPERVISE)
@require_POST
def inbox_answer(request: HttpRequest, event_id: int) -> HttpResponse:
    form = InboxAnswerForm(request.POST)
    default = reverse("dashboards:home")
    if not form.is_valid():
        messages.error(request, _("Choose an answer."))
        return _back(request, default)
    action, note = form.cleaned_data["action"], form.cleaned_data["note"]
    try:
        if action == "escalate":
            services.inbox_escalate(event_id=event_id, actor=request.user, reason=note)
        else:
            services.inbox_close(
                event_id=event_id,
                actor=request.user,
                decision="declined" if action == "decline" else "done",
                note=note,
            )
    except NotAllowed as exc:
        raise PermissionDenied(exc.message) from exc
    except DomainError as exc:
        _domain_error(request, exc)
    else:
        messages.success(request, _("Answered."))
    return _back(request, default)


# --- Legal dashboard -----------------------------------------------------------------------------------


@require_GET
@replica_reads
@audited_exports
def legal_page(request: HttpRequest) -> HttpResponse:
    user = request.user
    if not user.is_authenticated:
        return redirect_to_login(request.get_full_path())
    if not (has_capability(user, Capability.LEGAL_REVIEW) or has_capability(user, Capability.SUPERVISE)):
        raise PermissionDenied(_("Your role may not use this page."))
    form, filters, period, choice = _filter_form(request)
    # A legal reviewer who supervises no team sees every case in a legal state, without team filters.
    is_legal = has_capability(user, Capability.LEGAL_REVIEW) and not has_capability(
        user, Capability.SUPERVISE
    )
    if is_legal:
        filters = Filters(teams=None)
    data = selectors.legal_dashboard(user, filters, period, as_of=bank_today())
    export = request.GET.get("export")
    if export == "age":
        return csv_response(
            "legal-review-age.csv",
            [_("Reason"), *data.bands, _("Total")],
            ([r["reason"] or _("Referred by a person"), *r["counts"], r["total"]] for r in data.by_reason),
        )
    if export == "decisions":
        return csv_response(
            "legal-decisions.csv",
            [_("Decision"), _("Reviewer"), _("Cases")],
            ([d["label"], d["reviewer"], d["n"]] for d in data.decisions),
        )
    if export == "outcomes":
        return csv_response(
            "litigation-outcomes.csv",
            [_("Outcome"), _("Cases")],
            ([o["label"], o["n"]] for o in data.outcomes),
        )
    if export == "limitation":
        return csv_response(
            "limitation-dates.csv",
            [_("Case"), _("Cardholder"), _("State"), _("Limitation date"), _("Days left")],
            personal_rows(
                request.export_access,
                (
                    (
                        r["case"].pk,
                        [
                            r["case"].reference,
                            r["case"].account.cardholder.name,
                            r["case"].get_state_display(),
                            r["limitation_date"],
                            r["days_left"],
                        ],
                    )
                    for r in data.limitation
                ),
                {1: mask_name},
            ),
        )
    return render(
        request,
        "dashboards/legal.html",
        {"form": form, "data": data, "period": period, "tab": "legal", "is_legal": is_legal},
    )
