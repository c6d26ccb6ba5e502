"""API tokens are managed on knox's own admin page (issue, expire, revoke); the stored idempotency
answers are shown read-only here, for support ("why did my retry get the old answer?")."""

from django.contrib import admin

from api.models import IdempotencyKey


@admin.register(IdempotencyKey)
class IdempotencyKeyAdmin(admin.ModelAdmin):
    list_display = ("key", "user", "method", "path", "response_status", "created_at")
    list_select_related = ("user",)
    list_filter = ("method", "response_status")
    search_fields = ("key", "user__username", "path")
    date_hierarchy = "created_at"
    raw_id_fields = ("user",)

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False
