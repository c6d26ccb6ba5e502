from django.contrib.admin import AdminSite
from django.utils.translation import gettext_lazy as _

from accounts.permissions import Capability, has_capability


class CollectionsAdminSite(AdminSite):
    site_header = _("Collections administration")
    site_title = _("Collections administration")
    index_title = _("Configuration")

    def has_permission(self, request) -> bool:
        return has_capability(request.user, Capability.ADMINISTER)
