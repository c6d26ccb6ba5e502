"""Role rules for the API, read through accounts.permissions (nothing here compares roles).

Which *objects* a caller reaches is collections_app.access (`cases_visible_to`, `visible_through_case`),
applied in every queryset of api.views: an object outside the caller's reach is answered 404, never 403,
so that IDs cannot be probed. A role that may not use an endpoint at all gets 403.
"""

from accounts.permissions import Capability, HasCapability

IsAdministrator = HasCapability.of(Capability.ADMINISTER)
