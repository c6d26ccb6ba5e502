"""Automation pages for supervisors and admins: the nightly run records and the outbound message log.

Run records hold no personal data and are shown to every supervisor; the message log is scoped like cases
(a supervisor sees the messages of their team's cases, an admin all) and masks every recipient."""

from __future__ import annotations

from datetime import timedelta
from functools import wraps

from django.contrib import messages as flash
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.db.models import Count, Prefetch
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import formats, timezone
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_GET, require_POST

from accounts.permissions import Capability, has_capability
from automation import pipeline as nightly
from automation.models import NightlyRun, NightlyStep, RunStatus
from automation.tasks import nightly_queue
from collections_app.access import visible_through_case
from messaging.models import MessageChannel, MessageStatus, OutboundMessage, Purpose
from messaging.services import mask_recipient

RUNS_PER_PAGE = 20
MESSAGES_PER_PAGE = 50


def supervisor_or_admin(view):
    """Anonymous users go to the login page; a role with neither SUPERVISE nor ADMINISTER gets 403."""

    @wraps(view)
    def wrapped(request, *args, **kwargs):
        if not request.user.is_authenticated:
            return redirect_to_login(request.get_full_path())
        if not (
            has_capability(request.user, Capability.SUPERVISE)
            or has_capability(request.user, Capability.ADMINISTER)
        ):
            raise PermissionDenied(_("Automation pages are for supervisors and admins."))
        return view(request, *args, **kwargs)

    return wrapped


def _counts_lines(counts: dict) -> list[tuple[str, str]]:
    """A step's counts as (label, value) lines: nested dicts one level deep, lists as their length."""
    lines = []
    for key, value in counts.items():
        if isinstance(value, dict):
            lines += [
                (f"{key} · {k or '—'}", str(v)) for k, v in value.items() if not isinstance(v, dict | list)
            ]
        elif isinstance(value, list):
            lines.append((key, str(len(value))))
        else:
            lines.append((key, str(value)))
    return lines


@supervisor_or_admin
@require_GET
def run_list(request: HttpRequest) -> HttpResponse:
    runs = NightlyRun.objects.prefetch_related(
        Prefetch("steps", queryset=NightlyStep.objects.order_by("position"))
    ).order_by("-started_at", "-id")
    page = Paginator(runs, RUNS_PER_PAGE).get_page(request.GET.get("page"))
    descriptions = {s.name: s.description for s in nightly.STEPS}
    now = timezone.now()
    for run in page:
        run.stale = nightly.run_is_stale(run, now)
        for step in run.steps.all():
            step.count_lines = _counts_lines(step.counts)
            step.description = descriptions.get(step.name, "")
    context = {
        "page": page,
        # While a run works, the page follows it (HTMX polling; a meta refresh without JavaScript).
        "watching": any(run.status == RunStatus.RUNNING and not run.stale for run in page),
        "can_start": has_capability(request.user, Capability.ADMINISTER),
        "business_date": nightly.business_date(now),
    }
    template = "automation/run_list.html"
    if request.htmx:
        template += "#runs"
    return render(request, template, context)


@supervisor_or_admin
@require_POST
def run_start(request: HttpRequest) -> HttpResponse:
    """An admin's "Run now": today's run, on the worker, like the schedule's (automation.tasks)."""
    if not has_capability(request.user, Capability.ADMINISTER):
        raise PermissionDenied(_("Only admins start the nightly run."))
    try:
        run = nightly_queue(trigger=f"page:{request.user.username}"[:40])
    except nightly.RunInProgress as exc:
        flash.warning(request, _("Not started: %(reason)s.") % {"reason": exc})
    else:
        flash.success(
            request,
            _("Run #%(run)s for %(date)s started; its steps appear below as the worker runs them.")
            % {"run": run.pk, "date": formats.date_format(run.run_date, "SHORT_DATE_FORMAT")},
        )
    return redirect("automation_runs")


FILTERS = {
    "status": (MessageStatus, _("Any status")),
    "purpose": (Purpose, _("Any purpose")),
    "channel": (MessageChannel, _("Any channel")),
}


@supervisor_or_admin
@require_GET
def message_list(request: HttpRequest) -> HttpResponse:
    visible = visible_through_case(request.user, OutboundMessage.objects.all())
    chosen = {}
    messages = visible
    for name, (choices, _any) in FILTERS.items():
        value = request.GET.get(name, "")
        if value in choices.values:
            chosen[name] = value
            messages = messages.filter(**{name: value})
    reference = request.GET.get("case", "").strip()
    if reference:
        chosen["case"] = reference
        messages = messages.filter(case__reference=reference)
    # No COUNT over a table that grows by the day: fetch one row more than a page to know if there is a next.
    # Newest first by ID (the primary key's index; IDs grow with planning time).
    try:
        number = max(1, int(request.GET.get("page", "1")))
    except ValueError:
        number = 1
    start = (number - 1) * MESSAGES_PER_PAGE
    rows = list(
        messages.select_related("case__account__cardholder").order_by("-id")[
            start : start + MESSAGES_PER_PAGE + 1
        ]
    )
    has_next = len(rows) > MESSAGES_PER_PAGE
    rows = rows[:MESSAGES_PER_PAGE]
    for message in rows:
        message.recipient_masked = (
            mask_recipient(message.channel, message.recipient) if message.recipient else ""
        )
    since = timezone.now() - timedelta(hours=24)
    summary = dict(
        visible.filter(created_at__gte=since).values_list("status").annotate(n=Count("pk")).order_by()
    )
    context = {
        "rows": rows,
        "page_number": number,
        "has_next": has_next,
        "chosen": chosen,
        "query": "&".join(f"{k}={v}" for k, v in chosen.items()),
        "filters": [
            (name, any_label, choices.choices, chosen.get(name, ""))
            for name, (choices, any_label) in FILTERS.items()
        ],
        "summary": [(label, summary.get(value, 0)) for value, label in MessageStatus.choices],
    }
    template = "automation/message_list.html"
    if request.htmx:
        template += "#messages"
    return render(request, template, context)
