"""Click-to-call pages: the Call button on the case page, the dial fragment it loads, the call's status
(polled while it rings or is answered) and its disposition; and the phone system's signed events."""

from __future__ import annotations

import json
import logging
import time

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.template.loader import render_to_string
from django.utils.safestring import SafeString
from django.utils.translation import gettext as _
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_POST

from accounts.permissions import Capability, has_capability
from collections_app.access import get_case_for_user
from collections_app.models import Case, ContactPoint, ContactPointKind
from core.exceptions import DomainError, NotAllowed, ValidationFailed
from core.masking import mask_phone
from telephony import services
from telephony.forms import DispositionForm, PlaceForm
from telephony.models import Call, CallStatus, DialerKind
from telephony.signing import SIGNATURE_HEADER, TIMESTAMP_HEADER, BadSignature, verify

logger = logging.getLogger(__name__)


def call_button_panel(request: HttpRequest, case: Case) -> SafeString:
    """The case page's Call action (registered with collections_app.panels, place "actions"): a button
    that loads the dial fragment. No query: the case page's budget is fixed."""
    if not has_capability(request.user, Capability.WORK_CASES):
        return SafeString("")
    return SafeString(render_to_string("telephony/_call_button.html", {"case_id": case.pk}))


def _case_for(request: HttpRequest, case_id: int) -> Case:
    try:
        return get_case_for_user(request.user, case_id, capability=Capability.WORK_CASES)
    except NotAllowed as exc:
        raise PermissionDenied(exc.message) from exc


def _own_call(request: HttpRequest, call_id) -> Call:
    """The signed-in agent's own call (404 for anyone else's, so that IDs cannot be probed)."""
    call = (
        Call.objects.select_related("contact_point", "attempt")
        .filter(call_id=call_id, agent_id=request.user.pk)
        .first()
    )
    if call is None:
        raise Http404(_("No such call"))
    return call


def _numbers(case: Case) -> list[dict]:
    points = ContactPoint.objects.filter(
        cardholder_id=case.account.cardholder_id, kind=ContactPointKind.PHONE, active=True
    ).order_by("-is_primary", "pk")
    return [
        {"pk": p.pk, "masked": mask_phone(p.value), "whose": p.get_party_role_display(), "label": p.label}
        for p in points
    ]


def _current_call(case: Case, user) -> Call | None:
    """The agent's latest call on the case that still waits for its disposition."""
    return (
        Call.objects.select_related("contact_point", "attempt")
        .filter(case=case, agent_id=user.pk, attempt__isnull=True)
        .exclude(status__in=[CallStatus.BLOCKED, CallStatus.FAILED])
        .order_by("-placed_at")
        .first()
    )


def _call_context(call: Call | None, *, form: DispositionForm | None = None, dial_uri: str = "") -> dict:
    if call is None:
        return {"call": None}
    by_link = call.dialer == DialerKind.LINK
    return {
        "call": call,
        "number": mask_phone(call.contact_point.value),
        "polling": call.is_live and not by_link,
        "by_link": by_link,
        "dial_uri": dial_uri,
        "disposition_form": form
        or DispositionForm(
            by_link=by_link,
            prefix_id=str(call.call_id),
            initial={"party_role": call.contact_point.party_role},
        ),
    }


def _dial(
    request: HttpRequest,
    case: Case,
    *,
    call: Call | None = None,
    dial_uri: str = "",
    form: DispositionForm | None = None,
    error: DomainError | None = None,
    recorded: Call | None = None,
) -> HttpResponse:
    """The dial fragment (or, without HTMX, the page around it): the numbers with a Call button each, the
    agent's current call and its disposition form, a refusal or the call just recorded."""
    if call is None and recorded is None:
        call = _current_call(case, request.user)
    context = {
        "case": case,
        "numbers": _numbers(case),
        "error": error,
        "recorded": recorded,
        **_call_context(call, form=form, dial_uri=dial_uri),
    }
    template = "telephony/_dial.html" if request.htmx else "telephony/dial_page.html"
    status = 422 if error is not None and not request.htmx else 200
    return render(request, template, context, status=status)


@login_required
@require_GET
def dial_view(request: HttpRequest, case_id: int) -> HttpResponse:
    return _dial(request, _case_for(request, case_id))


@login_required
@require_POST
def place_view(request: HttpRequest, case_id: int) -> HttpResponse:
    case = _case_for(request, case_id)
    form = PlaceForm(request.POST)
    if not form.is_valid():
        return _dial(
            request, case, error=ValidationFailed(_("Choose a number to call."), field="contact_point")
        )
    try:
        placed = services.call_place(
            case_id=case.pk, actor=request.user, contact_point_id=form.cleaned_data["contact_point"]
        )
    except DomainError as exc:
        return _dial(request, case, error=exc)
    return _dial(request, case, call=placed, dial_uri=placed.dial.uri)


@login_required
@require_GET
def call_status_view(request: HttpRequest, call_id) -> HttpResponse:
    """The call's status line, polled every 2 s while it rings or is answered; once the phone system has
    logged it (no answer), the disposition form is replaced too (out of band)."""
    call = _own_call(request, call_id)
    return render(request, "telephony/_call_status.html", {**_call_context(call), "oob": True})


@login_required
@require_POST
def complete_view(request: HttpRequest, call_id) -> HttpResponse:
    call = _own_call(request, call_id)
    case = _case_for(request, call.case_id)
    form = DispositionForm(request.POST, by_link=call.dialer == DialerKind.LINK, prefix_id=str(call.call_id))
    if not form.is_valid():
        return _dial(request, case, call=call, form=form)
    data = form.cleaned_data
    try:
        services.call_complete(
            call_id=call.call_id,
            actor=request.user,
            outcome=data["outcome"],
            delinquency_reason=data["delinquency_reason"],
            notes=data["notes"],
            person_reached=data["person_reached"],
            party_role=data["party_role"],
            duration_seconds=data.get("duration_seconds") or 0,
            recording_ref=data.get("recording_ref") or "",
        )
    except DomainError as exc:
        return _dial(request, case, call=call, form=form, error=exc)
    recorded = Call.objects.select_related("contact_point", "attempt").get(pk=call.pk)
    response = _dial(request, case, recorded=recorded)
    # The case page may refresh its timeline on this event (a contact was written).
    response["HX-Trigger"] = "contactLogged"
    return response


@csrf_exempt  # the phone system has no session; the HMAC signature is the proof
@require_POST
def events_view(request: HttpRequest) -> HttpResponse:
    """The phone system's call events: signed (telephony.signing), applied once (services.call_event).
    403 for a bad or stale signature, 400 for a malformed event, 404 for an unknown call."""
    body = request.body
    try:
        verify(
            secret=settings.TELEPHONY_CALLBACK_SECRET,
            timestamp=request.headers.get(TIMESTAMP_HEADER, ""),
            signature=request.headers.get(SIGNATURE_HEADER, ""),
            body=body,
            now=time.time(),
            max_age=settings.TELEPHONY_CALLBACK_MAX_AGE_SECONDS,
        )
    except BadSignature as exc:
        logger.warning("telephony event refused: %s", exc)
        return JsonResponse({"error": "forbidden"}, status=403)
    try:
        payload = json.loads(body)
    except ValueError:
        return JsonResponse({"error": "the body is not JSON"}, status=400)
    try:
        call = services.call_event(payload)
    except services.UnknownCall:
        return JsonResponse({"error": "unknown call"}, status=404)
    except ValidationFailed as exc:
        return JsonResponse({"error": exc.message, "field": exc.field}, status=400)
    return JsonResponse({"call_id": str(call.call_id), "status": call.status})
