from django.apps import AppConfig
from django.contrib.admin import apps as admin_apps
from django.utils.translation import gettext_lazy as _


class AccountsConfig(AppConfig):
    default = True
    name = "accounts"
    verbose_name = _("Users and teams")

    def ready(self):
        from accounts import signals  # noqa: F401 - connects the receivers
        from accounts.lockout import name_the_lockout_records

        name_the_lockout_records()


class CollectionsAdminConfig(admin_apps.AdminConfig):
    default = False

    """The Django admin, open to the admin role only (see accounts.permissions)."""

    default_site = "accounts.admin_site.CollectionsAdminSite"
