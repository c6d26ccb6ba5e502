"""Admin page of the contact policies: one profile per jurisdiction, layered (a state on its country)."""

from dataclasses import asdict

from django import forms
from django.contrib import admin
from django.core.exceptions import ValidationError
from django.db.models import F
from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext_lazy as _

from contact_policy import engine
from contact_policy.models import CallScript, CallStatement, ContactPolicy, profiles_changed

# The channels by name, in the order a person thinks of them (the engine knows them by code only).
CHANNEL_LABELS = {
    engine.OUTBOUND_CALL: _("Outbound call"),
    engine.INBOUND_CALL: _("Inbound call"),
    engine.SMS: _("SMS"),
    engine.EMAIL: _("E-mail"),
    engine.LETTER: _("Letter"),
    engine.VISIT: _("Field visit"),
}


def channel_names(codes) -> str:
    """The channels of a stored list by name; empty (None or []) means no restriction at that layer."""
    if not codes:
        return str(_("any channel (no restriction here)"))
    return ", ".join(str(CHANNEL_LABELS.get(code, code)) for code in CHANNEL_LABELS if code in set(codes))


class ContactPolicyForm(forms.ModelForm):
    # Ticked boxes instead of a JSON list: the stored value stays a list of channel codes (None when none
    # is ticked, which the engine reads as "not set at this layer").
    allowed_channels = forms.MultipleChoiceField(
        label=_("allowed channels"),
        choices=list(CHANNEL_LABELS.items()),
        widget=forms.CheckboxSelectMultiple,
        required=False,
        help_text=_("None ticked: no restriction at this layer (a parent layer may still restrict)."),
    )

    class Meta:
        model = ContactPolicy
        fields = [f.name for f in ContactPolicy._meta.fields if f.editable and not f.auto_created]

    def clean_allowed_channels(self):
        chosen = self.cleaned_data.get("allowed_channels") or []
        return [code for code in CHANNEL_LABELS if code in chosen] or None


@admin.register(ContactPolicy)
class ContactPolicyAdmin(admin.ModelAdmin):
    form = ContactPolicyForm
    list_display = [
        "code",
        "name",
        "parent",
        "window_start",
        "window_end",
        "max_calls_per_number_per_day",
        "max_calls_per_debt_per_7_days",
        "quiet_days_after_conversation",
        "channels",
        "updated_at",
    ]
    list_select_related = ["parent"]
    search_fields = ["code", "name"]
    autocomplete_fields = ["parent"]
    readonly_fields = ["rules_in_force", "updated_at"]

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        # The cases of this profile (and of the layers on it) store what the policy said: recompute them.
        profiles_changed([obj.code, form.initial.get("code", "")])

    def delete_model(self, request, obj):
        code = obj.code
        super().delete_model(request, obj)
        profiles_changed([code])

    def delete_queryset(self, request, queryset):
        codes = list(queryset.values_list("code", flat=True))
        super().delete_queryset(request, queryset)
        profiles_changed(codes)

    @admin.display(description=_("allowed channels"))
    def channels(self, obj):
        return channel_names(obj.allowed_channels)

    @admin.display(description=_("rules in force (this layer merged with its parents)"))
    def rules_in_force(self, obj):
        if obj is None or obj.pk is None:
            return "-"
        try:
            rules = obj.to_rules()
        except ValidationError as error:
            return "; ".join(error.messages)
        values = asdict(rules)
        values["allowed_channels"] = channel_names(values["allowed_channels"])
        values["fallback_time_zones"] = ", ".join(values["fallback_time_zones"])
        return format_html(
            "<table>{}</table>",
            format_html_join("", "<tr><th>{}</th><td>{}</td></tr>", sorted(values.items())),
        )


# --- Call scripts ---------------------------------------------------------------------------------------


class CallStatementInline(admin.TabularInline):
    model = CallStatement
    extra = 1
    fields = ["order", "code", "text", "required"]


@admin.register(CallScript)
class CallScriptAdmin(admin.ModelAdmin):
    list_display = ["name", "jurisdiction", "language", "stage", "active", "version", "updated_at"]
    list_filter = ["jurisdiction", "language", "stage", "active"]
    search_fields = ["name", "jurisdiction", "opening", "body"]
    readonly_fields = ["version", "updated_at"]
    inlines = [CallStatementInline]

    def save_related(self, request, form, formsets, change):
        super().save_related(request, form, formsets, change)
        # A contact attempt stores the version of the script read: any edit of the script or of its
        # statements is a new version, so that a stored tick always means the text it was given for.
        if change and (form.has_changed() or any(formset.has_changed() for formset in formsets)):
            CallScript.objects.filter(pk=form.instance.pk).update(version=F("version") + 1)
            form.instance.refresh_from_db(fields=["version"])
