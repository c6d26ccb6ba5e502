"""Click-to-call: placing a call through the contact policy, the phone system's events, the disposition.

    call_place     may this agent call this number of this case now? The same decision a logged contact
                   gets (contactability.decide, for an outbound call to that number). Refused: a Call
                   (blocked, with the rule) and the kernel's POLICY_REFUSED event, then ContactNotAllowed.
                   Allowed: a Call (placed), committed, then handed to the dialer (telephony.dialers).
    call_event     the PBX's signed report (telephony.views.events): answered; ended (duration, recording).
                   Ended unanswered: the attempt (no answer, or busy) is logged at once. Ended after an
                   answer: the call waits for the agent's disposition. Each event applies once.
    call_complete  the agent's disposition: the attempt, through contact_attempt_log, with the call's
                   duration and recording.

The contact ledger is written only by collections_app.services.contacts (contact_attempt_log; and
contact_attempt_fill_measures when the end of a call is reported after its disposition).
"""

from __future__ import annotations

import logging
import uuid
from datetime import datetime

from django.db import transaction
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.translation import gettext as _

from accounts.permissions import Capability, has_capability
from collections_app.access import ensure_can_act
from collections_app.models import Channel, ContactAttempt, ContactPoint, ContactPointKind, Outcome
from collections_app.services import ContactInput, contact_attempt_log, contactability, lock_case
from collections_app.services.contacts import (
    MAX_CONTACT_SECONDS,
    contact_attempt_fill_measures,
    contact_refusal_record,
)
from core.exceptions import DomainError, InvalidTransition, NotAllowed, ValidationFailed
from telephony.dialers import DialError, dialer
from telephony.models import LIVE_STATUSES, Call, CallStatus, DialerKind, EndResult

logger = logging.getLogger(__name__)

# The outcomes a call can have (the disposition form offers these).
CALL_OUTCOMES = (
    Outcome.RIGHT_PARTY_CONTACT,
    Outcome.PROMISE_TO_PAY,
    Outcome.DISPUTE_RAISED,
    Outcome.CALLBACK_REQUESTED,
    Outcome.REFUSED_TO_PAY,
    Outcome.THIRD_PARTY,
    Outcome.NO_ANSWER,
    Outcome.BUSY,
    Outcome.VOICEMAIL,
    Outcome.WRONG_NUMBER,
    Outcome.DISCONNECTED,
)
_RECORDING_REF_MAX = ContactAttempt._meta.get_field("recording_ref").max_length


class UnknownCall(DomainError):
    code = "unknown_call"
    http_status = 404


def _recording_ref(call: Call) -> str:
    """What the attempt records as the call's recording: the recording's address when it fits the
    attempt's field, else the call's own reference (the Call row keeps the address)."""
    if call.recording_url and len(call.recording_url) <= _RECORDING_REF_MAX:
        return call.recording_url
    return provisional_recording_ref(call)


def provisional_recording_ref(call: Call) -> str:
    """The reference of a call the phone system records, before it has said where the recording is."""
    return f"call:{call.call_id}"


def call_place(*, case_id: int, actor, contact_point_id: int) -> Call:
    """Place an outbound call to one of the case's cardholder's numbers.

    Preconditions: `actor` works cases (WORK_CASES) and may act on the case; the case is open; the number
    is an active phone of the cardholder. Then the contact policy decides, as for a logged outbound call
    to that number now (contactability.decide). Refused: a Call (blocked, `blocked_rule`) and a
    POLICY_REFUSED event with the rule and the call's ID are written (contact_refusal_record), and the
    refusal is raised (ContactNotAllowed: the reason, and when it lifts). No contact attempt is written:
    nobody was called. Allowed: a Call (placed) is committed, then the dialer places it; a dialer failure
    marks the call failed and raises DomainError (rule dial_failed). The call returned carries the
    dialer's answer as `call.dial` (a DialResult: the tel:/sip: link to open, or the PBX's reference)."""
    if not has_capability(actor, Capability.WORK_CASES):
        raise NotAllowed(_("Your role may not place calls."), rule=str(Capability.WORK_CASES))
    the_dialer = dialer()  # a misconfigured dialer fails here, before anything is written
    with transaction.atomic():
        case = lock_case(case_id)
        ensure_can_act(actor, case)
        if not case.is_open:
            raise InvalidTransition(_("The case is closed."), rule="case_closed")
        point = ContactPoint.objects.filter(
            pk=contact_point_id,
            cardholder_id=case.account.cardholder_id,
            kind=ContactPointKind.PHONE,
            active=True,
        ).first()
        if point is None:
            raise ValidationFailed(
                _("That number is not one of this cardholder's phones."), field="contact_point"
            )
        now = timezone.now()
        decision = contactability.decide(
            case=case,
            channel=Channel.OUTBOUND_CALL,
            now=now,
            contact_point=point,
            party_role=point.party_role,
        )
        call = Call.objects.create(
            case=case,
            contact_point=point,
            agent=actor,
            dialer=the_dialer.kind,
            placed_at=now,
            status=CallStatus.PLACED if decision.allowed else CallStatus.BLOCKED,
            blocked_rule="" if decision.allowed else str(decision.rule),
        )
        refusal = None
        if not decision.allowed:
            refusal = contact_refusal_record(
                case_id=case.pk,
                actor=actor,
                decision=decision,
                channel=Channel.OUTBOUND_CALL,
                details={"call_id": str(call.call_id), "contact_point": point.pk},
            )
    if refusal is not None:
        raise refusal
    # Committed before dialling: the PBX may report the call before its answer to us has arrived.
    call.contact_point = point
    try:
        result = the_dialer.place(call)
    except DialError as error:
        Call.objects.filter(pk=call.pk, status=CallStatus.PLACED).update(
            status=CallStatus.FAILED, failure=error.detail[:300]
        )
        call.status = CallStatus.FAILED
        raise DomainError(error.message, rule="dial_failed", details={"call_id": str(call.call_id)}) from None
    if result.reference:
        Call.objects.filter(pk=call.pk).update(reference=result.reference[:100])
        call.reference = result.reference[:100]
    call.dial = result
    return call


def _parse_event(payload) -> tuple[uuid.UUID, str, datetime, dict]:
    if not isinstance(payload, dict):
        raise ValidationFailed("the event must be a JSON object", field="payload")
    try:
        call_id = uuid.UUID(str(payload.get("call_id")))
    except ValueError:
        raise ValidationFailed("call_id must be a UUID", field="call_id") from None
    kind = payload.get("event")
    if kind not in ("answered", "ended"):
        raise ValidationFailed("event must be answered or ended", field="event")
    at = _moment(payload.get("at"), "at") or timezone.now()
    return call_id, kind, at, payload


def _moment(value, field: str) -> datetime | None:
    if value in (None, ""):
        return None
    moment = parse_datetime(str(value))
    if moment is None or timezone.is_naive(moment):
        raise ValidationFailed(f"{field} must be an ISO 8601 time with its offset", field=field)
    return moment


def _duration(value) -> int:
    if value in (None, ""):
        return 0
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= MAX_CONTACT_SECONDS:
        raise ValidationFailed("duration_seconds must be a whole number of seconds", field="duration_seconds")
    return value


def _recording_url(value) -> str:
    url = str(value or "")
    if url and (not url.startswith(("https://", "http://")) or len(url) > 500):
        raise ValidationFailed("recording_url must be an http(s) URL", field="recording_url")
    return url


def call_event(payload: dict) -> Call:
    """Apply one event the phone system reported (its signature checked by the view):

        {"call_id": "<uuid>", "event": "answered", "at": "<ISO time>"}
        {"call_id": "<uuid>", "event": "ended", "at": "...", "duration_seconds": 42,
         "recording_url": "https://...", "answered_at": "..." (optional), "result": "busy" (optional)}

    answered: a placed call becomes answered. ended: a live call becomes ended, with its duration and
    recording. Unanswered, the attempt is logged at once (outcome no_answer, or busy when `result` says so)
    through contact_attempt_log, as the call's agent; answered, it waits for the agent's disposition
    (call_complete); already disposed, the attempt gets the duration and recording it lacked
    (contact_attempt_fill_measures). A repeated or late event changes nothing. Raises UnknownCall,
    ValidationFailed (a malformed event). A contact the ledger refuses (the case closed meanwhile, the
    policy) leaves the call ended and awaiting a disposition; the refusal is logged, not raised."""
    call_id, kind, at, data = _parse_event(payload)
    duration = _duration(data.get("duration_seconds")) if kind == "ended" else 0
    recording_url = _recording_url(data.get("recording_url")) if kind == "ended" else ""
    answered_at = _moment(data.get("answered_at"), "answered_at") if kind == "ended" else None
    with transaction.atomic():
        # The row lock makes each event apply once, whatever the PBX repeats or sends concurrently.
        call = Call.objects.select_for_update().filter(call_id=call_id).first()
        if call is None:
            raise UnknownCall(_("No such call."), rule="unknown_call")
        if kind == "answered":
            if call.status == CallStatus.PLACED:
                call.status, call.answered_at = CallStatus.ANSWERED, at
                call.save(update_fields=["status", "answered_at"])
            return call
        if call.status not in LIVE_STATUSES:
            return call
        call.status, call.ended_at = CallStatus.ENDED, at
        call.answered_at = call.answered_at or answered_at
        call.duration_seconds = duration
        call.recording_url = recording_url
        if call.answered_at is None:
            call.end_result = EndResult.BUSY if data.get("result") == "busy" else EndResult.NO_ANSWER
        call.save(
            update_fields=[
                "status",
                "ended_at",
                "answered_at",
                "duration_seconds",
                "recording_url",
                "end_result",
            ]
        )
        if call.attempt_id is not None:
            contact_attempt_fill_measures(
                attempt_id=call.attempt_id,
                duration_seconds=call.duration_seconds,
                recording_ref=_recording_ref(call) if call.recording_url else "",
                replaces=provisional_recording_ref(call),
            )
        elif call.answered_at is None:
            try:
                _log_attempt(call, actor=call.agent, outcome=call.end_result)
            except DomainError as error:
                # The call stays ended and awaiting a disposition: the agent logs it (or a supervisor,
                # with an override). A refusal is on the timeline already (POLICY_REFUSED).
                logger.warning(
                    "call %s ended unanswered; its attempt was refused: %s", call.call_id, error.rule
                )
    return call


def call_complete(
    *,
    call_id,
    actor,
    outcome: str,
    delinquency_reason: str = "",
    notes: str = "",
    person_reached: str = "",
    party_role: str = "",
    duration_seconds: int = 0,
    recording_ref: str = "",
) -> ContactAttempt:
    """The agent's disposition of their call: log it as the contact it was (contact_attempt_log, which
    judges it as every logged contact is - at the time the call was placed - and writes the CONTACT event),
    and link the attempt to the call.

    Only the agent who placed the call completes it, once. A call through the phone system brings its own
    duration and recording (`duration_seconds` and `recording_ref` are ignored): when its end has not been
    reported yet, the attempt gets the call's reference as the recording's, and the duration and the
    recording's address are filled in when the end arrives (call_event). A call through a link has only
    what the agent says; it is ended by its disposition. Raises UnknownCall, NotAllowed, InvalidTransition
    (recorded already), ValidationFailed, ContactNotAllowed (the refusal on the timeline)."""
    error: DomainError | None = None
    with transaction.atomic():
        call = (
            Call.objects.select_for_update().select_related("contact_point").filter(call_id=call_id).first()
        )
        if call is None:
            raise UnknownCall(_("No such call."), rule="unknown_call")
        if actor is None or call.agent_id != actor.pk:
            raise NotAllowed(_("Only the agent who placed the call records how it went."), rule="call_agent")
        if not call.awaits_disposition:
            raise InvalidTransition(_("This call is recorded already."), rule="call_recorded")
        if outcome not in CALL_OUTCOMES:
            raise ValidationFailed(_("Choose how the call went."), field="outcome")
        by_pbx = call.dialer == DialerKind.PBX
        try:
            attempt = _log_attempt(
                call,
                actor=actor,
                outcome=outcome,
                delinquency_reason=delinquency_reason,
                notes=notes,
                person_reached=person_reached,
                party_role=party_role,
                duration_seconds=0 if by_pbx else duration_seconds,
                recording_ref=_recording_ref(call) if by_pbx else recording_ref.strip(),
            )
        except DomainError as refused:
            error = refused  # raised once the refusal's event is committed
        else:
            if not by_pbx and call.status == CallStatus.PLACED:
                call.status, call.ended_at = CallStatus.ENDED, timezone.now()
                call.duration_seconds = attempt.duration_seconds
                call.save(update_fields=["status", "ended_at", "duration_seconds"])
    if error is not None:
        raise error
    return attempt


def _log_attempt(call: Call, *, actor, outcome: str, **fields) -> ContactAttempt:
    """Log `call` as a contact and link the attempt (in the caller's transaction, the call locked).
    contact_attempt_log writes a refusal's POLICY_REFUSED event in a savepoint before it raises: the
    caller catches the error, lets its transaction commit, then raises it."""
    data = ContactInput(
        channel=Channel.OUTBOUND_CALL,
        outcome=outcome,
        contact_point_id=call.contact_point_id,
        party_role=fields.pop("party_role", "") or call.contact_point.party_role,
        started_at=call.placed_at,
        duration_seconds=fields.pop("duration_seconds", 0) or call.duration_seconds,
        recording_ref=fields.pop("recording_ref", "") or _recording_ref(call),
        **fields,
    )
    attempt = contact_attempt_log(case_id=call.case_id, actor=actor, data=data)
    call.attempt = attempt
    call.save(update_fields=["attempt"])
    return attempt
