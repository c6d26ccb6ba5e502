"""Payments into an active plan: oldest installment first, exact in cents, and never twice.

Payments come in through `collections_app.services.payment_record`; `pay()` then calls
`allocate_payment_to_plan` itself (a no-op replay once payment_record calls it), so these tests hold
before and after that hook is wired. The plan: 12 monthly installments of 100.00 from 9 March 2026.
"""

from decimal import Decimal

import pytest

from collections_app.models import CaseEvent, CaseState, EventKind
from collections_app.services import payment_record
from repayment_plans import services
from repayment_plans.allocation import allocate_payment_to_plan
from repayment_plans.models import InstallmentStatus, PlanAllocation, PlanState
from tests.factories import open_case
from tests.repayment_plans.conftest import pay, terms

pytestmark = pytest.mark.django_db


@pytest.fixture
def plan(case, agent):
    return services.plan_propose(case_id=case.pk, actor=agent, data=terms(), cardholder_accepted=True)


def lines(plan):
    return [(line.paid_amount, line.status) for line in plan.installments.order_by("number")]


PAID = (Decimal("100.00"), InstallmentStatus.PAID)
DUE = (Decimal("0.00"), InstallmentStatus.DUE)


def test_an_exact_payment_pays_the_oldest_installment(case, plan):
    payment, allocations = pay(case, Decimal("100.00"))

    assert [(a.installment.number, a.amount) for a in allocations] == [(1, Decimal("100.00"))]
    assert lines(plan) == [PAID] + [DUE] * 11
    assert plan.installments.get(number=1).paid_at == payment.paid_at


def test_a_partial_payment_leaves_the_installment_partly_paid(case, plan):
    pay(case, Decimal("40.00"))
    pay(case, Decimal("35.50"))

    assert lines(plan)[0] == (Decimal("75.50"), InstallmentStatus.PARTLY_PAID)
    assert lines(plan)[1:] == [DUE] * 11


def test_an_overpayment_goes_to_the_next_installments(case, plan):
    _payment, allocations = pay(case, Decimal("250.00"))

    assert [(a.installment.number, a.amount) for a in allocations] == [
        (1, Decimal("100.00")),
        (2, Decimal("100.00")),
        (3, Decimal("50.00")),
    ]
    assert lines(plan)[:4] == [PAID, PAID, (Decimal("50.00"), InstallmentStatus.PARTLY_PAID), DUE]


def test_a_payment_finishes_a_partly_paid_installment_before_the_next(case, plan):
    pay(case, Decimal("60.00"))
    _payment, allocations = pay(case, Decimal("60.00"))

    assert [(a.installment.number, a.amount) for a in allocations] == [
        (1, Decimal("40.00")),
        (2, Decimal("20.00")),
    ]


def test_allocation_is_exact_in_cents(case, agent, today):
    other = open_case(team=case.queue.team, overdue_amount=Decimal("6000.00"))
    plan = services.plan_propose(
        case_id=other.pk,
        actor=agent,
        data=terms(amount=Decimal("1000.00"), installments=3),
        cardholder_accepted=True,
    )
    assert [line.amount for line in plan.installments.order_by("number")] == [
        Decimal("333.33"),
        Decimal("333.33"),
        Decimal("333.34"),
    ]

    pay(other, Decimal("666.66"))
    pay(other, Decimal("333.33"))

    assert lines(plan)[2] == (Decimal("333.33"), InstallmentStatus.PARTLY_PAID)
    plan.refresh_from_db()
    assert plan.state == PlanState.ACTIVE

    pay(other, Decimal("0.01"))
    plan.refresh_from_db()
    assert plan.state == PlanState.COMPLETED


def test_a_replayed_payment_is_not_allocated_twice(case, plan):
    payment, first = pay(case, Decimal("150.00"))

    again = allocate_payment_to_plan(case=case, payment=payment, actor=None)
    replay = payment_record(
        account=case.account,
        external_ref=payment.external_ref,
        amount=payment.amount,
        paid_at=payment.paid_at,
    )
    allocate_payment_to_plan(case=case, payment=replay.payment, actor=None)

    assert again == []
    assert replay.created is False
    assert PlanAllocation.objects.filter(payment=payment).count() == len(first) == 2
    assert lines(plan)[:3] == [PAID, (Decimal("50.00"), InstallmentStatus.PARTLY_PAID), DUE]
    assert (
        CaseEvent.objects.filter(case=case, kind=EventKind.PLAN, details__action="payment_allocated").count()
        == 1
    )


def test_the_allocation_is_on_the_case_timeline(case, plan):
    payment, _allocations = pay(case, Decimal("150.00"))

    event = CaseEvent.objects.filter(case=case, kind=EventKind.PLAN).order_by("-id").first()
    assert event.details["action"] == "payment_allocated"
    assert event.details["payment"] == payment.pk
    assert event.details["allocations"] == [
        {"installment": 1, "amount": "100.00"},
        {"installment": 2, "amount": "50.00"},
    ]


def test_paying_more_than_the_plan_completes_it_and_keeps_the_rest_unallocated(case, plan):
    pay(case, Decimal("1500.00"))

    plan.refresh_from_db()
    case.refresh_from_db()
    assert plan.state == PlanState.COMPLETED
    assert all(status == InstallmentStatus.PAID for _paid, status in lines(plan))
    assert (case.state, case.resolution_reason) == (CaseState.RESOLVED, "plan_completed")
    allocated = CaseEvent.objects.get(case=case, kind=EventKind.PLAN, details__action="payment_allocated")
    assert allocated.details["unallocated"] == "300.00"


def test_a_late_installment_paid_in_part_stays_late_and_paid_in_full_is_paid(case, plan):
    services.plans_check_broken(as_of=plan.first_due_date.replace(day=10))
    pay(case, Decimal("30.00"))
    assert lines(plan)[0] == (Decimal("30.00"), InstallmentStatus.LATE)

    pay(case, Decimal("70.00"))
    assert lines(plan)[0] == PAID


def test_without_an_active_plan_nothing_is_allocated(case, agent):
    services.plan_propose(case_id=case.pk, actor=agent, data=terms())  # a draft, not yet accepted

    _payment, allocations = pay(case, Decimal("100.00"))

    assert allocations == []
    assert not PlanAllocation.objects.exists()


def test_a_payment_of_another_account_is_refused(case, plan, today):
    other = open_case(overdue_amount=Decimal("6000.00"))
    result = payment_record(
        account=other.account, external_ref="OTHER-1", amount=Decimal("100.00"), paid_at=plan.created_at
    )
    with pytest.raises(ValueError, match="not on the account"):
        allocate_payment_to_plan(case=case, payment=result.payment, actor=None)
