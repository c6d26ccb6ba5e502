"""Repayment plans: the arrangement a cardholder agrees to, its installments, and the payments paid into it.

A plan changes only through `repayment_plans.services` (and the nightly `plans_check_broken`), which lock
the case first, then the plan, and write the case timeline (`CaseEvent` kind "plan") in the same
transaction. The state machine (django-fsm, protected field):

    draft -> pending_approval -> active -> completed | broken | cancelled
    draft | pending_approval -> rejected;  draft | pending_approval -> cancelled

A draft is inside its proposer's approval limits and becomes active when the cardholder's acceptance
is recorded. A plan outside them waits in pending_approval until an approver of the required level
approves it *and* the acceptance is recorded (in either order).
"""

from decimal import Decimal

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import F, Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django_fsm import RETURN_VALUE, ConcurrentTransitionMixin, FSMField, transition

from accounts.models import Role
from accounts.permissions import Capability, has_capability
from core.choices import ChoiceLabels
from core.money import MONEY, ZERO
from repayment_plans.calculator import (
    PERSONALISED_MAX_TERM_MONTHS,
    Frequency,
    PlanKind,
    PlanLimits,
    PlanTerms,
    Schedule,
    build_schedule,
)

PERCENT = {"max_digits": 5, "decimal_places": 2}


class PlanState(models.TextChoices):
    DRAFT = "draft", _("Draft")
    PENDING_APPROVAL = "pending_approval", _("Pending approval")
    ACTIVE = "active", _("Active")
    COMPLETED = "completed", _("Completed")
    BROKEN = "broken", _("Broken")
    CANCELLED = "cancelled", _("Cancelled")
    REJECTED = "rejected", _("Rejected")


# At most one of these per case (a conditional unique constraint below).
LIVE_STATES = (PlanState.DRAFT, PlanState.PENDING_APPROVAL, PlanState.ACTIVE)
ENDED_STATES = tuple(s for s in PlanState.values if s not in LIVE_STATES)
# States in which the cardholder's acceptance has been recorded and the plan ran.
RAN_STATES = (PlanState.ACTIVE, PlanState.COMPLETED, PlanState.BROKEN)


# Transition conditions and permissions: pure predicates of (plan) and (plan, user); user None is the
# system (the payment feed, the nightly check). Roles are read through accounts.permissions.
def _not_accepted(plan) -> bool:
    return plan.accepted_at is None


def _not_approved(plan) -> bool:
    return plan.approved_at is None


def _system_only(plan, user) -> bool:
    return user is None


def _has(user, *capabilities) -> bool:
    return any(has_capability(user, capability) for capability in capabilities)


def _caseworker(plan, user) -> bool:
    """Proposes, records acceptance, cancels: whoever works the case (legal works cases in legal review)."""
    return user is None or _has(
        user, Capability.WORK_CASES, Capability.APPROVE_PLANS, Capability.LEGAL_REVIEW
    )


def _approver(plan, user) -> bool:
    """Four eyes: an approver never approves their own proposal. The approval *level* (supervisor, legal)
    is compared by the service, which knows the configured tiers."""
    return user is not None and _has(user, Capability.APPROVE_PLANS) and user.pk != plan.proposed_by_id


def _rejecter(plan, user) -> bool:
    """A draft is turned down by the cardholder (the agent records it); a pending plan by an approver."""
    if plan.state == PlanState.PENDING_APPROVAL:
        return _approver(plan, user)
    return user is not None and _caseworker(plan, user)


class RepaymentPlan(ChoiceLabels, ConcurrentTransitionMixin, models.Model):
    """A repayment arrangement on a case: the agreed terms (as `calculator.PlanTerms` takes them), the
    schedule built from them (`installments`), who proposed, approved and recorded acceptance."""

    case = models.ForeignKey(
        "collections_app.Case",
        on_delete=models.PROTECT,
        related_name="repayment_plans",
        verbose_name=_("case"),
    )
    kind = models.CharField(_("kind"), max_length=32, choices=PlanKind.choices)
    state = FSMField(
        _("state"), max_length=16, choices=PlanState.choices, default=PlanState.DRAFT, protected=True
    )

    # The terms. `amount` is what the plan repays (for a settlement: the balance being settled).
    amount = models.DecimalField(_("amount"), **MONEY)
    currency = models.CharField(_("currency"), max_length=3)
    installment_count = models.PositiveSmallIntegerField(_("installments"))
    frequency = models.CharField(
        _("frequency"), max_length=16, choices=Frequency.choices, default=Frequency.MONTHLY
    )
    first_due_date = models.DateField(_("first due date"))
    down_payment = models.DecimalField(_("down payment"), default=ZERO, **MONEY)
    down_payment_due_date = models.DateField(_("down payment due"), null=True, blank=True)
    discount_percent = models.DecimalField(_("discount (%)"), default=ZERO, **PERCENT)
    # What the cardholder pays: the sum of the installments (the amount less a settlement's discount).
    payable_amount = models.DecimalField(_("amount payable"), **MONEY)
    # Recorded when a settlement is completed (amount - payable), never earlier; zero otherwise.
    waived_amount = models.DecimalField(_("waived"), default=ZERO, **MONEY)

    # Approval: the lowest role whose limits the terms fit (calculator.approver_for at proposal).
    approval_role = models.CharField(_("approval level"), max_length=16, choices=Role.choices)
    reason = models.TextField(_("reason"), blank=True, help_text=_("The cardholder's circumstances."))
    proposed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", verbose_name=_("proposed by")
    )
    proposed_at = models.DateTimeField(_("proposed"), default=timezone.now)
    approved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("approved by"),
    )
    approved_at = models.DateTimeField(_("approved"), null=True, blank=True)
    # Dual control (authority.services.route): a settlement waiving more than a limit's
    # `dual_control_above` needs two different approvers; the first is kept here until the second.
    required_approvals = models.PositiveSmallIntegerField(_("approvals needed"), default=1)
    first_approved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("first approval by"),
    )
    first_approved_at = models.DateTimeField(_("first approval"), null=True, blank=True)
    accepted_at = models.DateTimeField(_("accepted by the cardholder"), null=True, blank=True)
    accepted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("acceptance recorded by"),
    )
    acceptance_note = models.TextField(_("how the cardholder accepted"), blank=True)
    activated_at = models.DateTimeField(_("activated"), null=True, blank=True)
    ended_at = models.DateTimeField(_("ended"), null=True, blank=True)
    ended_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("ended by"),
    )
    end_note = models.TextField(_("why it ended"), blank=True)
    # A counter-proposal (send back) points at the plan it replaces.
    counter_to = models.ForeignKey(
        "self",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="counter_proposals",
        verbose_name=_("counter-proposal to"),
    )
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)

    class Meta:
        verbose_name = _("repayment plan")
        verbose_name_plural = _("repayment plans")
        constraints = [
            models.UniqueConstraint(
                fields=["case"], condition=Q(state__in=LIVE_STATES), name="one_live_plan_per_case"
            ),
            models.CheckConstraint(condition=Q(state__in=PlanState.values), name="plan_state_valid"),
            models.CheckConstraint(condition=Q(kind__in=PlanKind.values), name="plan_kind_valid"),
            models.CheckConstraint(condition=Q(frequency__in=Frequency.values), name="plan_frequency_valid"),
            models.CheckConstraint(
                condition=Q(approval_role__in=Role.values), name="plan_approval_role_valid"
            ),
            models.CheckConstraint(condition=Q(amount__gt=0), name="plan_amount_positive"),
            models.CheckConstraint(
                condition=Q(payable_amount__gt=0, payable_amount__lte=F("amount")),
                name="plan_payable_within_amount",
            ),
            models.CheckConstraint(
                condition=Q(down_payment__gte=0, down_payment__lt=F("payable_amount")),
                name="plan_down_payment_below_payable",
            ),
            models.CheckConstraint(
                condition=Q(discount_percent__gte=0, discount_percent__lt=100), name="plan_discount_range"
            ),
            models.CheckConstraint(
                condition=Q(installment_count__gte=1), name="plan_installment_count_positive"
            ),
            # The waiver exists only once a plan is kept: never applied early.
            models.CheckConstraint(
                condition=Q(waived_amount=0)
                | Q(state=PlanState.COMPLETED, waived_amount=F("amount") - F("payable_amount")),
                name="plan_waiver_only_when_completed",
            ),
            models.CheckConstraint(
                condition=~Q(state__in=RAN_STATES) | Q(accepted_at__isnull=False, activated_at__isnull=False),
                name="plan_ran_only_after_acceptance",
            ),
            models.CheckConstraint(
                condition=Q(state__in=LIVE_STATES, ended_at__isnull=True)
                | Q(state__in=ENDED_STATES, ended_at__isnull=False),
                name="plan_ended_at_matches_state",
            ),
        ]
        indexes = [
            # The approvals inbox: pending plans by level, oldest first.
            models.Index(
                fields=["approval_role", "proposed_at"],
                condition=Q(state=PlanState.PENDING_APPROVAL),
                name="plan_pending_inbox_idx",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} #{self.pk} ({self.get_state_display()})"

    # --- Derived values -------------------------------------------------------------------------

    @property
    def is_live(self) -> bool:
        return self.state in LIVE_STATES

    @property
    def waiver_if_kept(self) -> Decimal:
        """What a settlement forgives once every installment is paid (recorded only then)."""
        return self.amount - self.payable_amount

    @property
    def needs_approval(self) -> bool:
        return self.state == PlanState.PENDING_APPROVAL and self.approved_at is None

    @property
    def awaits_acceptance(self) -> bool:
        return self.state in (PlanState.DRAFT, PlanState.PENDING_APPROVAL) and self.accepted_at is None

    def terms(self) -> PlanTerms:
        """The stored terms as the calculator takes them (always valid: they were checked at proposal)."""
        return PlanTerms(
            kind=self.kind,
            amount=self.amount,
            installments=self.installment_count,
            frequency=self.frequency,
            first_due_date=self.first_due_date,
            down_payment=self.down_payment,
            down_payment_due_date=self.down_payment_due_date,
            discount_percent=self.discount_percent,
        )

    def schedule(self) -> Schedule:
        return build_schedule(self.terms())

    # --- Transitions: fields only; repayment_plans.services saves and writes the event -------------

    @transition(
        field=state, source=PlanState.DRAFT, target=PlanState.PENDING_APPROVAL, permission=_caseworker
    )
    def submit(self):
        """Outside the proposer's limits: the plan waits for an approver."""

    @transition(
        field=state,
        source=[PlanState.DRAFT, PlanState.PENDING_APPROVAL],
        target=RETURN_VALUE(PlanState.ACTIVE, PlanState.PENDING_APPROVAL),
        conditions=[_not_accepted],
        permission=_caseworker,
    )
    def accept(self, *, by, at):
        """The cardholder accepted the terms: a draft (inside the proposer's limits) or an approved plan
        becomes active; a plan still waiting for approval keeps waiting, now accepted."""
        self.accepted_by, self.accepted_at = by, at
        if self.state == PlanState.DRAFT or self.approved_at is not None:
            self.activated_at = at
            return PlanState.ACTIVE
        return PlanState.PENDING_APPROVAL

    @transition(
        field=state,
        source=PlanState.PENDING_APPROVAL,
        target=RETURN_VALUE(PlanState.ACTIVE, PlanState.PENDING_APPROVAL),
        conditions=[_not_approved],
        permission=_approver,
    )
    def approve(self, *, by, at):
        """Approved: active at once if the cardholder has already accepted, else when they do."""
        self.approved_by, self.approved_at = by, at
        if self.accepted_at is not None:
            self.activated_at = at
            return PlanState.ACTIVE
        return PlanState.PENDING_APPROVAL

    @transition(
        field=state,
        source=[PlanState.DRAFT, PlanState.PENDING_APPROVAL],
        target=PlanState.REJECTED,
        permission=_rejecter,
    )
    def reject(self, *, by, at, note):
        self.ended_by, self.ended_at, self.end_note = by, at, note

    @transition(field=state, source=list(LIVE_STATES), target=PlanState.CANCELLED, permission=_caseworker)
    def cancel(self, *, by, at, note):
        self.ended_by, self.ended_at, self.end_note = by, at, note

    @transition(field=state, source=PlanState.ACTIVE, target=PlanState.COMPLETED, permission=_system_only)
    def complete(self, *, at):
        """Every installment paid. A settlement's waiver is recorded now, and only now."""
        self.ended_at = at
        self.waived_amount = self.amount - self.payable_amount

    # The nightly sweep (services.plans_check_broken) breaks plans with a set-based compare-and-swap
    # UPDATE; this declaration keeps the edge in the machine (and its diagram).
    @transition(field=state, source=PlanState.ACTIVE, target=PlanState.BROKEN, permission=_system_only)
    def break_plan(self, *, at):
        self.ended_at = at


class InstallmentStatus(models.TextChoices):
    DUE = "due", _("Due")
    PARTLY_PAID = "partly_paid", _("Partly paid")
    PAID = "paid", _("Paid")
    LATE = "late", _("Late")


UNPAID_STATUSES = (InstallmentStatus.DUE, InstallmentStatus.PARTLY_PAID, InstallmentStatus.LATE)


class Installment(ChoiceLabels, models.Model):
    """One line of a plan's schedule. `paid_amount` grows only by `PlanAllocation`s; `late` is set by the
    nightly check once the due date has passed unpaid (the plan breaks after the grace days)."""

    plan = models.ForeignKey(RepaymentPlan, on_delete=models.PROTECT, related_name="installments")
    number = models.PositiveSmallIntegerField(_("number"))
    due_date = models.DateField(_("due date"))
    amount = models.DecimalField(_("amount"), **MONEY)
    paid_amount = models.DecimalField(_("paid"), default=ZERO, **MONEY)
    is_down_payment = models.BooleanField(_("down payment"), default=False)
    status = models.CharField(
        _("status"), max_length=12, choices=InstallmentStatus.choices, default=InstallmentStatus.DUE
    )
    paid_at = models.DateTimeField(_("paid in full at"), null=True, blank=True)

    class Meta:
        ordering = ["plan", "number"]
        verbose_name = _("installment")
        verbose_name_plural = _("installments")
        constraints = [
            models.UniqueConstraint(fields=["plan", "number"], name="installment_number_unique"),
            models.CheckConstraint(condition=Q(amount__gt=0), name="installment_amount_positive"),
            models.CheckConstraint(
                condition=Q(paid_amount__gte=0, paid_amount__lte=F("amount")),
                name="installment_paid_in_range",
            ),
            models.CheckConstraint(
                condition=Q(status__in=InstallmentStatus.values), name="installment_status_valid"
            ),
            models.CheckConstraint(
                condition=Q(status=InstallmentStatus.DUE, paid_amount=0)
                | Q(status=InstallmentStatus.PARTLY_PAID, paid_amount__gt=0, paid_amount__lt=F("amount"))
                | Q(status=InstallmentStatus.LATE, paid_amount__lt=F("amount"))
                | Q(status=InstallmentStatus.PAID, paid_amount=F("amount"), paid_at__isnull=False),
                name="installment_status_matches_paid",
            ),
        ]
        indexes = [
            # The nightly check reads unpaid lines by due date.
            models.Index(
                fields=["due_date"],
                condition=~Q(status=InstallmentStatus.PAID),
                name="installment_unpaid_due_idx",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.number}: {self.amount} by {self.due_date} ({self.get_status_display()})"

    @property
    def outstanding(self) -> Decimal:
        return self.amount - self.paid_amount

    @property
    def is_overdue(self) -> bool:
        """Past its due date and not paid: shown as late on the page even before the nightly check."""
        return self.status != InstallmentStatus.PAID and self.due_date < timezone.localdate()

    @property
    def display_status(self) -> str:
        if self.status in (InstallmentStatus.DUE, InstallmentStatus.PARTLY_PAID) and self.is_overdue:
            return InstallmentStatus.LATE
        return self.status

    @property
    def display_status_label(self) -> str:
        return InstallmentStatus(self.display_status).label

    def pay(self, amount: Decimal, *, at) -> None:
        """Add `amount` (at most what is outstanding) and set the status that follows."""
        if not ZERO < amount <= self.outstanding:
            raise ValueError(f"cannot pay {amount} on an installment with {self.outstanding} outstanding")
        self.paid_amount += amount
        if self.paid_amount == self.amount:
            self.status, self.paid_at = InstallmentStatus.PAID, at
        elif self.status != InstallmentStatus.LATE:
            self.status = InstallmentStatus.PARTLY_PAID


class PlanAllocation(models.Model):
    """How much of one payment went to one installment. Unique per (payment, installment), so a replayed
    payment feed cannot allocate the same payment twice."""

    payment = models.ForeignKey(
        "collections_app.Payment", on_delete=models.PROTECT, related_name="plan_allocations"
    )
    installment = models.ForeignKey(Installment, on_delete=models.PROTECT, related_name="allocations")
    amount = models.DecimalField(_("amount"), **MONEY)
    created_at = models.DateTimeField(_("allocated"), auto_now_add=True)

    class Meta:
        verbose_name = _("plan allocation")
        verbose_name_plural = _("plan allocations")
        constraints = [
            models.UniqueConstraint(
                fields=["payment", "installment"], name="allocation_once_per_installment"
            ),
            models.CheckConstraint(condition=Q(amount__gt=0), name="allocation_amount_positive"),
        ]

    def __str__(self) -> str:
        return f"{self.amount} of payment {self.payment_id} to installment {self.installment_id}"


def _all_kinds() -> list[str]:
    return list(PlanKind.values)


class ApprovalLimit(models.Model):
    """One approval tier, edited by admins: what plans a role may grant on its own. Tiers are walked by
    `order` (lowest first) to find who may approve a plan; a plan beyond every tier cannot be proposed.
    Keep `order` in the order of authority (agent, supervisor, legal). Empty limits mean no limit."""

    role = models.CharField(_("role"), max_length=16, choices=Role.choices, unique=True)
    order = models.PositiveSmallIntegerField(_("order"), unique=True, help_text=_("Lower is asked first."))
    active = models.BooleanField(_("active"), default=True)
    allowed_kinds = models.JSONField(
        _("plan kinds"), default=_all_kinds, help_text=_("The plan kinds this role may grant.")
    )
    min_installment_amount = models.DecimalField(_("minimum installment"), null=True, blank=True, **MONEY)
    max_installments = models.PositiveSmallIntegerField(_("maximum installments"), null=True, blank=True)
    max_term_months = models.PositiveSmallIntegerField(_("maximum term (months)"), null=True, blank=True)
    max_personalised_term_months = models.PositiveSmallIntegerField(
        _("maximum personalised-installment term (months)"),
        null=True,
        blank=True,
        default=PERSONALISED_MAX_TERM_MONTHS,
    )
    max_discount_percent = models.DecimalField(_("maximum discount (%)"), null=True, blank=True, **PERCENT)
    first_due_horizon_days = models.PositiveSmallIntegerField(
        _("first payment within (days)"), null=True, blank=True
    )

    class Meta:
        ordering = ["order"]
        verbose_name = _("approval limit")
        verbose_name_plural = _("approval limits")
        constraints = [
            models.CheckConstraint(condition=Q(role__in=Role.values), name="approval_limit_role_valid"),
            models.CheckConstraint(
                condition=Q(max_discount_percent__isnull=True)
                | Q(max_discount_percent__gte=0, max_discount_percent__lte=100),
                name="approval_limit_discount_range",
            ),
            # The regulator's cap on a personalised installment agreement (see calculator).
            models.CheckConstraint(
                condition=Q(max_personalised_term_months__lte=PERSONALISED_MAX_TERM_MONTHS),
                name="approval_limit_personalised_cap",
            ),
            models.CheckConstraint(
                condition=Q(min_installment_amount__isnull=True) | Q(min_installment_amount__gt=0),
                name="approval_limit_min_installment_positive",
            ),
        ]

    def __str__(self) -> str:
        return self.get_role_display()

    def clean(self) -> None:
        unknown = [kind for kind in self.allowed_kinds or [] if kind not in PlanKind.values]
        if not isinstance(self.allowed_kinds, list) or unknown:
            message = _("Give a list of plan kinds out of: %(kinds)s.")
            raise ValidationError(
                {"allowed_kinds": ValidationError(message, params={"kinds": ", ".join(PlanKind.values)})}
            )

    def as_limits(self) -> PlanLimits:
        return PlanLimits(
            allowed_kinds=frozenset(self.allowed_kinds),
            min_installment_amount=self.min_installment_amount,
            max_installments=self.max_installments,
            max_term_months=self.max_term_months,
            max_personalised_term_months=self.max_personalised_term_months,
            max_discount_percent=self.max_discount_percent,
            first_due_horizon_days=self.first_due_horizon_days,
        )
