"""Admin pages of privacy: retention policies are edited here; legal holds, purge runs, subject-access
exports and correction requests are read here and changed only through privacy's services (the pages
under /privacy/ and the admin actions below call them)."""

from django.contrib import admin, messages
from django.utils.translation import gettext_lazy as _

from core.admin_tools import ReadOnlyAdmin
from core.exceptions import DomainError
from privacy import services
from privacy.models import (
    CorrectionRequest,
    LegalHold,
    PurgedCardholder,
    PurgeRun,
    RetentionPolicy,
    SubjectAccessRequest,
)


@admin.register(RetentionPolicy)
class RetentionPolicyAdmin(admin.ModelAdmin):
    list_display = ["jurisdiction", "years", "counted_from", "updated_at"]
    fields = ["jurisdiction", "years", "counted_from", "source"]


@admin.register(LegalHold)
class LegalHoldAdmin(ReadOnlyAdmin):
    list_display = ["pk", "cardholder", "case", "placed_by", "placed_at", "released_by", "released_at"]
    list_filter = [("released_at", admin.EmptyFieldListFilter)]
    list_select_related = ["cardholder", "case", "placed_by", "released_by"]
    search_fields = ["=cardholder__external_ref", "=case__reference"]
    actions = ["release"]

    @admin.action(description=_("Release the selected legal holds"))
    def release(self, request, queryset):
        released = 0
        for hold in queryset.filter(released_at__isnull=True):
            try:
                services.legal_hold_release(
                    actor=request.user, hold=hold, reason=str(_("Released in the admin"))
                )
            except DomainError as error:
                self.message_user(request, error.message, messages.ERROR)
                return
            released += 1
        self.message_user(request, _("%(n)s legal holds released.") % {"n": released})


@admin.register(PurgeRun)
class PurgeRunAdmin(ReadOnlyAdmin):
    list_display = [
        "pk",
        "as_of",
        "dry_run",
        "status",
        "trigger",
        "started_by",
        "started_at",
        "finished_at",
        "cardholders",
    ]
    list_filter = ["dry_run", "status"]
    readonly_fields = ["counts"]


@admin.register(PurgedCardholder)
class PurgedCardholderAdmin(ReadOnlyAdmin):
    list_display = ["cardholder", "purged_at", "run"]
    list_select_related = ["cardholder", "run"]
    search_fields = ["=cardholder__external_ref"]


@admin.register(SubjectAccessRequest)
class SubjectAccessRequestAdmin(ReadOnlyAdmin):
    list_display = ["requested_at", "cardholder", "requested_by", "format", "language", "reference"]
    list_filter = ["format", ("requested_at", admin.DateFieldListFilter)]
    list_select_related = ["cardholder", "requested_by"]
    search_fields = ["=cardholder__external_ref", "=reference"]


@admin.register(CorrectionRequest)
class CorrectionRequestAdmin(ReadOnlyAdmin):
    list_display = [
        "requested_at",
        "cardholder",
        "field",
        "masked_before",
        "status",
        "requested_by",
        "decided_by",
    ]
    list_filter = ["status", "field"]
    list_select_related = ["cardholder", "requested_by", "decided_by"]
    search_fields = ["=cardholder__external_ref"]
    exclude = ["current_value", "requested_value"]

    @admin.display(description=_("value before"))
    def masked_before(self, obj):
        return obj.masked_before
