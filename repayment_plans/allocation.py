"""Payments into a repayment plan: which installments a payment pays.

`collections_app.services.payment_record` calls `allocate_payment_to_plan` inside its transaction, with
the case locked, right after it writes the PAYMENT event.
"""

from __future__ import annotations

from django.db import transaction

from collections_app.models import Case, EventKind, Payment
from collections_app.services import event_write
from core.money import ZERO
from repayment_plans.models import Installment, InstallmentStatus, PlanAllocation, PlanState, RepaymentPlan
from repayment_plans.services import plan_complete


def _lock_case_row(case: Case) -> None:
    # Plan writes lock the case first (see repayment_plans.services). payment_record already holds this
    # lock, and then this is free; a caller that does not gets it here. The caller's instance is used
    # from here on (the caller saves it after us), so it is refreshed only if it is stale.
    version = Case.objects.select_for_update().filter(pk=case.pk).values_list("version", flat=True).get()
    if version != case.version:
        case.refresh_from_db()


def allocate_payment_to_plan(*, case: Case, payment: Payment, actor) -> list[PlanAllocation]:
    """Allocate `payment` to the installments of the case's active plan, oldest first: each unpaid
    installment takes what it still lacks, a partial payment leaves it partly paid (or late), and what is
    left goes on to the next ones; beyond the last installment the rest stays unallocated.

    Exact (Decimal) and idempotent: a payment that already has allocations is not allocated again, and
    (payment, installment) is unique in the database. Writes a "payment_allocated" plan event; when every
    installment is paid, completes the plan and resolves the case (`services.plan_complete`).
    Returns the allocations made (empty when there is no active plan or on a replay)."""
    if payment.account_id != case.account_id:
        raise ValueError(f"payment {payment.pk} is not on the account of case {case.pk}")
    with transaction.atomic():
        _lock_case_row(case)
        plan = (
            RepaymentPlan.objects.select_for_update().filter(case_id=case.pk, state=PlanState.ACTIVE).first()
        )
        if plan is None or PlanAllocation.objects.filter(payment=payment).exists():
            return []
        unpaid = list(
            plan.installments.select_for_update()
            .exclude(status=InstallmentStatus.PAID)
            .order_by("due_date", "number")
        )
        remaining = payment.amount
        allocations: list[PlanAllocation] = []
        paid_lines: list[Installment] = []
        for line in unpaid:
            if remaining == ZERO:
                break
            share = min(remaining, line.outstanding)
            line.pay(share, at=payment.paid_at)
            remaining -= share
            allocations.append(PlanAllocation(payment=payment, installment=line, amount=share))
            paid_lines.append(line)
        if not allocations:
            return []
        Installment.objects.bulk_update(paid_lines, ["paid_amount", "status", "paid_at"])
        allocations = PlanAllocation.objects.bulk_create(allocations)
        event_write(
            case=case,
            kind=EventKind.PLAN,
            actor=actor,
            details={
                "plan": plan.pk,
                "action": "payment_allocated",
                "from": plan.state,
                "to": plan.state,
                "payment": payment.pk,
                "allocations": [
                    {"installment": a.installment.number, "amount": str(a.amount)} for a in allocations
                ],
                "unallocated": str(remaining),
            },
        )
        if all(line.status == InstallmentStatus.PAID for line in unpaid):
            plan_complete(plan, case, payment_id=payment.pk)
    return allocations
