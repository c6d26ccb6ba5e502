"""Authority: how much each role may grant or write off on its own, and the requests that need someone
else's approval (maker-checker).

`AuthorityLimit` rows are edited by admins: per role, per action kind, per currency (blank: any), a
maximum amount, a maximum share of the balance and a maximum length. The approval ladder
(authority.services.LADDER: agent -> team lead -> supervisor -> head of collections) is walked lowest
first; a request goes to the lowest role whose limit covers it. `AuthorityRequest` and `AuthorityDecision`
change only through authority.services, which writes the case timeline in the same transaction.
"""

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from accounts.models import Role
from core.money import MONEY

PERCENT = {"max_digits": 5, "decimal_places": 2}


class ActionKind(models.TextChoices):
    SETTLEMENT_DISCOUNT = "settlement_discount", _("Settlement discount")
    FEE_WAIVER = "fee_waiver", _("Fee waiver")
    INTEREST_WAIVER = "interest_waiver", _("Interest waiver")
    PLAN_LENGTH = "plan_length", _("Plan length")
    WRITE_OFF = "write_off", _("Write-off")


class AuthorityLimit(models.Model):
    """What one role may approve of one kind, in one currency (blank: any currency without its own row).
    Empty maxima do not limit; a role without a row for a kind may not approve that kind at all.
    Above `dual_control_above` (an amount in this row's currency) two different approvers are needed."""

    role = models.CharField(_("role"), max_length=16, choices=Role.choices)
    kind = models.CharField(_("action"), max_length=24, choices=ActionKind.choices)
    currency = models.CharField(
        _("currency"), max_length=3, blank=True, default="", help_text=_("Blank: any currency.")
    )
    max_amount = models.DecimalField(_("maximum amount"), null=True, blank=True, **MONEY)
    max_percent = models.DecimalField(_("maximum share of the balance (%)"), null=True, blank=True, **PERCENT)
    max_months = models.PositiveSmallIntegerField(_("maximum months"), null=True, blank=True)
    dual_control_above = models.DecimalField(
        _("two approvers above"),
        null=True,
        blank=True,
        help_text=_("An amount above this needs two different approvers."),
        **MONEY,
    )

    class Meta:
        ordering = ["kind", "currency", "role"]
        verbose_name = _("authority limit")
        verbose_name_plural = _("authority limits")
        constraints = [
            models.UniqueConstraint(
                fields=["role", "kind", "currency"], name="one_limit_per_role_kind_currency"
            ),
            models.CheckConstraint(
                condition=Q(max_percent__isnull=True) | Q(max_percent__gte=0, max_percent__lte=100),
                name="authority_limit_percent_range",
            ),
            models.CheckConstraint(
                condition=Q(max_amount__isnull=True) | Q(max_amount__gte=0),
                name="authority_limit_amount_positive",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_role_display()} · {self.get_kind_display()} · {self.currency or '*'}"


class RequestStatus(models.TextChoices):
    PENDING = "pending", _("Waiting for approval")
    APPROVED = "approved", _("Approved")
    REJECTED = "rejected", _("Rejected")
    CANCELLED = "cancelled", _("Cancelled")
    APPLIED = "applied", _("Applied")


OPEN_REQUEST_STATES = (RequestStatus.PENDING, RequestStatus.APPROVED)


class AuthorityRequest(models.Model):
    """Someone asks for an action beyond their own authority (a write-off ...). It waits for
    `required_approvals` approvals by different people of `routed_to_role` or above, none of them the
    requester; when complete the action is applied through the case kernel."""

    case = models.ForeignKey(
        "collections_app.Case",
        verbose_name=_("case"),
        on_delete=models.PROTECT,
        related_name="authority_requests",
    )
    kind = models.CharField(_("action"), max_length=24, choices=ActionKind.choices)
    amount = models.DecimalField(_("amount"), **MONEY)
    currency = models.CharField(_("currency"), max_length=3)
    percent = models.DecimalField(_("share of the balance (%)"), null=True, blank=True, **PERCENT)
    months = models.PositiveSmallIntegerField(_("months"), null=True, blank=True)
    status = models.CharField(
        _("status"), max_length=16, choices=RequestStatus.choices, default=RequestStatus.PENDING
    )
    required_approvals = models.PositiveSmallIntegerField(_("approvals needed"), default=1)
    routed_to_role = models.CharField(_("approved by"), max_length=16, choices=Role.choices)
    reason = models.TextField(_("reason"))
    # For a write-off: the resolution reason the case closes with (collections_app.ResolutionReason).
    resolution_reason = models.CharField(_("resolution reason"), max_length=24, blank=True, default="")
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("requested by"),
        on_delete=models.PROTECT,
        related_name="authority_requests",
    )
    created_at = models.DateTimeField(_("requested"), auto_now_add=True)
    decided_at = models.DateTimeField(_("decided"), null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-pk"]
        verbose_name = _("authority request")
        verbose_name_plural = _("authority requests")
        constraints = [
            models.CheckConstraint(condition=Q(amount__gte=0), name="authority_request_amount_positive"),
            models.CheckConstraint(
                condition=Q(required_approvals__in=[1, 2]), name="authority_request_one_or_two_approvals"
            ),
            models.CheckConstraint(
                condition=Q(status__in=RequestStatus.values), name="authority_request_status_valid"
            ),
            # One open request of a kind per case: a second would be decided twice.
            models.UniqueConstraint(
                fields=["case", "kind"],
                condition=Q(status__in=["pending", "approved"]),
                name="one_open_authority_request_per_case_kind",
            ),
        ]
        indexes = [
            models.Index(
                fields=["routed_to_role", "created_at"],
                condition=Q(status="pending"),
                name="authority_request_inbox_idx",
            )
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} #{self.pk}"


class Decision(models.TextChoices):
    APPROVE = "approve", _("Approve")
    REJECT = "reject", _("Reject")


class AuthorityDecision(models.Model):
    """One approver's answer to a request, always with a reason. Written once, never edited."""

    request = models.ForeignKey(
        AuthorityRequest, verbose_name=_("request"), on_delete=models.PROTECT, related_name="decisions"
    )
    approver = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("approver"),
        on_delete=models.PROTECT,
        related_name="authority_decisions",
    )
    approver_role = models.CharField(_("approver's role"), max_length=16, choices=Role.choices)
    decision = models.CharField(_("decision"), max_length=8, choices=Decision.choices)
    reason = models.TextField(_("reason"))
    created_at = models.DateTimeField(_("decided"), auto_now_add=True)

    class Meta:
        ordering = ["created_at", "pk"]
        verbose_name = _("authority decision")
        verbose_name_plural = _("authority decisions")
        constraints = [
            # The same person approving twice does not make two approvals.
            models.UniqueConstraint(fields=["request", "approver"], name="one_decision_per_approver"),
            models.CheckConstraint(condition=~Q(reason=""), name="authority_decision_reason_required"),
        ]

    def __str__(self) -> str:
        return f"{self.get_decision_display()} #{self.request_id}"
