"""Which cases a user may see and act on: the one object-level policy for pages, API and services.

- agent: cases in the queues of their own team, and cases assigned to them;
- team lead, supervisor: the cases of their team's queues (and those assigned to their team's agents);
- head of collections: every case (SEE_ALL_TEAMS);
- legal reviewer: cases in legal states (legal review, litigation) - and, where a row waits for an
  approval at legal's level (a repayment plan outside a supervisor's limits), that row on any case;
- admin: every case.

Rows that hang off a case (contacts, promises, payments, plans, messages) are reached through their
case (`visible_through_case`); cardholders and accounts through any case of theirs
(`with_visible_case`); queues are those of the user's team (`queues_visible_to`). Pages, API and
services ask here, so that one module answers "who may see what".
"""

from django.db.models import Exists, OuterRef, Q, QuerySet
from django.http import Http404
from django.utils.translation import gettext as _

from accounts.models import Role
from accounts.permissions import Capability, has_capability
from collections_app.models import LEGAL_STATES, Case, Queue
from core.exceptions import NotAllowed

# The roles that see every case of their team, not just the team's queues and their own.
TEAM_WIDE_ROLES = (Role.TEAM_LEAD, Role.SUPERVISOR, Role.HEAD)


def case_scope(user) -> Q | None:
    """A filter for the cases `user` may reach; None means none at all."""
    if user is None or not user.is_authenticated or not user.is_active:
        return None
    if user.role == Role.ADMIN or has_capability(user, Capability.SEE_ALL_TEAMS):
        return Q()
    if user.role == Role.LEGAL:
        return Q(state__in=LEGAL_STATES)
    scope = Q(assigned_agent=user)
    if user.team_id is not None:
        scope |= Q(queue__team_id=user.team_id)
        if user.role in TEAM_WIDE_ROLES:  # an agent does not see a teammate's case outside the team's queues
            scope |= Q(assigned_agent__team_id=user.team_id)
    return scope


def cases_visible_to(user, queryset: QuerySet[Case] | None = None) -> QuerySet[Case]:
    queryset = Case.objects.all() if queryset is None else queryset
    scope = case_scope(user)
    return queryset.none() if scope is None else queryset.filter(scope)


def visible_through_case(
    user, queryset: QuerySet, *, case_path: str = "case", approval_role_path: str | None = None
) -> QuerySet:
    """The rows of `queryset` that hang off a case `user` may reach (`case_path` names the case from
    the row: "case", "account__cases"); all of them for an admin, none for an anonymous or inactive
    user. One subquery, whatever the page size.

    `approval_role_path` names the row's field holding the role whose approval the row waits for (a
    plan's `approval_role`): a legal reviewer who may approve also reaches the rows waiting at legal's
    level, on cases outside legal states they do not otherwise see. The queryset twin of
    repayment_plans.services.can_review_plan."""
    scope = case_scope(user)
    if scope is None:
        return queryset.none()
    if not scope:  # an empty Q: every case
        return queryset
    reach = Q(**{f"{case_path}__in": cases_visible_to(user)})
    if approval_role_path and _approves_at_legal_level(user):
        reach |= Q(**{approval_role_path: Role.LEGAL})
    return queryset.filter(reach)


def with_visible_case(user, queryset: QuerySet, *, case_link: str) -> QuerySet:
    """The rows of `queryset` (cardholders, accounts) with at least one case `user` may reach:
    `case_link` is the path from a case to the row ("account", "account__cardholder"). All of them for
    an admin; an EXISTS per row, not a join, so a row with several cases comes once."""
    scope = case_scope(user)
    if scope is None:
        return queryset.none()
    if not scope:
        return queryset
    return queryset.filter(Exists(cases_visible_to(user).filter(**{case_link: OuterRef("pk")})))


def queues_visible_to(user) -> QuerySet[Queue]:
    """The queues `user` may list: every queue for an admin; otherwise those the user works and those
    of the user's team. None for an anonymous or inactive user."""
    if user is None or not user.is_authenticated or not user.is_active:
        return Queue.objects.none()
    if has_capability(user, Capability.SEE_ALL_TEAMS):
        return Queue.objects.all()
    mine = Queue.objects.filter(agents=user).values("pk")
    scope = Q(pk__in=mine) | (Q(team_id=user.team_id) if user.team_id else Q(pk__in=[]))
    return Queue.objects.filter(scope)


def _approves_at_legal_level(user) -> bool:
    return user.role == Role.LEGAL and has_capability(user, Capability.APPROVE_PLANS)


def can_see_case(user, case: Case) -> bool:
    """The in-memory twin of `case_scope`, for a case already loaded (with queue)."""
    if user is None or not user.is_authenticated or not user.is_active:
        return False
    if user.role == Role.ADMIN or has_capability(user, Capability.SEE_ALL_TEAMS):
        return True
    if user.role == Role.LEGAL:
        return case.state in LEGAL_STATES
    if case.assigned_agent_id == user.id:
        return True
    if user.team_id is None:
        return False
    queue_team = case.queue.team_id if case.queue_id and case.queue else None
    agent_team = case.assigned_agent.team_id if case.assigned_agent_id and case.assigned_agent else None
    return user.team_id in (queue_team, agent_team)


def ensure_can_act(user, case: Case) -> None:
    """Services call this for every human actor (None is the system and may act on any case)."""
    if user is None:
        return
    if not can_see_case(user, case):
        raise NotAllowed(_("This case is outside your team's work."), rule="case_scope")


def get_case_for_user(user, case_id: int, *, capability: Capability | None = None) -> Case:
    """Load a case for a page or endpoint: 404 when it does not exist or is outside the user's reach
    (so that IDs cannot be probed), NotAllowed when the role lacks the capability."""
    if capability is not None and not has_capability(user, capability):
        raise NotAllowed(_("Your role may not do this."), rule=str(capability))
    case = (
        cases_visible_to(user, Case.objects.select_related("account__cardholder", "queue", "assigned_agent"))
        .filter(pk=case_id)
        .first()
    )
    if case is None:
        raise Http404(_("No such case"))
    return case
