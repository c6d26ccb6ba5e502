"""The portfolio and the case: who owes, what, and the work done to collect it.

Money is Decimal in the account's currency. Times are stored in UTC. Every change to a case goes
through `collections_app.services`, which writes the `CaseEvent` timeline in the same transaction.
"""

import re

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.utils import timezone
from django.utils.translation import gettext, gettext_noop
from django.utils.translation import gettext_lazy as _
from django_fsm import ConcurrentTransitionMixin, FSMField, transition

from accounts.permissions import Capability, has_capability
from contact_policy import engine as policy_engine
from core.chains import ChainHashField
from core.choices import ChoiceLabels
from core.fields import EncryptedTextField
from core.masking import card_last4, pii_hash
from core.money import MONEY, ZERO

# --- People -------------------------------------------------------------------------------------


class Cardholder(ChoiceLabels, models.Model):
    """A person who owes the bank. Flags change what may be done (see contact_policy.engine)."""

    external_ref = models.CharField(_("external reference"), max_length=64, unique=True)
    name = models.CharField(_("name"), max_length=200)
    # Encrypted at rest (core.crypto): the column holds a Fernet token, so it cannot be searched.
    national_id = EncryptedTextField(_("national ID"), max_length=32, blank=True)
    # core.masking.pii_hash(national_id): the admin finds a person by it (a POST, never the ID in a URL).
    # Set by save() and by every bulk path that writes national_id (imports, pii_hash_refresh).
    national_id_hash = models.CharField(max_length=64, blank=True, db_index=True, editable=False)
    email = models.EmailField(_("e-mail"), blank=True)
    address = models.TextField(_("address"), blank=True)
    # Blank when unknown: the contact policy then judges the window in every candidate zone.
    time_zone = models.CharField(_("time zone"), max_length=64, blank=True)
    language = models.CharField(_("language"), max_length=8, default="zh-hans")
    # A jurisdiction profile code: "CN", "US", or a layer such as "US-MA" (see ContactPolicy).
    jurisdiction = models.CharField(_("jurisdiction"), max_length=16, default="CN")

    do_not_contact = models.BooleanField(_("do not contact"), default=False)
    cease_communication = models.BooleanField(_("cease communication requested"), default=False)
    attorney_represented = models.BooleanField(_("represented by attorney"), default=False)
    attorney_contact = models.CharField(_("attorney contact"), max_length=200, blank=True)
    bankruptcy = models.BooleanField(_("bankruptcy"), default=False)
    deceased = models.BooleanField(_("deceased"), default=False)
    vulnerable = models.BooleanField(_("vulnerable customer"), default=False)

    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)

    class Meta:
        verbose_name = _("cardholder")
        verbose_name_plural = _("cardholders")
        indexes = [models.Index(fields=["name"])]

    def __str__(self) -> str:
        return f"{self.name} ({self.external_ref})"

    def save(self, *args, **kwargs):
        # A derived column kept with its source, not a side effect: the hash is the ID's search key.
        self.national_id_hash = pii_hash(self.national_id)
        if kwargs.get("update_fields") is not None and "national_id" in kwargs["update_fields"]:
            kwargs["update_fields"] = {*kwargs["update_fields"], "national_id_hash"}
        super().save(*args, **kwargs)


class PartyRole(models.TextChoices):
    """Who a number or address belongs to, as the contact policy reads it."""

    DEBTOR = "debtor", _("Debtor")
    GUARANTOR = "guarantor", _("Guarantor")
    RELATED_THIRD_PARTY = "related_third_party", _("Debt-related third party")
    UNRELATED_THIRD_PARTY = "unrelated_third_party", _("Unrelated third party")
    ATTORNEY = "attorney", _("Attorney")


class ContactPointKind(models.TextChoices):
    PHONE = "phone", _("Phone")
    EMAIL = "email", _("E-mail")


class ContactPoint(ChoiceLabels, models.Model):
    """A phone number or e-mail address by which a cardholder's debt may be pursued, and whose it is."""

    cardholder = models.ForeignKey(Cardholder, on_delete=models.CASCADE, related_name="contact_points")
    kind = models.CharField(_("kind"), max_length=8, choices=ContactPointKind.choices)
    value = models.CharField(_("number or address"), max_length=200)
    # core.masking.pii_hash(value), kept like Cardholder.national_id_hash.
    value_hash = models.CharField(max_length=64, blank=True, db_index=True, editable=False)
    party_role = models.CharField(
        _("whose"), max_length=24, choices=PartyRole.choices, default=PartyRole.DEBTOR
    )
    party_name = models.CharField(_("person"), max_length=200, blank=True)
    label = models.CharField(_("label"), max_length=40, blank=True)  # mobile, home, work ...
    is_primary = models.BooleanField(_("primary"), default=False)
    active = models.BooleanField(_("active"), default=True)

    class Meta:
        verbose_name = _("contact point")
        verbose_name_plural = _("contact points")
        constraints = [
            models.UniqueConstraint(fields=["cardholder", "kind", "value"], name="contact_point_unique"),
            models.CheckConstraint(
                condition=Q(kind__in=ContactPointKind.values), name="contact_point_kind_valid"
            ),
            models.CheckConstraint(
                condition=Q(party_role__in=PartyRole.values), name="contact_point_role_valid"
            ),
        ]
        indexes = [models.Index(fields=["value"])]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} ({self.get_party_role_display()})"

    def save(self, *args, **kwargs):
        self.value_hash = pii_hash(self.value)
        if kwargs.get("update_fields") is not None and "value" in kwargs["update_fields"]:
            kwargs["update_fields"] = {*kwargs["update_fields"], "value_hash"}
        super().save(*args, **kwargs)


# --- Accounts -----------------------------------------------------------------------------------


class Product(models.TextChoices):
    CREDIT_CARD = "credit_card", _("Credit card")
    CONSUMER_CREDIT = "consumer_credit", _("Consumer credit line")
    INSTALLMENT_LOAN = "installment_loan", _("Installment loan")


class Bucket(models.TextChoices):
    CURRENT = "current", _("Current")
    M1 = "M1", "M1"
    M2 = "M2", "M2"
    M3 = "M3", "M3"
    M4 = "M4", "M4"
    M5 = "M5", "M5"
    M6 = "M6", "M6"
    M6_PLUS = "M6+", "M6+"


# Written with card_number on every path (CreditAccount.set_card_number_keys).
CARD_NUMBER_DERIVED_FIELDS = ("card_number_hash", "card_last4")


class CreditAccount(ChoiceLabels, models.Model):
    """An account of the bank's core system, as of the last daily file. The balance is the sum of its
    components; a payment pays the components down in COLLECTIONS_ALLOCATION_ORDER."""

    external_ref = models.CharField(_("account reference"), max_length=64, unique=True)
    cardholder = models.ForeignKey(Cardholder, on_delete=models.PROTECT, related_name="accounts")
    product = models.CharField(
        _("product"), max_length=24, choices=Product.choices, default=Product.CREDIT_CARD
    )
    currency = models.CharField(_("currency"), max_length=3, default="CNY")
    credit_limit = models.DecimalField(_("credit limit"), default=ZERO, **MONEY)

    principal = models.DecimalField(_("principal"), default=ZERO, **MONEY)
    interest = models.DecimalField(_("interest"), default=ZERO, **MONEY)
    fees = models.DecimalField(_("fees"), default=ZERO, **MONEY)
    penalties = models.DecimalField(_("penalties"), default=ZERO, **MONEY)
    balance = models.GeneratedField(
        expression=F("principal") + F("interest") + F("fees") + F("penalties"),
        output_field=models.DecimalField(**MONEY),
        db_persist=True,
        verbose_name=_("balance"),
    )
    overdue_amount = models.DecimalField(_("overdue amount"), default=ZERO, **MONEY)
    minimum_due = models.DecimalField(_("minimum due"), default=ZERO, **MONEY)

    first_missed_due_date = models.DateField(_("first missed due date"), null=True, blank=True)
    next_due_date = models.DateField(_("next due date"), null=True, blank=True)
    days_past_due = models.PositiveIntegerField(_("days past due"), default=0)
    bucket = models.CharField(_("bucket"), max_length=8, choices=Bucket.choices, default=Bucket.CURRENT)
    dpd_as_of = models.DateField(_("DPD as of"), null=True, blank=True)

    last_payment_at = models.DateTimeField(_("last payment"), null=True, blank=True)
    last_payment_amount = models.DecimalField(_("last payment amount"), null=True, blank=True, **MONEY)
    opened_on = models.DateField(_("opened on"), null=True, blank=True)
    # The card's number (PAN), from the daily file when it carries one. Encrypted at rest like the national
    # ID; found by its keyed hash (core.masking.pii_hash) and shown by its last four digits, which are
    # kept in clear so that no page has to decrypt it to mask it. Both are set by save() and by every bulk
    # path that writes the number (set_card_number_keys).
    card_number = EncryptedTextField(_("card number"), max_length=19, blank=True)
    card_number_hash = models.CharField(max_length=64, blank=True, db_index=True, editable=False)
    card_last4 = models.CharField(_("card number (last 4)"), max_length=4, blank=True, editable=False)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)

    class Meta:
        verbose_name = _("credit account")
        verbose_name_plural = _("credit accounts")
        constraints = [
            models.CheckConstraint(
                condition=Q(principal__gte=0)
                & Q(interest__gte=0)
                & Q(fees__gte=0)
                & Q(penalties__gte=0)
                & Q(overdue_amount__gte=0)
                & Q(minimum_due__gte=0)
                & Q(credit_limit__gte=0),
                name="account_amounts_non_negative",
            ),
            models.CheckConstraint(condition=Q(bucket__in=Bucket.values), name="account_bucket_valid"),
            models.CheckConstraint(condition=Q(product__in=Product.values), name="account_product_valid"),
        ]

    def __str__(self) -> str:
        return self.external_ref

    def save(self, *args, **kwargs):
        self.set_card_number_keys()
        if kwargs.get("update_fields") is not None and "card_number" in kwargs["update_fields"]:
            kwargs["update_fields"] = {*kwargs["update_fields"], *CARD_NUMBER_DERIVED_FIELDS}
        super().save(*args, **kwargs)

    def set_card_number_keys(self) -> None:
        """The search hash and the last four digits, from the card number: called by save() and by the
        bulk paths (bulk_create skips save())."""
        self.card_number_hash = pii_hash(self.card_number)
        self.card_last4 = card_last4(self.card_number)

    @property
    def is_delinquent(self) -> bool:
        return self.overdue_amount > 0 and self.first_missed_due_date is not None


# --- Queues (criteria and ordering; see collections_app.services.queues) ----------------------------------


class Queue(ChoiceLabels, models.Model):
    """A work queue. Open cases matching the criteria are placed in the queue with the lowest `order`
    whose criteria they meet (set-based, collections_app.services.queues.place_cases_in_queues)."""

    name = models.CharField(_("name"), max_length=100, unique=True)
    order = models.PositiveIntegerField(_("order"), default=100, help_text=_("Lower is evaluated first."))
    active = models.BooleanField(_("active"), default=True)
    team = models.ForeignKey(
        "accounts.Team", on_delete=models.SET_NULL, null=True, blank=True, related_name="queues"
    )
    buckets = models.JSONField(_("buckets"), default=list, blank=True, help_text=_('e.g. ["M1", "M2"]'))
    min_dpd = models.PositiveIntegerField(_("minimum DPD"), null=True, blank=True)
    max_dpd = models.PositiveIntegerField(_("maximum DPD"), null=True, blank=True)
    min_balance = models.DecimalField(_("minimum balance"), null=True, blank=True, **MONEY)
    max_balance = models.DecimalField(_("maximum balance"), null=True, blank=True, **MONEY)
    products = models.JSONField(_("products"), default=list, blank=True)
    jurisdictions = models.JSONField(_("jurisdictions"), default=list, blank=True)
    states = models.JSONField(_("case states"), default=list, blank=True)
    agents = models.ManyToManyField(settings.AUTH_USER_MODEL, blank=True, related_name="work_queues")

    class Meta:
        ordering = ["order", "name"]
        verbose_name = _("queue")
        verbose_name_plural = _("queues")

    def __str__(self) -> str:
        return self.name


class PriorityWeights(models.Model):
    """The weights of the priority score, the order agents get cases in (collections_app.services.queues
    reads them for the nightly score in SQL and for the explanation on the case page). One row (pk 1),
    edited by an admin with a preview of how each queue's order changes; the defaults are the weights the
    score shipped with."""

    SINGLETON_PK = 1

    dpd_points_per_day = models.PositiveIntegerField(_("points per day past due"), default=1)
    dpd_cap_days = models.PositiveIntegerField(
        _("days past due counted at most"), default=180, help_text=_("Days beyond this add no points.")
    )
    amount_points_per_thousand = models.PositiveIntegerField(
        _("points per 1,000 overdue"), default=5, help_text=_("Per whole thousand of the overdue amount.")
    )
    amount_cap_points = models.PositiveIntegerField(_("overdue amount points at most"), default=100)
    broken_promise_points = models.PositiveIntegerField(_("points per broken promise"), default=20)
    broken_plan_points = models.PositiveIntegerField(_("points per broken repayment plan"), default=30)
    callback_due_points = models.PositiveIntegerField(
        _("points for a callback due"), default=200, help_text=_("When the case's next action time has come.")
    )
    updated_at = models.DateTimeField(_("updated"), auto_now=True)
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )

    class Meta:
        verbose_name = _("priority weights")
        verbose_name_plural = _("priority weights")
        constraints = [models.CheckConstraint(condition=Q(pk=1), name="priority_weights_one_row")]

    def __str__(self) -> str:
        return gettext("Priority weights")

    def save(self, *args, **kwargs):
        self.pk = self.SINGLETON_PK
        super().save(*args, **kwargs)


# --- The case -------------------------------------------------------------------------------------


class CaseState(models.TextChoices):
    NEW = "new", _("New")
    IN_PROGRESS = "in_progress", _("In progress")
    PROMISED = "promised", _("Promised")
    ON_PLAN = "on_plan", _("On plan")
    ON_HOLD = "on_hold", _("On hold")
    LEGAL_REVIEW = "legal_review", _("Legal review")
    LITIGATION = "litigation", _("Litigation")
    RESOLVED = "resolved", _("Resolved")
    WRITTEN_OFF = "written_off", _("Written off")


CLOSED_STATES = (CaseState.RESOLVED, CaseState.WRITTEN_OFF)
OPEN_STATES = tuple(s for s in CaseState.values if s not in CLOSED_STATES)
# States in which agents work the case from their queues.
WORKING_STATES = (CaseState.NEW, CaseState.IN_PROGRESS, CaseState.PROMISED, CaseState.ON_PLAN)
LEGAL_STATES = (CaseState.LEGAL_REVIEW, CaseState.LITIGATION)


class ResolutionReason(models.TextChoices):
    PAID_IN_FULL = "paid_in_full", _("Paid in full")
    CURED = "cured", _("Cured (overdue amount paid)")
    SETTLED = "settled", _("Settled")
    PLAN_COMPLETED = "plan_completed", _("Plan completed")
    JUDGMENT_PAID = "judgment_paid", _("Judgment paid")
    CHARGED_OFF = "charged_off", _("Charged off")
    UNCOLLECTABLE = "uncollectable", _("Uncollectable")
    DECEASED = "deceased", _("Deceased")
    BANKRUPTCY = "bankruptcy", _("Bankruptcy discharge")
    LIMITATION_EXPIRED = "limitation_expired", _("Limitation period expired")


# Transitions a person may ask for by name (API "transition" endpoint, case page buttons, admin actions).
# The rest happen as a consequence of an operation (a promise, a payment, a plan) or of a nightly check.
# A write-off is not among them: it is asked for as an authority request and applied when approved.
USER_TRANSITIONS = frozenset(
    {
        "start_work",
        "release_hold",
        "escalate_to_legal",
        "return_from_legal",
        "approve_litigation",
        "resolve",
    }
)

# What a transition changes besides the state, written once: the transition methods below apply it to
# one case, collections_app.services.kernel.bulk_transition to many in SQL.
INCREMENT = object()  # the column goes up by one
NOW = object()  # the column takes the time of the transition
TRANSITION_EFFECTS: dict[str, dict[str, object]] = {
    "break_promise": {"broken_promise_count": INCREMENT},
    "break_plan": {"broken_plan_count": INCREMENT},
    "resolve": {"closed_at": NOW},
    "write_off": {"closed_at": NOW},
}


# Transition permissions: pure predicates of (case, user); user None is the system (nightly jobs,
# payment feed). Roles are read through accounts.permissions, never compared here.
def _worker(case, user) -> bool:
    return (
        user is None
        or has_capability(user, Capability.WORK_CASES)
        or has_capability(user, Capability.LEGAL_REVIEW)
    )


def _system_only(case, user) -> bool:
    return user is None


def _escalator(case, user) -> bool:
    return user is None or has_capability(user, Capability.ESCALATE_TO_LEGAL)


def _legal(case, user) -> bool:
    return user is None or has_capability(user, Capability.LEGAL_REVIEW)


def _writer_off(case, user) -> bool:
    return user is None or has_capability(user, Capability.WRITE_OFF)


def _resolver(case, user) -> bool:
    return (
        user is None
        or has_capability(user, Capability.SUPERVISE)
        or has_capability(user, Capability.LEGAL_REVIEW)
    )


class Case(ChoiceLabels, ConcurrentTransitionMixin, models.Model):
    """The unit of work: one open case per delinquent account. `state` follows DESIGN section 3 and
    changes only through the transition methods below, called by collections_app.services.
    Assignment (queue, agent, priority, lease) is separate from state."""

    # Unique through Meta.constraints: a plain unique index (unique=True would add a second, LIKE-pattern
    # index on PostgreSQL that no query uses - references are found by equality).
    reference = models.CharField(_("case reference"), max_length=32)
    # Its index: every case of an account, closed ones too (the account's history, the next reference).
    account = models.ForeignKey(CreditAccount, on_delete=models.PROTECT, related_name="cases")
    state = FSMField(
        _("state"), max_length=16, choices=CaseState.choices, default=CaseState.NEW, protected=True
    )
    resolution_reason = models.CharField(
        _("resolution reason"), max_length=24, choices=ResolutionReason.choices, blank=True
    )
    opened_at = models.DateTimeField(_("opened"), default=timezone.now)
    closed_at = models.DateTimeField(_("closed"), null=True, blank=True)

    # No index of their own: case_state_queue_idx, case_claimable_idx and case_agent_state_idx serve the
    # queries by queue and by agent (a queue or a user is deleted rarely; its SET NULL may scan).
    queue = models.ForeignKey(
        Queue, on_delete=models.SET_NULL, null=True, blank=True, related_name="cases", db_index=False
    )
    assigned_agent = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="assigned_cases",
        db_index=False,
    )
    priority = models.IntegerField(_("priority score"), default=0)
    next_action_at = models.DateTimeField(_("next action"), null=True, blank=True)
    # Its index: the agent's current lease (claims) and the lease sweep.
    lease_owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="leased_cases",
    )
    lease_expires_at = models.DateTimeField(_("lease expires"), null=True, blank=True)

    broken_promise_count = models.PositiveIntegerField(_("broken promises"), default=0)
    broken_plan_count = models.PositiveIntegerField(_("broken plans"), default=0)
    last_right_party_contact_at = models.DateTimeField(_("last right-party contact"), null=True, blank=True)
    # Bumped by every service write: the API's ETag / If-Match (a stale update is refused, not lost).
    version = models.PositiveIntegerField(_("version"), default=1)

    # "May the debtor's primary number be called now, and from when?" - stored, not recomputed: written by
    # services.contactability (contactability_refresh when an input changes, contactability_roll on
    # schedule) and read by Next case, My work and the queue lists through claims.ready_now. A call is
    # allowed in [contactable_from, contactable_until). NULL from = not computed yet (not ready);
    # CONTACT_BLOCKED_UNTIL_CHANGED = blocked until something changes (a flag, a hold, a dispute).
    contactable_from = models.DateTimeField(_("contactable from"), null=True, blank=True)
    # When the window that opens at contactable_from closes; NULL when it never closes.
    contactable_until = models.DateTimeField(_("contactable until"), null=True, blank=True)
    # The contact-policy rule that defers or blocks the call ("" when nothing does): My work's "why not".
    contact_block_rule = models.CharField(_("contact blocked by"), max_length=40, blank=True, default="")
    # The time zones the contact is judged in, joined by ","; the roll groups by it.
    contact_zones = models.CharField(_("contact time zones"), max_length=200, blank=True, default="")

    class Meta:
        verbose_name = _("case")
        verbose_name_plural = _("cases")
        # Every index here is named by the queries it serves (issue 15: the table had 17, so no nightly
        # update was HOT). The columns the nightly jobs rewrite for most open cases - priority (claims
        # need it in case_claimable_idx), the stored contactability (in its roll's indexes, the claim's
        # and My work's), the broken counts, version, resolution reason - are kept out of the others;
        # the table keeps 15% of each page free (fillfactor 85, migration 0011) so that their updates
        # can stay on the page (HOT).
        # dash_case_* (opened_at, closed_at, leases) belong to the dashboards (dashboards migration 0002).
        constraints = [
            # The case page, the API and search find a case by its reference (equality only).
            models.UniqueConstraint(fields=["reference"], name="case_reference_unique"),
            # Also the index of "the open case of this account" (payments, imports, opening cases).
            models.UniqueConstraint(
                fields=["account"], condition=Q(state__in=OPEN_STATES), name="one_open_case_per_account"
            ),
            models.CheckConstraint(condition=Q(state__in=CaseState.values), name="case_state_valid"),
            models.CheckConstraint(
                condition=Q(state__in=OPEN_STATES, closed_at__isnull=True)
                | Q(state__in=CLOSED_STATES, closed_at__isnull=False),
                name="case_closed_at_matches_state",
            ),
        ]
        indexes = [
            # A queue's open cases (queue lists, Next case's "why none ready" summary, the supervisor
            # floor) and the cases in one state whatever the queue (legal review panels).
            models.Index(fields=["state", "queue"], name="case_state_queue_idx"),
            # My work and the supervisor's per-agent lists: an agent's cases by state.
            models.Index(fields=["assigned_agent", "state"], name="case_agent_state_idx"),
            # Next case (claims.case_claim_next): the only index the claim query can use, on exactly the
            # claimable rows (a plain (state, priority) index lets claimed rows pile up at its front; DESIGN
            # section 8). It leads with claims.CLAIM_ORDER itself (priority DESC, next_action_at ASC NULLS
            # LAST - the default of an ascending index column, so the index builds on SQLite too - id), not
            # with the queue: an agent works several queues, and `queue_id IN (...)` over a queue-first
            # index cannot be read in order (PostgreSQL collects every ready case of the queues and sorts
            # them). Read in order, the claim stops at the first row of the agent's queues that passes the
            # filters. contactable_from is a key column so that "callable now" is checked on the index
            # entry: the cases called today (not callable again until tomorrow) stay near the front and
            # are skipped without a visit to the table. The lease is not in it: a claim and a release then
            # change no indexed column and stay HOT updates; the few leased rows (one per agent at work)
            # are filtered on the row.
            models.Index(
                models.F("priority").desc(),
                "next_action_at",
                "id",
                "contactable_from",
                condition=Q(state__in=["new", "in_progress"]),
                name="case_claimable_idx",
            ),
            # My work's "ready now" of each queue (selectors.my_work, counted up to a cap): the queue's
            # claimable cases callable now, found by range on contactable_from - a queue's ready cases are
            # few or none at night, so the count reads only those, not the whole queue.
            models.Index(
                fields=["queue", "contactable_from"],
                condition=Q(state__in=["new", "in_progress"]),
                name="case_ready_queue_idx",
            ),
            # contactability_roll: the open cases whose window has closed, and those not computed yet.
            models.Index(
                fields=["contactable_until"],
                condition=Q(state__in=OPEN_STATES),
                name="case_contact_until_idx",
            ),
            models.Index(
                fields=["id"],
                condition=Q(state__in=OPEN_STATES, contactable_from__isnull=True),
                name="case_contact_uncomputed_idx",
            ),
        ]

    def __str__(self) -> str:
        return self.reference

    @property
    def is_open(self) -> bool:
        return self.state in OPEN_STATES

    def _take_effects(self, name: str) -> None:
        now = timezone.now()
        for field_name, value in TRANSITION_EFFECTS[name].items():
            if value is INCREMENT:
                setattr(self, field_name, getattr(self, field_name) + 1)
            else:
                setattr(self, field_name, now if value is NOW else value)

    # Transition methods change fields only; collections_app.services.kernel writes the event and saves.
    @transition(field=state, source=CaseState.NEW, target=CaseState.IN_PROGRESS, permission=_worker)
    def start_work(self):
        pass

    @transition(
        field=state,
        source=[CaseState.NEW, CaseState.IN_PROGRESS],
        target=CaseState.PROMISED,
        permission=_worker,
    )
    def promise(self):
        pass

    @transition(field=state, source=CaseState.PROMISED, target=CaseState.IN_PROGRESS, permission=_system_only)
    def break_promise(self):
        self._take_effects("break_promise")

    @transition(field=state, source=CaseState.PROMISED, target=CaseState.IN_PROGRESS, permission=_system_only)
    def keep_promise(self):
        pass

    @transition(
        field=state,
        source=[CaseState.NEW, CaseState.IN_PROGRESS, CaseState.PROMISED],
        target=CaseState.ON_PLAN,
        permission=_worker,
    )
    def start_plan(self):
        pass

    @transition(field=state, source=CaseState.ON_PLAN, target=CaseState.IN_PROGRESS, permission=_worker)
    def end_plan(self):
        """The plan was cancelled (restructured, withdrawn): back to work, not counted as broken."""

    @transition(field=state, source=CaseState.ON_PLAN, target=CaseState.IN_PROGRESS, permission=_worker)
    def break_plan(self):
        self._take_effects("break_plan")

    @transition(
        field=state,
        source=[s for s in OPEN_STATES if s != CaseState.ON_HOLD],
        target=CaseState.ON_HOLD,
        permission=_worker,
    )
    def hold(self):
        pass

    @transition(field=state, source=CaseState.ON_HOLD, target=CaseState.IN_PROGRESS, permission=_worker)
    def release_hold(self):
        pass

    @transition(
        field=state,
        # Not from on_hold: a hold pauses collection; release it first (a dispute must be answered).
        source=[s for s in OPEN_STATES if s not in (*LEGAL_STATES, CaseState.ON_HOLD)],
        target=CaseState.LEGAL_REVIEW,
        permission=_escalator,
    )
    def escalate_to_legal(self):
        pass

    @transition(field=state, source=CaseState.LEGAL_REVIEW, target=CaseState.IN_PROGRESS, permission=_legal)
    def return_from_legal(self):
        pass

    @transition(field=state, source=CaseState.LEGAL_REVIEW, target=CaseState.LITIGATION, permission=_legal)
    def approve_litigation(self):
        pass

    @transition(field=state, source=list(OPEN_STATES), target=CaseState.RESOLVED, permission=_resolver)
    def resolve(self):
        self._take_effects("resolve")

    @transition(field=state, source=list(OPEN_STATES), target=CaseState.WRITTEN_OFF, permission=_writer_off)
    def write_off(self):
        self._take_effects("write_off")


class HoldReason(models.TextChoices):
    DISPUTE = "dispute", _("Dispute")
    HARDSHIP = "hardship", _("Hardship review")
    CEASE_COMMUNICATION = "cease_communication", _("Cease-communication request")
    BANKRUPTCY = "bankruptcy", _("Bankruptcy")
    DECEASED = "deceased", _("Deceased")
    FRAUD_CLAIM = "fraud_claim", _("Fraud claim")


class CaseHold(ChoiceLabels, models.Model):
    """Why a case is (or was) on hold. An open dispute hold blocks collection contact until released."""

    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="holds")
    reason = models.CharField(_("reason"), max_length=24, choices=HoldReason.choices)
    note = models.TextField(_("note"), blank=True)
    opened_at = models.DateTimeField(_("opened"), default=timezone.now)
    opened_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    released_at = models.DateTimeField(_("released"), null=True, blank=True)
    released_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    release_note = models.TextField(_("release note"), blank=True)

    class Meta:
        verbose_name = _("hold")
        verbose_name_plural = _("holds")
        constraints = [
            models.UniqueConstraint(
                fields=["case"], condition=Q(released_at__isnull=True), name="one_active_hold_per_case"
            ),
            models.CheckConstraint(condition=Q(reason__in=HoldReason.values), name="hold_reason_valid"),
        ]

    def __str__(self) -> str:
        return f"{self.get_reason_display()} ({self.case_id})"


# --- Work on the case --------------------------------------------------------------------------


class Channel(models.TextChoices):
    OUTBOUND_CALL = "outbound_call", _("Outbound call")
    INBOUND_CALL = "inbound_call", _("Inbound call")
    SMS = "sms", _("SMS")
    EMAIL = "email", _("E-mail")
    LETTER = "letter", _("Letter")
    VISIT = "visit", _("Visit")


CALL_CHANNELS = (Channel.OUTBOUND_CALL, Channel.INBOUND_CALL)


class Outcome(models.TextChoices):
    """Disposition codes. RIGHT_PARTY_OUTCOMES are conversations with the debtor about the debt."""

    RIGHT_PARTY_CONTACT = "rpc", _("Right-party contact")
    PROMISE_TO_PAY = "ptp", _("Promise to pay")
    DISPUTE_RAISED = "dispute", _("Dispute raised")
    CALLBACK_REQUESTED = "callback", _("Callback requested")
    REFUSED_TO_PAY = "refused", _("Refused to pay")
    THIRD_PARTY = "third_party", _("Third party reached")
    NO_ANSWER = "no_answer", _("No answer")
    BUSY = "busy", _("Busy")
    VOICEMAIL = "voicemail", _("Voicemail / message left")
    WRONG_NUMBER = "wrong_number", _("Wrong number")
    DISCONNECTED = "disconnected", _("Number disconnected")
    SENT = "sent", _("Sent")
    DELIVERED = "delivered", _("Delivered")
    FAILED = "failed", _("Failed / bounced")


RIGHT_PARTY_OUTCOMES = (
    Outcome.RIGHT_PARTY_CONTACT,
    Outcome.PROMISE_TO_PAY,
    Outcome.DISPUTE_RAISED,
    Outcome.CALLBACK_REQUESTED,
    Outcome.REFUSED_TO_PAY,
)
ANSWERED_OUTCOMES = (*RIGHT_PARTY_OUTCOMES, Outcome.THIRD_PARTY, Outcome.WRONG_NUMBER)


class DelinquencyReason(models.TextChoices):
    JOB_LOSS = "job_loss", _("Job loss / reduced income")
    ILLNESS = "illness", _("Illness or injury")
    BUSINESS_TROUBLE = "business_trouble", _("Business trouble")
    FORGOT = "forgot", _("Forgot / oversight")
    DISPUTE = "dispute", _("Dispute with the bank or merchant")
    FRAUD_CLAIM = "fraud_claim", _("Fraud claim")
    OVER_INDEBTED = "over_indebted", _("Over-indebted")
    FAMILY = "family", _("Family circumstances")
    REFUSES = "refuses", _("Refuses to pay")
    OTHER = "other", _("Other")


class ContactAttempt(ChoiceLabels, models.Model):
    """Append-only: every contact, by any channel. A correction is a new row pointing at the old."""

    case = models.ForeignKey(Case, on_delete=models.PROTECT, related_name="contact_attempts")
    # Denormalised from the case so that per-person caps count across a cardholder's accounts.
    cardholder = models.ForeignKey(Cardholder, on_delete=models.PROTECT, related_name="contact_attempts")
    channel = models.CharField(_("channel"), max_length=16, choices=Channel.choices)
    contact_point = models.ForeignKey(
        ContactPoint, on_delete=models.PROTECT, null=True, blank=True, related_name="contact_attempts"
    )
    party_role = models.CharField(_("person reached"), max_length=24, choices=PartyRole.choices, blank=True)
    person_reached = models.CharField(_("name of person reached"), max_length=200, blank=True)
    outcome = models.CharField(_("outcome"), max_length=16, choices=Outcome.choices)
    delinquency_reason = models.CharField(
        _("reason for delinquency"), max_length=24, choices=DelinquencyReason.choices, blank=True
    )
    started_at = models.DateTimeField(_("time"), default=timezone.now)
    duration_seconds = models.PositiveIntegerField(_("duration (seconds)"), default=0)
    agent = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="contact_attempts",
    )
    notes = models.TextField(_("notes"), blank=True)
    recording_ref = models.CharField(_("recording reference"), max_length=100, blank=True)
    # No database foreign key: the table is partitioned by month (collections_app.partitions) and its
    # database primary key is (id, started_at); Django still protects the corrected row.
    corrects = models.ForeignKey(
        "self",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="corrections",
        db_constraint=False,
        db_index=False,  # contact_corrects_idx: only the few rows that correct another
    )
    policy_override_reason = models.TextField(_("override reason"), blank=True)
    # The call script's statements the agent ticked as said (codes of contact_policy.CallStatement), and the
    # version of the script they were read from (None: no script was shown).
    disclosures_given = models.JSONField(_("disclosures given"), default=list, blank=True)
    script_version = models.PositiveIntegerField(_("script version"), null=True, blank=True)
    created_at = models.DateTimeField(_("recorded"), auto_now_add=True)

    class Meta:
        verbose_name = _("contact attempt")
        verbose_name_plural = _("contact attempts")
        constraints = [
            models.CheckConstraint(condition=Q(channel__in=Channel.values), name="contact_channel_valid"),
            models.CheckConstraint(condition=Q(outcome__in=Outcome.values), name="contact_outcome_valid"),
        ]
        indexes = [
            models.Index(fields=["cardholder", "started_at"], name="contact_person_time_idx"),
            models.Index(fields=["case", "started_at"], name="contact_case_time_idx"),
            models.Index(fields=["contact_point", "started_at"], name="contact_point_time_idx"),
            models.Index(fields=["agent", "started_at"], name="contact_agent_time_idx"),
            # "Not corrected" (dashboards.rollups.not_corrected, the contact log's corrections): the rows
            # that correct another - a handful beside millions of attempts, so an anti-join reads this small
            # index rather than every attempt, and an attempt that corrects nothing writes no entry.
            models.Index(
                fields=["corrects"], condition=Q(corrects__isnull=False), name="contact_corrects_idx"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_channel_display()} {self.get_outcome_display()} {self.started_at:%Y-%m-%d %H:%M}"

    @property
    def is_right_party(self) -> bool:
        return self.outcome in RIGHT_PARTY_OUTCOMES


class PromiseStatus(models.TextChoices):
    PENDING = "pending", _("Pending")
    KEPT = "kept", _("Kept")
    BROKEN = "broken", _("Broken")
    CANCELLED = "cancelled", _("Cancelled")


class PromiseToPay(ChoiceLabels, models.Model):
    case = models.ForeignKey(Case, on_delete=models.PROTECT, related_name="promises")
    amount = models.DecimalField(_("amount"), **MONEY)
    due_date = models.DateField(_("promised date"))
    status = models.CharField(
        _("status"), max_length=10, choices=PromiseStatus.choices, default=PromiseStatus.PENDING
    )
    paid_amount = models.DecimalField(_("paid so far"), default=ZERO, **MONEY)
    # No database foreign key: contact attempts are partitioned by month (collections_app.partitions).
    contact_attempt = models.ForeignKey(
        ContactAttempt,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="promises",
        db_constraint=False,
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(_("recorded"), default=timezone.now)
    settled_at = models.DateTimeField(_("kept or broken at"), null=True, blank=True)

    class Meta:
        verbose_name = _("promise to pay")
        verbose_name_plural = _("promises to pay")
        constraints = [
            models.CheckConstraint(condition=Q(amount__gt=0), name="promise_amount_positive"),
            models.CheckConstraint(condition=Q(paid_amount__gte=0), name="promise_paid_non_negative"),
            models.CheckConstraint(condition=Q(status__in=PromiseStatus.values), name="promise_status_valid"),
            models.UniqueConstraint(
                fields=["case"],
                condition=Q(status=PromiseStatus.PENDING),
                name="one_pending_promise_per_case",
            ),
        ]
        indexes = [
            models.Index(fields=["due_date"], condition=Q(status="pending"), name="promise_pending_due_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.amount} by {self.due_date} ({self.get_status_display()})"


class Payment(ChoiceLabels, models.Model):
    """A payment from the bank's feed. `external_ref` is unique so that a replayed feed is harmless."""

    external_ref = models.CharField(_("payment reference"), max_length=64, unique=True)
    account = models.ForeignKey(CreditAccount, on_delete=models.PROTECT, related_name="payments")
    case = models.ForeignKey(Case, on_delete=models.PROTECT, null=True, blank=True, related_name="payments")
    amount = models.DecimalField(_("amount"), **MONEY)
    currency = models.CharField(_("currency"), max_length=3)
    paid_at = models.DateTimeField(_("paid at"))
    source = models.CharField(_("source"), max_length=40, blank=True)
    # How the amount was applied: {"overdue": "...", "penalties": "...", ..., "unapplied": "..."}.
    allocation = models.JSONField(_("allocation"), default=dict)
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(_("recorded"), auto_now_add=True)

    class Meta:
        verbose_name = _("payment")
        verbose_name_plural = _("payments")
        constraints = [models.CheckConstraint(condition=Q(amount__gt=0), name="payment_amount_positive")]
        indexes = [models.Index(fields=["account", "paid_at"], name="payment_account_time_idx")]

    def __str__(self) -> str:
        return f"{self.external_ref} {self.amount} {self.currency}"


class EventKind(models.TextChoices):
    OPENED = "opened", _("Case opened")
    TRANSITION = "transition", _("State changed")
    CONTACT = "contact", _("Contact")
    PROMISE = "promise", _("Promise to pay")
    PROMISE_KEPT = "promise_kept", _("Promise kept")
    PROMISE_BROKEN = "promise_broken", _("Promise broken")
    PAYMENT = "payment", _("Payment")
    NOTE = "note", _("Note")
    HOLD = "hold", _("Put on hold")
    HOLD_RELEASED = "hold_released", _("Hold released")
    ESCALATION_REQUESTED = "escalation_requested", _("Escalation requested")
    ESCALATED = "escalated", _("Escalated")
    LEGAL_DECISION = "legal_decision", _("Legal decision")
    ASSIGNMENT = "assignment", _("Assignment")
    CALLBACK = "callback", _("Callback scheduled")
    REMINDER = "reminder", _("Reminder")
    PLAN = "plan", _("Repayment plan")
    PII_REVEAL = "pii_reveal", _("Personal data revealed")
    POLICY_OVERRIDE = "policy_override", _("Contact policy overridden")
    POLICY_REFUSED = "policy_refused", _("Refused by the contact policy")
    RESOLVED = "resolved", _("Resolved")
    WRITTEN_OFF = "written_off", _("Written off")
    # Maker-checker (authority.services): a request for an action beyond the requester's authority (also
    # its cancellation), and each approver's decision with its reason.
    AUTHORITY_REQUEST = "authority_request", _("Approval requested")
    AUTHORITY_DECISION = "authority_decision", _("Approval decision")


# Written by escalation rules (escalation.services) as "Escalation rule «name» (vN): conditions", the
# conditions in codes and in the language of the nightly run.
_ESCALATION_RULE_REASON = re.compile(r"^Escalation rule «(?P<name>.*)» \(v(?P<version>\d+)\)(: .*)?$", re.S)


def system_text(reason: str) -> str:
    """A reason the system wrote (a msgid marked with gettext_noop where it is written, or an escalation
    rule's firing) in the viewer's language; a person's own words come back unchanged."""
    if not reason:
        return reason
    fired = _ESCALATION_RULE_REASON.match(reason)
    if fired:
        # The rule's conditions are shown, in the reader's words, where the rule itself is shown.
        return gettext("Escalation rule «%(name)s» (v%(version)s)") % {
            "name": fired["name"],
            "version": fired["version"],
        }
    return gettext(reason)


# The notes the supervisor's inbox writes when it answers an item (dashboards.services.inbox_close):
# stored in English, the person's note after ": ", shown translated.
INBOX_ANSWER_TEXTS = {
    "Escalation request declined": gettext_noop("Escalation request declined"),
    "Escalation request handled": gettext_noop("Escalation request handled"),
    "Refused contact declined": gettext_noop("Refused contact declined"),
    "Refused contact handled": gettext_noop("Refused contact handled"),
}


class CaseEvent(ChoiceLabels, models.Model):
    """The case timeline and audit trail. Written by services in the same transaction as the change;
    never updated or deleted."""

    # No index of its own: event_case_time_idx (the timeline) and the chain's index (case, id) lead with
    # the case and serve every lookup by case. A plain (case) index beside them let the planner read a
    # long history whole and sort it for a page of 25 (a busy case: 2,200 events, 3 ms instead of 0.3).
    case = models.ForeignKey(Case, on_delete=models.PROTECT, related_name="events", db_index=False)
    kind = models.CharField(_("kind"), max_length=24, choices=EventKind.choices)
    from_state = models.CharField(_("from"), max_length=16, blank=True)
    to_state = models.CharField(_("to"), max_length=16, blank=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    reason = models.TextField(_("reason"), blank=True)
    details = models.JSONField(_("details"), default=dict, blank=True)
    created_at = models.DateTimeField(_("time"), default=timezone.now)
    # The case's hash chain (core.chains), filled by the database on INSERT; the table refuses UPDATE and
    # DELETE. `manage.py verify_chains` recomputes them; the legal package prints them.
    prev_hash = ChainHashField(_("previous hash"))
    row_hash = ChainHashField(_("row hash"))

    class Meta:
        verbose_name = _("case event")
        verbose_name_plural = _("case events")
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["case", "-created_at", "-id"], name="event_case_time_idx")]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.created_at:%Y-%m-%d %H:%M}"

    def display_reason(self) -> str:
        """The reason in the viewer's language, rendered now rather than stored in one language. System
        texts are stored as their English msgid (gettext_noop where they are written) and translated here;
        a refused contact is rebuilt from its rule and parameters; an escalation rule's firing and an
        answer from the supervisor's inbox from their details. A person's own words come back unchanged."""
        reason, details = self.reason or "", self.details or {}
        if self.kind == EventKind.POLICY_REFUSED and details.get("rule"):
            rebuilt = policy_engine.rule_message(details["rule"], details.get("params") or {})
            if rebuilt:
                return rebuilt
        if details.get("inbox_item") and details.get("decision"):
            for prefix, text in INBOX_ANSWER_TEXTS.items():
                if reason.startswith(prefix):
                    note = reason[len(prefix) :].removeprefix(": ")
                    return f"{gettext(text)}: {note}" if note else gettext(text)
        return system_text(reason)


# --- Looking is recorded too (issue 16, item 4) --------------------------------------------------------


class AccessKind(models.TextChoices):
    REVEAL = "reveal", _("Reveal")
    EXPORT = "export", _("Export")
    PRINT = "print", _("Print")
    API_READ = "api_read", _("API read")


class AccessReason(models.TextChoices):
    """Why a person looked at personal data: asked before every reveal, unmasked export, print and
    unmasked API read (PIPL art. 51 and GDPR art. 5(2): the bank must show each look had a purpose)."""

    WORKING_CASE = "working_case", _("Working the case")
    CUSTOMER_REQUEST = "customer_request", _("Customer request")
    COMPLAINT = "complaint", _("Complaint")
    LEGAL_PROCEEDINGS = "legal_proceedings", _("Legal proceedings")
    QUALITY_ASSURANCE = "quality_assurance", _("Quality assurance")
    REGULATOR_REQUEST = "regulator_request", _("Regulator request")
    OTHER = "other", _("Other")


class AccessSource(models.TextChoices):
    PAGE = "page", _("Page")
    API = "api", _("API")
    ADMIN = "admin", _("Admin")


class AccessRecordQuerySet(models.QuerySet):
    def update(self, **kwargs):
        raise TypeError("Access records are append-only.")

    def delete(self):
        raise TypeError("Access records are append-only.")


class AccessRecord(ChoiceLabels, models.Model):
    """One look at a cardholder's personal data: who, when, how (reveal, export, print, API read), why
    (a reason code) and what. One row per cardholder looked at, so that "who looked at whom" is one
    indexed query; an export writes its rows in one INSERT per chunk (services.access_record_many), and a
    masked export one row without a cardholder, with its row count. Append-only, ordered by id (a hash
    chain may be laid over it): written by collections_app.services.access, never updated or deleted."""

    id = models.BigAutoField(primary_key=True)
    at = models.DateTimeField(_("time"), default=timezone.now)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", verbose_name=_("who")
    )
    kind = models.CharField(_("kind"), max_length=16, choices=AccessKind.choices)
    reason = models.CharField(_("reason"), max_length=24, choices=AccessReason.choices, blank=True)
    reason_text = models.CharField(_("reason in words"), max_length=500, blank=True)
    cardholder = models.ForeignKey(
        Cardholder,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("cardholder"),
    )
    case = models.ForeignKey(
        Case, on_delete=models.PROTECT, null=True, blank=True, related_name="+", verbose_name=_("case")
    )
    what = models.CharField(_("what"), max_length=200, blank=True)  # a field, an export, a document
    masked = models.BooleanField(_("masked"), default=False)
    rows = models.PositiveIntegerField(_("rows"), default=1)
    source = models.CharField(_("source"), max_length=8, choices=AccessSource.choices)
    request_id = models.CharField(_("request ID"), max_length=64, blank=True)
    # One hash chain over every record, in id order (core.chains; migration 0009_access_record_chain).
    prev_hash = ChainHashField(_("previous hash"))
    row_hash = ChainHashField(_("row hash"))

    objects = AccessRecordQuerySet.as_manager()

    class Meta:
        verbose_name = _("access record")
        verbose_name_plural = _("access records")
        ordering = ["-id"]
        indexes = [
            models.Index(fields=["at"], name="access_at_idx"),
            models.Index(fields=["actor", "at"], name="access_actor_at_idx"),
            models.Index(fields=["cardholder", "at"], name="access_cardholder_at_idx"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(masked=True) | ~models.Q(reason=""), name="access_unmasked_has_reason"
            ),
            models.CheckConstraint(
                condition=~models.Q(reason="other") | ~models.Q(reason_text=""), name="access_other_has_words"
            ),
            models.CheckConstraint(condition=models.Q(kind__in=AccessKind.values), name="access_kind_valid"),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.at:%Y-%m-%d %H:%M}"

    def save(self, *args, **kwargs):
        if not self._state.adding:
            raise TypeError("Access records are append-only.")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise TypeError("Access records are append-only.")
