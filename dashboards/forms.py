"""Forms of the dashboard pages: the period and filters, and the team-management actions."""

from __future__ import annotations

import calendar
from datetime import date, timedelta

from django import forms
from django.utils.translation import gettext_lazy as _

from accounts.models import Role, Team, User
from collections_app.models import OPEN_STATES, Bucket, CaseState, Product, Queue
from contact_policy.models import ContactPolicy
from core.forms import IsoDateField
from dashboards.models import Availability
from dashboards.scope import MAX_PERIOD_DAYS, Filters, Period, teams_for

PERIODS = [
    ("today", _("Today")),
    ("yesterday", _("Yesterday")),
    ("7d", _("Last 7 days")),
    ("30d", _("Last 30 days")),
    ("mtd", _("This month")),
    ("last_month", _("Last month")),
    ("custom", _("Custom")),
]
DEFAULT_PERIOD = "30d"
# The dates a period may cover (the API's range too).
EARLIEST = date(2000, 1, 1)
LATEST = date(2100, 12, 31)


def period_for(choice: str, today: date, start: date | None = None, end: date | None = None) -> Period:
    if choice == "today":
        return Period(today, today)
    if choice == "yesterday":
        return Period(today - timedelta(days=1), today - timedelta(days=1))
    if choice == "7d":
        return Period(today - timedelta(days=6), today)
    if choice == "mtd":
        return Period(today.replace(day=1), today)
    if choice == "last_month":
        last = today.replace(day=1) - timedelta(days=1)
        return Period(last.replace(day=1), last.replace(day=calendar.monthrange(last.year, last.month)[1]))
    if choice == "custom" and start and end:
        return Period(start, end)
    return Period(today - timedelta(days=29), today)


class DashboardFilterForm(forms.Form):
    """The period and the filters of the KPI page (a GET form; every field optional)."""

    period = forms.ChoiceField(label=_("Period"), choices=PERIODS, required=False, initial=DEFAULT_PERIOD)
    start = IsoDateField(label=_("From"), required=False)
    end = IsoDateField(label=_("To"), required=False)
    team = forms.ModelChoiceField(label=_("Team"), queryset=Team.objects.none(), required=False)
    queue = forms.ModelChoiceField(label=_("Queue"), queryset=Queue.objects.none(), required=False)
    agent = forms.ModelChoiceField(label=_("Agent"), queryset=User.objects.none(), required=False)
    product = forms.ChoiceField(label=_("Product"), required=False)
    jurisdiction = forms.ChoiceField(label=_("Jurisdiction"), required=False)
    bucket = forms.ChoiceField(label=_("Bucket"), required=False)

    def __init__(self, data=None, *, user, **kwargs):
        super().__init__(data, **kwargs)
        self.user = user
        reach = teams_for(user)
        teams = Team.objects.all() if reach is None else Team.objects.filter(pk__in=reach)
        self.fields["team"].queryset = teams
        self.fields["team"].empty_label = _("All my teams") if reach is None else None
        queues = Queue.objects.filter(active=True).select_related("team")
        self.fields["queue"].queryset = queues if reach is None else queues.filter(team_id__in=reach)
        self.fields["queue"].empty_label = _("All queues")
        self.fields["agent"].empty_label = _("All agents")
        agents = User.objects.filter(is_active=True, role=Role.AGENT)
        self.fields["agent"].queryset = (
            agents if reach is None else agents.filter(team_id__in=reach)
        ).order_by("first_name", "last_name", "username")
        self.fields["product"].choices = [("", _("All products")), *Product.choices]
        codes = list(ContactPolicy.objects.order_by("code").values_list("code", flat=True))
        self.fields["jurisdiction"].choices = [("", _("All jurisdictions")), *((c, c) for c in codes)]
        self.fields["bucket"].choices = [("", _("All buckets")), *Bucket.choices]

    def clean(self):
        data = super().clean()
        # Dates far outside the bank's history (year 1, year 9999) would overflow the date arithmetic
        # of the figures (the period before, the next day): refused with the range instead.
        for name in ("start", "end"):
            day = data.get(name)
            if day is not None and not EARLIEST <= day <= LATEST:
                raise forms.ValidationError(
                    _("Give dates between %(earliest)s and %(latest)s.")
                    % {"earliest": EARLIEST.isoformat(), "latest": LATEST.isoformat()}
                )
        if data.get("period") == "custom":
            start, end = data.get("start"), data.get("end")
            if not (start and end):
                raise forms.ValidationError(_("Give both dates of a custom period."))
            if end < start:
                raise forms.ValidationError(_("The period ends before it starts."))
            if (end - start).days + 1 > MAX_PERIOD_DAYS:
                raise forms.ValidationError(
                    _("A period is at most %(days)s days.") % {"days": MAX_PERIOD_DAYS}
                )
        return data

    def result(self, today: date) -> tuple[Filters, Period, str]:
        """The filters and period chosen (defaults where the form is invalid or empty)."""
        data = self.cleaned_data if self.is_bound and self.is_valid() else {}
        choice = data.get("period") or DEFAULT_PERIOD
        period = period_for(choice, today, data.get("start"), data.get("end"))
        team = data.get("team")
        queue = data.get("queue")
        agent = data.get("agent")
        filters = Filters(
            teams=teams_for(self.user),
            team=team.pk if team else None,
            queue=queue.pk if queue else None,
            agent=agent.pk if agent else None,
            product=data.get("product") or "",
            jurisdiction=data.get("jurisdiction") or "",
            bucket=data.get("bucket") or "",
        )
        return filters, period, choice


class ReassignForm(forms.Form):
    """One case to one agent (from a drill-down list or the case rows of the home page)."""

    agent = forms.ModelChoiceField(label=_("Give to"), queryset=User.objects.none())
    reason = forms.CharField(label=_("Reason"), required=False, max_length=500)

    def __init__(self, data=None, *, agents, **kwargs):
        super().__init__(data, **kwargs)
        self.fields["agent"].queryset = agents


class BulkReassignForm(forms.Form):
    """Many cases, chosen by filter, to one agent or spread over several."""

    queue = forms.ModelChoiceField(label=_("Queue"), queryset=Queue.objects.none(), required=False)
    bucket = forms.ChoiceField(label=_("Bucket"), required=False)
    state = forms.ChoiceField(label=_("State"), required=False)
    from_agent = forms.ModelChoiceField(
        label=_("Now assigned to"), queryset=User.objects.none(), required=False
    )
    unassigned = forms.BooleanField(label=_("Only unassigned cases"), required=False)
    min_dpd = forms.IntegerField(label=_("DPD from"), required=False, min_value=0)
    max_dpd = forms.IntegerField(label=_("DPD to"), required=False, min_value=0)
    case_ids = forms.CharField(label=_("Case IDs (optional)"), required=False, widget=forms.HiddenInput)
    agents = forms.ModelMultipleChoiceField(label=_("Give to"), queryset=User.objects.none())
    reason = forms.CharField(label=_("Reason"), max_length=500)
    limit = forms.IntegerField(label=_("At most"), required=False, min_value=1)
    preview = forms.BooleanField(required=False, widget=forms.HiddenInput)

    def __init__(self, data=None, *, queues, agents, **kwargs):
        super().__init__(data, **kwargs)
        self.fields["queue"].queryset = queues
        self.fields["queue"].empty_label = _("All queues")
        self.fields["from_agent"].queryset = agents
        self.fields["from_agent"].empty_label = _("Anyone")
        self.fields["agents"].queryset = agents
        self.fields["bucket"].choices = [("", _("All buckets")), *Bucket.choices]
        self.fields["state"].choices = [("", _("All open states"))] + [
            (s, CaseState(s).label) for s in OPEN_STATES
        ]

    def clean_case_ids(self) -> tuple[int, ...]:
        raw = self.cleaned_data.get("case_ids") or ""
        try:
            return tuple(int(x) for x in raw.replace(",", " ").split())
        except ValueError:
            raise forms.ValidationError(_("Case IDs are numbers.")) from None


class AgentSettingsForm(forms.Form):
    availability = forms.ChoiceField(label=_("Availability"), choices=Availability.choices)
    note = forms.CharField(
        label=_("Note"),
        required=False,
        max_length=200,
        widget=forms.TextInput(attrs={"placeholder": _("Note (optional)")}),
    )
    queues = forms.ModelMultipleChoiceField(
        label=_("Queues"), queryset=Queue.objects.none(), required=False, widget=forms.CheckboxSelectMultiple
    )

    def __init__(self, data=None, *, queues, **kwargs):
        super().__init__(data, **kwargs)
        self.fields["queues"].queryset = queues


class InboxAnswerForm(forms.Form):
    action = forms.ChoiceField(
        choices=[("escalate", _("Escalate to legal")), ("decline", _("Decline")), ("done", _("Handled"))]
    )
    note = forms.CharField(label=_("Note"), required=False, max_length=2000)
