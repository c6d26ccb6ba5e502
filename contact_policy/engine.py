"""The contact-policy rules engine: may this person be contacted now, through this channel?

Pure on purpose: no ORM, no clock, and nothing about cases. Facts in, `Decision` out: the caller hands
`evaluate()` a `PolicyRules` (what a jurisdiction allows) and a `ContactContext` (the facts about one
intended contact: channel, the instant `now`, the person's flags, the counts from the ledger) and gets a
`Decision` back (allowed, rule, allowed_from, details). The module is the one home of every rule: the
windows, the caps, the flags and holds, the third-party limits, and how layered profiles merge.

Who does what around it:
- contact_policy.models (configuration): the stored profiles a bank edits, turned into `PolicyRules`;
- collections_app.services.contactability (facts): reads the ledger for a case, builds the context,
  asks `evaluate()`. The same path serves the agent's screen, the API and the reminder sent by a Celery
  task at send time, so a flag set after scheduling still stops the send.

Rule IDs in comments (US-01, CN-05 ...) refer to the project's compliance research
(`compliance-rules.md`), which cites the regulation behind each. Rules the research could not verify
against a primary text (the CBA 2026 guideline numbers, the Reg F comment on conflicting locations) are
values of `PolicyRules`, so a bank can change them without changing code.

Time: every instant is an aware datetime; results are in UTC. "Local" means the wall clock of each
candidate time zone, and a contact is judged in *every* candidate zone (Reg F comment 6(b)(1)(i)-1).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.utils.translation import gettext_lazy as _

# --- Vocabulary (the same values as collections_app.models.Channel / PartyRole; a test keeps them equal).
# Plain strings so that this module imports without the Django app registry.

OUTBOUND_CALL = "outbound_call"
INBOUND_CALL = "inbound_call"
SMS = "sms"
EMAIL = "email"
LETTER = "letter"
VISIT = "visit"
ALL_CHANNELS = frozenset({OUTBOUND_CALL, INBOUND_CALL, SMS, EMAIL, LETTER, VISIT})
# Reg F 1006.6(b)(1)(i) and CN-05 judge when a communication is *placed*. A letter is read whenever it
# arrives, and an inbound call is the cardholder's own choice of time, so neither is held to the window.
WINDOW_EXEMPT_CHANNELS = frozenset({INBOUND_CALL, LETTER})
# The channels a "notice" (below) may use: written, so that it cannot turn into a collection call.
NOTICE_CHANNELS = frozenset({LETTER, EMAIL})

DEBTOR = "debtor"
GUARANTOR = "guarantor"
RELATED_THIRD_PARTY = "related_third_party"
UNRELATED_THIRD_PARTY = "unrelated_third_party"
ATTORNEY = "attorney"
ALL_ROLES = frozenset({DEBTOR, GUARANTOR, RELATED_THIRD_PARTY, UNRELATED_THIRD_PARTY, ATTORNEY})

# Why the contact is made. Two written notices are allowed through holds that stop collection:
# - FDCPA 805(c) / Reg F 1006.6(c) (US-08): after a cease request the collector may still write to say that
#   efforts are ending or that a specified remedy may be / will be invoked;
# - Reg F 1006.38 (US-13): a disputed debt is held until the verification is sent, so sending it must pass.
PURPOSE_COLLECTION = "collection"
PURPOSE_CEASE_NOTICE = "cease_notice"
PURPOSE_DISPUTE_VERIFICATION = "dispute_verification"
ALL_PURPOSES = frozenset({PURPOSE_COLLECTION, PURPOSE_CEASE_NOTICE, PURPOSE_DISPUTE_VERIFICATION})

# Reg F 1006.14(b)(2): "seven consecutive days", counted in the consumer's local calendar days.
DEBT_WINDOW_DAYS = 7
# time.max stands for 24:00, the end of the local day (a window "until midnight").
END_OF_DAY = time.max
# How far ahead next_allowed_time() looks for the intersection of the candidate windows to open.
_SEARCH_DAYS = 8


class Rule(StrEnum):
    """Stable machine codes of the rules; stored in the ledger and the audit trail, so never renamed."""

    CONTACT_WINDOW = "contact_window"
    CALLS_PER_NUMBER_PER_DAY = "calls_per_number_per_day"
    CALLS_PER_DEBT_PER_7_DAYS = "calls_per_debt_per_7_days"
    QUIET_AFTER_CONVERSATION = "quiet_after_conversation"
    DO_NOT_CONTACT = "do_not_contact"
    CEASE_COMMUNICATION = "cease_communication"
    ATTORNEY_REPRESENTED = "attorney_represented"
    OPEN_DISPUTE = "open_dispute"
    ON_HOLD = "on_hold"
    BANKRUPTCY = "bankruptcy"
    DECEASED = "deceased"
    UNRELATED_THIRD_PARTY = "unrelated_third_party"
    THIRD_PARTY_CHANNEL = "third_party_channel"
    CHANNEL_NOT_ALLOWED = "channel_not_allowed"
    RECORDING_REQUIRED = "recording_required"


# Frequency limits are soft: Reg F 1006.14(b) makes 7-in-7 a rebuttable presumption, and the CBA cap is
# self-regulation. A supervisor may override them with a reason (recorded by the service). Everything else
# (flags, holds, the time window, third-party limits) is a hard stop.
OVERRIDABLE_RULES = frozenset(
    {Rule.CALLS_PER_NUMBER_PER_DAY, Rule.CALLS_PER_DEBT_PER_7_DAYS, Rule.QUIET_AFTER_CONVERSATION}
)

MESSAGES = {
    Rule.CONTACT_WINDOW: _(
        "Outside the contact window: contact is allowed from %(start)s to %(end)s local time in every "
        "candidate time zone (%(zones)s)."
    ),
    Rule.CALLS_PER_NUMBER_PER_DAY: _(
        "%(count)s calls to this number today; at most %(limit)s calls per number per day."
    ),
    Rule.CALLS_PER_DEBT_PER_7_DAYS: _(
        "%(count)s calls about this debt in the last 7 days; at most %(limit)s in 7 consecutive days."
    ),
    Rule.QUIET_AFTER_CONVERSATION: _(
        "A telephone conversation on %(date)s: no calls for %(days)s days, that day counting as day 1."
    ),
    Rule.DO_NOT_CONTACT: _("The cardholder is flagged do-not-contact."),
    Rule.CEASE_COMMUNICATION: _("The cardholder asked us to cease communication."),
    Rule.ATTORNEY_REPRESENTED: _("The cardholder is represented by an attorney: contact the attorney only."),
    Rule.OPEN_DISPUTE: _("The debt is disputed: collection contact is held until the dispute is answered."),
    Rule.ON_HOLD: _("The case is on hold."),
    Rule.BANKRUPTCY: _("The cardholder is in bankruptcy: collection contact is stayed."),
    Rule.DECEASED: _("The cardholder is deceased."),
    Rule.UNRELATED_THIRD_PARTY: _(
        "An unrelated third party may be contacted only after the debtor has been unreachable for "
        "%(days)s days (unreachable for %(unreachable)s days so far)."
    ),
    Rule.THIRD_PARTY_CHANNEL: _("An unrelated third party may only be phoned, not contacted by %(channel)s."),
    Rule.CHANNEL_NOT_ALLOWED: _("The channel %(channel)s is not allowed in this jurisdiction."),
    Rule.RECORDING_REQUIRED: _("A completed call must carry a recording reference in this jurisdiction."),
}
ALLOWED_MESSAGE = _("Contact allowed.")

# What each rule is called where its code is shown (refusals, the timeline, panels): the codes are stored
# in the ledger and events, so pages translate them at display time.
LABELS = {
    Rule.CONTACT_WINDOW: _("contact window"),
    Rule.CALLS_PER_NUMBER_PER_DAY: _("daily call cap per number"),
    Rule.CALLS_PER_DEBT_PER_7_DAYS: _("7-day call cap per debt"),
    Rule.QUIET_AFTER_CONVERSATION: _("waiting period after a conversation"),
    Rule.DO_NOT_CONTACT: _("do-not-contact flag"),
    Rule.CEASE_COMMUNICATION: _("cease-communication request"),
    Rule.ATTORNEY_REPRESENTED: _("represented by an attorney"),
    Rule.OPEN_DISPUTE: _("open dispute"),
    Rule.ON_HOLD: _("case on hold"),
    Rule.BANKRUPTCY: _("bankruptcy"),
    Rule.DECEASED: _("deceased"),
    Rule.UNRELATED_THIRD_PARTY: _("unrelated third party"),
    Rule.THIRD_PARTY_CHANNEL: _("third-party channel"),
    Rule.CHANNEL_NOT_ALLOWED: _("channel not allowed"),
    Rule.RECORDING_REQUIRED: _("call recording required"),
}


def rule_label(code: str) -> str:
    """The translated name of a rule code; any other code comes back unchanged."""
    return str(LABELS[Rule(code)]) if code in Rule._value2member_map_ else code


def rule_message(code: str, params: Mapping[str, Any]) -> str | None:
    """A rule's refusal sentence in the active language, rebuilt from the parameters stored with it
    (the details of a POLICY_REFUSED event); None when the code or a parameter is unknown."""
    if code not in Rule._value2member_map_:
        return None
    try:
        return str(MESSAGES[Rule(code)]) % dict(params)
    except (KeyError, TypeError, ValueError):
        return None


_THIRD_PARTY_FORBIDDEN_MESSAGE = _(
    "Contact with an unrelated third party is not allowed in this jurisdiction."
)


# --- Rules ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PolicyRules:
    """The concrete rules of one jurisdiction profile (or of several layers merged).

    The defaults restrict nothing, so `PolicyRules()` is the identity of `merge_strictest()`.
    Windows are half-open local wall-clock intervals [window_start, window_end); a window with
    start >= end never opens. Caps are `None` for "no cap".
    """

    code: str = ""
    window_start: time = time(0)
    window_end: time = END_OF_DAY
    # Zones to judge in when the person's zone is unknown (US: every zone of the 50 states and DC).
    fallback_time_zones: tuple[str, ...] = ()
    # Judge in the fallback zones even when the person's zone is known (CN: also Beijing time for a
    # debtor known to be abroad - the CBA text is unverified on whose clock counts).
    always_judge_in_fallback_zones: bool = False
    max_calls_per_number_per_day: int | None = None
    # Tells the caller what to count for the per-number cap (CN-06: the CBA counts unanswered attempts).
    count_unanswered_only: bool = True
    max_calls_per_debt_per_7_days: int | None = None
    # 940 CMR 7.04(1)(f) (US-21) counts texts as phone communications; Reg F counts calls only.
    sms_counts_toward_debt_cap: bool = False
    quiet_days_after_conversation: int = 0
    unrelated_third_party_forbidden: bool = False
    unrelated_third_party_min_unreachable_days: int = 0
    unrelated_third_party_calls_only: bool = False
    recording_required_for_completed_call: bool = False
    attorney_contact_only: bool = False
    allowed_channels: frozenset[str] = ALL_CHANNELS

    def __post_init__(self):
        object.__setattr__(self, "fallback_time_zones", tuple(self.fallback_time_zones))
        object.__setattr__(self, "allowed_channels", frozenset(self.allowed_channels))
        if self.window_start.tzinfo is not None or self.window_end.tzinfo is not None:
            raise ValueError("window_start and window_end are local wall-clock times: give naive times")
        unknown = self.allowed_channels - ALL_CHANNELS
        if unknown:
            raise ValueError(f"unknown channels: {sorted(unknown)}")
        for name in (
            "max_calls_per_number_per_day",
            "max_calls_per_debt_per_7_days",
            "quiet_days_after_conversation",
            "unrelated_third_party_min_unreachable_days",
        ):
            value = getattr(self, name)
            if value is not None and value < 0:
                raise ValueError(f"{name} must not be negative")

    @property
    def window_is_empty(self) -> bool:
        return self.window_start >= self.window_end

    @property
    def debt_cap_channels(self) -> frozenset[str]:
        """The channels the caller counts (and this engine limits) for the per-debt 7-day cap."""
        return (
            frozenset({OUTBOUND_CALL, SMS}) if self.sms_counts_toward_debt_cap else frozenset({OUTBOUND_CALL})
        )


def _min_cap(values: Iterable[int | None]) -> int | None:
    caps = [v for v in values if v is not None]
    return min(caps) if caps else None


def merge_strictest(*rules: PolicyRules) -> PolicyRules:
    """Layer profiles (a country, then a state or province): the strictest value of each rule wins.

    A layer can only tighten what it sits on, never relax it (compliance-rules.md section b): caps take
    the minimum, the window the latest opening and the earliest closing, restrictions are OR-ed, the
    allowed channels intersected, and fallback zones united (more zones is a narrower window).
    """
    if not rules:
        return PolicyRules()
    codes = [r.code for r in rules if r.code]
    zones: dict[str, None] = {}
    for r in rules:
        zones.update(dict.fromkeys(r.fallback_time_zones))
    return PolicyRules(
        code="+".join(dict.fromkeys(codes)),
        window_start=max(r.window_start for r in rules),
        window_end=min(r.window_end for r in rules),
        fallback_time_zones=tuple(zones),
        always_judge_in_fallback_zones=any(r.always_judge_in_fallback_zones for r in rules),
        max_calls_per_number_per_day=_min_cap(r.max_calls_per_number_per_day for r in rules),
        # Counting every attempt is the stricter reading, so "unanswered only" needs every layer to agree.
        count_unanswered_only=all(r.count_unanswered_only for r in rules),
        max_calls_per_debt_per_7_days=_min_cap(r.max_calls_per_debt_per_7_days for r in rules),
        sms_counts_toward_debt_cap=any(r.sms_counts_toward_debt_cap for r in rules),
        quiet_days_after_conversation=max(r.quiet_days_after_conversation for r in rules),
        unrelated_third_party_forbidden=any(r.unrelated_third_party_forbidden for r in rules),
        unrelated_third_party_min_unreachable_days=max(
            r.unrelated_third_party_min_unreachable_days for r in rules
        ),
        unrelated_third_party_calls_only=any(r.unrelated_third_party_calls_only for r in rules),
        recording_required_for_completed_call=any(r.recording_required_for_completed_call for r in rules),
        attorney_contact_only=any(r.attorney_contact_only for r in rules),
        allowed_channels=frozenset.intersection(*(r.allowed_channels for r in rules)),
    )


# --- Built-in profiles ----------------------------------------------------------------------------

# One zone per distinct set of current rules covering the 50 states and DC (Boise, Detroit, the Indiana
# zones ... follow the same rules as one of these). Adak is Alaska's Aleutian zone (UTC-10 with DST).
US_ZONES = (
    "America/New_York",
    "America/Chicago",
    "America/Denver",
    "America/Phoenix",
    "America/Los_Angeles",
    "America/Anchorage",
    "America/Adak",
    "Pacific/Honolulu",
)
CHINA_ZONES = ("Asia/Shanghai",)
# Zones of a whole country, for a profile whose fallback zone is left blank.
COUNTRY_ZONES: dict[str, tuple[str, ...]] = {"US": US_ZONES, "CN": CHINA_ZONES}

CHINA_RULES = PolicyRules(
    code="CN",
    # CN-05, CBA 2026 guideline (news coverage only, [N]): no collection contact 22:00-08:00.
    window_start=time(8, 0),
    window_end=time(22, 0),
    fallback_time_zones=CHINA_ZONES,
    always_judge_in_fallback_zones=True,
    # CN-06: "at most 6 attempts per number per day when unanswered". Whether the CBA counts only
    # unanswered attempts is unverified; the default counts every attempt, which is stricter.
    max_calls_per_number_per_day=6,
    count_unanswered_only=False,
    # CN-01 (2011 Measures art. 68) and CN-07 (CBA 2026; 2022 Notice): unrelated third parties are not
    # pursued; they may be called only to locate a debtor who is out of contact, never texted or e-mailed.
    # The 7-day threshold is bank policy, not a published number.
    unrelated_third_party_min_unreachable_days=7,
    unrelated_third_party_calls_only=True,
    # CN-01: the collection process must be recorded (records kept >= 2 years).
    recording_required_for_completed_call=True,
)

US_RULES = PolicyRules(
    code="US",
    # Reg F 1006.6(b)(1)(i) (US-04): before 8 a.m. or after 9 p.m. local time is inconvenient.
    window_start=time(8, 0),
    window_end=time(21, 0),
    # US-05: with no location data, judge in every US zone.
    fallback_time_zones=US_ZONES,
    # Reg F 1006.14(b)(2)(i)(A) (US-01): more than 7 calls in 7 consecutive days, per person per debt.
    max_calls_per_debt_per_7_days=7,
    # Reg F 1006.14(b)(2)(i)(B) (US-02): no call within 7 consecutive days after a telephone conversation;
    # the conversation date is day 1.
    quiet_days_after_conversation=7,
    # FDCPA 805(b) / Reg F 1006.6(d) (US-14, US-15): third parties only for location information, and not
    # by text or e-mail that could reveal the debt to them.
    unrelated_third_party_calls_only=True,
    # Reg F 1006.6(b)(2) (US-07): a represented consumer is contacted through the attorney.
    attorney_contact_only=True,
)

# 940 CMR 7.04(1)(f) (US-21): at most 2 phone communications (calls and texts) per debt in 7 days to the
# residence or mobile phone. It also covers creditors. The "2 in 30 days to other numbers" part is not
# modelled here: the caller would need the number's kind.
US_MA_RULES = PolicyRules(code="US-MA", max_calls_per_debt_per_7_days=2, sms_counts_toward_debt_cap=True)

BUILTIN_LAYERS: dict[str, PolicyRules] = {"CN": CHINA_RULES, "US": US_RULES, "US-MA": US_MA_RULES}


def country_of(jurisdiction: str) -> str:
    """The country part of a jurisdiction code: "us-ma" -> "US"."""
    return jurisdiction.strip().upper().split("-", 1)[0]


def profile_codes(jurisdiction: str) -> tuple[str, ...]:
    """The profile codes that may hold a jurisdiction's rules, most specific first: "us-ny" gives
    ("US-NY", "US"), "CN" gives ("CN",). A region with no profile of its own is governed by its country."""
    return tuple(dict.fromkeys((jurisdiction.strip().upper(), country_of(jurisdiction))))


def builtin_rules(jurisdiction: str) -> PolicyRules:
    """The built-in rules for a jurisdiction code ("CN", "US", "US-MA"; "US-NY" falls back to "US"): the
    country's layer, tightened by the region's when there is one."""
    codes = profile_codes(jurisdiction)
    if codes[-1] not in BUILTIN_LAYERS:
        raise LookupError(f"no built-in contact policy for jurisdiction {jurisdiction!r}")
    return merge_strictest(*(BUILTIN_LAYERS[code] for code in reversed(codes) if code in BUILTIN_LAYERS))


# --- Context and decision -------------------------------------------------------------------------


@dataclass(frozen=True)
class CardholderFlags:
    do_not_contact: bool = False
    cease_communication: bool = False
    attorney_represented: bool = False
    bankruptcy: bool = False
    deceased: bool = False
    # No effect on the gate: a vulnerable customer is routed to a specialist queue instead (UK-10).
    vulnerable: bool = False


def _require_aware(name: str, value: datetime | None) -> None:
    if value is not None and (value.tzinfo is None or value.utcoffset() is None):
        raise ValueError(f"{name} must be an aware datetime")


@dataclass(frozen=True)
class ContactContext:
    """Everything `evaluate()` needs about one intended contact, gathered by the caller.

    Counts are about the person being contacted (the cardholder, or the third party the number belongs
    to) and are the caller's to compute from the ledger:
    - `calls_to_number_today`: outbound calls to this number since `counting_window_start(rules, zones,
      now, days=1)`; only unanswered ones when `rules.count_unanswered_only`.
    - `calls_on_debt_last_7_days`: calls (and texts when `rules.sms_counts_toward_debt_cap`, see
      `rules.debt_cap_channels`) to this person about this debt since `counting_window_start(..., days=7)`,
      leaving out what Reg F 1006.14(b)(3) excludes (calls that did not connect, calls with direct prior
      consent). Pass `debt_call_times` instead (or as well) and the engine counts them itself and can say
      when the oldest leaves the window.
    - `last_conversation_at`: the last telephone conversation with this person about this debt on a call
      we placed (US-02: a call the consumer places neither starts the quiet period nor counts).

    `completed_call` marks the logging of a call that took place: the policy then also requires a
    recording reference (`has_recording`) where the jurisdiction does.
    """

    channel: str
    now: datetime
    party_role: str = DEBTOR
    flags: CardholderFlags = field(default_factory=CardholderFlags)
    zones: tuple[str, ...] = ()
    calls_to_number_today: int = 0
    calls_on_debt_last_7_days: int = 0
    debt_call_times: tuple[datetime, ...] | None = None
    last_conversation_at: datetime | None = None
    debtor_unreachable_days: int = 0
    open_dispute: bool = False
    on_hold: bool = False
    purpose: str = PURPOSE_COLLECTION
    completed_call: bool = False
    has_recording: bool = False

    def __post_init__(self):
        object.__setattr__(self, "zones", tuple(self.zones))
        if self.debt_call_times is not None:
            object.__setattr__(self, "debt_call_times", tuple(self.debt_call_times))
            for t in self.debt_call_times:
                _require_aware("debt_call_times", t)
        _require_aware("now", self.now)
        _require_aware("last_conversation_at", self.last_conversation_at)
        if self.channel not in ALL_CHANNELS:
            raise ValueError(f"unknown channel {self.channel!r}")
        if self.party_role not in ALL_ROLES:
            raise ValueError(f"unknown party role {self.party_role!r}")
        if self.purpose not in ALL_PURPOSES:
            raise ValueError(f"unknown purpose {self.purpose!r}")


@dataclass(frozen=True)
class Decision:
    """The answer of `evaluate()`.

    `message` is a lazy translatable template with %(name)s placeholders filled from `params`; `text`
    renders it in the active language. `allowed_from` (UTC) is when the contact would be allowed if nothing
    else happens, or None when that cannot be known (a flag or hold must be lifted first). `also` lists
    the other rules that fail now, already accounted for in `allowed_from`.
    """

    allowed: bool
    rule: str = ""
    message: Any = ALLOWED_MESSAGE
    params: Mapping[str, Any] = field(default_factory=dict)
    allowed_from: datetime | None = None
    also: tuple[str, ...] = ()

    @property
    def overridable(self) -> bool:
        """A supervisor may override this refusal with a reason (frequency limits only)."""
        return (
            not self.allowed
            and self.rule in OVERRIDABLE_RULES
            and all(r in OVERRIDABLE_RULES for r in self.also)
        )

    @property
    def text(self) -> str:
        return str(self.message) % dict(self.params)

    @property
    def details(self) -> dict[str, Any]:
        """JSON-ready, for the ledger and the case event."""
        return {
            "allowed": self.allowed,
            "rule": str(self.rule),
            "params": dict(self.params),
            "allowed_from": self.allowed_from.isoformat() if self.allowed_from else None,
            "also": [str(r) for r in self.also],
        }


def _refuse(rule: Rule, allowed_from: datetime | None = None, **params: Any) -> Decision:
    return Decision(
        allowed=False, rule=rule, message=MESSAGES[rule], params=params, allowed_from=allowed_from
    )


_ALLOWED = Decision(allowed=True)


# --- Time zones and windows -------------------------------------------------------------------------


def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"unknown time zone {name!r}") from exc


def is_valid_zone(name: str) -> bool:
    try:
        _zone(name)
    except ValueError:
        return False
    return True


def resolve_zones(rules: PolicyRules, zones: Iterable[str]) -> tuple[str, ...]:
    """The zones a contact is judged in: the candidates, or the policy's fallback when there are none."""
    names = tuple(dict.fromkeys(z for z in zones if z))
    if not names:
        names = rules.fallback_time_zones
    elif rules.always_judge_in_fallback_zones:
        names = tuple(dict.fromkeys((*names, *rules.fallback_time_zones)))
    if not names:
        # Failing closed: without a zone nobody can say whether it is 3 a.m. for the cardholder.
        raise ValueError("no time zone to judge in: pass candidate zones or give the policy a fallback zone")
    for name in names:
        _zone(name)
    return names


def _in_window(rules: PolicyRules, local: time) -> bool:
    if local < rules.window_start:
        return False
    return rules.window_end == END_OF_DAY or local < rules.window_end


def _open_everywhere(rules: PolicyRules, zones: Sequence[str], at: datetime) -> bool:
    return all(_in_window(rules, at.astimezone(_zone(z)).time()) for z in zones)


def _at_local(zone: str, day: date, wall: time) -> datetime:
    # A wall time inside a spring-forward gap resolves with the offset before the change (fold=0),
    # i.e. to a later wall time: later, never earlier, so still on the safe side of a window opening.
    return datetime.combine(day, wall, tzinfo=_zone(zone)).astimezone(UTC)


def _local_date(zone: str, at: datetime) -> date:
    return at.astimezone(_zone(zone)).date()


def counting_window_start(rules: PolicyRules, zones: Iterable[str], now: datetime, *, days: int) -> datetime:
    """UTC instant from which the caller counts "the last `days` local days, today included".

    With several candidate zones the earliest local midnight is used, so that a call counts if it falls
    in the window by any candidate clock (the conservative reading of US-05).
    """
    _require_aware("now", now)
    zs = resolve_zones(rules, zones)
    return min(_at_local(z, _local_date(z, now) - timedelta(days=days - 1), time(0)) for z in zs)


def _leaves_window(zones: Sequence[str], at: datetime, days: int) -> datetime:
    """When an event at `at` stops counting in a window of `days` local days (latest over the zones)."""
    return max(_at_local(z, _local_date(z, at) + timedelta(days=days), time(0)) for z in zones)


def quiet_period_end(rules: PolicyRules, zones: Iterable[str], last_conversation_at: datetime) -> datetime:
    """When the waiting period after a telephone conversation ends (the conversation day is day 1)."""
    return _leaves_window(
        resolve_zones(rules, zones), last_conversation_at, rules.quiet_days_after_conversation
    )


def window_text(rules: PolicyRules) -> str:
    """The window as people write it: "08:00-22:00"."""
    return f"{_format_wall(rules.window_start)}-{_format_wall(rules.window_end)}"


def next_allowed_time(rules: PolicyRules, zones: Iterable[str], after: datetime) -> datetime | None:
    """The first instant at or after `after` that is inside the window in every zone, in UTC.

    None when the windows never overlap (an empty merged window, or zones too far apart). Used to defer
    reminders and scheduled sends. Only the window is considered; `evaluate()` adds the other rules.
    """
    _require_aware("after", after)
    zs = resolve_zones(rules, zones)
    if rules.window_is_empty:
        return None
    if _open_everywhere(rules, zs, after):
        return after.astimezone(UTC)
    # The intersection of the zones' windows opens when its last zone opens, so the answer is one of the
    # zones' window openings; try them in order.
    openings = sorted(
        {
            _at_local(z, _local_date(z, after) + timedelta(days=offset), rules.window_start)
            for z in zs
            for offset in range(-1, _SEARCH_DAYS + 1)
        }
    )
    for opening in openings:
        if opening > after and _open_everywhere(rules, zs, opening):
            return opening
    return None


@dataclass(frozen=True)
class ZoneTime:
    zone: str
    local_time: datetime
    open: bool


@dataclass(frozen=True)
class WindowStatus:
    """What the agent sees before acting: "local time 20:45, window closes 21:00"."""

    open: bool
    zones: tuple[ZoneTime, ...]
    window_start: time
    window_end: time
    closes_at: datetime | None  # UTC; while open, the first instant it closes in some zone
    opens_at: datetime | None  # UTC; while closed, the next instant it is open in every zone


def window_status(rules: PolicyRules, zones: Iterable[str], now: datetime) -> WindowStatus:
    _require_aware("now", now)
    zs = resolve_zones(rules, zones)
    per_zone = tuple(
        ZoneTime(zone=z, local_time=now.astimezone(_zone(z)), open=_open_everywhere(rules, (z,), now))
        for z in zs
    )
    is_open = all(zt.open for zt in per_zone)
    closes_at = None
    if is_open:
        closings = []
        for zt in per_zone:
            if rules.window_end != END_OF_DAY:
                closings.append(_at_local(zt.zone, zt.local_time.date(), rules.window_end))
            elif rules.window_start != time(0):
                closings.append(_at_local(zt.zone, zt.local_time.date() + timedelta(days=1), time(0)))
        closes_at = min(closings) if closings else None
    return WindowStatus(
        open=is_open,
        zones=per_zone,
        window_start=rules.window_start,
        window_end=rules.window_end,
        closes_at=closes_at,
        opens_at=None if is_open else next_allowed_time(rules, zs, now),
    )


# --- Candidate zones --------------------------------------------------------------------------------

# PARTIAL: a handful of area codes for the US-05 "area code and address disagree" check. An area code not
# in this table is treated as "could be anywhere in the US" (all US zones), which is safe but narrow;
# extend the table, or set Cardholder.time_zone, to do better. Area codes move with mobile phones, which
# is exactly why a known address does not override them.
US_AREA_CODE_ZONES: dict[str, tuple[str, ...]] = {
    "201": ("America/New_York",),  # NJ
    "202": ("America/New_York",),  # DC
    "206": ("America/Los_Angeles",),  # Seattle
    "212": ("America/New_York",),  # New York City
    "213": ("America/Los_Angeles",),  # Los Angeles
    "214": ("America/Chicago",),  # Dallas
    "303": ("America/Denver",),  # Denver
    "305": ("America/New_York",),  # Miami
    "310": ("America/Los_Angeles",),  # Los Angeles
    "312": ("America/Chicago",),  # Chicago
    "404": ("America/New_York",),  # Atlanta
    "415": ("America/Los_Angeles",),  # San Francisco
    "505": ("America/Denver",),  # New Mexico
    "602": ("America/Phoenix",),  # Phoenix
    "617": ("America/New_York",),  # Boston
    "646": ("America/New_York",),  # New York City
    "702": ("America/Los_Angeles",),  # Las Vegas
    "713": ("America/Chicago",),  # Houston
    "718": ("America/New_York",),  # New York City
    "808": ("Pacific/Honolulu",),  # Hawaii
    "907": ("America/Anchorage", "America/Adak"),  # Alaska
    "915": ("America/Denver",),  # El Paso
}

# Every zone a state's territory lies in (from general knowledge, [M]; a state split between two zones
# lists both, so a contact is judged in each).
US_STATE_ZONES: dict[str, tuple[str, ...]] = {
    **dict.fromkeys(
        ["CT", "DE", "DC", "GA", "ME", "MD", "MA", "NH", "NJ", "NY", "NC", "OH", "PA", "RI", "SC", "VT"]
        + ["VA", "WV"],
        ("America/New_York",),
    ),
    **dict.fromkeys(
        ["AL", "AR", "IL", "IA", "LA", "MN", "MS", "MO", "OK", "WI"],
        ("America/Chicago",),
    ),
    **dict.fromkeys(["CO", "MT", "NM", "UT", "WY"], ("America/Denver",)),
    **dict.fromkeys(["CA", "WA"], ("America/Los_Angeles",)),
    "AZ": ("America/Phoenix", "America/Denver"),  # the Navajo Nation observes DST
    "AK": ("America/Anchorage", "America/Adak"),
    "HI": ("Pacific/Honolulu",),
    **dict.fromkeys(["FL", "IN", "KY", "MI", "TN"], ("America/New_York", "America/Chicago")),
    **dict.fromkeys(["KS", "NE", "ND", "SD", "TX"], ("America/Chicago", "America/Denver")),
    **dict.fromkeys(["ID", "OR", "NV"], ("America/Los_Angeles", "America/Denver")),
}

_NON_DIGITS = re.compile(r"\D")


def us_area_code(number: str) -> str | None:
    """The NANP area code of a phone number, or None if it is not a North American number."""
    text = number.strip()
    digits = _NON_DIGITS.sub("", text)
    if text.startswith(("+", "00")) and not digits.removeprefix("00").startswith("1"):
        return None
    digits = digits.removeprefix("00")
    if len(digits) == 11 and digits.startswith("1"):
        digits = digits[1:]
    if len(digits) == 10 and digits[0] in "23456789":
        return digits[:3]
    return None


def candidate_time_zones(
    rules: PolicyRules,
    *,
    known_zone: str = "",
    jurisdiction: str = "",
    phone_numbers: Iterable[str] = (),
    address_state: str = "",
) -> tuple[str, ...]:
    """The zones to judge a contact in (never empty; ready for ContactContext.zones).

    A known zone (Cardholder.time_zone) wins. Otherwise, for the US, every zone the phone area codes and
    the address state point to (US-05: "convenient in all candidate locations"); the state comes from
    `address_state` or from a layered jurisdiction code such as "US-MA". Anything else, and anything
    unknown, falls back to the policy's zones.
    """
    if known_zone and is_valid_zone(known_zone):
        return resolve_zones(rules, (known_zone,))
    country, _sep, region = jurisdiction.strip().upper().partition("-")
    zones: list[str] = []
    if country == "US":
        for number in phone_numbers:
            code = us_area_code(number)
            if code is None:
                continue
            # An area code we cannot place could be anywhere: judge in every US zone.
            zones.extend(US_AREA_CODE_ZONES.get(code, US_ZONES))
        state = (address_state or region).strip().upper()
        zones.extend(US_STATE_ZONES.get(state, ()))
    return resolve_zones(rules, zones)


# --- The gate -----------------------------------------------------------------------------------------


def _hard_block(rules: PolicyRules, ctx: ContactContext) -> Decision | None:
    """Flags, holds, roles and channels: refusals that no amount of waiting lifts."""
    if ctx.channel not in rules.allowed_channels:
        return _refuse(Rule.CHANNEL_NOT_ALLOWED, channel=ctx.channel)
    flags = ctx.flags
    notice = ctx.channel in NOTICE_CHANNELS
    # Deceased and bankruptcy first: 11 USC 362 stays every collection act, and a dead person's debt goes
    # to the estate through a specialist, not through the ordinary gate.
    if flags.deceased:
        return _refuse(Rule.DECEASED)
    if flags.bankruptcy:
        return _refuse(Rule.BANKRUPTCY)
    if flags.do_not_contact:
        return _refuse(Rule.DO_NOT_CONTACT)
    if flags.cease_communication and not (notice and ctx.purpose == PURPOSE_CEASE_NOTICE):
        return _refuse(Rule.CEASE_COMMUNICATION)
    # Reg F 1006.6(b)(2) (US-07); location calls to third parties stop too (15 USC 1692b(6)).
    if rules.attorney_contact_only and flags.attorney_represented and ctx.party_role != ATTORNEY:
        return _refuse(Rule.ATTORNEY_REPRESENTED)
    verification = notice and ctx.purpose == PURPOSE_DISPUTE_VERIFICATION
    # Reg F 1006.38(d)(2) (US-13): collection stops until the verification is sent; sending it must pass.
    if ctx.open_dispute and not verification:
        return _refuse(Rule.OPEN_DISPUTE)
    # A dispute or a cease request usually puts the case on hold too; the notice that answers it must
    # still get through. Any other contact waits for the hold to be released.
    if ctx.on_hold and not (notice and ctx.purpose != PURPOSE_COLLECTION):
        return _refuse(Rule.ON_HOLD)
    if ctx.party_role == UNRELATED_THIRD_PARTY:
        if rules.unrelated_third_party_forbidden:
            return Decision(
                allowed=False, rule=Rule.UNRELATED_THIRD_PARTY, message=_THIRD_PARTY_FORBIDDEN_MESSAGE
            )
        if rules.unrelated_third_party_calls_only and ctx.channel != OUTBOUND_CALL:
            return _refuse(Rule.THIRD_PARTY_CHANNEL, channel=ctx.channel)
        if ctx.debtor_unreachable_days < rules.unrelated_third_party_min_unreachable_days:
            # No allowed_from: reaching the debtor in the meantime resets the count.
            return _refuse(
                Rule.UNRELATED_THIRD_PARTY,
                days=rules.unrelated_third_party_min_unreachable_days,
                unreachable=ctx.debtor_unreachable_days,
            )
    return None


def _recording_block(rules: PolicyRules, ctx: ContactContext) -> Decision | None:
    if (
        ctx.completed_call
        and ctx.channel in (OUTBOUND_CALL, INBOUND_CALL)
        and rules.recording_required_for_completed_call
        and not ctx.has_recording
    ):
        return _refuse(Rule.RECORDING_REQUIRED)
    return None


def _debt_calls(rules: PolicyRules, zones: Sequence[str], ctx: ContactContext) -> tuple[int, datetime | None]:
    """How many calls count against the 7-day cap, and when enough of them leave the window."""
    cap = rules.max_calls_per_debt_per_7_days
    assert cap is not None
    if ctx.debt_call_times is None:
        return ctx.calls_on_debt_last_7_days, None
    start = counting_window_start(rules, zones, ctx.now, days=DEBT_WINDOW_DAYS)
    times = sorted(t for t in ctx.debt_call_times if t >= start)
    count = max(len(times), ctx.calls_on_debt_last_7_days)
    if count < cap or cap == 0 or len(times) < count:
        return count, None
    # Of `count` calls, `count - cap + 1` must leave the window for one more to fit; they leave oldest first.
    return count, _leaves_window(zones, times[count - cap], DEBT_WINDOW_DAYS)


def evaluate(rules: PolicyRules, ctx: ContactContext) -> Decision:
    """May this contact happen at `ctx.now`? The one gate for UI, API and tasks.

    Inbound calls are never refused (the cardholder chose to call; only the recording rule applies when
    the call is logged). Hard stops come first; then the time-based limits, all of them, so that
    `allowed_from` is the first instant at which every one of them has passed.
    """
    if ctx.channel == INBOUND_CALL:
        return _recording_block(rules, ctx) or _ALLOWED
    hard = _hard_block(rules, ctx) or _recording_block(rules, ctx)
    if hard is not None:
        return hard

    zones = resolve_zones(rules, ctx.zones)
    is_call = ctx.channel == OUTBOUND_CALL
    # Reg F 1006.14(b)(3): calls to the consumer's attorney do not count towards the frequency limits.
    person_limits = ctx.party_role != ATTORNEY
    # (rule, params, instant from which the rule no longer refuses; None = cannot be known)
    failures: list[tuple[Rule, dict[str, Any], datetime | None]] = []

    if rules.quiet_days_after_conversation and ctx.last_conversation_at and is_call and person_limits:
        # US-02: the conversation day is day 1, so calls resume at local midnight starting day N + 1.
        quiet_until = _leaves_window(zones, ctx.last_conversation_at, rules.quiet_days_after_conversation)
        if ctx.now < quiet_until:
            failures.append(
                (
                    Rule.QUIET_AFTER_CONVERSATION,
                    {
                        "date": _local_date(zones[0], ctx.last_conversation_at).isoformat(),
                        "days": rules.quiet_days_after_conversation,
                    },
                    quiet_until,
                )
            )

    cap = rules.max_calls_per_debt_per_7_days
    if cap is not None and ctx.channel in rules.debt_cap_channels and person_limits:
        count, frees_at = _debt_calls(rules, zones, ctx)
        if count >= cap:
            failures.append((Rule.CALLS_PER_DEBT_PER_7_DAYS, {"count": count, "limit": cap}, frees_at))

    cap = rules.max_calls_per_number_per_day
    if cap is not None and is_call and ctx.calls_to_number_today >= cap:
        # CN-06: the count starts again at local midnight.
        failures.append(
            (
                Rule.CALLS_PER_NUMBER_PER_DAY,
                {"count": ctx.calls_to_number_today, "limit": cap},
                None if cap == 0 else _leaves_window(zones, ctx.now, 1),
            )
        )

    windowed = ctx.channel not in WINDOW_EXEMPT_CHANNELS
    if windowed and not _open_everywhere(rules, zones, ctx.now):
        failures.append(
            (
                Rule.CONTACT_WINDOW,
                {
                    "start": _format_wall(rules.window_start),
                    "end": _format_wall(rules.window_end),
                    "zones": ", ".join(zones),
                },
                ctx.now,
            )
        )

    if not failures:
        return _ALLOWED
    releases = [release for _rule, _params, release in failures]
    allowed_from = None
    if all(release is not None for release in releases):
        earliest = max(r for r in releases if r is not None)
        allowed_from = next_allowed_time(rules, zones, earliest) if windowed else earliest.astimezone(UTC)
    rule, params, _release = failures[0]
    return Decision(
        allowed=False,
        rule=rule,
        message=MESSAGES[rule],
        params=params,
        allowed_from=allowed_from,
        also=tuple(r for r, _p, _t in failures[1:]),
    )


def _format_wall(wall: time) -> str:
    return "24:00" if wall == END_OF_DAY else wall.strftime("%H:%M")
