"""Claiming work: Next case, leases and callbacks."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone
from django.utils.translation import gettext_noop

from accounts.permissions import Capability, has_capability
from collections_app.access import ensure_can_act
from collections_app.models import (
    Case,
    CaseState,
    EventKind,
    Queue,
)
from collections_app.services import contactability
from collections_app.services.kernel import (
    bump_version,
    event_write,
    lock_case,
    start_work_if_new,
)
from contact_policy.models import PolicyBook
from core.exceptions import (
    InvalidTransition,
    NotAllowed,
    ValidationFailed,
)

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
        policies = PolicyBook()  # the profiles are read once for this press, however many are passed over
        for _ in range(CLAIM_CANDIDATES):
            case = claimable.exclude(pk__in=skipped).first()
            if case is None:
                break
            blocked = contactability.claim_block(case=case, now=now, policies=policies)
            if blocked is not None:
                passed_over[blocked] = passed_over.get(blocked, 0) + 1
                skipped.append(case.pk)
                continue
            case.lease_owner = actor
            case.lease_expires_at = _lease_until(now)
            bump_version(case, "lease_owner", "lease_expires_at")
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


def callback_schedule(
    *, case_id: int, actor, at: datetime, note: str = "", expected_version: int | None = None
) -> Case:
    """Schedule a callback: only inside the cardholder's contact window (the refusal says when it opens).
    The callback is the scheduling agent's: the case is assigned to them and comes back at `at`.

    `at` without an offset (a naive datetime, as the case page's form and an API request without an
    offset give it) is the cardholder's local time (`contactability.cardholder_local_time`).
    `expected_version`: refuse (ConcurrentUpdate) if the case changed since the caller read it."""
    with transaction.atomic():
        case = lock_case(case_id, expected_version=expected_version)
        ensure_can_act(actor, case)
        if not case.is_open:
            raise InvalidTransition("The case is closed.", rule="case_closed")
        policies = PolicyBook()  # one read of the profiles for the zone and the window
        at = contactability.cardholder_local_time(case, at, policies=policies)
        if at <= timezone.now():
            raise ValidationFailed("A callback must be in the future.", field="at", rule="callback_in_past")
        contactability.enforce_window(case=case, at=at, policies=policies)
        start_work_if_new(case, actor=actor)
        case.next_action_at = at
        if actor is not None:
            case.assigned_agent = actor
        bump_version(case, "next_action_at", "assigned_agent")
        event_write(
            case=case, kind=EventKind.CALLBACK, actor=actor, reason=note, details={"at": at.isoformat()}
        )
    return case
