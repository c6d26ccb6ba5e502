"""Repayment plans ask authority too: a settlement whose waiver is beyond the proposer's (and the tier
approver's) authority goes up the ladder, and the proposer never approves their own plan."""

from datetime import timedelta
from decimal import Decimal

import pytest
import time_machine

from core.exceptions import NotAllowed
from repayment_plans import services as plans
from repayment_plans.models import PlanState
from tests.authority.conftest import case_owing

pytestmark = pytest.mark.django_db


@pytest.fixture
def today():
    with time_machine.travel("2026-03-02 10:00 +0800", tick=False):
        from django.utils import timezone

        yield timezone.localdate()


def settlement(case, actor, today, percent: str):
    balance = case.account.principal + case.account.interest + case.account.fees + case.account.penalties
    return plans.plan_propose(
        case_id=case.pk,
        actor=actor,
        data=plans.PlanInput(
            kind="settlement",
            amount=balance,
            first_due_date=today + timedelta(days=7),
            installments=1,
            discount_percent=Decimal(percent),
        ),
        reason="Lump sum from family",
    )


def test_a_small_settlement_is_the_team_leads_to_approve(today, team_a, agent, team_lead):
    plan = settlement(case_owing(team_a, "8000.00"), agent, today, "10")  # waives 890 CNY

    assert (plan.state, plan.approval_role) == (PlanState.PENDING_APPROVAL, "team_lead")
    plans.plan_approve(plan_id=plan.pk, actor=team_lead, note="Fair offer")
    plan.refresh_from_db()
    assert plan.approved_by == team_lead


def test_a_settlement_waiving_more_than_a_supervisors_authority_goes_to_the_head(
    today, team_a, supervisor, head
):
    # 30% is within a supervisor's plan tier, but it waives 120,270 CNY: above a supervisor's 100,000.
    plan = settlement(case_owing(team_a, "400000.00"), supervisor, today, "30")

    assert (plan.state, plan.approval_role) == (PlanState.PENDING_APPROVAL, "head")
    with pytest.raises(NotAllowed) as refused:
        plans.plan_approve(plan_id=plan.pk, actor=supervisor, note="Mine")
    assert refused.value.rule == "maker_checker"

    plans.plan_approve(plan_id=plan.pk, actor=head, note="Approved at head level")
    plan.refresh_from_db()
    assert plan.approved_by == head


def test_a_supervisor_grants_alone_what_is_within_their_authority(today, team_a, supervisor):
    plan = settlement(case_owing(team_a, "8000.00"), supervisor, today, "30")  # waives 2,670 CNY
    assert (plan.state, plan.approval_role) == (PlanState.DRAFT, "supervisor")


def test_a_settlement_waiving_above_the_dual_control_threshold_needs_two_different_approvers(
    today, team_a, supervisor, head, head2
):
    # 30% of 900,900 waives 270,270 CNY: within the head's 500,000, above the 200,000 dual-control line.
    plan = settlement(case_owing(team_a, "900000.00"), supervisor, today, "30")
    assert (plan.state, plan.approval_role, plan.required_approvals) == (
        PlanState.PENDING_APPROVAL,
        "head",
        2,
    )

    plans.plan_approve(plan_id=plan.pk, actor=head, note="Estate offer, checked")
    plan.refresh_from_db()
    assert (plan.state, plan.approved_by, plan.first_approved_by) == (PlanState.PENDING_APPROVAL, None, head)

    with pytest.raises(NotAllowed) as twice:
        plans.plan_approve(plan_id=plan.pk, actor=head, note="Again")
    assert twice.value.rule == "maker_checker"

    plans.plan_approve(plan_id=plan.pk, actor=head2, note="Agreed")
    plan.refresh_from_db()
    assert plan.approved_by == head2
