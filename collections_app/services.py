"""Operations on cases: the one entry point for pages, API, admin actions, commands and tasks.

Every function here is keyword-only, takes an explicit `actor` (None = the system), locks what it
changes, checks the actor's reach (collections_app.access) and the state machine, and writes the
`CaseEvent` timeline in the same transaction. Raises collections_app.exceptions on refusal.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Count, F, Q
from django.utils import timezone
from django.utils.translation import gettext_noop
from django_fsm import can_proceed, has_transition_perm

from collections_app import delinquency
from collections_app.access import ensure_can_act
from collections_app.exceptions import (
    ConcurrentUpdate,
    ContactNotAllowed,
    InvalidTransition,
    NotAllowed,
    ValidationFailed,
)
from collections_app.models import (
    CLOSED_STATES,
    RIGHT_PARTY_OUTCOMES,
    ZERO,
    Bucket,
    Case,
    CaseEvent,
    CaseHold,
    CaseState,
    Channel,
    ContactAttempt,
    ContactPoint,
    CreditAccount,
    EventKind,
    HoldReason,
    LegalDecision,
    LegalReferral,
    Outcome,
    PartyRole,
    Payment,
    PromiseStatus,
    PromiseToPay,
    ResolutionReason,
)

# Transitions a person may ask for by name (API "transition" endpoint, case page buttons). The rest
# happen as a consequence of an operation (a promise, a payment, a plan) or of a nightly check.
USER_TRANSITIONS = {
    "start_work",
    "release_hold",
    "escalate_to_legal",
    "return_from_legal",
    "approve_litigation",
    "resolve",
    "write_off",
}


# --- Building blocks -------------------------------------------------------------------------


def _lock_case(case_id: int, *, expected_version: int | None = None) -> Case:
    # The row lock serialises two agents (or an agent and a worker) acting on one case: the second
    # waits, then re-reads the state and is refused cleanly if its action no longer applies.
    # Only the case row is locked (of=self): payments lock the account, then the case; locking the
    # account here too would take the two locks in the opposite order and risk a deadlock.
    case = (
        Case.objects.select_for_update(of=("self",))
        .select_related("account", "account__cardholder")
        .get(pk=case_id)
    )
    if expected_version is not None and case.version != expected_version:
        raise ConcurrentUpdate(
            "The case was changed by someone else; reload it and try again.",
            details={"expected_version": expected_version, "current_version": case.version},
        )
    return case


def event_write(
    *,
    case: Case,
    kind: str,
    actor=None,
    reason: str = "",
    details: dict | None = None,
    from_state: str = "",
    to_state: str = "",
) -> CaseEvent:
    return CaseEvent.objects.create(
        case=case,
        kind=kind,
        actor=actor,
        reason=reason,
        details=details or {},
        from_state=from_state,
        to_state=to_state,
    )


def _apply_transition(
    case: Case,
    name: str,
    *,
    actor,
    reason: str = "",
    kind: str = EventKind.TRANSITION,
    details: dict | None = None,
) -> CaseEvent:
    """Run transition `name` on a locked case, save it and write its event."""
    method = getattr(case, name)
    if not can_proceed(method):
        raise InvalidTransition(
            f"A case in state '{case.get_state_display()}' cannot do '{name}'.",
            rule="state_machine",
            details={"state": case.state, "transition": name},
        )
    if not has_transition_perm(method, actor):
        raise NotAllowed(
            f"Your role may not '{name}' a case.", rule="transition_permission", details={"transition": name}
        )
    from_state = case.state
    method()
    case.version += 1
    case.save()
    return event_write(
        case=case,
        kind=kind,
        actor=actor,
        reason=reason,
        details=details,
        from_state=from_state,
        to_state=case.state,
    )


def _start_work_if_new(case: Case, *, actor) -> None:
    if case.state == CaseState.NEW:
        _apply_transition(case, "start_work", actor=actor)


def _bump(case: Case, *fields: str) -> None:
    case.version += 1
    case.save(update_fields=["version", *fields])


def next_case_reference(account_id: int, existing: int) -> str:
    return f"C{account_id:08d}-{existing + 1}"


# --- Opening cases --------------------------------------------------------------------------


def cases_open_for_delinquent_accounts(
    *, account_ids: Iterable[int] | None = None, now: datetime | None = None
) -> int:
    """Open a case for every delinquent account (overdue amount > 0 since a missed due date) that has no
    open case. An account whose debt was written off is not reopened by the sweep: charge-off is final
    until a person opens a case. Set-based: one read, two bulk inserts. Returns how many were opened."""
    now = now or timezone.now()
    accounts = (
        CreditAccount.objects.filter(overdue_amount__gt=0, first_missed_due_date__isnull=False)
        .exclude(cases__state__in=[s for s in CaseState.values if s not in CLOSED_STATES])
        .exclude(cases__state=CaseState.WRITTEN_OFF)
    )
    if account_ids is not None:
        accounts = accounts.filter(pk__in=list(account_ids))
    rows = list(accounts.annotate(case_count=Count("cases")).values_list("pk", "case_count"))
    if not rows:
        return 0
    cases = Case.objects.bulk_create(
        [Case(account_id=pk, reference=next_case_reference(pk, n), opened_at=now) for pk, n in rows],
        batch_size=2000,
    )
    CaseEvent.objects.bulk_create(
        [
            CaseEvent(
                case=c,
                kind=EventKind.OPENED,
                to_state=CaseState.NEW,
                created_at=now,
                reason=gettext_noop("Account became delinquent"),
            )
            for c in cases
        ],
        batch_size=2000,
    )
    return len(cases)


def case_open(*, account: CreditAccount, actor=None, reason: str = "") -> Case:
    """Open a case for one delinquent account. Refused if it already has an open case."""
    if not account.is_delinquent:
        raise ValidationFailed("The account is not overdue.", field="account", rule="not_delinquent")
    with transaction.atomic():
        CreditAccount.objects.select_for_update().get(pk=account.pk)
        if account.cases.filter(closed_at__isnull=True).exists():
            raise InvalidTransition("The account already has an open case.", rule="one_open_case_per_account")
        case = Case.objects.create(
            account=account, reference=next_case_reference(account.pk, account.cases.count())
        )
        event_write(
            case=case,
            kind=EventKind.OPENED,
            actor=actor,
            to_state=CaseState.NEW,
            reason=reason or gettext_noop("Account became delinquent"),
        )
    return case


# --- Transitions by name ----------------------------------------------------------------------


def case_transition(
    *,
    case_id: int,
    name: str,
    actor,
    reason: str = "",
    expected_version: int | None = None,
    resolution_reason: str = "",
    court_reference: str = "",
) -> Case:
    """Run one of USER_TRANSITIONS on a case, as a person asked for it."""
    if name not in USER_TRANSITIONS:
        raise InvalidTransition(f"'{name}' is not a transition that can be asked for.", rule="state_machine")
    if name == "release_hold":
        return case_release_hold(case_id=case_id, actor=actor, note=reason, expected_version=expected_version)
    if name == "escalate_to_legal":
        return case_escalate_to_legal(
            case_id=case_id, actor=actor, reason=reason, expected_version=expected_version
        )
    if name in ("resolve", "write_off"):
        return case_close(
            case_id=case_id,
            actor=actor,
            write_off=name == "write_off",
            reason=reason,
            resolution_reason=resolution_reason,
            expected_version=expected_version,
        )
    if name in ("return_from_legal", "approve_litigation"):
        return legal_decide(
            case_id=case_id,
            actor=actor,
            decision=LegalDecision.RETURNED if name == "return_from_legal" else LegalDecision.LITIGATION,
            note=reason,
            court_reference=court_reference,
            expected_version=expected_version,
        )
    with transaction.atomic():
        case = _lock_case(case_id, expected_version=expected_version)
        ensure_can_act(actor, case)
        _apply_transition(case, name, actor=actor, reason=reason)
    return case


def available_transitions(case: Case, user) -> list[str]:
    """The transitions this user may ask for on this case now (the buttons a page shows)."""
    return sorted(
        t.name for t in case.get_available_user_state_transitions(user) if t.name in USER_TRANSITIONS
    )


# --- Contacts ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class ContactInput:
    channel: str
    outcome: str
    contact_point_id: int | None = None
    party_role: str = PartyRole.DEBTOR
    person_reached: str = ""
    delinquency_reason: str = ""
    duration_seconds: int = 0
    notes: str = ""
    recording_ref: str = ""
    started_at: datetime | None = None


def _validate_contact(case: Case, data: ContactInput) -> ContactPoint | None:
    if data.channel not in Channel.values:
        raise ValidationFailed("Unknown channel.", field="channel")
    if data.outcome not in Outcome.values:
        raise ValidationFailed("Unknown outcome.", field="outcome")
    if data.duration_seconds < 0:
        raise ValidationFailed("The duration cannot be negative.", field="duration_seconds")
    if data.outcome in RIGHT_PARTY_OUTCOMES and not data.delinquency_reason:
        raise ValidationFailed(
            "A right-party contact needs the reason for delinquency.",
            field="delinquency_reason",
            rule="reason_required",
        )
    point = None
    if data.contact_point_id is not None:
        point = ContactPoint.objects.filter(
            pk=data.contact_point_id, cardholder_id=case.account.cardholder_id
        ).first()
        if point is None:
            raise ValidationFailed(
                "That number or address is not one of this cardholder's.", field="contact_point"
            )
    return point


class _PolicyRefusal(Exception):
    def __init__(self, decision):
        self.decision = decision


def contact_attempt_log(
    *,
    case_id: int,
    actor,
    data: ContactInput,
    override_reason: str = "",
    expected_version: int | None = None,
) -> ContactAttempt:
    """Record a contact on a case (append-only), after the contact policy allows it.

    A refusal raises ContactNotAllowed naming the rule and when it will be allowed, and is itself
    written on the timeline (POLICY_REFUSED) for the compliance figures. A supervisor may override a
    frequency limit with a reason (POLICY_OVERRIDE event). A first contact starts work on a new case;
    a right-party contact updates the case's last RPC time. Writes a CONTACT event."""
    from accounts.permissions import Capability, has_capability
    from collections_app import contact_rules

    try:
        with transaction.atomic():
            case = _lock_case(case_id, expected_version=expected_version)
            ensure_can_act(actor, case)
            if not case.is_open:
                raise InvalidTransition("The case is closed.", rule="case_closed")
            point = _validate_contact(case, data)
            started_at = data.started_at or timezone.now()
            decision = contact_rules.decide(
                case=case,
                channel=data.channel,
                now=started_at,
                contact_point=point,
                party_role=data.party_role,
                outcome=data.outcome,
                recording_ref=data.recording_ref,
            )
            overridden = False
            if not decision.allowed:
                can_override = has_capability(actor, Capability.OVERRIDE_CONTACT_POLICY)
                if not (override_reason.strip() and decision.overridable and can_override):
                    raise _PolicyRefusal(decision)
                overridden = True
            attempt = ContactAttempt.objects.create(
                case=case,
                cardholder_id=case.account.cardholder_id,
                channel=data.channel,
                contact_point=point,
                party_role=data.party_role or (point.party_role if point else ""),
                person_reached=data.person_reached,
                outcome=data.outcome,
                delinquency_reason=data.delinquency_reason,
                started_at=started_at,
                duration_seconds=data.duration_seconds,
                agent=actor,
                notes=data.notes,
                recording_ref=data.recording_ref,
                policy_override_reason=override_reason if overridden else "",
            )
            if overridden:
                event_write(
                    case=case,
                    kind=EventKind.POLICY_OVERRIDE,
                    actor=actor,
                    reason=override_reason,
                    details={**decision.details, "contact_attempt": attempt.pk},
                )
            _start_work_if_new(case, actor=actor)
            if data.outcome in RIGHT_PARTY_OUTCOMES:
                case.last_right_party_contact_at = max(
                    filter(None, [case.last_right_party_contact_at, started_at])
                )
            _bump(case, "last_right_party_contact_at")
            event_write(
                case=case,
                kind=EventKind.CONTACT,
                actor=actor,
                reason=data.notes,
                details={
                    "contact_attempt": attempt.pk,
                    "channel": data.channel,
                    "outcome": data.outcome,
                    "delinquency_reason": data.delinquency_reason,
                },
            )
        return attempt
    except _PolicyRefusal as refusal:
        decision = refusal.decision
        # The refused attempt rolled back; the refusal itself is kept (its own transaction).
        with transaction.atomic():
            event_write(
                case=Case.objects.get(pk=case_id),
                kind=EventKind.POLICY_REFUSED,
                actor=actor,
                reason=decision.text,
                details={**decision.details, "channel": data.channel},
            )
        raise ContactNotAllowed(
            decision.text,
            rule=str(decision.rule),
            allowed_from=decision.allowed_from,
            details=decision.details,
        ) from None


# --- Promises ------------------------------------------------------------------------------


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
        case = _lock_case(case_id, expected_version=expected_version)
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
            _bump(case)
            event_write(case=case, kind=EventKind.PROMISE, actor=actor, details=details)
        else:
            _apply_transition(case, "promise", actor=actor, kind=EventKind.PROMISE, details=details)
    return promise


# --- Notes, holds, escalation ----------------------------------------------------------------


def note_add(*, case_id: int, actor, text: str) -> CaseEvent:
    text = (text or "").strip()
    if not text:
        raise ValidationFailed("A note cannot be empty.", field="text")
    with transaction.atomic():
        case = _lock_case(case_id)
        ensure_can_act(actor, case)
        _bump(case)
        return event_write(case=case, kind=EventKind.NOTE, actor=actor, reason=text)


def case_hold(
    *, case_id: int, actor, reason: str, note: str = "", expected_version: int | None = None
) -> CaseHold:
    """Put a case on hold (dispute, hardship, cease-communication, bankruptcy ...)."""
    if reason not in HoldReason.values:
        raise ValidationFailed("Unknown hold reason.", field="reason")
    with transaction.atomic():
        case = _lock_case(case_id, expected_version=expected_version)
        ensure_can_act(actor, case)
        _apply_transition(
            case, "hold", actor=actor, kind=EventKind.HOLD, reason=note, details={"hold_reason": reason}
        )
        return CaseHold.objects.create(case=case, reason=reason, note=note, opened_by=actor)


def case_release_hold(*, case_id: int, actor, note: str = "", expected_version: int | None = None) -> Case:
    with transaction.atomic():
        case = _lock_case(case_id, expected_version=expected_version)
        ensure_can_act(actor, case)
        hold = case.holds.select_for_update().filter(released_at__isnull=True).first()
        _apply_transition(
            case,
            "release_hold",
            actor=actor,
            kind=EventKind.HOLD_RELEASED,
            reason=note,
            details={"hold_reason": hold.reason if hold else ""},
        )
        if hold:
            hold.released_at = timezone.now()
            hold.released_by = actor
            hold.release_note = note
            hold.save(update_fields=["released_at", "released_by", "release_note"])
    return case


def escalation_request(*, case_id: int, actor, target: str, reason: str) -> CaseEvent:
    """An agent asks a supervisor (or legal, through the supervisor) to escalate. The request waits in
    the supervisor's inbox; nothing changes state until they act."""
    if target not in ("supervisor", "legal"):
        raise ValidationFailed("Escalate to 'supervisor' or 'legal'.", field="target")
    if not (reason or "").strip():
        raise ValidationFailed("Say why the case should be escalated.", field="reason")
    with transaction.atomic():
        case = _lock_case(case_id)
        ensure_can_act(actor, case)
        if not case.is_open:
            raise InvalidTransition("The case is closed.", rule="case_closed")
        _bump(case)
        return event_write(
            case=case,
            kind=EventKind.ESCALATION_REQUESTED,
            actor=actor,
            reason=reason,
            details={"target": target},
        )


def case_escalate_to_legal(
    *, case_id: int, actor, reason: str, rule_name: str = "", expected_version: int | None = None
) -> Case:
    """Move a case to legal review with a referral. Refused while a dispute is open."""
    if not (reason or "").strip():
        raise ValidationFailed("Say why the case goes to legal review.", field="reason")
    with transaction.atomic():
        case = _lock_case(case_id, expected_version=expected_version)
        ensure_can_act(actor, case)
        if case.holds.filter(released_at__isnull=True, reason=HoldReason.DISPUTE).exists():
            raise InvalidTransition(
                "Legal escalation is refused while a dispute is open.", rule="open_dispute"
            )
        from collections_app.legal import bank_zone, limitation_for

        limitation = limitation_for(case.account, as_of=timezone.localdate(timezone=bank_zone()))
        if limitation.expired:
            raise InvalidTransition(
                "Legal escalation is refused: the debt is past its limitation date "
                f"({limitation.limitation_date}).",
                rule="limitation_expired",
            )
        _apply_transition(
            case,
            "escalate_to_legal",
            actor=actor,
            kind=EventKind.ESCALATED,
            reason=reason,
            details={"rule": rule_name} if rule_name else None,
        )
        LegalReferral.objects.create(case=case, reason=reason, rule_name=rule_name, referred_by=actor)
    return case


def legal_decide(
    *,
    case_id: int,
    actor,
    decision: str,
    note: str = "",
    court_reference: str = "",
    expected_version: int | None = None,
) -> Case:
    """A legal reviewer's decision on a case in legal review."""
    transitions = {
        LegalDecision.LITIGATION: "approve_litigation",
        LegalDecision.RETURNED: "return_from_legal",
        LegalDecision.WRITE_OFF: "write_off",
    }
    if decision not in transitions:
        raise ValidationFailed("Unknown legal decision.", field="decision")
    if decision == LegalDecision.LITIGATION and not court_reference.strip():
        raise ValidationFailed("Litigation needs the court or agency reference.", field="court_reference")
    if decision in (LegalDecision.RETURNED, LegalDecision.WRITE_OFF) and not note.strip():
        raise ValidationFailed("Say why.", field="note")
    with transaction.atomic():
        case = _lock_case(case_id, expected_version=expected_version)
        ensure_can_act(actor, case)
        if case.state != CaseState.LEGAL_REVIEW:
            raise InvalidTransition("The case is not in legal review.", rule="state_machine")
        if decision == LegalDecision.WRITE_OFF:
            case.resolution_reason = ResolutionReason.UNCOLLECTABLE
        _apply_transition(
            case,
            transitions[decision],
            actor=actor,
            kind=EventKind.LEGAL_DECISION,
            reason=note,
            details={"decision": decision, "court_reference": court_reference},
        )
        if decision == LegalDecision.WRITE_OFF:
            _cancel_live_plan(case, actor=actor, reason=note)
        LegalReferral.objects.filter(case=case, decision=LegalDecision.PENDING).update(
            decision=decision,
            reviewer=actor,
            decided_at=timezone.now(),
            decision_note=note,
            court_reference=court_reference,
        )
    return case


def case_close(
    *,
    case_id: int,
    actor,
    write_off: bool,
    resolution_reason: str,
    reason: str = "",
    expected_version: int | None = None,
) -> Case:
    """Resolve or write off a case, with a resolution reason (DESIGN section 3)."""
    if resolution_reason not in ResolutionReason.values:
        raise ValidationFailed("Choose a resolution reason.", field="resolution_reason")
    with transaction.atomic():
        case = _lock_case(case_id, expected_version=expected_version)
        ensure_can_act(actor, case)
        case.resolution_reason = resolution_reason
        _apply_transition(
            case,
            "write_off" if write_off else "resolve",
            actor=actor,
            kind=EventKind.WRITTEN_OFF if write_off else EventKind.RESOLVED,
            reason=reason,
            details={"resolution_reason": resolution_reason},
        )
        _cancel_live_plan(case, actor=actor, reason=reason or str(ResolutionReason(resolution_reason).label))
    return case


def _cancel_live_plan(case: Case, *, actor, reason: str) -> None:
    """A case that ends takes its live repayment plan with it (inside the caller's transaction)."""
    from repayment_plans.services import plans_cancel_for_closed_case

    plans_cancel_for_closed_case(case=case, actor=actor, reason=reason)


# --- Payments --------------------------------------------------------------------------------


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
) -> PaymentResult:
    """Record a payment and apply it. Idempotent by `external_ref`: replaying the same payment returns
    the first one (created=False); the same reference with other figures is refused.

    The amount pays the overdue amount first (and the minimum due), then the balance components in
    COLLECTIONS_ALLOCATION_ORDER; anything beyond the balance is kept as unapplied credit. A pending
    promise counts the payment; once the overdue amount is paid the account is cured and its open
    case resolved (paid in full when the balance is nil)."""
    if amount is None or amount <= 0:
        raise ValidationFailed("A payment amount must be positive.", field="amount")
    if paid_at > timezone.now() + timedelta(minutes=5):
        raise ValidationFailed(
            "A payment cannot be dated in the future.", field="paid_at", rule="paid_in_future"
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
            f"Payment {existing.external_ref} was already recorded with other figures "
            f"({existing.amount} on account {existing.account.external_ref}).",
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
    from repayment_plans.allocation import allocate_payment_to_plan

    allocate_payment_to_plan(case=case, payment=payment, actor=actor)
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
                _apply_transition(case, "keep_promise", actor=None)
    if cured and case.state != CaseState.ON_PLAN:  # while a plan is active, the plan decides when it ends
        # `balance` is generated by the database; sum the components as they are now.
        balance = sum(getattr(acct, name) for name in delinquency.COMPONENTS)
        case.resolution_reason = ResolutionReason.PAID_IN_FULL if balance == 0 else ResolutionReason.CURED
        _apply_transition(
            case,
            "resolve",
            actor=None,
            kind=EventKind.RESOLVED,
            details={"resolution_reason": case.resolution_reason, "payment": payment.pk},
        )
    else:
        _bump(case)


# --- Claiming work: Next case, leases, callbacks -------------------------------------------------

# States an agent takes from a queue. Promised and on-plan cases wait for the customer; they come
# back to in_progress when the promise or plan breaks (nightly check).
CLAIMABLE_STATES = (CaseState.NEW, CaseState.IN_PROGRESS)
CLAIM_CANDIDATES = 25  # rows locked per Next press; enough to skip those the policy passes over


@dataclass
class ClaimResult:
    case: Case | None
    passed_over: dict[str, int]


def agent_queue_ids(agent) -> list[int]:
    """The agent's queues: those they are named on, else their team's active queues."""
    from collections_app.models import Queue

    named = list(agent.work_queues.filter(active=True).values_list("pk", flat=True))
    if named or agent.team_id is None:
        return named
    return list(Queue.objects.filter(team_id=agent.team_id, active=True).values_list("pk", flat=True))


def _lease_until(now: datetime) -> datetime:
    return now + timedelta(minutes=settings.COLLECTIONS_LEASE_MINUTES)


def case_claim_next(*, actor, now: datetime | None = None) -> ClaimResult:
    """Hand the agent the highest-priority case of their queues that may be contacted now.

    One transaction with SELECT ... FOR UPDATE SKIP LOCKED: two agents pressing Next at the same
    moment lock different rows, so no case is handed out twice. Cases the contact policy blocks now are
    skipped and counted by rule. The agent's current lease (if any) is released first."""
    from accounts.permissions import Capability, has_capability
    from collections_app import contact_rules

    if not has_capability(actor, Capability.WORK_CASES):
        raise NotAllowed("Your role does not take cases from queues.", rule="work_cases")
    now = now or timezone.now()
    queue_ids = agent_queue_ids(actor)
    passed_over: dict[str, int] = {}
    if not queue_ids:
        return ClaimResult(None, passed_over)
    with transaction.atomic():
        # The case the agent leaves goes back to its queue, but not straight back to them.
        released = list(Case.objects.filter(lease_owner=actor).values_list("pk", flat=True))
        Case.objects.filter(pk__in=released).update(lease_owner=None, lease_expires_at=None)
        claimable = (
            Case.objects.select_for_update(skip_locked=True, of=("self",))
            .select_related("account__cardholder")
            .filter(queue_id__in=queue_ids, state__in=CLAIMABLE_STATES)
            .filter(Q(lease_expires_at__isnull=True) | Q(lease_expires_at__lt=now))
            .filter(Q(next_action_at__isnull=True) | Q(next_action_at__lte=now))
            .order_by("-priority", F("next_action_at").asc(nulls_first=True), "pk")
        )
        # Lock one row at a time: locking a batch would hide the whole batch from the other agents.
        skipped: list[int] = list(released)
        for _ in range(CLAIM_CANDIDATES):
            case = claimable.exclude(pk__in=skipped).first()
            if case is None:
                break
            blocked = contact_rules.claim_block(case=case, now=now)
            if blocked is not None:
                passed_over[blocked] = passed_over.get(blocked, 0) + 1
                skipped.append(case.pk)
                continue
            case.lease_owner = actor
            case.lease_expires_at = _lease_until(now)
            _bump(case, "lease_owner", "lease_expires_at")
            event_write(
                case=case,
                kind=EventKind.ASSIGNMENT,
                actor=actor,
                reason=gettext_noop("Claimed with Next case"),
                details={"lease_until": case.lease_expires_at.isoformat()},
            )
            return ClaimResult(case, passed_over)
    return ClaimResult(None, passed_over)


def case_lease_renew(*, case_id: int, actor, now: datetime | None = None) -> bool:
    """Keep the lease while the agent works (the case page renews it). False if it is someone else's."""
    now = now or timezone.now()
    renewed = Case.objects.filter(pk=case_id, lease_owner=actor).update(lease_expires_at=_lease_until(now))
    return bool(renewed)


def case_release(*, case_id: int, actor) -> bool:
    """The agent leaves the case: its lease ends and it goes back to the queue."""
    return bool(
        Case.objects.filter(pk=case_id, lease_owner=actor).update(lease_owner=None, lease_expires_at=None)
    )


def callback_schedule(*, case_id: int, actor, at: datetime, note: str = "") -> Case:
    """Schedule a callback: only inside the cardholder's contact window (the refusal says when it opens).
    The callback is the scheduling agent's: the case is assigned to them and comes back at `at`."""
    from collections_app import contact_rules

    with transaction.atomic():
        case = _lock_case(case_id)
        ensure_can_act(actor, case)
        if not case.is_open:
            raise InvalidTransition("The case is closed.", rule="case_closed")
        if at <= timezone.now():
            raise ValidationFailed("A callback must be in the future.", field="at", rule="callback_in_past")
        contact_rules.enforce_window(case=case, at=at)
        _start_work_if_new(case, actor=actor)
        case.next_action_at = at
        if actor is not None:
            case.assigned_agent = actor
        _bump(case, "next_action_at", "assigned_agent")
        event_write(
            case=case, kind=EventKind.CALLBACK, actor=actor, reason=note, details={"at": at.isoformat()}
        )
    return case


# --- Personal data -----------------------------------------------------------------------------

REVEALABLE_FIELDS = ("national_id", "email", "address", "phone")


def pii_reveal(*, case_id: int, actor, field: str, contact_point_id: int | None = None) -> str:
    """Return one unmasked value of the case's cardholder and log the reveal on the timeline.
    Agents may reveal on a case they are working (lease or assignment); supervisors and admins on
    any case they can see; legal reviewers on cases in legal review."""
    from accounts.permissions import Capability, has_capability

    if field not in REVEALABLE_FIELDS:
        raise ValidationFailed("That field cannot be revealed.", field="field")
    if not has_capability(actor, Capability.REVEAL_PII):
        raise NotAllowed("Your role may not reveal personal data.", rule="reveal_pii")
    with transaction.atomic():
        case = _lock_case(case_id)
        ensure_can_act(actor, case)
        working = actor.pk in (case.lease_owner_id, case.assigned_agent_id)
        if not working and not has_capability(actor, Capability.SUPERVISE) and actor.role != "legal":
            raise NotAllowed(
                "Take the case (Next case) before revealing its personal data.", rule="reveal_pii"
            )
        holder = case.account.cardholder
        if field == "phone":
            point = ContactPoint.objects.filter(pk=contact_point_id, cardholder=holder).first()
            if point is None:
                raise ValidationFailed("No such number for this cardholder.", field="contact_point")
            value = point.value
        else:
            value = getattr(holder, field)
        event_write(
            case=case,
            kind=EventKind.PII_REVEAL,
            actor=actor,
            details={"field": field, "contact_point": contact_point_id},
        )
    return value


# --- Nightly checks (set-based) -------------------------------------------------------------


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


__all__ = [
    "CLAIMABLE_STATES",
    "USER_TRANSITIONS",
    "ClaimResult",
    "callback_schedule",
    "case_claim_next",
    "case_lease_renew",
    "case_release",
    "pii_reveal",
    "ContactInput",
    "PaymentResult",
    "available_transitions",
    "case_close",
    "case_escalate_to_legal",
    "case_hold",
    "case_open",
    "case_release_hold",
    "case_transition",
    "cases_open_for_delinquent_accounts",
    "contact_attempt_log",
    "escalation_request",
    "event_write",
    "legal_decide",
    "note_add",
    "payment_record",
    "promise_record",
    "promises_check_broken",
]
