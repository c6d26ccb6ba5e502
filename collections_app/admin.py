"""The admin pages of the collections app (the admin role only; see accounts.admin_site).

The portfolio is large: every foreign key is an autocomplete or a raw ID (never a dropdown of all
accounts), every list names its joins in `list_select_related`, and filters never scan a big table for
their choices. Large lists skip the full count and estimate the unfiltered one (LargeTablePaginator).

What the services own stays read-only here. A case's state and assignment, contacts, promises, payments,
holds, legal referrals and the timeline are written by collections_app.services only, which check the
rules and write the audit trail; the case list offers the transitions as actions that call those
services, with a reason. Personal data is shown masked in lists and change forms (core.masking); a
"Reveal" button calls services.pii_reveal (logged on the case), and national IDs and numbers are
searched through a POST form on keyed hashes, never in a URL (PiiAdminMixin).
"""

from dataclasses import dataclass

from django import forms
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.core.exceptions import PermissionDenied
from django.db.models import Count, F, IntegerField, OuterRef, Prefetch, Subquery, Value
from django.db.models.functions import Coalesce
from django.forms.models import BaseInlineFormSet
from django.http import Http404, HttpResponseNotAllowed
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join
from django.utils.translation import get_language
from django.utils.translation import gettext_lazy as _

from accounts.models import Language
from collections_app import services
from collections_app.models import (
    OPEN_STATES,
    AccessRecord,
    AccessSource,
    Bucket,
    Cardholder,
    Case,
    CaseEvent,
    CaseHold,
    CaseState,
    ContactAttempt,
    ContactPoint,
    ContactPointKind,
    CreditAccount,
    Payment,
    Product,
    PromiseToPay,
    Queue,
    ResolutionReason,
)
from collections_app.pii import cardholders_matching_pii, pii_search_hashes
from contact_policy.models import ContactPolicy
from core.admin_tools import LargeTablePaginator, ReadOnlyAdmin
from core.exceptions import DomainError
from core.masking import (
    mask_address,
    mask_card_number,
    mask_contact_value,
    mask_email,
    mask_national_id,
    mask_phone,
)
from core.money import format_money

# --- Shared pieces ----------------------------------------------------------------------------------


class LanguageFilter(admin.SimpleListFilter):
    """The known languages, rather than a DISTINCT over every cardholder."""

    title = _("language")
    parameter_name = "language"

    def lookups(self, request, model_admin):
        return Language.choices

    def queryset(self, request, queryset):
        return queryset.filter(language=self.value()) if self.value() else queryset


class JurisdictionFilter(admin.SimpleListFilter):
    """Choices from the (small) contact policy table rather than a DISTINCT over every cardholder."""

    title = _("jurisdiction")
    parameter_name = "jurisdiction"
    field_path = "jurisdiction"

    def lookups(self, request, model_admin):
        return list(ContactPolicy.objects.order_by("code").values_list("code", "code"))

    def queryset(self, request, queryset):
        if self.value():
            return queryset.filter(**{self.field_path: self.value()})
        return queryset


class CaseJurisdictionFilter(JurisdictionFilter):
    field_path = "account__cardholder__jurisdiction"


class AccountJurisdictionFilter(JurisdictionFilter):
    field_path = "cardholder__jurisdiction"


def case_admin_link(case_id: int | None, reference: str):
    if case_id is None:
        return "-"
    return format_html(
        '<a href="{}">{}</a>', reverse("admin:collections_app_case_change", args=[case_id]), reference
    )


# --- Cardholders and accounts -----------------------------------------------------------------------


# Personal data in the admin: lists show it masked; a change form never puts a stored national ID,
# e-mail, address or number in the page (the field is empty, the masked value its placeholder, and an
# empty field keeps the value); a "Reveal" button calls services.pii_reveal, the case page's own
# service, which writes the PII_REVEAL event; and people are found by national ID or number through a
# POST form matched on keyed hashes (collections_app.pii), never through ?q= in a URL and the access log.

KEEP_HELP = _("Shown masked. Type a new value to replace it; leave empty to keep it.")


class MaskedEditForm(forms.ModelForm):
    """A model form whose `masked_fields` are write-only on an existing object (see above)."""

    masked_fields: dict[str, object] = {}  # field name -> masker (core.masking)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if not self.instance.pk:
            return
        for name, masker in self.masked_fields.items():
            if name not in self.fields:
                continue
            current = getattr(self.instance, name)
            field = self.fields[name]
            field.required = False
            field.help_text = KEEP_HELP
            field.widget.attrs["placeholder"] = masker(current) if current else ""
            self.initial[name] = ""

    def clean(self):
        data = super().clean()
        if self.instance.pk:
            for name in self.masked_fields:
                if name in data and not data[name]:
                    data[name] = getattr(self.instance, name)
        return data


class CardholderForm(MaskedEditForm):
    masked_fields = {"national_id": mask_national_id, "email": mask_email, "address": mask_address}

    class Meta:
        model = Cardholder
        fields = ["national_id", "email", "address"]  # the admin adds its fieldsets' fields


class ContactPointForm(MaskedEditForm):
    class Meta:
        model = ContactPoint
        fields = ["value"]  # the admin adds its fields

    def __init__(self, *args, **kwargs):
        kind = getattr(kwargs.get("instance"), "kind", "")
        self.masked_fields = {"value": lambda value: mask_contact_value(kind, value)}
        super().__init__(*args, **kwargs)


REVEAL_FORM_ID = "pii-reveal-form"


def reveal_button(value: str, label) -> str:
    # form=...: the button belongs to the separate reveal form (pii_change_form.html), so that it is
    # never the change form's default button (Enter in a field saves, it does not reveal).
    return format_html(
        '<button type="submit" class="button" form="{}" name="reveal" value="{}">{}</button>',
        REVEAL_FORM_ID,
        value,
        label,
    )


def reveal_case_for(cardholder_id: int) -> Case | None:
    """The case a reveal in the admin is recorded on: the cardholder's open case, else the latest."""
    return (
        Case.objects.filter(account__cardholder_id=cardholder_id)
        .order_by(F("closed_at").asc(nulls_first=True), "-opened_at", "-pk")  # open (no closed_at) first
        .first()
    )


class PiiSearchForm(forms.Form):
    value = forms.CharField(label=_("National ID or number"), max_length=200, strip=True)


MAX_PII_MATCHES = 100


class PiiAdminMixin:
    """The reveal view and the POST search of the cardholder and contact point admins."""

    change_form_template = "admin/collections_app/pii_change_form.html"
    change_list_template = "admin/collections_app/pii_change_list.html"

    def get_urls(self):
        info = self.model._meta.app_label, self.model._meta.model_name
        return [
            path(
                "pii-search/",
                self.admin_site.admin_view(self.pii_search_view),
                name="{}_{}_pii_search".format(*info),
            ),
            path(
                "<int:object_id>/reveal/",
                self.admin_site.admin_view(self.reveal_view),
                name="{}_{}_reveal".format(*info),
            ),
            *super().get_urls(),
        ]

    def matching_ids(self, value: str) -> list[int]:
        raise NotImplementedError

    def cardholder_of(self, obj) -> Cardholder:
        raise NotImplementedError

    def changelist_view(self, request, extra_context=None):
        extra_context = {**(extra_context or {}), "pii_search_form": PiiSearchForm()}
        return super().changelist_view(request, extra_context)

    def change_view(self, request, object_id, form_url="", extra_context=None):
        extra_context = {**(extra_context or {}), "reveal_form_id": REVEAL_FORM_ID}
        return super().change_view(request, object_id, form_url, extra_context)

    def pii_search_view(self, request):
        """POST only: the matches are listed by their IDs (?id__in=...); the value itself goes nowhere."""
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        if not self.has_view_permission(request):
            raise PermissionDenied
        changelist = reverse(f"admin:{self.opts.app_label}_{self.opts.model_name}_changelist")
        form = PiiSearchForm(request.POST)
        if not form.is_valid():
            self.message_user(request, _("Type a national ID or a number."), level=messages.ERROR)
            return redirect(changelist)
        ids = self.matching_ids(form.cleaned_data["value"])[:MAX_PII_MATCHES]
        if not ids:
            self.message_user(request, _("Nobody has that national ID or number."), level=messages.WARNING)
            return redirect(changelist)
        return redirect(f"{changelist}?id__in={','.join(map(str, ids))}")

    def reveal_view(self, request, object_id: int):
        """POST only: one value through services.pii_reveal (its checks, its PII_REVEAL event on the
        cardholder's case), answered on a page of its own."""
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        obj = self.get_object(request, str(object_id))
        if obj is None or not self.has_view_permission(request, obj):
            raise Http404
        holder = self.cardholder_of(obj)
        change_url = reverse(f"admin:{self.opts.app_label}_{self.opts.model_name}_change", args=[obj.pk])
        field, _sep, point = request.POST.get("reveal", "").partition(":")
        case = reveal_case_for(holder.pk)
        if case is None:
            self.message_user(
                request,
                _("This cardholder has no case to record the reveal on, so it cannot be revealed."),
                level=messages.ERROR,
            )
            return redirect(change_url)
        try:
            value = services.pii_reveal(
                case_id=case.pk,
                actor=request.user,
                field=field,
                contact_point_id=int(point) if point.isdigit() else None,
                reason=services.access_reason_from(request.POST),
                source=AccessSource.ADMIN,
                request_id=services.request_id_of(request),
            )
        except DomainError as error:
            self.message_user(request, error.message, level=messages.ERROR)
            return redirect(change_url)
        context = {
            **self.admin_site.each_context(request),
            "title": _("Personal data revealed"),
            "opts": self.opts,
            "original": obj,
            "value": value,
            "case": case,
            "change_url": change_url,
        }
        return TemplateResponse(request, "admin/collections_app/pii_revealed.html", context)


class ContactPointInline(admin.TabularInline):
    model = ContactPoint
    form = ContactPointForm
    extra = 0
    fields = ["kind", "value", "party_role", "party_name", "label", "is_primary", "active", "reveal"]
    readonly_fields = ["reveal"]

    @admin.display(description=_("reveal"))
    def reveal(self, obj):
        return reveal_button(f"phone:{obj.pk}", _("Reveal")) if obj and obj.pk else ""


@admin.register(Cardholder)
class CardholderAdmin(PiiAdminMixin, admin.ModelAdmin):
    form = CardholderForm
    list_display = [
        "external_ref",
        "name",
        "masked_national_id",
        "masked_phone",
        "jurisdiction",
        "language",
        "time_zone",
        "do_not_contact",
        "cease_communication",
        "attorney_represented",
        "bankruptcy",
        "deceased",
        "vulnerable",
    ]
    list_filter = [
        JurisdictionFilter,
        LanguageFilter,
        "do_not_contact",
        "cease_communication",
        "attorney_represented",
        "bankruptcy",
        "deceased",
        "vulnerable",
    ]
    # Exact or prefix matches: a contains-search over a million names would scan the table. National IDs
    # and numbers are searched through the POST form only (PiiAdminMixin), never in the URL.
    search_fields = ["=external_ref", "^name"]
    inlines = [ContactPointInline]
    readonly_fields = ["reveal", "created_at", "updated_at"]
    show_full_result_count = False
    paginator = LargeTablePaginator
    fieldsets = [
        (None, {"fields": ["external_ref", "name", "national_id", "email", "address", "reveal"]}),
        (_("Locale"), {"fields": ["jurisdiction", "language", "time_zone"]}),
        (
            _("Flags"),
            {
                "fields": [
                    "do_not_contact",
                    "cease_communication",
                    ("attorney_represented", "attorney_contact"),
                    "bankruptcy",
                    "deceased",
                    "vulnerable",
                ]
            },
        ),
        (_("Record"), {"fields": ["created_at", "updated_at"]}),
    ]

    def get_queryset(self, request):
        primary = ContactPoint.objects.filter(kind=ContactPointKind.PHONE, is_primary=True).order_by("pk")
        return (
            super()
            .get_queryset(request)
            .prefetch_related(Prefetch("contact_points", queryset=primary, to_attr="primary_phones"))
        )

    def has_delete_permission(self, request, obj=None) -> bool:
        return False  # the bank's record of a person; their accounts and history point at it

    def save_related(self, request, form, formsets, change):
        super().save_related(request, form, formsets, change)
        # Flags, zone, jurisdiction and numbers decide whether the person may be called: their cases'
        # stored contactability is recomputed once the numbers (the inline) are saved too.
        services.contactability.contactability_refresh(cardholder_ids=[form.instance.pk])

    def matching_ids(self, value: str) -> list[int]:
        return list(cardholders_matching_pii(value).order_by("pk").values_list("pk", flat=True))

    def cardholder_of(self, obj) -> Cardholder:
        return obj

    @admin.display(description=_("reveal"))
    def reveal(self, obj):
        if not obj or not obj.pk:
            return "-"
        labels = {"national_id": _("national ID"), "email": _("e-mail"), "address": _("address")}
        buttons = [reveal_button(name, label) for name, label in labels.items() if getattr(obj, name)]
        return format_html_join(" ", "{}", ((b,) for b in buttons)) or "-"

    @admin.display(description=_("national ID"))
    def masked_national_id(self, obj):
        return mask_national_id(obj.national_id) if obj.national_id else "-"

    @admin.display(description=_("primary phone"))
    def masked_phone(self, obj):
        phones = getattr(obj, "primary_phones", None)
        return mask_phone(phones[0].value) if phones else "-"


@admin.register(ContactPoint)
class ContactPointAdmin(PiiAdminMixin, admin.ModelAdmin):
    form = ContactPointForm
    list_display = ["masked_value", "kind", "cardholder", "party_role", "label", "is_primary", "active"]
    list_filter = ["kind", "party_role", "is_primary", "active"]
    list_select_related = ["cardholder"]
    search_fields = ["=cardholder__external_ref"]  # numbers: the POST form (PiiAdminMixin)
    autocomplete_fields = ["cardholder"]
    readonly_fields = ["reveal"]
    show_full_result_count = False
    paginator = LargeTablePaginator

    def matching_ids(self, value: str) -> list[int]:
        hashes = pii_search_hashes(value)
        return list(
            ContactPoint.objects.filter(value_hash__in=hashes).order_by("pk").values_list("pk", flat=True)
        )

    def cardholder_of(self, obj) -> Cardholder:
        return obj.cardholder

    @admin.display(description=_("reveal"))
    def reveal(self, obj):
        return reveal_button(f"phone:{obj.pk}", _("Reveal")) if obj and obj.pk else "-"

    @admin.display(description=_("number or address"))
    def masked_value(self, obj):
        return mask_contact_value(obj.kind, obj.value)


@admin.register(CreditAccount)
class CreditAccountAdmin(admin.ModelAdmin):
    list_display = [
        "external_ref",
        "cardholder_name",
        "product",
        "currency",
        "balance",
        "overdue_amount",
        "days_past_due",
        "bucket",
        "first_missed_due_date",
        "last_payment_at",
    ]
    list_filter = ["bucket", "product", AccountJurisdictionFilter]
    list_select_related = ["cardholder"]
    search_fields = ["=external_ref", "=cardholder__external_ref", "^cardholder__name"]
    autocomplete_fields = ["cardholder"]
    show_full_result_count = False
    paginator = LargeTablePaginator
    # Computed by the database (balance), the nightly refresh (DPD, bucket) and payment_record.
    readonly_fields = [
        "masked_card_number",
        "balance",
        "days_past_due",
        "bucket",
        "dpd_as_of",
        "last_payment_at",
        "last_payment_amount",
        "created_at",
        "updated_at",
    ]
    fieldsets = [
        (
            None,
            {
                "fields": [
                    "external_ref",
                    "cardholder",
                    "product",
                    "currency",
                    "opened_on",
                    "masked_card_number",
                ]
            },
        ),
        (
            _("Balance"),
            {"fields": ["credit_limit", ("principal", "interest", "fees", "penalties"), "balance"]},
        ),
        (
            _("Delinquency"),
            {
                "fields": [
                    ("overdue_amount", "minimum_due"),
                    ("first_missed_due_date", "next_due_date"),
                    ("days_past_due", "bucket", "dpd_as_of"),
                    ("last_payment_at", "last_payment_amount"),
                ]
            },
        ),
        (_("Record"), {"fields": ["created_at", "updated_at"]}),
    ]

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    @admin.display(description=_("card number"))
    def masked_card_number(self, obj):
        # From the last four kept in clear: the encrypted number is read only through a reveal (the case
        # page or the API), which is written on the case's timeline.
        return mask_card_number(obj.card_last4) if obj and obj.card_last4 else "-"

    @admin.display(description=_("cardholder"), ordering="cardholder__name")
    def cardholder_name(self, obj):
        return obj.cardholder.name


# --- Configuration ---------------------------------------------------------------------------------


class CommaListField(forms.CharField):
    """A JSON list of codes edited as "CN, US-MA"."""

    def prepare_value(self, value):
        if isinstance(value, list | tuple):
            return ", ".join(value)
        return value

    def to_python(self, value):
        text = super().to_python(value) or ""
        return [part.strip().upper() for part in text.split(",") if part.strip()]


class QueueForm(forms.ModelForm):
    buckets = forms.MultipleChoiceField(
        label=_("buckets"), choices=Bucket.choices, required=False, widget=forms.CheckboxSelectMultiple
    )
    products = forms.MultipleChoiceField(
        label=_("products"), choices=Product.choices, required=False, widget=forms.CheckboxSelectMultiple
    )
    states = forms.MultipleChoiceField(
        label=_("case states"),
        choices=[(s, label) for s, label in CaseState.choices if s in OPEN_STATES],
        required=False,
        widget=forms.CheckboxSelectMultiple,
    )
    jurisdictions = CommaListField(
        label=_("jurisdictions"), required=False, help_text=_('Profile codes, e.g. "CN, US-MA". Empty: any.')
    )

    class Meta:
        model = Queue
        fields = [
            "name",
            "order",
            "active",
            "team",
            "agents",
            "buckets",
            "min_dpd",
            "max_dpd",
            "min_balance",
            "max_balance",
            "products",
            "jurisdictions",
            "states",
        ]

    def clean(self):
        data = super().clean()
        for low, high in (("min_dpd", "max_dpd"), ("min_balance", "max_balance")):
            if data.get(low) is not None and data.get(high) is not None and data[low] > data[high]:
                self.add_error(high, _("The maximum is below the minimum."))
        return data


@admin.register(Queue)
class QueueAdmin(admin.ModelAdmin):
    form = QueueForm
    list_display = [
        "name",
        "order",
        "active",
        "team",
        "criteria",
        "open_cases",
    ]
    list_editable = ["order", "active"]
    list_filter = ["active", "team"]
    list_select_related = ["team"]
    search_fields = ["name"]
    autocomplete_fields = ["team", "agents"]
    fieldsets = [
        (None, {"fields": ["name", "order", "active", "team", "agents"]}),
        (
            _("Criteria (all must hold; empty means any)"),
            {
                "fields": [
                    "buckets",
                    ("min_dpd", "max_dpd"),
                    ("min_balance", "max_balance"),
                    "products",
                    "jurisdictions",
                    "states",
                ]
            },
        ),
    ]

    def get_queryset(self, request):
        # A correlated count per queue (there are few queues; the case table is large and indexed on
        # (state, queue)): a join with GROUP BY would aggregate every case row.
        open_cases = (
            Case.objects.filter(queue=OuterRef("pk"), state__in=OPEN_STATES)
            .order_by()
            .values("queue")
            .annotate(n=Count("pk"))
            .values("n")
        )
        return (
            super()
            .get_queryset(request)
            .annotate(open_case_count=Coalesce(Subquery(open_cases, output_field=IntegerField()), Value(0)))
        )

    @admin.display(description=_("open cases"), ordering="open_case_count")
    def open_cases(self, obj):
        return obj.open_case_count

    @admin.display(description=_("criteria"))
    def criteria(self, obj):
        parts = []
        if obj.buckets:
            parts.append("/".join(obj.buckets))
        if obj.min_dpd is not None or obj.max_dpd is not None:
            parts.append(f"DPD {obj.min_dpd or 0}-{obj.max_dpd if obj.max_dpd is not None else ''}")
        if obj.min_balance is not None or obj.max_balance is not None:
            parts.append(f"balance {obj.min_balance or 0}-{obj.max_balance or ''}")
        for values in (obj.products, obj.jurisdictions, obj.states):
            if values:
                parts.append(", ".join(values))
        return "; ".join(parts) or _("everything")


# --- The case ----------------------------------------------------------------------------------------

EVENTS_SHOWN = 50


class LatestEventsFormSet(BaseInlineFormSet):
    """The newest EVENTS_SHOWN events only: a case worked for a year has thousands."""

    def get_queryset(self):
        if not hasattr(self, "_latest"):
            self._latest = list(super().get_queryset().order_by("-created_at", "-id")[:EVENTS_SHOWN])
        return self._latest


class CaseEventInline(admin.TabularInline):
    model = CaseEvent
    formset = LatestEventsFormSet
    verbose_name_plural = _("timeline (latest 50 events, newest first)")
    fields = ["created_at", "kind", "from_state", "to_state", "actor", "reason", "details"]
    readonly_fields = fields
    extra = 0
    can_delete = False
    show_change_link = False

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("actor")

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


@dataclass(frozen=True)
class CaseAction:
    """A transition offered on the case list. `name` is the transition (services.USER_TRANSITIONS)."""

    name: str
    label: str
    needs_resolution_reason: bool = False
    needs_court_reference: bool = False


CASE_ACTIONS = {
    action.name: action
    for action in [
        CaseAction("start_work", _("Start work")),
        CaseAction("release_hold", _("Release the hold")),
        CaseAction("escalate_to_legal", _("Escalate to legal review")),
        CaseAction("return_from_legal", _("Return from legal review to collections")),
        CaseAction("approve_litigation", _("Approve litigation"), needs_court_reference=True),
        CaseAction("resolve", _("Resolve"), needs_resolution_reason=True),
    ]
}
# No "Write off": a write-off is an authority request, approved by others (authority.services).
# An action runs one service call per case; more than this at once belongs in a job, not a request.
MAX_CASES_PER_ACTION = 200


class CaseActionForm(forms.Form):
    reason = forms.CharField(
        label=_("Reason"),
        widget=forms.Textarea(attrs={"rows": 3, "cols": 60}),
        help_text=_("Written on the timeline of every case, with your name."),
    )
    resolution_reason = forms.ChoiceField(label=_("Resolution reason"), choices=ResolutionReason.choices)
    court_reference = forms.CharField(label=_("Court or agency reference"), max_length=100)

    def __init__(self, *args, action: CaseAction, **kwargs):
        super().__init__(*args, **kwargs)
        if not action.needs_resolution_reason:
            del self.fields["resolution_reason"]
        if not action.needs_court_reference:
            del self.fields["court_reference"]


def case_action_run(action: CaseAction, *, case_id: int, actor, data: dict) -> None:
    """One case, one service call: the same path as the case page and the API (legal transitions go to
    legal.services through the kernel's transition handlers)."""
    services.case_transition(
        case_id=case_id,
        name=action.name,
        actor=actor,
        reason=data["reason"],
        resolution_reason=data.get("resolution_reason", ""),
        court_reference=data.get("court_reference", ""),
    )


def _make_action(action: CaseAction):
    def run(modeladmin, request, queryset):
        return modeladmin.transition_action(request, queryset, action)

    run.__name__ = action.name
    return admin.action(description=action.label)(run)


@admin.register(Case)
class CaseAdmin(admin.ModelAdmin):
    list_display = [
        "reference",
        "cardholder_name",
        "account_ref",
        "state",
        "bucket",
        "days_past_due",
        "overdue",
        "queue",
        "assigned_agent",
        "priority",
        "opened_at",
    ]
    list_filter = [
        "state",
        "queue",
        "account__bucket",
        "account__product",
        CaseJurisdictionFilter,
        "resolution_reason",
        ("opened_at", admin.DateFieldListFilter),
    ]
    list_select_related = ["account__cardholder", "queue", "assigned_agent"]
    search_fields = [
        "=reference",
        "=account__external_ref",
        "=account__cardholder__external_ref",
        "^account__cardholder__name",
    ]
    show_full_result_count = False
    paginator = LargeTablePaginator
    inlines = [CaseEventInline]
    actions = [_make_action(action) for action in CASE_ACTIONS.values()]
    # Everything is written by services (state by the transitions, assignment by queue placement and
    # claims); the page shows the case and its timeline, the actions change it.
    fieldsets = [
        (None, {"fields": ["reference", "account", "state", "resolution_reason", "opened_at", "closed_at"]}),
        (
            _("Assignment"),
            {
                "fields": [
                    "queue",
                    "assigned_agent",
                    "priority",
                    "next_action_at",
                    "lease_owner",
                    "lease_expires_at",
                ]
            },
        ),
        (
            _("Counters"),
            {
                "fields": [
                    "broken_promise_count",
                    "broken_plan_count",
                    "last_right_party_contact_at",
                    "version",
                ]
            },
        ),
    ]
    readonly_fields = [name for _title, options in fieldsets for name in options["fields"]]

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("account__cardholder", "queue", "assigned_agent")

    def has_add_permission(self, request) -> bool:
        return False  # cases are opened by the delinquency refresh (services.cases_open_...)

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    @admin.display(description=_("cardholder"), ordering="account__cardholder__name")
    def cardholder_name(self, obj):
        return obj.account.cardholder.name

    @admin.display(description=_("account"), ordering="account__external_ref")
    def account_ref(self, obj):
        return obj.account.external_ref

    @admin.display(description=_("bucket"), ordering="account__bucket")
    def bucket(self, obj):
        return obj.account.get_bucket_display()

    @admin.display(description=_("DPD"), ordering="account__days_past_due")
    def days_past_due(self, obj):
        return obj.account.days_past_due

    @admin.display(description=_("overdue"), ordering="account__overdue_amount")
    def overdue(self, obj):
        return format_money(obj.account.overdue_amount, obj.account.currency, get_language())

    def transition_action(self, request, queryset, action: CaseAction):
        """First a confirmation page asking for the reason; then one service call per case, each in its
        own transaction, reporting what was done and what was refused (and why) case by case."""
        selected = list(queryset.order_by("pk").values_list("pk", "reference")[: MAX_CASES_PER_ACTION + 1])
        if len(selected) > MAX_CASES_PER_ACTION:
            self.message_user(
                request,
                _("Select at most %(n)s cases for one action.") % {"n": MAX_CASES_PER_ACTION},
                level=messages.ERROR,
            )
            return None
        if request.POST.get("confirm"):
            form = CaseActionForm(request.POST, action=action)
            if form.is_valid():
                self._run(request, action, selected, form.cleaned_data)
                return None
        else:
            form = CaseActionForm(action=action)
        cases = Case.objects.filter(pk__in=[pk for pk, _ref in selected]).order_by("pk")
        context = {
            **self.admin_site.each_context(request),
            "title": action.label,
            "opts": self.model._meta,
            "action": action,
            "cases": cases,
            "form": form,
            "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
        }
        return TemplateResponse(request, "admin/collections_app/case_action.html", context)

    def _run(self, request, action: CaseAction, selected, data) -> None:
        done, refused = [], []
        for pk, reference in selected:
            try:
                case_action_run(action, case_id=pk, actor=request.user, data=data)
            except DomainError as error:
                refused.append((reference, error.message))
            else:
                done.append(reference)
        if done:
            self.message_user(
                request,
                _("%(action)s: done for %(n)s case(s): %(refs)s.")
                % {"action": action.label, "n": len(done), "refs": ", ".join(done)},
                level=messages.SUCCESS,
            )
        for reference, message in refused:
            self.message_user(
                request,
                _("%(action)s refused for %(ref)s: %(message)s")
                % {"action": action.label, "ref": reference, "message": message},
                level=messages.WARNING,
            )


# --- The case's history (written by services only) ----------------------------------------------------


class CaseHistoryAdmin(ReadOnlyAdmin):
    show_full_result_count = False
    paginator = LargeTablePaginator

    @admin.display(description=_("case"), ordering="case__reference")
    def case_link(self, obj):
        return case_admin_link(obj.case_id, obj.case.reference)


@admin.register(CaseEvent)
class CaseEventAdmin(CaseHistoryAdmin):
    list_display = ["created_at", "case_link", "kind", "from_state", "to_state", "actor", "short_reason"]
    list_filter = ["kind", ("created_at", admin.DateFieldListFilter)]
    list_select_related = ["case", "actor"]
    search_fields = ["=case__reference"]

    @admin.display(description=_("reason"))
    def short_reason(self, obj):
        return obj.reason if len(obj.reason) <= 80 else obj.reason[:79] + "…"


@admin.register(ContactAttempt)
class ContactAttemptAdmin(CaseHistoryAdmin):
    list_display = [
        "started_at",
        "case_link",
        "cardholder",
        "channel",
        "masked_contact",
        "party_role",
        "outcome",
        "delinquency_reason",
        "duration_seconds",
        "agent",
    ]
    list_filter = [
        "channel",
        "outcome",
        "party_role",
        "delinquency_reason",
        ("started_at", admin.DateFieldListFilter),
    ]
    list_select_related = ["case", "cardholder", "contact_point", "agent"]
    search_fields = ["=case__reference", "=cardholder__external_ref"]

    @admin.display(description=_("number or address"))
    def masked_contact(self, obj):
        point = obj.contact_point
        return mask_contact_value(point.kind, point.value) if point else "-"


@admin.register(PromiseToPay)
class PromiseToPayAdmin(CaseHistoryAdmin):
    list_display = ["case_link", "amount", "due_date", "status", "paid_amount", "created_by", "created_at"]
    list_filter = ["status", ("due_date", admin.DateFieldListFilter)]
    list_select_related = ["case", "created_by"]
    search_fields = ["=case__reference"]


@admin.register(Payment)
class PaymentAdmin(CaseHistoryAdmin):
    """Payments come from the bank's feed (import_payments) through payment_record; never edited."""

    list_display = ["external_ref", "account", "case_link", "amount", "currency", "paid_at", "source"]
    list_filter = [("paid_at", admin.DateFieldListFilter)]
    list_select_related = ["account", "case"]
    search_fields = ["=external_ref", "=account__external_ref", "=case__reference"]

    @admin.display(description=_("case"), ordering="case__reference")
    def case_link(self, obj):
        return case_admin_link(obj.case_id, obj.case.reference if obj.case_id else "")


@admin.register(CaseHold)
class CaseHoldAdmin(CaseHistoryAdmin):
    list_display = ["case_link", "reason", "opened_at", "opened_by", "released_at", "released_by"]
    list_filter = ["reason", ("released_at", admin.EmptyFieldListFilter)]
    list_select_related = ["case", "opened_by", "released_by"]
    search_fields = ["=case__reference"]


@admin.register(AccessRecord)
class AccessRecordAdmin(admin.ModelAdmin):
    """Looks at personal data, read-only: written by collections_app.services.access, never edited."""

    list_display = ["at", "actor", "kind", "reason", "cardholder", "case", "what", "masked", "rows", "source"]
    list_filter = ["kind", "reason", "source", "masked"]
    list_select_related = ["actor", "cardholder", "case"]
    raw_id_fields = ["actor", "cardholder", "case"]
    date_hierarchy = "at"
    show_full_result_count = False

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


# The priority weights page (its own module: one row, with its preview).
from collections_app import admin_priority  # noqa: E402, F401
