"""Admin pages of telephony: each agent's phone extension (the PBX rings it first), and the read-only log
of calls (written by telephony.services only; the number is shown masked)."""

from django.contrib import admin
from django.utils.translation import gettext_lazy as _

from core.admin_tools import LargeTablePaginator, ReadOnlyAdmin
from core.masking import mask_phone
from telephony.models import AgentExtension, Call


@admin.register(AgentExtension)
class AgentExtensionAdmin(admin.ModelAdmin):
    list_display = ("user", "extension")
    search_fields = ("user__username", "extension")
    autocomplete_fields = ("user",)


@admin.register(Call)
class CallAdmin(ReadOnlyAdmin):
    list_display = ("call_id", "case", "agent", "status", "placed_at", "duration_seconds")
    list_filter = ("status", "dialer")
    search_fields = ("call_id", "case__reference")
    list_select_related = ("case", "agent")
    paginator = LargeTablePaginator
    show_full_result_count = False
    exclude = ("contact_point",)
    readonly_fields = ("number_masked",)

    @admin.display(description=_("phone number"))
    def number_masked(self, obj):
        return mask_phone(obj.contact_point.value)
