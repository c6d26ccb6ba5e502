"""Promises to pay: recording one, and the nightly check that breaks those not kept."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from decimal import Decimal

from django.conf import settings
from django.db import transaction
from django.db.models import CharField, DateTimeField, F, QuerySet, Value
from django.db.models.functions import Cast, JSONObject
from django.utils import timezone
from django.utils.translation import get_language, gettext_noop
from django.utils.translation import gettext as _
from django_fsm import can_proceed

from collections_app.access import ensure_can_act
from collections_app.models import (
    RIGHT_PARTY_OUTCOMES,
    Case,
    CaseState,
    ContactAttempt,
    EventKind,
    PromiseStatus,
    PromiseToPay,
)
from collections_app.services import contactability
from collections_app.services.kernel import (
    bulk_transition,
    bump_version,
    event_write,
    events_write_from,
    lock_case,
    lock_cases,
    lock_rows,
    transition,
    transition_sources,
)
from core.compiled import CompiledRead, Param
from core.exceptions import (
    InvalidTransition,
    ValidationFailed,
)
from core.money import format_money


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
    `contact_attempt_id`, when given, must be a contact attempt of this case: the conversation the promise
    was made in. The contact policy judges the promise as that conversation (an inbound call always
    passes), or without one as a call placed now - window, flags and holds
    (`contactability.action_decision`, Action.PROMISE); a refusal raises ContactNotAllowed with the rule
    and when it is allowed. Moves the case to `promised`."""
    today = today or timezone.localdate()
    horizon = settings.COLLECTIONS_PROMISE_HORIZON_DAYS
    with transaction.atomic():
        case = lock_case(case_id, expected_version=expected_version)
        ensure_can_act(actor, case)
        if amount is None or amount <= 0:
            raise ValidationFailed(
                _("The promised amount must be positive."), field="amount", rule="amount_positive"
            )
        if amount > case.account.balance:
            raise ValidationFailed(
                _("The promised amount is above the balance (%(balance)s).")
                % {"balance": format_money(case.account.balance, case.account.currency, get_language())},
                field="amount",
                rule="amount_above_balance",
            )
        if due_date < today:
            raise ValidationFailed(
                _("The promised date is in the past."), field="due_date", rule="date_in_past"
            )
        if due_date > today + timedelta(days=horizon):
            raise ValidationFailed(
                _("The promised date is more than %(horizon)s days ahead.") % {"horizon": horizon},
                field="due_date",
                rule="date_beyond_horizon",
                details={"horizon_days": horizon},
            )
        # A promised case takes a new promise in place of the pending one (no transition); any other case
        # must be able to go to `promised` (Case.promise).
        if case.state != CaseState.PROMISED and not can_proceed(case.promise):
            raise InvalidTransition(
                _("A promise cannot be recorded on a case in state '%(state)s'.")
                % {"state": case.get_state_display()},
                rule="state_machine",
                details={"state": case.state, "transition": "promise"},
            )
        conversation = None
        if contact_attempt_id is not None:
            conversation = case.contact_attempts.filter(pk=contact_attempt_id).first()
            if conversation is None:
                raise ValidationFailed(
                    _("That contact attempt is not on this case."),
                    field="contact_attempt",
                    rule="attempt_not_on_case",
                )
        contactability.action_check(
            case=case,
            action=contactability.Action.PROMISE,
            at=timezone.now(),
            actor=actor,
            conversation=conversation,
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

    Set-based and idempotent: the same five statements whatever the portfolio size, no row read into
    Python, and a second run changes nothing (the promises are no longer pending). Each promise gets a
    PROMISE_BROKEN event (INSERT ... SELECT); a promised case goes back to in_progress through the kernel
    (`bulk_transition`, "break_promise", which counts the broken promise and writes the transition event);
    a case elsewhere (put on hold, sent to legal) keeps its state and only counts it. Returns the number
    of promises broken."""
    cutoff = as_of - timedelta(days=settings.COLLECTIONS_PROMISE_GRACE_DAYS)
    now = timezone.now()
    due = PromiseToPay.objects.filter(status=PromiseStatus.PENDING, due_date__lt=cutoff)
    with transaction.atomic():
        # Lock the cases first, then their promises - the order promise_record and payment_record take
        # them in - so a promise being recorded or paid right now finishes (or waits) instead of
        # deadlocking; what is still pending is then read under the locks by the statements below.
        lock_cases(Case.objects.filter(pk__in=due.values("case_id")))
        lock_rows(due)
        written = events_write_from(
            due,
            case_field="case_id",
            details=JSONObject(
                promise=F("pk"),
                amount=Cast("amount", CharField()),
                paid=Cast("paid_amount", CharField()),
                as_of=Value(as_of.isoformat()),
            ),
            kind=EventKind.PROMISE_BROKEN,
            now=now,
        )
        if not written:
            return 0
        broken = due.update(status=PromiseStatus.BROKEN, settled_at=now)
        # This run's broken promises are those settled at `now`: their cases, as a subquery.
        broken_now = Case.objects.filter(
            pk__in=PromiseToPay.objects.filter(status=PromiseStatus.BROKEN, settled_at=now).values("case_id")
        )
        # Not a state change: a case no longer promised (on hold, in legal review) still counts the promise.
        broken_now.exclude(state__in=transition_sources("break_promise")).update(
            broken_promise_count=F("broken_promise_count") + 1, version=F("version") + 1
        )
        bulk_transition(broken_now, "break_promise", reason=gettext_noop("Promise broken"), now=now)
    return broken


def promise_conversations(
    *, case: Case, now: datetime, hours: int = 24, limit: int = 10
) -> list[ContactAttempt]:
    """The conversations with the debtor a promise recorded now may have been made in: the case's
    right-party contacts of the last `hours`, newest first (the case page offers them, the newest
    chosen)."""
    return _conversations_read(limit, case=case.pk, since=now - timedelta(hours=hours))


def _conversations_query(limit: int) -> QuerySet[ContactAttempt]:
    return ContactAttempt.objects.filter(
        case_id=Param("case"),
        corrects__isnull=True,
        outcome__in=RIGHT_PARTY_OUTCOMES,
        started_at__gte=Param("since", DateTimeField()),
    ).order_by("-started_at", "-pk")[:limit]


# Compiled once (core.compiled): the case page offers them on every case opened.
_conversations_read = CompiledRead(_conversations_query, keys=8)
