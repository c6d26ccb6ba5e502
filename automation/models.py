"""Run records of the nightly pipeline (automation.pipeline): one `NightlyRun` per attempt, one
`NightlyStep` per step of that attempt, with what it counted and the error if it failed.

A run is for a business date (`run_date`, the "as of" day). Several runs may exist for one date: a run
that fails or whose worker dies is followed by another that skips the steps already finished for that
date and does the rest. At most one run is `running` at any time (a conditional unique constraint),
so two runs never overlap; the pipeline also holds a PostgreSQL advisory lock while it works, which
tells a live run from one whose process died.
"""

from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _


class RunStatus(models.TextChoices):
    RUNNING = "running", _("Running")
    SUCCEEDED = "succeeded", _("Succeeded")
    FAILED = "failed", _("Failed")
    # Its process stopped (killed worker, lost machine) and a later run took over.
    INTERRUPTED = "interrupted", _("Interrupted")


class StepStatus(models.TextChoices):
    RUNNING = "running", _("Running")
    SUCCEEDED = "succeeded", _("Succeeded")
    FAILED = "failed", _("Failed")
    # Not run by this run: already finished for the date by an earlier run, or not available yet.
    SKIPPED = "skipped", _("Skipped")
    INTERRUPTED = "interrupted", _("Interrupted")


class NightlyRun(models.Model):
    run_date = models.DateField(_("business date"))
    status = models.CharField(
        _("status"), max_length=12, choices=RunStatus.choices, default=RunStatus.RUNNING
    )
    trigger = models.CharField(_("started by"), max_length=40, blank=True)  # command, beat, catch-up ...
    # host:pid of the process that last worked on the run (a step of a Celery chain may run elsewhere).
    owner = models.CharField(_("process"), max_length=120, blank=True)
    started_at = models.DateTimeField(_("started"))
    finished_at = models.DateTimeField(_("finished"), null=True, blank=True)
    # Touched at every step boundary: a running run with no advisory lock and an old heartbeat is dead.
    heartbeat_at = models.DateTimeField(_("last sign of life"))
    error = models.TextField(_("error"), blank=True)

    class Meta:
        verbose_name = _("nightly run")
        verbose_name_plural = _("nightly runs")
        ordering = ["-started_at", "-id"]
        constraints = [
            # Every running row has the same status value, so this allows one running run in all.
            models.UniqueConstraint(
                fields=["status"], condition=Q(status=RunStatus.RUNNING), name="one_running_nightly_run"
            ),
            models.CheckConstraint(condition=Q(status__in=RunStatus.values), name="nightly_run_status_valid"),
        ]
        indexes = [models.Index(fields=["run_date", "status"], name="nightly_run_date_idx")]

    def __str__(self) -> str:
        return f"{self.run_date} #{self.pk} ({self.get_status_display()})"

    @property
    def duration_seconds(self) -> float | None:
        if self.finished_at is None:
            return None
        return (self.finished_at - self.started_at).total_seconds()


class NightlyStep(models.Model):
    run = models.ForeignKey(NightlyRun, on_delete=models.CASCADE, related_name="steps")
    name = models.CharField(_("step"), max_length=40)
    position = models.PositiveSmallIntegerField(_("order"))
    status = models.CharField(_("status"), max_length=12, choices=StepStatus.choices)
    started_at = models.DateTimeField(_("started"))
    finished_at = models.DateTimeField(_("finished"), null=True, blank=True)
    counts = models.JSONField(_("counts"), default=dict, blank=True)
    note = models.TextField(_("note"), blank=True)
    error = models.TextField(_("error"), blank=True)

    class Meta:
        verbose_name = _("nightly step")
        verbose_name_plural = _("nightly steps")
        ordering = ["run", "position"]
        constraints = [
            models.UniqueConstraint(fields=["run", "name"], name="nightly_step_once_per_run"),
            models.CheckConstraint(
                condition=Q(status__in=StepStatus.values), name="nightly_step_status_valid"
            ),
        ]
        indexes = [models.Index(fields=["name", "status"], name="nightly_step_name_idx")]

    def __str__(self) -> str:
        return f"{self.name} ({self.get_status_display()})"

    @property
    def duration_seconds(self) -> float | None:
        if self.finished_at is None:
            return None
        return (self.finished_at - self.started_at).total_seconds()
