"""Repayment plans through the service layer: every transition, its guards, its events, bad input, and the
nightly broken-plan check at the grace-day boundary.

Personas (tests/conftest.py): `agent` works team A's cases (limits: 12 monthly installments, no discount);
`supervisor` supervises team A (24 installments, 30% discount, settlements); `legal` approves what is
beyond that (personalised plans); `other_agent` works team B and must not reach team A's cases.
"""

import threading
from datetime import timedelta
from decimal import Decimal

import pytest
import time_machine
from django.db import IntegrityError, connection, transaction
from django.test import override_settings

from collections_app import services as case_services
from collections_app.models import Case, CaseEvent, CaseState, EventKind, PromiseStatus
from core.exceptions import InvalidTransition, NotAllowed, ValidationFailed
from legal import services as legal_services
from repayment_plans import services
from repayment_plans.models import (
    ApprovalLimit,
    Installment,
    InstallmentStatus,
    PlanState,
    RepaymentPlan,
)
from tests.factories import open_case, write_off_approved
from tests.repayment_plans.conftest import LEGAL_TERMS, SUPERVISOR_TERMS, TODAY, pay, terms

pytestmark = pytest.mark.django_db


def plan_events(case, action=None):
    events = CaseEvent.objects.filter(case=case, kind=EventKind.PLAN).order_by("created_at", "id")
    return [e for e in events if action is None or e.details["action"] == action]


def propose(case, actor, **overrides):
    return services.plan_propose(case_id=case.pk, actor=actor, data=terms(**overrides), reason="Job loss")


# --- The default tiers --------------------------------------------------------------------------


def test_default_tiers_follow_the_ladder_then_legal():
    tiers = list(ApprovalLimit.objects.values_list("role", "max_installments", "max_discount_percent"))
    assert tiers == [
        ("agent", 12, Decimal("0.00")),
        ("team_lead", 12, Decimal("10.00")),
        ("supervisor", 24, Decimal("30.00")),
        ("head", 24, Decimal("30.00")),  # what the head adds is money: authority's amounts
        ("legal", 60, Decimal("50.00")),
    ]
    assert "personalised_installment" not in ApprovalLimit.objects.get(role="supervisor").allowed_kinds


# --- Calculating ---------------------------------------------------------------------------------


def test_calculate_has_no_side_effects_and_says_who_may_approve(case, agent):
    events_before = CaseEvent.objects.count()

    inside = services.plan_calculate(case=case, actor=agent, data=terms())
    outside = services.plan_calculate(case=case, actor=agent, data=terms(**SUPERVISOR_TERMS))

    assert (inside.within_limits, inside.approver_role) == (True, "agent")
    assert [line.amount for line in inside.schedule.lines] == [Decimal("100.00")] * 12
    assert (outside.within_limits, outside.approver_role) == (False, "supervisor")
    assert [v.code for v in outside.violations] == ["max_installments", "max_term"]
    assert not RepaymentPlan.objects.exists()
    assert CaseEvent.objects.count() == events_before


def test_a_supervisor_may_grant_alone_what_an_agent_may_not(case, supervisor):
    quote = services.plan_calculate(case=case, actor=supervisor, data=terms(**SUPERVISOR_TERMS))
    assert quote.within_limits
    assert quote.approver_role == "supervisor"


# --- Proposing ----------------------------------------------------------------------------------


def test_a_plan_inside_the_agents_limits_stays_draft_until_accepted(case, agent):
    plan = propose(case, agent)

    assert plan.state == PlanState.DRAFT
    assert plan.approval_role == "agent"
    assert plan.payable_amount == Decimal("1200.00")
    lines = list(plan.installments.order_by("number"))
    assert len(lines) == 12
    assert sum(line.amount for line in lines) == plan.amount
    assert lines[0].due_date == TODAY + timedelta(days=7)
    assert all(line.status == InstallmentStatus.DUE for line in lines)
    case.refresh_from_db()
    assert case.state == CaseState.IN_PROGRESS  # negotiating is working the case
    (event,) = plan_events(case)
    assert event.details["action"] == "proposed"
    assert (event.details["to"], event.actor, event.reason) == ("draft", agent, "Job loss")


def test_a_plan_outside_the_agents_limits_goes_to_the_supervisor(case, agent):
    plan = propose(case, agent, **SUPERVISOR_TERMS)

    assert plan.state == PlanState.PENDING_APPROVAL
    assert plan.approval_role == "supervisor"
    submitted = plan_events(case, "submitted_for_approval")[0]
    assert (submitted.details["from"], submitted.details["to"]) == ("draft", "pending_approval")
    assert submitted.details["outside_limits"] == ["max_installments", "max_term"]


def test_a_personalised_plan_needs_legal(case, supervisor):
    plan = propose(case, supervisor, **LEGAL_TERMS)
    assert (plan.state, plan.approval_role) == (PlanState.PENDING_APPROVAL, "legal")


def test_acceptance_given_with_the_proposal_activates_a_plan_inside_limits(case, agent):
    plan = services.plan_propose(
        case_id=case.pk, actor=agent, data=terms(), cardholder_accepted=True, acceptance_note="Call R-1"
    )

    assert plan.state == PlanState.ACTIVE
    assert (plan.accepted_by, plan.acceptance_note) == (agent, "Call R-1")
    case.refresh_from_db()
    assert case.state == CaseState.ON_PLAN
    assert [e.details["action"] for e in plan_events(case)] == ["proposed", "accepted"]


def test_a_case_has_at_most_one_live_plan(case, agent):
    propose(case, agent)
    with pytest.raises(InvalidTransition) as refused:
        propose(case, agent)
    assert refused.value.rule == "one_live_plan_per_case"
    assert RepaymentPlan.objects.count() == 1


@pytest.mark.postgres
def test_the_database_refuses_a_second_live_plan_too(case, agent):
    plan = propose(case, agent)
    with pytest.raises(IntegrityError), transaction.atomic():
        RepaymentPlan.objects.create(
            case=case,
            kind="installment",
            amount=plan.amount,
            currency="CNY",
            installment_count=1,
            first_due_date=plan.first_due_date,
            payable_amount=plan.amount,
            approval_role="agent",
            proposed_by=agent,
        )


@pytest.mark.postgres
def test_the_database_refuses_a_waiver_before_the_plan_is_kept(case, supervisor):
    plan = propose(
        case,
        supervisor,
        kind="settlement",
        amount=Decimal("8900.00"),
        installments=1,
        discount_percent=Decimal("20"),
    )
    with pytest.raises(IntegrityError), transaction.atomic():
        RepaymentPlan.objects.filter(pk=plan.pk).update(waived_amount=plan.amount - plan.payable_amount)


@pytest.mark.parametrize(
    ("overrides", "field", "rule"),
    [
        ({"amount": Decimal("0.00")}, "amount", "amount_not_positive"),
        ({"amount": Decimal("-100.00")}, "amount", "amount_not_positive"),
        ({"installments": 0}, "installments", "count_not_positive"),
        ({"first_due_date": TODAY - timedelta(days=1)}, "first_due_date", "first_due_in_past"),
        ({"amount": Decimal("9000.00")}, "amount", "amount_above_balance"),
        ({"discount_percent": Decimal("10")}, "discount_percent", "not_applicable"),
        ({"amount": Decimal("100.005")}, "amount", "not_whole_cents"),
        ({"installments": 1000}, "installments", "too_many_installments"),
        (
            {
                "kind": "settlement",
                "amount": Decimal("8900.00"),
                "installments": 1,
                "discount_percent": Decimal("60"),
            },
            "discount_percent",
            "max_discount",
        ),
        (
            {"kind": "settlement", "amount": Decimal("1000.00"), "installments": 1},
            "amount",
            "settlement_of_balance",
        ),
    ],
    ids=[
        "zero amount",
        "negative amount",
        "no installments",
        "first date in the past",
        "above the balance",
        "discount on an installment plan",
        "fraction of a cent",
        "absurd count",
        "discount above every limit",
        "settlement of less than the balance",
    ],
)
def test_bad_terms_are_refused_with_the_field_and_rule(case, agent, supervisor, overrides, field, rule):
    actor = supervisor if overrides.get("kind") == "settlement" else agent
    with pytest.raises(ValidationFailed) as refused:
        propose(case, actor, **overrides)
    assert (refused.value.field, refused.value.rule) == (field, rule)
    assert refused.value.message
    assert not RepaymentPlan.objects.exists()


def test_the_discount_message_names_the_limit(case, supervisor):
    with pytest.raises(ValidationFailed, match="more than the 50.00% allowed"):
        propose(
            case,
            supervisor,
            kind="settlement",
            amount=Decimal("8900.00"),
            installments=1,
            discount_percent=Decimal("60"),
        )


def test_an_agent_of_another_team_cannot_propose(case, other_agent):
    with pytest.raises(NotAllowed):
        propose(case, other_agent)
    assert not RepaymentPlan.objects.exists()


def test_legal_does_not_propose_plans(case, legal):
    with pytest.raises(NotAllowed):
        propose(case, legal)


def test_no_plan_on_a_case_in_legal_review(case, supervisor):
    legal_services.legal_refer(case_id=case.pk, actor=supervisor, reason="Fraud suspected")
    with pytest.raises(InvalidTransition) as refused:
        propose(case, supervisor)
    assert refused.value.rule == "case_state"
    assert str(refused.value) == "A plan cannot be proposed on a case in state 'Legal review'."


def test_a_plan_is_proposed_on_a_case_the_caller_has_locked(case, supervisor):
    with transaction.atomic():
        locked = case_services.lock_case(case.pk)
        plan = services.plan_propose_on_locked_case(
            case=locked, actor=supervisor, data=terms(), reason="Settlement offer", today=TODAY
        )
    assert (plan.state, plan.proposed_by) == (PlanState.DRAFT, supervisor)
    assert [e.details["action"] for e in plan_events(case)] == ["proposed"]


def test_a_plan_on_a_locked_case_on_hold_is_refused_by_the_case_state_machine(case, agent, supervisor):
    case_services.case_hold(case_id=case.pk, actor=agent, reason="hardship")
    with transaction.atomic(), pytest.raises(InvalidTransition) as refused:
        locked = case_services.lock_case(case.pk)
        services.plan_propose_on_locked_case(
            case=locked, actor=supervisor, data=terms(), reason="x", today=TODAY
        )
    assert refused.value.rule == "case_state"
    assert not RepaymentPlan.objects.exists()


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_proposals_at_once_one_wins_the_other_is_refused(case, agent, supervisor):
    barrier = threading.Barrier(2)
    outcomes: dict[str, object] = {}

    def run(actor):
        try:
            barrier.wait()
            propose(case, actor)
            outcomes[actor.username] = "ok"
        except Exception as exc:  # noqa: BLE001 - the refusal is what we look at
            outcomes[actor.username] = exc
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(actor,)) for actor in (agent, supervisor)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sorted(str(type(result).__name__) for result in outcomes.values()) == ["InvalidTransition", "str"]
    assert RepaymentPlan.objects.filter(case=case).count() == 1


# --- Accepting ---------------------------------------------------------------------------------


def test_accepting_a_draft_activates_it_and_puts_the_case_on_plan(case, agent):
    plan = propose(case, agent)

    services.plan_accept(plan_id=plan.pk, actor=agent, note="Call R-2")

    plan.refresh_from_db()
    case.refresh_from_db()
    assert plan.state == PlanState.ACTIVE
    assert plan.accepted_at is not None and plan.activated_at is not None
    assert case.state == CaseState.ON_PLAN
    transition = CaseEvent.objects.get(case=case, kind=EventKind.TRANSITION, to_state=CaseState.ON_PLAN)
    assert (transition.from_state, transition.actor, transition.details["plan"]) == (
        "in_progress",
        agent,
        plan.pk,
    )


def test_accepting_twice_is_refused(case, agent):
    plan = propose(case, agent)
    services.plan_accept(plan_id=plan.pk, actor=agent)
    with pytest.raises(InvalidTransition):
        services.plan_accept(plan_id=plan.pk, actor=agent)


def test_a_plan_whose_first_payment_has_passed_cannot_be_activated(case, agent):
    plan = propose(case, agent)
    with (
        time_machine.travel("2026-03-20 10:00 +0800", tick=False),
        pytest.raises(InvalidTransition) as refused,
    ):
        services.plan_accept(plan_id=plan.pk, actor=agent)
    assert refused.value.rule == "first_due_in_past"
    plan.refresh_from_db()
    assert plan.state == PlanState.DRAFT


def test_activation_replaces_a_pending_promise(case, agent):
    promise = case_services.promise_record(
        case_id=case.pk, actor=agent, amount=Decimal("500.00"), due_date=TODAY + timedelta(days=3)
    )
    plan = propose(case, agent)

    services.plan_accept(plan_id=plan.pk, actor=agent)

    promise.refresh_from_db()
    case.refresh_from_db()
    assert promise.status == PromiseStatus.CANCELLED
    assert case.state == CaseState.ON_PLAN
    assert case.broken_promise_count == 0


def test_an_agent_of_another_team_cannot_record_acceptance(case, agent, other_agent):
    plan = propose(case, agent)
    with pytest.raises(NotAllowed):
        services.plan_accept(plan_id=plan.pk, actor=other_agent)


# --- Approving ---------------------------------------------------------------------------------


def test_approval_of_an_accepted_plan_activates_it(case, agent, supervisor):
    plan = services.plan_propose(
        case_id=case.pk, actor=agent, data=terms(**SUPERVISOR_TERMS), cardholder_accepted=True
    )
    assert plan.state == PlanState.PENDING_APPROVAL

    services.plan_approve(plan_id=plan.pk, actor=supervisor, note="Hardship documented")

    plan.refresh_from_db()
    case.refresh_from_db()
    assert (plan.state, plan.approved_by) == (PlanState.ACTIVE, supervisor)
    assert case.state == CaseState.ON_PLAN
    approved = plan_events(case, "approved")[0]
    assert (approved.actor, approved.details["to"], approved.reason) == (
        supervisor,
        "active",
        "Hardship documented",
    )


def test_approval_before_acceptance_waits_for_the_cardholder(case, agent, supervisor):
    plan = propose(case, agent, **SUPERVISOR_TERMS)

    services.plan_approve(plan_id=plan.pk, actor=supervisor)
    plan.refresh_from_db()
    assert plan.state == PlanState.PENDING_APPROVAL
    assert plan.approved_at is not None

    services.plan_accept(plan_id=plan.pk, actor=agent)
    plan.refresh_from_db()
    case.refresh_from_db()
    assert plan.state == PlanState.ACTIVE
    assert case.state == CaseState.ON_PLAN


def test_acceptance_before_approval_keeps_the_plan_pending(case, agent):
    plan = propose(case, agent, **SUPERVISOR_TERMS)
    services.plan_accept(plan_id=plan.pk, actor=agent)
    plan.refresh_from_db()
    case.refresh_from_db()
    assert plan.state == PlanState.PENDING_APPROVAL
    assert case.state != CaseState.ON_PLAN


def test_an_agent_cannot_approve(case, agent, supervisor):
    plan = propose(case, supervisor, **LEGAL_TERMS)
    with pytest.raises(NotAllowed):
        services.plan_approve(plan_id=plan.pk, actor=agent)


def test_a_supervisor_cannot_approve_a_plan_that_needs_legal(case, agent, supervisor):
    plan = propose(case, agent, **LEGAL_TERMS)
    with pytest.raises(NotAllowed) as refused:
        services.plan_approve(plan_id=plan.pk, actor=supervisor)
    assert refused.value.rule == "approval_level"


def test_legal_approves_a_personalised_plan_on_a_case_outside_legal_review(case, agent, legal):
    plan = services.plan_propose(
        case_id=case.pk, actor=agent, data=terms(**LEGAL_TERMS), cardholder_accepted=True
    )
    services.plan_approve(plan_id=plan.pk, actor=legal)
    plan.refresh_from_db()
    assert plan.state == PlanState.ACTIVE


def test_a_supervisor_of_another_team_cannot_approve(case, agent, supervisor_b):
    plan = propose(case, agent, **SUPERVISOR_TERMS)
    with pytest.raises(NotAllowed):
        services.plan_approve(plan_id=plan.pk, actor=supervisor_b)


def test_a_draft_cannot_be_approved(case, agent, supervisor):
    plan = propose(case, agent)
    with pytest.raises(InvalidTransition):
        services.plan_approve(plan_id=plan.pk, actor=supervisor)


def test_approving_twice_is_refused(case, agent, supervisor):
    plan = propose(case, agent, **SUPERVISOR_TERMS)
    services.plan_approve(plan_id=plan.pk, actor=supervisor)
    with pytest.raises(InvalidTransition):
        services.plan_approve(plan_id=plan.pk, actor=supervisor)


# --- Rejecting, sending back, cancelling ---------------------------------------------------------


def test_rejecting_needs_a_reason_and_leaves_the_case_alone(case, agent, supervisor):
    plan = propose(case, agent, **SUPERVISOR_TERMS)
    with pytest.raises(ValidationFailed):
        services.plan_reject(plan_id=plan.pk, actor=supervisor, reason="  ")

    services.plan_reject(plan_id=plan.pk, actor=supervisor, reason="Income not verified")

    plan.refresh_from_db()
    assert (plan.state, plan.ended_by, plan.end_note) == (
        PlanState.REJECTED,
        supervisor,
        "Income not verified",
    )
    assert plan_events(case, "rejected")[0].reason == "Income not verified"
    case.refresh_from_db()
    assert case.state == CaseState.IN_PROGRESS
    # The case is free for another proposal.
    assert propose(case, agent).state == PlanState.DRAFT


def test_an_agent_cannot_reject_a_plan_waiting_for_approval(case, agent):
    plan = propose(case, agent, **SUPERVISOR_TERMS)
    with pytest.raises(NotAllowed):
        services.plan_reject(plan_id=plan.pk, actor=agent, reason="Changed my mind")


def test_the_cardholder_declining_a_draft_rejects_it(case, agent):
    plan = propose(case, agent)
    services.plan_reject(plan_id=plan.pk, actor=agent, reason="Cardholder wants fewer installments")
    plan.refresh_from_db()
    assert plan.state == PlanState.REJECTED


def test_sending_back_rejects_the_plan_and_proposes_the_counter_terms(case, agent, supervisor):
    plan = propose(case, agent, **SUPERVISOR_TERMS)

    counter = services.plan_send_back(
        plan_id=plan.pk,
        actor=supervisor,
        note="Twelve installments of 150.00 instead",
        data=terms(amount=Decimal("1800.00"), installments=12),
    )

    plan.refresh_from_db()
    assert plan.state == PlanState.REJECTED
    assert (counter.state, counter.counter_to, counter.proposed_by) == (PlanState.DRAFT, plan, supervisor)
    assert [line.amount for line in counter.installments.all()] == [Decimal("150.00")] * 12
    assert [e.details["action"] for e in plan_events(case)][-2:] == ["sent_back", "proposed"]

    services.plan_accept(plan_id=counter.pk, actor=agent)
    counter.refresh_from_db()
    assert counter.state == PlanState.ACTIVE


def test_sending_back_needs_a_note(case, agent, supervisor):
    plan = propose(case, agent, **SUPERVISOR_TERMS)
    with pytest.raises(ValidationFailed):
        services.plan_send_back(plan_id=plan.pk, actor=supervisor, note="", data=terms())
    plan.refresh_from_db()
    assert plan.state == PlanState.PENDING_APPROVAL


def test_bad_counter_terms_leave_the_plan_pending(case, agent, supervisor):
    plan = propose(case, agent, **SUPERVISOR_TERMS)
    with pytest.raises(ValidationFailed):
        services.plan_send_back(
            plan_id=plan.pk, actor=supervisor, note="Less", data=terms(amount=Decimal("0"))
        )
    plan.refresh_from_db()
    assert plan.state == PlanState.PENDING_APPROVAL


def test_cancelling_a_draft_needs_a_reason(case, agent):
    plan = propose(case, agent)
    with pytest.raises(ValidationFailed):
        services.plan_cancel(plan_id=plan.pk, actor=agent, reason="")
    services.plan_cancel(plan_id=plan.pk, actor=agent, reason="Offer withdrawn")
    plan.refresh_from_db()
    assert (plan.state, plan.end_note) == (PlanState.CANCELLED, "Offer withdrawn")


def test_cancelling_an_active_plan_returns_the_case_without_counting_a_broken_plan(case, agent):
    plan = services.plan_propose(case_id=case.pk, actor=agent, data=terms(), cardholder_accepted=True)

    services.plan_cancel(plan_id=plan.pk, actor=agent, reason="Restructured")

    case.refresh_from_db()
    assert case.state == CaseState.IN_PROGRESS
    assert case.broken_plan_count == 0


def test_an_ended_plan_cannot_be_cancelled(case, agent, supervisor):
    plan = propose(case, agent, **SUPERVISOR_TERMS)
    services.plan_reject(plan_id=plan.pk, actor=supervisor, reason="No")
    with pytest.raises(InvalidTransition):
        services.plan_cancel(plan_id=plan.pk, actor=agent, reason="Too late")


def test_closing_the_case_cancels_its_live_plan(case, agent, supervisor):
    plan = services.plan_propose(case_id=case.pk, actor=agent, data=terms(), cardholder_accepted=True)
    write_off_approved(case, by=supervisor, resolution_reason="deceased", reason="Case written off")

    plan.refresh_from_db()
    assert (plan.state, plan.end_note) == (PlanState.CANCELLED, "Case written off")
    case.refresh_from_db()
    assert case.state == CaseState.WRITTEN_OFF
    # the closing service already cancelled it: a second call finds nothing live
    assert services.plans_cancel_for_closed_case(case=case, actor=None, reason="again") is None


def test_cases_closed_in_bulk_have_their_live_plans_cancelled_once(today, team_a, agent, supervisor):
    active, draft, without = (open_case(team=team_a, overdue_amount=Decimal("6000.00")) for _ in range(3))
    active_plan = services.plan_propose(
        case_id=active.pk, actor=agent, data=terms(), cardholder_accepted=True
    )
    draft_plan = services.plan_propose(case_id=draft.pk, actor=agent, data=terms())
    closed = [active.pk, draft.pk, without.pk]
    with transaction.atomic():
        case_services.bulk_transition(  # the nightly pipeline resolves in bulk; nothing writes off in bulk
            Case.objects.filter(pk__in=closed), "resolve", reason="Charged off", kind=EventKind.RESOLVED
        )
        assert services.plans_cancel_for_closed_cases(case_ids=closed, actor=None, reason="Charged off") == 2

    for plan, case, from_state in ((active_plan, active, "active"), (draft_plan, draft, "draft")):
        plan.refresh_from_db()
        assert (plan.state, plan.end_note, plan.ended_by) == (PlanState.CANCELLED, "Charged off", None)
        assert plan.ended_at is not None
        (event,) = plan_events(case, "cancelled")
        assert (event.details, event.reason, event.actor) == (
            {"plan": plan.pk, "action": "cancelled", "from": from_state, "to": "cancelled"},
            "Charged off",
            None,
        )
    assert services.plans_cancel_for_closed_cases(case_ids=closed, actor=None, reason="again") == 0


# --- Completing --------------------------------------------------------------------------------


def test_paying_every_installment_completes_the_plan_and_resolves_the_case(case, agent):
    plan = services.plan_propose(case_id=case.pk, actor=agent, data=terms(), cardholder_accepted=True)

    pay(case, Decimal("1200.00"))

    plan.refresh_from_db()
    case.refresh_from_db()
    assert plan.state == PlanState.COMPLETED
    assert plan.waived_amount == Decimal("0.00")
    assert (case.state, case.resolution_reason) == (CaseState.RESOLVED, "plan_completed")
    assert plan_events(case, "completed")


def test_a_kept_settlement_records_its_waiver_then_and_only_then(today, team_a, supervisor):
    case = open_case(team=team_a, overdue_amount=Decimal("8900.00"))
    plan = services.plan_propose(
        case_id=case.pk,
        actor=supervisor,
        data=terms(
            kind="settlement", amount=Decimal("8900.00"), installments=2, discount_percent=Decimal("30")
        ),
        cardholder_accepted=True,
    )
    assert (plan.payable_amount, plan.waived_amount) == (Decimal("6230.00"), Decimal("0.00"))

    pay(case, Decimal("3115.00"))
    plan.refresh_from_db()
    assert (plan.state, plan.waived_amount) == (PlanState.ACTIVE, Decimal("0.00"))

    pay(case, Decimal("3115.00"))
    plan.refresh_from_db()
    case.refresh_from_db()
    assert (plan.state, plan.waived_amount) == (PlanState.COMPLETED, Decimal("2670.00"))
    assert (case.state, case.resolution_reason) == (CaseState.RESOLVED, "settled")
    assert plan_events(case, "completed")[0].details["waived"] == "2670.00"


# --- Broken plans (nightly) ------------------------------------------------------------------------


@pytest.fixture
def active_plan(case, agent):
    """An active plan whose first 100.00 falls due on 9 March 2026."""
    return services.plan_propose(case_id=case.pk, actor=agent, data=terms(), cardholder_accepted=True)


FIRST_DUE = TODAY + timedelta(days=7)


def test_an_installment_short_within_the_grace_days_is_late_but_the_plan_holds(active_plan):
    assert services.plans_check_broken(as_of=FIRST_DUE + timedelta(days=3)) == 0

    active_plan.refresh_from_db()
    assert active_plan.state == PlanState.ACTIVE
    first = active_plan.installments.get(number=1)
    assert first.status == InstallmentStatus.LATE
    assert active_plan.installments.filter(status=InstallmentStatus.DUE).count() == 11


def test_an_installment_short_past_the_grace_days_breaks_the_plan(case, active_plan):
    assert services.plans_check_broken(as_of=FIRST_DUE + timedelta(days=4)) == 1

    active_plan.refresh_from_db()
    case.refresh_from_db()
    assert active_plan.state == PlanState.BROKEN and active_plan.ended_at is not None
    assert (case.state, case.broken_plan_count) == (CaseState.IN_PROGRESS, 1)
    broken = plan_events(case, "broken")[0]
    assert (broken.details["short_by"], broken.details["first_missed_due_date"]) == ("100.00", "2026-03-09")
    transition = CaseEvent.objects.get(case=case, kind=EventKind.TRANSITION, from_state=CaseState.ON_PLAN)
    assert (transition.to_state, transition.actor) == (CaseState.IN_PROGRESS, None)
    assert (transition.reason, transition.details) == ("Repayment plan broken", {"plan": active_plan.pk})
    assert transition.pk > broken.pk  # the timeline reads: plan broken, then back to work


@override_settings(COLLECTIONS_PLAN_GRACE_DAYS=0)
def test_the_grace_days_are_a_setting(active_plan):
    assert services.plans_check_broken(as_of=FIRST_DUE) == 0
    assert services.plans_check_broken(as_of=FIRST_DUE + timedelta(days=1)) == 1


def test_a_partly_paid_installment_past_the_grace_days_breaks_the_plan(case, active_plan):
    pay(case, Decimal("99.99"))
    assert services.plans_check_broken(as_of=FIRST_DUE + timedelta(days=4)) == 1
    broken = plan_events(case, "broken")[0]
    assert broken.details["short_by"] == "0.01"


def test_a_paid_installment_keeps_the_plan(case, active_plan):
    pay(case, Decimal("100.00"))
    assert services.plans_check_broken(as_of=FIRST_DUE + timedelta(days=20)) == 0
    active_plan.refresh_from_db()
    assert active_plan.state == PlanState.ACTIVE


def test_the_check_is_idempotent(case, active_plan):
    as_of = FIRST_DUE + timedelta(days=4)
    services.plans_check_broken(as_of=as_of)
    case.refresh_from_db()
    version, events = case.version, CaseEvent.objects.filter(case=case).count()

    assert services.plans_check_broken(as_of=as_of) == 0
    assert services.plans_check_broken(as_of=as_of + timedelta(days=30)) == 0

    case.refresh_from_db()
    assert (case.version, case.broken_plan_count) == (version, 1)
    assert CaseEvent.objects.filter(case=case).count() == events


def test_a_broken_plan_on_a_case_put_on_hold_counts_but_leaves_the_hold(case, agent, active_plan):
    case_services.case_hold(case_id=case.pk, actor=agent, reason="hardship")
    assert services.plans_check_broken(as_of=FIRST_DUE + timedelta(days=4)) == 1
    case.refresh_from_db()
    assert (case.state, case.broken_plan_count) == (CaseState.ON_HOLD, 1)


def test_the_check_is_set_based(today, team_a, agent, django_assert_max_num_queries):
    for _ in range(5):
        other = open_case(team=team_a, overdue_amount=Decimal("6000.00"))
        services.plan_propose(case_id=other.pk, actor=agent, data=terms(), cardholder_accepted=True)

    with django_assert_max_num_queries(12):
        assert services.plans_check_broken(as_of=FIRST_DUE + timedelta(days=4)) == 5

    assert Case.objects.filter(state=CaseState.IN_PROGRESS, broken_plan_count=1).count() == 5
    assert not Installment.objects.filter(plan__state=PlanState.ACTIVE).exists()
