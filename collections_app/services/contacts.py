"""Recording contacts with a cardholder: the one path that writes the contact ledger.

Two entry points, one way of writing (`_record_attempt`: the append-only attempt, the CONTACT event,
the start of work on a new case, the case's last right-party contact time):
- `contact_attempt_log`: a person's contact (pages, API, imports); it asks the contact policy
  (`contactability.decide`) here, records a refusal, and lets a supervisor override a frequency limit;
- `contact_attempt_record_sent`: a message the system has sent (messaging.services). The policy was
  asked by its caller for that very send (`messaging.services.message_send`, through `_prepare`), once;
  it is not asked again here.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.permissions import Capability, has_capability
from collections_app.access import ensure_can_act
from collections_app.models import (
    RIGHT_PARTY_OUTCOMES,
    Case,
    Channel,
    ContactAttempt,
    ContactPoint,
    EventKind,
    Outcome,
    PartyRole,
)
from collections_app.services import contactability
from collections_app.services.kernel import (
    bump_version,
    event_write,
    lock_case,
    start_work_if_new,
)
from contact_policy.engine import Decision
from core.exceptions import (
    InvalidTransition,
    ValidationFailed,
)

# How far ahead of our clock a contact's start may be: a dialer's (or a workstation's) clock runs a
# little fast. Beyond it, the start is in the future and refused.
CLOCK_SKEW = timedelta(minutes=5)
# The longest contact a person may log: a day (beyond it the figure is a typing error).
MAX_CONTACT_SECONDS = 86_400


@dataclass(frozen=True)
class ContactInput:
    channel: str
    outcome: str
    contact_point_id: int | None = None
    party_role: str = PartyRole.DEBTOR
    person_reached: str = ""
    delinquency_reason: str = ""
    duration_seconds: int = 0
    notes: str = ""
    recording_ref: str = ""
    started_at: datetime | None = None


def _validate_contact(case: Case, data: ContactInput, *, now: datetime) -> ContactPoint | None:
    if data.channel not in Channel.values:
        raise ValidationFailed(_("Unknown channel."), field="channel")
    if data.outcome not in Outcome.values:
        raise ValidationFailed(_("Unknown outcome."), field="outcome")
    if data.duration_seconds < 0:
        raise ValidationFailed(_("The duration cannot be negative."), field="duration_seconds")
    if data.duration_seconds > MAX_CONTACT_SECONDS:
        raise ValidationFailed(
            _("A contact cannot last more than a day."), field="duration_seconds", rule="duration_too_long"
        )
    if data.started_at is not None and data.started_at > now + CLOCK_SKEW:
        raise ValidationFailed(
            _("A contact cannot start in the future."), field="started_at", rule="started_in_future"
        )
    if data.outcome in RIGHT_PARTY_OUTCOMES and not data.delinquency_reason:
        raise ValidationFailed(
            _("A right-party contact needs the reason for delinquency."),
            field="delinquency_reason",
            rule="reason_required",
        )
    point = None
    if data.contact_point_id is not None:
        point = ContactPoint.objects.filter(
            pk=data.contact_point_id, cardholder_id=case.account.cardholder_id
        ).first()
        if point is None:
            raise ValidationFailed(
                _("That number or address is not one of this cardholder's."), field="contact_point"
            )
    return point


class _PolicyRefusal(Exception):
    def __init__(self, decision):
        self.decision = decision


def _record_attempt(
    case: Case,
    *,
    actor,
    channel: str,
    outcome: str,
    started_at: datetime,
    contact_point: ContactPoint | None = None,
    party_role: str = "",
    person_reached: str = "",
    delinquency_reason: str = "",
    duration_seconds: int = 0,
    notes: str = "",
    recording_ref: str = "",
    override: Decision | None = None,
    override_reason: str = "",
    details: dict | None = None,
) -> ContactAttempt:
    """Write one contact on a locked case, in the caller's transaction: the attempt, the POLICY_OVERRIDE
    event when a supervisor overrode the policy's `override` refusal, the start of work on a new case,
    the last right-party contact time and the CONTACT event; then the stored contactability of every open
    case of the cardholder (the caps count calls about the person, not only about this account)."""
    attempt = ContactAttempt.objects.create(
        case=case,
        cardholder_id=case.account.cardholder_id,
        channel=channel,
        contact_point=contact_point,
        party_role=party_role or (contact_point.party_role if contact_point else ""),
        person_reached=person_reached,
        outcome=outcome,
        delinquency_reason=delinquency_reason,
        started_at=started_at,
        duration_seconds=duration_seconds,
        agent=actor,
        notes=notes,
        recording_ref=recording_ref,
        policy_override_reason=override_reason if override is not None else "",
    )
    if override is not None:
        event_write(
            case=case,
            kind=EventKind.POLICY_OVERRIDE,
            actor=actor,
            reason=override_reason,
            details={**override.details, "contact_attempt": attempt.pk},
        )
    start_work_if_new(case, actor=actor)
    if outcome in RIGHT_PARTY_OUTCOMES:
        case.last_right_party_contact_at = max(filter(None, [case.last_right_party_contact_at, started_at]))
    bump_version(case, "last_right_party_contact_at")
    event_write(
        case=case,
        kind=EventKind.CONTACT,
        actor=actor,
        reason=notes,
        details={
            "contact_attempt": attempt.pk,
            "channel": channel,
            "outcome": outcome,
            "delinquency_reason": delinquency_reason,
            **(details or {}),
        },
    )
    contactability.contactability_refresh(cardholder_ids=[case.account.cardholder_id])
    return attempt


def contact_attempt_log(
    *,
    case_id: int,
    actor,
    data: ContactInput,
    override_reason: str = "",
    expected_version: int | None = None,
) -> ContactAttempt:
    """Record a contact on a case (append-only), after the contact policy allows it.

    A refusal raises ContactNotAllowed naming the rule and when it will be allowed, and is itself
    written on the timeline (POLICY_REFUSED) for the compliance figures. A supervisor may override a
    frequency limit with a reason (POLICY_OVERRIDE event). A first contact starts work on a new case;
    a right-party contact updates the case's last RPC time. Writes a CONTACT event.

    `data.started_at` (default now) may not be in the future beyond CLOCK_SKEW (ValidationFailed,
    field started_at, rule started_in_future); like every input check it comes before the policy is
    asked, so such a contact is not written as a policy refusal."""
    try:
        with transaction.atomic():
            case = lock_case(case_id, expected_version=expected_version)
            ensure_can_act(actor, case)
            if not case.is_open:
                raise InvalidTransition(_("The case is closed."), rule="case_closed")
            now = timezone.now()
            point = _validate_contact(case, data, now=now)
            started_at = data.started_at or now
            decision = contactability.decide(
                case=case,
                channel=data.channel,
                now=started_at,
                contact_point=point,
                party_role=data.party_role,
                outcome=data.outcome,
                recording_ref=data.recording_ref,
            )
            overridden = False
            if not decision.allowed:
                can_override = has_capability(actor, Capability.OVERRIDE_CONTACT_POLICY)
                if not (override_reason.strip() and decision.overridable and can_override):
                    raise _PolicyRefusal(decision)
                overridden = True
            attempt = _record_attempt(
                case,
                actor=actor,
                channel=data.channel,
                outcome=data.outcome,
                started_at=started_at,
                contact_point=point,
                party_role=data.party_role,
                person_reached=data.person_reached,
                delinquency_reason=data.delinquency_reason,
                duration_seconds=data.duration_seconds,
                notes=data.notes,
                recording_ref=data.recording_ref,
                override=decision if overridden else None,
                override_reason=override_reason,
            )
        return attempt
    except _PolicyRefusal as refusal:
        decision = refusal.decision
        # The refused attempt rolled back; the refusal itself is kept (its own transaction).
        with transaction.atomic():
            refused_case = Case.objects.get(pk=case_id)
            event_write(
                case=refused_case,
                kind=EventKind.POLICY_REFUSED,
                actor=actor,
                reason=decision.text,
                details={**decision.details, "channel": data.channel},
            )
        # The refusal every action raises: the rule, when, on the cardholder's clock and the agent's.
        raise contactability.refusal(
            decision, case=refused_case, actor=actor, action=contactability.Action.CONTACT
        ) from None


def contact_attempt_record_sent(
    *,
    case_id: int,
    channel: str,
    sent_at: datetime,
    contact_point_id: int | None = None,
    notes: str = "",
    details: dict | None = None,
    actor=None,
) -> ContactAttempt:
    """Record a message the system has sent to the debtor (an SMS, an e-mail, a letter): outcome SENT,
    written exactly as a person's contact is (attempt, CONTACT event, start of work on a new case).

    The contact policy is not asked here: the caller decided this very send with the policy just before
    handing it to the provider (messaging.services.message_send), and a message already delivered is a
    fact for the ledger, not a request. `details` is added to the CONTACT event (e.g. the message ID).
    `actor` is None for the system."""
    if channel not in Channel.values:
        raise ValidationFailed(_("Unknown channel."), field="channel")
    with transaction.atomic():
        case = lock_case(case_id)
        ensure_can_act(actor, case)
        point = None
        if contact_point_id is not None:
            point = ContactPoint.objects.get(pk=contact_point_id, cardholder_id=case.account.cardholder_id)
        return _record_attempt(
            case,
            actor=actor,
            channel=channel,
            outcome=Outcome.SENT,
            started_at=sent_at,
            contact_point=point,
            party_role=PartyRole.DEBTOR,
            notes=notes,
            details=details,
        )
