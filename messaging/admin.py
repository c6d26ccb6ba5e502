"""Admin pages of messaging: reminder templates (checked on save by MessageTemplate.clean: placeholders,
the elements a jurisdiction requires, banned phrases), the banned-phrase list, and the read-only log of
outbound messages (written by messaging.services only)."""

from django.contrib import admin
from django.utils.html import format_html_join
from django.utils.translation import gettext_lazy as _

from core.admin_tools import LargeTablePaginator, ReadOnlyAdmin
from core.masking import redact
from messaging.models import PLACEHOLDERS, BannedPhrase, MessageTemplate, OutboundMessage
from messaging.services import mask_recipient


@admin.register(MessageTemplate)
class MessageTemplateAdmin(admin.ModelAdmin):
    list_display = ("purpose", "channel", "language", "jurisdiction", "active", "updated_at")
    list_filter = ("purpose", "channel", "language", "active")
    search_fields = ("subject", "body")
    fields = ("purpose", "channel", "language", "jurisdiction", "active", "subject", "body", "placeholders")
    readonly_fields = ("placeholders",)

    @admin.display(description=_("Placeholders"))
    def placeholders(self, obj):
        return format_html_join("", "<div><code>{{{}}}</code> {}</div>", PLACEHOLDERS.items())


@admin.register(BannedPhrase)
class BannedPhraseAdmin(admin.ModelAdmin):
    list_display = ("phrase", "category", "active", "note")
    list_filter = ("category", "active")
    search_fields = ("phrase",)


@admin.register(OutboundMessage)
class OutboundMessageAdmin(ReadOnlyAdmin):
    list_display = ("idempotency_key", "purpose", "channel", "status", "reason", "send_after", "sent_at")
    list_filter = ("status", "purpose", "channel")
    search_fields = ("idempotency_key", "case__reference")
    list_select_related = ("case",)
    paginator = LargeTablePaginator
    show_full_result_count = False
    # Personal data: the recipient masked; the provider's words redacted again on the way out (rows
    # stored before messaging.services redacted them may hold an address or a number).
    exclude = ("recipient", "detail", "last_error")
    readonly_fields = ("recipient_masked", "detail_redacted", "last_error_redacted")

    @admin.display(description=_("recipient"))
    def recipient_masked(self, obj):
        return mask_recipient(obj.channel, obj.recipient) if obj.recipient else ""

    @admin.display(description=_("detail"))
    def detail_redacted(self, obj):
        return redact(obj.detail)

    @admin.display(description=_("last error"))
    def last_error_redacted(self, obj):
        return redact(obj.last_error)
