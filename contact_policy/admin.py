"""Admin page of the contact policies: one profile per jurisdiction, layered (a state on its country)."""

from dataclasses import asdict

from django.contrib import admin
from django.core.exceptions import ValidationError
from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext_lazy as _

from contact_policy.models import ContactPolicy


@admin.register(ContactPolicy)
class ContactPolicyAdmin(admin.ModelAdmin):
    list_display = [
        "code",
        "name",
        "parent",
        "window_start",
        "window_end",
        "max_calls_per_number_per_day",
        "max_calls_per_debt_per_7_days",
        "quiet_days_after_conversation",
        "updated_at",
    ]
    list_select_related = ["parent"]
    search_fields = ["code", "name"]
    autocomplete_fields = ["parent"]
    readonly_fields = ["rules_in_force", "updated_at"]

    @admin.display(description=_("rules in force (this layer merged with its parents)"))
    def rules_in_force(self, obj):
        if obj is None or obj.pk is None:
            return "-"
        try:
            rules = obj.to_rules()
        except ValidationError as error:
            return "; ".join(error.messages)
        values = asdict(rules)
        values["allowed_channels"] = ", ".join(sorted(values["allowed_channels"]))
        values["fallback_time_zones"] = ", ".join(values["fallback_time_zones"])
        return format_html(
            "<table>{}</table>",
            format_html_join("", "<tr><th>{}</th><td>{}</td></tr>", sorted(values.items())),
        )
