"""Pages of maker-checker: the case page's "Request write-off" action and the approvers' inbox
(`/authority/`). Each calls authority.services; refusals are shown, never swallowed."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.safestring import SafeString
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_POST

from accounts.models import Role
from accounts.permissions import Capability, has_capability
from authority import services
from authority.forms import DecisionForm, WriteOffRequestForm
from authority.models import ActionKind
from collections_app.access import get_case_for_user
from collections_app.models import Case
from core.exceptions import DomainError, NotAllowed


def case_request_action(request: HttpRequest, case: Case) -> SafeString:
    """The case page's "Request write-off" button and its drawer (registered in the action bar by
    AuthorityConfig). No query: the form is loaded from case_write_off_view when the drawer opens."""
    if not case.is_open or not has_capability(request.user, Capability.WRITE_OFF):
        return SafeString("")
    return render_to_string("authority/_case_request_action.html", {"case": case}, request=request)


def _case_for(request: HttpRequest, case_id: int) -> Case:
    try:
        return get_case_for_user(request.user, case_id, capability=Capability.WRITE_OFF)
    except NotAllowed as refused:
        raise PermissionDenied(refused.message) from None


@login_required
@require_http_methods(["GET", "POST"])
def case_write_off_view(request: HttpRequest, case_id: int) -> HttpResponse:
    """GET: the write-off request form (the balance it would write off, who would approve it).
    POST: make the request."""
    case = _case_for(request, case_id)
    account = case.account
    balance = account.principal + account.interest + account.fees + account.penalties
    ask = services.Ask(kind=ActionKind.WRITE_OFF, amount=balance, currency=account.currency)
    routing = services.route(ask)
    context = {
        "case": case,
        "balance": balance,
        "routing": routing,
        "routing_label": Role(routing.role).label,
    }
    form = WriteOffRequestForm(request.POST or None)
    status = 200
    if request.method == "POST":
        if form.is_valid():
            try:
                context["made"] = services.request_create(
                    case_id=case.pk,
                    actor=request.user,
                    kind=ActionKind.WRITE_OFF,
                    reason=form.cleaned_data["reason"],
                    resolution_reason=form.cleaned_data["resolution_reason"],
                )
                form = WriteOffRequestForm()
            except DomainError as error:
                context["error"], status = error, 422
        else:
            status = 422
    context["form"] = form
    template = "authority/_case_write_off.html" if request.htmx else "authority/case_write_off.html"
    return render(request, template, context, status=status)


@login_required
def inbox_view(request: HttpRequest) -> HttpResponse:
    """Requests waiting for my decision (routed to my role or below, on my team's cases), and mine."""
    if not (
        has_capability(request.user, Capability.APPROVE_REQUESTS)
        or has_capability(request.user, Capability.WRITE_OFF)
    ):
        raise PermissionDenied(_("Your role may not use this page."))
    awaiting = list(services.requests_awaiting(request.user).order_by("created_at", "pk")[:200])
    rows = [{"request": r, "refusal": services.may_decide(request.user, r)} for r in awaiting]
    mine = list(services.requests_of(request.user)[:50])
    return render(request, "authority/inbox.html", {"rows": rows, "mine": mine, "form": DecisionForm()})


def _back(request: HttpRequest) -> HttpResponse:
    target = request.POST.get("next") or ""
    if not url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}):
        target = reverse("authority:inbox")
    return redirect(target)


def _decide(request: HttpRequest, request_id: int, operation, success: str) -> HttpResponse:
    get_object_or_404(services.requests_visible_to(request.user), pk=request_id)
    try:
        operation(request_id=request_id, actor=request.user, reason=request.POST.get("reason", ""))
    except DomainError as error:
        messages.error(request, error.message)
    else:
        messages.success(request, success)
    return _back(request)


@login_required
@require_POST
def approve_view(request: HttpRequest, request_id: int) -> HttpResponse:
    return _decide(request, request_id, services.request_approve, _("Your approval is recorded."))


@login_required
@require_POST
def reject_view(request: HttpRequest, request_id: int) -> HttpResponse:
    return _decide(request, request_id, services.request_reject, _("The request is rejected."))


@login_required
@require_POST
def cancel_view(request: HttpRequest, request_id: int) -> HttpResponse:
    return _decide(request, request_id, services.request_cancel, _("The request is withdrawn."))
