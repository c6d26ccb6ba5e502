"""Forms of the plan pages. They parse the shape of the input; the rules (amounts, dates, limits) are the
calculator's and the services', and come back as ValidationFailed with the field to point at."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from django import forms
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from collections_app.models import Case
from core.forms import IsoDateField
from core.money import ZERO
from repayment_plans.calculator import Frequency, PlanKind
from repayment_plans.services import MAX_INSTALLMENTS, PlanInput

# The inputs each kind of plan has. A field that a kind does not have is not shown, so nothing the agent
# typed is silently dropped (the calculator refuses such a field rather than ignore it).
KIND_FIELDS: dict[str, tuple[str, ...]] = {
    PlanKind.INSTALLMENT: (
        "amount",
        "installments",
        "frequency",
        "first_due_date",
        "down_payment",
        "down_payment_due_date",
    ),
    PlanKind.MOVED_DUE_DATE: ("amount", "first_due_date"),
    PlanKind.SETTLEMENT: ("amount", "discount_percent", "installments", "frequency", "first_due_date"),
    PlanKind.PERSONALISED_INSTALLMENT: (
        "amount",
        "installments",
        "frequency",
        "first_due_date",
        "down_payment",
        "down_payment_due_date",
    ),
}
TERM_FIELDS = {name for names in KIND_FIELDS.values() for name in names}


def kind_from(value: object) -> str:
    return value if value in PlanKind.values else PlanKind.INSTALLMENT


def initial_terms(case: Case, kind: str) -> dict:
    """Sensible starting terms for `kind` on this case: the overdue amount over six months, the whole
    balance for a settlement or a personalised plan; the first payment a week from today."""
    account = case.account
    balance = account.principal + account.interest + account.fees + account.penalties
    today = timezone.localdate()
    initial = {
        "kind": kind,
        "amount": account.overdue_amount or balance,
        "installments": 6,
        "frequency": Frequency.MONTHLY,
        "first_due_date": today + timedelta(days=7),
        "down_payment": ZERO,
    }
    if kind == PlanKind.MOVED_DUE_DATE:
        initial["first_due_date"] = today + timedelta(days=14)
    elif kind == PlanKind.SETTLEMENT:
        initial.update(amount=balance, installments=1, discount_percent=Decimal("20.00"))
    elif kind == PlanKind.PERSONALISED_INSTALLMENT:
        initial.update(amount=balance, installments=36)
    return initial


class PlanTermsForm(forms.Form):
    """The terms of one kind of plan (the other kinds' inputs are removed)."""

    kind = forms.ChoiceField(choices=PlanKind.choices, widget=forms.HiddenInput)
    amount = forms.DecimalField(label=_("Amount to repay"), max_digits=14, decimal_places=2)
    installments = forms.IntegerField(label=_("Number of installments"), max_value=MAX_INSTALLMENTS)
    frequency = forms.ChoiceField(label=_("Frequency"), choices=Frequency.choices, initial=Frequency.MONTHLY)
    first_due_date = IsoDateField(label=_("First due date"))
    down_payment = forms.DecimalField(
        label=_("Down payment"), max_digits=14, decimal_places=2, required=False, initial=ZERO
    )
    down_payment_due_date = IsoDateField(label=_("Down payment due (optional)"), required=False)
    discount_percent = forms.DecimalField(
        label=_("Discount (%)"), max_digits=5, decimal_places=2, required=False, initial=ZERO
    )

    def __init__(self, *args, kind: str = PlanKind.INSTALLMENT, **kwargs):
        super().__init__(*args, **kwargs)
        self.kind = kind_from(kind)
        keep = set(KIND_FIELDS[self.kind])
        for name in TERM_FIELDS - keep:
            del self.fields[name]
        if self.kind == PlanKind.MOVED_DUE_DATE:
            self.fields["first_due_date"].label = _("New due date")
        if self.kind == PlanKind.SETTLEMENT:
            self.fields["amount"].label = _("Balance to settle")

    def clean_kind(self) -> str:
        return self.kind

    def to_input(self) -> PlanInput:
        """The cleaned terms (call after `is_valid()`)."""
        return self._input(self.cleaned_data)

    def initial_input(self) -> PlanInput:
        """The terms the unbound form starts with, for the schedule shown before anything is typed."""
        return self._input({name: self.initial.get(name) for name in self.fields})

    def _input(self, data: dict) -> PlanInput:
        present = set(self.fields)
        return PlanInput(
            kind=self.kind,
            amount=data["amount"],
            first_due_date=data["first_due_date"],
            installments=data["installments"] if "installments" in present else 1,
            frequency=data.get("frequency") or Frequency.MONTHLY,
            down_payment=data.get("down_payment") or ZERO,
            down_payment_due_date=data.get("down_payment_due_date"),
            discount_percent=data.get("discount_percent") or ZERO,
        )


class ProposeForm(PlanTermsForm):
    reason = forms.CharField(
        label=_("Why this plan (the cardholder's circumstances)"),
        widget=forms.Textarea(attrs={"rows": 2}),
        required=False,
    )
    cardholder_accepted = forms.BooleanField(
        label=_("The cardholder has accepted these terms"), required=False
    )
    acceptance_note = forms.CharField(
        label=_("How they accepted (call, recording reference)"), max_length=500, required=False
    )


class CounterProposalForm(PlanTermsForm):
    note = forms.CharField(
        label=_("What changes and why (sent back to the proposer)"), widget=forms.Textarea(attrs={"rows": 2})
    )


class ReasonForm(forms.Form):
    reason = forms.CharField(label=_("Reason"), widget=forms.Textarea(attrs={"rows": 2}))


class AcceptForm(forms.Form):
    note = forms.CharField(label=_("How the cardholder accepted"), max_length=500, required=False)
