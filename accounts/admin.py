from django.contrib import admin, messages
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext
from django_otp.plugins.otp_static.models import StaticDevice
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts.forms import TimeZoneChoiceField
from accounts.models import Team, User
from accounts.two_factor import second_factor_reset

# django-otp's own device admin (registered by its apps, which come before accounts in INSTALLED_APPS)
# would let an admin read a secret or add a device for someone else: hidden. Admins reset a user's second
# factor with the action on users below, which records who did it.
for _device_model in (TOTPDevice, StaticDevice):
    if admin.site.is_registered(_device_model):
        admin.site.unregister(_device_model)


@admin.register(Team)
class TeamAdmin(admin.ModelAdmin):
    list_display = ["name", "supervisor"]
    search_fields = ["name"]
    autocomplete_fields = ["supervisor"]


@admin.register(User)
class UserAdmin(DjangoUserAdmin):
    list_display = ["username", "first_name", "last_name", "role", "team", "language", "is_active"]
    list_filter = ["role", "team", "language", "is_active"]
    search_fields = ["username", "first_name", "last_name", "email"]
    actions = ["reset_second_factor"]
    fieldsets = (
        (None, {"fields": ("username", "password")}),
        (_("Person"), {"fields": ("first_name", "last_name", "email", "language", "time_zone")}),
        (_("Work"), {"fields": ("role", "team", "is_active")}),
        (_("Dates"), {"fields": ("last_login", "date_joined")}),
    )

    def formfield_for_dbfield(self, db_field, request, **kwargs):
        if db_field.name == "time_zone":  # a list of the IANA zones, not a free text to misspell
            return TimeZoneChoiceField(help_text=db_field.help_text)
        return super().formfield_for_dbfield(db_field, request, **kwargs)

    add_fieldsets = (
        (None, {"classes": ("wide",), "fields": ("username", "password1", "password2", "role", "team")}),
    )

    @admin.action(description=_("Reset second factor"))
    def reset_second_factor(self, request, queryset):
        """For a lost phone: deletes the users' authenticator and recovery codes; at their next page they
        set up a new one. Recorded on each user's History page (accounts.two_factor.second_factor_reset)."""
        reset = [user for user in queryset if second_factor_reset(user=user, actor=request.user)]
        self.message_user(
            request,
            ngettext(
                "Second factor reset for %(count)s user; they set up a new authenticator at their next "
                "sign-in.",
                "Second factor reset for %(count)s users; they set up a new authenticator at their next "
                "sign-in.",
                len(reset),
            )
            % {"count": len(reset)},
            level=messages.SUCCESS,
        )
