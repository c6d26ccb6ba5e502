"""The agent's desk beside the case page: the agenda of callbacks and promise due dates, and the call script
fragment the contact form loads (its ticks are posted with the form and stored on the attempt)."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from accounts.permissions import Capability, capability_required, has_capability
from collections_app import agenda as agenda_selectors
from collections_app.access import get_case_for_user
from collections_app.services import call_script_for_case
from contact_policy import scripts
from core.exceptions import NotAllowed


def _week_offset(value: str | None) -> int:
    try:
        return min(max(0, int(value or 0)), agenda_selectors.MAX_WEEKS_AHEAD)
    except ValueError:
        return 0


@capability_required(Capability.WORK_CASES)
@require_GET
def agenda(request: HttpRequest) -> HttpResponse:
    """The signed-in agent's agenda; `?agent=<id>` another's, for a supervisor of their team (403 for
    anyone else); `?week=<n>` the n-th week ahead."""
    try:
        owner = agenda_selectors.agenda_owner(request.user, request.GET.get("agent"))
    except NotAllowed as exc:
        raise PermissionDenied(exc.message) from exc
    week = _week_offset(request.GET.get("week"))
    data = agenda_selectors.agenda(request.user, owner, week_offset=week)
    agents = (
        list(agenda_selectors.agents_whose_agenda(request.user))
        if has_capability(request.user, Capability.SUPERVISE)
        else []
    )
    return render(
        request,
        "collections_app/agenda.html",
        {
            "agenda": data,
            "agents": agents,
            "own": owner.pk == request.user.pk,
            "agent_param": "" if owner.pk == request.user.pk else owner.pk,
            "max_weeks": agenda_selectors.MAX_WEEKS_AHEAD,
        },
    )


@login_required
@require_GET
def case_call_script(request: HttpRequest, case_id: int) -> HttpResponse:
    """The call script for the case (`call_script_for_case`: the cardholder's jurisdiction and language,
    the account's bucket), as a fragment the contact form loads inside itself (`hx-get`, `hx-trigger=
    "load"`): one checkbox `disclosures` per statement and the hidden `script_id`, posted with the form.
    Four queries after the session and user: the case, the script and its statements."""
    try:
        case = get_case_for_user(request.user, case_id)
    except NotAllowed as exc:
        raise PermissionDenied(exc.message) from exc
    script = call_script_for_case(case)
    holder = case.account.cardholder
    names = {
        "agent_name": request.user.get_full_name() or request.user.get_username(),
        "cardholder_name": holder.name,
    }
    statements = []
    if script is not None:
        statements = [
            {"code": s.code, "text": scripts.fill(s.text, **names), "required": s.required}
            for s in script.statements.all()
        ]
    ticked = request.GET.getlist("disclosures")
    return render(
        request,
        "collections_app/_call_script.html",
        {
            "case": case,
            "script": script,
            "opening": scripts.fill(script.opening, **names) if script else "",
            "body": scripts.fill(script.body, **names) if script else "",
            "statements": statements,
            "ticked": ticked,
            "in_language": script is not None and script.language == scripts.script_language(holder.language),
        },
    )
