"""Forms of the supervisor floor (the Cases page): its filters (GET), the bulk action (POST) and saving a
view. They only read input; dashboards.floor and dashboards.saved_views hold the rules."""

from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _

from accounts.models import Team
from collections_app.models import Bucket, CaseState, HoldReason
from contact_policy.models import ContactPolicy
from dashboards import floor, team
from dashboards.scope import teams_for
from messaging.models import MessageTemplate

UNASSIGNED = "none"
PAGE_SIZES = [25, 50, 100, 200]


class CaseListForm(forms.Form):
    """The filters of the Cases page (every field optional)."""

    q = forms.CharField(label=_("Reference or name"), required=False, max_length=100)
    team = forms.ModelChoiceField(label=_("Team"), queryset=Team.objects.none(), required=False)
    queue = forms.ModelChoiceField(label=_("Queue"), queryset=None, required=False)
    agent = forms.ChoiceField(label=_("Agent"), required=False)
    state = forms.ChoiceField(label=_("State"), required=False)
    bucket = forms.ChoiceField(label=_("Bucket"), required=False)
    dpd_min = forms.IntegerField(label=_("DPD from"), required=False, min_value=0, max_value=100_000)
    dpd_max = forms.IntegerField(label=_("DPD to"), required=False, min_value=0, max_value=100_000)
    jurisdiction = forms.ChoiceField(label=_("Jurisdiction"), required=False)
    hold = forms.ChoiceField(
        label=_("On hold"), required=False, choices=[("", _("Either")), ("yes", _("Yes")), ("no", _("No"))]
    )
    sort = forms.ChoiceField(label=_("Sort by"), required=False)
    per_page = forms.TypedChoiceField(
        label=_("Per page"), required=False, coerce=int, choices=[(n, n) for n in PAGE_SIZES], empty_value=50
    )

    def __init__(self, data=None, *, user, **kwargs):
        super().__init__(data, **kwargs)
        self.user = user
        reach = teams_for(user)
        self.fields["team"].queryset = (
            Team.objects.all() if reach is None else Team.objects.filter(pk__in=reach)
        )
        self.fields["team"].empty_label = _("All my teams")
        self.fields["queue"].queryset = team.queues_managed_by(user).order_by("name")
        self.fields["queue"].empty_label = _("All queues")
        self.agents = team.agents_managed_by(user).order_by("first_name", "last_name", "username")
        self.fields["agent"].choices = self._agent_choices
        self.fields["state"].choices = [
            ("", _("Open cases")),
            (floor.ANY_STATE, _("Any state")),
            *CaseState.choices,
        ]
        self.fields["bucket"].choices = [("", _("All buckets")), *Bucket.choices]
        self.fields["jurisdiction"].choices = self._jurisdictions
        self.fields["sort"].choices = list(floor.SORT_LABELS.items())

    def _agent_choices(self):
        # Callable: the agents are read when the select is drawn (or the value checked), not before.
        return [("", _("Anyone")), (UNASSIGNED, _("Unassigned")), *((str(a.pk), str(a)) for a in self.agents)]

    @staticmethod
    def _jurisdictions():
        codes = ContactPolicy.objects.order_by("code").values_list("code", flat=True)
        return [("", _("All jurisdictions")), *((c, c) for c in codes)]

    def result(self) -> tuple[floor.CaseFilter, str, int]:
        """The filter, the sort and the page size chosen (defaults where the form is invalid or empty)."""
        data = self.cleaned_data if self.is_bound and self.is_valid() else {}
        agent = data.get("agent") or ""
        criteria = floor.CaseFilter(
            team=data["team"].pk if data.get("team") else None,
            queue=data["queue"].pk if data.get("queue") else None,
            agent=int(agent) if agent and agent != UNASSIGNED else None,
            unassigned=agent == UNASSIGNED,
            state=data.get("state") or "",
            bucket=data.get("bucket") or "",
            dpd_min=data.get("dpd_min"),
            dpd_max=data.get("dpd_max"),
            jurisdiction=data.get("jurisdiction") or "",
            on_hold={"yes": True, "no": False}.get(data.get("hold") or ""),
            text=data.get("q") or "",
        )
        return criteria, data.get("sort") or floor.DEFAULT_SORT, data.get("per_page") or 50


class BulkActionForm(forms.Form):
    """What to do to the chosen cases. The cases come as the ticked rows (`case`), as every case the
    filter `filter_query` matches (`scope` = all), or, on the confirm step, as `case_ids` in the order
    the preview listed them."""

    action = forms.ChoiceField(label=_("Action"), choices=list(floor.ACTION_LABELS.items()))
    agents = forms.ModelMultipleChoiceField(
        label=_("Give to (one agent, or several in turn)"), queryset=None, required=False
    )
    hold_reason = forms.ChoiceField(label=_("Hold reason"), required=False)
    to_queue = forms.ModelChoiceField(label=_("To queue"), queryset=None, required=False)
    template = forms.ModelChoiceField(label=_("Template"), queryset=None, required=False)
    reason = forms.CharField(label=_("Reason (goes on each case's timeline)"), max_length=500)
    scope = forms.ChoiceField(
        choices=[("selected", _("The ticked cases")), ("all", _("Every matching case"))],
        required=False,
        initial="selected",
    )
    filter_query = forms.CharField(required=False, max_length=4000, widget=forms.HiddenInput)
    case_ids = forms.CharField(required=False, widget=forms.HiddenInput)

    def __init__(self, data=None, *, user, **kwargs):
        super().__init__(data, **kwargs)
        self.fields["agents"].queryset = team.agents_managed_by(user).order_by("first_name", "username")
        self.fields["hold_reason"].choices = [("", "—"), *HoldReason.choices]
        self.fields["to_queue"].queryset = team.queues_managed_by(user).order_by("name")
        self.fields["to_queue"].empty_label = "—"
        self.fields["template"].queryset = MessageTemplate.objects.filter(active=True)
        self.fields["template"].empty_label = "—"

    def clean_case_ids(self) -> list[int]:
        raw = self.cleaned_data.get("case_ids") or ""
        try:
            return [int(x) for x in raw.replace(",", " ").split()]
        except ValueError:
            raise forms.ValidationError(_("Case IDs are numbers.")) from None

    def clean(self):
        data = super().clean()
        action = data.get("action")
        if action == floor.Action.REASSIGN and not data.get("agents"):
            self.add_error("agents", _("Choose the agent to give the cases to."))
        if action == floor.Action.HOLD and not data.get("hold_reason"):
            self.add_error("hold_reason", _("Choose why the cases go on hold."))
        if action == floor.Action.MOVE_QUEUE and not data.get("to_queue"):
            self.add_error("to_queue", _("Choose the queue."))
        if action == floor.Action.MESSAGE and not data.get("template"):
            self.add_error("template", _("Choose the template to send."))
        return data

    def request(self) -> floor.BulkRequest:
        data = self.cleaned_data
        return floor.BulkRequest(
            action=data["action"],
            reason=data["reason"],
            agent_ids=tuple(a.pk for a in data.get("agents") or ()),
            hold_reason=data.get("hold_reason") or "",
            queue_id=data["to_queue"].pk if data.get("to_queue") else None,
            template_id=data["template"].pk if data.get("template") else None,
        )


class SavedViewForm(forms.Form):
    page = forms.CharField(max_length=64, widget=forms.HiddenInput)
    query = forms.CharField(required=False, max_length=4000, widget=forms.HiddenInput)
    name = forms.CharField(label=_("Name of this view"), max_length=100)
