"""Promises to pay: recording one, and the nightly check that breaks those not kept."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext_noop

from collections_app.access import ensure_can_act
from collections_app.models import (
    Case,
    CaseEvent,
    CaseState,
    EventKind,
    PromiseStatus,
    PromiseToPay,
)
from collections_app.services.kernel import (
    bump_version,
    event_write,
    lock_case,
    transition,
)
from core.exceptions import (
    InvalidTransition,
    ValidationFailed,
)


def promise_record(
    *,
    case_id: int,
    actor,
    amount: Decimal,
    due_date: date,
    today: date | None = None,
    contact_attempt_id: int | None = None,
    expected_version: int | None = None,
) -> PromiseToPay:
    """Record a promise to pay. Amount positive and not above the balance; date from today up to
    COLLECTIONS_PROMISE_HORIZON_DAYS ahead. A pending promise is replaced (cancelled, with an event).
    Moves the case to `promised`."""
    today = today or timezone.localdate()
    horizon = settings.COLLECTIONS_PROMISE_HORIZON_DAYS
    with transaction.atomic():
        case = lock_case(case_id, expected_version=expected_version)
        ensure_can_act(actor, case)
        if amount is None or amount <= 0:
            raise ValidationFailed(
                "The promised amount must be positive.", field="amount", rule="amount_positive"
            )
        if amount > case.account.balance:
            raise ValidationFailed(
                f"The promised amount is above the balance ({case.account.balance} {case.account.currency}).",
                field="amount",
                rule="amount_above_balance",
            )
        if due_date < today:
            raise ValidationFailed("The promised date is in the past.", field="due_date", rule="date_in_past")
        if due_date > today + timedelta(days=horizon):
            raise ValidationFailed(
                f"The promised date is more than {horizon} days ahead.",
                field="due_date",
                rule="date_beyond_horizon",
                details={"horizon_days": horizon},
            )
        if case.state not in (CaseState.NEW, CaseState.IN_PROGRESS, CaseState.PROMISED):
            raise InvalidTransition(
                f"A promise cannot be recorded on a case in state '{case.get_state_display()}'.",
                rule="state_machine",
            )
        replaced = list(case.promises.select_for_update().filter(status=PromiseStatus.PENDING))
        for old in replaced:
            old.status = PromiseStatus.CANCELLED
            old.settled_at = timezone.now()
            old.save(update_fields=["status", "settled_at"])
        promise = PromiseToPay.objects.create(
            case=case,
            amount=amount,
            due_date=due_date,
            created_by=actor,
            contact_attempt_id=contact_attempt_id,
        )
        details = {"promise": promise.pk, "amount": str(amount), "due_date": due_date.isoformat()}
        if replaced:
            details["replaces"] = [p.pk for p in replaced]
        if case.state == CaseState.PROMISED:
            bump_version(case)
            event_write(case=case, kind=EventKind.PROMISE, actor=actor, details=details)
        else:
            transition(case, "promise", actor=actor, kind=EventKind.PROMISE, details=details)
    return promise


def promises_check_broken(*, as_of: date) -> int:
    """Break every pending promise still short after its date plus COLLECTIONS_PROMISE_GRACE_DAYS.
    Set-based and idempotent: a compare-and-swap on (status, state) so a second run changes nothing."""
    cutoff = as_of - timedelta(days=settings.COLLECTIONS_PROMISE_GRACE_DAYS)
    now = timezone.now()
    with transaction.atomic():
        due = PromiseToPay.objects.select_for_update(skip_locked=False).filter(
            status=PromiseStatus.PENDING, due_date__lt=cutoff
        )
        rows = list(due.values_list("pk", "case_id", "amount", "paid_amount"))
        if not rows:
            return 0
        PromiseToPay.objects.filter(pk__in=[r[0] for r in rows], status=PromiseStatus.PENDING).update(
            status=PromiseStatus.BROKEN, settled_at=now
        )
        case_ids = [r[1] for r in rows]
        moved = set(
            Case.objects.filter(pk__in=case_ids, state=CaseState.PROMISED).values_list("pk", flat=True)
        )
        Case.objects.filter(pk__in=moved, state=CaseState.PROMISED).update(
            state=CaseState.IN_PROGRESS,
            broken_promise_count=F("broken_promise_count") + 1,
            version=F("version") + 1,
        )
        Case.objects.filter(pk__in=set(case_ids) - moved).update(
            broken_promise_count=F("broken_promise_count") + 1, version=F("version") + 1
        )
        events = []
        for pk, case_id, amount, paid in rows:
            events.append(
                CaseEvent(
                    case_id=case_id,
                    kind=EventKind.PROMISE_BROKEN,
                    created_at=now,
                    details={
                        "promise": pk,
                        "amount": str(amount),
                        "paid": str(paid),
                        "as_of": as_of.isoformat(),
                    },
                )
            )
            if case_id in moved:
                events.append(
                    CaseEvent(
                        case_id=case_id,
                        kind=EventKind.TRANSITION,
                        created_at=now,
                        from_state=CaseState.PROMISED,
                        to_state=CaseState.IN_PROGRESS,
                        reason=gettext_noop("Promise broken"),
                    )
                )
        CaseEvent.objects.bulk_create(events, batch_size=2000)
    return len(rows)
