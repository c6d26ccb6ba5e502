"""Operations on one case: open, hold, release, close, notes, escalation requests, transitions by name,
revealing personal data. Each locks the case, checks the actor's reach, and writes the timeline."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from django.conf import settings
from django.db import transaction
from django.db.models import Case as SqlCase
from django.db.models import CharField, QuerySet, Value, When
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop

from accounts.permissions import Capability, has_capability
from collections_app.access import ensure_can_act
from collections_app.models import (
    AccessKind,
    AccessSource,
    Case,
    CaseEvent,
    CaseHold,
    CaseState,
    ContactPoint,
    CreditAccount,
    EventKind,
    HoldReason,
    ResolutionReason,
)
from collections_app.services import contactability
from collections_app.services.access import GivenReason, access_reason, access_record
from collections_app.services.kernel import (
    USER_TRANSITIONS,
    bulk_transition,
    bump_version,
    case_closed,
    cases_closed,
    cases_open_bulk,
    event_write,
    lock_case,
    next_case_reference,
    transition,
    transition_handler,
)
from core.exceptions import (
    InvalidTransition,
    NotAllowed,
    ValidationFailed,
)


def cases_open_for_delinquent_accounts(
    *, account_ids: Iterable[int] | QuerySet[CreditAccount] | None = None, now: datetime | None = None
) -> int:
    """Open a case for every delinquent account (overdue amount > 0 since a missed due date) that has no
    open case, among `account_ids` (ids or a queryset of accounts; None: all). An account whose debt was
    written off is not reopened by the sweep: charge-off is final until a person opens a case. Set-based
    (kernel.cases_open_bulk: two INSERT ... SELECT), then the new cases' contactability. Returns how many
    were opened."""
    now = now or timezone.now()
    if account_ids is None:
        accounts = CreditAccount.objects.all()
    elif isinstance(account_ids, QuerySet):
        accounts = account_ids
    else:
        accounts = CreditAccount.objects.filter(pk__in=list(account_ids))
    opened = cases_open_bulk(accounts, reason=gettext_noop("Account became delinquent"), now=now)
    if opened:
        contactability.contactability_recompute(
            # The cases just opened, not computed yet (the partial index case_contact_uncomputed_idx).
            Case.objects.filter(opened_at=now, state=CaseState.NEW, contactable_from__isnull=True),
            now=now,
        )
    return opened


def cured_resolution_sql():
    """The resolution reason of a case whose overdue amount is paid: paid in full when nothing is owed."""
    return SqlCase(
        When(account__balance=0, then=Value(ResolutionReason.PAID_IN_FULL)),
        default=Value(ResolutionReason.CURED),
        output_field=CharField(),
    )


def cases_resolve_cured(
    cases: QuerySet[Case], *, reason: str, now: datetime, resolution_reason: str | None = None
) -> list[int]:
    """Resolve, as the system, the cases of `cases` whose account has nothing overdue: one call of the
    case kernel (`bulk_transition`, "resolve": one statement moves every such case and writes its
    RESOLVED event with the resolution reason in the details, as `case_close` writes them), then their
    live repayment plans cancelled (`kernel.cases_closed`, as `case_close` does for one case), in one
    transaction. The resolution reason is `resolution_reason`, or by default paid in full when the
    account's balance is nil, else cured. A case whose state does not allow "resolve" is left alone.
    The same statements whether one case closes or a hundred thousand. Returns the ids resolved."""
    cured = cases.filter(account__overdue_amount=0)
    value = cured_resolution_sql() if resolution_reason is None else resolution_reason
    with transaction.atomic():
        resolved = bulk_transition(
            cured,
            "resolve",
            reason=reason,
            kind=EventKind.RESOLVED,
            values={"resolution_reason": value},
            details_fields=("resolution_reason",),
            now=now,
        )
        cases_closed(resolved, actor=None, reason=reason)
    return resolved


def case_open(*, account: CreditAccount, actor=None, reason: str = "") -> Case:
    """Open a case for one delinquent account. Refused if it already has an open case."""
    if not account.is_delinquent:
        raise ValidationFailed(_("The account is not overdue."), field="account", rule="not_delinquent")
    with transaction.atomic():
        CreditAccount.objects.select_for_update().get(pk=account.pk)
        if account.cases.filter(closed_at__isnull=True).exists():
            raise InvalidTransition(
                _("The account already has an open case."), rule="one_open_case_per_account"
            )
        case = Case.objects.create(
            account=account, reference=next_case_reference(account.pk, account.cases.count())
        )
        event_write(
            case=case,
            kind=EventKind.OPENED,
            actor=actor,
            to_state=CaseState.NEW,
            reason=reason or gettext_noop("Account became delinquent"),
        )
        contactability.contactability_refresh(case_ids=[case.pk])
    return case


def case_transition(
    *,
    case_id: int,
    name: str,
    actor,
    reason: str = "",
    expected_version: int | None = None,
    resolution_reason: str = "",
    court_reference: str = "",
) -> Case:
    """Run one of USER_TRANSITIONS on a case, as a person asked for it."""
    if name not in USER_TRANSITIONS:
        raise InvalidTransition(
            _("'%(name)s' is not a transition that can be asked for.") % {"name": name}, rule="state_machine"
        )
    if name == "release_hold":
        return case_release_hold(case_id=case_id, actor=actor, note=reason, expected_version=expected_version)
    handler = transition_handler(name)
    if handler is not None:  # a transition another app carries out (legal: referral, limitation check)
        return handler(
            case_id=case_id,
            actor=actor,
            reason=reason,
            expected_version=expected_version,
            resolution_reason=resolution_reason,
            court_reference=court_reference,
        )
    if name == "resolve":
        return case_close(
            case_id=case_id,
            actor=actor,
            write_off=False,
            reason=reason,
            resolution_reason=resolution_reason,
            expected_version=expected_version,
        )
    with transaction.atomic():
        case = lock_case(case_id, expected_version=expected_version)
        ensure_can_act(actor, case)
        transition(case, name, actor=actor, reason=reason)
    return case


def available_transitions(case: Case, user) -> list[str]:
    """The transitions this user may ask for on this case now (the buttons a page shows)."""
    return sorted(
        t.name for t in case.get_available_user_state_transitions(user) if t.name in USER_TRANSITIONS
    )


def note_add(*, case_id: int, actor, text: str) -> CaseEvent:
    """A note on the case's timeline (EventKind.NOTE). Refused (ValidationFailed) when empty or longer
    than COLLECTIONS_NOTE_MAX_LENGTH characters: the timeline is read by people, a megabyte is not a note."""
    text = (text or "").strip()
    if not text:
        raise ValidationFailed(_("A note cannot be empty."), field="text")
    limit = settings.COLLECTIONS_NOTE_MAX_LENGTH
    if len(text) > limit:
        raise ValidationFailed(
            _("A note may be at most %(limit)s characters long.") % {"limit": limit},
            field="text",
            rule="note_too_long",
            details={"max_length": limit, "length": len(text)},
        )
    with transaction.atomic():
        case = lock_case(case_id)
        ensure_can_act(actor, case)
        bump_version(case)
        return event_write(case=case, kind=EventKind.NOTE, actor=actor, reason=text)


def case_hold(
    *, case_id: int, actor, reason: str, note: str = "", expected_version: int | None = None
) -> CaseHold:
    """Put a case on hold (dispute, hardship, cease-communication, bankruptcy ...)."""
    if reason not in HoldReason.values:
        raise ValidationFailed(_("Unknown hold reason."), field="reason")
    with transaction.atomic():
        case = lock_case(case_id, expected_version=expected_version)
        ensure_can_act(actor, case)
        transition(
            case, "hold", actor=actor, kind=EventKind.HOLD, reason=note, details={"hold_reason": reason}
        )
        hold = CaseHold.objects.create(case=case, reason=reason, note=note, opened_by=actor)
        contactability.contactability_refresh(case_ids=[case.pk])
        return hold


def case_release_hold(*, case_id: int, actor, note: str = "", expected_version: int | None = None) -> Case:
    with transaction.atomic():
        case = lock_case(case_id, expected_version=expected_version)
        ensure_can_act(actor, case)
        hold = case.holds.select_for_update().filter(released_at__isnull=True).first()
        transition(
            case,
            "release_hold",
            actor=actor,
            kind=EventKind.HOLD_RELEASED,
            reason=note,
            details={"hold_reason": hold.reason if hold else ""},
        )
        if hold:
            hold.released_at = timezone.now()
            hold.released_by = actor
            hold.release_note = note
            hold.save(update_fields=["released_at", "released_by", "release_note"])
        contactability.contactability_refresh(case_ids=[case.pk])
    return case


def escalation_request(*, case_id: int, actor, target: str, reason: str) -> CaseEvent:
    """An agent asks a supervisor (or legal, through the supervisor) to escalate. The request waits in
    the supervisor's inbox; nothing changes state until they act."""
    if target not in ("supervisor", "legal"):
        raise ValidationFailed(_("Escalate to 'supervisor' or 'legal'."), field="target")
    if not (reason or "").strip():
        raise ValidationFailed(_("Say why the case should be escalated."), field="reason")
    with transaction.atomic():
        case = lock_case(case_id)
        ensure_can_act(actor, case)
        if not case.is_open:
            raise InvalidTransition(_("The case is closed."), rule="case_closed")
        bump_version(case)
        return event_write(
            case=case,
            kind=EventKind.ESCALATION_REQUESTED,
            actor=actor,
            reason=reason,
            details={"target": target},
        )


def case_close(
    *,
    case_id: int,
    actor,
    write_off: bool,
    resolution_reason: str,
    reason: str = "",
    expected_version: int | None = None,
    authority_request_id: int | None = None,
) -> Case:
    """Resolve or write off a case, with a resolution reason (DESIGN section 3). A write-off runs only
    for an approved authority request (`authority_request_id`; the kernel checks it): it is called by
    authority.services when a write-off request has its approvals, inside that transaction."""
    if resolution_reason not in ResolutionReason.values:
        raise ValidationFailed(_("Choose a resolution reason."), field="resolution_reason")
    with transaction.atomic():
        case = lock_case(case_id, expected_version=expected_version)
        ensure_can_act(actor, case)
        case.resolution_reason = resolution_reason
        transition(
            case,
            "write_off" if write_off else "resolve",
            actor=actor,
            kind=EventKind.WRITTEN_OFF if write_off else EventKind.RESOLVED,
            reason=reason,
            details={"resolution_reason": resolution_reason},
            authority_request_id=authority_request_id,
        )
        case_closed(case, actor=actor, reason=reason or str(ResolutionReason(resolution_reason).label))
    return case


REVEALABLE_FIELDS = ("national_id", "email", "address", "phone", "card_number")


def pii_reveal(
    *,
    case_id: int,
    actor,
    field: str,
    reason: GivenReason | None,
    contact_point_id: int | None = None,
    kind: str = AccessKind.REVEAL,
    source: str = AccessSource.PAGE,
    request_id: str = "",
) -> str:
    """Return one unmasked value of the case's cardholder (or its account's card number), log the reveal
    on the timeline (PII_REVEAL) and record the look with its reason (AccessRecord, services.access) in
    the same transaction.
    Agents may reveal on a case they are working (lease or assignment); supervisors and admins on
    any case they can see; legal reviewers on cases in legal review. Without a reason code
    (services.access.access_reason) nothing is revealed."""
    if field not in REVEALABLE_FIELDS:
        raise ValidationFailed(_("That field cannot be revealed."), field="field")
    if not has_capability(actor, Capability.REVEAL_PII):
        raise NotAllowed(_("Your role may not reveal personal data."), rule="reveal_pii")
    if reason is None:
        reason = access_reason(None)  # raises AccessReasonMissing: nothing is revealed without a reason
    with transaction.atomic():
        case = lock_case(case_id)
        ensure_can_act(actor, case)
        working = actor.pk in (case.lease_owner_id, case.assigned_agent_id)
        # Legal reviewers reach cases in legal review only (ensure_can_act) and reveal on any of them.
        if not (
            working
            or has_capability(actor, Capability.SUPERVISE)
            or has_capability(actor, Capability.LEGAL_REVIEW)
        ):
            raise NotAllowed(
                _("Take the case (Next case) before revealing its personal data."), rule="reveal_pii"
            )
        holder = case.account.cardholder
        if field == "phone":
            point = ContactPoint.objects.filter(pk=contact_point_id, cardholder=holder).first()
            if point is None:
                raise ValidationFailed(_("No such number for this cardholder."), field="contact_point")
            value = point.value
        elif field == "card_number":
            value = case.account.card_number
        else:
            value = getattr(holder, field)
        event_write(
            case=case,
            kind=EventKind.PII_REVEAL,
            actor=actor,
            reason=reason.text,
            details={"field": field, "contact_point": contact_point_id, "reason": reason.code},
        )
        access_record(
            actor=actor,
            kind=kind,
            source=source,
            reason=reason,
            cardholder_id=holder.pk,
            case_id=case.pk,
            what=field,
            request_id=request_id,
        )
    return value
