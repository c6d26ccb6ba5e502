"""Operations on repayment plans: the one entry point for pages, API, admin actions, commands and tasks.

Every function is keyword-only with an explicit `actor` (None = the system). It locks the case first
(`collections_app.services.lock_case`) and then the plan - always in that order, so a payment, a page
and the nightly check queue up behind one another instead of deadlocking - checks the actor's reach, runs
the plan's state machine, and writes the case timeline (`CaseEvent` kind "plan", details
`{"plan", "action", "from", "to", ...}`) in the same transaction. Case transitions (`start_plan`,
`resolve`, `end_plan`, and `break_plan` for many cases at once) go through the case kernel
(`collections_app.services.transition` / `bulk_transition`), which holds the case state machine and
writes their events; this module never decides by itself which case states allow them.
Refusals are `core.exceptions`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal

from django.conf import settings
from django.db import transaction
from django.db.models import CharField, Count, F, Min, Sum, Value
from django.db.models.functions import Cast, JSONObject
from django.utils import timezone
from django.utils.translation import get_language, gettext_noop
from django.utils.translation import gettext_lazy as _
from django_fsm import can_proceed, has_transition_perm

from accounts.models import Role
from accounts.permissions import Capability, has_capability
from authority import services as authority
from authority.models import ActionKind
from collections_app.access import can_see_case, ensure_can_act
from collections_app.models import (
    OPEN_STATES,
    Case,
    CaseEvent,
    EventKind,
    PromiseStatus,
    ResolutionReason,
)
from collections_app.services import (
    bulk_transition,
    event_write,
    lock_case,
    start_work_if_new,
    transition,
)
from collections_app.services.kernel import events_write_from, lock_cases, lock_rows, transition_sources
from core.exceptions import InvalidTransition, NotAllowed, ValidationFailed
from core.money import ZERO, format_money
from repayment_plans.calculator import (
    Frequency,
    PlanInputError,
    PlanKind,
    PlanLimits,
    PlanTerms,
    Schedule,
    Violation,
    approver_for,
    build_schedule,
    check_limits,
    term_months,
)
from repayment_plans.models import (
    LIVE_STATES,
    UNPAID_STATUSES,
    ApprovalLimit,
    Installment,
    InstallmentStatus,
    PlanState,
    RepaymentPlan,
)

# Case states from which a plan can start, read from the case's `start_plan` transition (for filters and
# templates; with a case in hand, ask `can_proceed(case.start_plan)`).
PLAN_START_STATES = transition_sources("start_plan")

# Which form field a limit points at, so a page shows the message beside the input that broke it.
VIOLATION_FIELDS = {
    "kind_not_allowed": "kind",
    "max_installments": "installments",
    "max_term": "installments",
    "max_discount": "discount_percent",
    "min_installment": "installments",
    "first_due_beyond_horizon": "first_due_date",
}


# Far beyond any tier (the regulatory cap is 60 months); keeps a typo from building a huge schedule.
MAX_INSTALLMENTS = 360

# How the calculator's field names read in a message.
FIELD_LABELS = {
    "kind": _("Plan kind"),
    "amount": _("Amount"),
    "installments": _("Number of installments"),
    "frequency": _("Frequency"),
    "first_due_date": _("First due date"),
    "down_payment": _("Down payment"),
    "down_payment_due_date": _("Down payment date"),
    "discount_percent": _("Discount"),
}


def plan_grace_days() -> int:
    return settings.COLLECTIONS_PLAN_GRACE_DAYS


# --- Input and quotes ---------------------------------------------------------------------------


@dataclass(frozen=True)
class PlanInput:
    """The terms as a form or an API request gives them, not yet checked (`plan_calculate` checks)."""

    kind: str
    amount: Decimal
    first_due_date: date
    installments: int = 1
    frequency: str = Frequency.MONTHLY
    down_payment: Decimal = ZERO
    down_payment_due_date: date | None = None
    discount_percent: Decimal = ZERO


@dataclass(frozen=True)
class PlanQuote:
    """What a proposal would be: its schedule, who may approve it, and why the proposer may not.

    `approver_role` is the lowest role whose limits the plan fits (None: nobody may approve it);
    `within_limits`: the proposer may grant it alone; otherwise `violations` are the proposer's own limits
    that it breaks, and `beyond_every_limit` those of the highest tier when nobody may approve it."""

    terms: PlanTerms
    schedule: Schedule
    approver_role: str | None
    within_limits: bool
    violations: list[Violation] = field(default_factory=list)
    beyond_every_limit: list[Violation] = field(default_factory=list)
    required_approvals: int = 1  # 2: dual control (authority), two different approvers

    @property
    def approvable(self) -> bool:
        return self.approver_role is not None

    @property
    def approver_label(self) -> str:
        return Role(self.approver_role).label if self.approver_role else ""


def approval_tiers() -> list[tuple[str, PlanLimits]]:
    """The active tiers, lowest first, as `calculator.approver_for` walks them."""
    return [(tier.role, tier.as_limits()) for tier in ApprovalLimit.objects.filter(active=True)]


def tier_rank(role: str, tiers: list[tuple[str, PlanLimits]]) -> int:
    """The position of `role` among the tiers; an admin ranks above all, a role without a tier below all."""
    if role == Role.ADMIN:
        return len(tiers)
    roles = [tier_role for tier_role, _limits in tiers]
    return roles.index(role) if role in roles else -1


def _terms(data: PlanInput) -> PlanTerms:
    if isinstance(data.installments, int) and data.installments > MAX_INSTALLMENTS:
        raise ValidationFailed(
            _("A plan has at most %(max)s installments.") % {"max": MAX_INSTALLMENTS},
            field="installments",
            rule="too_many_installments",
        )
    try:
        return PlanTerms(
            kind=data.kind,
            amount=data.amount,
            first_due_date=data.first_due_date,
            installments=data.installments,
            frequency=data.frequency,
            down_payment=data.down_payment,
            down_payment_due_date=data.down_payment_due_date,
            discount_percent=data.discount_percent,
        )
    except PlanInputError as error:
        raise _input_failed(error) from None


def _input_failed(error: PlanInputError) -> ValidationFailed:
    params = dict(error.params)
    if "field" in params:
        params["field"] = FIELD_LABELS.get(str(params["field"]), params["field"])
    return ValidationFailed(
        str(PlanInputError(error.code, error.message, field=error.field, params=params)),
        field=error.field,
        rule=error.code,
        details={"params": {key: str(value) for key, value in error.params.items()}},
    )


def _limit_failed(violation: Violation) -> ValidationFailed:
    return ValidationFailed(
        str(violation),
        field=VIOLATION_FIELDS.get(violation.code, ""),
        rule=violation.code,
        details={"params": {key: str(value) for key, value in violation.params.items()}},
    )


def _quote(*, case: Case, actor, data: PlanInput, today: date) -> PlanQuote:
    terms = _terms(data)
    account = case.account
    # `balance` is generated by the database; sum the components as they are now.
    balance = account.principal + account.interest + account.fees + account.penalties
    if terms.amount > balance:
        raise ValidationFailed(
            _("The plan amount is above the balance (%(balance)s).")
            % {"balance": format_money(balance, account.currency, get_language())},
            field="amount",
            rule="amount_above_balance",
            details={"balance": str(balance)},
        )
    if terms.kind == PlanKind.SETTLEMENT and terms.amount != balance:
        # The discount is a share of the balance and the rest is waived: settling less than the whole
        # balance would leave a debt that the waiver appears to forgive.
        raise ValidationFailed(
            _("A settlement settles the whole balance (%(balance)s).")
            % {"balance": format_money(balance, account.currency, get_language())},
            field="amount",
            rule="settlement_of_balance",
            details={"balance": str(balance)},
        )
    schedule = build_schedule(terms)
    tiers = approval_tiers()
    own_rank = tier_rank(actor.role, tiers) if actor is not None else len(tiers)
    try:
        approver = approver_for(terms, schedule, tiers, today)
        within = approver is not None and tier_rank(approver, tiers) <= own_rank
        if within:
            violations = []
        elif own_rank < 0:
            violations = [Violation("no_tier", _("Your role has no approval limits of its own."))]
        else:
            violations = check_limits(terms, schedule, tiers[min(own_rank, len(tiers) - 1)][1], today)
        if approver is not None:
            beyond = []
        elif tiers:
            beyond = check_limits(terms, schedule, tiers[-1][1], today)
        else:
            beyond = [Violation("no_tiers", _("No approval limits are configured."))]
    except PlanInputError as error:  # a first due date in the past
        raise _input_failed(error) from None
    required_approvals = 1
    if approver is not None:
        # The money and the length are authority's (one home for every limit of that kind): a plan whose
        # waiver or length is beyond the tier's approver goes up the ladder to whoever's limit covers it,
        # and a waiver above a dual-control threshold needs two approvers other than the proposer.
        lifted, required_approvals = _authority_level(
            terms, schedule, currency=account.currency, today=today, tiers=tiers
        )
        if lifted is not None and tier_rank(lifted, tiers) > tier_rank(approver, tiers):
            approver = lifted
            within = tier_rank(approver, tiers) <= own_rank
        if required_approvals > 1:
            within = False
        if not within and not violations:
            violations = [
                Violation(
                    "authority_limit",
                    _("The waiver or length of this plan is beyond your authority (%(role)s decides).")
                    % {"role": Role(approver).label},
                )
            ]
    return PlanQuote(
        terms=terms,
        schedule=schedule,
        approver_role=approver,
        within_limits=within,
        violations=violations,
        beyond_every_limit=beyond,
        required_approvals=required_approvals,
    )


def _authority_level(
    terms: PlanTerms, schedule: Schedule, *, currency: str, today: date, tiers: list[tuple[str, PlanLimits]]
) -> tuple[str | None, int]:
    """The lowest role whose authority limits (authority.services.route) cover the plan's length and, for
    a settlement, the amount and share it waives (None when that role has no plan tier), and how many
    different approvers that needs."""
    asks = [authority.Ask(kind=ActionKind.PLAN_LENGTH, months=term_months(schedule, today))]
    waived = terms.amount - schedule.total
    if terms.kind == PlanKind.SETTLEMENT and waived > 0:
        asks.append(
            authority.Ask(
                kind=ActionKind.SETTLEMENT_DISCOUNT,
                amount=waived,
                currency=currency,
                percent=terms.discount_percent,
            )
        )
    routes = [authority.route(ask) for ask in asks]
    highest = max((r.role for r in routes), key=authority.ladder_rank)
    approvals = max(r.required_approvals for r in routes)
    return (highest if tier_rank(highest, tiers) >= 0 else None), approvals


def plan_calculate(
    *,
    case: Case,
    actor,
    data: PlanInput,
    today: date | None = None,
    counter_to: RepaymentPlan | None = None,
) -> PlanQuote:
    """The schedule of `data` on `case` and who may approve it, for `actor` as the proposer (or, with
    `counter_to`, as the approver sending that plan back). No side effects: nothing locked or written.
    Raises ValidationFailed (field, rule = the calculator's code) for terms no one could accept."""
    if counter_to is not None:
        _ensure_reach(actor, counter_to, case)
    else:
        ensure_can_act(actor, case)
    return _quote(case=case, actor=actor, data=data, today=today or timezone.localdate())


# --- Building blocks -----------------------------------------------------------------------------


def _lock_plan(plan_id: int) -> tuple[RepaymentPlan, Case]:
    case_id = RepaymentPlan.objects.filter(pk=plan_id).values_list("case_id", flat=True).first()
    if case_id is None:
        raise ValidationFailed(_("No such repayment plan."), field="plan", rule="no_such_plan")
    case = lock_case(case_id)
    plan = RepaymentPlan.objects.select_for_update().get(pk=plan_id)
    plan.case = case
    return plan, case


def can_review_plan(user, plan: RepaymentPlan) -> bool:
    """Who may reach a plan as an approver. Legal reviewers see only cases in legal states
    (collections_app.access), so plans that need legal's approval are reached through the plan."""
    if not has_capability(user, Capability.APPROVE_PLANS):
        return False
    if user.role == Role.LEGAL and plan.approval_role == Role.LEGAL:
        return True
    return can_see_case(user, plan.case)


def _ensure_reach(actor, plan: RepaymentPlan, case: Case) -> None:
    if actor is None or can_review_plan(actor, plan):
        return
    ensure_can_act(actor, case)


def _ensure_approval_level(actor, plan: RepaymentPlan) -> None:
    tiers = approval_tiers()
    if tier_rank(actor.role, tiers) < tier_rank(plan.approval_role, tiers):
        raise NotAllowed(
            _("This plan needs the approval of %(label)s.") % {"label": Role(plan.approval_role).label},
            rule="approval_level",
            details={"approval_role": plan.approval_role},
        )


def _run(plan: RepaymentPlan, name: str, *, actor, **kwargs) -> str:
    """Run plan transition `name` (its guards first) and save; returns the state it left."""
    method = getattr(plan, name)
    if not can_proceed(method):
        raise InvalidTransition(
            _("A plan that is '%(state)s' cannot do '%(name)s'.")
            % {"state": plan.get_state_display(), "name": name},
            rule="plan_state_machine",
            details={"plan": plan.pk, "state": plan.state, "transition": name},
        )
    if not has_transition_perm(method, actor):
        raise NotAllowed(
            _("You may not '%(name)s' this plan.") % {"name": name},
            rule="plan_transition_permission",
            details={"transition": name},
        )
    from_state = plan.state
    method(**kwargs)
    plan.save()
    return from_state


def _plan_event(
    plan: RepaymentPlan, case: Case, *, action: str, actor, from_state: str, reason: str = "", **details
) -> CaseEvent:
    return event_write(
        case=case,
        kind=EventKind.PLAN,
        actor=actor,
        reason=reason,
        details={"plan": plan.pk, "action": action, "from": from_state, "to": plan.state, **details},
    )


def _terms_details(plan: RepaymentPlan) -> dict:
    return {
        "kind": plan.kind,
        "amount": str(plan.amount),
        "payable": str(plan.payable_amount),
        "installments": plan.installment_count,
        "frequency": plan.frequency,
        "first_due_date": plan.first_due_date.isoformat(),
        "down_payment": str(plan.down_payment),
        "discount_percent": str(plan.discount_percent),
        "approval_role": plan.approval_role,
    }


def _create_plan(
    *, case: Case, actor, quote: PlanQuote, reason: str, counter_to: RepaymentPlan | None
) -> RepaymentPlan:
    terms = quote.terms
    plan = RepaymentPlan.objects.create(
        case=case,
        kind=terms.kind,
        amount=terms.amount,
        currency=case.account.currency,
        installment_count=terms.installments,
        frequency=terms.frequency,
        first_due_date=terms.first_due_date,
        down_payment=terms.down_payment,
        down_payment_due_date=terms.down_payment_due_date,
        discount_percent=terms.discount_percent,
        payable_amount=quote.schedule.total,
        approval_role=quote.approver_role,
        required_approvals=quote.required_approvals,
        reason=reason,
        proposed_by=actor,
        counter_to=counter_to,
    )
    Installment.objects.bulk_create(
        Installment(
            plan=plan,
            number=line.number,
            due_date=line.due_date,
            amount=line.amount,
            is_down_payment=line.is_down_payment,
        )
        for line in quote.schedule.lines
    )
    return plan


def plan_propose_on_locked_case(
    *,
    case: Case,
    actor,
    data: PlanInput,
    reason: str,
    today: date,
    cardholder_accepted: bool = False,
    acceptance_note: str = "",
    counter_to: RepaymentPlan | None = None,
) -> RepaymentPlan:
    """Propose a plan on a case the caller has locked (`lock_case`), inside the caller's transaction - for
    an operation of another app that proposes a plan as part of its own work (legal's settlement offer).

    The caller has already decided that `actor` may act on this case (`ensure_can_act`, and whatever
    capability its own operation needs: `plan_propose` asks for WORK_CASES, legal for LEGAL_REVIEW).
    Everything else is checked here, as in `plan_propose`: the case must be able to go on plan (its
    `start_plan` transition), one live plan per case, terms within some approver's limits. Writes the
    same plan events; with `cardholder_accepted` records the acceptance too. Returns the new plan."""
    if not can_proceed(case.start_plan):
        raise InvalidTransition(
            _("A plan cannot be proposed on a case in state '%(state)s'.")
            % {"state": case.get_state_display()},
            rule="case_state",
            details={"state": case.state},
        )
    if case.repayment_plans.filter(state__in=LIVE_STATES).exists():
        raise InvalidTransition(
            _("The case already has a live repayment plan; cancel it first."), rule="one_live_plan_per_case"
        )
    quote = _quote(case=case, actor=actor, data=data, today=today)
    if not quote.approvable:
        raise _limit_failed(quote.beyond_every_limit[0])
    start_work_if_new(case, actor=actor)  # negotiating a plan is working the case
    plan = _create_plan(case=case, actor=actor, quote=quote, reason=reason, counter_to=counter_to)
    details = _terms_details(plan)
    if counter_to is not None:
        details["counter_to"] = counter_to.pk
    _plan_event(plan, case, action="proposed", actor=actor, from_state="", reason=reason, **details)
    if not quote.within_limits:
        from_state = _run(plan, "submit", actor=actor)
        _plan_event(
            plan,
            case,
            action="submitted_for_approval",
            actor=actor,
            from_state=from_state,
            approval_role=plan.approval_role,
            outside_limits=[violation.code for violation in quote.violations],
        )
    if cardholder_accepted:
        _accept(plan, case, actor=actor, note=acceptance_note, today=today)
    return plan


def _activate_case(plan: RepaymentPlan, case: Case, *, actor) -> None:
    """The plan has just become active: a pending promise gives way to it and the case goes on plan."""
    replaced = list(
        case.promises.select_for_update().filter(status=PromiseStatus.PENDING).values_list("pk", flat=True)
    )
    if replaced:
        case.promises.filter(pk__in=replaced).update(
            status=PromiseStatus.CANCELLED, settled_at=timezone.now()
        )
    transition(
        case,
        "start_plan",
        actor=actor,
        reason=gettext_noop("Repayment plan activated"),
        details={"plan": plan.pk, "replaces_promises": replaced},
    )


def _ensure_first_due_not_passed(plan: RepaymentPlan, today: date) -> None:
    first_due = min(plan.first_due_date, plan.down_payment_due_date or plan.first_due_date)
    if first_due < today:
        raise InvalidTransition(
            _("The first payment of this plan was due on %(first_due)s; propose new terms.")
            % {"first_due": first_due},
            rule="first_due_in_past",
            details={"first_due_date": first_due.isoformat()},
        )


def _accept(plan: RepaymentPlan, case: Case, *, actor, note: str, today: date) -> None:
    if plan.accepted_at is not None and plan.is_live:
        raise InvalidTransition(
            _("The cardholder's acceptance is already recorded."), rule="already_accepted"
        )
    if plan.state == PlanState.DRAFT or plan.approved_at is not None:
        _ensure_first_due_not_passed(plan, today)
    plan.acceptance_note = note
    from_state = _run(plan, "accept", actor=actor, by=actor, at=timezone.now())
    _plan_event(plan, case, action="accepted", actor=actor, from_state=from_state, reason=note)
    if plan.state == PlanState.ACTIVE:
        _activate_case(plan, case, actor=actor)


# --- Operations ------------------------------------------------------------------------------------


def plan_propose(
    *,
    case_id: int,
    actor,
    data: PlanInput,
    reason: str = "",
    cardholder_accepted: bool = False,
    acceptance_note: str = "",
    today: date | None = None,
) -> RepaymentPlan:
    """Propose a plan on a case (one live plan per case; the case must be new, in progress or promised).

    Inside the proposer's limits the plan stays a draft until the cardholder's acceptance is recorded;
    outside them it goes to pending_approval and into the inbox of `approval_role`. A plan beyond every
    tier, or bad terms, is refused with ValidationFailed (field, rule). With `cardholder_accepted` the
    acceptance is recorded at once (activating a plan inside limits). Writes "proposed" (and
    "submitted_for_approval", "accepted") plan events."""
    if not has_capability(actor, Capability.WORK_CASES):
        raise NotAllowed(_("Your role may not propose repayment plans."), rule="work_cases")
    today = today or timezone.localdate()
    with transaction.atomic():
        case = lock_case(case_id)
        ensure_can_act(actor, case)
        return plan_propose_on_locked_case(
            case=case,
            actor=actor,
            data=data,
            reason=reason.strip(),
            today=today,
            cardholder_accepted=cardholder_accepted,
            acceptance_note=acceptance_note.strip(),
        )


def plan_accept(*, plan_id: int, actor, note: str = "", today: date | None = None) -> RepaymentPlan:
    """Record the cardholder's acceptance. A draft, or a plan already approved, becomes active (its
    first payment must not have passed) and the case moves to on_plan (`start_plan`), replacing a
    pending promise; a plan still waiting for approval stays pending, now accepted."""
    today = today or timezone.localdate()
    with transaction.atomic():
        plan, case = _lock_plan(plan_id)
        _ensure_reach(actor, plan, case)
        _accept(plan, case, actor=actor, note=note.strip(), today=today)
    return plan


def plan_approve(*, plan_id: int, actor, note: str = "", today: date | None = None) -> RepaymentPlan:
    """Approve a pending plan (an approver at or above the plan's level, never its proposer). If the
    cardholder has accepted already the plan becomes active and the case moves to on_plan."""
    today = today or timezone.localdate()
    with transaction.atomic():
        plan, case = _lock_plan(plan_id)
        _ensure_reach(actor, plan, case)
        if not has_capability(actor, Capability.APPROVE_PLANS):
            raise NotAllowed(_("Your role may not approve repayment plans."), rule="approve_plans")
        authority.ensure_not_requester(  # maker-checker
            actor, plan.proposed_by_id, _("Nobody approves a plan they proposed themselves.")
        )
        if plan.state == PlanState.PENDING_APPROVAL:
            _ensure_approval_level(actor, plan)
            if plan.required_approvals > 1:
                if plan.first_approved_by_id == actor.pk:
                    raise NotAllowed(
                        _("You have approved this plan already; it needs a second, different approver."),
                        rule="maker_checker",
                    )
                if plan.first_approved_by_id is None:  # dual control: the first of two approvals
                    plan.first_approved_by, plan.first_approved_at = actor, timezone.now()
                    plan.save(update_fields=["first_approved_by", "first_approved_at", "updated_at"])
                    _plan_event(
                        plan,
                        case,
                        action="first_approval",
                        actor=actor,
                        from_state=plan.state,
                        reason=note.strip(),
                        required_approvals=plan.required_approvals,
                    )
                    return plan
            if plan.accepted_at is not None:
                _ensure_first_due_not_passed(plan, today)
        from_state = _run(plan, "approve", actor=actor, by=actor, at=timezone.now())
        _plan_event(plan, case, action="approved", actor=actor, from_state=from_state, reason=note.strip())
        if plan.state == PlanState.ACTIVE:
            _activate_case(plan, case, actor=actor)
    return plan


def _reject(plan: RepaymentPlan, case: Case, *, actor, reason: str, action: str = "rejected") -> None:
    if plan.state == PlanState.PENDING_APPROVAL and actor is not None:
        _ensure_approval_level(actor, plan)
    from_state = _run(plan, "reject", actor=actor, by=actor, at=timezone.now(), note=reason)
    _plan_event(plan, case, action=action, actor=actor, from_state=from_state, reason=reason)


def plan_reject(*, plan_id: int, actor, reason: str) -> RepaymentPlan:
    """Reject a plan, with a reason: a pending plan by an approver of its level; a draft when the
    cardholder turns the offer down. Writes a "rejected" plan event; the case is unchanged."""
    reason = (reason or "").strip()
    if not reason:
        raise ValidationFailed(_("Say why the plan is rejected."), field="reason", rule="reason_required")
    with transaction.atomic():
        plan, case = _lock_plan(plan_id)
        _ensure_reach(actor, plan, case)
        _reject(plan, case, actor=actor, reason=reason)
    return plan


def plan_send_back(
    *, plan_id: int, actor, note: str, data: PlanInput, today: date | None = None
) -> RepaymentPlan:
    """An approver's counter-proposal: the pending plan is rejected with `note`, and a new plan with the
    counter terms is proposed in its place by the approver (a draft if inside the approver's limits,
    waiting for the cardholder's acceptance; otherwise pending at the higher level). Returns the new plan."""
    note = (note or "").strip()
    if not note:
        raise ValidationFailed(_("Say what changes and why."), field="note", rule="reason_required")
    today = today or timezone.localdate()
    with transaction.atomic():
        plan, case = _lock_plan(plan_id)
        _ensure_reach(actor, plan, case)
        if plan.state != PlanState.PENDING_APPROVAL:
            raise InvalidTransition(
                _("Only a plan waiting for approval can be sent back."), rule="plan_state_machine"
            )
        authority.ensure_not_requester(  # maker-checker
            actor, plan.proposed_by_id, _("Nobody approves a plan they proposed themselves.")
        )
        _reject(plan, case, actor=actor, reason=note, action="sent_back")
        return plan_propose_on_locked_case(
            case=case,
            actor=actor,
            data=data,
            reason=note,
            today=today,
            cardholder_accepted=False,
            acceptance_note="",
            counter_to=plan,
        )


def plan_cancel(*, plan_id: int, actor, reason: str) -> RepaymentPlan:
    """Cancel a live plan, with a reason (withdrawn offer, restructuring, case closed). Cancelling an
    active plan returns an on-plan case to in_progress through `end_plan` - not `break_plan`: a plan the
    bank ends is not a broken arrangement."""
    reason = (reason or "").strip()
    if not reason:
        raise ValidationFailed(_("Say why the plan is cancelled."), field="reason", rule="reason_required")
    with transaction.atomic():
        plan, case = _lock_plan(plan_id)
        _ensure_reach(actor, plan, case)
        was_active = plan.state == PlanState.ACTIVE
        from_state = _run(plan, "cancel", actor=actor, by=actor, at=timezone.now(), note=reason)
        _plan_event(plan, case, action="cancelled", actor=actor, from_state=from_state, reason=reason)
        if was_active and can_proceed(case.end_plan):  # an on-plan case goes back to work
            transition(
                case,
                "end_plan",
                actor=actor,
                reason=gettext_noop("Repayment plan cancelled"),
                details={"plan": plan.pk},
            )
    return plan


def plans_cancel_for_closed_case(*, case: Case, actor, reason: str) -> RepaymentPlan | None:
    """The case itself is ending (resolved, written off, ...): its live plan, if any, is cancelled with
    `reason`. For collections_app's closing services, inside their transaction and with the case they
    hold locked; the case is not transitioned here. Returns the cancelled plan."""
    plan = RepaymentPlan.objects.select_for_update().filter(case_id=case.pk, state__in=LIVE_STATES).first()
    if plan is None:
        return None
    plan.case = case
    from_state = _run(plan, "cancel", actor=actor, by=actor, at=timezone.now(), note=reason)
    _plan_event(plan, case, action="cancelled", actor=actor, from_state=from_state, reason=reason)
    return plan


def plans_cancel_for_closed_cases(*, case_ids: list[int], actor, reason: str) -> int:
    """`plans_cancel_for_closed_case` for many cases closed at once (`kernel.on_cases_closed`: the nightly
    pipeline resolves cured cases in bulk), set-based: their live plans are cancelled with `reason` - the
    plan's `cancel` transition (from any live state; its fields: who, when, why) as one compare-and-swap
    UPDATE - and each gets the same "cancelled" plan event. Inside the caller's transaction, which holds
    the cases locked. Returns the number of plans cancelled."""
    now = timezone.now()
    live = RepaymentPlan.objects.filter(case_id__in=case_ids, state__in=LIVE_STATES)
    lock_rows(live)
    # The events first, from the plans as they are (their state before the cancel), by INSERT ... SELECT.
    cancelled = events_write_from(
        live,
        case_field="case_id",
        details=JSONObject(
            plan=F("pk"),
            action=Value("cancelled"),
            **{"from": F("state"), "to": Value(PlanState.CANCELLED)},
        ),
        kind=EventKind.PLAN,
        reason=reason,
        actor=actor,
        now=now,
    )
    if cancelled:
        RepaymentPlan.objects.filter(case_id__in=case_ids, state__in=LIVE_STATES).update(
            state=PlanState.CANCELLED, ended_by=actor, ended_at=now, end_note=reason, updated_at=now
        )
    return cancelled


def plan_complete(plan: RepaymentPlan, case: Case, *, payment_id: int | None = None) -> None:
    """Every installment is paid (called by allocation, inside its transaction, with the case and plan
    locked). The plan completes - a settlement's waiver is recorded now - and an open case is resolved
    as "settled" or "plan_completed"."""
    from_state = _run(plan, "complete", actor=None, at=timezone.now())
    _plan_event(
        plan,
        case,
        action="completed",
        actor=None,
        from_state=from_state,
        payment=payment_id,
        waived=str(plan.waived_amount),
    )
    if case.is_open:
        case.resolution_reason = (
            ResolutionReason.SETTLED if plan.kind == PlanKind.SETTLEMENT else ResolutionReason.PLAN_COMPLETED
        )
        transition(
            case,
            "resolve",
            actor=None,
            kind=EventKind.RESOLVED,
            details={"resolution_reason": case.resolution_reason, "plan": plan.pk, "payment": payment_id},
        )


# --- Nightly check (set-based) ---------------------------------------------------------------------


def plans_check_broken(*, as_of: date) -> int:
    """Break every active plan with an installment still short more than COLLECTIONS_PLAN_GRACE_DAYS after
    its due date (due 1 June, 3 grace days: still kept on 4 June, broken on 5 June); mark unpaid past-due
    installments late. Plans of closed cases are left alone.

    Set-based and idempotent: a handful of statements whatever the portfolio size; plans move by
    compare-and-swap (`filter(state=old).update(...)`), so a second run changes nothing. An on-plan case
    returns to in_progress through the case kernel (`bulk_transition`, "break_plan", which counts the
    broken plan and writes the transition event, details `{"plan"}`); a case elsewhere (put on hold, sent
    to legal) keeps its state and only counts it. Writes a "broken" plan event per plan. Returns the
    number of plans broken."""
    cutoff = as_of - timedelta(days=plan_grace_days())
    now = timezone.now()
    active = {"plan__state": PlanState.ACTIVE, "plan__case__state__in": OPEN_STATES}
    with transaction.atomic():
        Installment.objects.filter(
            **active, due_date__lt=as_of, status__in=(InstallmentStatus.DUE, InstallmentStatus.PARTLY_PAID)
        ).update(status=InstallmentStatus.LATE)
        short = Installment.objects.filter(**active, due_date__lt=cutoff, status__in=UNPAID_STATUSES)
        # Lock the cases first, as every plan operation does, so a payment being allocated to one of these
        # plans finishes (or waits) instead of deadlocking; what is still short is then read under the lock
        # by the statements below, none of which brings rows into Python but the (case, plan) pairs.
        lock_cases(Case.objects.filter(pk__in=short.values("plan__case_id")))
        # One "broken" plan event per plan, the figures summed by the database.
        written = events_write_from(
            short.values("plan_id", "plan__case_id").order_by(),
            case_field="plan__case_id",
            details=JSONObject(
                plan=F("plan_id"),
                action=Value("broken"),
                **{"from": Value(PlanState.ACTIVE), "to": Value(PlanState.BROKEN)},
                as_of=Value(as_of.isoformat()),
                grace_days=Value(plan_grace_days()),
                missed_installments=Count("pk"),
                short_by=Cast(Sum(F("amount") - F("paid_amount")), CharField()),
                first_missed_due_date=Cast(Min("due_date"), CharField()),
            ),
            kind=EventKind.PLAN,
            reason=gettext_noop("Installment unpaid after the grace days"),
            now=now,
        )
        if not written:
            return 0
        broken = RepaymentPlan.objects.filter(pk__in=short.values("plan_id"), state=PlanState.ACTIVE).update(
            state=PlanState.BROKEN, ended_at=now, updated_at=now
        )
        broken_now = RepaymentPlan.objects.filter(state=PlanState.BROKEN, ended_at=now)
        cases = Case.objects.filter(pk__in=broken_now.values("case_id"))
        # Not a state change: a case no longer on plan (on hold, in legal review) still counts the plan.
        cases.exclude(state__in=transition_sources("break_plan")).update(
            broken_plan_count=F("broken_plan_count") + 1, version=F("version") + 1
        )
        bulk_transition(
            cases,
            "break_plan",
            reason=gettext_noop("Repayment plan broken"),
            # one live plan per case: which plan broke goes on the transition's event
            details_by_case={
                case_id: {"plan": plan_id} for case_id, plan_id in broken_now.values_list("case_id", "pk")
            },
            now=now,
        )
    return broken


__all__ = [
    "PlanInput",
    "PlanQuote",
    "approval_tiers",
    "can_review_plan",
    "plan_accept",
    "plan_approve",
    "plan_calculate",
    "plan_cancel",
    "plan_complete",
    "plan_propose",
    "plan_propose_on_locked_case",
    "plan_reject",
    "plan_send_back",
    "plans_cancel_for_closed_case",
    "plans_cancel_for_closed_cases",
    "plans_check_broken",
]
