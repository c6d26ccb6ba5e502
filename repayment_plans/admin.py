"""Admin: approval tiers are configuration (edited here); plans are records (read only - every change
goes through repayment_plans.services so that it is guarded and on the case timeline)."""

from django import forms
from django.contrib import admin
from django.utils.translation import gettext_lazy as _

from repayment_plans.calculator import PlanKind
from repayment_plans.models import ApprovalLimit, Installment, RepaymentPlan


class ApprovalLimitForm(forms.ModelForm):
    allowed_kinds = forms.MultipleChoiceField(
        label=_("plan kinds"), choices=PlanKind.choices, widget=forms.CheckboxSelectMultiple
    )

    class Meta:
        model = ApprovalLimit
        fields = [
            "role",
            "order",
            "active",
            "allowed_kinds",
            "min_installment_amount",
            "max_installments",
            "max_term_months",
            "max_personalised_term_months",
            "max_discount_percent",
            "first_due_horizon_days",
        ]


@admin.register(ApprovalLimit)
class ApprovalLimitAdmin(admin.ModelAdmin):
    form = ApprovalLimitForm
    list_display = [
        "role",
        "order",
        "active",
        "max_installments",
        "max_term_months",
        "max_discount_percent",
        "min_installment_amount",
        "first_due_horizon_days",
    ]
    ordering = ["order"]


class InstallmentInline(admin.TabularInline):
    model = Installment
    fields = ["number", "due_date", "amount", "paid_amount", "status", "paid_at"]
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None) -> bool:
        return False


@admin.register(RepaymentPlan)
class RepaymentPlanAdmin(admin.ModelAdmin):
    list_display = ["pk", "case", "kind", "state", "amount", "payable_amount", "approval_role", "proposed_at"]
    list_filter = ["state", "kind", "approval_role"]
    search_fields = ["case__reference", "case__account__external_ref"]
    list_select_related = ["case"]
    inlines = [InstallmentInline]

    def get_readonly_fields(self, request, obj=None):
        return [field.name for field in self.model._meta.fields]

    def has_add_permission(self, request) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False
