"""Legal review: the limitation date, the evidence of effective collection, the case package, the
reviewer's decisions and the package export for outside counsel.

Rules followed (see shared/reference/compliance-rules.md):
- CN-14 (民法典 Art. 188, 195): the limitation period is COLLECTIONS_LIMITATION_YEARS (3) years. It runs
  from the first missed due date and starts again on each payment and each proven demand (an effective
  collection). Legal escalation is refused past the limitation date and warned about when fewer than
  LIMITATION_WARNING_DAYS (90) days are left.
- CN-12 (两高 2018 interpretation, Art. 6-7): a collection is "effective" when its delivery is proven: a
  recorded conversation with the debtor, a delivery receipt for an SMS or e-mail, a signed return for a
  letter; made after the debt fell due. A malicious-overdraft referral needs two effective collections at
  least 30 days apart, more than 3 months without repayment after the second, and a principal of at
  least COLLECTIONS_MALICIOUS_OVERDRAFT_THRESHOLD (50,000 CNY).

Each rule exists twice: in Python for one case (the package page, the refusal message) and in SQL for
the nightly escalation run (`limitation_restart_sql`, `effective_contact_q`); tests hold them equal.
"""

from __future__ import annotations

import calendar
import csv
import hashlib
import io
import zipfile
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

from django.conf import settings
from django.db import transaction
from django.db.models import Exists, F, Max, OuterRef, Q, QuerySet, Subquery
from django.db.models.functions import Coalesce, Greatest, TruncDate
from django.utils import formats, timezone
from django.utils.translation import get_language, gettext_noop
from django.utils.translation import gettext as _

from accounts.permissions import Capability, has_capability
from authority import services as authority
from authority.models import ActionKind
from collections_app.access import cases_visible_to, ensure_can_act
from collections_app.models import (
    LEGAL_STATES,
    RIGHT_PARTY_OUTCOMES,
    AccessKind,
    AccessSource,
    Case,
    CaseEvent,
    CaseHold,
    CaseState,
    Channel,
    ContactAttempt,
    CreditAccount,
    EventKind,
    HoldReason,
    Outcome,
    PartyRole,
    Payment,
    PromiseToPay,
    ResolutionReason,
)
from collections_app.services.access import GivenReason, access_reason, access_record
from collections_app.services.kernel import (
    bulk_transition,
    bump_version,
    event_write,
    lock_case,
    register_transition_handler,
    transition,
)
from core import chains
from core.clock import bank_date, bank_today, bank_zone
from core.exceptions import InvalidTransition, NotAllowed, ValidationFailed
from core.masking import mask_contact_value
from core.money import ZERO, format_money
from legal.models import LegalDecision, LegalReferral
from repayment_plans import services as plan_services
from repayment_plans.calculator import PlanKind
from repayment_plans.models import RepaymentPlan

LIMITATION_WARNING_DAYS = 90
EFFECTIVE_SPACING_DAYS = 30
REFERRAL_WAIT_MONTHS = 3

# Contacts whose delivery a recording proves, and those a receipt proves.
RECORDED_CHANNELS = (Channel.OUTBOUND_CALL, Channel.INBOUND_CALL, Channel.VISIT)
RECEIPT_CHANNELS = (Channel.SMS, Channel.EMAIL, Channel.LETTER)
DEBTOR_ROLES = (PartyRole.DEBTOR, "")


def _day(value) -> str:
    """A date in a message or a checklist on screen, in the active language's format for lists and
    messages (a printed document, legal.pdf, writes the long one)."""
    return formats.date_format(value, "SHORT_DATE_FORMAT") if value else "—"


def limitation_years() -> int:
    return int(settings.COLLECTIONS_LIMITATION_YEARS)


def malicious_overdraft_threshold() -> Decimal:
    return Decimal(str(settings.COLLECTIONS_MALICIOUS_OVERDRAFT_THRESHOLD))


# --- Date arithmetic (pure) ------------------------------------------------------------------------


def add_months(day: date, months: int) -> date:
    """The same day `months` later; the 31st of a shorter month, or 29 February, falls back to its end."""
    index = day.year * 12 + day.month - 1 + months
    year, month = divmod(index, 12)
    month += 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def add_years(day: date, years: int) -> date:
    return add_months(day, 12 * years)


def limitation_date_for(restart: date | None, *, years: int | None = None) -> date | None:
    """The last day on which the claim is still within the limitation period."""
    if restart is None:
        return None
    return add_years(restart, limitation_years() if years is None else years)


def limitation_cutoff(as_of: date, *, years: int | None = None) -> date:
    """The earliest restart date whose limitation date is not before `as_of`: a debt is past its
    limitation date exactly when its restart date is earlier than this (the SQL side of the rule)."""
    years = limitation_years() if years is None else years
    cutoff = add_years(as_of, -years)
    # add_years clamps 29 February, so the inverse can land a day early; step forward until exact.
    while add_years(cutoff, years) < as_of:
        cutoff += timedelta(days=1)
    return cutoff


@dataclass(frozen=True)
class Limitation:
    restart: date | None  # the day the period last started
    restart_cause: str  # "first_missed_due_date" | "payment" | "effective_collection" | ""
    limitation_date: date | None
    as_of: date

    @property
    def days_left(self) -> int | None:
        return None if self.limitation_date is None else (self.limitation_date - self.as_of).days

    @property
    def expired(self) -> bool:
        return self.limitation_date is not None and self.as_of > self.limitation_date

    @property
    def warning(self) -> bool:
        """Fewer than LIMITATION_WARNING_DAYS left (and not yet past)."""
        return not self.expired and self.days_left is not None and self.days_left < LIMITATION_WARNING_DAYS

    @property
    def cause_label(self) -> str:
        return {
            "first_missed_due_date": _("first missed due date"),
            "payment": _("payment"),
            "effective_collection": _("effective collection (proven demand)"),
        }.get(self.restart_cause, "")


def limitation_from(
    *,
    first_missed: date | None,
    last_payment: date | None,
    last_effective: date | None,
    as_of: date,
    years: int | None = None,
) -> Limitation:
    """The limitation date from the three events that start the period (pure)."""
    if first_missed is None:
        return Limitation(None, "", None, as_of)
    restart, cause = first_missed, "first_missed_due_date"
    for day, why in ((last_payment, "payment"), (last_effective, "effective_collection")):
        if day is not None and day > restart:
            restart, cause = day, why
    return Limitation(restart, cause, limitation_date_for(restart, years=years), as_of)


# --- Effective collection (CN-12) -----------------------------------------------------------------


def effective_contact_q() -> Q:
    """The SQL twin of `effective_verdict` (less the "after the due date" test, which the limitation
    arithmetic makes moot: a demand before the due date never moves the restart date)."""
    recorded = Q(
        channel__in=RECORDED_CHANNELS, outcome__in=RIGHT_PARTY_OUTCOMES, party_role__in=DEBTOR_ROLES
    ) & ~Q(recording_ref="")
    receipt = Q(channel__in=RECEIPT_CHANNELS, outcome=Outcome.DELIVERED)
    return (recorded | receipt) & Q(corrections__isnull=True)


def effective_verdict(contact: ContactAttempt, *, first_missed: date | None, corrected: set[int]) -> tuple:
    """(effective?, why) for one contact: the evidence column of the package and of the export."""
    if contact.pk in corrected:
        return False, _("corrected by a later entry")
    if first_missed is None or bank_date(contact.started_at) <= first_missed:
        return False, _("made before the debt was overdue")
    if contact.channel in RECORDED_CHANNELS:
        if contact.outcome not in RIGHT_PARTY_OUTCOMES or contact.party_role not in DEBTOR_ROLES:
            return False, _("no conversation with the debtor")
        if not contact.recording_ref:
            return False, _("no recording")
        return True, _("recorded conversation with the debtor (%(ref)s)") % {"ref": contact.recording_ref}
    if contact.channel in RECEIPT_CHANNELS:
        if contact.outcome != Outcome.DELIVERED:
            return False, _("no signed return") if contact.channel == Channel.LETTER else _(
                "no delivery receipt"
            )
        return True, _("signed return") if contact.channel == Channel.LETTER else _("delivery receipt")
    return False, _("delivery not provable for this channel")


@dataclass
class ContactEvidence:
    contact: ContactAttempt
    effective: bool
    why: str


@dataclass
class OverdraftEvidence:
    """The malicious-overdraft checklist (CN-12): each line is (label, met?, detail)."""

    first: date | None
    second: date | None
    counted_since: date | None  # only effective collections after the last payment count
    principal: Decimal
    threshold: Decimal
    as_of: date
    checks: list[tuple[str, bool, str]] = field(default_factory=list)

    @property
    def ready(self) -> bool:
        return bool(self.checks) and all(ok for _label, ok, _detail in self.checks)

    @property
    def wait_until(self) -> date | None:
        return None if self.second is None else add_months(self.second, REFERRAL_WAIT_MONTHS)


def overdraft_evidence(
    *,
    effective_days: list[date],
    payment_days: list[date],
    principal: Decimal,
    as_of: date,
    threshold: Decimal | None = None,
    currency: str = "",
) -> OverdraftEvidence:
    """Two effective collections at least EFFECTIVE_SPACING_DAYS apart, counted after the last payment;
    more than REFERRAL_WAIT_MONTHS since the second with no payment; principal >= threshold. Pure."""
    threshold = malicious_overdraft_threshold() if threshold is None else threshold
    last_payment = max(payment_days) if payment_days else None
    days = sorted(d for d in effective_days if last_payment is None or d > last_payment)
    first = days[0] if days else None
    second = next((d for d in days if first and (d - first).days >= EFFECTIVE_SPACING_DAYS), None)
    evidence = OverdraftEvidence(first, second, last_payment, principal, threshold, as_of)
    if second is not None:
        spacing = _("%(first)s and %(second)s") % {"first": _day(first), "second": _day(second)}
    elif first is not None:
        spacing = _("one so far (%(first)s)") % {"first": _day(first)}
    elif last_payment is not None:
        spacing = _("none since the last payment (%(day)s)") % {"day": _day(last_payment)}
    else:
        spacing = _("none yet")
    evidence.checks.append(
        (
            _("Two effective collections at least %(n)s days apart") % {"n": EFFECTIVE_SPACING_DAYS},
            second is not None,
            spacing,
        )
    )
    waited = second is not None and as_of > evidence.wait_until
    if second is None:
        wait = "—"
    elif waited:
        wait = _("since %(day)s") % {"day": _day(evidence.wait_until + timedelta(days=1))}
    else:
        wait = _("from %(day)s") % {"day": _day(evidence.wait_until + timedelta(days=1))}
    evidence.checks.append(
        (
            _("More than %(n)s months without repayment after the second") % {"n": REFERRAL_WAIT_MONTHS},
            waited,
            wait,
        )
    )
    evidence.checks.append(
        (
            _("Principal at least %(threshold)s")
            % {"threshold": format_money(threshold, currency, get_language())},
            principal >= threshold,
            format_money(principal, currency, get_language()),
        )
    )
    return evidence


# --- The same rules in SQL, over cases ---------------------------------------------------------------


def limitation_restart_sql():
    """The restart date of each case's debt (see `limitation_from`), as one expression over Case."""
    first = F("account__first_missed_due_date")
    last_payment = Subquery(
        Payment.objects.filter(account_id=OuterRef("account_id"))
        .order_by()
        .values("account_id")
        .annotate(last=Max(TruncDate("paid_at", tzinfo=bank_zone())))
        .values("last")[:1]
    )
    last_effective = Subquery(
        ContactAttempt.objects.filter(effective_contact_q(), case__account_id=OuterRef("account_id"))
        .order_by()
        .values("case__account_id")
        .annotate(last=Max(TruncDate("started_at", tzinfo=bank_zone())))
        .values("last")[:1]
    )
    # Coalesce each to the first missed date: SQLite's GREATEST is NULL when any argument is.
    return Greatest(first, Coalesce(last_payment, first), Coalesce(last_effective, first))


def open_dispute_sql():
    return Exists(
        CaseHold.objects.filter(case_id=OuterRef("pk"), released_at__isnull=True, reason=HoldReason.DISPUTE)
    )


def with_limitation(queryset: QuerySet[Case]) -> QuerySet[Case]:
    return queryset.annotate(limitation_restart=limitation_restart_sql())


def limitation_expired_q(as_of: date) -> Q:
    """Over a queryset annotated by `with_limitation`."""
    return Q(limitation_restart__lt=limitation_cutoff(as_of))


# --- One case ---------------------------------------------------------------------------------------


def _last_payment_day(account: CreditAccount) -> date | None:
    last = account.payments.order_by("-paid_at").values_list("paid_at", flat=True).first()
    return bank_date(last) if last else None


def effective_contacts(account: CreditAccount) -> list[ContactEvidence]:
    """Every contact on the account's cases, oldest first, with its evidence verdict."""
    contacts = list(
        ContactAttempt.objects.filter(case__account=account)
        .select_related("case", "contact_point", "agent")
        .order_by("started_at", "pk")
    )
    corrected = {c.corrects_id for c in contacts if c.corrects_id}
    first_missed = account.first_missed_due_date
    rows = []
    for contact in contacts:
        ok, why = effective_verdict(contact, first_missed=first_missed, corrected=corrected)
        rows.append(ContactEvidence(contact, ok, why))
    return rows


def limitation_for(account: CreditAccount, *, as_of: date, evidence: list[ContactEvidence] | None = None):
    evidence = effective_contacts(account) if evidence is None else evidence
    effective = [bank_date(row.contact.started_at) for row in evidence if row.effective]
    return limitation_from(
        first_missed=account.first_missed_due_date,
        last_payment=_last_payment_day(account),
        last_effective=max(effective) if effective else None,
        as_of=as_of,
    )


def escalation_refusal(case: Case, *, as_of: date) -> tuple[str, str] | None:
    """Why this case may not go to legal review now: (code, message), or None. The codes are those of
    escalation_models.SkipReason."""
    if CaseHold.objects.filter(case=case, released_at__isnull=True, reason=HoldReason.DISPUTE).exists():
        return "open_dispute", _("Legal escalation is refused while a dispute is open.")
    limitation = limitation_for(case.account, as_of=as_of)
    if limitation.expired:
        return "limitation_expired", _(
            "Legal escalation is refused: the debt is past its limitation date (%(date)s; the period last "
            "started on %(restart)s, %(cause)s)."
        ) % {
            "date": _day(limitation.limitation_date),
            "restart": _day(limitation.restart),
            "cause": limitation.cause_label,
        }
    if case.state == CaseState.ON_HOLD:
        return "on_hold", _("Legal escalation is refused while the case is on hold; release the hold first.")
    return None


# --- Operations ---------------------------------------------------------------------------------------


def legal_refer(
    *, case_id: int, actor, reason: str, as_of: date | None = None, expected_version: int | None = None
) -> Case:
    """The one way a person moves a case to legal review - the supervisor's inbox, the API, the admin
    action and the demo all call it. Refused (InvalidTransition, rule open_dispute / limitation_expired /
    on_hold / state_machine) with the reason; NotAllowed without the escalate capability. Writes an
    ESCALATED event and a referral carrying the limitation date as computed now. The rule engine's bulk
    path (`cases_escalate_to_legal_bulk`) applies the same refusals in SQL and records the same referral."""
    reason = (reason or "").strip()
    if not reason:
        raise ValidationFailed(
            _("Say why the case goes to legal review."), field="reason", rule="reason_required"
        )
    as_of = as_of or bank_today()
    with transaction.atomic():
        case = lock_case(case_id, expected_version=expected_version)
        ensure_can_act(actor, case)
        refusal = escalation_refusal(case, as_of=as_of)
        if refusal is not None:
            raise InvalidTransition(refusal[1], rule=refusal[0])
        transition(case, "escalate_to_legal", actor=actor, kind=EventKind.ESCALATED, reason=reason)
        LegalReferral.objects.create(
            case=case,
            reason=reason,
            referred_by=actor,
            limitation_date=limitation_for(case.account, as_of=as_of).limitation_date,
        )
    return case


def cases_escalate_to_legal_bulk(
    *, rows: list[tuple[int, str, date | None]], reason: str, rule, now: datetime
) -> list[int]:
    """Move locked cases to legal review, set-based: one compare-and-swap UPDATE, then the referrals and
    the timeline events in bulk. `rows` are (case id, current state, limitation restart date) read under
    the row locks the caller holds. Returns the ids moved (a case whose state changed meanwhile is not)."""
    # bulk_transition moves only the cases whose state allows escalate_to_legal (not on hold, not in legal).
    by_id = {pk: (state, restart) for pk, state, restart in rows}
    if not by_id:
        return []
    details = {"rule": rule.name, "rule_id": rule.pk, "rule_version": rule.version}
    moved = bulk_transition(
        Case.objects.filter(pk__in=list(by_id)),
        "escalate_to_legal",
        reason=reason,
        kind=EventKind.ESCALATED,
        details=details,
        now=now,
    )
    LegalReferral.objects.bulk_create(
        [
            LegalReferral(
                case_id=pk,
                reason=reason,
                rule_name=rule.name,
                rule=rule,
                referred_at=now,
                limitation_date=limitation_date_for(by_id[pk][1]),
            )
            for pk in moved
        ],
        batch_size=1000,
    )
    return moved


def _legal_reviewer(actor) -> None:
    if not has_capability(actor, Capability.LEGAL_REVIEW):
        raise NotAllowed(_("Only legal reviewers decide on cases in legal review."), rule="legal_review")


def own_referral(actor, case: Case) -> bool:
    """Whether `actor` made the case's pending referral to legal (maker-checker: they do not decide on it;
    only an administrator holds both capabilities, so this is the administrator referring and deciding)."""
    if actor is None:
        return False
    pending = LegalReferral.objects.filter(case=case, decision=LegalDecision.PENDING)
    return pending.filter(referred_by_id=actor.pk).exists()


def _ensure_not_own_referral(actor, case: Case) -> None:
    if own_referral(actor, case):
        raise NotAllowed(
            _("Someone else decides on a case you referred to legal yourself."), rule="own_request"
        )


DECISION_TRANSITIONS = {
    LegalDecision.LITIGATION: "approve_litigation",
    LegalDecision.RETURNED: "return_from_legal",
    LegalDecision.WRITE_OFF: "write_off",
}


def legal_decide(
    *,
    case_id: int,
    actor,
    decision: str,
    note: str = "",
    court_reference: str = "",
    as_of: date | None = None,
    expected_version: int | None = None,
) -> Case:
    """The one path for a legal reviewer's decision on a case in legal review - the legal page, the API,
    the admin action and the transitions by name all call it. Approve litigation (court or agency
    reference required; refused past the limitation date), return to collections (note required) or
    ask for a write-off (reason required): nobody writes a debt off alone, so the write-off becomes an
    authority request (authority.services) that the approvers of its amount decide; the case stays in
    legal review and the referral pending until it is applied (`referral_decide_written_off`).
    Settlements go through `legal_propose_settlement`. Writes a LEGAL_DECISION event and decides the
    pending referral (a write-off: an "authority_request" event)."""
    _legal_reviewer(actor)
    note, court_reference = (note or "").strip(), (court_reference or "").strip()
    if decision == LegalDecision.SETTLEMENT:
        raise ValidationFailed(
            _("Propose the settlement's terms."), field="decision", rule="settlement_terms"
        )
    if decision not in DECISION_TRANSITIONS:
        raise ValidationFailed(_("Unknown legal decision."), field="decision")
    if decision == LegalDecision.LITIGATION and not court_reference:
        raise ValidationFailed(
            _("Litigation needs the court or agency reference."),
            field="court_reference",
            rule="reference_required",
        )
    if decision in (LegalDecision.RETURNED, LegalDecision.WRITE_OFF) and not note:
        raise ValidationFailed(_("Say why."), field="note", rule="reason_required")
    as_of = as_of or bank_today()
    with transaction.atomic():
        case = lock_case(case_id, expected_version=expected_version)
        ensure_can_act(actor, case)
        if case.state != CaseState.LEGAL_REVIEW:
            raise InvalidTransition(_("The case is not in legal review."), rule="state_machine")
        _ensure_not_own_referral(actor, case)
        if decision == LegalDecision.LITIGATION:
            limitation = limitation_for(case.account, as_of=as_of)
            if limitation.expired:
                raise InvalidTransition(
                    _("Litigation is refused: the debt is past its limitation date (%(date)s).")
                    % {"date": _day(limitation.limitation_date)},
                    rule="limitation_expired",
                )
        if decision == LegalDecision.WRITE_OFF:
            authority.request_create(
                case_id=case.pk,
                actor=actor,
                kind=ActionKind.WRITE_OFF,
                reason=note,
                resolution_reason=ResolutionReason.UNCOLLECTABLE,
            )
            return case
        transition(
            case,
            DECISION_TRANSITIONS[decision],
            actor=actor,
            kind=EventKind.LEGAL_DECISION,
            reason=note,
            details={"decision": decision, "court_reference": court_reference},
        )
        LegalReferral.objects.filter(case=case, decision=LegalDecision.PENDING).update(
            decision=decision,
            reviewer=actor,
            decided_at=timezone.now(),
            decision_note=note,
            court_reference=court_reference,
        )
    return case


def referral_decide_written_off(*, case: Case, actor, reason: str) -> None:
    """A case in legal review has been written off (an approved authority request): its pending referral
    is decided as a write-off by the approver. For the kernel's on_case_closed, inside its transaction."""
    if case.state != CaseState.WRITTEN_OFF:
        return
    # The legal reviewer who asked for it decided; the approvers agreed (their names are on the request).
    asked = authority.request_being_applied(case, kind=ActionKind.WRITE_OFF)
    LegalReferral.objects.filter(case=case, decision=LegalDecision.PENDING).update(
        decision=LegalDecision.WRITE_OFF,
        reviewer=asked.requested_by if asked else actor,
        decided_at=timezone.now(),
        decision_note=asked.reason if asked else reason,
    )


def _decide_by_name(decision: str):
    def run(
        *, case_id: int, actor, reason: str, expected_version=None, court_reference: str = "", **_ignored
    ):
        return legal_decide(
            case_id=case_id,
            actor=actor,
            decision=decision,
            note=reason,
            court_reference=court_reference,
            expected_version=expected_version,
        )

    return run


def _refer_by_name(*, case_id: int, actor, reason: str, expected_version=None, **_ignored):
    return legal_refer(case_id=case_id, actor=actor, reason=reason, expected_version=expected_version)


def register_transitions() -> None:
    """The case transitions legal carries out when they are asked for by name (API, case page, admin):
    called once from LegalConfig.ready()."""
    register_transition_handler("escalate_to_legal", _refer_by_name)
    register_transition_handler("return_from_legal", _decide_by_name(LegalDecision.RETURNED))
    register_transition_handler("approve_litigation", _decide_by_name(LegalDecision.LITIGATION))


def legal_propose_settlement(
    *,
    case_id: int,
    actor,
    discount_percent: Decimal,
    installments: int,
    first_due_date: date,
    note: str,
    today: date | None = None,
):
    """Legal proposes a settlement: the case returns to collections (LEGAL_DECISION event, referral
    decided "settlement") with a settlement plan of the whole balance, less `discount_percent`, proposed
    by the reviewer through repayment_plans (a draft waiting for the cardholder's acceptance when inside
    legal's limits; pending approval otherwise). All or nothing: if the plan is refused, the case stays
    in legal review. Returns the plan."""
    _legal_reviewer(actor)
    note = (note or "").strip()
    if not note:
        raise ValidationFailed(_("Say why a settlement is proposed."), field="note", rule="reason_required")
    today = today or bank_today()
    with transaction.atomic():
        case = lock_case(case_id)
        ensure_can_act(actor, case)
        if case.state != CaseState.LEGAL_REVIEW:
            raise InvalidTransition(_("The case is not in legal review."), rule="state_machine")
        _ensure_not_own_referral(actor, case)
        account = case.account
        balance = account.principal + account.interest + account.fees + account.penalties
        terms = plan_services.PlanInput(
            kind=PlanKind.SETTLEMENT,
            amount=balance,
            installments=installments,
            first_due_date=first_due_date,
            discount_percent=discount_percent,
        )
        transition(
            case,
            "return_from_legal",
            actor=actor,
            kind=EventKind.LEGAL_DECISION,
            reason=note,
            details={
                "decision": LegalDecision.SETTLEMENT,
                "discount_percent": str(discount_percent),
                "installments": installments,
                "balance": str(balance),
            },
        )
        # repayment_plans' one entry point for a proposal, minus plan_propose's WORK_CASES check (legal
        # reviewers do not work queues) and its own lock (held here already).
        plan = plan_services.plan_propose_on_locked_case(
            case=case,
            actor=actor,
            data=terms,
            reason=note,
            today=today,
            cardholder_accepted=False,
            acceptance_note="",
        )
        LegalReferral.objects.filter(case=case, decision=LegalDecision.PENDING).update(
            decision=LegalDecision.SETTLEMENT, reviewer=actor, decided_at=timezone.now(), decision_note=note
        )
    return plan


# --- The package ------------------------------------------------------------------------------------


@dataclass
class LegalPackage:
    case: Case
    referral: LegalReferral | None
    referrals: list[LegalReferral]
    statement: list[tuple[str, Decimal | str]]
    payments: list[Payment]
    contacts: list[ContactEvidence]
    promises: list[PromiseToPay]
    plans: list
    firings: list
    limitation: Limitation
    evidence: OverdraftEvidence
    as_of: date
    # The case timeline's hash chain (core.chains) as the package saw it: a court copy is held against the
    # head; `events` (the whole timeline, each with its hashes and canonical content) only for an export.
    chain: chains.ChainHead = field(default_factory=lambda: chains.ChainHead(chains.GENESIS, 0))
    events: list[CaseEvent] = field(default_factory=list)

    @property
    def effective(self) -> list[ContactEvidence]:
        return [row for row in self.contacts if row.effective]

    @property
    def total_paid(self) -> Decimal:
        return sum((p.amount for p in self.payments), ZERO)


def legal_package(case: Case, *, as_of: date, with_events: bool = False) -> LegalPackage:
    """Everything a reviewer (and counsel) needs on one case; a fixed number of queries. The head of the
    case timeline's hash chain always; `with_events` (the export) the whole timeline with its hashes."""
    account = case.account
    referrals = list(
        case.legal_referrals.select_related("rule", "referred_by", "reviewer").order_by("-referred_at", "-pk")
    )
    pending = next((r for r in referrals if r.decision == LegalDecision.PENDING), None)
    payments = list(account.payments.select_related("case").order_by("paid_at", "pk"))
    contacts = effective_contacts(account)
    effective_days = [bank_date(row.contact.started_at) for row in contacts if row.effective]
    payment_days = [bank_date(p.paid_at) for p in payments]
    limitation = limitation_from(
        first_missed=account.first_missed_due_date,
        last_payment=max(payment_days) if payment_days else None,
        last_effective=max(effective_days) if effective_days else None,
        as_of=as_of,
    )
    balance = account.principal + account.interest + account.fees + account.penalties
    statement = [
        (_("Principal"), account.principal),
        (_("Interest"), account.interest),
        (_("Fees"), account.fees),
        (_("Penalties"), account.penalties),
        (_("Balance"), balance),
        (_("Overdue amount"), account.overdue_amount),
        (_("Minimum due"), account.minimum_due),
        (_("Credit limit"), account.credit_limit),
    ]
    plans = list(
        RepaymentPlan.objects.filter(case=case).select_related("proposed_by").order_by("-proposed_at", "-pk")
    )
    # The escalation rules that acted on the case, read through the case's reverse relation: escalation
    # sits above legal and is not imported here.
    firings = list(
        case.escalation_firings.filter(dry_run=False).select_related("rule").order_by("-created_at")[:20]
    )
    if with_events:
        events = list(chains.chain_rows(CaseEvent, case.pk).select_related("actor"))
        chain = chains.ChainHead(events[-1].row_hash if events else chains.GENESIS, len(events))
    else:
        events, chain = [], chains.chain_head(CaseEvent, case.pk)
    return LegalPackage(
        chain=chain,
        events=events,
        case=case,
        referral=pending or (referrals[0] if referrals else None),
        referrals=referrals,
        statement=statement,
        payments=payments,
        contacts=contacts,
        promises=list(case.promises.select_related("created_by").order_by("-created_at", "-pk")),
        plans=plans,
        firings=firings,
        limitation=limitation,
        evidence=overdraft_evidence(
            effective_days=effective_days,
            payment_days=payment_days,
            principal=account.principal,
            as_of=as_of,
            currency=account.currency,
        ),
        as_of=as_of,
    )


# --- The legal reviewers' queue ------------------------------------------------------------------------

LEGAL_QUEUE_PAGE_SIZE = 50


@dataclass
class LegalQueueRow:
    case: Case
    referred_at: datetime | None
    reason: str
    rule_name: str
    limitation: Limitation

    @property
    def age_days(self) -> int | None:
        return (
            None if self.referred_at is None else (self.limitation.as_of - bank_date(self.referred_at)).days
        )


def _referral_field(name: str, **filters):
    return Subquery(
        LegalReferral.objects.filter(case_id=OuterRef("pk"), **filters)
        .order_by("-referred_at", "-pk")
        .values(name)[:1]
    )


def legal_queue(user, *, as_of: date, state: str = CaseState.LEGAL_REVIEW) -> QuerySet[Case]:
    """Cases in `state` that `user` may see, oldest referral first, with the referral and the limitation
    restart date annotated: one query whatever the page size (see `legal_queue_rows`)."""
    pending = {"decision": LegalDecision.PENDING} if state == CaseState.LEGAL_REVIEW else {}
    cases = cases_visible_to(user, Case.objects.filter(state=state)).select_related("account__cardholder")
    cases = with_limitation(cases).annotate(
        referred_at=_referral_field("referred_at", **pending),
        referral_reason=_referral_field("reason", **pending),
        referral_rule=_referral_field("rule_name", **pending),
        court_reference=_referral_field("court_reference"),
        decided_at=_referral_field("decided_at"),
    )
    if state == CaseState.LEGAL_REVIEW:
        return cases.order_by(F("referred_at").asc(nulls_first=True), "pk")
    return cases.order_by(F("decided_at").desc(nulls_last=True), "-pk")


def legal_queue_rows(cases, *, as_of: date) -> list[LegalQueueRow]:
    return [
        LegalQueueRow(
            case=case,
            referred_at=case.referred_at,
            reason=case.referral_reason or "",
            rule_name=case.referral_rule or "",
            limitation=Limitation(
                case.limitation_restart, "", limitation_date_for(case.limitation_restart), as_of
            ),
        )
        for case in cases
    ]


# --- Export for outside counsel -------------------------------------------------------------------------

FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


def _cell(value) -> str:
    """CSV-injection safe (S-26): a cell that a spreadsheet would run as a formula is quoted with '."""
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(FORMULA_PREFIXES) else text


def _csv(header: list[str], rows: list[list]) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(header)
    writer.writerows([[_cell(v) for v in row] for row in rows])
    # A BOM so that Excel opens the Chinese text as UTF-8.
    return ("\ufeff" + buffer.getvalue()).encode("utf-8")


def contacts_csv(package: LegalPackage) -> bytes:
    rows = []
    for row in package.contacts:
        c = row.contact
        point = c.contact_point
        rows.append(
            [
                c.pk,
                c.case.reference,
                timezone.localtime(c.started_at, bank_zone()).strftime("%Y-%m-%d %H:%M"),
                c.get_channel_display(),
                mask_contact_value(point.kind, point.value) if point else "",
                c.get_party_role_display() if c.party_role else "",
                c.get_outcome_display(),
                c.duration_seconds,
                c.recording_ref,
                "yes" if row.effective else "no",
                row.why,
                str(c.agent or ""),
                c.corrects_id or "",
                c.notes,
            ]
        )
    header = [
        "id",
        "case",
        "time",
        "channel",
        "number_or_address",
        "person_reached",
        "outcome",
        "duration_seconds",
        "recording_ref",
        "effective",
        "evidence",
        "agent",
        "corrects",
        "notes",
    ]
    return _csv(header, rows)


def payments_csv(package: LegalPackage) -> bytes:
    rows = [
        [
            p.external_ref,
            timezone.localtime(p.paid_at, bank_zone()).strftime("%Y-%m-%d %H:%M"),
            p.amount,
            p.currency,
            p.source,
            p.case.reference if p.case_id else "",
            "; ".join(f"{k}={v}" for k, v in sorted(p.allocation.items())),
        ]
        for p in package.payments
    ]
    return _csv(["reference", "paid_at", "amount", "currency", "source", "case", "allocation"], rows)


# How a court (or counsel) checks events.csv against the chain head printed on the statement.
CHAIN_CHECK = gettext_noop(
    "How to check: for each row of events.csv, SHA-256 of prev_hash followed by content (UTF-8) must equal "
    "row_hash, each prev_hash must equal the row_hash of the row before it (64 zeros for the first), and "
    "the last row_hash must equal the chain head."
)


def events_csv(package: LegalPackage) -> bytes:
    """The case timeline with its hash chain: `content` is the canonical text the row hash covers (see
    core.chains), so each row can be recomputed without the bank's database."""
    rows = [
        [
            e.pk,
            e.created_at.astimezone(UTC).isoformat(),
            e.kind,
            e.from_state,
            e.to_state,
            str(e.actor or ""),
            e.reason,
            e.prev_hash,
            e.row_hash,
            e.chain_content,
        ]
        for e in package.events
    ]
    header = ["id", "time_utc", "kind", "from", "to", "actor", "reason", "prev_hash", "row_hash", "content"]
    return _csv(header, rows)


@dataclass(frozen=True)
class LegalExport:
    filename: str
    content: bytes
    event: CaseEvent


def legal_package_export(
    *,
    case_id: int,
    actor,
    reason: GivenReason | None,
    as_of: date | None = None,
    source: str = AccessSource.PAGE,
    request_id: str = "",
) -> LegalExport:
    """The package for outside counsel as a ZIP (statement.pdf, contacts.csv, payments.csv, events.csv with
    the timeline's hash chain; the statement prints the chain head). Legal reviewers only, on cases in
    legal states, with a reason code (collections_app.services.access_reason; refused without one). The
    export is written on the timeline (a NOTE event with details
    {"action": "legal_package_exported", files and their SHA-256}) and recorded as a print of the
    cardholder's data (an AccessRecord) in the same transaction."""
    # reportlab takes a good part of a second to import: only an export loads it (see legal.pdf).
    from legal.pdf import statement_pdf

    _legal_reviewer(actor)
    if reason is None:
        reason = access_reason(None)  # raises AccessReasonMissing: nothing is printed without a reason
    as_of = as_of or bank_today()
    with transaction.atomic():
        case = lock_case(case_id)
        ensure_can_act(actor, case)
        if case.state not in LEGAL_STATES:
            raise InvalidTransition(_("Only cases with legal can be exported."), rule="state_machine")
        package = legal_package(case, as_of=as_of, with_events=True)
        files = {
            "statement.pdf": statement_pdf(package, prepared_by=str(actor)),
            "contacts.csv": contacts_csv(package),
            "payments.csv": payments_csv(package),
            "events.csv": events_csv(package),
        }
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
            for name, data in files.items():
                archive.writestr(f"{case.reference}/{name}", data)
        event = event_write(
            case=case,
            kind=EventKind.NOTE,
            actor=actor,
            reason=gettext_noop("Legal package exported for outside counsel."),
            details={
                "action": "legal_package_exported",
                "as_of": as_of.isoformat(),
                "files": {name: hashlib.sha256(data).hexdigest() for name, data in files.items()},
                "contacts": len(package.contacts),
                "payments": len(package.payments),
                "events": package.chain.length,
                "chain_head": package.chain.head,
            },
        )
        access_record(
            actor=actor,
            kind=AccessKind.PRINT,
            source=source,
            reason=reason,
            cardholder_id=case.account.cardholder_id,
            case_id=case.pk,
            what="legal_package",
            request_id=request_id,
        )
        bump_version(case)
    return LegalExport(f"{case.reference}-legal-package-{as_of:%Y%m%d}.zip", buffer.getvalue(), event)


__all__ = [
    "Limitation",
    "LegalPackage",
    "add_months",
    "add_years",
    "cases_escalate_to_legal_bulk",
    "effective_contact_q",
    "effective_verdict",
    "escalation_refusal",
    "legal_decide",
    "legal_refer",
    "legal_package",
    "legal_package_export",
    "events_csv",
    "legal_queue",
    "legal_queue_rows",
    "legal_propose_settlement",
    "limitation_cutoff",
    "limitation_for",
    "limitation_from",
    "limitation_restart_sql",
    "open_dispute_sql",
    "overdraft_evidence",
    "with_limitation",
]
