"""Calls placed from the case page (click-to-call).

A `Call` is the telephony side of one outbound call: who dialled which number of which case, through
which dialer, and what the phone system said about it. The contact itself - the attempt the contact
policy counts and the timeline shows - is a `collections_app.ContactAttempt`, written through
`collections_app.services.contact_attempt_log` when the call is over (`attempt`).

    placed ──answered──> answered ──ended──> ended   (waits for the agent's disposition, then `attempt`)
       └───────────────ended────────────────> ended   (no answer / busy: the attempt is logged at once)
    blocked   refused by the contact policy before dialling (`blocked_rule`; a POLICY_REFUSED event)
    failed    the dialer could not place it (the PBX refused or was unreachable)
"""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class CallStatus(models.TextChoices):
    PLACED = "placed", _("Dialling")
    ANSWERED = "answered", _("Answered")
    ENDED = "ended", _("Ended")
    BLOCKED = "blocked", _("Blocked by the contact policy")
    FAILED = "failed", _("Failed")


LIVE_STATUSES = (CallStatus.PLACED, CallStatus.ANSWERED)


class DialerKind(models.TextChoices):
    LINK = "link", _("Phone link")
    PBX = "pbx", _("Phone system")


class EndResult(models.TextChoices):
    """How the phone system says an unanswered call ended (the attempt's outcome)."""

    NO_ANSWER = "no_answer", _("No answer")
    BUSY = "busy", _("Busy")


class Call(models.Model):
    call_id = models.UUIDField(_("call ID"), default=uuid.uuid4, unique=True, editable=False)
    case = models.ForeignKey("collections_app.Case", on_delete=models.PROTECT, related_name="calls")
    contact_point = models.ForeignKey(
        "collections_app.ContactPoint",
        on_delete=models.PROTECT,
        related_name="calls",
        verbose_name=_("phone number"),
    )
    agent = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="calls", verbose_name=_("agent")
    )
    dialer = models.CharField(_("dialer"), max_length=8, choices=DialerKind.choices)
    status = models.CharField(
        _("status"), max_length=10, choices=CallStatus.choices, default=CallStatus.PLACED
    )
    placed_at = models.DateTimeField(_("placed"), default=timezone.now)
    answered_at = models.DateTimeField(_("answered"), null=True, blank=True)
    ended_at = models.DateTimeField(_("ended"), null=True, blank=True)
    duration_seconds = models.PositiveIntegerField(_("duration (seconds)"), default=0)
    recording_url = models.URLField(_("recording"), max_length=500, blank=True)
    end_result = models.CharField(_("end result"), max_length=10, choices=EndResult.choices, blank=True)
    blocked_rule = models.CharField(_("contact policy rule"), max_length=64, blank=True)
    failure = models.CharField(_("why it failed"), max_length=300, blank=True)
    reference = models.CharField(_("phone system reference"), max_length=100, blank=True)
    # The contact this call was logged as (the disposition, or "no answer" from the phone system). No
    # database foreign key: contact attempts are partitioned by month (collections_app.partitions).
    attempt = models.OneToOneField(
        "collections_app.ContactAttempt",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="call",
        verbose_name=_("contact attempt"),
        db_constraint=False,
    )

    class Meta:
        verbose_name = _("call")
        verbose_name_plural = _("calls")
        constraints = [
            models.CheckConstraint(condition=Q(status__in=CallStatus.values), name="call_status_valid"),
            models.CheckConstraint(condition=Q(dialer__in=DialerKind.values), name="call_dialer_valid"),
            # A blocked call names the rule that blocked it; no other call has one.
            models.CheckConstraint(
                condition=Q(status=CallStatus.BLOCKED, blocked_rule__gt="")
                | (~Q(status=CallStatus.BLOCKED) & Q(blocked_rule="")),
                name="call_blocked_has_rule",
            ),
            # A blocked or failed call reached nobody: it is never logged as a contact.
            models.CheckConstraint(
                condition=~Q(status__in=[CallStatus.BLOCKED, CallStatus.FAILED]) | Q(attempt__isnull=True),
                name="call_unplaced_has_no_attempt",
            ),
        ]
        indexes = [
            models.Index(fields=["case", "agent", "placed_at"], name="call_case_agent_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.call_id} {self.status}"

    @property
    def is_live(self) -> bool:
        return self.status in LIVE_STATUSES

    @property
    def awaits_disposition(self) -> bool:
        """The agent still has to log how the call went (no attempt yet, and it was placed)."""
        return self.attempt_id is None and self.status not in (CallStatus.BLOCKED, CallStatus.FAILED)


class AgentExtension(models.Model):
    """The agent's extension on the phone system: the PBX rings it first, then dials the cardholder."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="phone_extension",
        verbose_name=_("user"),
    )
    extension = models.CharField(_("extension"), max_length=40)

    class Meta:
        verbose_name = _("phone extension")
        verbose_name_plural = _("phone extensions")

    def __str__(self) -> str:
        return f"{self.user} {self.extension}"
