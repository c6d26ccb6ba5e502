"""The admin pages of escalation rules: edit with validation, preview before enabling, and the firings.

The conditions are edited as rows of (field, operator, value) from the catalogue (escalation.forms), each
row checked on its own with its error in the row; the rest of the rule is validated by the model
(`EscalationRule.clean`): impossible ranges and unknown queues come back as errors beside the field. While
the rows are edited, the form asks `conditions/count/` how many open cases they match now (a small JSON
answer, admins only). The change form also has a Preview button that
posts the form as it stands (saved or not) to `preview/` and shows, in a frame under the fields, how many
open cases the rule matches now, what it would do with them and a sample of ten - computed by
`escalation.rule_preview`, the same evaluation the nightly run uses.

Registered here; collections_app.admin imports this module.
"""

from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.db.models import Count, IntegerField, OuterRef, Subquery, Value
from django.db.models.functions import Coalesce
from django.http import HttpRequest, HttpResponse, HttpResponseNotAllowed, JsonResponse
from django.shortcuts import render
from django.urls import path, reverse
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext
from django.views.decorators.clickjacking import xframe_options_sameorigin

from collections_app.models import Case
from core.clock import bank_today
from escalation.forms import EscalationRuleForm, rows_to_conditions
from escalation.models import (
    FIELDS,
    EscalationFiring,
    EscalationRule,
    FieldKind,
    FiringOutcome,
    MatchMode,
    validate_conditions,
)
from escalation.services import rule_preview, rule_q

VALUE_HINTS = {
    FieldKind.COUNT: _("a whole number ≥ 0"),
    FieldKind.DAYS: _("a whole number of days ≥ 0"),
    FieldKind.MONEY: _('an amount ≥ 0: 50000 or "50000.00"'),
    FieldKind.CHOICE: _("one of"),
}


def field_catalogue() -> list[dict]:
    """The fields a condition may use, their operators and values (shown beside the conditions box)."""
    rows = []
    for spec in FIELDS.values():
        hint = str(VALUE_HINTS[spec.kind])
        if spec.kind == FieldKind.CHOICE:
            hint = f"{hint}: {', '.join(spec.choice_values()) or '—'}"
        rows.append(
            {"name": spec.name, "label": spec.label, "operators": ", ".join(spec.operators), "values": hint}
        )
    return rows


@admin.register(EscalationRule)
class EscalationRuleAdmin(admin.ModelAdmin):
    form = EscalationRuleForm
    change_form_template = "admin/escalation/escalationrule/change_form.html"
    list_display = [
        "name",
        "order",
        "enabled",
        "dry_run",
        "conditions_summary",
        "actions_summary",
        "version",
        "fired",
        "updated_at",
    ]
    list_display_links = ["name"]
    list_filter = ["enabled", "dry_run", "move_to_legal_review"]
    list_select_related = ["target_queue"]
    search_fields = ["name"]
    ordering = ["order", "pk"]
    actions = ["switch_to_dry_run", "disable"]
    fieldsets = [
        (None, {"fields": ["name", "description", ("order", "enabled", "dry_run")]}),
        (_("Conditions"), {"fields": ["match_mode", "conditions"]}),
        (
            _("Actions (at least one)"),
            {"fields": ["move_to_legal_review", "target_queue", "raise_priority", "notify_supervisor"]},
        ),
    ]

    def get_queryset(self, request):
        fired = (
            EscalationFiring.objects.filter(rule=OuterRef("pk"), dry_run=False, outcome=FiringOutcome.FIRED)
            .order_by()
            .values("rule")
            .annotate(n=Count("pk"))
            .values("n")
        )
        return (
            super()
            .get_queryset(request)
            .annotate(fired_count=Coalesce(Subquery(fired, output_field=IntegerField()), Value(0)))
        )

    def save_model(self, request, obj, form, change):
        obj.updated_by = request.user
        super().save_model(request, obj, form, change)

    @admin.display(description=_("conditions"))
    def conditions_summary(self, obj):
        return obj.describe_conditions()

    @admin.display(description=_("actions"))
    def actions_summary(self, obj):
        return obj.describe_actions()

    @admin.display(description=_("fired"), ordering="fired_count")
    def fired(self, obj):
        url = reverse("admin:escalation_escalationfiring_changelist")
        return format_html('<a href="{}?rule__id__exact={}">{}</a>', url, obj.pk, obj.fired_count)

    @admin.action(description=_("Switch the selected rules to dry run"))
    def switch_to_dry_run(self, request, queryset):
        # save() per rule (there are few) rather than update(): the version bookkeeping lives in save().
        for rule in queryset:
            rule.dry_run = True
            rule.updated_by = request.user
            rule.save()
        self.message_user(request, _("Switched to dry run."), level=messages.SUCCESS)

    @admin.action(description=_("Disable the selected rules"))
    def disable(self, request, queryset):
        for rule in queryset:
            rule.enabled = False
            rule.updated_by = request.user
            rule.save()
        self.message_user(request, _("Disabled."), level=messages.SUCCESS)

    # --- Preview --------------------------------------------------------------------------------

    def get_urls(self):
        prefix = f"{self.opts.app_label}_{self.opts.model_name}"
        # The answer is shown in a frame of the change form: same-origin framing (X_FRAME_OPTIONS is DENY).
        view = self.admin_site.admin_view(xframe_options_sameorigin(self.preview_view))
        count = self.admin_site.admin_view(self.count_view)
        return [
            path("conditions/count/", count, name=f"{prefix}_count"),
            path("preview/", view, name=f"{prefix}_preview_new"),
            path("<path:object_id>/preview/", view, name=f"{prefix}_preview"),
            *super().get_urls(),
        ]

    def preview_view(self, request: HttpRequest, object_id: str | None = None) -> HttpResponse:
        """The change form's values (not saved) -> what the rule would do now. Answers a small page that
        the change form shows in a frame."""
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        obj = self.get_object(request, object_id) if object_id else None
        if object_id and obj is None:
            return HttpResponse(status=404)
        permitted = self.has_change_permission(request, obj) if obj else self.has_add_permission(request)
        if not permitted:
            return HttpResponse(status=403)
        form = self.get_form(request, obj)(request.POST, instance=obj)
        context = {"form": form, "preview": None, "opts": self.opts}
        if form.is_valid():
            # form.instance has the posted values and is not saved.
            context["preview"] = rule_preview(form.instance)
        return render(request, "admin/escalation/escalationrule/preview.html", context)

    def count_view(self, request: HttpRequest) -> HttpResponse:
        """The posted condition rows (and match mode) -> how many open cases they match now, as JSON:
        {"matching": n} or {"errors": {row: reason}} / {"errors": {"": reason}} for the rows together.
        The same compilation (`escalation.rule_q`) as the preview and the nightly run."""
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        if not (self.has_add_permission(request) or self.has_change_permission(request)):
            return HttpResponse(status=403)
        conditions, row_errors = rows_to_conditions(request.POST)
        if row_errors:
            return JsonResponse({"errors": {str(n): e for n, e in row_errors.items()}}, status=400)
        match_mode = request.POST.get("match_mode") or MatchMode.ALL
        if match_mode not in MatchMode.values:
            match_mode = MatchMode.ALL
        try:
            conditions = validate_conditions(conditions, match_mode)
        except ValidationError as error:
            return JsonResponse({"errors": {"": " ".join(error.messages)}}, status=400)
        rule = EscalationRule(conditions=conditions, match_mode=match_mode)
        matching = Case.objects.filter(rule_q(rule, as_of=bank_today())).count()
        return JsonResponse(
            {
                "matching": matching,
                "text": ngettext("Matches %(n)s open case now.", "Matches %(n)s open cases now.", matching)
                % {"n": f"{matching:,}"},
            }
        )

    def render_change_form(self, request, context, add=False, change=False, form_url="", obj=None):
        context["field_catalogue"] = field_catalogue()
        return super().render_change_form(
            request, context, add=add, change=change, form_url=form_url, obj=obj
        )


@admin.register(EscalationFiring)
class EscalationFiringAdmin(admin.ModelAdmin):
    """What the rules did (and, in dry run, would have done): written by the run, never edited."""

    list_display = [
        "created_at",
        "rule",
        "rule_version",
        "case_link",
        "outcome",
        "skip_reason",
        "dry_run",
        "as_of",
    ]
    list_filter = ["outcome", "dry_run", "skip_reason", "rule"]
    list_select_related = ["rule", "case"]
    search_fields = ["=case__reference", "rule__name"]
    date_hierarchy = "created_at"
    show_full_result_count = False

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    @admin.display(description=_("case"), ordering="case__reference")
    def case_link(self, obj):
        url = reverse("admin:collections_app_case_change", args=[obj.case_id])
        return format_html('<a href="{}">{}</a>', url, obj.case.reference)
