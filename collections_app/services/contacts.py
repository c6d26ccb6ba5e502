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
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.permissions import Capability, has_capability
from collections_app.access import ensure_can_act
from collections_app.models import (
    CALL_CHANNELS,
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
from contact_policy import scripts
from contact_policy.engine import Decision
from contact_policy.models import CallScript
from core.exceptions import (
    ContactNotAllowed,
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
    # The call script's statements the agent ticked (CallStatement codes), and the script shown
    # (`call_script_for_case`); None: the script for the case is looked up here.
    disclosures: tuple[str, ...] = ()
    script_id: int | None = None


def call_script_for_case(case: Case) -> CallScript | None:
    """The call script for a conversation on `case` (`contact_policy.scripts.script_for`): the
    cardholder's jurisdiction and language, the account's bucket as the stage. Two queries."""
    holder = case.account.cardholder
    return scripts.script_for(holder.jurisdiction, holder.language, case.account.bucket)


@dataclass(frozen=True)
class _Disclosures:
    given: list[str]
    script_version: int | None
    details: dict  # for the CONTACT event


def _check_disclosures(case: Case, data: ContactInput) -> _Disclosures:
    """The ticked statements against the script the agent read (the one named, else the case's). A
    right-party call without every required statement is still recorded - the agent may have said it
    without ticking, or the cardholder hung up - but its CONTACT event carries `missing_disclosures`, the
    quality team's flag. An unknown script or a code the script does not have is an input error."""
    given = [str(code) for code in dict.fromkeys(data.disclosures)]
    if data.script_id is not None:
        script = CallScript.objects.prefetch_related("statements").filter(pk=data.script_id).first()
        if script is None:
            raise ValidationFailed(_("Unknown call script."), field="script_id", rule="unknown_script")
    else:
        script = call_script_for_case(case) if (given or data.channel in CALL_CHANNELS) else None
    if script is None:
        return _Disclosures(given=given, script_version=None, details={"disclosures": given} if given else {})
    check = scripts.disclosures_check(script, given)
    if check.unknown:
        raise ValidationFailed(
            _("These statements are not in the call script: %(codes)s.")
            % {"codes": ", ".join(check.unknown)},
            field="disclosures",
            rule="unknown_disclosure",
            details={"codes": list(check.unknown)},
        )
    # The script counts as read when the caller names it or ticks its statements; otherwise (a dialer
    # posting an outcome) it only tells which statements a right-party call was due to give.
    read = data.script_id is not None or bool(given)
    details = (
        {"disclosures": list(check.given), "script": script.pk, "script_version": script.version}
        if read
        else {}
    )
    if data.outcome in RIGHT_PARTY_OUTCOMES and data.channel in CALL_CHANNELS and check.missing:
        details["missing_disclosures"] = list(check.missing)
    return _Disclosures(
        given=list(check.given), script_version=script.version if read else None, details=details
    )


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
    disclosures_given: list[str] | None = None,
    script_version: int | None = None,
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
        disclosures_given=disclosures_given or [],
        script_version=script_version,
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
    asked, so such a contact is not written as a policy refusal.

    `data.disclosures` (the call script's statements ticked) and the script's version are stored on the
    attempt; a right-party call missing a required statement is recorded all the same, its CONTACT event
    carrying `missing_disclosures` (`_check_disclosures`)."""
    try:
        with transaction.atomic():
            case = lock_case(case_id, expected_version=expected_version)
            ensure_can_act(actor, case)
            if not case.is_open:
                raise InvalidTransition(_("The case is closed."), rule="case_closed")
            now = timezone.now()
            point = _validate_contact(case, data, now=now)
            disclosures = _check_disclosures(case, data)
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
                details=disclosures.details,
                disclosures_given=disclosures.given,
                script_version=disclosures.script_version,
            )
        return attempt
    except _PolicyRefusal as refusal:
        # The refused attempt rolled back; the refusal itself is kept (its own transaction).
        raise contact_refusal_record(
            case_id=case_id, actor=actor, decision=refusal.decision, channel=data.channel
        ) from None


def contact_refusal_record(
    *, case_id: int, actor, decision: Decision, channel: str, details: dict | None = None
) -> ContactNotAllowed:
    """Keep a contact the policy refused on the case's timeline - a POLICY_REFUSED event with the rule
    (`decision.details`), the channel and `details` - and return the refusal to raise: the rule, and when
    it lifts on the cardholder's clock and the actor's (`contactability.refusal`).

    Writes in a transaction of its own (a savepoint inside the caller's): callers have rolled back the
    refused contact first. Used by `contact_attempt_log` and by telephony.services.call_place (a call
    blocked before it is dialled)."""
    with transaction.atomic():
        refused_case = Case.objects.get(pk=case_id)
        event_write(
            case=refused_case,
            kind=EventKind.POLICY_REFUSED,
            actor=actor,
            reason=decision.text,
            details={**decision.details, "channel": channel, **(details or {})},
        )
    return contactability.refusal(
        decision, case=refused_case, actor=actor, action=contactability.Action.CONTACT
    )


def contact_attempt_fill_measures(
    *, attempt_id: int, duration_seconds: int, recording_ref: str, replaces: str = ""
) -> bool:
    """Fill in what a phone system measured about a call already logged, when it reports the call's end
    after the agent's disposition (telephony.services.call_event): the duration, where the attempt has
    none, and the recording reference, where it has none or only `replaces` (a provisional reference the
    caller wrote itself: the call's own ID, before the phone system said where the recording is). Never
    overwrites a measured value: the attempt stays the record written at the time, completed. No event
    (the CONTACT event was written with the attempt). Returns whether anything was filled."""
    filled = 0
    if duration_seconds > 0:
        filled += ContactAttempt.objects.filter(pk=attempt_id, duration_seconds=0).update(
            duration_seconds=min(duration_seconds, MAX_CONTACT_SECONDS)
        )
    if recording_ref:
        blank = Q(recording_ref="") | (Q(recording_ref=replaces) if replaces else Q())
        filled += ContactAttempt.objects.filter(blank, pk=attempt_id).update(recording_ref=recording_ref)
    return filled > 0


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
