"""Who may do what: the one place where roles become capabilities.

Views (`capability_required`), DRF endpoints (`HasCapability`), the admin site and the services all
ask `has_capability`; nothing else compares roles. Which *objects* a user may reach (team scoping) is
decided in `collections_app.access`, on top of these capabilities.
"""

from enum import StrEnum
from functools import wraps

from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.utils.translation import gettext as _
from rest_framework.permissions import BasePermission

from accounts.models import Role


class Capability(StrEnum):
    WORK_CASES = "work_cases"  # take cases from queues, log contacts, record promises, propose plans
    REVEAL_PII = "reveal_pii"  # reveal a masked field of a case one may work (logged)
    SUPERVISE = "supervise"  # dashboards, reassignment, team-wide view
    APPROVE_PLANS = "approve_plans"  # approve plans outside an agent's limits
    # decide authority requests (write-offs ...) within the role's limits (authority.services)
    APPROVE_REQUESTS = "approve_requests"
    SEE_ALL_TEAMS = "see_all_teams"  # every team's cases, queues and figures (head of collections, admin)
    OVERRIDE_CONTACT_POLICY = "override_contact_policy"  # with a recorded reason
    ESCALATE_TO_LEGAL = "escalate_to_legal"  # move a case to legal review directly
    WRITE_OFF = "write_off"  # ask for a write-off: an authority request that others approve
    LEGAL_REVIEW = "legal_review"  # decide on cases in legal review
    ADMINISTER = "administer"  # the admin pages: queues, rules, policies, templates, users


_AGENT = frozenset({Capability.WORK_CASES, Capability.REVEAL_PII})
_SUPERVISOR = frozenset(
    {
        Capability.WORK_CASES,
        Capability.REVEAL_PII,
        Capability.SUPERVISE,
        Capability.APPROVE_PLANS,
        Capability.APPROVE_REQUESTS,
        Capability.OVERRIDE_CONTACT_POLICY,
        Capability.ESCALATE_TO_LEGAL,
        Capability.WRITE_OFF,
    }
)

# A team lead works cases like an agent, sees the team's cases (collections_app.access) and approves
# plans and requests within the team lead's limits - but does not SUPERVISE: no dashboards, floor
# or reassignment, which stay the supervisor's. The head of collections is a supervisor of every team.
ROLE_CAPABILITIES: dict[str, frozenset[Capability]] = {
    Role.AGENT: _AGENT,
    Role.TEAM_LEAD: _AGENT | {Capability.APPROVE_PLANS, Capability.APPROVE_REQUESTS, Capability.WRITE_OFF},
    Role.SUPERVISOR: _SUPERVISOR,
    Role.HEAD: _SUPERVISOR | {Capability.SEE_ALL_TEAMS},
    Role.LEGAL: frozenset(
        {Capability.LEGAL_REVIEW, Capability.REVEAL_PII, Capability.APPROVE_PLANS, Capability.WRITE_OFF}
    ),
    Role.ADMIN: frozenset(Capability),
}


def has_capability(user, capability: Capability) -> bool:
    if user is None or not user.is_authenticated or not user.is_active:
        return False
    return capability in ROLE_CAPABILITIES.get(user.role, frozenset())


def capabilities_of(user) -> frozenset[Capability]:
    if user is None or not user.is_authenticated or not user.is_active:
        return frozenset()
    return ROLE_CAPABILITIES.get(user.role, frozenset())


def capability_required(capability: Capability):
    """View decorator: anonymous users go to the login page; users without the capability get 403."""

    def decorator(view):
        @wraps(view)
        def wrapped(request, *args, **kwargs):
            if not request.user.is_authenticated:
                return redirect_to_login(request.get_full_path())
            if not has_capability(request.user, capability):
                raise PermissionDenied(_("Your role may not use this page."))
            return view(request, *args, **kwargs)

        return wrapped

    return decorator


class HasCapability(BasePermission):
    """A DRF permission: `permission_classes = [IsAuthenticated, HasCapability.of(Capability.SUPERVISE)]`.
    A role without the capability gets 403 (which objects it reaches is collections_app.access)."""

    capability: Capability | None = None
    message = "Your role may not use this endpoint."

    @classmethod
    def of(cls, capability: Capability) -> type["HasCapability"]:
        return type(f"Has{capability.name.title().replace('_', '')}", (cls,), {"capability": capability})

    def has_permission(self, request, view) -> bool:
        return self.capability is not None and has_capability(request.user, self.capability)
