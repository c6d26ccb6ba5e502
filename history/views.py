"""The history of changes on pages: the case page's Changes tab and the supervisors' search. The admin's
per-object page is history.admin."""

from __future__ import annotations

from django import forms
from django.contrib.auth import get_user_model
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_GET

from accounts.permissions import Capability, capability_required
from collections_app import selectors as case_selectors
from history import selectors
from history.context import SOURCES

SEARCH_PAGE_SIZE = 50


@login_required
@require_GET
def case_changes(request: HttpRequest, case_id: int) -> HttpResponse:
    """The case page's Changes tab: who changed what on the case, its account, cardholder, contact
    points, promises, payments and plans. The same reach as the case page (404 outside it). A full page
    without HTMX."""
    case = case_selectors.case_for_page(request.user, case_id)
    changes, more = selectors.case_changes(case)
    context = {"case": case, "changes": changes, "more": more}
    if request.htmx:
        return render(request, "history/case_changes.html#changes", context)
    return render(request, "history/case_changes.html", context)


class SearchForm(forms.Form):
    actor = forms.ModelChoiceField(
        label=_("Changed by"), queryset=get_user_model().objects.order_by("username"), required=False
    )
    date_from = forms.DateField(
        label=_("From date"), required=False, widget=forms.DateInput(attrs={"type": "date"})
    )
    date_to = forms.DateField(
        label=_("To date"), required=False, widget=forms.DateInput(attrs={"type": "date"})
    )
    kind = forms.ChoiceField(label=_("Kind of object"), required=False)
    source = forms.ChoiceField(label=_("Source"), required=False)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["kind"].choices = [("", _("all"))] + selectors.kind_choices()
        self.fields["source"].choices = [("", _("all"))] + list(SOURCES.items())

    def clean(self):
        data = super().clean()
        if data.get("date_from") and data.get("date_to") and data["date_from"] > data["date_to"]:
            raise forms.ValidationError(_("The period ends before it starts."))
        return data

    def search(self) -> selectors.Search:
        data = self.cleaned_data
        return selectors.Search(
            actor=data["actor"].pk if data.get("actor") else None,
            date_from=data.get("date_from"),
            date_to=data.get("date_to"),
            kind=data.get("kind") or "",
            source=data.get("source") or "",
        )


@capability_required(Capability.SUPERVISE)
@require_GET
def history_search(request: HttpRequest) -> HttpResponse:
    """Every recorded change, searched by who made it, when, on what kind of object and from where."""
    form = SearchForm(request.GET or None)
    page = changes = None
    if not form.is_bound or form.is_valid():
        search = form.search() if form.is_bound else selectors.Search()
        page = Paginator(selectors.search_changes(search), SEARCH_PAGE_SIZE).get_page(request.GET.get("page"))
        changes = selectors.changes_for_rows(page.object_list)
    query = request.GET.copy()
    query.pop("page", None)
    context = {"form": form, "page": page, "changes": changes, "query": query.urlencode()}
    return render(request, "history/search.html", context)
