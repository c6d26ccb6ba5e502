"""Plan pages: propose (with the live calculator), the case's plan, the approvals inbox, the agreement.

Thin function views: they parse a form, call one service, and turn a DomainError into a form error (or a
message). Object access goes through `collections_app.access.get_case_for_user` and, for plans reached
as an approver, `selectors.get_plan_for_user`.
"""

from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import redirect, render
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import translation
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.safestring import SafeString
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from accounts.permissions import Capability, capability_required
from collections_app.access import get_case_for_user
from collections_app.models import Case
from collections_app.panels import CaseDocument
from core.exceptions import DomainError, NotAllowed, ValidationFailed
from core.masking import mask_national_id
from repayment_plans import selectors, services
from repayment_plans.calculator import PlanKind
from repayment_plans.forms import (
    TERM_FIELDS,
    AcceptForm,
    CounterProposalForm,
    ProposeForm,
    initial_terms,
    kind_from,
)
from repayment_plans.models import LIVE_STATES, PlanState, RepaymentPlan


def _case_for(request: HttpRequest, case_id: int, capability: Capability | None = None) -> Case:
    try:
        return get_case_for_user(request.user, case_id, capability=capability)
    except NotAllowed as refused:
        raise PermissionDenied(refused.message) from None


def _form_error(form, error: DomainError) -> None:
    field = getattr(error, "field", "")
    form.add_error(field if field in form.fields else None, error.message)


def _back(request: HttpRequest, default: str) -> HttpResponseRedirect:
    target = request.POST.get("next") or ""
    if not url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}):
        target = default
    return redirect(target)


# --- Proposing ----------------------------------------------------------------------------------


def _preview(request: HttpRequest, case: Case, form, counter_to: RepaymentPlan | None = None) -> dict:
    """The calculator's answer for a bound (or initial) form: a quote, or the errors to show."""
    if form.is_bound and not form.is_valid():
        # Only the terms count here: an empty note or reason is for the submit, not the schedule.
        errors = [e for name, errors in form.errors.items() if name in TERM_FIELDS | {"kind"} for e in errors]
        if errors:
            return {"quote": None, "errors": errors, "currency": case.account.currency}
    data = form.to_input() if form.is_bound else form.initial_input()
    try:
        quote = services.plan_calculate(case=case, actor=request.user, data=data, counter_to=counter_to)
    except ValidationFailed as error:
        return {"quote": None, "errors": [error.message], "currency": case.account.currency}
    return {"quote": quote, "errors": [], "currency": case.account.currency}


def _propose_context(request, case: Case, form, *, action_url: str, calculate_url: str, plan=None) -> dict:
    live_plan = None
    if plan is None:
        live_plan = case.repayment_plans.filter(state__in=LIVE_STATES).first()
    return {
        "case": case,
        "account": case.account,
        "form": form,
        "kind": form.kind,
        "kinds": PlanKind.choices,
        "live_plan": live_plan,
        "action_url": action_url,
        "calculate_url": calculate_url,
        "countered": plan,
        **_preview(request, case, form, counter_to=plan),
    }


@login_required
@require_http_methods(["GET", "POST"])
def plan_propose_view(request: HttpRequest, case_id: int) -> HttpResponse:
    """GET: the form for one kind of plan (`?kind=`) with its schedule; POST: propose it."""
    case = _case_for(request, case_id, Capability.WORK_CASES)
    kind = kind_from(request.POST.get("kind") or request.GET.get("kind"))
    urls = {
        "action_url": reverse("plans:propose", args=[case.pk]),
        "calculate_url": reverse("plans:calculate", args=[case.pk]),
    }
    if request.method == "POST":
        form = ProposeForm(request.POST, kind=kind)
        if form.is_valid():
            try:
                plan = services.plan_propose(
                    case_id=case.pk,
                    actor=request.user,
                    data=form.to_input(),
                    reason=form.cleaned_data["reason"],
                    cardholder_accepted=form.cleaned_data["cardholder_accepted"],
                    acceptance_note=form.cleaned_data["acceptance_note"],
                )
            except DomainError as error:
                _form_error(form, error)
            else:
                messages.success(request, _plan_message(plan))
                return redirect("plans:case", case_id=case.pk)
        context = _propose_context(request, case, form, **urls)
        return render(request, "repayment_plans/plan_propose.html", context, status=422)
    form = ProposeForm(initial=initial_terms(case, kind), kind=kind)
    context = _propose_context(request, case, form, **urls)
    template = "repayment_plans/plan_propose.html"
    if request.htmx:
        template += "#propose-body"
    return render(request, template, context)


def _plan_message(plan: RepaymentPlan) -> str:
    if plan.state == PlanState.ACTIVE:
        return _("The plan is active; the case is now on plan.")
    if plan.state == PlanState.PENDING_APPROVAL:
        role = plan.get_approval_role_display()
        if plan.accepted_at:
            return _("The plan waits for approval by %(role)s; it becomes active once approved.") % {
                "role": role
            }
        return _("The plan waits for approval by %(role)s.") % {"role": role}
    return _("The plan is proposed; it becomes active when the cardholder's acceptance is recorded.")


@login_required
@require_POST
def plan_calculate_view(request: HttpRequest, case_id: int) -> HttpResponse:
    """The live calculator: the schedule fragment for the terms typed so far (no side effects).
    Without HTMX (the form's Calculate button) the whole propose page comes back with the schedule."""
    case = _case_for(request, case_id, Capability.WORK_CASES)
    form = ProposeForm(request.POST, kind=kind_from(request.POST.get("kind")))
    if request.htmx:
        return render(request, "repayment_plans/_plan_preview.html", _preview(request, case, form))
    context = _propose_context(
        request,
        case,
        form,
        action_url=reverse("plans:propose", args=[case.pk]),
        calculate_url=reverse("plans:calculate", args=[case.pk]),
    )
    return render(request, "repayment_plans/plan_propose.html", context)


# --- One plan -----------------------------------------------------------------------------------


def _plan_page(request: HttpRequest, case: Case, plan: RepaymentPlan | None) -> HttpResponse:
    history = [p for p in selectors.plans_for_case(case) if plan is None or p.pk != plan.pk]
    return render(
        request,
        "repayment_plans/plan_detail.html",
        {"case": case, "plan": plan, "history": history},
    )


def case_plan_panel(request: HttpRequest, case: Case) -> SafeString:
    """The plan panel of the case page (registered with collections_app.panels by RepaymentPlansConfig):
    the case's live (or latest) plan and the buttons the user gets. The case page has checked access."""
    return render_to_string(
        "repayment_plans/_case_plan.html",
        {"case": case, "plan": selectors.plan_for_case(case)},
        request=request,
    )


def case_plan_documents(request: HttpRequest, case: Case) -> list[CaseDocument]:
    """The case's Documents tab: each plan's printable agreement, in the cardholder's language."""
    return [
        CaseDocument(
            title=_("Plan #%(id)s: %(kind)s, %(state)s")
            % {"id": plan.pk, "kind": plan.get_kind_display(), "state": plan.get_state_display()},
            url=reverse("plans:agreement", args=[plan.pk]),
            kind=_("Repayment agreement"),
            at=plan.proposed_at,
        )
        for plan in RepaymentPlan.objects.filter(case=case).order_by("-proposed_at", "-id")
    ]


@login_required
@require_GET
def case_plan_view(request: HttpRequest, case_id: int) -> HttpResponse:
    """The case's live (or latest) plan with its schedule, and the earlier plans."""
    case = _case_for(request, case_id)
    return _plan_page(request, case, selectors.plan_for_case(case))


@login_required
@require_GET
def plan_detail_view(request: HttpRequest, plan_id: int) -> HttpResponse:
    plan = selectors.get_plan_for_user(request.user, plan_id)
    return _plan_page(request, plan.case, selectors.plan_with_schedule(plan.pk))


def _act(request: HttpRequest, plan_id: int, operation, success: str, **kwargs) -> HttpResponse:
    plan = selectors.get_plan_for_user(request.user, plan_id)
    default = reverse("plans:case", args=[plan.case_id])
    try:
        operation(plan_id=plan.pk, actor=request.user, **kwargs)
    except DomainError as error:
        messages.error(request, error.message)
    else:
        messages.success(request, success)
    return _back(request, default)


@login_required
@require_POST
def plan_accept_view(request: HttpRequest, plan_id: int) -> HttpResponse:
    form = AcceptForm(request.POST)
    form.is_valid()
    return _act(
        request,
        plan_id,
        services.plan_accept,
        _("The cardholder's acceptance is recorded."),
        note=form.cleaned_data.get("note", ""),
    )


@login_required
@require_POST
def plan_approve_view(request: HttpRequest, plan_id: int) -> HttpResponse:
    return _act(request, plan_id, services.plan_approve, _("The plan is approved."))


@login_required
@require_POST
def plan_reject_view(request: HttpRequest, plan_id: int) -> HttpResponse:
    return _act(
        request,
        plan_id,
        services.plan_reject,
        _("The plan is rejected."),
        reason=request.POST.get("reason", ""),
    )


@login_required
@require_POST
def plan_cancel_view(request: HttpRequest, plan_id: int) -> HttpResponse:
    return _act(
        request,
        plan_id,
        services.plan_cancel,
        _("The plan is cancelled."),
        reason=request.POST.get("reason", ""),
    )


@login_required
@require_http_methods(["GET", "POST"])
def plan_send_back_view(request: HttpRequest, plan_id: int) -> HttpResponse:
    """An approver's counter-proposal: the pending plan's terms, changed, with a note."""
    plan = selectors.get_plan_for_user(request.user, plan_id)
    if not selectors.plan_actions(plan, request.user) >= {"send_back"}:
        raise PermissionDenied(_("You cannot send this plan back."))
    case = plan.case
    kind = kind_from(request.POST.get("kind") or request.GET.get("kind") or plan.kind)
    urls = {"action_url": reverse("plans:send_back", args=[plan.pk])}
    urls["calculate_url"] = urls["action_url"]
    if request.method == "POST":
        form = CounterProposalForm(request.POST, kind=kind)
        if request.htmx:  # the live calculator, on the same URL: legal reviewers may not reach the case's
            preview = _preview(request, case, form, counter_to=plan)
            return render(request, "repayment_plans/_plan_preview.html", preview)
        if form.is_valid():
            try:
                services.plan_send_back(
                    plan_id=plan.pk, actor=request.user, note=form.cleaned_data["note"], data=form.to_input()
                )
            except DomainError as error:
                _form_error(form, error)
            else:
                messages.success(request, _("The plan is sent back with your counter-proposal."))
                return redirect("plans:approvals")
        context = _propose_context(request, case, form, plan=plan, **urls)
        return render(request, "repayment_plans/plan_propose.html", context, status=422)
    initial = _terms_initial(plan) if kind == plan.kind else initial_terms(case, kind)
    form = CounterProposalForm(initial=initial, kind=kind)
    context = _propose_context(request, case, form, plan=plan, **urls)
    template = "repayment_plans/plan_propose.html"
    if request.htmx:
        template += "#propose-body"
    return render(request, template, context)


def _terms_initial(plan: RepaymentPlan) -> dict:
    return {
        "kind": plan.kind,
        "amount": plan.amount,
        "installments": plan.installment_count,
        "frequency": plan.frequency,
        "first_due_date": plan.first_due_date,
        "down_payment": plan.down_payment,
        "down_payment_due_date": plan.down_payment_due_date,
        "discount_percent": plan.discount_percent,
    }


# --- Approvals inbox ------------------------------------------------------------------------------


@capability_required(Capability.APPROVE_PLANS)
@require_GET
def approvals_inbox_view(request: HttpRequest) -> HttpResponse:
    """Plans waiting for this user's approval, oldest first, with why each needs it."""
    return render(
        request, "repayment_plans/approvals_inbox.html", {"rows": selectors.inbox_rows(request.user)}
    )


# --- The agreement ---------------------------------------------------------------------------------


@login_required
@require_GET
def plan_agreement_view(request: HttpRequest, plan_id: int) -> HttpResponse:
    """The printable agreement, in the cardholder's language (not the agent's)."""
    plan = selectors.get_plan_for_user(request.user, plan_id)
    plan = selectors.plan_with_schedule(plan.pk)
    cardholder = plan.case.account.cardholder
    language = cardholder.language or settings.LANGUAGE_CODE
    with translation.override(language):
        html = render_to_string(
            "repayment_plans/plan_agreement.html",
            {
                "plan": plan,
                "case": plan.case,
                "account": plan.case.account,
                "cardholder": cardholder,
                "national_id": mask_national_id(cardholder.national_id) if cardholder.national_id else "",
                "grace_days": services.plan_grace_days(),
                "is_settlement": plan.kind == PlanKind.SETTLEMENT,
                "is_personalised": plan.kind == PlanKind.PERSONALISED_INSTALLMENT,
                "language": translation.get_language(),
            },
            request=request,
        )
    response = HttpResponse(html)
    response.headers["Content-Language"] = language
    return response
