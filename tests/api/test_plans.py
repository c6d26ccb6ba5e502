"""Repayment plans through the API: calculate without side effects, propose, accept, approve, reject,
cancel - each the repayment_plans service, refusals in the envelope."""

import pytest

from collections_app.models import CaseEvent, CaseState
from repayment_plans.models import PlanState, RepaymentPlan

pytestmark = pytest.mark.django_db

TERMS = {  # inside an agent's limits
    "kind": "installment",
    "amount": "1200.00",
    "installments": 12,
    "frequency": "monthly",
    "first_due_date": "2026-06-09",
}
SUPERVISOR_TERMS = {**TERMS, "amount": "1800.00", "installments": 18}


def propose(client, case, terms=TERMS, **extra):
    return client.post(f"/api/v1/cases/{case.pk}/plans/", {**terms, **extra})


def test_calculate_quotes_the_schedule_and_writes_nothing(clients, case_a):
    events = CaseEvent.objects.filter(case=case_a).count()

    response = clients["agent"].post(f"/api/v1/cases/{case_a.pk}/plans/calculate/", SUPERVISOR_TERMS)

    assert response.status_code == 200, response.json()
    quote = response.json()
    assert len(quote["schedule"]) == 18
    assert quote["total"] == "1800.00"
    assert quote["approver_role"] == "supervisor"
    assert quote["within_limits"] is False
    assert quote["violations"][0]["code"]
    assert not RepaymentPlan.objects.exists()
    assert CaseEvent.objects.filter(case=case_a).count() == events


def test_calculate_refuses_terms_nobody_could_accept(clients, case_a):
    response = clients["agent"].post(
        f"/api/v1/cases/{case_a.pk}/plans/calculate/", {**TERMS, "amount": "99999.00"}
    )

    assert response.status_code == 422
    assert response.json()["rule"] == "amount_above_balance"


def test_propose_inside_limits_then_accept_puts_the_case_on_plan(clients, case_a):
    proposed = propose(clients["agent"], case_a)
    assert proposed.status_code == 201, proposed.json()
    plan = proposed.json()
    assert plan["state"] == PlanState.DRAFT
    assert len(plan["installments"]) == 12
    assert "accept" in plan["actions"]

    accepted = clients["agent"].post(f"/api/v1/plans/{plan['id']}/accept/", {"note": "Agreed by phone"})

    assert accepted.status_code == 200, accepted.json()
    assert accepted.json()["state"] == PlanState.ACTIVE
    case_a.refresh_from_db()
    assert case_a.state == CaseState.ON_PLAN


def test_a_plan_outside_limits_waits_for_the_supervisor(clients, case_a):
    plan = propose(clients["agent"], case_a, SUPERVISOR_TERMS, cardholder_accepted=True).json()
    assert plan["state"] == PlanState.PENDING_APPROVAL

    refused = clients["agent"].post(f"/api/v1/plans/{plan['id']}/approve/", {})
    approved = clients["supervisor"].post(f"/api/v1/plans/{plan['id']}/approve/", {"note": "Hardship"})

    assert refused.status_code == 403
    assert approved.status_code == 200, approved.json()
    assert approved.json()["state"] == PlanState.ACTIVE


def test_nobody_approves_their_own_plan_and_legal_approves_theirs(clients, case_a):
    legal_terms = {**TERMS, "kind": "personalised_installment", "amount": "8900.00", "installments": 48}
    plan = propose(clients["supervisor"], case_a, legal_terms).json()
    assert plan["approval_role"] == "legal"

    own = clients["supervisor"].post(f"/api/v1/plans/{plan['id']}/approve/", {})
    by_legal = clients["legal"].post(f"/api/v1/plans/{plan['id']}/approve/", {"note": "Hardship evidenced"})

    assert own.status_code == 403
    assert own.json()["rule"] == "maker_checker"
    assert by_legal.status_code == 200, by_legal.json()
    assert by_legal.json()["approved_by"] is not None


def test_reject_needs_a_reason(clients, case_a):
    plan = propose(clients["agent"], case_a, SUPERVISOR_TERMS).json()

    missing = clients["supervisor"].post(f"/api/v1/plans/{plan['id']}/reject/", {})
    rejected = clients["supervisor"].post(f"/api/v1/plans/{plan['id']}/reject/", {"reason": "Too long"})

    assert missing.status_code == 422
    assert missing.json()["field"] == "reason"
    assert rejected.status_code == 200
    assert rejected.json()["state"] == PlanState.REJECTED


def test_cancel_a_draft(clients, case_a):
    plan = propose(clients["agent"], case_a).json()

    response = clients["agent"].post(f"/api/v1/plans/{plan['id']}/cancel/", {"reason": "Customer withdrew"})

    assert response.status_code == 200
    assert response.json()["state"] == PlanState.CANCELLED


def test_a_second_live_plan_is_a_409(clients, case_a):
    propose(clients["agent"], case_a)

    response = propose(clients["agent"], case_a)

    assert response.status_code == 409
    assert response.json()["rule"] == "one_live_plan_per_case"


def test_an_unknown_plan_kind_is_422(clients, case_a):
    response = propose(clients["agent"], case_a, {**TERMS, "kind": "forgiveness"})

    assert response.status_code == 422
    assert response.json()["field"] == "kind"


def test_a_first_due_date_off_the_calendar_is_422(clients, case_a):
    response = propose(clients["agent"], case_a, {**TERMS, "first_due_date": "9999-12-31"})

    assert response.status_code == 422
    assert response.json()["field"] == "first_due_date"
