"""Input and output serializers. Output serializers only read (personal data masked unless the view
passes revealed values in the context); input serializers only check the shape of a request. The rules
are the services': no serializer saves anything."""

from __future__ import annotations

from collections import namedtuple
from datetime import date, datetime, timedelta
from decimal import Decimal

from django.conf import settings
from django.db.models import F
from django.db.models.lookups import In
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.translation import gettext as _
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from accounts.models import Role, User
from accounts.permissions import capabilities_of
from authority.models import AuthorityDecision, AuthorityRequest
from collections_app.models import (
    Cardholder,
    Case,
    CaseEvent,
    CaseHold,
    Channel,
    ContactAttempt,
    ContactPoint,
    CreditAccount,
    DelinquencyReason,
    HoldReason,
    Outcome,
    PartyRole,
    Payment,
    PromiseToPay,
    Queue,
    ResolutionReason,
)
from collections_app.services import REVEALABLE_FIELDS, USER_TRANSITIONS
from collections_app.services.contacts import MAX_CONTACT_SECONDS
from core.compiled import CompiledRead, Param
from core.masking import mask_address, mask_card_number, mask_contact_value, mask_email, mask_national_id
from core.serializers import UtcModelSerializer
from escalation.models import EscalationRule
from messaging.models import OutboundMessage
from messaging.services import mask_recipient
from repayment_plans.calculator import Frequency, PlanKind
from repayment_plans.models import Installment, RepaymentPlan

# Dates and times the API accepts: far enough for any plan or promise, near enough that date arithmetic
# (a monthly schedule, a time zone) never leaves the calendar.
EARLIEST = date(2000, 1, 1)
LATEST = date(2100, 12, 31)
MONEY = {"max_digits": 14, "decimal_places": 2}


class BoundedDateField(serializers.DateField):
    def to_internal_value(self, value):
        day = super().to_internal_value(value)
        if not EARLIEST <= day <= LATEST:
            raise serializers.ValidationError(
                _("Give a date between %(earliest)s and %(latest)s.")
                % {"earliest": EARLIEST, "latest": LATEST}
            )
        return day


def time_in_range(moment: datetime) -> bool:
    """Within EARLIEST..LATEST and with a real UTC offset (PostgreSQL refuses beyond +/-15:59)."""
    offset = moment.utcoffset()
    if offset is not None and abs(offset) > timedelta(hours=14):
        return False
    return EARLIEST <= moment.date() <= LATEST


class BoundedDateTimeField(serializers.DateTimeField):
    def to_internal_value(self, value):
        if isinstance(value, str):  # judge the offset as given, before DRF converts it
            try:
                parsed = parse_datetime(value.strip())
            except ValueError:  # well formed but impossible ("2026-02-30T10:00", year 0): DRF says so
                parsed = None
            if parsed is not None and not time_in_range(parsed):
                raise serializers.ValidationError(
                    _("Give a time between %(earliest)s and %(latest)s.")
                    % {"earliest": EARLIEST, "latest": LATEST}
                )
        moment = super().to_internal_value(value)
        if not time_in_range(moment):
            raise serializers.ValidationError(
                _("Give a time between %(earliest)s and %(latest)s.")
                % {"earliest": EARLIEST, "latest": LATEST}
            )
        return moment


class WallClockDateTimeField(BoundedDateTimeField):
    """A time with an offset is that instant; one without an offset stays naive (as written), for the
    service to read in the zone it belongs to (a callback: the cardholder's local time)."""

    def enforce_timezone(self, value: datetime) -> datetime:
        return value if timezone.is_naive(value) else super().enforce_timezone(value)


class MoneyField(serializers.DecimalField):
    def __init__(self, **kwargs):
        kwargs.setdefault("min_value", Decimal("0.01"))
        super().__init__(**MONEY, **kwargs)


# --- People ------------------------------------------------------------------------------------


class UserRefSerializer(UtcModelSerializer):
    name = serializers.SerializerMethodField()

    class Meta:
        model = User
        fields = ["id", "username", "name", "role"]

    def get_name(self, user) -> str:
        return user.get_full_name() or user.username


class MeSerializer(UtcModelSerializer):
    name = serializers.SerializerMethodField()
    team = serializers.SerializerMethodField()
    capabilities = serializers.SerializerMethodField()

    class Meta:
        model = User
        fields = ["id", "username", "name", "role", "team", "language", "time_zone", "capabilities"]

    def get_name(self, user) -> str:
        return user.get_full_name() or user.username

    @extend_schema_field(
        {
            "type": "object",
            "nullable": True,
            "properties": {"id": {"type": "integer"}, "name": {"type": "string"}},
        }
    )
    def get_team(self, user):
        return {"id": user.team.pk, "name": user.team.name} if user.team_id else None

    def get_capabilities(self, user) -> list[str]:
        return sorted(str(c) for c in capabilities_of(user))


# --- Cardholders and accounts ---------------------------------------------------------------------


class ContactPointSerializer(UtcModelSerializer):
    value = serializers.SerializerMethodField(help_text="Masked unless revealed (`?reveal=phones`).")
    revealed = serializers.SerializerMethodField()

    class Meta:
        model = ContactPoint
        fields = [
            "id",
            "kind",
            "value",
            "revealed",
            "party_role",
            "party_name",
            "label",
            "is_primary",
            "active",
        ]

    def _revealed(self, point) -> str | None:
        return self.context.get("revealed", {}).get("contact_points", {}).get(point.id)

    def get_value(self, point) -> str:
        revealed = self._revealed(point)
        return revealed if revealed is not None else mask_contact_value(point.kind, point.value)

    def get_revealed(self, point) -> bool:
        return self._revealed(point) is not None

    def to_representation(self, point) -> dict:
        # Written directly, from a model instance or a plain row of CONTACT_POINT_COLUMNS: a cardholder
        # list nests a few points per row, and the generic writer's per-field steps were most of the
        # difference from a bare list. The same keys and values as the declared fields (a test compares).
        revealed = self._revealed(point)
        return {
            "id": point.id,
            "kind": point.kind,
            "value": revealed if revealed is not None else mask_contact_value(point.kind, point.value),
            "revealed": revealed is not None,
            "party_role": point.party_role,
            "party_name": point.party_name,
            "label": point.label,
            "is_primary": point.is_primary,
            "active": point.active,
        }


# What ContactPointSerializer writes, and the key a list groups the points by: no other column is read.
CONTACT_POINT_COLUMNS = (
    "id",
    "cardholder_id",
    "kind",
    "value",
    "party_role",
    "party_name",
    "label",
    "is_primary",
    "active",
)


ContactPointRow = namedtuple("ContactPointRow", CONTACT_POINT_COLUMNS)


def _page_points_query(holders: int):
    """The active contact points of a page of `holders` cardholders (their ids: Params h0, h1 ...)."""
    ids = [Param(f"h{i}") for i in range(holders)]
    return (
        ContactPoint.objects.filter(In(F("cardholder_id"), ids), active=True)
        .order_by("-is_primary", "pk")
        .values_list(*CONTACT_POINT_COLUMNS)
    )


# Compiled once per page size (core.compiled): every page of the cardholder list reads it.
_page_points_read = CompiledRead(_page_points_query, keys=16)


class CardholderListSerializer(serializers.ListSerializer):
    """A page of cardholders: the active contact points of all of them read in one query, as plain rows
    (no model instance per point), primary first, before each cardholder is written."""

    def to_representation(self, data):
        holders = list(data.all() if hasattr(data, "all") else data)
        missing = [holder for holder in holders if not hasattr(holder, "active_contact_points")]
        if missing:
            points: dict[int, list] = {holder.pk: [] for holder in missing}
            ids = {f"h{i}": pk for i, pk in enumerate(points)}
            for row in _page_points_read(len(ids), **ids):
                point = ContactPointRow(*row)
                points[point.cardholder_id].append(point)
            for holder in missing:
                holder.active_contact_points = points[holder.pk]
        return super().to_representation(holders)


class CardholderSerializer(UtcModelSerializer):
    """A cardholder with personal data masked (national ID, e-mail, address, numbers). Unmasked values
    are read on a case (`GET /cases/{id}/?reveal=...`), where the reveal is logged."""

    national_id = serializers.SerializerMethodField()
    email = serializers.SerializerMethodField()
    address = serializers.SerializerMethodField()
    revealed_fields = serializers.SerializerMethodField()
    contact_points = serializers.SerializerMethodField()

    class Meta:
        model = Cardholder
        list_serializer_class = CardholderListSerializer
        fields = [
            "id",
            "external_ref",
            "name",
            "national_id",
            "email",
            "address",
            "revealed_fields",
            "time_zone",
            "language",
            "jurisdiction",
            "do_not_contact",
            "cease_communication",
            "attorney_represented",
            "bankruptcy",
            "deceased",
            "vulnerable",
            "contact_points",
        ]

    def to_representation(self, holder) -> dict:
        # Written directly (a list writes 50 of these): the same keys and values as the declared fields,
        # in their order (a test compares the two, masked and revealed).
        return {
            "id": holder.id,
            "external_ref": holder.external_ref,
            "name": holder.name,
            "national_id": self.get_national_id(holder),
            "email": self.get_email(holder),
            "address": self.get_address(holder),
            "revealed_fields": self.get_revealed_fields(holder),
            "time_zone": holder.time_zone,
            "language": holder.language,
            "jurisdiction": holder.jurisdiction,
            "do_not_contact": holder.do_not_contact,
            "cease_communication": holder.cease_communication,
            "attorney_represented": holder.attorney_represented,
            "bankruptcy": holder.bankruptcy,
            "deceased": holder.deceased,
            "vulnerable": holder.vulnerable,
            "contact_points": self.get_contact_points(holder),
        }

    def _revealed(self) -> dict:
        return self.context.get("revealed", {})

    def _field(self, holder, name: str, mask) -> str:
        if name in self._revealed():
            return self._revealed()[name]
        value = getattr(holder, name)
        return mask(value) if value else ""

    def get_national_id(self, holder) -> str:
        return self._field(holder, "national_id", mask_national_id)

    def get_email(self, holder) -> str:
        return self._field(holder, "email", mask_email)

    def get_address(self, holder) -> str:
        return self._field(holder, "address", mask_address)

    def get_revealed_fields(self, holder) -> list[str]:
        return sorted(name for name in self._revealed() if name not in ("contact_points", "card_number"))

    @extend_schema_field(ContactPointSerializer(many=True))
    def get_contact_points(self, holder):
        # Read for the whole page by CardholderListSerializer (active points, primary first): no query
        # per cardholder of a list.
        points = getattr(holder, "active_contact_points", None)
        if points is None:
            points = holder.contact_points.filter(active=True).order_by("-is_primary", "pk")
        # One child serializer for every row of a list (building one per cardholder, with its fields,
        # cost most of the request); the same representation as ContactPointSerializer(many=True).
        child = getattr(self, "_contact_point_serializer", None)
        if child is None:
            child = self._contact_point_serializer = ContactPointSerializer(context=self.context)
        return [child.to_representation(point) for point in points]


class AccountSerializer(UtcModelSerializer):
    """An account; its card number masked to the last four digits (the stored number is encrypted and
    never decrypted here) unless the case detail revealed it (`?reveal=card_number`, logged)."""

    cardholder_ref = serializers.CharField(source="cardholder.external_ref", read_only=True)
    balance = serializers.DecimalField(**MONEY, read_only=True, help_text="Sum of the components.")
    card_number = serializers.SerializerMethodField(
        help_text="Masked (**** **** **** 7890) unless revealed; empty when the bank's file gave none."
    )

    class Meta:
        model = CreditAccount
        fields = [
            "id",
            "external_ref",
            "cardholder",
            "cardholder_ref",
            "product",
            "currency",
            "credit_limit",
            "principal",
            "interest",
            "fees",
            "penalties",
            "balance",
            "overdue_amount",
            "minimum_due",
            "first_missed_due_date",
            "next_due_date",
            "days_past_due",
            "bucket",
            "dpd_as_of",
            "last_payment_at",
            "last_payment_amount",
            "opened_on",
            "card_number",
        ]

    def get_card_number(self, account) -> str:
        revealed = self.context.get("revealed", {}).get("card_number")
        return revealed if revealed is not None else mask_card_number(account.card_last4)


# --- Cases -----------------------------------------------------------------------------------------


class AccountSummarySerializer(UtcModelSerializer):
    balance = serializers.DecimalField(**MONEY, read_only=True)

    class Meta:
        model = CreditAccount
        fields = [
            "id",
            "external_ref",
            "product",
            "currency",
            "balance",
            "overdue_amount",
            "days_past_due",
            "bucket",
        ]


class CardholderSummarySerializer(UtcModelSerializer):
    class Meta:
        model = Cardholder
        fields = ["id", "external_ref", "name", "jurisdiction"]


class CaseSerializer(UtcModelSerializer):
    account = AccountSummarySerializer(read_only=True)
    cardholder = CardholderSummarySerializer(source="account.cardholder", read_only=True)
    queue_name = serializers.CharField(source="queue.name", read_only=True, allow_null=True, default=None)

    class Meta:
        model = Case
        fields = [
            "id",
            "reference",
            "state",
            "resolution_reason",
            "opened_at",
            "closed_at",
            "queue",
            "queue_name",
            "assigned_agent",
            "priority",
            "next_action_at",
            "lease_owner",
            "lease_expires_at",
            "broken_promise_count",
            "broken_plan_count",
            "last_right_party_contact_at",
            "version",
            "account",
            "cardholder",
        ]


class HoldSerializer(UtcModelSerializer):
    class Meta:
        model = CaseHold
        fields = ["id", "case", "reason", "note", "opened_at", "opened_by", "released_at", "released_by"]


class PromiseSerializer(UtcModelSerializer):
    class Meta:
        model = PromiseToPay
        fields = [
            "id",
            "case",
            "amount",
            "due_date",
            "status",
            "paid_amount",
            "contact_attempt",
            "created_by",
            "created_at",
            "settled_at",
        ]


class CaseDetailSerializer(CaseSerializer):
    """A case with its account, its cardholder (masked unless revealed), the hold and promise in force,
    and the transitions the caller may ask for now. `version` is also the ETag."""

    account = AccountSerializer(read_only=True)
    cardholder = serializers.SerializerMethodField()
    active_hold = serializers.SerializerMethodField()
    pending_promise = serializers.SerializerMethodField()
    available_transitions = serializers.SerializerMethodField()

    class Meta(CaseSerializer.Meta):
        fields = [*CaseSerializer.Meta.fields, "active_hold", "pending_promise", "available_transitions"]

    @extend_schema_field(CardholderSerializer)
    def get_cardholder(self, case):
        return CardholderSerializer(case.account.cardholder, context=self.context).data

    @extend_schema_field(HoldSerializer(allow_null=True))
    def get_active_hold(self, case):
        hold = self.context.get("active_hold")
        return HoldSerializer(hold).data if hold else None

    @extend_schema_field(PromiseSerializer(allow_null=True))
    def get_pending_promise(self, case):
        promise = self.context.get("pending_promise")
        return PromiseSerializer(promise).data if promise else None

    def get_available_transitions(self, case) -> list[str]:
        return self.context.get("available_transitions", [])


class CaseEventSerializer(UtcModelSerializer):
    actor = UserRefSerializer(read_only=True, allow_null=True)
    text = serializers.CharField(
        source="display_reason",
        read_only=True,
        help_text="`reason` for a person, in the request's language (Accept-Language): texts the "
        "system wrote are translated, a refused contact is rebuilt from its rule; a person's words "
        "are as written.",
    )

    class Meta:
        model = CaseEvent
        fields = [
            "id",
            "case",
            "kind",
            "from_state",
            "to_state",
            "actor",
            "reason",
            "text",
            "details",
            "created_at",
        ]


class ClaimResultSerializer(serializers.Serializer):
    case = CaseSerializer(allow_null=True, help_text="The case now leased to you; null when none is ready.")
    passed_over = serializers.DictField(
        child=serializers.IntegerField(), help_text="Cases skipped because a rule blocks contact now."
    )


class ReleaseResultSerializer(serializers.Serializer):
    released = serializers.BooleanField(help_text="False when you did not hold the case's lease.")


class RevealResultSerializer(serializers.Serializer):
    field = serializers.CharField()
    contact_point = serializers.IntegerField(allow_null=True)
    value = serializers.CharField()


# --- Work on a case -----------------------------------------------------------------------------


class ContactAttemptSerializer(UtcModelSerializer):
    contact_point_value = serializers.SerializerMethodField(help_text="Masked.")

    class Meta:
        model = ContactAttempt
        fields = [
            "id",
            "case",
            "channel",
            "contact_point",
            "contact_point_value",
            "party_role",
            "person_reached",
            "outcome",
            "delinquency_reason",
            "started_at",
            "duration_seconds",
            "agent",
            "notes",
            "recording_ref",
            "corrects",
            "policy_override_reason",
            "disclosures_given",
            "script_version",
            "created_at",
        ]

    def get_contact_point_value(self, attempt) -> str | None:
        point = attempt.contact_point
        return mask_contact_value(point.kind, point.value) if point else None


class PaymentSerializer(UtcModelSerializer):
    account_ref = serializers.CharField(source="account.external_ref", read_only=True)

    class Meta:
        model = Payment
        fields = [
            "id",
            "external_ref",
            "account",
            "account_ref",
            "case",
            "amount",
            "currency",
            "paid_at",
            "source",
            "allocation",
            "recorded_by",
            "created_at",
        ]


class QueueSerializer(UtcModelSerializer):
    class Meta:
        model = Queue
        fields = [
            "id",
            "name",
            "order",
            "active",
            "team",
            "buckets",
            "min_dpd",
            "max_dpd",
            "min_balance",
            "max_balance",
            "products",
            "jurisdictions",
            "states",
        ]


# --- Automation: escalation rules, reminders, nightly runs -------------------------------------------


class EscalationRuleSerializer(UtcModelSerializer):
    actions = serializers.SerializerMethodField()

    class Meta:
        model = EscalationRule
        fields = [
            "id",
            "name",
            "description",
            "order",
            "enabled",
            "dry_run",
            "match_mode",
            "conditions",
            "move_to_legal_review",
            "target_queue",
            "raise_priority",
            "notify_supervisor",
            "actions",
            "version",
            "created_at",
            "updated_at",
            "updated_by",
        ]

    def get_actions(self, rule) -> list[dict]:
        return rule.actions()


class RulePreviewSerializer(serializers.Serializer):
    """What the rule would do if it ran now, as if enabled and live; nothing is written."""

    rule = serializers.IntegerField(source="rule.pk")
    as_of = serializers.DateField()
    matching = serializers.IntegerField()
    claimed_by_earlier = serializers.IntegerField(help_text="Matched, but an earlier rule acts first.")
    already_fired = serializers.IntegerField()
    would_fire = serializers.IntegerField()
    refused = serializers.DictField(child=serializers.IntegerField(), help_text="By reason.")
    sample = serializers.SerializerMethodField(help_text="Some of the cases it would act on (IDs).")
    earlier_rules = serializers.SerializerMethodField()

    def get_sample(self, preview) -> list[int]:
        return [case.pk for case in preview.sample]

    def get_earlier_rules(self, preview) -> list[int]:
        return [rule.pk for rule in preview.earlier_rules]


class OutboundMessageSerializer(UtcModelSerializer):
    recipient = serializers.SerializerMethodField(help_text="Masked.")

    class Meta:
        model = OutboundMessage
        fields = [
            "id",
            "idempotency_key",
            "case",
            "purpose",
            "channel",
            "about",
            "status",
            "reason",
            "detail",
            "send_after",
            "language",
            "contact_point",
            "recipient",
            "subject",
            "body",
            "provider",
            "provider_ref",
            "attempts",
            "last_error",
            "created_at",
            "sent_at",
        ]

    def get_recipient(self, message) -> str:
        return mask_recipient(message.channel, message.recipient) if message.recipient else ""


# --- Repayment plans -----------------------------------------------------------------------------


class InstallmentSerializer(UtcModelSerializer):
    class Meta:
        model = Installment
        fields = ["number", "due_date", "amount", "paid_amount", "is_down_payment", "status", "paid_at"]


class PlanSerializer(UtcModelSerializer):
    installments = InstallmentSerializer(many=True, read_only=True)

    class Meta:
        model = RepaymentPlan
        fields = [
            "id",
            "case",
            "kind",
            "state",
            "amount",
            "currency",
            "installment_count",
            "frequency",
            "first_due_date",
            "down_payment",
            "down_payment_due_date",
            "discount_percent",
            "payable_amount",
            "waived_amount",
            "approval_role",
            "reason",
            "proposed_by",
            "proposed_at",
            "approved_by",
            "approved_at",
            "accepted_by",
            "accepted_at",
            "acceptance_note",
            "activated_at",
            "ended_by",
            "ended_at",
            "end_note",
            "counter_to",
            "installments",
        ]


class PlanDetailSerializer(PlanSerializer):
    actions = serializers.SerializerMethodField(help_text="The plan actions you may take now.")

    class Meta(PlanSerializer.Meta):
        fields = [*PlanSerializer.Meta.fields, "actions"]

    def get_actions(self, plan) -> list[str]:
        return sorted(self.context.get("actions", []))


class ScheduleLineSerializer(serializers.Serializer):
    number = serializers.IntegerField()
    due_date = serializers.DateField()
    amount = serializers.DecimalField(**MONEY)
    is_down_payment = serializers.BooleanField()


class ViolationSerializer(serializers.Serializer):
    code = serializers.CharField()
    message = serializers.CharField()


class QuoteSerializer(serializers.Serializer):
    """What a proposal with these terms would be: nothing is written."""

    schedule = ScheduleLineSerializer(many=True)
    total = serializers.DecimalField(**MONEY, help_text="What the cardholder pays.")
    waived = serializers.DecimalField(**MONEY, help_text="What a kept settlement forgives.")
    approver_role = serializers.ChoiceField(choices=Role.choices, allow_null=True)
    within_limits = serializers.BooleanField(help_text="You may grant it without approval.")
    violations = ViolationSerializer(many=True, help_text="Your limits the plan breaks.")
    beyond_every_limit = ViolationSerializer(many=True, help_text="Why nobody may approve it, if so.")

    @staticmethod
    def from_quote(quote) -> dict:
        return {
            "schedule": [
                {
                    "number": line.number,
                    "due_date": line.due_date,
                    "amount": line.amount,
                    "is_down_payment": line.is_down_payment,
                }
                for line in quote.schedule.lines
            ],
            "total": quote.schedule.total,
            "waived": quote.schedule.waived,
            "approver_role": quote.approver_role,
            "within_limits": quote.within_limits,
            "violations": [{"code": v.code, "message": str(v)} for v in quote.violations],
            "beyond_every_limit": [{"code": v.code, "message": str(v)} for v in quote.beyond_every_limit],
        }


# --- Input ---------------------------------------------------------------------------------------


class TransitionInputSerializer(serializers.Serializer):
    name = serializers.ChoiceField(choices=sorted(USER_TRANSITIONS), help_text="As in the state machine.")
    reason = serializers.CharField(required=False, allow_blank=True, default="", max_length=5000)
    resolution_reason = serializers.ChoiceField(
        choices=ResolutionReason.choices,
        required=False,
        allow_blank=True,
        default="",
        help_text="Required for `resolve`. A write-off is not a transition asked for by name: it is an "
        "authority request (POST /cases/{id}/write-off-requests/) that others approve.",
    )
    court_reference = serializers.CharField(
        required=False,
        allow_blank=True,
        default="",
        max_length=100,
        help_text="The court or agency reference: required for `approve_litigation`.",
    )


class ContactInputSerializer(serializers.Serializer):
    channel = serializers.ChoiceField(choices=Channel.choices)
    outcome = serializers.ChoiceField(choices=Outcome.choices)
    contact_point = serializers.IntegerField(
        required=False, allow_null=True, default=None, min_value=1, help_text="One of the cardholder's."
    )
    party_role = serializers.ChoiceField(choices=PartyRole.choices, required=False, default=PartyRole.DEBTOR)
    person_reached = serializers.CharField(required=False, allow_blank=True, default="", max_length=200)
    delinquency_reason = serializers.ChoiceField(
        choices=DelinquencyReason.choices,
        required=False,
        allow_blank=True,
        default="",
        help_text="Required for a right-party outcome.",
    )
    # The bounds are the service's (collections_app.services.contacts), stated here for the schema.
    duration_seconds = serializers.IntegerField(
        required=False, default=0, min_value=0, max_value=MAX_CONTACT_SECONDS
    )
    notes = serializers.CharField(required=False, allow_blank=True, default="", max_length=5000)
    recording_ref = serializers.CharField(required=False, allow_blank=True, default="", max_length=100)
    started_at = BoundedDateTimeField(
        required=False,
        allow_null=True,
        default=None,
        help_text="When the contact started (a dialer posting afterwards); default now. Not in the future "
        "(422 `started_in_future`).",
    )
    override_reason = serializers.CharField(
        required=False,
        allow_blank=True,
        default="",
        max_length=2000,
        help_text="Supervisors: override a frequency limit, with a reason (recorded).",
    )
    disclosures = serializers.ListField(
        child=serializers.SlugField(max_length=40),
        required=False,
        default=list,
        max_length=50,
        help_text="The codes of the call script's statements given in the call (stored on the attempt). A "
        "right-party call without every required statement is recorded with `missing_disclosures` on "
        "its timeline entry.",
    )
    script_id = serializers.IntegerField(
        required=False,
        allow_null=True,
        default=None,
        min_value=1,
        help_text="The call script the agent read; default: the script for the case's jurisdiction, "
        "language and bucket.",
    )


class PromiseInputSerializer(serializers.Serializer):
    amount = MoneyField()
    due_date = BoundedDateField()
    contact_attempt = serializers.IntegerField(
        required=False, allow_null=True, default=None, min_value=1, help_text="A contact of this case."
    )


class NoteInputSerializer(serializers.Serializer):
    text = serializers.CharField()

    def get_fields(self):
        fields = super().get_fields()
        # The note service's limit (a setting, read per request; the service checks it again).
        fields["text"] = serializers.CharField(max_length=settings.COLLECTIONS_NOTE_MAX_LENGTH)
        return fields


class HoldInputSerializer(serializers.Serializer):
    reason = serializers.ChoiceField(choices=HoldReason.choices)
    note = serializers.CharField(required=False, allow_blank=True, default="", max_length=5000)


class ReleaseHoldInputSerializer(serializers.Serializer):
    note = serializers.CharField(required=False, allow_blank=True, default="", max_length=5000)


class EscalationRequestInputSerializer(serializers.Serializer):
    target = serializers.ChoiceField(choices=[("supervisor", "Supervisor"), ("legal", "Legal review")])
    reason = serializers.CharField(max_length=5000)


class CallbackInputSerializer(serializers.Serializer):
    at = WallClockDateTimeField(
        help_text="With an offset (2026-06-03T15:00:00+08:00). Without one, the cardholder's local time."
    )
    note = serializers.CharField(required=False, allow_blank=True, default="", max_length=500)


class RevealInputSerializer(serializers.Serializer):
    field = serializers.ChoiceField(choices=[(f, f) for f in REVEALABLE_FIELDS])
    contact_point = serializers.IntegerField(
        required=False, allow_null=True, default=None, min_value=1, help_text="Required for `phone`."
    )
    reason = serializers.CharField(
        required=False,
        allow_blank=True,
        default="",
        max_length=40,
        help_text="Required: why you look (working_case, customer_request, complaint, legal_proceedings, "
        "quality_assurance, regulator_request, other), or the header X-Access-Reason. 400 without it.",
    )
    reason_text = serializers.CharField(
        required=False, allow_blank=True, default="", max_length=500, help_text="Required for `other`."
    )


class PlanTermsInputSerializer(serializers.Serializer):
    kind = serializers.ChoiceField(choices=PlanKind.choices)
    amount = MoneyField()
    first_due_date = BoundedDateField()
    installments = serializers.IntegerField(required=False, default=1, min_value=1, max_value=360)
    frequency = serializers.ChoiceField(choices=Frequency.choices, required=False, default=Frequency.MONTHLY)
    down_payment = serializers.DecimalField(**MONEY, required=False, default=Decimal("0.00"), min_value=0)
    down_payment_due_date = BoundedDateField(required=False, allow_null=True, default=None)
    discount_percent = serializers.DecimalField(
        max_digits=5, decimal_places=2, required=False, default=Decimal("0.00"), min_value=0, max_value=100
    )


class PlanProposeInputSerializer(PlanTermsInputSerializer):
    reason = serializers.CharField(required=False, allow_blank=True, default="", max_length=5000)
    cardholder_accepted = serializers.BooleanField(required=False, default=False)
    acceptance_note = serializers.CharField(required=False, allow_blank=True, default="", max_length=5000)


class PlanNoteInputSerializer(serializers.Serializer):
    note = serializers.CharField(required=False, allow_blank=True, default="", max_length=5000)


class PlanReasonInputSerializer(serializers.Serializer):
    reason = serializers.CharField(max_length=5000)


class PaymentInputSerializer(serializers.Serializer):
    external_ref = serializers.CharField(max_length=64, help_text="The payment's reference: the retry key.")
    account_ref = serializers.CharField(max_length=64, help_text="The account's external reference.")
    amount = MoneyField()
    currency = serializers.CharField(
        required=False, allow_blank=True, default="", max_length=3, help_text="Default: the account's."
    )
    paid_at = BoundedDateTimeField()
    source = serializers.CharField(required=False, allow_blank=True, default="", max_length=40)


class ImportProblemSerializer(serializers.Serializer):
    line = serializers.IntegerField(help_text="Line in the file (the header is line 1; JSON rows from 2).")
    column = serializers.CharField()
    value = serializers.CharField()
    reason = serializers.CharField()


class ImportReportSerializer(serializers.Serializer):
    kind = serializers.CharField()
    rows_read = serializers.IntegerField()
    created = serializers.IntegerField()
    updated = serializers.IntegerField()
    unchanged = serializers.IntegerField()
    rejected = serializers.IntegerField()
    problems = ImportProblemSerializer(many=True)
    warnings = serializers.ListField(child=serializers.CharField())
    counts = serializers.DictField(child=serializers.IntegerField())


class ImportRowsInputSerializer(serializers.Serializer):
    rows = serializers.ListField(
        child=serializers.DictField(), help_text="One object per row, keyed by the file's column names."
    )


class TokenRequestSerializer(serializers.Serializer):
    username = serializers.CharField(max_length=150)
    password = serializers.CharField(max_length=1000, style={"input_type": "password"}, trim_whitespace=False)


class TokenSerializer(serializers.Serializer):
    token = serializers.CharField(help_text="Send as `Authorization: Token <token>`. Shown once.")
    expiry = serializers.DateTimeField(allow_null=True)
    user = MeSerializer()


# --- Authority (maker-checker) -------------------------------------------------------------------


class AuthorityDecisionSerializer(UtcModelSerializer):
    class Meta:
        model = AuthorityDecision
        fields = ["approver", "approver_role", "decision", "reason", "created_at"]


class AuthorityRequestSerializer(UtcModelSerializer):
    decisions = AuthorityDecisionSerializer(many=True, read_only=True)

    class Meta:
        model = AuthorityRequest
        fields = [
            "id",
            "case",
            "kind",
            "amount",
            "currency",
            "percent",
            "months",
            "status",
            "required_approvals",
            "routed_to_role",
            "reason",
            "resolution_reason",
            "requested_by",
            "created_at",
            "decided_at",
            "decisions",
        ]


class WriteOffRequestInputSerializer(serializers.Serializer):
    reason = serializers.CharField(
        max_length=5000, help_text="Why: read by the approvers, kept on the timeline."
    )
    resolution_reason = serializers.ChoiceField(
        choices=ResolutionReason.choices, required=False, default=ResolutionReason.CHARGED_OFF
    )


class AuthorityReasonInputSerializer(serializers.Serializer):
    reason = serializers.CharField(max_length=5000, help_text="Every decision carries a reason.")
