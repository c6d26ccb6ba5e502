"""The legal reviewers' pages: the queue of cases in legal review (/legal/), the case package
(/legal/cases/<id>/) with the decisions, and the package export.

Legal reviewers (capability LEGAL_REVIEW) reach cases in legal states only (collections_app.access); a
case outside them is a 404 here even for an admin, so that IDs cannot be probed. Every decision posts to
one URL and calls one service in legal.services; a refusal comes back beside the form."""

from __future__ import annotations

from datetime import timedelta

from django import forms
from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseBadRequest
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET, require_POST

from accounts.permissions import Capability, capability_required, has_capability
from collections_app import selectors, services
from collections_app.access import get_case_for_user
from collections_app.models import LEGAL_STATES, CaseState
from collections_app.panels import CaseDocument
from core.clock import bank_today
from core.exceptions import DomainError, NotAllowed
from core.forms import IsoDateField
from core.masking import mask_national_id
from legal import services as legal
from legal.models import LegalDecision

LITIGATION_LIST_SIZE = 20


# --- Forms (one per decision; each posts with its decision as prefix) --------------------------------


class LitigationForm(forms.Form):
    court_reference = forms.CharField(
        label=gettext_lazy("Court or agency reference"),
        max_length=100,
        help_text=gettext_lazy("e.g. (2026)京0105民初1234号"),
    )
    note = forms.CharField(
        label=gettext_lazy("Note"), required=False, widget=forms.Textarea(attrs={"rows": 2})
    )


class ReturnForm(forms.Form):
    note = forms.CharField(
        label=gettext_lazy("Note for collections"), widget=forms.Textarea(attrs={"rows": 2})
    )


class SettlementForm(forms.Form):
    discount_percent = forms.DecimalField(
        label=gettext_lazy("Discount (%)"), min_value=0, max_value=100, decimal_places=2, initial=0
    )
    installments = forms.IntegerField(
        label=gettext_lazy("Installments"), min_value=1, max_value=60, initial=1
    )
    first_due_date = IsoDateField(label=gettext_lazy("First payment due"))
    note = forms.CharField(label=gettext_lazy("Why settle"), widget=forms.Textarea(attrs={"rows": 2}))


class WriteOffForm(forms.Form):
    note = forms.CharField(label=gettext_lazy("Reason"), widget=forms.Textarea(attrs={"rows": 2}))


DECISION_FORMS = {
    LegalDecision.LITIGATION: LitigationForm,
    LegalDecision.RETURNED: ReturnForm,
    LegalDecision.SETTLEMENT: SettlementForm,
    LegalDecision.WRITE_OFF: WriteOffForm,
}


def _today():
    return bank_today()


def _legal_case(request: HttpRequest, case_id: int):
    try:
        case = get_case_for_user(request.user, case_id, capability=Capability.LEGAL_REVIEW)
    except NotAllowed as exc:
        raise PermissionDenied(exc.message) from exc
    if case.state not in LEGAL_STATES:
        raise Http404(_("No such case with legal"))
    return case


def case_legal_documents(request: HttpRequest, case) -> list[CaseDocument]:
    """The case's Documents tab: the legal package, for a legal reviewer while the case is with legal."""
    if case.state not in LEGAL_STATES or not has_capability(request.user, Capability.LEGAL_REVIEW):
        return []
    referral = case.legal_referrals.order_by("-referred_at", "-id").first()
    return [
        CaseDocument(
            title=_("Legal package of %(case)s") % {"case": case.reference},
            url=reverse("legal:case", args=[case.pk]),
            kind=_("Legal package"),
            at=referral.referred_at if referral else None,
        )
    ]


# --- The queue ------------------------------------------------------------------------------------------


@capability_required(Capability.LEGAL_REVIEW)
@require_GET
def legal_queue(request: HttpRequest) -> HttpResponse:
    as_of = _today()
    paginator = Paginator(legal.legal_queue(request.user, as_of=as_of), legal.LEGAL_QUEUE_PAGE_SIZE)
    page = paginator.get_page(request.GET.get("page"))
    context = {
        "page": page,
        "rows": legal.legal_queue_rows(page.object_list, as_of=as_of),
        "as_of": as_of,
        "warning_days": legal.LIMITATION_WARNING_DAYS,
    }
    if request.htmx and request.GET.get("fragment") == "queue":
        return render(request, "legal/legal_queue.html#queue", context)
    litigation = legal.legal_queue(request.user, as_of=as_of, state=CaseState.LITIGATION)[
        :LITIGATION_LIST_SIZE
    ]
    context["litigation"] = legal.legal_queue_rows(litigation, as_of=as_of)
    return render(request, "legal/legal_queue.html", context)


# --- The case package -----------------------------------------------------------------------------------


def _package_context(request: HttpRequest, case, *, forms: dict | None = None, errors: dict | None = None):
    as_of = _today()
    forms = forms or {}
    holder = case.account.cardholder
    timeline, _more = selectors.case_timeline(case)
    own_referral = case.state == CaseState.LEGAL_REVIEW and legal.own_referral(request.user, case)
    return {
        "case": case,
        "account": case.account,
        "holder": holder,
        "masked_national_id": mask_national_id(holder.national_id) if holder.national_id else "—",
        "package": legal.legal_package(case, as_of=as_of),
        "timeline": timeline,
        "can_decide": case.state == CaseState.LEGAL_REVIEW and not own_referral,
        "own_referral": own_referral,
        "forms": {
            decision: forms.get(decision) or form_class(prefix=decision, initial=_initial(decision, as_of))
            for decision, form_class in DECISION_FORMS.items()
        },
        "errors": errors or {},
        "warning_days": legal.LIMITATION_WARNING_DAYS,
        "spacing_days": legal.EFFECTIVE_SPACING_DAYS,
    }


def _initial(decision: str, as_of) -> dict:
    if decision == LegalDecision.SETTLEMENT:
        return {"first_due_date": as_of + timedelta(days=14)}
    return {}


@capability_required(Capability.LEGAL_REVIEW)
@require_GET
def legal_case(request: HttpRequest, case_id: int) -> HttpResponse:
    case = _legal_case(request, case_id)
    return render(request, "legal/case_package.html", _package_context(request, case))


DONE_MESSAGES = {
    LegalDecision.LITIGATION: gettext_lazy("Litigation approved."),
    LegalDecision.RETURNED: gettext_lazy("Returned to collections."),
    LegalDecision.SETTLEMENT: gettext_lazy("Settlement proposed; the case is back with collections."),
    LegalDecision.WRITE_OFF: gettext_lazy("Write-off requested: it waits for the approvers of its amount."),
}


@capability_required(Capability.LEGAL_REVIEW)
@require_POST
def legal_decide(request: HttpRequest, case_id: int) -> HttpResponse:
    case = _legal_case(request, case_id)
    decision = request.POST.get("decision", "")
    form_class = DECISION_FORMS.get(decision)
    if form_class is None:
        return HttpResponseBadRequest(_("Unknown legal decision."))
    form = form_class(request.POST, prefix=decision)
    if form.is_valid():
        data = form.cleaned_data
        try:
            if decision == LegalDecision.SETTLEMENT:
                legal.legal_propose_settlement(
                    case_id=case.pk,
                    actor=request.user,
                    discount_percent=data["discount_percent"],
                    installments=data["installments"],
                    first_due_date=data["first_due_date"],
                    note=data["note"],
                )
            else:
                legal.legal_decide(
                    case_id=case.pk,
                    actor=request.user,
                    decision=decision,
                    note=data.get("note", ""),
                    court_reference=data.get("court_reference", ""),
                )
        except DomainError as error:
            field = getattr(error, "field", "")
            if field in form.fields:
                form.add_error(field, error.message)
            context = _package_context(request, case, forms={decision: form}, errors={decision: error})
            return render(request, "legal/case_package.html", context, status=422)
        messages.success(request, DONE_MESSAGES[decision])
        case.refresh_from_db(fields=["state"])
        if case.state in LEGAL_STATES:
            return redirect("legal:case", case_id=case.pk)
        return redirect("legal:queue")
    context = _package_context(request, case, forms={decision: form})
    return render(request, "legal/case_package.html", context, status=422)


@capability_required(Capability.LEGAL_REVIEW)
@require_POST
def legal_export(request: HttpRequest, case_id: int) -> HttpResponse:
    """The package as a ZIP download, with the reason chosen beside the button; the export is written
    on the case timeline and recorded as a print (AccessRecord)."""
    case = _legal_case(request, case_id)
    try:
        export = legal.legal_package_export(
            case_id=case.pk,
            actor=request.user,
            reason=services.access_reason_from(request.POST),
            request_id=services.request_id_of(request),
        )
    except DomainError as error:
        messages.error(request, error.message)
        return redirect("legal:case", case_id=case.pk)
    response = HttpResponse(export.content, content_type="application/zip")
    response["Content-Disposition"] = f'attachment; filename="{export.filename}"'
    response["Cache-Control"] = "no-store"
    return response


__all__ = ["legal_case", "legal_decide", "legal_export", "legal_queue"]
