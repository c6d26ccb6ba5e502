"""Admin: authority limits are configuration, edited in place in the list; requests and decisions are
records (read only - they change through authority.services, on the case timeline)."""

from django.contrib import admin

from authority.models import AuthorityDecision, AuthorityLimit, AuthorityRequest
from core.admin_tools import ReadOnlyAdmin


@admin.register(AuthorityLimit)
class AuthorityLimitAdmin(admin.ModelAdmin):
    list_display = [
        "__str__",
        "role",
        "kind",
        "currency",
        "max_amount",
        "max_percent",
        "max_months",
        "dual_control_above",
    ]
    list_editable = ["max_amount", "max_percent", "max_months", "dual_control_above"]
    list_display_links = ["__str__"]
    list_filter = ["kind", "role", "currency"]
    ordering = ["kind", "currency", "role"]


class AuthorityDecisionInline(admin.TabularInline):
    model = AuthorityDecision
    fields = ["approver", "approver_role", "decision", "reason", "created_at"]
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


@admin.register(AuthorityRequest)
class AuthorityRequestAdmin(ReadOnlyAdmin):
    list_display = [
        "pk",
        "case",
        "kind",
        "amount",
        "currency",
        "status",
        "routed_to_role",
        "required_approvals",
        "requested_by",
        "created_at",
    ]
    list_filter = ["status", "kind", "routed_to_role", "currency"]
    search_fields = ["case__reference"]
    list_select_related = ["case", "requested_by"]
    inlines = [AuthorityDecisionInline]


@admin.register(AuthorityDecision)
class AuthorityDecisionAdmin(ReadOnlyAdmin):
    list_display = ["pk", "request", "approver", "approver_role", "decision", "created_at"]
    list_filter = ["decision", "approver_role"]
    list_select_related = ["request", "approver"]
