"""Admin page of the nightly runs: read-only, written by automation.pipeline only."""

from django.contrib import admin

from automation.models import NightlyRun, NightlyStep
from core.admin_tools import ReadOnlyAdmin


class NightlyStepInline(admin.TabularInline):
    model = NightlyStep
    fields = ("position", "name", "status", "started_at", "finished_at", "counts", "note", "error")
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None) -> bool:
        return False


@admin.register(NightlyRun)
class NightlyRunAdmin(ReadOnlyAdmin):
    list_display = ("run_date", "status", "trigger", "started_at", "finished_at", "owner")
    list_filter = ("status",)
    date_hierarchy = "run_date"
    inlines = [NightlyStepInline]
