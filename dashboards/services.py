"""The supervisor's answers to inbox items. An item is a case event waiting for a supervisor:

- an escalation request (ESCALATION_REQUESTED, from an agent or an escalation rule);
- a refused contact whose rule a supervisor may override (POLICY_REFUSED of a frequency limit): the
  agent needs a supervisor to log the contact over the refusal, with a reason, from the case page.

Answering writes an InboxClosure (the item leaves the inbox) and a note on the case timeline, in one
transaction with the case row locked.
"""

from __future__ import annotations

from django.db import IntegrityError, transaction
from django.utils.translation import gettext as _

from accounts.permissions import Capability, has_capability
from collections_app import services
from collections_app.access import ensure_can_act
from collections_app.models import CaseEvent, EventKind
from core.exceptions import InvalidTransition, NotAllowed, ValidationFailed
from dashboards.models import InboxClosure, InboxDecision
from legal.services import legal_refer

INBOX_KINDS = (EventKind.ESCALATION_REQUESTED, EventKind.POLICY_REFUSED)
# Timeline texts are written in English, like every service's (the page translates the event kind).
ANSWERS = {InboxDecision.DECLINED: "declined", InboxDecision.DONE: "handled"}


def _inbox_event(event_id: int, actor) -> CaseEvent:
    if not has_capability(actor, Capability.SUPERVISE):
        raise NotAllowed(_("Only a supervisor answers the inbox."), rule=str(Capability.SUPERVISE))
    event = (
        CaseEvent.objects.select_related("case__queue", "case__assigned_agent").filter(pk=event_id).first()
    )
    if event is None or event.kind not in INBOX_KINDS:
        raise ValidationFailed(_("No such inbox item."), rule="not_an_inbox_item")
    ensure_can_act(actor, event.case)
    if event.kind == EventKind.ESCALATION_REQUESTED and event.actor_id == actor.pk:
        # Maker-checker: a supervisor who asked for an escalation does not grant or decline it.
        raise NotAllowed(_("Someone else answers a request you made yourself."), rule="own_request")
    return event


def _close(event: CaseEvent, *, actor, decision: str, note: str) -> InboxClosure:
    try:
        with transaction.atomic():
            return InboxClosure.objects.create(event=event, decision=decision, note=note, closed_by=actor)
    except IntegrityError:
        raise InvalidTransition(
            _("Someone has answered this item already."), rule="inbox_item_closed"
        ) from None


def inbox_escalate(*, event_id: int, actor, reason: str) -> InboxClosure:
    """Grant an escalation request: the case goes to legal review (legal.services.legal_refer,
    which writes the ESCALATED event and the referral) and the request leaves the inbox."""
    event = _inbox_event(event_id, actor)
    if event.kind != EventKind.ESCALATION_REQUESTED:
        raise ValidationFailed(
            _("Only an escalation request can be escalated."), rule="not_an_escalation_request"
        )
    reason = (reason or "").strip() or event.reason
    with transaction.atomic():
        legal_refer(case_id=event.case_id, actor=actor, reason=reason)
        return _close(event, actor=actor, decision=InboxDecision.ESCALATED, note=reason)


def inbox_close(*, event_id: int, actor, decision: str, note: str) -> InboxClosure:
    """Decline an escalation request, or mark an item handled, with a note. Writes a NOTE event on the
    case timeline naming the request it answers."""
    if decision not in (InboxDecision.DECLINED, InboxDecision.DONE):
        raise ValidationFailed(_("Unknown answer."), field="decision")
    note = (note or "").strip()
    if decision == InboxDecision.DECLINED and not note:
        raise ValidationFailed(_("Say why the request is declined."), field="note", rule="reason_required")
    event = _inbox_event(event_id, actor)
    with transaction.atomic():
        case = services.lock_case(event.case_id)
        closure = _close(event, actor=actor, decision=decision, note=note)
        label = "Escalation request" if event.kind == EventKind.ESCALATION_REQUESTED else "Refused contact"
        services.event_write(
            case=case,
            kind=EventKind.NOTE,
            actor=actor,
            reason=f"{label} {ANSWERS[decision]}" + (f": {note}" if note else ""),
            details={"inbox_item": event.pk, "decision": decision},
        )
        case.version += 1
        case.save(update_fields=["version"])
    return closure
