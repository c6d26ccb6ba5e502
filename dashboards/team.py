"""Team management: what a supervisor does to their team's work. Reassign one case or many, set an
agent's queues and availability, release leases left behind.

Every function is keyword-only with an explicit `actor` (a person with the SUPERVISE capability; admins
reach every team, supervisors their own). Changes to cases lock the rows, bump `version` and write an
ASSIGNMENT event on each case timeline in the same transaction; the bulk operations are set-based (one
locking SELECT, one UPDATE per target agent, one bulk insert of events). Changes to agents are recorded in
dashboards.AgentSettingChange.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.db import transaction
from django.db.models import F, Q, QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop

from accounts.models import Role, User
from accounts.permissions import Capability, has_capability
from collections_app.access import cases_visible_to, ensure_can_act
from collections_app.models import OPEN_STATES, Case, CaseEvent, EventKind, Queue
from collections_app.services import event_write, lock_case
from core.exceptions import NotAllowed, ValidationFailed
from dashboards.models import AgentSettingChange, AgentStatus, Availability
from dashboards.scope import sees_every_team

MAX_BULK = 10_000  # cases per bulk reassignment: one transaction must stay short


def _ensure_supervisor(actor) -> None:
    if not has_capability(actor, Capability.SUPERVISE):
        raise NotAllowed(_("Only a supervisor may manage the team's work."), rule=str(Capability.SUPERVISE))


def agents_managed_by(actor) -> QuerySet[User]:
    """The active people who work cases and whom `actor` manages: their team's (every team's for an
    admin)."""
    agents = User.objects.filter(is_active=True, role__in=[Role.AGENT, Role.TEAM_LEAD, Role.SUPERVISOR])
    if sees_every_team(actor):
        return agents
    return agents.filter(team_id=actor.team_id) if actor.team_id else agents.none()


def _target_agents(actor, agent_ids: Iterable[int]) -> list[User]:
    ids = list(dict.fromkeys(int(a) for a in agent_ids))
    if not ids:
        raise ValidationFailed(
            _("Choose the agent to give the cases to."), field="agent", rule="agent_required"
        )
    agents = {a.pk: a for a in agents_managed_by(actor).filter(pk__in=ids)}
    missing = [pk for pk in ids if pk not in agents]
    if missing:
        raise NotAllowed(
            _("Cases can only go to active agents of your team."),
            rule="agent_outside_team",
            details={"agents": missing},
        )
    return [agents[pk] for pk in ids if has_capability(agents[pk], Capability.WORK_CASES)]


# --- Reassigning ------------------------------------------------------------------------------------


def case_reassign(*, case_id: int, actor, agent_id: int, reason: str = "") -> Case:
    """Assign one open case to an agent of the actor's team. The case shows on that agent's "Assigned to
    me" list; a colleague's lease (if any) is left alone. Writes an ASSIGNMENT event."""
    _ensure_supervisor(actor)
    agents = _target_agents(actor, [agent_id])
    if not agents:
        raise ValidationFailed(_("That person does not work cases."), field="agent", rule="not_an_agent")
    with transaction.atomic():
        case = lock_case(case_id)
        ensure_can_act(actor, case)
        if not case.is_open:
            raise ValidationFailed(_("The case is closed."), rule="case_closed")
        agent = agents[0]
        previous = case.assigned_agent_id
        if previous == agent.pk:
            return case
        case.assigned_agent = agent
        case.version += 1
        case.save(update_fields=["assigned_agent", "version"])
        event_write(
            case=case,
            kind=EventKind.ASSIGNMENT,
            actor=actor,
            reason=reason or "Reassigned by a supervisor",
            details={"from_agent": previous, "to_agent": agent.pk, "to_agent_name": str(agent)},
        )
    return case


@dataclass(frozen=True)
class ReassignCriteria:
    """Which of the actor's open cases to move. Empty fields match everything."""

    case_ids: tuple[int, ...] = ()
    queue_id: int | None = None
    bucket: str = ""
    state: str = ""
    from_agent_id: int | None = None
    unassigned: bool = False
    min_dpd: int | None = None
    max_dpd: int | None = None

    def q(self) -> Q:
        q = Q(state__in=OPEN_STATES)
        if self.case_ids:
            q &= Q(pk__in=self.case_ids)
        if self.queue_id:
            q &= Q(queue_id=self.queue_id)
        if self.bucket:
            q &= Q(account__bucket=self.bucket)
        if self.state:
            q &= Q(state=self.state)
        if self.unassigned:
            q &= Q(assigned_agent__isnull=True)
        elif self.from_agent_id:
            q &= Q(assigned_agent_id=self.from_agent_id)
        if self.min_dpd is not None:
            q &= Q(account__days_past_due__gte=self.min_dpd)
        if self.max_dpd is not None:
            q &= Q(account__days_past_due__lte=self.max_dpd)
        return q

    @property
    def is_empty(self) -> bool:
        return self == ReassignCriteria()


@dataclass
class ReassignResult:
    matched: int
    reassigned: int
    by_agent: dict[int, int] = field(default_factory=dict)


def cases_matching(actor, criteria: ReassignCriteria) -> QuerySet[Case]:
    return cases_visible_to(actor, Case.objects.filter(criteria.q()))


def cases_reassign_bulk(
    *, actor, criteria: ReassignCriteria, agent_ids: list[int], reason: str, limit: int = MAX_BULK
) -> ReassignResult:
    """Give the actor's open cases matching `criteria` to one agent, or spread them over several in turn
    (highest priority first, so each gets a fair share of the best cases). At most `limit` (<= MAX_BULK)
    cases; those already with their target agent are left as they are. One transaction: the matching
    rows are locked in id order (two supervisors moving overlapping sets wait for each other, never
    deadlock), updated with one UPDATE per agent, and each gets an ASSIGNMENT event (bulk insert)."""
    _ensure_supervisor(actor)
    if criteria.is_empty:
        raise ValidationFailed(_("Say which cases to reassign."), rule="criteria_required")
    if not (reason or "").strip():
        raise ValidationFailed(_("Say why the cases are reassigned."), field="reason", rule="reason_required")
    agents = _target_agents(actor, agent_ids)
    if not agents:
        raise ValidationFailed(_("None of those people works cases."), field="agent", rule="not_an_agent")
    limit = max(1, min(limit, MAX_BULK))
    now = timezone.now()
    with transaction.atomic():
        rows = list(
            cases_matching(actor, criteria)
            .select_for_update(of=("self",))
            .order_by("pk")
            .values_list("pk", "assigned_agent_id", "priority")[: limit + 1]
        )
        matched = len(rows)
        rows = sorted(rows[:limit], key=lambda r: (-r[2], r[0]))
        plan: dict[int, list[tuple[int, int | None]]] = {a.pk: [] for a in agents}
        for i, (pk, current, _priority) in enumerate(rows):
            target = agents[i % len(agents)].pk
            if current != target:
                plan[target].append((pk, current))
        events = []
        for target, moves in plan.items():
            if not moves:
                continue
            Case.objects.filter(pk__in=[pk for pk, _c in moves]).update(
                assigned_agent_id=target, version=F("version") + 1
            )
            events += [
                CaseEvent(
                    case_id=pk,
                    kind=EventKind.ASSIGNMENT,
                    actor=actor,
                    reason=reason,
                    details={"from_agent": current, "to_agent": target, "bulk": True},
                    created_at=now,
                )
                for pk, current in moves
            ]
        CaseEvent.objects.bulk_create(events, batch_size=2000)
    return ReassignResult(
        matched=matched, reassigned=len(events), by_agent={t: len(m) for t, m in plan.items() if m}
    )


# --- Agents -----------------------------------------------------------------------------------------


def _managed_agent(actor, agent_id: int) -> User:
    _ensure_supervisor(actor)
    agent = agents_managed_by(actor).filter(pk=agent_id).first()
    if agent is None:
        raise NotAllowed(_("That person is not in your team."), rule="agent_outside_team")
    return agent


def queues_managed_by(actor) -> QuerySet[Queue]:
    queues = Queue.objects.filter(active=True)
    if sees_every_team(actor):
        return queues
    return queues.filter(team_id=actor.team_id) if actor.team_id else queues.none()


def agent_set_queues(*, actor, agent_id: int, queue_ids: Iterable[int]) -> list[int]:
    """Name the queues an agent takes cases from (among the actor's team's queues; the agent's other
    queues are left alone). An agent named on no queue works all their team's queues (see
    services.agent_queue_ids). Recorded in AgentSettingChange. Returns the agent's queues now."""
    agent = _managed_agent(actor, agent_id)
    wanted = {int(q) for q in queue_ids}
    with transaction.atomic():
        # Lock the agent row: two supervisors editing the same agent apply one after the other.
        User.objects.select_for_update().filter(pk=agent.pk).first()
        managed = {q.pk: q for q in queues_managed_by(actor)}
        unknown = wanted - set(managed)
        if unknown:
            raise NotAllowed(_("Those queues are not your team's."), rule="queue_outside_team")
        before = sorted(agent.work_queues.values_list("pk", flat=True))
        agent.work_queues.remove(*[pk for pk in before if pk in managed and pk not in wanted])
        agent.work_queues.add(*wanted)
        after = sorted(agent.work_queues.values_list("pk", flat=True))
        if after != before:
            AgentSettingChange.objects.create(
                agent=agent, field="queues", old_value=before, new_value=after, actor=actor
            )
    return after


def agent_set_availability(*, actor, agent_id: int, availability: str, note: str = ""):
    """Set an agent's availability (available, on a break, in training, off duty), shown on the
    supervisor's home. Recorded in AgentSettingChange."""
    if availability not in Availability.values:
        raise ValidationFailed(_("Unknown availability."), field="availability")
    agent = _managed_agent(actor, agent_id)
    with transaction.atomic():
        status, _created = AgentStatus.objects.select_for_update().get_or_create(agent=agent)
        before = status.availability
        status.availability = availability
        status.note = note[:200]
        status.changed_at = timezone.now()
        status.changed_by = actor
        status.save()
        if before != availability or note:
            AgentSettingChange.objects.create(
                agent=agent,
                field="availability",
                old_value=before,
                new_value=availability,
                note=note[:200],
                actor=actor,
            )
    return status


# --- Leases -----------------------------------------------------------------------------------------


def lease_release(*, case_id: int, actor, reason: str = "") -> bool:
    """Free one case from the agent holding it (they went home with the case open). Writes an
    ASSIGNMENT event. False if nobody held it."""
    _ensure_supervisor(actor)
    with transaction.atomic():
        case = lock_case(case_id)
        ensure_can_act(actor, case)
        if case.lease_owner_id is None:
            return False
        owner, expires = case.lease_owner_id, case.lease_expires_at
        case.lease_owner = None
        case.lease_expires_at = None
        case.version += 1
        case.save(update_fields=["lease_owner", "lease_expires_at", "version"])
        event_write(
            case=case,
            kind=EventKind.ASSIGNMENT,
            actor=actor,
            reason=reason or "Lease released by a supervisor",
            details={"lease_owner": owner, "lease_expired": bool(expires and expires < timezone.now())},
        )
    return True


def leases_release_stale(*, actor, now: datetime | None = None, older_than: timedelta = timedelta(0)) -> int:
    """Release every lease of the actor's cases that expired more than `older_than` ago. Set-based and
    race-free: the UPDATE is a compare-and-swap on (lease_owner, lease_expires_at), so a lease renewed
    meanwhile by its agent is kept. One ASSIGNMENT event per released case. Returns how many."""
    _ensure_supervisor(actor)
    now = now or timezone.now()
    cutoff = now - older_than
    with transaction.atomic():
        stale = list(
            cases_visible_to(
                actor, Case.objects.filter(lease_owner__isnull=False, lease_expires_at__lt=cutoff)
            )
            .select_for_update(of=("self",), skip_locked=True)
            .values_list("pk", "lease_owner_id", "lease_expires_at")
        )
        # The rows are locked, so this UPDATE cannot lose a race; it still re-checks the expiry.
        Case.objects.filter(pk__in=[pk for pk, _o, _e in stale], lease_expires_at__lt=cutoff).update(
            lease_owner=None, lease_expires_at=None, version=F("version") + 1
        )
        released = stale
        CaseEvent.objects.bulk_create(
            [
                CaseEvent(
                    case_id=pk,
                    kind=EventKind.ASSIGNMENT,
                    actor=actor,
                    reason=gettext_noop("Stale lease released"),
                    details={"lease_owner": owner, "lease_expired_at": expires.isoformat()},
                    created_at=now,
                )
                for pk, owner, expires in released
            ],
            batch_size=2000,
        )
    return len(released)


__all__ = [
    "MAX_BULK",
    "ReassignCriteria",
    "ReassignResult",
    "agent_set_availability",
    "agent_set_queues",
    "agents_managed_by",
    "case_reassign",
    "cases_matching",
    "cases_reassign_bulk",
    "lease_release",
    "leases_release_stale",
    "queues_managed_by",
]
