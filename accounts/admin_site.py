from django.conf import settings
from django.contrib.admin import AdminSite
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.utils.translation import gettext_lazy as _

from accounts.permissions import Capability, has_capability


class CollectionsAdminSite(AdminSite):
    site_header = _("Collections administration")
    site_title = _("Collections administration")
    index_title = _("Configuration")

    def has_permission(self, request) -> bool:
        return has_capability(request.user, Capability.ADMINISTER)

    def login(self, request, extra_context=None):
        """One sign-in page for everybody (Django's admin login checks is_staff, which roles replace);
        a signed-in user without the admin role is refused outright."""
        if request.user.is_authenticated:
            raise PermissionDenied(_("Only administrators may open the administration."))
        return redirect_to_login(
            request.GET.get("next") or request.path.replace("login/", ""), settings.LOGIN_URL
        )
