"""The contact policy applied to a concrete case: read the facts, ask the engine.

Three modules, one job each:
- contact_policy.engine: the rules (pure: facts in, `Decision` out; nothing about cases);
- contact_policy.models: the configuration (stored profiles turned into `PolicyRules`, `PolicyBook`);
- this module: the facts about one case - the cardholder's flags and candidate time zones, the holds,
  and the counts the rules need from the contact ledger - gathered into a `ContactContext` for
  `policy.evaluate`. No rule is decided here: every refusal, and when it lifts, comes from the engine.

Every path that contacts a cardholder asks through here: logging a contact (services.contacts), Next case
and callbacks (services.claims), a reminder at send time (messaging.services), the compliance panel.

Every function takes an optional `policies` (a `PolicyBook`): pass one book to every call of a request
or batch and the stored profiles are read once for all of them; without one, each call reads them
(one query).
"""

from __future__ import annotations

import zoneinfo
from collections import Counter
from dataclasses import dataclass, fields
from datetime import datetime

from django.db.models import Count, QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _

from collections_app.models import (
    CALL_CHANNELS,
    RIGHT_PARTY_OUTCOMES,
    Cardholder,
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
from contact_policy.models import PolicyBook
from core.exceptions import ContactNotAllowed
from core.masking import mask_phone

# Reg F 1006.14(b)(3): attempts that never connected do not count towards the 7-in-7 limit.
NOT_CONNECTED = (Outcome.BUSY, Outcome.DISCONNECTED, Outcome.FAILED)
UNANSWERED = (Outcome.NO_ANSWER, Outcome.BUSY, Outcome.VOICEMAIL, Outcome.DISCONNECTED, Outcome.FAILED)
# A cardholder without a jurisdiction is under the model's default profile.
DEFAULT_JURISDICTION: str = Cardholder._meta.get_field("jurisdiction").default
FLAG_NAMES = tuple(f.name for f in fields(policy.CardholderFlags))


def rules_for(jurisdiction: str, *, policies: PolicyBook | None = None) -> policy.PolicyRules:
    """The rules in force for a jurisdiction code: the stored profiles (admins edit them), else the
    built-ins. "US-NY" with no row of its own uses "US". Raises LookupError for an unknown country."""
    return (policies or PolicyBook()).rules_for(jurisdiction or DEFAULT_JURISDICTION)


def flags_of(holder: Cardholder) -> policy.CardholderFlags:
    """The cardholder's flags, as the engine reads them."""
    return policy.CardholderFlags(**{name: bool(getattr(holder, name)) for name in FLAG_NAMES})


def zones_for(case: Case, rules: policy.PolicyRules, phones: list[str] | None = None) -> tuple[str, ...]:
    """The time zones a contact with the case's cardholder is judged in."""
    holder = case.account.cardholder
    if phones is None:
        # Unevaluated: the engine reads the numbers only when they can move the zones (a US person of
        # unknown zone), and only then is the query run.
        phones = ContactPoint.objects.filter(
            cardholder=holder, kind="phone", party_role=PartyRole.DEBTOR
        ).values_list("value", flat=True)
    return policy.candidate_time_zones(
        rules, known_zone=holder.time_zone, jurisdiction=holder.jurisdiction, phone_numbers=phones
    )


def primary_zone(case: Case, *, policies: PolicyBook | None = None) -> str:
    """The zone in which a form's local time is read (the cardholder's, else the profile's first)."""
    rules = rules_for(case.account.cardholder.jurisdiction, policies=policies)
    return zones_for(case, rules)[0]


def cardholder_zone(case: Case, *, policies: PolicyBook | None = None) -> zoneinfo.ZoneInfo:
    """The cardholder's local time zone: the one a time given without an offset is read in."""
    return zoneinfo.ZoneInfo(primary_zone(case, policies=policies))


def cardholder_local_time(case: Case, moment: datetime, *, policies: PolicyBook | None = None) -> datetime:
    """`moment` as an instant. A naive `moment` (a form's or a request's time without an offset) is the
    cardholder's local wall-clock time; an aware one names its instant already and is returned as it is.
    The one place that reads "a time without an offset" for every path (case page, API)."""
    if timezone.is_aware(moment):
        return moment
    return moment.replace(tzinfo=cardholder_zone(case, policies=policies))


@dataclass(frozen=True)
class LocalClock:
    """An instant as a clock in `zone` reads it: the cardholder's time on the case page.

    `wall` is that reading without a zone, so a template prints it as it is: Django's `date` filter
    converts an aware datetime to the viewer's zone, which showed every cardholder the agent's clock.
    `utc_offset` is the zone's offset at that instant (summer time included), e.g. "UTC-04:00"."""

    at: datetime  # aware: the instant
    zone: str  # an IANA name

    @property
    def wall(self) -> datetime:
        return self.at.astimezone(zoneinfo.ZoneInfo(self.zone)).replace(tzinfo=None)

    @property
    def utc_offset(self) -> str:
        minutes = int(self.at.astimezone(zoneinfo.ZoneInfo(self.zone)).utcoffset().total_seconds()) // 60
        sign = "-" if minutes < 0 else "+"
        return f"UTC{sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"

    @property
    def label(self) -> str:
        """The zone and its offset: "America/New_York (UTC-04:00)"."""
        return f"{self.zone} ({self.utc_offset})"


def local_clock(moment: datetime | None, zone: str) -> LocalClock | None:
    """`moment` (aware) on the clock of `zone`; None for no moment."""
    return LocalClock(at=moment, zone=zone) if moment is not None else None


def _ledger() -> QuerySet[ContactAttempt]:
    # A correction row restates another attempt; counting it would count that attempt twice.
    return ContactAttempt.objects.filter(corrects__isnull=True)


def calls_to_numbers_today(
    rules: policy.PolicyRules, zones: tuple[str, ...], now: datetime, points: list[ContactPoint]
) -> dict[int, int]:
    """Outbound calls to each of these numbers today, as the per-number cap counts them (only unanswered
    ones when the profile says so). Empty when the profile has no per-number cap."""
    if rules.max_calls_per_number_per_day is None or not points:
        return {}
    day_start = policy.counting_window_start(rules, zones, now, days=1)
    calls = _ledger().filter(
        contact_point__in=points, channel=Channel.OUTBOUND_CALL, started_at__gte=day_start
    )
    if rules.count_unanswered_only:
        calls = calls.filter(outcome__in=UNANSWERED)
    return dict(calls.values_list("contact_point_id").annotate(n=Count("pk")))


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
    calls_to_number_today: int | None = None,
) -> policy.ContactContext:
    """Count what the rules count, from the ledger, for one intended contact (`calls_to_number_today`
    when the caller has counted it already)."""
    holder = case.account.cardholder
    if calls_to_number_today is None:
        calls_to_number_today = 0
        if contact_point is not None:
            counts = calls_to_numbers_today(rules, zones, now, [contact_point])
            calls_to_number_today = counts.get(contact_point.pk, 0)
    debt_times: tuple[datetime, ...] = ()
    if rules.max_calls_per_debt_per_7_days is not None:
        week_start = policy.counting_window_start(rules, zones, now, days=policy.DEBT_WINDOW_DAYS)
        debt_times = tuple(
            _ledger()
            .filter(
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
            _ledger()
            .filter(
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
        flags=flags_of(holder),
        zones=zones,
        calls_to_number_today=calls_to_number_today,
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
    policies: PolicyBook | None = None,
) -> policy.Decision:
    """The policy's answer for one contact of `case` at `now`: the one question every contact path asks
    (a person's contact in services.contacts, Next case, a reminder at send time)."""
    rules = rules_for(case.account.cardholder.jurisdiction, policies=policies)
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


def claim_block(*, case: Case, now: datetime, policies: PolicyBook | None = None) -> str | None:
    """The rule that stops Next case from handing this case out now (an outbound call to the
    debtor's primary number), or None. Next case passes one book for all the candidates it looks at."""
    point = (
        ContactPoint.objects.filter(cardholder_id=case.account.cardholder_id, kind="phone", active=True)
        .order_by("-is_primary", "pk")
        .first()
    )
    decision = decide(
        case=case, channel=Channel.OUTBOUND_CALL, now=now, contact_point=point, policies=policies
    )
    return None if decision.allowed else str(decision.rule)


def enforce_window(*, case: Case, at: datetime, policies: PolicyBook | None = None) -> None:
    """Refuse a time outside the cardholder's contact window (callbacks), saying when it opens."""
    rules = rules_for(case.account.cardholder.jurisdiction, policies=policies)
    zones = zones_for(case, rules)
    if not policy.window_status(rules, zones, at).open:
        opens = policy.next_allowed_time(rules, zones, at)
        message = _("Outside the cardholder's contact window (%(window)s local time).") % {
            "window": policy.window_text(rules)
        }
        if opens:
            local = LocalClock(at=opens, zone=zones[0])
            message += " " + _("The window opens at %(local)s.") % {
                "local": f"{local.wall:%Y-%m-%d %H:%M} {local.label}"
            }
        raise ContactNotAllowed(message, rule=policy.Rule.CONTACT_WINDOW, allowed_from=opens)


# --- What the pages show ------------------------------------------------------------------------------


def blocked_counts(
    claimable: QuerySet[Case], *, now: datetime, policies: PolicyBook | None = None
) -> dict[str, int]:
    """For My work: how many of these cases Next case passes over now because of a cardholder flag or
    the contact window, by rule. Set-based: the cases are grouped by what these rules read (jurisdiction,
    known zone, flags) and the engine judges each group once. Frequency caps, disputes and the numbers'
    area codes are judged case by case when Next is pressed."""
    policies = policies or PolicyBook()
    holder_fields = ["account__cardholder__jurisdiction", "account__cardholder__time_zone"]
    holder_fields += [f"account__cardholder__{name}" for name in FLAG_NAMES]
    counts: Counter[str] = Counter()
    for jurisdiction, zone, *flags, n in claimable.values_list(*holder_fields).annotate(n=Count("pk")):
        rules = rules_for(jurisdiction, policies=policies)
        zones = policy.candidate_time_zones(rules, known_zone=zone or "", jurisdiction=jurisdiction)
        context = policy.ContactContext(
            channel=Channel.OUTBOUND_CALL,
            now=now,
            flags=policy.CardholderFlags(**dict(zip(FLAG_NAMES, map(bool, flags), strict=True))),
            zones=zones,
        )
        decision = policy.evaluate(rules, context)
        if not decision.allowed:
            counts[str(decision.rule)] += n
    return dict(counts)


@dataclass
class NumberCap:
    label: str
    used: int
    cap: int | None


@dataclass
class ComplianceStatus:
    """The panel's data. Every time the contact policy is about is on the cardholder's clock (a
    `LocalClock` in `zone`, the first of the zones the cardholder is judged in)."""

    profile: str
    zone: str
    local_times: list[LocalClock]  # now, in each zone the cardholder is judged in (`zone` first)
    window: policy.WindowStatus
    closes_local: LocalClock | None
    opens_local: LocalClock | None
    number_caps: list[NumberCap]
    debt_calls: int
    debt_cap: int | None
    quiet_until: LocalClock | None
    channels: list[str]
    call_decision: policy.Decision
    allowed_from_local: LocalClock | None
    next_callback: LocalClock | None  # the case's scheduled callback (Case.next_action_at)


def compliance_status(
    *,
    case: Case,
    contact_points: list[ContactPoint],
    now: datetime | None = None,
    policies: PolicyBook | None = None,
) -> ComplianceStatus:
    """The compliance panel: local time and window, attempts used against each cap, the waiting period,
    channels allowed, and whether a call to the primary number is allowed now (and if not, from when)."""
    now = now or timezone.now()
    holder = case.account.cardholder
    rules = rules_for(holder.jurisdiction, policies=policies)
    phones = [p for p in contact_points if p.kind == "phone"]
    zones = zones_for(case, rules, phones=[p.value for p in phones if p.party_role == PartyRole.DEBTOR])
    window = policy.window_status(rules, zones, now)
    zone = zones[0]
    primary = phones[0] if phones else None
    used = calls_to_numbers_today(rules, zones, now, phones)
    ctx = build_context(
        case=case,
        rules=rules,
        zones=zones,
        channel=Channel.OUTBOUND_CALL,
        now=now,
        contact_point=primary,
        calls_to_number_today=used.get(primary.pk, 0) if primary else 0,
    )
    number_caps = []
    if rules.max_calls_per_number_per_day is not None:
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
        zone=zone,
        local_times=[LocalClock(at=now, zone=z) for z in zones],
        window=window,
        closes_local=local_clock(window.closes_at, zone),
        opens_local=local_clock(window.opens_at, zone),
        number_caps=number_caps,
        debt_calls=ctx.calls_on_debt_last_7_days,
        debt_cap=rules.max_calls_per_debt_per_7_days,
        quiet_until=local_clock(quiet_until, zone),
        channels=[str(channel_labels[c]) for c in Channel.values if c in rules.allowed_channels],
        call_decision=decision,
        allowed_from_local=local_clock(decision.allowed_from, zone),
        next_callback=local_clock(case.next_action_at, zone),
    )
