"""Applies the contact policy (contact_policy.engine, the pure rules engine) to a concrete case.

It loads the jurisdiction profile's rules (stored `ContactPolicy` layers, else the built-ins), works
out the candidate time zones, counts what the rules count from the contact ledger, and asks
`policy.evaluate`. Every path that contacts a cardholder comes through here: logging a contact,
Next case, callbacks, reminders.
"""

from __future__ import annotations

import zoneinfo
from dataclasses import dataclass
from datetime import datetime

from django.db.models import Count, Q, QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _

from collections_app.models import (
    CALL_CHANNELS,
    RIGHT_PARTY_OUTCOMES,
    Case,
    CaseHold,
    CaseState,
    Channel,
    ContactAttempt,
    ContactPoint,
    HoldReason,
    Outcome,
    PartyRole,
)
from contact_policy import engine as policy
from contact_policy.models import ContactPolicy

# Reg F 1006.14(b)(3): attempts that never connected do not count towards the 7-in-7 limit.
NOT_CONNECTED = (Outcome.BUSY, Outcome.DISCONNECTED, Outcome.FAILED)
UNANSWERED = (Outcome.NO_ANSWER, Outcome.BUSY, Outcome.VOICEMAIL, Outcome.DISCONNECTED, Outcome.FAILED)


def rules_for(jurisdiction: str) -> policy.PolicyRules:
    """The rules of a jurisdiction profile: the stored layers (admins edit them) or the built-ins.
    "US-NY" with no row of its own uses "US"."""
    code = (jurisdiction or "CN").strip().upper()
    for candidate in (code, code.split("-", 1)[0]):
        row = ContactPolicy.objects.select_related("parent__parent").filter(code=candidate).first()
        if row is not None:
            return row.to_rules()
    return policy.builtin_rules(code)


def zones_for(case: Case, rules: policy.PolicyRules, phones: list[str] | None = None) -> tuple[str, ...]:
    holder = case.account.cardholder
    if phones is None:
        phones = list(
            ContactPoint.objects.filter(
                cardholder=holder, kind="phone", party_role=PartyRole.DEBTOR
            ).values_list("value", flat=True)
        )
    return policy.candidate_time_zones(
        rules, known_zone=holder.time_zone, jurisdiction=holder.jurisdiction, phone_numbers=phones
    )


def primary_zone(case: Case) -> str:
    """The zone in which a form's local time is read (the cardholder's, else the profile's first)."""
    rules = rules_for(case.account.cardholder.jurisdiction)
    return zones_for(case, rules)[0]


def _open_dispute(case: Case) -> bool:
    return CaseHold.objects.filter(case=case, released_at__isnull=True, reason=HoldReason.DISPUTE).exists()


def build_context(
    *,
    case: Case,
    rules: policy.PolicyRules,
    zones: tuple[str, ...],
    channel: str,
    now: datetime,
    contact_point: ContactPoint | None = None,
    party_role: str = PartyRole.DEBTOR,
    completed_call: bool = False,
    has_recording: bool = False,
    purpose: str = policy.PURPOSE_COLLECTION,
) -> policy.ContactContext:
    """Count what the rules count, from the ledger, for one intended contact."""
    holder = case.account.cardholder
    attempts = ContactAttempt.objects.filter(corrects__isnull=True)
    calls_today = 0
    if contact_point is not None and rules.max_calls_per_number_per_day is not None:
        day_start = policy.counting_window_start(rules, zones, now, days=1)
        today = attempts.filter(
            contact_point=contact_point, channel=Channel.OUTBOUND_CALL, started_at__gte=day_start
        )
        if rules.count_unanswered_only:
            today = today.filter(outcome__in=UNANSWERED)
        calls_today = today.count()
    debt_times: tuple[datetime, ...] = ()
    if rules.max_calls_per_debt_per_7_days is not None:
        week_start = policy.counting_window_start(rules, zones, now, days=policy.DEBT_WINDOW_DAYS)
        debt_times = tuple(
            attempts.filter(
                case__account_id=case.account_id,
                channel__in=rules.debt_cap_channels,
                started_at__gte=week_start,
                started_at__lte=now,
            )
            .exclude(outcome__in=NOT_CONNECTED)
            .exclude(party_role=PartyRole.ATTORNEY)
            .values_list("started_at", flat=True)
        )
    last_conversation = None
    if rules.quiet_days_after_conversation:
        # Only calls we placed start the waiting period; the consumer calling us does not.
        last_conversation = (
            attempts.filter(
                case__account_id=case.account_id,
                channel=Channel.OUTBOUND_CALL,
                outcome__in=RIGHT_PARTY_OUTCOMES,
                started_at__lte=now,
            )
            .order_by("-started_at")
            .values_list("started_at", flat=True)
            .first()
        )
    reached = case.last_right_party_contact_at or case.opened_at
    return policy.ContactContext(
        channel=channel,
        now=now,
        party_role=party_role or PartyRole.DEBTOR,
        flags=policy.CardholderFlags.of(holder),
        zones=zones,
        calls_to_number_today=calls_today,
        calls_on_debt_last_7_days=len(debt_times),
        debt_call_times=debt_times,
        last_conversation_at=last_conversation,
        debtor_unreachable_days=max(0, (now - reached).days),
        open_dispute=_open_dispute(case),
        on_hold=case.state == CaseState.ON_HOLD,
        purpose=purpose,
        completed_call=completed_call,
        has_recording=has_recording,
    )


def decide(
    *,
    case: Case,
    channel: str,
    now: datetime,
    contact_point: ContactPoint | None = None,
    party_role: str = PartyRole.DEBTOR,
    outcome: str = "",
    recording_ref: str = "",
    purpose: str = policy.PURPOSE_COLLECTION,
) -> policy.Decision:
    """The policy's answer for one contact of `case` at `now`."""
    rules = rules_for(case.account.cardholder.jurisdiction)
    zones = zones_for(case, rules)
    completed = channel in CALL_CHANNELS and outcome not in ("", *UNANSWERED)
    ctx = build_context(
        case=case,
        rules=rules,
        zones=zones,
        channel=channel,
        now=now,
        contact_point=contact_point,
        party_role=party_role or (contact_point.party_role if contact_point else PartyRole.DEBTOR),
        completed_call=completed,
        has_recording=bool(recording_ref.strip()),
        purpose=purpose,
    )
    return policy.evaluate(rules, ctx)


def claim_block(*, case: Case, now: datetime) -> str | None:
    """The rule that stops Next case from handing this case out now (an outbound call to the
    debtor's primary number), or None."""
    point = (
        ContactPoint.objects.filter(cardholder_id=case.account.cardholder_id, kind="phone", active=True)
        .order_by("-is_primary", "pk")
        .first()
    )
    decision = decide(case=case, channel=Channel.OUTBOUND_CALL, now=now, contact_point=point)
    return None if decision.allowed else str(decision.rule)


def enforce_window(*, case: Case, at: datetime) -> None:
    """Refuse a time outside the cardholder's contact window (callbacks), saying when it opens."""
    from core.exceptions import ContactNotAllowed

    rules = rules_for(case.account.cardholder.jurisdiction)
    zones = zones_for(case, rules)
    if not policy.window_status(rules, zones, at).open:
        opens = policy.next_allowed_time(rules, zones, at)
        local = opens.astimezone(zoneinfo.ZoneInfo(zones[0])) if opens else None
        message = _("Outside the cardholder's contact window (%(window)s local time).") % {
            "window": policy.window_text(rules)
        }
        if local:
            message += " " + _("The window opens at %(local)s.") % {"local": f"{local:%Y-%m-%d %H:%M}"}
        raise ContactNotAllowed(message, rule=policy.Rule.CONTACT_WINDOW, allowed_from=opens)


# --- What the pages show ------------------------------------------------------------------------------


def blocked_counts(claimable: QuerySet[Case], *, now: datetime) -> dict[str, int]:
    """For My work: how many of these cases Next case passes over now because of a cardholder flag or
    the contact window. (Frequency caps are judged case by case when Next is pressed.)"""
    flags = claimable.aggregate(
        do_not_contact=Count("pk", filter=Q(account__cardholder__do_not_contact=True)),
        cease_communication=Count(
            "pk",
            filter=Q(
                account__cardholder__cease_communication=True, account__cardholder__do_not_contact=False
            ),
        ),
    )
    counts = {k: v for k, v in flags.items() if v}
    contactable = claimable.filter(
        account__cardholder__do_not_contact=False, account__cardholder__cease_communication=False
    )
    groups = contactable.values_list(
        "account__cardholder__jurisdiction", "account__cardholder__time_zone"
    ).annotate(n=Count("pk"))
    closed = 0
    for jurisdiction, zone, n in groups:
        rules = rules_for(jurisdiction)
        zones = policy.candidate_time_zones(rules, known_zone=zone or "", jurisdiction=jurisdiction)
        if not policy.window_status(rules, zones, now).open:
            closed += n
    if closed:
        counts["contact_window"] = closed
    return counts


@dataclass
class NumberCap:
    label: str
    used: int
    cap: int | None


@dataclass
class ComplianceStatus:
    profile: str
    window: policy.WindowStatus
    closes_local: datetime | None
    opens_local: datetime | None
    number_caps: list[NumberCap]
    debt_calls: int
    debt_cap: int | None
    quiet_until: datetime | None
    channels: list[str]
    call_decision: policy.Decision
    allowed_from_local: datetime | None


def compliance_status(
    *, case: Case, contact_points: list[ContactPoint], now: datetime | None = None
) -> ComplianceStatus:
    """The compliance panel: local time and window, attempts used against each cap, the waiting period,
    channels allowed, and whether a call to the primary number is allowed now (and if not, from when)."""
    from core.masking import mask_phone

    now = now or timezone.now()
    holder = case.account.cardholder
    rules = rules_for(holder.jurisdiction)
    phones = [p for p in contact_points if p.kind == "phone"]
    zones = zones_for(case, rules, phones=[p.value for p in phones if p.party_role == PartyRole.DEBTOR])
    window = policy.window_status(rules, zones, now)
    local_zone = zoneinfo.ZoneInfo(zones[0])
    primary = phones[0] if phones else None
    ctx = build_context(
        case=case, rules=rules, zones=zones, channel=Channel.OUTBOUND_CALL, now=now, contact_point=primary
    )
    number_caps = []
    if rules.max_calls_per_number_per_day is not None and phones:
        day_start = policy.counting_window_start(rules, zones, now, days=1)
        today = ContactAttempt.objects.filter(
            contact_point__in=phones, channel=Channel.OUTBOUND_CALL, started_at__gte=day_start
        )
        if rules.count_unanswered_only:
            today = today.filter(outcome__in=UNANSWERED)
        used = dict(today.values_list("contact_point_id").annotate(n=Count("pk")))
        number_caps = [
            NumberCap(mask_phone(p.value), used.get(p.pk, 0), rules.max_calls_per_number_per_day)
            for p in phones
        ]
    decision = policy.evaluate(rules, ctx)
    quiet_until = None
    if rules.quiet_days_after_conversation and ctx.last_conversation_at:
        candidate = policy.quiet_period_end(rules, zones, ctx.last_conversation_at)
        quiet_until = candidate if candidate > now else None
    channel_labels = dict(Channel.choices)
    return ComplianceStatus(
        profile=holder.jurisdiction,
        window=window,
        closes_local=window.closes_at.astimezone(local_zone) if window.closes_at else None,
        opens_local=window.opens_at.astimezone(local_zone) if window.opens_at else None,
        number_caps=number_caps,
        debt_calls=ctx.calls_on_debt_last_7_days,
        debt_cap=rules.max_calls_per_debt_per_7_days,
        quiet_until=quiet_until.astimezone(local_zone) if quiet_until else None,
        channels=[str(channel_labels[c]) for c in Channel.values if c in rules.allowed_channels],
        call_decision=decision,
        allowed_from_local=decision.allowed_from.astimezone(local_zone) if decision.allowed_from else None,
    )
