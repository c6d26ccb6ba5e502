"""The supervisor floor (the Cases page) and saved views: thin views over dashboards.floor and
dashboards.saved_views.

Cases page (GET) -> tick cases or "every matching case", choose an action and a reason -> preview (POST:
per case what will change and what is skipped, nothing written) -> confirm (POST: applied one case at a
time) -> the result: n changed, m skipped, with the reasons."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse, QueryDict
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from accounts.permissions import Capability, capability_required
from core.exceptions import DomainError, NotAllowed
from dashboards import floor, saved_views
from dashboards.floor_forms import BulkActionForm, CaseListForm, SavedViewForm

CASES_PAGE = "dashboards:cases"


def _views_box(request: HttpRequest, page: str, query: str) -> dict:
    return {
        "page": page,
        "query": saved_views.clean_query(query),
        "views": [
            (v, saved_views.saved_view_url(v)) for v in saved_views.saved_views_for(request.user, page)
        ],
        "form": SavedViewForm(initial={"page": page, "query": saved_views.clean_query(query)}),
    }


@capability_required(Capability.SUPERVISE)
@require_GET
def cases_page(request: HttpRequest) -> HttpResponse:
    form = CaseListForm(request.GET or None, user=request.user)
    criteria, sort, per_page = form.result()
    cases = floor.floor_cases(request.user, criteria, sort=sort)
    page = Paginator(cases, per_page).get_page(request.GET.get("page"))
    filter_query = saved_views.clean_query(request.GET.urlencode())
    context = {
        "form": form,
        "page_obj": page,
        "bulk": BulkActionForm(
            user=request.user, initial={"filter_query": filter_query, "scope": "selected"}
        ),
        "filter_query": filter_query,
        "max_cases": floor.MAX_CASES,
        "saved": _views_box(request, CASES_PAGE, request.GET.urlencode()),
        "tab": "cases",
    }
    return render(request, "dashboards/cases.html", context)


def _chosen_ids(request: HttpRequest, bulk: BulkActionForm) -> list[int]:
    """The cases the action is for, highest priority first: those confirmed (`case_ids`, in the order the
    preview listed them), every case the filter matches, or the ticked rows."""
    data = bulk.cleaned_data
    if data["case_ids"]:
        return data["case_ids"]
    if data.get("scope") == "all":
        form = CaseListForm(QueryDict(data.get("filter_query") or ""), user=request.user)
        criteria, _sort, _per_page = form.result()
        cases = floor.floor_cases(request.user, criteria, sort=floor.DEFAULT_SORT)
    else:
        ticked = [int(v) for v in request.POST.getlist("case") if v.isdigit()]
        cases = floor.floor_cases(request.user, floor.CaseFilter(state=floor.ANY_STATE)).filter(pk__in=ticked)
    # One more than the limit, so that too many is refused rather than cut short.
    return list(cases.order_by("-priority", "pk").values_list("pk", flat=True)[: floor.MAX_CASES + 1])


def _back_to_list(bulk: BulkActionForm | None, request: HttpRequest) -> HttpResponse:
    query = (bulk.data.get("filter_query") if bulk is not None else "") or ""
    return redirect(reverse(CASES_PAGE) + (f"?{query}" if query else ""))


def _form_errors(request: HttpRequest, bulk: BulkActionForm) -> None:
    for field, errors in bulk.errors.items():
        label = bulk.fields[field].label if field in bulk.fields and bulk.fields[field].label else ""
        for error in errors:
            messages.error(request, f"{label}: {error}" if label else error)


@capability_required(Capability.SUPERVISE)
@require_POST
def cases_preview(request: HttpRequest) -> HttpResponse:
    bulk = BulkActionForm(request.POST, user=request.user)
    if not bulk.is_valid():
        _form_errors(request, bulk)
        return _back_to_list(bulk, request)
    ids = _chosen_ids(request, bulk)
    if not ids:
        messages.error(request, _("Tick the cases first, or choose every matching case."))
        return _back_to_list(bulk, request)
    try:
        plan = floor.bulk_plan(actor=request.user, request=bulk.request(), case_ids=ids)
    except NotAllowed as exc:
        raise PermissionDenied(exc.message) from exc
    except DomainError as exc:
        messages.error(request, exc.message)
        return _back_to_list(bulk, request)
    context = {
        "plan": plan,
        "bulk": bulk,
        "action_label": floor.ACTION_LABELS[bulk.cleaned_data["action"]],
        "case_ids": ",".join(str(pk) for pk in plan.case_ids),
        "filter_query": bulk.cleaned_data.get("filter_query") or "",
        "tab": "cases",
    }
    return render(request, "dashboards/cases_preview.html", context)


@capability_required(Capability.SUPERVISE)
@require_POST
def cases_apply(request: HttpRequest) -> HttpResponse:
    bulk = BulkActionForm(request.POST, user=request.user)
    if not bulk.is_valid() or not bulk.cleaned_data["case_ids"]:
        _form_errors(request, bulk)
        return _back_to_list(bulk, request)
    try:
        outcome = floor.bulk_apply(
            actor=request.user, request=bulk.request(), case_ids=bulk.cleaned_data["case_ids"]
        )
    except NotAllowed as exc:
        raise PermissionDenied(exc.message) from exc
    except DomainError as exc:
        messages.error(request, exc.message)
        return _back_to_list(bulk, request)
    context = {
        "outcome": outcome,
        "action_label": floor.ACTION_LABELS[bulk.cleaned_data["action"]],
        "filter_query": bulk.cleaned_data.get("filter_query") or "",
        "tab": "cases",
    }
    return render(request, "dashboards/cases_result.html", context)


# --- Saved views -----------------------------------------------------------------------------------------


@capability_required(Capability.SUPERVISE)
@require_GET
def saved_views_box(request: HttpRequest) -> HttpResponse:
    """The "My views" box of a page, as a fragment (the KPI page loads it after it renders, so that the
    page itself costs no query for it). Opened as a page, it is the page the views are of."""
    page = request.GET.get("for", "")
    if page not in saved_views.SAVEABLE_PAGES:
        page = CASES_PAGE
    if not request.htmx:
        return redirect(page)
    return render(
        request,
        "dashboards/_saved_views.html",
        {"saved": _views_box(request, page, request.GET.get("query", ""))},
    )


@capability_required(Capability.SUPERVISE)
@require_POST
def saved_view_save(request: HttpRequest) -> HttpResponse:
    form = SavedViewForm(request.POST)
    page = request.POST.get("page", "")
    fallback = reverse(page) if page in saved_views.SAVEABLE_PAGES else reverse(CASES_PAGE)
    if not form.is_valid():
        messages.error(request, _("Give the view a name."))
        return redirect(fallback)
    try:
        view, created = saved_views.saved_view_save(
            owner=request.user,
            page=form.cleaned_data["page"],
            name=form.cleaned_data["name"],
            query=form.cleaned_data["query"],
        )
    except DomainError as exc:
        messages.error(request, exc.message)
        return redirect(fallback)
    text = _("View “%(name)s” saved.") if created else _("View “%(name)s” updated.")
    messages.success(request, text % {"name": view.name})
    return redirect(saved_views.saved_view_url(view))


@capability_required(Capability.SUPERVISE)
@require_POST
def saved_view_delete(request: HttpRequest, view_id: int) -> HttpResponse:
    try:
        view = saved_views.saved_view_delete(owner=request.user, view_id=view_id)
    except NotAllowed as exc:
        raise PermissionDenied(exc.message) from exc
    messages.success(request, _("View “%(name)s” deleted.") % {"name": view.name})
    target = request.POST.get("next") or ""
    if not url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}):
        target = reverse(view.page)
    return redirect(target or reverse(view.page))
