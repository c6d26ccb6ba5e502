"""Role rules for the API, read through accounts.permissions (nothing here compares roles).

Which *objects* a caller reaches is collections_app.access (`cases_visible_to`), applied in every
queryset of api.views: an object outside the caller's reach is answered 404, never 403, so that IDs
cannot be probed. A role that may not use an endpoint at all gets 403.
"""

from rest_framework.permissions import BasePermission

from accounts.permissions import Capability, has_capability


class HasCapability(BasePermission):
    """`permission_classes = [HasCapability.of(Capability.ADMINISTER)]`."""

    capability: Capability | None = None
    message = "Your role may not use this endpoint."

    @classmethod
    def of(cls, capability: Capability) -> type["HasCapability"]:
        return type(f"Has{capability.name.title().replace('_', '')}", (cls,), {"capability": capability})

    def has_permission(self, request, view) -> bool:
        return has_capability(request.user, self.capability)


IsAdministrator = HasCapability.of(Capability.ADMINISTER)
