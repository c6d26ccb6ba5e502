"""Payments: recorded once by external reference, allocated, and applied to the open case."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from collections_app import delinquency
from collections_app.models import (
    Bucket,
    Case,
    CaseState,
    CreditAccount,
    EventKind,
    Payment,
    PromiseStatus,
    ResolutionReason,
)
from collections_app.services.kernel import (
    bump_version,
    event_write,
    payment_recorded,
    transition,
)
from core.exceptions import (
    ConcurrentUpdate,
    ValidationFailed,
)
from core.money import ZERO


@dataclass(frozen=True)
class PaymentResult:
    payment: Payment
    created: bool


def payment_record(
    *,
    account: CreditAccount,
    external_ref: str,
    amount: Decimal,
    paid_at: datetime,
    source: str = "",
    actor=None,
    currency: str = "",
) -> PaymentResult:
    """Record a payment and apply it. Idempotent by `external_ref`: replaying the same payment returns
    the first one (created=False); the same reference with other figures is refused.

    The amount pays the overdue amount first (and the minimum due), then the balance components in
    COLLECTIONS_ALLOCATION_ORDER; anything beyond the balance is kept as unapplied credit. A pending
    promise counts the payment; once the overdue amount is paid the account is cured and its open
    case resolved (paid in full when the balance is nil).

    `currency`, when the sender names one, must be the account's (no conversion here): another is
    refused (ValidationFailed, rule currency_mismatch); empty means the account's."""
    if amount is None or amount <= 0:
        raise ValidationFailed(_("A payment amount must be positive."), field="amount")
    if currency and currency != account.currency:
        raise ValidationFailed(
            _("The account is in %(currency)s.") % {"currency": account.currency},
            field="currency",
            rule="currency_mismatch",
        )
    if paid_at > timezone.now() + timedelta(minutes=5):
        raise ValidationFailed(
            _("A payment cannot be dated in the future."), field="paid_at", rule="paid_in_future"
        )
    existing = Payment.objects.filter(external_ref=external_ref).first()
    if existing:
        return _replayed(existing, account, amount, paid_at)
    try:
        with transaction.atomic():
            # Lock the account: two payments on one account allocate one after the other.
            acct = CreditAccount.objects.select_for_update().get(pk=account.pk)
            case = Case.objects.select_for_update().filter(account=acct, closed_at__isnull=True).first()
            applied, unapplied = delinquency.allocate(
                amount, {name: getattr(acct, name) for name in delinquency.COMPONENTS}
            )
            to_overdue = min(amount, acct.overdue_amount)
            for name, value in applied.items():
                setattr(acct, name, getattr(acct, name) - value)
            acct.overdue_amount -= to_overdue
            acct.minimum_due = max(ZERO, acct.minimum_due - amount)
            if acct.last_payment_at is None or paid_at >= acct.last_payment_at:
                acct.last_payment_at, acct.last_payment_amount = paid_at, amount
            cured = acct.overdue_amount == 0 and acct.first_missed_due_date is not None
            if cured:
                acct.first_missed_due_date = None
                acct.days_past_due = 0
                acct.bucket = Bucket.CURRENT
            acct.save()
            allocation = {"overdue": str(to_overdue), **{k: str(v) for k, v in applied.items()}}
            if unapplied:
                allocation["unapplied"] = str(unapplied)
            payment = Payment.objects.create(
                external_ref=external_ref,
                account=acct,
                case=case,
                amount=amount,
                currency=acct.currency,
                paid_at=paid_at,
                source=source,
                allocation=allocation,
                recorded_by=actor,
            )
            if case is not None:
                _apply_payment_to_case(case, payment, acct, actor=actor, cured=cured)
    except IntegrityError:
        # Two deliveries of the same payment at once: the other one won; answer like a replay.
        existing = Payment.objects.filter(external_ref=external_ref).first()
        if existing is None:
            raise
        return _replayed(existing, account, amount, paid_at)
    return PaymentResult(payment, True)


def _replayed(existing: Payment, account: CreditAccount, amount: Decimal, paid_at: datetime) -> PaymentResult:
    if existing.account_id != account.pk or existing.amount != amount or existing.paid_at != paid_at:
        raise ConcurrentUpdate(
            _(
                "Payment %(external_ref)s was already recorded with other figures "
                "(%(amount)s on account %(external_ref2)s)."
            )
            % {
                "external_ref": existing.external_ref,
                "amount": existing.amount,
                "external_ref2": existing.account.external_ref,
            },
            rule="payment_reference_reused",
        )
    return PaymentResult(existing, False)


def _apply_payment_to_case(case: Case, payment: Payment, acct: CreditAccount, *, actor, cured: bool) -> None:
    event_write(
        case=case,
        kind=EventKind.PAYMENT,
        actor=actor,
        details={"payment": payment.pk, "amount": str(payment.amount), "allocation": payment.allocation},
    )
    payment_recorded(case, payment=payment, actor=actor)  # a live plan takes it first (repayment_plans)
    if not case.is_open:
        return  # the payment completed the plan, which resolved the case (plan completed / settled)
    promise = case.promises.select_for_update().filter(status=PromiseStatus.PENDING).first()
    if promise is not None:
        promise.paid_amount += payment.amount
        if promise.paid_amount >= promise.amount:
            promise.status = PromiseStatus.KEPT
            promise.settled_at = payment.paid_at
        promise.save(update_fields=["paid_amount", "status", "settled_at"])
        if promise.status == PromiseStatus.KEPT:
            event_write(
                case=case,
                kind=EventKind.PROMISE_KEPT,
                actor=actor,
                details={"promise": promise.pk, "paid": str(promise.paid_amount)},
            )
            if case.state == CaseState.PROMISED and not cured:
                transition(case, "keep_promise", actor=None)
    if cured and case.state != CaseState.ON_PLAN:  # while a plan is active, the plan decides when it ends
        # `balance` is generated by the database; sum the components as they are now.
        balance = sum(getattr(acct, name) for name in delinquency.COMPONENTS)
        case.resolution_reason = ResolutionReason.PAID_IN_FULL if balance == 0 else ResolutionReason.CURED
        transition(
            case,
            "resolve",
            actor=None,
            kind=EventKind.RESOLVED,
            details={"resolution_reason": case.resolution_reason, "payment": payment.pk},
        )
    else:
        bump_version(case)
