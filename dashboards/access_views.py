"""The access report page: who looked at which cardholders, when, how and why, and the unusual days
(dashboards.access_report). Supervisors see their team's people, admins everyone. Its CSV twin
(`?export=people`) is an export like any other (dashboards.exports: recorded, names masked)."""

from __future__ import annotations

from datetime import timedelta

from django import forms
from django.conf import settings
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET

from accounts.models import User
from accounts.permissions import Capability, capability_required
from collections_app.models import AccessKind, AccessReason
from core.clock import bank_today
from core.db_routing import replica_reads
from core.forms import IsoDateField
from core.masking import mask_name
from dashboards import access_report
from dashboards.exports import audited_exports
from dashboards.scope import MAX_PERIOD_DAYS
from dashboards.views import csv_response

PAGE_SIZE = 100
DEFAULT_DAYS = 7


class AccessReportForm(forms.Form):
    start = IsoDateField(label=gettext_lazy("From"), required=False)
    end = IsoDateField(label=gettext_lazy("Through"), required=False)
    user = forms.ModelChoiceField(
        label=gettext_lazy("Who"),
        queryset=User.objects.none(),
        required=False,
        empty_label=gettext_lazy("Anyone"),
    )
    kind = forms.ChoiceField(label=gettext_lazy("How"), required=False)
    reason = forms.ChoiceField(label=gettext_lazy("Reason"), required=False)

    def __init__(self, *args, viewer, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["user"].queryset = access_report.people_in_reach(viewer).order_by("username")
        anything = [("", _("Any"))]
        self.fields["kind"].choices = anything + list(AccessKind.choices)
        self.fields["reason"].choices = anything + list(AccessReason.choices)

    def clean(self):
        data = super().clean()
        today = bank_today()
        end = data.get("end") or today
        start = data.get("start") or end - timedelta(days=DEFAULT_DAYS - 1)
        if start > end:
            raise forms.ValidationError(_("The period starts after it ends."))
        if (end - start).days >= MAX_PERIOD_DAYS:
            raise forms.ValidationError(
                _("Choose a period of at most %(days)s days.") % {"days": MAX_PERIOD_DAYS}
            )
        data["start"], data["end"] = start, end
        return data

    def result(self) -> access_report.AccessFilters:
        today = bank_today()
        if not self.is_bound or not self.is_valid():
            return access_report.AccessFilters(start=today - timedelta(days=DEFAULT_DAYS - 1), end=today)
        data = self.cleaned_data
        return access_report.AccessFilters(
            start=data["start"],
            end=data["end"],
            actor_id=data["user"].pk if data.get("user") else None,
            kind=data.get("kind") or "",
            reason=data.get("reason") or "",
        )


def _person(row: dict) -> str:
    full = f"{row['actor__first_name']} {row['actor__last_name']}".strip()
    return full or row["actor__username"]


@capability_required(Capability.SUPERVISE)
@require_GET
@replica_reads
@audited_exports
def access_page(request: HttpRequest) -> HttpResponse:
    form = AccessReportForm(request.GET or None, viewer=request.user)
    filters = form.result()
    rows = access_report.who_looked_at_whom(request.user, filters)
    if request.GET.get("export") == "people":
        return csv_response(
            f"access-{filters.start}-{filters.end}.csv",
            [
                _("Who"),
                _("Cardholder"),
                _("Name"),
                _("Looks"),
                _("Reveals"),
                _("Exports"),
                _("Prints"),
                _("API reads"),
                _("Last look"),
            ],
            (
                [
                    _person(r),
                    r["cardholder__external_ref"],
                    mask_name(r["cardholder__name"] or ""),
                    r["looks"],
                    r["reveals"],
                    r["exports"],
                    r["prints"],
                    r["api_reads"],
                    r["last_at"].isoformat(),
                ]
                for r in rows.iterator(chunk_size=2000)
            ),
        )
    page = Paginator(rows, PAGE_SIZE).get_page(request.GET.get("page"))
    for row in page.object_list:
        row["person"] = _person(row)
        row["masked_name"] = mask_name(row["cardholder__name"] or "")
    query = request.GET.copy()
    for name in ("page", "export"):
        query.pop(name, None)
    context = {
        "form": form,
        "filters": filters,
        "page": page,
        "unusual": access_report.unusual_days(request.user, filters),
        "query": query.urlencode(),
        "limit": settings.ACCESS_DAILY_CARDHOLDERS_LIMIT,
        "factor": settings.ACCESS_MEDIAN_FACTOR,
        "tab": "access",
    }
    return render(request, "dashboards/access.html", context)
