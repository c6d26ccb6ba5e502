"""Reads for the plan pages: the plan a case page shows, the approvals inbox, the buttons a user gets."""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import Case as DbCase
from django.db.models import F, Prefetch, QuerySet, Subquery, Value, When
from django.http import Http404
from django.utils import timezone
from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

from accounts.permissions import Capability, has_capability
from collections_app.access import can_see_case, cases_visible_to
from collections_app.models import Case
from core.compiled import CompiledRead, Param
from repayment_plans.calculator import Violation, check_limits
from repayment_plans.models import LIVE_STATES, Installment, PlanState, RepaymentPlan
from repayment_plans.services import approval_tiers, can_review_plan, tier_rank


def _with_schedule(queryset: QuerySet[RepaymentPlan]) -> QuerySet[RepaymentPlan]:
    return queryset.select_related("proposed_by", "approved_by", "accepted_by", "ended_by").prefetch_related(
        Prefetch("installments", queryset=Installment.objects.order_by("number"))
    )


def get_plan_for_user(user, plan_id: int) -> RepaymentPlan:
    """Load a plan for a page: 404 unless the user may reach its case (collections_app.access) or may
    review it as an approver (legal reviewers reach plans that need legal's approval)."""
    plan = (
        RepaymentPlan.objects.select_related(
            "case__account__cardholder", "case__queue", "case__assigned_agent"
        )
        .filter(pk=plan_id)
        .first()
    )
    if plan is None or not (can_see_case(user, plan.case) or can_review_plan(user, plan)):
        raise Http404(_("No such plan"))
    return plan


def plan_with_schedule(plan_id: int) -> RepaymentPlan:
    return _with_schedule(RepaymentPlan.objects.select_related("case__account__cardholder")).get(pk=plan_id)


_LINE_FIELDS = [f.attname for f in Installment._meta.concrete_fields]


def _plan_for_case_query(_key=None) -> QuerySet[RepaymentPlan]:
    live_first = DbCase(When(state__in=LIVE_STATES, then=Value(0)), default=Value(1))
    chosen = RepaymentPlan.objects.filter(case_id=Param("case")).order_by(live_first, "-proposed_at", "-pk")
    return (
        RepaymentPlan.objects.filter(pk=Subquery(chosen.values("pk")[:1]))
        .select_related("proposed_by", "approved_by", "accepted_by", "ended_by")
        .annotate(**{f"line_{name}": F(f"installments__{name}") for name in _LINE_FIELDS})
        .order_by("installments__number")
    )


_plan_for_case_read = CompiledRead(_plan_for_case_query)


def plan_for_case(case: Case) -> RepaymentPlan | None:
    """The case's live plan (a case has at most one: one_live_plan_per_case), else its most recent one,
    with its installments: one query, plan or none, so the case page costs the same for every case
    (compiled once, and prepared: core.compiled). The plan is read joined to its installments (one row
    per line, one row for a plan without lines)."""
    rows = _plan_for_case_read(None, case=case.pk)
    if not rows:
        return None
    plan = rows[0]
    plan.case = case  # the page has it already
    schedule = []
    for row in rows:
        values = [getattr(row, f"line_{name}") for name in _LINE_FIELDS]
        if values[_LINE_FIELDS.index("id")] is not None:
            line = Installment.from_db(plan._state.db, _LINE_FIELDS, values)
            line.plan = plan
            schedule.append(line)
    installments = plan.installments.all()
    installments._result_cache = schedule
    installments._prefetch_done = True
    plan._prefetched_objects_cache = {"installments": installments}
    return plan


def plans_for_case(case: Case) -> QuerySet[RepaymentPlan]:
    """Every plan of the case, newest first (the plan history under the current plan)."""
    return (
        RepaymentPlan.objects.filter(case=case).select_related("proposed_by").order_by("-proposed_at", "-pk")
    )


def plans_awaiting_approval(user) -> QuerySet[RepaymentPlan]:
    """Pending plans that `user` may approve and has not proposed: a supervisor those of their team's
    cases at supervisor level, a legal reviewer every plan at legal level, an admin all. Oldest first."""
    if not has_capability(user, Capability.APPROVE_PLANS):
        return RepaymentPlan.objects.none()
    pending = (
        RepaymentPlan.objects.filter(state=PlanState.PENDING_APPROVAL, approved_at__isnull=True)
        .exclude(proposed_by=user)
        .select_related("case__account__cardholder", "proposed_by", "counter_to")
        .order_by("proposed_at", "pk")
    )
    if has_capability(user, Capability.ADMINISTER):
        return pending
    # The approval level is a role (a plan waits for "supervisor" or "legal"): the user's own.
    pending = pending.filter(approval_role=user.role)
    if has_capability(user, Capability.LEGAL_REVIEW):
        return pending  # legal reviewers approve at their level on any team's case
    return pending.filter(case__in=cases_visible_to(user))


@dataclass(frozen=True)
class InboxRow:
    plan: RepaymentPlan
    # The proposer's limits the plan breaks: why it is in the inbox.
    reasons: list[Violation]


def inbox_rows(user) -> list[InboxRow]:
    """The approvals inbox: pending plans with the reasons they need approval (one query for the plans,
    one for the tiers; the reasons are recomputed by the pure calculator)."""
    tiers = approval_tiers()
    rows = []
    for plan in plans_awaiting_approval(user):
        rank = tier_rank(plan.proposed_by.role, tiers)
        reasons: list[Violation] = []
        if 0 <= rank < len(tiers):
            terms = plan.terms()
            proposed_on = timezone.localdate(plan.proposed_at)
            today = min(proposed_on, terms.first_due_date, plan.down_payment_due_date or terms.first_due_date)
            reasons = check_limits(terms, plan.schedule(), tiers[rank][1], today)
        rows.append(InboxRow(plan=plan, reasons=reasons))
    return rows


@dataclass(frozen=True)
class PlanStatus:
    # The plan's state, or APPROVED for a pending plan whose approval is recorded.
    key: str
    label: str | Promise

    def __str__(self) -> str:
        return str(self.label)


APPROVED = "approved"
APPROVED_LABEL = _("Approved, awaiting acceptance")


def plan_status(plan: RepaymentPlan) -> PlanStatus:
    """The status every page and export shows for the plan, read from its state. An approved plan keeps
    the state pending_approval until the cardholder's acceptance is recorded (RepaymentPlan.approve); it
    waits for the cardholder only, and reads so - never "Pending approval"."""
    if plan.state == PlanState.PENDING_APPROVAL and plan.approved_at is not None:
        return PlanStatus(APPROVED, APPROVED_LABEL)
    return PlanStatus(plan.state, plan.get_state_display())


def plan_actions(plan: RepaymentPlan | None, user) -> set[str]:
    """The buttons `user` gets on the plan: the transitions the state machine allows them now
    (`get_available_user_state_transitions`), named as the pages name them."""
    if plan is None or not user.is_authenticated:
        return set()
    names = {t.name for t in plan.get_available_user_state_transitions(user)}
    actions = names & {"accept", "cancel", "reject", "approve"}
    if plan.approved_at is not None:
        # Approved: what is left is the cardholder's answer (accept) or withdrawing it (cancel). The
        # `reject` transition does not check this itself (it should: conditions=[_not_approved]).
        actions.discard("reject")
    if plan.state == PlanState.PENDING_APPROVAL:
        tiers = approval_tiers()
        if tier_rank(user.role, tiers) < tier_rank(plan.approval_role, tiers):
            actions -= {"approve", "reject"}  # above this user's level
    if "approve" in actions:
        actions.add("send_back")
    return actions
