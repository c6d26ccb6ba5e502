"""Filters of the list endpoints (django-filter). They narrow a queryset that is already limited to
what the caller may see (api.views); none of them widens it."""

import django_filters as filters
from django import forms
from django.core.exceptions import ValidationError
from django.db.models import Q
from django.utils.translation import gettext as _
from django_filters.fields import IsoDateTimeField
from django_filters.rest_framework import DjangoFilterBackend

from api.serializers import EARLIEST, LATEST, time_in_range
from collections_app.models import (
    OPEN_STATES,
    Bucket,
    Cardholder,
    Case,
    CaseEvent,
    CaseState,
    Channel,
    ContactAttempt,
    ContactPoint,
    CreditAccount,
    EventKind,
    Outcome,
    Payment,
    Product,
    PromiseStatus,
    PromiseToPay,
)
from escalation.models import EscalationRule
from messaging.models import MessageChannel, MessageStatus, OutboundMessage, Purpose
from repayment_plans.calculator import PlanKind
from repayment_plans.models import PlanState, RepaymentPlan


class QueryFilterBackend(DjangoFilterBackend):
    """django-filter, consulted only when the query string names one of the view's filters.

    With none named, every filter of the set is empty and returns the queryset as it was; but building
    the set deep-copies each of its filters and validates a form of them, a tenth of a plain list
    request. A parameter counts when it starts with a filter's name (a range widget's `_min`, `_after`
    suffixes included), so a filter is never skipped when one of its parameters is given; a bad value
    is still refused by the form."""

    def filter_queryset(self, request, queryset, view):
        filterset_class = self.get_filterset_class(view, queryset)
        if filterset_class is None:
            return queryset
        names = tuple(filterset_class.base_filters)
        if not any(key.startswith(names) for key in request.query_params):
            return queryset
        return super().filter_queryset(request, queryset, view)


class BoundedIsoDateTimeField(IsoDateTimeField):
    def clean(self, value):
        moment = super().clean(value)
        if moment is not None and not time_in_range(moment):
            raise ValidationError(
                _("Give a time between %(earliest)s and %(latest)s.")
                % {"earliest": EARLIEST, "latest": LATEST}
            )
        return moment


class BoundedIsoDateTimeFilter(filters.IsoDateTimeFilter):
    field_class = BoundedIsoDateTimeField


class BoundedDateField(forms.DateField):
    def clean(self, value):
        day = super().clean(value)
        if day is not None and not EARLIEST <= day <= LATEST:
            raise ValidationError(
                _("Give a date between %(earliest)s and %(latest)s.")
                % {"earliest": EARLIEST, "latest": LATEST}
            )
        return day


class BoundedDateFilter(filters.DateFilter):
    field_class = BoundedDateField


MAX_ID = 2**63 - 1
MAX_INT = 2**31 - 1
MAX_MONEY = 10**12


def _id(field_name: str, help_text: str = "") -> filters.NumberFilter:
    return filters.NumberFilter(field_name=field_name, min_value=1, max_value=MAX_ID, help_text=help_text)


def _int(field_name: str, lookup: str) -> filters.NumberFilter:
    return filters.NumberFilter(field_name=field_name, lookup_expr=lookup, min_value=0, max_value=MAX_INT)


def _money(field_name: str, lookup: str) -> filters.NumberFilter:
    return filters.NumberFilter(field_name=field_name, lookup_expr=lookup, min_value=0, max_value=MAX_MONEY)


class CaseFilter(filters.FilterSet):
    state = filters.MultipleChoiceFilter(choices=CaseState.choices)
    open = filters.BooleanFilter(method="filter_open", help_text="Only open (or only closed) cases.")
    queue = _id("queue_id")
    assigned_agent = _id("assigned_agent_id")
    mine = filters.BooleanFilter(method="filter_mine", help_text="Assigned to me or leased by me.")
    account = _id("account_id")
    cardholder = _id("account__cardholder_id")
    bucket = filters.MultipleChoiceFilter(field_name="account__bucket", choices=Bucket.choices)
    product = filters.ChoiceFilter(field_name="account__product", choices=Product.choices)
    jurisdiction = filters.CharFilter(field_name="account__cardholder__jurisdiction", max_length=16)
    dpd_min = _int("account__days_past_due", "gte")
    dpd_max = _int("account__days_past_due", "lte")
    overdue_min = _money("account__overdue_amount", "gte")
    overdue_max = _money("account__overdue_amount", "lte")
    opened_after = BoundedIsoDateTimeFilter(field_name="opened_at", lookup_expr="gte")
    opened_before = BoundedIsoDateTimeFilter(field_name="opened_at", lookup_expr="lt")
    phone_last4 = filters.CharFilter(
        method="filter_phone_last4", max_length=4, help_text="The last four digits of a number."
    )

    class Meta:
        model = Case
        fields = []

    def filter_open(self, queryset, name, value):
        return queryset.filter(state__in=OPEN_STATES) if value else queryset.exclude(state__in=OPEN_STATES)

    def filter_mine(self, queryset, name, value):
        user = self.request.user
        mine = Q(assigned_agent=user) | Q(lease_owner=user)
        return queryset.filter(mine) if value else queryset.exclude(mine)

    def filter_phone_last4(self, queryset, name, value):
        if not (value.isdigit() and len(value) == 4):
            return queryset.none()
        holders = ContactPoint.objects.filter(kind="phone", value__endswith=value).values("cardholder_id")
        return queryset.filter(account__cardholder_id__in=holders)


class CardholderFilter(filters.FilterSet):
    external_ref = filters.CharFilter(max_length=64)
    jurisdiction = filters.CharFilter(max_length=16)
    vulnerable = filters.BooleanFilter()
    do_not_contact = filters.BooleanFilter()

    class Meta:
        model = Cardholder
        fields = []


class AccountFilter(filters.FilterSet):
    external_ref = filters.CharFilter(max_length=64)
    cardholder = _id("cardholder_id")
    bucket = filters.MultipleChoiceFilter(choices=Bucket.choices)
    product = filters.ChoiceFilter(choices=Product.choices)
    dpd_min = _int("days_past_due", "gte")
    dpd_max = _int("days_past_due", "lte")

    class Meta:
        model = CreditAccount
        fields = []


class ContactAttemptFilter(filters.FilterSet):
    case = _id("case_id")
    agent = _id("agent_id")
    channel = filters.MultipleChoiceFilter(choices=Channel.choices)
    outcome = filters.MultipleChoiceFilter(choices=Outcome.choices)
    started_after = BoundedIsoDateTimeFilter(field_name="started_at", lookup_expr="gte")
    started_before = BoundedIsoDateTimeFilter(field_name="started_at", lookup_expr="lt")

    class Meta:
        model = ContactAttempt
        fields = []


class PromiseFilter(filters.FilterSet):
    case = _id("case_id")
    status = filters.MultipleChoiceFilter(choices=PromiseStatus.choices)
    due_after = BoundedDateFilter(field_name="due_date", lookup_expr="gte")
    due_before = BoundedDateFilter(field_name="due_date", lookup_expr="lte")

    class Meta:
        model = PromiseToPay
        fields = []


class PaymentFilter(filters.FilterSet):
    case = _id("case_id")
    account = _id("account_id")
    external_ref = filters.CharFilter(max_length=64)
    paid_after = BoundedIsoDateTimeFilter(field_name="paid_at", lookup_expr="gte")
    paid_before = BoundedIsoDateTimeFilter(field_name="paid_at", lookup_expr="lt")

    class Meta:
        model = Payment
        fields = []


class PlanFilter(filters.FilterSet):
    case = _id("case_id")
    state = filters.MultipleChoiceFilter(choices=PlanState.choices)
    kind = filters.ChoiceFilter(choices=PlanKind.choices)
    approval_role = filters.CharFilter(max_length=16)

    class Meta:
        model = RepaymentPlan
        fields = []


class EventFilter(filters.FilterSet):
    kind = filters.MultipleChoiceFilter(choices=EventKind.choices)

    class Meta:
        model = CaseEvent
        fields = []


class OutboundMessageFilter(filters.FilterSet):
    case = _id("case_id")
    status = filters.MultipleChoiceFilter(choices=MessageStatus.choices)
    purpose = filters.MultipleChoiceFilter(choices=Purpose.choices)
    channel = filters.ChoiceFilter(choices=MessageChannel.choices)
    created_after = BoundedIsoDateTimeFilter(field_name="created_at", lookup_expr="gte")
    created_before = BoundedIsoDateTimeFilter(field_name="created_at", lookup_expr="lt")

    class Meta:
        model = OutboundMessage
        fields = []


class EscalationRuleFilter(filters.FilterSet):
    enabled = filters.BooleanFilter()
    dry_run = filters.BooleanFilter()

    class Meta:
        model = EscalationRule
        fields = []
