"""Legal holds and correction requests: the one entry point for pages, admin actions and the API.

Every operation is keyword-only with an explicit `actor`, checks the actor's role, locks what it
changes and raises core.exceptions on refusal.
"""

from __future__ import annotations

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop

from accounts.permissions import Capability, has_capability
from collections_app.access import with_visible_case
from collections_app.models import OPEN_STATES, Cardholder, Case, EventKind
from collections_app.services import event_write
from core.exceptions import ConcurrentUpdate, NotAllowed, ValidationFailed
from privacy.models import CorrectableField, CorrectionRequest, CorrectionStatus, LegalHold

# --- Legal holds --------------------------------------------------------------------------------------


def can_manage_legal_holds(user) -> bool:
    """Supervisors, legal reviewers and admins place and release legal holds."""
    return has_capability(user, Capability.SUPERVISE) or has_capability(user, Capability.LEGAL_REVIEW)


def _ensure_hold_manager(actor) -> None:
    if not can_manage_legal_holds(actor):
        raise NotAllowed(
            _("Only supervisors and legal reviewers place or release legal holds."), rule="legal_hold"
        )


def legal_hold_place(
    *, actor, reason: str, cardholder: Cardholder | None = None, case: Case | None = None
) -> LegalHold:
    """Stop any purge of a cardholder (or of the cardholder of one case) until the hold is released.
    A hold on a case also writes a note on the case's timeline."""
    _ensure_hold_manager(actor)
    reason = (reason or "").strip()
    if not reason:
        raise ValidationFailed(_("Say why the data must be kept."), field="reason", rule="legal_hold_reason")
    if (cardholder is None) == (case is None):
        raise ValidationFailed(_("A legal hold is on a cardholder or on a case."), rule="legal_hold_subject")
    with transaction.atomic():
        hold = LegalHold.objects.create(cardholder=cardholder, case=case, reason=reason, placed_by=actor)
        if case is not None:
            event_write(
                case=case,
                kind=EventKind.NOTE,
                actor=actor,
                reason=gettext_noop("Legal hold placed: the data of this case is kept until it is released"),
                details={"legal_hold": hold.pk},
            )
    return hold


def legal_hold_release(*, actor, hold: LegalHold, reason: str) -> LegalHold:
    _ensure_hold_manager(actor)
    reason = (reason or "").strip()
    if not reason:
        raise ValidationFailed(_("Say why the hold is released."), field="reason", rule="legal_hold_reason")
    with transaction.atomic():
        released = LegalHold.objects.filter(pk=hold.pk, released_at__isnull=True).update(
            released_at=timezone.now(), released_by=actor, release_reason=reason
        )
        if not released:
            raise ConcurrentUpdate(_("This legal hold was already released."), rule="legal_hold_released")
        hold.refresh_from_db()
        if hold.case_id is not None:
            event_write(
                case=hold.case,
                kind=EventKind.NOTE,
                actor=actor,
                reason=gettext_noop("Legal hold released"),
                details={"legal_hold": hold.pk},
            )
    return hold


# --- Correction requests ----------------------------------------------------------------------------


def can_request_correction(user, cardholder: Cardholder) -> bool:
    """Anyone who may work one of the cardholder's cases (or an admin)."""
    if has_capability(user, Capability.ADMINISTER):
        return True
    if not has_capability(user, Capability.WORK_CASES):
        return False
    return with_visible_case(
        user, Cardholder.objects.filter(pk=cardholder.pk), case_link="account__cardholder"
    ).exists()


def can_decide_corrections(user) -> bool:
    return has_capability(user, Capability.SUPERVISE)


def correction_request(
    *, actor, cardholder: Cardholder, field: str, requested_value: str, reason: str
) -> CorrectionRequest:
    """Ask for one of the cardholder's details to be corrected. The value it has now is kept on the
    request. One pending request per field and cardholder."""
    if not can_request_correction(actor, cardholder):
        raise NotAllowed(_("You may not work this cardholder's cases."), rule="correction_scope")
    if field not in CorrectableField.values:
        raise ValidationFailed(
            _("This detail cannot be corrected here."), field="field", rule="correction_field"
        )
    requested_value = (requested_value or "").strip()
    reason = (reason or "").strip()
    if not reason:
        raise ValidationFailed(_("Say why the detail is wrong."), field="reason", rule="correction_reason")
    if field == CorrectableField.NAME and not requested_value:
        raise ValidationFailed(_("A name cannot be empty."), field="requested_value", rule="correction_value")
    try:
        Cardholder._meta.get_field(field).clean(requested_value, cardholder)
    except DjangoValidationError as error:
        raise ValidationFailed(
            " ".join(error.messages), field="requested_value", rule="correction_value"
        ) from None
    current = getattr(cardholder, field) or ""
    if requested_value == current:
        raise ValidationFailed(
            _("The requested value is the value held now."), field="requested_value", rule="correction_same"
        )
    try:
        with transaction.atomic():
            request = CorrectionRequest(
                cardholder=cardholder,
                field=field,
                current_value=current,
                requested_value=requested_value,
                reason=reason,
                requested_by=actor,
            )
            request.full_clean(exclude=["cardholder", "requested_by"])
            request.save()
    except IntegrityError:
        raise ValidationFailed(
            _("A correction of this detail is already waiting for a decision."), rule="correction_pending"
        ) from None
    return request


def _lock_pending(request: CorrectionRequest, actor) -> CorrectionRequest:
    if not can_decide_corrections(actor):
        raise NotAllowed(_("Only a supervisor decides correction requests."), rule="correction_decide")
    locked = CorrectionRequest.objects.select_for_update().select_related("cardholder").get(pk=request.pk)
    if locked.status != CorrectionStatus.PENDING:
        raise ConcurrentUpdate(_("This request was already decided."), rule="correction_decided")
    if locked.requested_by_id == actor.pk:
        # Maker-checker: a second person confirms every change of a person's details.
        raise NotAllowed(_("You cannot decide a request you made."), rule="maker_checker")
    return locked


def correction_approve(*, actor, request: CorrectionRequest, reason: str = "") -> CorrectionRequest:
    """Change the cardholder's detail to the requested value (through Cardholder.save, which keeps the
    search hash), keep the value it had on the request, and write a note on the cardholder's open case
    (the values stay on the request, never in the timeline). Refused if the detail changed since the
    request was made."""
    with transaction.atomic():
        locked = _lock_pending(request, actor)
        cardholder = Cardholder.objects.select_for_update().get(pk=locked.cardholder_id)
        now_held = getattr(cardholder, locked.field) or ""
        if now_held != locked.current_value:
            raise ConcurrentUpdate(
                _("This detail has changed since the request was made; reject it and ask again."),
                rule="correction_stale",
            )
        setattr(cardholder, locked.field, locked.requested_value)
        try:  # the corrected field only: an old flaw elsewhere on the record does not block it
            Cardholder._meta.get_field(locked.field).clean(locked.requested_value, cardholder)
        except DjangoValidationError as error:
            raise ValidationFailed(" ".join(error.messages), rule="correction_value") from None
        cardholder.save(update_fields=[locked.field, "updated_at"])
        locked.status = CorrectionStatus.APPROVED
        locked.decided_by = actor
        locked.decided_at = timezone.now()
        locked.decision_reason = (reason or "").strip()
        locked.save(update_fields=["status", "decided_by", "decided_at", "decision_reason"])
        open_case = (
            Case.objects.filter(account__cardholder_id=cardholder.pk, state__in=OPEN_STATES)
            .order_by("-opened_at")
            .first()
        )
        if open_case is not None:
            event_write(
                case=open_case,
                kind=EventKind.NOTE,
                actor=actor,
                reason=gettext_noop("Cardholder details corrected"),
                details={
                    "correction": locked.pk,
                    "field": locked.field,
                    "requested_by": locked.requested_by_id,
                },
            )
    return locked


def correction_reject(*, actor, request: CorrectionRequest, reason: str) -> CorrectionRequest:
    reason = (reason or "").strip()
    if not reason:
        raise ValidationFailed(
            _("Say why the request is rejected."), field="reason", rule="correction_reason"
        )
    with transaction.atomic():
        locked = _lock_pending(request, actor)
        locked.status = CorrectionStatus.REJECTED
        locked.decided_by = actor
        locked.decided_at = timezone.now()
        locked.decision_reason = reason
        locked.save(update_fields=["status", "decided_by", "decided_at", "decision_reason"])
    return locked
