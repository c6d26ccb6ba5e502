"""Builders for plan tests. Plans are made through the real services; time is fixed with time_machine.

Personas come from tests/conftest.py; this adds `supervisor_b` (supervises team B: must not see team A's
plans). The case account owes a large overdue amount (6,000.00 of an 8,900.00 balance) so that paying a
small plan off does not also cure the account - curing is payment_record's business, not the plan's.
"""

import importlib
from datetime import date, timedelta
from decimal import Decimal

import pytest
import time_machine
from django.utils import timezone

from collections_app.services import payment_record
from repayment_plans.allocation import allocate_payment_to_plan
from repayment_plans.models import ApprovalLimit, PlanAllocation
from repayment_plans.services import PlanInput
from tests.factories import UserFactory, open_case

TODAY = date(2026, 3, 2)

DEFAULT_TIERS = importlib.import_module("repayment_plans.migrations.0002_default_approval_limits").TIERS


def ensure_default_tiers() -> None:
    """The tiers the data migration creates. A transactional test (the browser tests) flushes every table
    when it ends, migrations' rows included, so tests that rely on the defaults put them back."""
    for tier in DEFAULT_TIERS:
        ApprovalLimit.objects.get_or_create(role=tier["role"], defaults=tier)


@pytest.fixture(autouse=True)
def _default_tiers(request):
    if request.node.get_closest_marker("django_db"):  # not the calculator's tests: they need no database
        request.getfixturevalue("db")
        ensure_default_tiers()


@pytest.fixture
def today():
    with time_machine.travel("2026-03-02 10:00 +0800", tick=False):
        yield TODAY


@pytest.fixture
def supervisor_b(team_b):
    return UserFactory(username="sup_b", role="supervisor", team=team_b)


@pytest.fixture
def case(today, team_a):
    """A new case of team A: overdue 6,000.00, balance 8,900.00 (CNY)."""
    return open_case(team=team_a, overdue_amount=Decimal("6000.00"))


def terms(**overrides) -> PlanInput:
    """Inside an agent's limits: 1,200.00 in 12 monthly installments of 100.00, the first in a week."""
    values = {
        "kind": "installment",
        "amount": Decimal("1200.00"),
        "installments": 12,
        "frequency": "monthly",
        "first_due_date": TODAY + timedelta(days=7),
    }
    return PlanInput(**(values | overrides))


# Outside an agent's limits (18 installments), inside a supervisor's.
SUPERVISOR_TERMS = {"amount": Decimal("1800.00"), "installments": 18}
# A personalised installment plan: only legal may approve it.
LEGAL_TERMS = {"kind": "personalised_installment", "amount": Decimal("8900.00"), "installments": 48}


_refs = iter(range(1, 10_000))


def pay(case, amount: Decimal, *, ref: str | None = None):
    """A payment through the payment feed's service, then allocated to the plan (a replay, once
    payment_record calls the allocation itself). Returns the payment and its allocations."""
    ref = ref or f"PAY-{next(_refs):05d}"
    result = payment_record(
        account=case.account,
        external_ref=ref,
        amount=amount,
        paid_at=timezone.now(),
    )
    case.refresh_from_db()
    allocate_payment_to_plan(case=case, payment=result.payment, actor=None)
    allocations = list(
        PlanAllocation.objects.filter(payment=result.payment).select_related("installment").order_by("pk")
    )
    return result.payment, allocations
