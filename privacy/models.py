"""What the bank keeps about a cardholder, for how long, and what it did with it: retention policies per
jurisdiction profile, legal holds that stop a purge, the purge runs, subject-access exports and
correction requests (PIPL Arts. 19, 45, 46; GDPR Arts. 5(1)(e), 15, 16).

Which tables hold a cardholder's data is written down once, in privacy.holdings.
"""

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from core.masking import MASKERS

# The least a policy may keep, by country (the part of a profile code before "-"), from
# /work/shared/reference/compliance-rules.md: CN-01 (collection records and recordings at least 2 years,
# 2011 Measures Art. 68) and US-18 (compliance records 3 years after the last collection activity).
LEGAL_MINIMUM_YEARS = {"CN": 2, "US": 3}


class RetentionBasis(models.TextChoices):
    CLOSURE = "closure", _("Closure of the last case")
    LAST_ACTIVITY = "last_activity", _("Last activity")


class RetentionPolicy(models.Model):
    """How long a cardholder's personal data is kept once their last case is over, per jurisdiction
    profile code ("CN", "US", or a layer such as "US-MA"; a layer without its own policy follows its
    country's). Editable by admins; shipped by migration 0002 from the compliance reference."""

    jurisdiction = models.CharField(_("jurisdiction"), max_length=16, unique=True)
    years = models.PositiveSmallIntegerField(_("years to keep"))
    counted_from = models.CharField(_("counted from"), max_length=16, choices=RetentionBasis.choices)
    source = models.TextField(_("source"), blank=True)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)

    class Meta:
        verbose_name = _("retention policy")
        verbose_name_plural = _("retention policies")
        ordering = ["jurisdiction"]
        constraints = [
            models.CheckConstraint(condition=Q(years__gte=1), name="retention_at_least_a_year"),
            models.CheckConstraint(
                condition=Q(counted_from__in=RetentionBasis.values), name="retention_basis_valid"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.jurisdiction}: {self.years}"

    @property
    def minimum_years(self) -> int:
        return LEGAL_MINIMUM_YEARS.get(self.jurisdiction.partition("-")[0].upper(), 1)

    def clean(self) -> None:
        self.jurisdiction = (self.jurisdiction or "").strip().upper()
        if self.years is not None and self.years < self.minimum_years:
            raise ValidationError(
                {
                    "years": _("Records of this jurisdiction must be kept at least %(n)s years.")
                    % {"n": self.minimum_years}
                }
            )


class LegalHold(models.Model):
    """A cardholder (or one case of theirs) whose data must not be purged: litigation, a regulator's
    inquiry, a complaint. Active while `released_at` is empty."""

    cardholder = models.ForeignKey(
        "collections_app.Cardholder",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="legal_holds",
        verbose_name=_("cardholder"),
    )
    case = models.ForeignKey(
        "collections_app.Case",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="legal_holds",
        verbose_name=_("case"),
    )
    reason = models.TextField(_("reason"))
    placed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", verbose_name=_("placed by")
    )
    placed_at = models.DateTimeField(_("placed"), default=timezone.now)
    released_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("released by"),
    )
    released_at = models.DateTimeField(_("released"), null=True, blank=True)
    release_reason = models.TextField(_("why released"), blank=True)

    class Meta:
        verbose_name = _("legal hold")
        verbose_name_plural = _("legal holds")
        ordering = ["-placed_at", "-id"]
        constraints = [
            # On a cardholder or on a case, never both and never neither.
            models.CheckConstraint(
                condition=Q(cardholder__isnull=False, case__isnull=True)
                | Q(cardholder__isnull=True, case__isnull=False),
                name="legal_hold_one_subject",
            ),
            models.CheckConstraint(
                condition=Q(released_at__isnull=True) | Q(released_by__isnull=False),
                name="legal_hold_released_by_someone",
            ),
        ]
        indexes = [
            models.Index(fields=["cardholder"], condition=Q(released_at__isnull=True), name="hold_active_ch"),
            models.Index(fields=["case"], condition=Q(released_at__isnull=True), name="hold_active_case"),
        ]

    def __str__(self) -> str:
        return _("Legal hold %(id)s") % {"id": self.pk}

    @property
    def is_active(self) -> bool:
        return self.released_at is None


class PurgedCardholder(models.Model):
    """A cardholder whose personal data was anonymised, by which run: the purge never selects them
    again (its rerun changes nothing)."""

    cardholder = models.OneToOneField(
        "collections_app.Cardholder",
        on_delete=models.PROTECT,
        related_name="purge",
        verbose_name=_("cardholder"),
    )
    purged_at = models.DateTimeField(_("purged"), default=timezone.now)
    run = models.ForeignKey(
        "privacy.PurgeRun", on_delete=models.PROTECT, related_name="purged", verbose_name=_("run")
    )

    class Meta:
        verbose_name = _("purged cardholder")
        verbose_name_plural = _("purged cardholders")

    def __str__(self) -> str:
        return f"{self.cardholder_id} {self.purged_at:%Y-%m-%d}"


class PurgeStatus(models.TextChoices):
    RUNNING = "running", _("Running")
    DONE = "done", _("Done")
    FAILED = "failed", _("Failed")


class PurgeRun(models.Model):
    """One run of the personal-data purge (privacy.purge.purge_run): a dry run counts what a run would
    change and changes nothing. `counts` holds rows changed per table ("app_label.model")."""

    dry_run = models.BooleanField(_("dry run"), default=False)
    as_of = models.DateField(_("as of"))
    status = models.CharField(
        _("status"), max_length=8, choices=PurgeStatus.choices, default=PurgeStatus.RUNNING
    )
    # "command", "schedule", "admin" ...
    trigger = models.CharField(_("started by"), max_length=40, blank=True)
    started_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("person"),
    )
    started_at = models.DateTimeField(_("started"), default=timezone.now)
    finished_at = models.DateTimeField(_("finished"), null=True, blank=True)
    cardholders = models.PositiveIntegerField(_("cardholders"), default=0)
    counts = models.JSONField(_("counts"), default=dict, blank=True)
    error = models.TextField(_("error"), blank=True)

    class Meta:
        verbose_name = _("purge run")
        verbose_name_plural = _("purge runs")
        ordering = ["-started_at", "-id"]
        constraints = [
            models.CheckConstraint(condition=Q(status__in=PurgeStatus.values), name="purge_status_valid"),
        ]

    def __str__(self) -> str:
        return _("Purge run %(id)s (%(day)s)") % {"id": self.pk, "day": self.as_of}


class ExportFormat(models.TextChoices):
    JSON = "json", "JSON"
    PDF = "pdf", "PDF"


class SubjectAccessRequest(models.Model):
    """One export of everything held about a cardholder (privacy.subject_access), who asked for it and
    why. Written by the export itself: an export that is not recorded does not happen."""

    cardholder = models.ForeignKey(
        "collections_app.Cardholder",
        on_delete=models.PROTECT,
        related_name="subject_access_requests",
        verbose_name=_("cardholder"),
    )
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", verbose_name=_("exported by")
    )
    requested_at = models.DateTimeField(_("exported"), default=timezone.now)
    reason = models.TextField(_("reason"))
    reference = models.CharField(_("request reference"), max_length=100, blank=True)
    format = models.CharField(_("format"), max_length=4, choices=ExportFormat.choices)
    language = models.CharField(_("language"), max_length=8)
    # Rows exported per table ("app_label.model": n).
    tables = models.JSONField(_("tables"), default=dict, blank=True)

    class Meta:
        verbose_name = _("subject access request")
        verbose_name_plural = _("subject access requests")
        ordering = ["-requested_at", "-id"]
        constraints = [
            models.CheckConstraint(condition=Q(format__in=ExportFormat.values), name="sar_format_valid"),
        ]

    def __str__(self) -> str:
        return _("Subject access request %(id)s") % {"id": self.pk}


class CorrectableField(models.TextChoices):
    """The cardholder's details a correction request may change (PIPL Art. 46, GDPR Art. 16)."""

    NAME = "name", _("Name")
    NATIONAL_ID = "national_id", _("National ID")
    EMAIL = "email", _("E-mail")
    ADDRESS = "address", _("Address")


class CorrectionStatus(models.TextChoices):
    PENDING = "pending", _("Pending")
    APPROVED = "approved", _("Approved")
    REJECTED = "rejected", _("Rejected")


class CorrectionRequest(models.Model):
    """A request to correct one of a cardholder's details. Anyone who may work one of the cardholder's
    cases asks; a supervisor other than the requester decides (privacy.corrections). The value before
    and after stays on the request: it is the history of the field."""

    cardholder = models.ForeignKey(
        "collections_app.Cardholder",
        on_delete=models.PROTECT,
        related_name="correction_requests",
        verbose_name=_("cardholder"),
    )
    field = models.CharField(_("field"), max_length=16, choices=CorrectableField.choices)
    current_value = models.TextField(_("value before"), blank=True)
    requested_value = models.TextField(_("requested value"))
    reason = models.TextField(_("reason"))
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", verbose_name=_("requested by")
    )
    requested_at = models.DateTimeField(_("requested"), default=timezone.now)
    status = models.CharField(
        _("status"), max_length=10, choices=CorrectionStatus.choices, default=CorrectionStatus.PENDING
    )
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("decided by"),
    )
    decided_at = models.DateTimeField(_("decided"), null=True, blank=True)
    decision_reason = models.TextField(_("decision reason"), blank=True)

    class Meta:
        verbose_name = _("correction request")
        verbose_name_plural = _("correction requests")
        ordering = ["-requested_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(status__in=CorrectionStatus.values), name="correction_status_valid"
            ),
            models.CheckConstraint(
                condition=Q(field__in=CorrectableField.values), name="correction_field_valid"
            ),
            # Maker-checker in the database too: the requester never decides their own request.
            models.CheckConstraint(
                condition=Q(decided_by__isnull=True) | ~Q(decided_by=models.F("requested_by")),
                name="correction_not_decided_by_requester",
            ),
            models.UniqueConstraint(
                fields=["cardholder", "field"],
                condition=Q(status="pending"),
                name="one_pending_correction_per_field",
            ),
        ]

    def __str__(self) -> str:
        return _("Correction %(id)s (%(field)s)") % {"id": self.pk, "field": self.get_field_display()}

    def _masked(self, value: str) -> str:
        if not value:
            return "—"
        masker = MASKERS.get(self.field)
        return masker(value) if masker is not None else value[:1] + "***"

    @property
    def masked_before(self) -> str:
        """The value before, as lists show it: masked like the cardholder's own field."""
        return self._masked(self.current_value)

    @property
    def masked_requested(self) -> str:
        return self._masked(self.requested_value)
