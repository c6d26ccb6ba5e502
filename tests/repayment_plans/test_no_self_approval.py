"""Maker-checker on repayment plans: whoever proposed a plan never approves it (nor sends it back with a
counter-proposal), whatever their role now; someone else at the plan's level does.

Personas (tests/conftest.py): `agent` of team A proposes; `supervisor` approves team A's plans; `legal`
approves what needs legal. `promoted` is an agent of team A who proposed a plan and was then made a
supervisor: the one way a pending plan's proposer reaches its approval level (a proposal inside the
proposer's own limits is a draft, not a request)."""

import pytest
from django.urls import reverse

from core.exceptions import NotAllowed
from repayment_plans import selectors, services
from repayment_plans.models import PlanState
from tests.factories import UserFactory
from tests.repayment_plans.conftest import LEGAL_TERMS, SUPERVISOR_TERMS, terms

pytestmark = [pytest.mark.django_db, pytest.mark.urls("tests.repayment_plans.urls")]

OWN_PLAN = "Nobody approves a plan they proposed themselves."


def propose(case, actor, **overrides):
    return services.plan_propose(case_id=case.pk, actor=actor, data=terms(**overrides), reason="Job loss")


@pytest.fixture
def promoted(team_a):
    return UserFactory(username="agent_promoted", role="agent", team=team_a)


@pytest.fixture
def own_pending_plan(case, promoted):
    """A plan pending at supervisor level, proposed by `promoted` while an agent; now they supervise."""
    plan = propose(case, promoted, **SUPERVISOR_TERMS)
    assert (plan.state, plan.approval_role) == (PlanState.PENDING_APPROVAL, "supervisor")
    promoted.role = "supervisor"
    promoted.save(update_fields=["role"])
    return plan


def test_the_proposer_cannot_approve_their_own_plan_through_the_service(own_pending_plan, promoted):
    with pytest.raises(NotAllowed) as refused:
        services.plan_approve(plan_id=own_pending_plan.pk, actor=promoted, note="Looks fine")

    assert refused.value.rule == "maker_checker"
    assert refused.value.message == OWN_PLAN
    own_pending_plan.refresh_from_db()
    assert (own_pending_plan.state, own_pending_plan.approved_at) == (PlanState.PENDING_APPROVAL, None)


def test_the_proposer_cannot_send_their_own_plan_back(own_pending_plan, promoted):
    with pytest.raises(NotAllowed) as refused:
        services.plan_send_back(
            plan_id=own_pending_plan.pk, actor=promoted, note="Shorter", data=terms(installments=10)
        )

    assert refused.value.rule == "maker_checker"
    own_pending_plan.refresh_from_db()
    assert own_pending_plan.state == PlanState.PENDING_APPROVAL


def test_a_supervisor_who_proposed_above_their_level_cannot_approve_it(case, supervisor, legal):
    plan = propose(case, supervisor, **LEGAL_TERMS)

    with pytest.raises(NotAllowed) as refused:
        services.plan_approve(plan_id=plan.pk, actor=supervisor)
    services.plan_approve(plan_id=plan.pk, actor=legal, note="Hardship evidenced")

    assert refused.value.rule == "maker_checker"
    plan.refresh_from_db()
    assert plan.approved_by == legal


def test_another_approver_of_the_same_level_approves_it(own_pending_plan, supervisor):
    services.plan_approve(plan_id=own_pending_plan.pk, actor=supervisor, note="Hardship documented")

    own_pending_plan.refresh_from_db()
    assert own_pending_plan.approved_by == supervisor


def test_the_page_refuses_the_proposer_with_the_reason(client, own_pending_plan, promoted):
    client.force_login(promoted)

    response = client.post(reverse("plans:approve", args=[own_pending_plan.pk]), follow=True)

    assert OWN_PLAN in [str(m) for m in response.context["messages"]]
    own_pending_plan.refresh_from_db()
    assert own_pending_plan.approved_at is None


def test_the_page_lets_another_supervisor_approve(client, own_pending_plan, supervisor):
    client.force_login(supervisor)

    response = client.post(reverse("plans:approve", args=[own_pending_plan.pk]), follow=True)

    assert "The plan is approved." in [str(m) for m in response.context["messages"]]
    own_pending_plan.refresh_from_db()
    assert own_pending_plan.approved_by == supervisor


def test_the_proposer_is_not_offered_approve_or_send_back(own_pending_plan, promoted, supervisor):
    assert not selectors.plan_actions(own_pending_plan, promoted) & {"approve", "send_back"}
    assert {"approve", "send_back"} <= selectors.plan_actions(own_pending_plan, supervisor)


def test_the_case_page_shows_the_approve_button_to_another_supervisor_only(
    client, case, own_pending_plan, promoted, supervisor
):
    approve_url = reverse("plans:approve", args=[own_pending_plan.pk])
    pages = {}
    for user in (promoted, supervisor):
        client.force_login(user)
        response = client.get(reverse("plans:case", args=[case.pk]))
        assert response.status_code == 200
        pages[user.username] = response.content.decode()

    assert approve_url not in pages[promoted.username]
    assert approve_url in pages[supervisor.username]


def test_the_approvals_inbox_leaves_out_the_proposers_own_plan(own_pending_plan, promoted, supervisor):
    assert own_pending_plan not in selectors.plans_awaiting_approval(promoted)
    assert own_pending_plan in selectors.plans_awaiting_approval(supervisor)
