"""Claiming work: Next case, leases and callbacks."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Case as SqlCase
from django.db.models import CharField, Count, F, Min, Q, QuerySet, Value, When
from django.db.models.lookups import In
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop

from accounts.permissions import Capability, has_capability
from collections_app.access import ensure_can_act
from collections_app.models import (
    OPEN_STATES,
    Case,
    CaseEvent,
    CaseState,
    EventKind,
    Queue,
)
from collections_app.services import contactability
from collections_app.services.kernel import (
    bump_version,
    event_write,
    lease_swap,
    lock_case,
    start_work_if_new,
)
from contact_policy import engine as policy
from contact_policy.models import PolicyBook
from core.exceptions import (
    InvalidTransition,
    NotAllowed,
    ValidationFailed,
)

# States an agent takes from a queue. Promised and on-plan cases wait for the customer; they come
# back to in_progress when the promise or plan breaks (nightly check).
CLAIMABLE_STATES = (CaseState.NEW, CaseState.IN_PROGRESS)


# Next case's order, and the queue lists': the partial index case_claimable_idx has these columns. At the
# same priority a due callback (an appointment the cardholder agreed to) comes before a case never
# scheduled, oldest appointment first.
CLAIM_ORDER = ("-priority", F("next_action_at").asc(nulls_last=True), "pk")


def ready_now(now: datetime, *, queue_ids: list[int] | None = None) -> Q:
    """The cases Next case may hand out at `now` - the one definition My work's "ready now", the queue
    lists and Next case all filter with: a claimable state, in a queue (one of `queue_ids` if given), no
    live lease, the callback (if any) due, and a call allowed now by the stored contactability
    (contactable_until is checked too, so a window that closed before the roll moved the case is closed)."""
    # A lookup over the column (not queue_id__in): Next case compiles it once with Param ids (lease_swap).
    in_queue = Q(In(F("queue_id"), queue_ids)) if queue_ids is not None else Q(queue__isnull=False)
    return (
        in_queue
        & Q(state__in=CLAIMABLE_STATES)
        & (Q(lease_expires_at__isnull=True) | Q(lease_expires_at__lt=now))
        & (Q(next_action_at__isnull=True) | Q(next_action_at__lte=now))
        & Q(contactable_from__lte=now)
        & (Q(contactable_until__isnull=True) | Q(contactable_until__gt=now))
    )


def _not_callable_now(now: datetime) -> Q:
    return Q(contactable_from__isnull=True) | Q(contactable_from__gt=now) | Q(contactable_until__lte=now)


@dataclass
class ClaimResult:
    case: Case | None
    # When nothing was handed out: the open cases of the agent's queues that are not ready, by reason.
    passed_over: dict[str, int]
    # When nothing was handed out: the next instant a case held back by the contact policy becomes callable.
    next_ready_at: datetime | None = None


def not_ready_summary(queue_ids: list[int], *, now: datetime) -> tuple[dict[str, int], datetime | None]:
    """The open cases of these queues that Next case will not hand out now, counted by reason (a state
    other than new / in progress, "callback_later", "leased", else the stored contact_block_rule), and the
    earliest instant one of those held back by the contact policy becomes callable. Two grouped queries,
    however many cases: the other states' counts (from the index case_state_queue_idx), and ONE pass over
    the claimable cases, grouped by the reason each would be held back for, every figure a FILTER of
    that pass (it used to be three passes over the same rows)."""
    open_in_queues = Case.objects.filter(queue_id__in=queue_ids, state__in=OPEN_STATES)
    summary: dict[str, int] = {
        f"state:{state}": n
        for state, n in open_in_queues.exclude(state__in=CLAIMABLE_STATES)
        .values_list("state")
        .annotate(n=Count("pk"))
        .order_by()
    }
    not_leased = Q(lease_expires_at__isnull=True) | Q(lease_expires_at__lt=now)
    no_callback = Q(next_action_at__isnull=True) | Q(next_action_at__lte=now)
    held_back = not_leased & no_callback & _not_callable_now(now)
    reason = SqlCase(
        When(contactable_from__isnull=True, then=Value(contactability.CONTACT_NOT_COMPUTED)),
        # The window closed and the roll has not moved the case yet.
        When(
            Q(contactable_until__lte=now) | Q(contact_block_rule=""),
            then=Value(str(policy.Rule.CONTACT_WINDOW)),
        ),
        default=F("contact_block_rule"),
        output_field=CharField(),
    )
    rows = (
        open_in_queues.filter(state__in=CLAIMABLE_STATES)
        .annotate(reason=reason)
        .values("reason")
        .annotate(
            held_back=Count("pk", filter=held_back),
            callback_later=Count("pk", filter=Q(next_action_at__gt=now)),
            leased=Count("pk", filter=Q(lease_expires_at__gte=now)),
            next_ready=Min(
                "contactable_from",
                filter=held_back
                & Q(
                    contactable_from__gt=now,
                    contactable_from__lt=contactability.CONTACT_BLOCKED_UNTIL_CHANGED,
                ),
            ),
        )
        .order_by()
    )
    summary.update(callback_later=0, leased=0)
    next_ready = None
    for row in rows:
        summary["callback_later"] += row["callback_later"]
        summary["leased"] += row["leased"]
        summary[row["reason"]] = summary.get(row["reason"], 0) + row["held_back"]
        if row["next_ready"] is not None and (next_ready is None or row["next_ready"] < next_ready):
            next_ready = row["next_ready"]
    return {k: v for k, v in summary.items() if v}, next_ready


def agent_queue_ids(agent) -> list[int]:
    """The agent's queues: those they are named on, else their team's active queues."""
    named = list(agent.work_queues.filter(active=True).values_list("pk", flat=True))
    if named or agent.team_id is None:
        return named
    return list(Queue.objects.filter(team_id=agent.team_id, active=True).values_list("pk", flat=True))


def _lease_until(now: datetime) -> datetime:
    return now + timedelta(minutes=settings.COLLECTIONS_LEASE_MINUTES)


def claim_candidates(now: datetime, *, queue_ids: list[int], passing_over: list[int] = ()) -> QuerySet[Case]:
    """Next case's locking statement: the cases of `queue_ids` ready at `now` (`ready_now`), but not
    those in `passing_over`, in CLAIM_ORDER, FOR UPDATE SKIP LOCKED. It reads the case table alone (no
    joins: the lock is on the case row, and what a page shows of the account is read after the claim)
    through case_claimable_idx in the index's own order, whatever the number of queues: PostgreSQL stops at
    the first row that passes the filters and that nobody is claiming, and sorts nothing."""
    return (
        Case.objects.select_for_update(skip_locked=True)
        .filter(ready_now(now, queue_ids=queue_ids))
        .exclude(pk__in=passing_over)
        .order_by(*CLAIM_ORDER)
    )


def _next_case_selection(*, now, queue_ids, agent) -> QuerySet[Case]:
    """Next case's locking statement for `lease_swap`: `claim_candidates`, but not the cases the agent
    holds (the same statement releases them, and the case left is not handed straight back)."""
    return claim_candidates(now, queue_ids=queue_ids).exclude(lease_owner_id=agent)


def case_claim_next(*, actor, now: datetime | None = None) -> ClaimResult:
    """Hand the agent the highest-priority case of their queues that is ready now (`ready_now`).

    The agent's current lease (if any) is released first and that case is not handed straight back.
    The claim is SELECT ... FOR UPDATE SKIP LOCKED LIMIT 1 over `ready_now` in priority order
    (`claim_candidates`): two agents pressing Next at the same moment lock different rows, so no case is
    handed out twice, and nobody waits for a row a colleague is claiming. The release, the claim, the
    lease and their ASSIGNMENT events are one statement (kernel.lease_swap): one round trip, no
    transaction to open. The contact policy is not asked here: its answer is stored on the case
    (services.contactability) and read by the filter. When nothing is ready, `passed_over` and
    `next_ready_at` say why and until when."""
    if not has_capability(actor, Capability.WORK_CASES):
        raise NotAllowed(_("Your role does not take cases from queues."), rule="work_cases")
    now = now or timezone.now()
    queue_ids = agent_queue_ids(actor)
    if not queue_ids:
        return ClaimResult(None, {})
    case = lease_swap(
        _next_case_selection,
        values={"now": now, "queue_ids": queue_ids, "agent": actor.pk},
        actor=actor,
        now=now,
        until=_lease_until(now),
        claim_reason=CLAIMED,
        release_reason=NEXT_CASE,
        expired_reason=LEASE_EXPIRED,
    )
    if case is not None:
        return ClaimResult(case, {})
    passed_over, next_ready_at = not_ready_summary(queue_ids, now=now)
    return ClaimResult(None, passed_over, next_ready_at)


def case_lease_renew(*, case_id: int, actor, now: datetime | None = None) -> bool:
    """Keep the lease while the agent works (the case page renews it). False if it is someone else's."""
    now = now or timezone.now()
    renewed = Case.objects.filter(pk=case_id, lease_owner=actor).update(lease_expires_at=_lease_until(now))
    return bool(renewed)


def case_release(*, case_id: int, actor, now: datetime | None = None) -> bool:
    """The agent leaves the case: its lease ends and it goes back to the queue. Writes an ASSIGNMENT
    event ("Released by the agent"). False if they did not hold it (a lease that ran out and was taken
    by a colleague is theirs now)."""
    now = now or timezone.now()
    with transaction.atomic():
        released = _leases_end(
            Case.objects.filter(pk=case_id, lease_owner=actor), actor=actor, now=now, note_expiry=False
        )
    return bool(released)


# Why a lease ended, as the timeline says it (ASSIGNMENT events; translated when shown, system_text).
RELEASED_BY_AGENT = gettext_noop("Released by the agent")
NEXT_CASE = gettext_noop("Released for the next case")
LEASE_EXPIRED = gettext_noop("Lease expired")
CLAIMED = gettext_noop("Claimed with Next case")


def _leases_end(
    cases, *, actor, now: datetime, why: str = RELEASED_BY_AGENT, note_expiry: bool = True
) -> list[int]:
    """End the leases of `cases` (the actor's own) and write one ASSIGNMENT event each: `why`, or
    LEASE_EXPIRED for a lease that had already run out (if `note_expiry`). The rows are locked first, so
    the events describe the leases actually ended. Returns the ids of the cases released."""
    ended = cases.filter(lease_owner=actor).values_list("id", "lease_owner_id", "lease_expires_at")
    if connection.vendor == "postgresql":
        # One compare-and-swap statement, no row lock (Next case takes one lock only, the case it hands
        # out): a lease a colleague took meanwhile (it had run out) is left alone and gets no event.
        sql, params = ended.query.sql_with_params()
        table = Case._meta.db_table
        with connection.cursor() as cursor:
            cursor.execute(
                f"""WITH ended AS ({sql}) UPDATE {table} c
                SET lease_owner_id = NULL, lease_expires_at = NULL, version = c.version + 1
                FROM ended WHERE c.id = ended.id AND c.lease_owner_id = ended.lease_owner_id
                RETURNING c.id, ended.lease_owner_id, ended.lease_expires_at""",  # noqa: S608
                params,
            )
            rows = cursor.fetchall()
    else:  # SQLite: one writer at a time, nothing changes between the read and the write.
        rows = list(ended)
        Case.objects.filter(pk__in=[pk for pk, _owner, _until in rows]).update(
            lease_owner=None, lease_expires_at=None, version=F("version") + 1
        )
    _lease_end_events(rows, now=now, actor=actor, why=why, note_expiry=note_expiry)
    return [pk for pk, _owner, _until in rows]


def _lease_end_events(
    rows, *, now: datetime, actor=None, why: str = LEASE_EXPIRED, note_expiry: bool = True
) -> None:
    """One ASSIGNMENT event per ended lease; rows are (case id, lease owner id, lease expiry)."""
    if not rows:
        return
    CaseEvent.objects.bulk_create(
        [
            CaseEvent(
                case_id=pk,
                kind=EventKind.ASSIGNMENT,
                actor=actor,
                reason=LEASE_EXPIRED if note_expiry and until is not None and until < now else why,
                details={
                    "released": True,
                    "lease_owner": owner,
                    "lease_until": until.isoformat() if until else None,
                },
                created_at=now,
            )
            for pk, owner, until in rows
        ]
    )


def callback_schedule(
    *, case_id: int, actor, at: datetime, note: str = "", expected_version: int | None = None
) -> Case:
    """Schedule a callback: only at a time the contact policy allows the call it will be - the whole
    decision at `at` (`contactability.action_decision`, Action.CALLBACK: the window, the waiting period
    after a conversation, the caps, the flags and holds); a refusal (ContactNotAllowed) names the rule and
    when it is allowed. The callback is the scheduling agent's: the case is assigned to them and comes
    back at `at`.

    `at` without an offset (a naive datetime, as the case page's form and an API request without an
    offset give it) is the cardholder's local time (`contactability.cardholder_local_time`).
    `expected_version`: refuse (ConcurrentUpdate) if the case changed since the caller read it.
    A time in the past or more than COLLECTIONS_CALLBACK_HORIZON_DAYS ahead is refused (ValidationFailed)."""
    with transaction.atomic():
        case = lock_case(case_id, expected_version=expected_version)
        ensure_can_act(actor, case)
        if not case.is_open:
            raise InvalidTransition(_("The case is closed."), rule="case_closed")
        policies = PolicyBook()  # one read of the profiles for the zone and the decision
        at = contactability.cardholder_local_time(case, at, policies=policies)
        now = timezone.now()
        if at <= now:
            raise ValidationFailed(
                _("A callback must be in the future."), field="at", rule="callback_in_past"
            )
        # A callback takes the case out of every queue until then: a year ahead would hide it from everyone.
        horizon = settings.COLLECTIONS_CALLBACK_HORIZON_DAYS
        if at > now + timedelta(days=horizon):
            raise ValidationFailed(
                _("A callback may be at most %(days)s days ahead.") % {"days": horizon},
                field="at",
                rule="callback_horizon",
                details={"horizon_days": horizon},
            )
        contactability.action_check(
            case=case, action=contactability.Action.CALLBACK, at=at, actor=actor, policies=policies
        )
        start_work_if_new(case, actor=actor)
        case.next_action_at = at
        if actor is not None:
            case.assigned_agent = actor
        bump_version(case, "next_action_at", "assigned_agent")
        event_write(
            case=case, kind=EventKind.CALLBACK, actor=actor, reason=note, details={"at": at.isoformat()}
        )
    return case
