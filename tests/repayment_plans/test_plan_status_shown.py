"""The status a plan shows is read from its state, on every page that shows it, and its buttons are the
ones its state allows.

A plan outside its proposer's limits keeps the state pending_approval once an approver has approved it,
until the cardholder's acceptance is recorded (RepaymentPlan.approve). Such a plan is approved: it must
not read "Pending approval" (待审批) nor offer Reject, and it leaves the approvals inbox.

Personas (tests/conftest.py): `agent` proposes on team A's case; `supervisor` approves team A's plans;
both work in Chinese here, as the report was made."""

import re

import pytest
from django.urls import reverse
from django.utils import translation

from repayment_plans import selectors, services
from repayment_plans.models import PlanState
from tests.repayment_plans.conftest import SUPERVISOR_TERMS, terms

pytestmark = [pytest.mark.django_db, pytest.mark.urls("tests.repayment_plans.urls")]

PENDING_ZH = "待审批"
APPROVED_ZH = "已批准，待持卡人同意"
ACTIVE_ZH = "执行中"


@pytest.fixture(autouse=True)
def _language_reset():
    """A request activates its user's language for the whole thread (accounts.middleware) and nothing
    resets it: put the default back so that later tests do not run in Chinese."""
    yield
    translation.deactivate()


@pytest.fixture
def in_chinese(agent, supervisor):
    for user in (agent, supervisor):
        user.language = "zh-hans"
        user.save(update_fields=["language"])


@pytest.fixture
def approved(case, agent, supervisor, in_chinese):
    """Outside the agent's limits, approved by the supervisor; the cardholder has not accepted yet."""
    plan = services.plan_propose(case_id=case.pk, actor=agent, data=terms(**SUPERVISOR_TERMS))
    plan = services.plan_approve(plan_id=plan.pk, actor=supervisor)
    assert (plan.state, plan.approved_by, plan.accepted_at) == (PlanState.PENDING_APPROVAL, supervisor, None)
    return plan


def state_badge(html: str) -> str:
    found = re.findall(r'data-testid="plan-state"[^>]*>([^<]*)<', html)
    assert len(found) == 1, found
    return found[0]


def pages(plan) -> list[str]:
    """Every page that shows the plan with its buttons: the plan page, the case's plan, the case page."""
    return [
        reverse("plans:detail", args=[plan.pk]),
        reverse("plans:case", args=[plan.case_id]),
        reverse("case_detail", args=[plan.case_id]),
    ]


def test_an_approved_plan_reads_approved_and_offers_no_reject_to_its_approver(client, approved, supervisor):
    client.force_login(supervisor)
    for page in pages(approved):
        html = client.get(page).content.decode()

        assert state_badge(html) == APPROVED_ZH, page
        assert PENDING_ZH not in html, page
        assert reverse("plans:reject", args=[approved.pk]) not in html, page
        assert reverse("plans:approve", args=[approved.pk]) not in html, page
        assert reverse("plans:send_back", args=[approved.pk]) not in html, page


def test_an_approved_plan_still_waits_for_the_cardholders_acceptance(client, approved, agent):
    client.force_login(agent)
    html = client.get(reverse("plans:detail", args=[approved.pk])).content.decode()

    assert state_badge(html) == APPROVED_ZH
    assert reverse("plans:accept", args=[approved.pk]) in html
    assert reverse("plans:reject", args=[approved.pk]) not in html


def test_an_approved_plan_leaves_the_approvals_inbox(client, approved, supervisor):
    client.force_login(supervisor)
    html = client.get(reverse("plans:approvals")).content.decode()
    assert 'data-testid="approvals-empty"' in html
    assert f'data-plan="{approved.pk}"' not in html


def test_once_accepted_the_plan_reads_active_with_no_reject(client, approved, agent, supervisor):
    services.plan_accept(plan_id=approved.pk, actor=agent)
    client.force_login(supervisor)
    for page in pages(approved):
        html = client.get(page).content.decode()

        assert state_badge(html) == ACTIVE_ZH, page
        assert PENDING_ZH not in html, page
        assert reverse("plans:reject", args=[approved.pk]) not in html, page


def test_a_plan_waiting_for_approval_reads_pending_and_its_approver_may_reject_it(
    client, case, agent, supervisor, in_chinese
):
    plan = services.plan_propose(case_id=case.pk, actor=agent, data=terms(**SUPERVISOR_TERMS))
    client.force_login(supervisor)
    for page in pages(plan):
        html = client.get(page).content.decode()

        assert state_badge(html) == PENDING_ZH, page
        assert reverse("plans:reject", args=[plan.pk]) in html, page
        assert reverse("plans:approve", args=[plan.pk]) in html, page


def test_the_plan_history_and_the_agreement_show_the_same_status(client, approved, agent):
    client.force_login(agent)

    agreement = client.get(reverse("plans:agreement", args=[approved.pk])).content.decode()

    # The agreement is in the cardholder's language (Chinese here): not in force, and approved.
    assert 'data-testid="not-in-force"' in agreement
    assert APPROVED_ZH in agreement and PENDING_ZH not in agreement


def test_the_status_comes_from_the_plans_state(approved, agent):
    with translation.override("en"):
        assert selectors.plan_status(approved).label == "Approved, awaiting acceptance"
        assert selectors.plan_status(approved).key == "approved"
        services.plan_accept(plan_id=approved.pk, actor=agent)
        approved.refresh_from_db()
        assert (selectors.plan_status(approved).key, selectors.plan_status(approved).label) == (
            "active",
            "Active",
        )


def test_the_approver_gets_no_reject_action_on_an_approved_plan(approved, supervisor, agent):
    assert selectors.plan_actions(approved, supervisor) == {"accept", "cancel"}
    assert selectors.plan_actions(approved, agent) == {"accept", "cancel"}
