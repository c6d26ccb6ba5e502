"""Maker-checker: the one module that decides who may grant what alone, where a request goes, who may
approve it, and that applies it. Pages, API, admin, legal and repayment plans all ask here.

The rules:
- the ladder is agent -> team lead -> supervisor -> head of collections (LADDER); legal reviewers and
  admins stand beside it: they may ask, not approve;
- a request goes to the lowest role of the ladder whose limit (AuthorityLimit: amount per currency, share
  of the balance, months) covers it; beyond every limit it goes to the top role and needs two approvers;
- above a limit's `dual_control_above` it needs two approvers, and they must be different people;
- an approver holds a role at or above the request's and a limit that covers it (or the request is
  beyond every limit), reaches the case, and is never the requester ("maker_checker");
- every decision carries a reason; each step writes a case timeline event in the same transaction;
- when the approvals are complete the action is applied through the case kernel - a write-off by the
  kernel's write_off transition, which runs only for an approved request (`write_off_authorise`).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop

from accounts.models import Role
from accounts.permissions import Capability, has_capability
from authority.models import (
    OPEN_REQUEST_STATES,
    ActionKind,
    AuthorityDecision,
    AuthorityLimit,
    AuthorityRequest,
    Decision,
    RequestStatus,
)
from collections_app.access import ensure_can_act, visible_through_case
from collections_app.models import Case, CaseEvent, EventKind, ResolutionReason
from collections_app.services import case_close, event_write, lock_case
from core.exceptions import InvalidTransition, NotAllowed, ValidationFailed
from core.money import ZERO

LADDER: tuple[str, ...] = (Role.AGENT, Role.TEAM_LEAD, Role.SUPERVISOR, Role.HEAD)
# What a request may be made for on its own; discounts and plan lengths are asked through a repayment
# plan (repayment_plans asks `route` for its approval level), fee and interest waivers have limits for
# when a waiver operation exists.
REQUESTABLE_KINDS = (ActionKind.WRITE_OFF,)
HUNDRED = Decimal("100")


def ladder_rank(role: str | None) -> int:
    """The position of `role` on the approval ladder; -1 for a role off it (legal, admin)."""
    return LADDER.index(role) if role in LADDER else -1


@dataclass(frozen=True)
class Ask:
    """What is asked for: the kind, the amount in `currency`, its share of the balance, a length."""

    kind: str
    amount: Decimal = ZERO
    currency: str = ""
    percent: Decimal | None = None
    months: int | None = None


@dataclass(frozen=True)
class Routing:
    """Where a request goes: the lowest role that may approve it, and how many different approvers it
    needs. `beyond_every_limit`: no role's limit covers it, so the top role decides, two of them."""

    role: str
    required_approvals: int
    beyond_every_limit: bool = False


def _limits(kind: str, currency: str) -> dict[str, AuthorityLimit]:
    """role -> the limit that applies to `kind` in `currency` (the currency's own row before the blank)."""
    found: dict[str, AuthorityLimit] = {}
    rows = AuthorityLimit.objects.filter(kind=kind, currency__in=[currency, ""]).order_by("currency")
    for row in rows:  # "" sorts first; the currency's own row replaces it
        found[row.role] = row
    return found


def covers(limit: AuthorityLimit | None, ask: Ask) -> bool:
    """Whether `limit` lets its role grant `ask` alone (no row: no authority at all)."""
    if limit is None:
        return False
    if limit.max_amount is not None and ask.amount > limit.max_amount:
        return False
    if limit.max_percent is not None and ask.percent is not None and ask.percent > limit.max_percent:
        return False
    return not (limit.max_months is not None and ask.months is not None and ask.months > limit.max_months)


def _needs_two(limit: AuthorityLimit | None, ask: Ask) -> bool:
    return bool(limit and limit.dual_control_above is not None and ask.amount > limit.dual_control_above)


def route(ask: Ask) -> Routing:
    """The lowest role of the ladder whose limit covers `ask`, and the approvals it needs."""
    limits = _limits(ask.kind, ask.currency)
    for role in LADDER:
        if covers(limits.get(role), ask):
            return Routing(role=role, required_approvals=2 if _needs_two(limits.get(role), ask) else 1)
    return Routing(role=LADDER[-1], required_approvals=2, beyond_every_limit=True)


def within_authority(role: str, ask: Ask) -> bool:
    """Whether `role` may grant `ask` alone, with one approval (its own)."""
    limit = _limits(ask.kind, ask.currency).get(role)
    return covers(limit, ask) and not _needs_two(limit, ask)


def ensure_not_requester(actor, requested_by_id: int | None, message: str = "") -> None:
    """Maker-checker: nobody approves what they asked for themselves (requests and repayment plans;
    `message` says it in the caller's words)."""
    if actor is not None and requested_by_id is not None and actor.pk == requested_by_id:
        raise NotAllowed(
            message or _("Someone else must approve what you asked for yourself."), rule="maker_checker"
        )


def _balance(case: Case) -> Decimal:
    account = case.account
    # `balance` is generated by the database; sum the components as they are now.
    return account.principal + account.interest + account.fees + account.penalties


def _ask_of(request: AuthorityRequest) -> Ask:
    return Ask(
        kind=request.kind,
        amount=request.amount,
        currency=request.currency,
        percent=request.percent,
        months=request.months,
    )


def _event(request: AuthorityRequest, case: Case, *, kind: str, actor, reason: str, **details) -> CaseEvent:
    return event_write(
        case=case,
        kind=kind,
        actor=actor,
        reason=reason,
        details={
            "authority_request": request.pk,
            "request_kind": request.kind,
            "amount": str(request.amount),
            "currency": request.currency,
            **details,
        },
    )


def _reason(reason: str, message: str) -> str:
    reason = (reason or "").strip()
    if not reason:
        raise ValidationFailed(message, field="reason", rule="reason_required")
    return reason


# --- Operations ------------------------------------------------------------------------------------


def request_create(
    *, case_id: int, actor, kind: str, reason: str, resolution_reason: str = ResolutionReason.CHARGED_OFF
) -> AuthorityRequest:
    """Ask for an action beyond one's own authority on a case: today a write-off of the whole balance
    (the requester needs WRITE_OFF: a team lead, supervisor, head or legal reviewer). The request goes to
    the lowest role whose limit covers it (`route`). One open request of a kind per case. Writes an
    "authority_request" event; nothing else changes until it is approved."""
    reason = _reason(reason, _("Say why this is asked for."))
    if kind not in REQUESTABLE_KINDS:
        raise ValidationFailed(_("This action cannot be requested."), field="kind", rule="unknown_kind")
    if not has_capability(actor, Capability.WRITE_OFF):
        raise NotAllowed(_("Your role may not ask for a write-off."), rule=str(Capability.WRITE_OFF))
    if resolution_reason not in ResolutionReason.values:
        raise ValidationFailed(_("Choose a resolution reason."), field="resolution_reason")
    with transaction.atomic():
        case = lock_case(case_id)
        ensure_can_act(actor, case)
        if not case.is_open:
            raise InvalidTransition(_("The case is closed."), rule="case_closed")
        if AuthorityRequest.objects.filter(case=case, kind=kind, status__in=OPEN_REQUEST_STATES).exists():
            raise InvalidTransition(
                _("A request of this kind is already waiting on this case."), rule="one_open_request"
            )
        balance = _balance(case)
        ask = Ask(kind=kind, amount=balance, currency=case.account.currency, percent=HUNDRED)
        routing = route(ask)
        request = AuthorityRequest.objects.create(
            case=case,
            kind=kind,
            amount=balance,
            currency=ask.currency,
            percent=ask.percent,
            status=RequestStatus.PENDING,
            required_approvals=routing.required_approvals,
            routed_to_role=routing.role,
            reason=reason,
            resolution_reason=resolution_reason,
            requested_by=actor,
        )
        _event(
            request,
            case,
            kind=EventKind.AUTHORITY_REQUEST,
            actor=actor,
            reason=reason,
            action="requested",
            routed_to_role=routing.role,
            required_approvals=routing.required_approvals,
            beyond_every_limit=routing.beyond_every_limit,
        )
    return request


def _lock_request(request_id: int) -> tuple[AuthorityRequest, Case]:
    case_id = AuthorityRequest.objects.filter(pk=request_id).values_list("case_id", flat=True).first()
    if case_id is None:
        raise ValidationFailed(_("No such request."), field="request", rule="no_such_request")
    case = lock_case(case_id)  # the case first, then the request: the order every case operation takes
    request = AuthorityRequest.objects.select_for_update().get(pk=request_id)
    request.case = case
    return request, case


def may_decide(actor, request: AuthorityRequest) -> str | None:
    """Why `actor` may not decide `request` now (a message), or None when they may. The page shows
    it; `_ensure_may_decide` raises it. Does not check the case's reach (the caller did)."""
    refusal = _refusal(actor, request)
    return refusal[0] if refusal else None


def _refusal(actor, request: AuthorityRequest) -> tuple[str, str] | None:
    if request.status != RequestStatus.PENDING:
        return _("This request is no longer waiting for a decision."), "request_not_pending"
    if not has_capability(actor, Capability.APPROVE_REQUESTS):
        return _("Your role may not approve requests."), str(Capability.APPROVE_REQUESTS)
    if actor.pk == request.requested_by_id:
        return _("Someone else must approve what you asked for yourself."), "maker_checker"
    if any(d.approver_id == actor.pk for d in request.decisions.all()):
        return _("You have decided on this request already; it needs a different approver."), "maker_checker"
    rank, routed = ladder_rank(actor.role), ladder_rank(request.routed_to_role)
    ask = _ask_of(request)
    limits = _limits(request.kind, request.currency)
    beyond = not covers(limits.get(request.routed_to_role), ask)
    if rank < routed or not (beyond or covers(limits.get(actor.role), ask)):
        return (
            _("This request needs the approval of %(label)s.")
            % {"label": Role(request.routed_to_role).label},
            "approval_level",
        )
    return None


def _ensure_may_decide(actor, request: AuthorityRequest, case: Case) -> None:
    ensure_can_act(actor, case)
    refusal = _refusal(actor, request)
    if refusal:
        raise NotAllowed(refusal[0], rule=refusal[1], details={"routed_to_role": request.routed_to_role})


def _approvals(request: AuthorityRequest) -> int:
    return request.decisions.filter(decision=Decision.APPROVE).values("approver").distinct().count()


def request_approve(*, request_id: int, actor, reason: str) -> AuthorityRequest:
    """Approve a pending request (reason required; see the module's rules). When this is the last approval
    needed, the action is applied in the same transaction: a write-off through the case kernel, with the
    request's id on the "written_off" event; the request ends "applied". Writes an
    "authority_decision" event."""
    reason = _reason(reason, _("Say why you approve."))
    with transaction.atomic():
        request, case = _lock_request(request_id)
        _ensure_may_decide(actor, request, case)
        AuthorityDecision.objects.create(
            request=request,
            approver=actor,
            approver_role=actor.role,
            decision=Decision.APPROVE,
            reason=reason,
        )
        approvals = _approvals(request)
        _event(
            request,
            case,
            kind=EventKind.AUTHORITY_DECISION,
            actor=actor,
            reason=reason,
            decision=Decision.APPROVE,
            approvals=approvals,
            required_approvals=request.required_approvals,
        )
        if approvals >= request.required_approvals:
            request.status = RequestStatus.APPROVED
            request.decided_at = timezone.now()
            request.save(update_fields=["status", "decided_at"])
            _apply(request, case, actor=actor)
    return request


def _apply(request: AuthorityRequest, case: Case, *, actor) -> None:
    if request.kind == ActionKind.WRITE_OFF:
        case_close(
            case_id=case.pk,
            actor=actor,
            write_off=True,
            resolution_reason=request.resolution_reason or ResolutionReason.CHARGED_OFF,
            reason=request.reason,
            authority_request_id=request.pk,
        )
    request.status = RequestStatus.APPLIED
    request.save(update_fields=["status"])


def request_reject(*, request_id: int, actor, reason: str) -> AuthorityRequest:
    """Reject a pending request, with a reason: one eligible approver's "no" ends it. Writes an
    "authority_decision" event; the case is unchanged."""
    reason = _reason(reason, _("Say why you reject."))
    with transaction.atomic():
        request, case = _lock_request(request_id)
        _ensure_may_decide(actor, request, case)
        AuthorityDecision.objects.create(
            request=request, approver=actor, approver_role=actor.role, decision=Decision.REJECT, reason=reason
        )
        request.status = RequestStatus.REJECTED
        request.decided_at = timezone.now()
        request.save(update_fields=["status", "decided_at"])
        _event(
            request,
            case,
            kind=EventKind.AUTHORITY_DECISION,
            actor=actor,
            reason=reason,
            decision=Decision.REJECT,
        )
    return request


def request_cancel(*, request_id: int, actor, reason: str) -> AuthorityRequest:
    """The requester withdraws a pending request, with a reason. Writes an "authority_request" event."""
    reason = _reason(reason, _("Say why the request is withdrawn."))
    with transaction.atomic():
        request, case = _lock_request(request_id)
        if actor is not None and actor.pk != request.requested_by_id:
            raise NotAllowed(_("Only the requester withdraws a request."), rule="not_requester")
        if request.status != RequestStatus.PENDING:
            raise InvalidTransition(
                _("This request is no longer waiting for a decision."), rule="request_not_pending"
            )
        request.status = RequestStatus.CANCELLED
        request.decided_at = timezone.now()
        request.save(update_fields=["status", "decided_at"])
        _event(
            request, case, kind=EventKind.AUTHORITY_REQUEST, actor=actor, reason=reason, action="cancelled"
        )
    return request


def write_off_authorise(*, case: Case, request_id: int) -> None:
    """The kernel's check before a write-off (registered by AuthorityConfig): `request_id` must be an
    approved, not yet applied, write-off request of this very case."""
    approved = AuthorityRequest.objects.filter(
        pk=request_id, case_id=case.pk, kind=ActionKind.WRITE_OFF, status=RequestStatus.APPROVED
    ).exists()
    if not approved:
        raise NotAllowed(
            _("A write-off needs an approved authority request: ask for one with Request write-off."),
            rule="authority_required",
            details={"authority_request": request_id},
        )


def requests_cancel_for_closed_case(*, case: Case, actor, reason: str) -> None:
    """The case closed another way (paid, resolved, written off): its pending requests lapse, each with
    an "authority_request" event. For the kernel's on_case_closed, inside its transaction."""
    pending = list(
        AuthorityRequest.objects.select_for_update().filter(case_id=case.pk, status=RequestStatus.PENDING)
    )
    for request in pending:
        request.status = RequestStatus.CANCELLED
        request.decided_at = timezone.now()
        request.save(update_fields=["status", "decided_at"])
        _event(
            request,
            case,
            kind=EventKind.AUTHORITY_REQUEST,
            actor=actor,
            reason=gettext_noop("The case was closed"),
            action="cancelled",
        )


def requests_cancel_for_closed_cases(*, case_ids: list[int], actor, reason: str) -> int:
    """`requests_cancel_for_closed_case` for cases closed in bulk (the nightly pipeline), set-based."""
    now = timezone.now()
    rows = list(
        AuthorityRequest.objects.select_for_update()
        .filter(case_id__in=case_ids, status=RequestStatus.PENDING)
        .values_list("pk", "case_id", "kind", "amount", "currency")
    )
    if not rows:
        return 0
    AuthorityRequest.objects.filter(pk__in=[row[0] for row in rows], status=RequestStatus.PENDING).update(
        status=RequestStatus.CANCELLED, decided_at=now
    )
    CaseEvent.objects.bulk_create(
        [
            CaseEvent(
                case_id=case_id,
                kind=EventKind.AUTHORITY_REQUEST,
                actor=actor,
                reason=gettext_noop("The case was closed"),
                created_at=now,
                details={
                    "authority_request": pk,
                    "request_kind": kind,
                    "amount": str(amount),
                    "currency": currency,
                    "action": "cancelled",
                },
            )
            for pk, case_id, kind, amount, currency in rows
        ],
        batch_size=2000,
    )
    return len(rows)


# --- Reads -----------------------------------------------------------------------------------------


def request_being_applied(case: Case, *, kind: str) -> AuthorityRequest | None:
    """The approved request of `kind` whose action is being applied to `case` right now (for the
    kernel's on_case_closed handlers of other apps: who asked for this write-off)."""
    return (
        AuthorityRequest.objects.select_related("requested_by")
        .filter(case_id=case.pk, kind=kind, status=RequestStatus.APPROVED)
        .first()
    )


def requests_visible_to(user):
    """The requests `user` reaches: through a case they may see (collections_app.access)."""
    queryset = AuthorityRequest.objects.select_related(
        "case__account__cardholder", "requested_by"
    ).prefetch_related("decisions__approver")
    return visible_through_case(user, queryset)


def requests_awaiting(user):
    """The pending requests `user` may decide: routed to their role or below, on cases they reach, not
    their own and not already decided by them (the limit itself is checked when they decide)."""
    rank = ladder_rank(getattr(user, "role", None))
    if rank < 0 or not has_capability(user, Capability.APPROVE_REQUESTS):
        return AuthorityRequest.objects.none()
    return (
        requests_visible_to(user)
        .filter(status=RequestStatus.PENDING, routed_to_role__in=LADDER[: rank + 1])
        .exclude(requested_by=user)
        .exclude(decisions__approver=user)
    )


def requests_of(user):
    """The requests `user` made, newest first."""
    return requests_visible_to(user).filter(requested_by=user)
