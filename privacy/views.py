"""Privacy pages under /privacy/: subject-access exports (supervisors, admins), legal holds (supervisors,
legal reviewers, admins) and correction requests (anyone who works a cardholder's cases asks; a
supervisor other than the requester decides). Each form posts to one URL that calls one service in
privacy.services / privacy.subject_access; a refusal comes back as a message beside the form."""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_POST

from accounts.models import Language
from accounts.permissions import Capability, has_capability
from collections_app.models import Cardholder, Case
from core.exceptions import DomainError
from privacy import services
from privacy.models import (
    CorrectableField,
    CorrectionRequest,
    CorrectionStatus,
    ExportFormat,
    LegalHold,
    PurgeRun,
    RetentionPolicy,
    SubjectAccessRequest,
)
from privacy.subject_access import can_export_subject_data, subject_access_export

LIST_SIZE = 50


class SubjectAccessForm(forms.Form):
    external_ref = forms.CharField(label=gettext_lazy("Cardholder reference"), max_length=64)
    reason = forms.CharField(label=gettext_lazy("Reason"), widget=forms.Textarea(attrs={"rows": 2}))
    reference = forms.CharField(label=gettext_lazy("Request reference"), max_length=100, required=False)
    format = forms.ChoiceField(label=gettext_lazy("Format"), choices=ExportFormat.choices)
    language = forms.ChoiceField(label=gettext_lazy("Language"), choices=Language.choices)


class LegalHoldForm(forms.Form):
    external_ref = forms.CharField(label=gettext_lazy("Cardholder reference"), max_length=64, required=False)
    case_reference = forms.CharField(label=gettext_lazy("or case reference"), max_length=32, required=False)
    reason = forms.CharField(label=gettext_lazy("Reason"), widget=forms.Textarea(attrs={"rows": 2}))


class ReleaseForm(forms.Form):
    reason = forms.CharField(label=gettext_lazy("Why released"), max_length=500)


class CorrectionForm(forms.Form):
    external_ref = forms.CharField(label=gettext_lazy("Cardholder reference"), max_length=64)
    field = forms.ChoiceField(label=gettext_lazy("Detail"), choices=CorrectableField.choices)
    requested_value = forms.CharField(label=gettext_lazy("Correct value"), max_length=500, required=False)
    reason = forms.CharField(label=gettext_lazy("Reason"), widget=forms.Textarea(attrs={"rows": 2}))


class DecisionForm(forms.Form):
    decision = forms.ChoiceField(choices=[("approve", "approve"), ("reject", "reject")])
    reason = forms.CharField(label=gettext_lazy("Reason"), max_length=500, required=False)


def _cardholder_by_ref(ref: str) -> Cardholder | None:
    return Cardholder.objects.filter(external_ref=(ref or "").strip()).first()


@login_required
def privacy_home(request: HttpRequest) -> HttpResponse:
    user = request.user
    can_export = can_export_subject_data(user)
    can_hold = services.can_manage_legal_holds(user)
    can_correct = has_capability(user, Capability.WORK_CASES) or services.can_decide_corrections(user)
    if not (can_export or can_hold or can_correct):
        raise PermissionDenied(_("Your role may not use this page."))
    return render(
        request,
        "privacy/privacy_home.html",
        {
            "can_export": can_export,
            "can_hold": can_hold,
            "can_correct": can_correct,
            "policies": RetentionPolicy.objects.all(),
            "runs": PurgeRun.objects.select_related("started_by")[:10] if can_export else [],
        },
    )


@login_required
def subject_access(request: HttpRequest) -> HttpResponse:
    if not can_export_subject_data(request.user):
        raise PermissionDenied(_("Only supervisors and admins export a cardholder's data."))
    form = SubjectAccessForm(request.POST or None, initial={"external_ref": request.GET.get("ref", "")})
    if request.method == "POST" and form.is_valid():
        cardholder = _cardholder_by_ref(form.cleaned_data["external_ref"])
        if cardholder is None:
            form.add_error("external_ref", _("No cardholder has this reference."))
        else:
            try:
                export = subject_access_export(
                    actor=request.user,
                    cardholder=cardholder,
                    reason=form.cleaned_data["reason"],
                    reference=form.cleaned_data["reference"],
                    format=form.cleaned_data["format"],
                    language=form.cleaned_data["language"],
                )
            except DomainError as error:
                form.add_error(None, error.message)
            else:
                response = HttpResponse(export.content, content_type=export.content_type)
                response["Content-Disposition"] = f'attachment; filename="{export.filename}"'
                return response
    recent = SubjectAccessRequest.objects.select_related("cardholder", "requested_by")[:LIST_SIZE]
    return render(request, "privacy/subject_access.html", {"form": form, "recent": recent})


@login_required
def legal_holds(request: HttpRequest) -> HttpResponse:
    if not services.can_manage_legal_holds(request.user):
        raise PermissionDenied(_("Only supervisors and legal reviewers place or release legal holds."))
    form = LegalHoldForm(request.POST or None, initial={"external_ref": request.GET.get("ref", "")})
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        cardholder = case = None
        if data["case_reference"].strip():
            case = Case.objects.filter(reference=data["case_reference"].strip()).first()
            if case is None:
                form.add_error("case_reference", _("No case has this reference."))
        elif data["external_ref"].strip():
            cardholder = _cardholder_by_ref(data["external_ref"])
            if cardholder is None:
                form.add_error("external_ref", _("No cardholder has this reference."))
        else:
            form.add_error(None, _("Give a cardholder reference or a case reference."))
        if not form.errors:
            try:
                services.legal_hold_place(
                    actor=request.user, reason=data["reason"], cardholder=cardholder, case=case
                )
            except DomainError as error:
                form.add_error(None, error.message)
            else:
                messages.success(request, _("Legal hold placed."))
                return redirect("privacy:holds")
    active = LegalHold.objects.filter(released_at__isnull=True).select_related(
        "cardholder", "case", "placed_by"
    )[:LIST_SIZE]
    return render(
        request, "privacy/legal_holds.html", {"form": form, "active": active, "release_form": ReleaseForm()}
    )


@login_required
@require_POST
def legal_hold_release(request: HttpRequest, hold_id: int) -> HttpResponse:
    if not services.can_manage_legal_holds(request.user):
        raise PermissionDenied(_("Only supervisors and legal reviewers place or release legal holds."))
    hold = get_object_or_404(LegalHold, pk=hold_id)
    form = ReleaseForm(request.POST)
    if not form.is_valid():
        messages.error(request, _("Say why the hold is released."))
        return redirect("privacy:holds")
    try:
        services.legal_hold_release(actor=request.user, hold=hold, reason=form.cleaned_data["reason"])
    except DomainError as error:
        messages.error(request, error.message)
    else:
        messages.success(request, _("Legal hold released."))
    return redirect("privacy:holds")


@login_required
def corrections(request: HttpRequest) -> HttpResponse:
    user = request.user
    may_decide = services.can_decide_corrections(user)
    if not (has_capability(user, Capability.WORK_CASES) or may_decide):
        raise PermissionDenied(_("Your role may not use this page."))
    form = CorrectionForm(request.POST or None, initial={"external_ref": request.GET.get("ref", "")})
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        cardholder = _cardholder_by_ref(data["external_ref"])
        if cardholder is None:
            form.add_error("external_ref", _("No cardholder has this reference."))
        else:
            try:
                services.correction_request(
                    actor=user,
                    cardholder=cardholder,
                    field=data["field"],
                    requested_value=data["requested_value"],
                    reason=data["reason"],
                )
            except DomainError as error:
                form.add_error(None, error.message)
            else:
                messages.success(request, _("Correction requested; a supervisor will decide."))
                return redirect("privacy:corrections")
    related = ("cardholder", "requested_by", "decided_by")
    pending = (
        CorrectionRequest.objects.filter(status=CorrectionStatus.PENDING).select_related(*related)[:LIST_SIZE]
        if may_decide
        else []
    )
    mine = CorrectionRequest.objects.filter(requested_by=user).select_related(*related)[:LIST_SIZE]
    return render(
        request,
        "privacy/corrections.html",
        {
            "form": form,
            "pending": pending,
            "mine": mine,
            "may_decide": may_decide,
            "decision_form": DecisionForm(),
        },
    )


@login_required
@require_POST
def correction_decide(request: HttpRequest, request_id: int) -> HttpResponse:
    if not services.can_decide_corrections(request.user):
        raise PermissionDenied(_("Only a supervisor decides correction requests."))
    correction = get_object_or_404(CorrectionRequest, pk=request_id)
    form = DecisionForm(request.POST)
    if not form.is_valid():
        messages.error(request, _("Choose approve or reject."))
        return redirect("privacy:corrections")
    try:
        if form.cleaned_data["decision"] == "approve":
            services.correction_approve(
                actor=request.user, request=correction, reason=form.cleaned_data["reason"]
            )
            messages.success(request, _("Correction approved; the cardholder's detail is changed."))
        else:
            services.correction_reject(
                actor=request.user, request=correction, reason=form.cleaned_data["reason"]
            )
            messages.success(request, _("Correction rejected."))
    except DomainError as error:
        messages.error(request, error.message)
    return redirect("privacy:corrections")
