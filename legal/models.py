"""Legal referrals: why a case went to legal review, who decided what, and the court reference."""

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from collections_app.models import Case


class LegalDecision(models.TextChoices):
    PENDING = "pending", _("Pending review")
    LITIGATION = "litigation", _("Litigation approved")
    RETURNED = "returned", _("Returned to collections")
    SETTLEMENT = "settlement", _("Settlement proposed")
    WRITE_OFF = "write_off", _("Written off")


class LegalReferral(models.Model):
    case = models.ForeignKey(Case, on_delete=models.PROTECT, related_name="legal_referrals")
    reason = models.TextField(_("reason"))
    rule_name = models.CharField(_("escalation rule"), max_length=100, blank=True)
    # The rule that referred the case (None: a person did). rule_name keeps the name it had then.
    rule = models.ForeignKey(
        "escalation.EscalationRule",
        verbose_name=_("rule"),
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="referrals",
    )
    # The limitation date as computed at referral (legal.services.limitation_for), for the record.
    limitation_date = models.DateField(_("limitation date at referral"), null=True, blank=True)
    referred_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    referred_at = models.DateTimeField(_("referred"), default=timezone.now)
    reviewer = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="legal_reviews",
    )
    decision = models.CharField(
        _("decision"), max_length=12, choices=LegalDecision.choices, default=LegalDecision.PENDING
    )
    decided_at = models.DateTimeField(_("decided"), null=True, blank=True)
    decision_note = models.TextField(_("decision note"), blank=True)
    court_reference = models.CharField(_("court or agency reference"), max_length=100, blank=True)

    class Meta:
        verbose_name = _("legal referral")
        verbose_name_plural = _("legal referrals")
        constraints = [
            models.UniqueConstraint(
                fields=["case"], condition=Q(decision="pending"), name="one_pending_referral_per_case"
            ),
            models.CheckConstraint(
                condition=Q(decision__in=LegalDecision.values), name="referral_decision_valid"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.case_id} {self.get_decision_display()}"
