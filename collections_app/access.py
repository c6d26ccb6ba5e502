"""Which cases a user may see and act on: the one object-level policy for pages, API and services.

- agent: cases in the queues of their own team, and cases assigned to them;
- supervisor: the cases of their team's queues (and those assigned to their team's agents);
- legal reviewer: cases in legal states (legal review, litigation);
- admin: every case.
"""

from django.db.models import Q, QuerySet
from django.http import Http404

from accounts.models import Role
from accounts.permissions import Capability, has_capability
from collections_app.models import LEGAL_STATES, Case
from core.exceptions import NotAllowed


def case_scope(user) -> Q | None:
    """A filter for the cases `user` may reach; None means none at all."""
    if user is None or not user.is_authenticated or not user.is_active:
        return None
    if user.role == Role.ADMIN:
        return Q()
    if user.role == Role.LEGAL:
        return Q(state__in=LEGAL_STATES)
    scope = Q(assigned_agent=user)
    if user.team_id is not None:
        scope |= Q(queue__team_id=user.team_id) | Q(assigned_agent__team_id=user.team_id)
    return scope


def cases_visible_to(user, queryset: QuerySet[Case] | None = None) -> QuerySet[Case]:
    queryset = Case.objects.all() if queryset is None else queryset
    scope = case_scope(user)
    return queryset.none() if scope is None else queryset.filter(scope)


def can_see_case(user, case: Case) -> bool:
    """The in-memory twin of `case_scope`, for a case already loaded (with queue)."""
    if user is None or not user.is_authenticated or not user.is_active:
        return False
    if user.role == Role.ADMIN:
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
        raise NotAllowed("This case is outside your team's work.", rule="case_scope")


def get_case_for_user(user, case_id: int, *, capability: Capability | None = None) -> Case:
    """Load a case for a page or endpoint: 404 when it does not exist or is outside the user's reach
    (so that IDs cannot be probed), NotAllowed when the role lacks the capability."""
    if capability is not None and not has_capability(user, capability):
        raise NotAllowed("Your role may not do this.", rule=str(capability))
    case = (
        cases_visible_to(user, Case.objects.select_related("account__cardholder", "queue", "assigned_agent"))
        .filter(pk=case_id)
        .first()
    )
    if case is None:
        raise Http404("No such case")
    return case
