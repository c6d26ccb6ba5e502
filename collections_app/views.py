"""The agent workspace: My work, Next case, the case page and its actions, search.

Each action posts to its own URL, calls one service, and answers an HTMX request with the case body
fragment (so the page updates in place) or a normal request with a redirect (so it works without
JavaScript). Refusals come back as DomainError and are shown beside the form that caused them."""

from __future__ import annotations

from functools import partial

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import formats, timezone
from django.utils.html import format_html
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET, require_POST

from accounts.permissions import Capability, capability_required, has_capability
from collections_app import selectors, services
from collections_app.access import get_case_for_user
from collections_app.delinquency import RiskClass, risk_class_cn
from collections_app.forms import (
    CallbackForm,
    ContactForm,
    EscalationRequestForm,
    HoldForm,
    NoteForm,
    PromiseForm,
    ReleaseHoldForm,
    TransitionForm,
)
from collections_app.models import CaseState, Queue, ResolutionReason
from collections_app.panels import case_documents, case_panels, case_tabs
from collections_app.services import contactability, queues
from contact_policy.models import PolicyBook
from core.exceptions import DomainError, NotAllowed
from core.masking import mask_card_number, mask_contact_value, mask_national_id

PASSED_OVER_LABELS = {
    "do_not_contact": gettext_lazy("do-not-contact flag"),
    "cease_communication": gettext_lazy("cease-communication request"),
    "attorney_represented": gettext_lazy("represented by an attorney"),
    "contact_window": gettext_lazy("outside the contact window"),
    "calls_per_debt_per_7_days": gettext_lazy("weekly call cap reached"),
    "quiet_after_conversation": gettext_lazy("waiting period after a conversation"),
    "open_dispute": gettext_lazy("open dispute"),
    "bankruptcy": gettext_lazy("bankruptcy"),
    "deceased": gettext_lazy("deceased"),
    "calls_per_number_per_day": gettext_lazy("daily calls to the number used up"),
    "on_hold": gettext_lazy("on hold"),
    "not_computed": gettext_lazy("contact status not computed yet"),
    "no_contact_policy": gettext_lazy("no contact policy for the cardholder's jurisdiction"),
    "callback_later": gettext_lazy("callback scheduled later"),
    "leased": gettext_lazy("being worked by a colleague"),
}


def _load_case(request: HttpRequest, case_id: int):
    try:
        return get_case_for_user(request.user, case_id)
    except NotAllowed as exc:
        raise PermissionDenied(exc.message) from exc


# --- My work -------------------------------------------------------------------------------------


@capability_required(Capability.WORK_CASES)
@require_GET
def my_work(request: HttpRequest) -> HttpResponse:
    work = selectors.my_work(request.user)
    _prime_team(request.user, [line.queue for line in work.queues])
    return render(request, "collections_app/my_work.html", {"work": work})


@capability_required(Capability.WORK_CASES)
@require_GET
def my_work_held_back(request: HttpRequest) -> HttpResponse:
    """My work's "not handed out now": loaded by the page when no queue has a case ready (a pass over
    the queues' claimable cases, kept out of the page's own request); a page of its own without HTMX."""
    held = selectors.held_back(request.user)
    context = {
        "held": held,
        "passed_over": [
            (PASSED_OVER_LABELS.get(key) or _state_label(key), count)
            for key, count in sorted(held.passed_over.items())
        ],
    }
    if request.htmx:
        return render(request, "collections_app/my_work_held_back.html#held-back", context)
    return render(request, "collections_app/my_work_held_back.html", context)


def _prime_team(user, queues) -> None:
    """The page header names the user's team: take it from a queue of that team loaded already (with
    its team) rather than read it again."""
    for queue in queues:
        if queue is not None and user.team_id and queue.team_id == user.team_id:
            user.team = queue.team
            return


def _state_label(key: str) -> str:
    if key.startswith("state:"):
        state = key.removeprefix("state:")
        return _("state: %(state)s") % {
            "state": CaseState(state).label if state in CaseState.values else state
        }
    return key


@capability_required(Capability.WORK_CASES)
@require_POST
def next_case(request: HttpRequest) -> HttpResponse:
    result = services.case_claim_next(actor=request.user)
    if result.case is None:
        message = _("No case in your queues can be worked right now.")
        if result.passed_over:
            waiting = ", ".join(
                f"{count} × {PASSED_OVER_LABELS.get(rule) or _state_label(rule)}"
                for rule, count in sorted(result.passed_over.items())
            )
            message += " " + _("Not ready: %(list)s.") % {"list": waiting}
        if result.next_ready_at:
            at = formats.date_format(timezone.localtime(result.next_ready_at), "SHORT_DATETIME_FORMAT")
            message += " " + _("The next may be called from %(at)s.") % {"at": at}
        messages.warning(request, message)
        return redirect("my_work")
    return redirect("case_detail", case_id=result.case.pk)


@login_required
@require_GET
def queue_detail(request: HttpRequest, queue_id: int) -> HttpResponse:
    """A queue's cases in the order Next case hands them out, each with why it stands there."""
    if not (
        has_capability(request.user, Capability.WORK_CASES)
        or has_capability(request.user, Capability.SUPERVISE)
    ):
        raise PermissionDenied(_("Your role does not work queues."))
    try:
        queue, cases = selectors.queue_cases(request.user, queue_id)
    except Queue.DoesNotExist:
        raise Http404 from None
    now, weights = timezone.now(), queues.priority_weights()  # once for the list, not per row
    rows = [
        (case, queues.priority_factors(case, now=now, rule_factors=False, weights=weights)) for case in cases
    ]
    return render(request, "collections_app/queue_detail.html", {"queue": queue, "rows": rows})


# --- Search ------------------------------------------------------------------------------------


@login_required
@require_GET
def search(request: HttpRequest) -> HttpResponse:
    query = request.GET.get("q", "")
    if "\x00" in query:  # PostgreSQL text cannot hold NUL: no case could match, and the query would fail
        messages.error(request, _("A search cannot contain NUL characters."))
        context = {"query": query.replace("\x00", ""), "results": []}
        return render(request, "collections_app/search.html", context, status=400)
    results = selectors.search_cases(request.user, query)
    return render(request, "collections_app/search.html", {"query": query, "results": results})


# --- The case page -------------------------------------------------------------------------------


# The case page's action drawers. The call's three (contact, promise, callback: most of a day's work, typed
# into straight after their key) are drawn with the page; the others when first opened (`case_drawer`,
# fetched by case_page.js; keys wait meanwhile), or with the page when it opens one: an action refused or
# with a field to correct, or `?drawer=` (the link such a drawer shows without JavaScript). A form nobody
# opens costs the page nothing.
DRAWN_WITH_PAGE = ("contact", "promise", "callback")
LAZY_DRAWERS = ("note", "hold", "escalation", "state")
# The drawers by the form key of their actions (the hold drawer also releases; the state drawer holds every
# transition).
DRAWER_OF_FORM = {"release": "hold", "transition": "state"}


def _drawer_to_open(errors: dict, forms: dict) -> str:
    """The drawer whose action came back refused or with a field to correct: shown open."""
    key = next(iter(errors), "") or next((k for k, f in forms.items() if f is not None and f.errors), "")
    return DRAWER_OF_FORM.get(key, key)


def _case_context(
    request: HttpRequest,
    case,
    *,
    forms: dict | None = None,
    errors: dict | None = None,
    open_drawer: str = "",
    drawer_only: bool = False,
) -> dict:
    """What the case page shows. `open_drawer`: a drawer asked for (`?drawer=`, `case_drawer`), drawn and
    shown open; a refused action's drawer (`errors`, `forms` with errors) takes precedence. `drawer_only`:
    for that drawer's fragment alone - the page's own drawers are not prepared."""
    now = timezone.now()
    page_no = _int(request.GET.get("page"), 1)
    _prime_team(request.user, [case.queue])
    book = PolicyBook()  # one read of the policy profiles for the panel and the forms' decisions
    data = selectors.case_page(case, page=page_no, now=now, policies=book)
    # What the panel and the forms' decisions share, read once: the open dispute (the active hold),
    # today's calls per number (counted with the contact points), the number a callback dials, the
    # debt's calls this week and last conversation (the panel's ledger, at the same `now`).
    open_dispute = data.open_dispute
    compliance = contactability.compliance_status(
        case=case, contact_points=data.contact_points, now=now, policies=book, open_dispute=open_dispute
    )
    for point in data.contact_points:
        point.masked = mask_contact_value(point.kind, point.value)
    points = [
        (p.pk, f"{p.get_kind_display()} {p.masked} · {p.get_party_role_display()}")
        for p in data.contact_points
    ]
    holder = case.account.cardholder
    transitions = [t for t in services.available_transitions(case, request.user) if t != "start_work"]
    forms = forms or {}
    errors = errors or {}
    open_drawer = _drawer_to_open(errors, forms) or open_drawer
    drawn = {open_drawer} if drawer_only else {*DRAWN_WITH_PAGE, open_drawer}
    context = {
        "case": case,
        "account": case.account,
        "holder": case.account.cardholder,
        "page": data,
        "compliance": compliance,
        "priority_factors": queues.priority_factors(case, now=now),
        "masked": {
            "national_id": mask_national_id(holder.national_id) if holder.national_id else "—",
            "card_number": mask_card_number(case.account.card_last4),
        },
        "risk_class": RiskClass.LABELS[risk_class_cn(case.account.days_past_due)],
        "transitions": transitions,
        "resolution_reasons": ResolutionReason.choices,
        "holds_lease": case.lease_owner_id == request.user.pk,
        # What the apps above the kernel show on the case (the repayment plan): rendered by the template
        # only when it renders the case body (Django calls a callable context value).
        "panels": partial(case_panels, request, case),
        "action_panels": partial(case_panels, request, case, "actions"),
        # The tabs the apps above the kernel add to the case record (History's Changes): no query here,
        # each loads its content when first opened.
        "case_tabs": case_tabs(),
        "next_action": selectors.next_best_action(case, page=data, compliance=compliance, now=now),
        "open_drawer": open_drawer,
        "drawn": drawn,
        "can_override": has_capability(request.user, Capability.OVERRIDE_CONTACT_POLICY),
        "can_work": has_capability(request.user, Capability.WORK_CASES),
        "errors": errors,
        "contact_form": forms.get("contact") or ContactForm(contact_points=points),
        "contact_point_choices": points,
        # Each action's form says before submission what the service would answer now (the same decision).
        "refused": {"contact": compliance.call_decision} if not compliance.call_decision.allowed else {},
    }
    if "promise" in drawn:
        conversations = services.promise_conversations(case=case, now=now)
        decision = contactability.action_decision(
            case=case,
            action=contactability.Action.PROMISE,
            at=now,
            conversation=conversations[0] if conversations else None,
            policies=book,
            open_dispute=open_dispute,
        )
        context["promise_form"] = forms.get("promise") or PromiseForm(
            conversations=_conversation_choices(conversations)
        )
        if not decision.allowed:
            context["refused"]["promise"] = decision
    if "callback" in drawn:
        callback_phone = contactability.primary_phone(case, points=data.contact_points)
        decision = contactability.action_decision(
            case=case,
            action=contactability.Action.CALLBACK,
            at=now,
            contact_point=callback_phone,
            calls_to_number_today=compliance.calls_today.get(callback_phone.pk, 0) if callback_phone else 0,
            policies=book,
            open_dispute=open_dispute,
            ledger=compliance.ledger,  # read at the same moment
        )
        callback_from = contactability.first_allowed_local(decision, case=case, now=now, policies=book)
        context["callback_form"] = forms.get("callback") or CallbackForm(
            first_allowed=callback_from.wall if callback_from else None, prefill=not decision.allowed
        )
        if not decision.allowed:
            context["refused"]["callback"] = decision
    if "note" in drawn:
        context["note_form"] = forms.get("note") or NoteForm()
    if "hold" in drawn:
        context["hold_form"] = forms.get("hold") or HoldForm()
        context["release_form"] = forms.get("release") or ReleaseHoldForm()
    if "escalation" in drawn:
        context["escalation_form"] = forms.get("escalation") or EscalationRequestForm()
    return context


def _conversation_choices(conversations) -> list[tuple[int, str]]:
    """The promise form's "Made during" choices: channel, the agent's own time, outcome."""
    choices = []
    for c in conversations:
        when = timezone.localtime(c.started_at)
        clock = formats.time_format(when, "TIME_FORMAT")
        choices.append((c.pk, f"{c.get_channel_display()} · {clock} · {c.get_outcome_display()}"))
    return choices


def _int(value, default: int) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return default


@login_required
@require_GET
def case_detail(request: HttpRequest, case_id: int) -> HttpResponse:
    case = selectors.case_for_page(request.user, case_id)
    if case.lease_owner_id == request.user.pk:
        services.case_lease_renew(case_id=case.pk, actor=request.user)
    asked = request.GET.get("drawer", "")
    context = _case_context(request, case, open_drawer=asked if asked in LAZY_DRAWERS else "")
    if request.htmx and request.GET.get("fragment") == "timeline":
        return render(request, "collections_app/case_detail.html#timeline", context)
    return render(request, "collections_app/case_detail.html", context)


@login_required
@require_GET
def case_drawer(request: HttpRequest, case_id: int, drawer: str) -> HttpResponse:
    """One action drawer's form, fetched when the drawer is first opened (case_page.js); without HTMX the
    case page with that drawer open."""
    if drawer not in LAZY_DRAWERS:
        raise Http404(_("No such action"))
    if drawer != "state" and not has_capability(request.user, Capability.WORK_CASES):
        raise PermissionDenied(_("You cannot work cases."))
    case = selectors.case_for_page(request.user, case_id)
    context = _case_context(request, case, open_drawer=drawer, drawer_only=bool(request.htmx))
    if request.htmx:
        return render(request, f"collections_app/case_detail.html#drawer-{drawer}", context)
    return redirect(f"{reverse('case_detail', args=[case.pk])}?drawer={drawer}#drawer-{drawer}")


@login_required
@require_GET
def case_history(request: HttpRequest, case_id: int) -> HttpResponse:
    """The case page's History tab: the account's payments and the case's promises (2 queries after the
    case). A full page without HTMX."""
    case = selectors.case_for_page(request.user, case_id)
    context = {"case": case, "account": case.account, "history": selectors.case_history(case)}
    if request.htmx:
        return render(request, "collections_app/case_history.html#history", context)
    return render(request, "collections_app/case_history.html", context)


@login_required
@require_GET
def case_documents_view(request: HttpRequest, case_id: int) -> HttpResponse:
    """The case page's Documents tab: what the apps above the kernel hold (agreements, legal package,
    letters), each a link. A full page without HTMX."""
    case = selectors.case_for_page(request.user, case_id)
    context = {"case": case, "documents": case_documents(request, case)}
    if request.htmx:
        return render(request, "collections_app/case_documents.html#documents", context)
    return render(request, "collections_app/case_documents.html", context)


def _after_action(
    request: HttpRequest,
    case_id: int,
    *,
    ok: str | None,
    form_key: str,
    form=None,
    error: DomainError | None = None,
) -> HttpResponse:
    """Answer an action: the refreshed case body for HTMX, a redirect (or the page with errors) otherwise."""
    case = selectors.case_for_page(request.user, case_id)
    errors = {}
    if error is not None:
        errors[form_key] = error
    if ok and error is None and form is None:
        messages.success(request, ok)
    context = _case_context(
        request, case, forms={form_key: form} if form is not None else None, errors=errors
    )
    if request.htmx:
        return render(request, "collections_app/case_detail.html#case-body", context)
    if error is None and form is None:
        return redirect("case_detail", case_id=case_id)
    return render(request, "collections_app/case_detail.html", context, status=422)


def _run(request, case_id, form_key, form, action, ok_message):
    if form is not None and not form.is_valid():
        return _after_action(request, case_id, ok=None, form_key=form_key, form=form)
    try:
        action(form.cleaned_data if form is not None else {})
    except DomainError as exc:
        return _after_action(request, case_id, ok=None, form_key=form_key, form=form, error=exc)
    return _after_action(request, case_id, ok=ok_message, form_key=form_key)


@login_required
@require_POST
def case_log_contact(request: HttpRequest, case_id: int) -> HttpResponse:
    case = _load_case(request, case_id)
    points = [(p.pk, str(p.pk)) for p in case.account.cardholder.contact_points.all()]
    form = ContactForm(request.POST, contact_points=points)

    def action(data):
        services.contact_attempt_log(
            case_id=case_id,
            actor=request.user,
            data=services.ContactInput(
                channel=data["channel"],
                outcome=data["outcome"],
                contact_point_id=data["contact_point"],
                party_role=data["party_role"],
                person_reached=data["person_reached"],
                delinquency_reason=data["delinquency_reason"],
                duration_seconds=data["duration_seconds"] or 0,
                notes=data["notes"],
                recording_ref=data["recording_ref"],
                started_at=data["started_at"],
                **form.disclosure_input(),
            ),
            override_reason=data["override_reason"],
        )

    return _run(request, case_id, "contact", form, action, _("Contact logged."))


@login_required
@require_POST
def case_record_promise(request: HttpRequest, case_id: int) -> HttpResponse:
    case = _load_case(request, case_id)
    conversations = services.promise_conversations(case=case, now=timezone.now())
    form = PromiseForm(request.POST, conversations=_conversation_choices(conversations))

    def action(data):
        services.promise_record(
            case_id=case_id,
            actor=request.user,
            amount=data["amount"],
            due_date=data["due_date"],
            contact_attempt_id=data["contact_attempt"],
        )

    return _run(request, case_id, "promise", form, action, _("Promise recorded."))


@login_required
@require_POST
def case_schedule_callback(request: HttpRequest, case_id: int) -> HttpResponse:
    _load_case(request, case_id)  # 404 before anything else for a case outside the user's reach
    form = CallbackForm(request.POST)

    def action(data):
        # The form gives the time as written (naive): the service reads it in the cardholder's zone.
        services.callback_schedule(case_id=case_id, actor=request.user, at=data["at"], note=data["note"])

    return _run(request, case_id, "callback", form, action, _("Callback scheduled."))


@login_required
@require_POST
def case_add_note(request: HttpRequest, case_id: int) -> HttpResponse:
    _load_case(request, case_id)  # 404 for a case that does not exist or is out of reach
    form = NoteForm(request.POST)
    return _run(
        request,
        case_id,
        "note",
        form,
        lambda data: services.note_add(case_id=case_id, actor=request.user, text=data["text"]),
        _("Note added."),
    )


@login_required
@require_POST
def case_hold(request: HttpRequest, case_id: int) -> HttpResponse:
    _load_case(request, case_id)  # 404 for a case that does not exist or is out of reach
    form = HoldForm(request.POST)
    return _run(
        request,
        case_id,
        "hold",
        form,
        lambda data: services.case_hold(
            case_id=case_id, actor=request.user, reason=data["reason"], note=data["note"]
        ),
        _("Case put on hold."),
    )


@login_required
@require_POST
def case_release_hold(request: HttpRequest, case_id: int) -> HttpResponse:
    _load_case(request, case_id)  # 404 for a case that does not exist or is out of reach
    form = ReleaseHoldForm(request.POST)
    return _run(
        request,
        case_id,
        "release",
        form,
        lambda data: services.case_release_hold(case_id=case_id, actor=request.user, note=data["note"]),
        _("Hold released."),
    )


@login_required
@require_POST
def case_request_escalation(request: HttpRequest, case_id: int) -> HttpResponse:
    _load_case(request, case_id)  # 404 for a case that does not exist or is out of reach
    form = EscalationRequestForm(request.POST)
    return _run(
        request,
        case_id,
        "escalation",
        form,
        lambda data: services.escalation_request(
            case_id=case_id, actor=request.user, target=data["target"], reason=data["reason"]
        ),
        _("Escalation requested."),
    )


@login_required
@require_POST
def case_transition(request: HttpRequest, case_id: int) -> HttpResponse:
    _load_case(request, case_id)  # 404 for a case that does not exist or is out of reach
    form = TransitionForm(request.POST)
    return _run(
        request,
        case_id,
        "transition",
        form,
        lambda data: services.case_transition(
            case_id=case_id,
            name=data["name"],
            actor=request.user,
            reason=data["reason"],
            resolution_reason=data["resolution_reason"],
            court_reference=data["court_reference"],
        ),
        _("Case updated."),
    )


@login_required
@require_POST
def case_reveal(request: HttpRequest, case_id: int) -> HttpResponse:
    """Reveal one masked field, with the reason chosen beside the buttons (`reason`, `reason_text`); the
    reveal is written on the timeline and recorded as a look (AccessRecord). Answers the value as a
    fragment."""
    _load_case(request, case_id)  # 404 for a case that does not exist or is out of reach
    try:
        value = services.pii_reveal(
            case_id=case_id,
            actor=request.user,
            field=request.POST.get("field", ""),
            contact_point_id=_int(request.POST.get("contact_point"), 0) or None,
            reason=services.access_reason_from(request.POST),
            request_id=services.request_id_of(request),
        )
    except DomainError as exc:
        status = 200 if request.htmx else (400 if isinstance(exc, services.AccessReasonMissing) else 403)
        refusal = format_html('<span class="error" role="alert">{}</span>', exc.message)
        return HttpResponse(refusal, status=status)
    if request.htmx:
        return render(request, "collections_app/_revealed.html", {"value": value})
    return JsonResponse({"value": value})


@login_required
@require_POST
def case_release(request: HttpRequest, case_id: int) -> HttpResponse:
    services.case_release(case_id=case_id, actor=request.user)
    return redirect("my_work")


@login_required
@require_POST
def case_renew_lease(request: HttpRequest, case_id: int) -> HttpResponse:
    renewed = services.case_lease_renew(case_id=case_id, actor=request.user)
    return HttpResponse(status=204 if renewed else 409)
