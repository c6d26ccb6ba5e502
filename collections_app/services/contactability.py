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
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field, fields, replace
from datetime import UTC, datetime, timedelta
from enum import StrEnum

from django.db.models import (
    BooleanField,
    Count,
    DateTimeField,
    Exists,
    ExpressionWrapper,
    F,
    IntegerField,
    Max,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Value,
)
from django.db.models.functions import Coalesce
from django.utils import formats, timezone
from django.utils.translation import gettext as _

from collections_app.models import (
    CALL_CHANNELS,
    OPEN_STATES,
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
from core.compiled import CompiledRead, Param
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
        # Read with the contact points already by a page (contact_points_for_page).
        phones = getattr(case, "loaded_debtor_phones", None)
    if phones is None:
        # Unevaluated: the engine reads the numbers only when they can move the zones (a US person of
        # unknown zone), and only then is the query run.
        phones = ContactPoint.objects.filter(
            cardholder=holder, kind="phone", party_role=PartyRole.DEBTOR, active=True
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


def _per_number_calls(since, *, unanswered_only: bool) -> QuerySet[ContactAttempt]:
    """The ledger rows the per-number cap counts from `since` (a time, or a Param): outbound calls, only
    the unanswered ones when the profile says so."""
    calls = _ledger().filter(channel=Channel.OUTBOUND_CALL, started_at__gte=since)
    return calls.filter(outcome__in=UNANSWERED) if unanswered_only else calls


def _number_calls_today(
    rules: policy.PolicyRules, zones: tuple[str, ...], now: datetime
) -> QuerySet[ContactAttempt] | None:
    """The ledger rows the per-number cap counts today; None when the profile has no per-number cap."""
    if rules.max_calls_per_number_per_day is None:
        return None
    since = policy.counting_window_start(rules, zones, now, days=1)
    return _per_number_calls(since, unanswered_only=rules.count_unanswered_only)


def calls_to_numbers_today(
    rules: policy.PolicyRules, zones: tuple[str, ...], now: datetime, points: list[ContactPoint]
) -> dict[int, int]:
    """Outbound calls to each of these numbers today, as the per-number cap counts them (only unanswered
    ones when the profile says so). Empty when the profile has no per-number cap. Points loaded by
    `contact_points_for_page` carry their count already (`calls_today`) and cost no query."""
    calls = _number_calls_today(rules, zones, now)
    if calls is None or not points:
        return {}
    if all(hasattr(p, "calls_today") for p in points):
        return {p.pk: p.calls_today for p in points if p.calls_today}
    calls = calls.filter(contact_point__in=points)
    return dict(calls.values_list("contact_point_id").annotate(n=Count("pk")))


def _contact_points_query(unanswered_only: bool | None) -> QuerySet[ContactPoint]:
    """The case page's contact points with today's calls per number; `unanswered_only` None: nothing is
    counted (no per-number cap, or no profile)."""
    points = ContactPoint.objects.filter(cardholder_id=Param("holder"), active=True).order_by(
        "-is_primary", "pk"
    )
    if unanswered_only is None:
        return points.annotate(calls_today=Value(0, output_field=IntegerField()))
    calls = _per_number_calls(Param("since", DateTimeField()), unanswered_only=unanswered_only)
    counted = calls.filter(contact_point=OuterRef("pk")).values("contact_point").annotate(n=Count("pk"))
    return points.annotate(calls_today=Coalesce(Subquery(counted.values("n")), 0))


# Compiled once per way of counting (core.compiled): the case page reads it for every case opened.
_contact_points_read = CompiledRead(_contact_points_query)


def contact_points_for_page(
    case: Case, *, now: datetime, policies: PolicyBook | None = None
) -> list[ContactPoint]:
    """The cardholder's active contact points, primary first, each with `calls_today` (the calls the
    per-number cap counts today, as `calls_to_numbers_today` counts them): one query for the case page.
    The debtor's numbers among them are kept on `case` (`loaded_debtor_phones`) for `zones_for`."""
    holder = case.account.cardholder
    try:
        rules = rules_for(holder.jurisdiction, policies=policies)
    except LookupError:  # no profile for the jurisdiction: nothing is counted (compliance_status says so)
        rules = None
    if rules is None or rules.max_calls_per_number_per_day is None:
        points = _contact_points_read(None, holder=holder.pk)
    else:
        since = policy.counting_window_start(rules, zones_for(case, rules), now, days=1)
        points = _contact_points_read(rules.count_unanswered_only, holder=holder.pk, since=since)
    case.loaded_debtor_phones = [
        p.value for p in points if p.kind == "phone" and p.party_role == PartyRole.DEBTOR
    ]
    return points


def _open_dispute(case: Case) -> bool:
    return CaseHold.objects.filter(case=case, released_at__isnull=True, reason=HoldReason.DISPUTE).exists()


def is_open_dispute(active_hold: CaseHold | None) -> bool:
    """`_open_dispute` for a page that has loaded the case's active hold (a case has at most one)."""
    return active_hold is not None and active_hold.reason == HoldReason.DISPUTE


@dataclass(frozen=True)
class LedgerCounts:
    """What `build_context` reads from the ledger about the debt for a moment: the calls the weekly
    cap counts and the last conversation (starting the waiting period). A page asking several
    decisions at the same moment reads them once (ComplianceStatus.ledger)."""

    debt_call_times: tuple[datetime, ...]
    last_conversation_at: datetime | None


NO_LEDGER = LedgerCounts((), None)


def read_ledger(
    *, case: Case, rules: policy.PolicyRules, zones: tuple[str, ...], now: datetime
) -> LedgerCounts:
    """The debt's calls the weekly cap counts and its last conversation at `now`, in one query (the
    case page asks on every load): the rows of either kind, each row carrying the last conversation's
    time (an uncorrelated subquery, computed once)."""
    debt_q = None
    if rules.max_calls_per_debt_per_7_days is not None:
        week_start = policy.counting_window_start(rules, zones, now, days=policy.DEBT_WINDOW_DAYS)
        debt_q = (
            Q(channel__in=rules.debt_cap_channels, started_at__gte=week_start)
            & ~Q(outcome__in=NOT_CONNECTED)
            & ~Q(party_role=PartyRole.ATTORNEY)
        )
    if debt_q is None and not rules.quiet_days_after_conversation:
        return NO_LEDGER
    rows = _ledger().filter(case__account_id=case.account_id, started_at__lte=now).order_by()
    wanted = debt_q if debt_q is not None else Q()
    if rules.quiet_days_after_conversation:
        # Only calls we placed start the waiting period; the consumer calling us does not.
        last = (
            rows.filter(channel=Channel.OUTBOUND_CALL, outcome__in=RIGHT_PARTY_OUTCOMES)
            .order_by("-started_at")
            .values("started_at")[:1]
        )
        rows = rows.annotate(last_conversation=Subquery(last))
        conversation = Q(started_at=F("last_conversation"))
        wanted = conversation if debt_q is None else wanted | conversation
    else:
        rows = rows.annotate(last_conversation=Value(None, output_field=DateTimeField()))
    counted = (
        ExpressionWrapper(debt_q, output_field=BooleanField())
        if debt_q is not None
        else Value(False, output_field=BooleanField())
    )
    rows = rows.filter(wanted).annotate(counted=counted)
    found = list(rows.values_list("started_at", "counted", "last_conversation"))
    return LedgerCounts(
        tuple(at for at, is_counted, _last in found if is_counted),
        found[0][2] if found else None,
    )


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
    open_dispute: bool | None = None,
    ledger: LedgerCounts | None = None,
    count_debt: bool = True,
) -> policy.ContactContext:
    """Count what the rules count, from the ledger, for one intended contact (`calls_to_number_today`,
    `open_dispute` and `ledger` - read at the same `now` - when the caller has read them already).
    `count_debt=False` leaves the debt's calls and last conversation out (a caller that does not
    apply the frequency limits)."""
    holder = case.account.cardholder
    if calls_to_number_today is None:
        calls_to_number_today = 0
        if contact_point is not None:
            counts = calls_to_numbers_today(rules, zones, now, [contact_point])
            calls_to_number_today = counts.get(contact_point.pk, 0)
    if ledger is None:
        ledger = read_ledger(case=case, rules=rules, zones=zones, now=now) if count_debt else NO_LEDGER
    debt_times, last_conversation = ledger.debt_call_times, ledger.last_conversation_at
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
        open_dispute=_open_dispute(case) if open_dispute is None else open_dispute,
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
    calls_to_number_today: int | None = None,
    open_dispute: bool | None = None,
    ledger: LedgerCounts | None = None,
) -> policy.Decision:
    """The policy's answer for one contact of `case` at `now`: the one question every contact path asks
    (a person's contact in services.contacts, Next case, a reminder at send time). A page that has
    counted `calls_to_number_today` or read `open_dispute` or the `ledger` at `now` already passes
    them (build_context)."""
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
        calls_to_number_today=calls_to_number_today,
        open_dispute=open_dispute,
        ledger=ledger,
    )
    return policy.evaluate(rules, ctx)


# --- Stored contactability (Case.contactable_from, contactable_until, contact_block_rule, contact_zones) -
#
# "May the debtor's primary number be called now, and from when?" is asked by Next case, My work and the
# queue lists (claims.ready_now). It is answered here, by the engine, when an input changes
# (contactability_refresh: a contact logged, a hold placed or released, a flag or number changed, a case
# opened; contactability_recompute: many cases at once, e.g. an edited profile) and stored. Between
# changes only time moves the answer, and only one way matters: the window closes. contactability_roll
# (beat, every few minutes, and the nightly run) moves the cases whose window has closed to its next
# opening, set-based. Every other time-based limit (the caps, the quiet days) only lifts as time passes,
# and the stored contactable_from already says when.

# contactable_from of a case that no passage of time makes callable (a flag, a hold, a dispute, a window
# that never opens): only a change that refreshes the case lifts it.
CONTACT_BLOCKED_UNTIL_CHANGED = datetime(9999, 12, 31, tzinfo=UTC)
CONTACT_NOT_COMPUTED = "not_computed"  # My work's "why not" for a case not computed yet (NULL from)
# A cardholder whose jurisdiction has no contact policy (neither stored nor built in) is never called:
# nothing says when a call would be lawful. Stored as blocked, with this reason, until a profile exists.
NO_CONTACT_POLICY = "no_contact_policy"
_STORED_FIELDS = ["contactable_from", "contactable_until", "contact_block_rule", "contact_zones"]
_CHUNK = 5000


@dataclass(frozen=True)
class StoredContactability:
    """What is stored on a case: a call is allowed in [contactable_from, contactable_until)."""

    contactable_from: datetime
    contactable_until: datetime | None
    rule: str
    zones: tuple[str, ...]

    def apply_to(self, case: Case) -> None:
        for name, value in self.as_update().items():
            setattr(case, name, value)

    def as_update(self) -> dict:
        return {
            "contactable_from": self.contactable_from,
            "contactable_until": self.contactable_until,
            "contact_block_rule": str(self.rule),
            "contact_zones": ",".join(self.zones),
        }


def stored_answer(
    rules: policy.PolicyRules, zones: tuple[str, ...], decision: policy.Decision, now: datetime
) -> StoredContactability:
    """The engine's decision for a call at `now` as the stored interval: from now if allowed, else from
    `decision.allowed_from` (never, if the decision cannot say), until the window open then closes."""
    rule = "" if decision.allowed else str(decision.rule)
    start = now if decision.allowed else decision.allowed_from
    if start is None:
        return StoredContactability(CONTACT_BLOCKED_UNTIL_CHANGED, None, rule, zones)
    window = policy.window_status(rules, zones, start)
    if not window.open:
        # The engine defers a call to an instant inside the window; this only guards that promise.
        start, rule = window.opens_at, rule or str(policy.Rule.CONTACT_WINDOW)
        if start is None:
            return StoredContactability(CONTACT_BLOCKED_UNTIL_CHANGED, None, rule, zones)
        window = policy.window_status(rules, zones, start)
    return StoredContactability(start, window.closes_at, rule, zones)


def _primary_phones(cardholder_ids: Iterable[int]) -> dict[int, ContactPoint]:
    """Each cardholder's number Next case dials: the first active phone, primary first (the order the
    case page lists them in, so the compliance panel judges the same number)."""
    first: dict[int, ContactPoint] = {}
    points = ContactPoint.objects.filter(cardholder_id__in=list(cardholder_ids), kind="phone", active=True)
    for point in points.order_by("-is_primary", "pk"):
        first.setdefault(point.cardholder_id, point)
    return first


def _debtor_numbers(cardholder_ids: Iterable[int]) -> dict[int, list[str]]:
    """The numbers whose area codes place a person (zones_for reads the same ones)."""
    numbers: dict[int, list[str]] = defaultdict(list)
    rows = ContactPoint.objects.filter(
        cardholder_id__in=list(cardholder_ids), kind="phone", party_role=PartyRole.DEBTOR, active=True
    ).values_list("cardholder_id", "value")
    for holder_id, value in rows:
        numbers[holder_id].append(value)
    return numbers


def contactability_refresh(
    *,
    case_ids: Iterable[int] = (),
    cardholder_ids: Iterable[int] = (),
    now: datetime | None = None,
    policies: PolicyBook | None = None,
) -> int:
    """Compute and store the contactability of these open cases (`case_ids`, and every open case of
    `cardholder_ids`), each with the engine's full decision for an outbound call to the primary number
    (what `decide` answers: flags, holds, disputes, every cap, the quiet days, the window).

    Called in the transaction of whatever changes an input: a contact logged (every open case of that
    cardholder: the per-number cap counts calls about their other accounts), a hold placed or released,
    a flag or a number changed, a case opened; and by contactability_recompute for the cases whose
    ledger counts. The facts are read for all the cases at once (`_facts_of`: a few queries, however
    many cases), the engine decides each case, one bulk UPDATE writes them. Returns how many cases
    were written."""
    now = now or timezone.now()
    policies = policies or PolicyBook()
    match = Q(pk__in=list(case_ids)) | Q(account__cardholder_id__in=list(cardholder_ids))
    cases = list(Case.objects.filter(match, state__in=OPEN_STATES).select_related("account__cardholder"))
    if not cases:
        return 0
    holder_ids = {case.account.cardholder_id for case in cases}
    primaries = _primary_phones(holder_ids)
    numbers = _debtor_numbers(holder_ids)
    judged: list[tuple[Case, policy.PolicyRules, tuple[str, ...]]] = []
    for case in cases:
        holder_id = case.account.cardholder_id
        try:
            rules = rules_for(case.account.cardholder.jurisdiction, policies=policies)
        except LookupError:
            StoredContactability(CONTACT_BLOCKED_UNTIL_CHANGED, None, NO_CONTACT_POLICY, ()).apply_to(case)
            continue
        judged.append((case, rules, zones_for(case, rules, phones=numbers.get(holder_id, []))))
    facts = _facts_of(judged, primaries, now)
    for case, rules, zones in judged:
        primary = primaries.get(case.account.cardholder_id)
        calls_to_number, disputed, ledger = facts[case.pk]
        context = build_context(
            case=case,
            rules=rules,
            zones=zones,
            channel=Channel.OUTBOUND_CALL,
            now=now,
            contact_point=primary,
            calls_to_number_today=calls_to_number,
            open_dispute=disputed,
            ledger=ledger,
        )
        stored_answer(rules, zones, policy.evaluate(rules, context), now).apply_to(case)
    Case.objects.bulk_update(cases, _STORED_FIELDS, batch_size=1000)
    return len(cases)


def _facts_of(
    judged: list[tuple[Case, policy.PolicyRules, tuple[str, ...]]],
    primaries: dict[int, ContactPoint],
    now: datetime,
) -> dict[int, tuple[int, bool, LedgerCounts]]:
    """What `build_context` would read from the database for each case (the calls to its primary number
    today, an open dispute, the debt's ledger: `calls_to_numbers_today`, `_open_dispute`, `read_ledger`),
    read for all the cases in four queries: the ledger rows of the widest counting window and the last
    conversations of their accounts, then sorted out per case in Python with each case's own rules and
    zones. Case id -> (calls to the primary number today, open dispute, LedgerCounts)."""
    if not judged:
        return {}
    case_ids = [case.pk for case, _rules, _zones in judged]
    disputed = set(
        CaseHold.objects.filter(
            case_id__in=case_ids, released_at__isnull=True, reason=HoldReason.DISPUTE
        ).values_list("case_id", flat=True)
    )
    # Each case's windows: the day the per-number cap counts, the week the debt cap counts.
    day_starts: dict[int, datetime] = {}
    week_starts: dict[int, datetime] = {}
    quiet_accounts: set[int] = set()
    for case, rules, zones in judged:
        if rules.max_calls_per_number_per_day is not None and case.account.cardholder_id in primaries:
            day_starts[case.pk] = policy.counting_window_start(rules, zones, now, days=1)
        if rules.max_calls_per_debt_per_7_days is not None:
            week_starts[case.pk] = policy.counting_window_start(
                rules, zones, now, days=policy.DEBT_WINDOW_DAYS
            )
        if rules.quiet_days_after_conversation:
            quiet_accounts.add(case.account_id)

    number_calls: dict[int, list[tuple[str, datetime]]] = defaultdict(list)
    if day_starts:
        point_ids = {
            primaries[case.account.cardholder_id].pk for case, _r, _z in judged if case.pk in day_starts
        }
        rows = _ledger().filter(
            contact_point_id__in=point_ids,
            channel=Channel.OUTBOUND_CALL,
            started_at__gte=min(day_starts.values()),
        )
        for point_id, outcome, started_at in rows.values_list("contact_point_id", "outcome", "started_at"):
            number_calls[point_id].append((outcome, started_at))

    debt_calls: dict[int, list[tuple[str, str, str, datetime]]] = defaultdict(list)
    if week_starts:
        accounts = {case.account_id for case, _r, _z in judged if case.pk in week_starts}
        rows = _ledger().filter(
            case__account_id__in=accounts, started_at__gte=min(week_starts.values()), started_at__lte=now
        )
        fields = ("case__account_id", "channel", "outcome", "party_role", "started_at")
        for account_id, *row in rows.values_list(*fields):
            debt_calls[account_id].append(tuple(row))

    last_conversations: dict[int, datetime] = {}
    if quiet_accounts:
        # Only calls we placed start the waiting period; the consumer calling us does not.
        rows = (
            _ledger()
            .filter(
                case__account_id__in=quiet_accounts,
                channel=Channel.OUTBOUND_CALL,
                outcome__in=RIGHT_PARTY_OUTCOMES,
                started_at__lte=now,
            )
            .values("case__account_id")
            .annotate(last=Max("started_at"))
            .order_by()
        )
        last_conversations = {row["case__account_id"]: row["last"] for row in rows}

    facts = {}
    for case, rules, _zones in judged:
        calls_to_number = 0
        if case.pk in day_starts:
            point = primaries[case.account.cardholder_id]
            day_start = day_starts[case.pk]
            calls_to_number = sum(
                1
                for outcome, at in number_calls.get(point.pk, ())
                if at >= day_start and (not rules.count_unanswered_only or outcome in UNANSWERED)
            )
        debt_times: tuple[datetime, ...] = ()
        if case.pk in week_starts:
            week_start, channels = week_starts[case.pk], rules.debt_cap_channels
            debt_times = tuple(
                sorted(
                    at
                    for channel, outcome, role, at in debt_calls.get(case.account_id, ())
                    if channel in channels
                    and at >= week_start
                    and outcome not in NOT_CONNECTED
                    and role != PartyRole.ATTORNEY
                )
            )
        last = last_conversations.get(case.account_id) if rules.quiet_days_after_conversation else None
        facts[case.pk] = (calls_to_number, case.pk in disputed, LedgerCounts(debt_times, last))
    return facts


def contactability_recompute(
    cases: QuerySet[Case], *, now: datetime | None = None, policies: PolicyBook | None = None
) -> int:
    """Compute and store the contactability of many open cases at once (cases opened in bulk, an edited
    profile, a daily file's changes), set-based.

    Without anything recent in the ledger about the person, the answer depends only on the profile, the
    zones, the flags, an open dispute and a hold: the cases are grouped by those, the engine decides each
    group once, and one UPDATE per group writes it. A case whose cardholder was contacted recently enough
    for a cap or the quiet days to count is decided on its own (contactability_refresh).
    Returns how many cases were written."""
    now = now or timezone.now()
    policies = policies or PolicyBook()
    holder = "account__cardholder__"
    last_contact = (
        ContactAttempt.objects.filter(cardholder_id=OuterRef("account__cardholder_id"))
        .order_by("-started_at")
        .values("started_at")[:1]
    )
    dispute = CaseHold.objects.filter(
        case_id=OuterRef("pk"), released_at__isnull=True, reason=HoldReason.DISPUTE
    )
    scope = (
        cases.filter(state__in=OPEN_STATES)
        .annotate(last_contact=Subquery(last_contact), dispute=Exists(dispute))
        .order_by("pk")
    )
    columns = ["pk", "account__cardholder_id", f"{holder}jurisdiction", f"{holder}time_zone", "state"]
    columns += ["last_contact", "dispute", *(f"{holder}{name}" for name in FLAG_NAMES)]
    written, after = 0, 0
    while rows := list(scope.filter(pk__gt=after).values_list(*columns)[:_CHUNK]):
        after = rows[-1][0]
        # Only a US person of unknown zone is judged in the zones of their numbers' area codes.
        placed_by_numbers = {
            row[1]
            for row in rows
            if not policy.is_valid_zone(row[3] or "")
            and policy.country_of(row[2] or DEFAULT_JURISDICTION) == "US"
        }
        numbers = _debtor_numbers(placed_by_numbers) if placed_by_numbers else {}
        groups: dict[tuple, list[int]] = defaultdict(list)
        one_by_one: list[int] = []
        for pk, holder_id, jurisdiction, zone, state, contacted, disputed, *flags in rows:
            jurisdiction = jurisdiction or DEFAULT_JURISDICTION
            try:
                rules = rules_for(jurisdiction, policies=policies)
            except LookupError:
                one_by_one.append(pk)  # stored as NO_CONTACT_POLICY there
                continue
            counted_days = max(policy.DEBT_WINDOW_DAYS, rules.quiet_days_after_conversation or 0) + 2
            if contacted is not None and contacted >= now - timedelta(days=counted_days):
                one_by_one.append(pk)
                continue
            zones = policy.candidate_time_zones(
                rules,
                known_zone=zone or "",
                jurisdiction=jurisdiction,
                phone_numbers=numbers.get(holder_id, ()),
            )
            key = (jurisdiction, zones, tuple(map(bool, flags)), disputed, state == CaseState.ON_HOLD)
            groups[key].append(pk)
        for (jurisdiction, zones, flags, disputed, on_hold), pks in groups.items():
            rules = rules_for(jurisdiction, policies=policies)
            context = policy.ContactContext(
                channel=Channel.OUTBOUND_CALL,
                now=now,
                flags=policy.CardholderFlags(**dict(zip(FLAG_NAMES, flags, strict=True))),
                zones=zones,
                open_dispute=disputed,
                on_hold=on_hold,
            )
            answer = stored_answer(rules, zones, policy.evaluate(rules, context), now)
            # Through the caller's queryset, so its conditions hold again at write time (the roll passes
            # "not computed yet": a case refreshed meanwhile is left as it is).
            written += cases.filter(pk__in=pks).update(**answer.as_update())
        if one_by_one:
            written += contactability_refresh(case_ids=one_by_one, now=now, policies=policies)
    return written


def contactability_roll(*, now: datetime | None = None, policies: PolicyBook | None = None) -> dict[str, int]:
    """Move every open case whose window has closed to the window's next opening, and compute the cases
    not computed yet (opened in bulk). Run by beat every few minutes and by the nightly pipeline; Next case
    and My work never run it: they read the stored columns, and ready_now checks contactable_until, so a
    window that closed before the roll never shows a case as ready.

    Set-based: once a window has closed, its next opening depends only on the profile and the zones, so
    the due cases are grouped by (jurisdiction, contact_zones), the engine answers once per group, and one
    UPDATE per group writes it. Returns {"rolled": n, "initialised": m}."""
    now = now or timezone.now()
    policies = policies or PolicyBook()
    jurisdiction = "account__cardholder__jurisdiction"
    due = Case.objects.filter(state__in=OPEN_STATES, contactable_until__lte=now)
    rolled = 0
    # Most runs (beat, every few minutes) find no window closed: one probe of case_contact_until_idx
    # answers that, where the grouping query was planned for the rows the statistics expect (thousands,
    # in parallel workers: 15 ms for nothing at a million cases).
    groups = due.values_list(jurisdiction, "contact_zones").distinct().order_by() if due.exists() else ()
    for code, zones_text in groups:
        rules = rules_for(code or DEFAULT_JURISDICTION, policies=policies)
        zones = policy.resolve_zones(rules, zones_text.split(",") if zones_text else ())
        opens = policy.next_allowed_time(rules, zones, now)
        if opens is None:
            rule = policy.Rule.CONTACT_WINDOW
            answer = StoredContactability(CONTACT_BLOCKED_UNTIL_CHANGED, None, rule, zones)
        else:
            closes = policy.window_status(rules, zones, opens).closes_at
            rule = "" if opens <= now else policy.Rule.CONTACT_WINDOW
            answer = StoredContactability(opens, closes, rule, zones)
        update = {**answer.as_update(), "contact_zones": zones_text}  # the group's key stays as it was
        # contactable_until <= now is checked again at write time: a case refreshed meanwhile is kept.
        rolled += due.filter(**{jurisdiction: code, "contact_zones": zones_text}).update(**update)
    uncomputed = Case.objects.filter(state__in=OPEN_STATES, contactable_from__isnull=True)
    initialised = contactability_recompute(uncomputed, now=now, policies=policies)
    return {"rolled": rolled, "initialised": initialised}


def profile_cases(codes: Iterable[str]) -> QuerySet[Case]:
    """The open cases governed by these profile codes: a country's code covers its layers ("US" covers
    "US-MA"), and the default profile covers cardholders without a jurisdiction."""
    match = Q()
    for code in codes:
        match |= Q(account__cardholder__jurisdiction=code)
        match |= Q(account__cardholder__jurisdiction__startswith=f"{code}-")
        if code == DEFAULT_JURISDICTION:
            match |= Q(account__cardholder__jurisdiction="")
    return Case.objects.filter(match, state__in=OPEN_STATES) if match else Case.objects.none()


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
    calls_today: dict[int, int] = field(default_factory=dict)  # contact point id: calls the cap counts
    ledger: LedgerCounts | None = None  # the debt's calls and last conversation, read at `now`


def compliance_status(
    *,
    case: Case,
    contact_points: list[ContactPoint],
    now: datetime | None = None,
    policies: PolicyBook | None = None,
    open_dispute: bool | None = None,
) -> ComplianceStatus:
    """The compliance panel: local time and window, attempts used against each cap, the waiting period,
    channels allowed, and whether a call to the primary number is allowed now (and if not, from when).
    `open_dispute` when the page has read it already (`is_open_dispute`)."""
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
        open_dispute=open_dispute,
    )
    ledger = LedgerCounts(tuple(ctx.debt_call_times or ()), ctx.last_conversation_at)
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
        calls_today=used,
        ledger=ledger,
    )


# --- One decision for every action ---------------------------------------------------------------------
#
# Every action that reaches the cardholder, or stands for a conversation with them, asks the engine through
# `action_decision`, and a refusal is raised one way (`action_check`, `refusal`): the case page, the API
# and the jobs get the same answer for the same action - the rule, and when it lifts. The page asks the
# same question before submission, to say so on the form.
#
# Revealing a masked field is not an action of the contact policy: it shows the bank's own record to a
# member of staff and reaches nobody (it has its own rules - the REVEAL_PII capability, working the case -
# and is written on the timeline). Holding it to the contact window would stop an agent from checking the
# identity of a cardholder who calls in at 22:30.


class Action(StrEnum):
    """What the contact policy judges, and the contact each action stands for."""

    CONTACT = "contact"  # a person logs a contact: that contact (services.contacts)
    PROMISE = "promise"  # a promise to pay: the conversation it is made in (services.promises)
    CALLBACK = "callback"  # a callback: the call it will be, at its time (services.claims)
    MESSAGE = "message"  # a reminder: that message, at send time (messaging.services)


def primary_phone(case: Case, *, points: list[ContactPoint] | None = None) -> ContactPoint | None:
    """The number a callback will dial: the debtor's active primary phone, else their first one.
    `points`: the cardholder's active contact points, primary first, when loaded already (no query)."""
    if points is not None:
        debtor = (p for p in points if p.kind == "phone" and p.active and p.party_role == PartyRole.DEBTOR)
        return min(debtor, key=lambda p: (not p.is_primary, p.pk), default=None)
    return (
        ContactPoint.objects.filter(
            cardholder_id=case.account.cardholder_id, kind="phone", active=True, party_role=PartyRole.DEBTOR
        )
        .order_by("-is_primary", "pk")
        .first()
    )


def _promise_decision(
    *,
    case: Case,
    at: datetime,
    conversation: ContactAttempt | None,
    policies: PolicyBook | None,
    open_dispute: bool | None = None,
) -> policy.Decision:
    # A promise is made in a conversation. Given the contact it was made in (already logged, and judged
    # when it was), it is judged as that contact - its channel, its party, its time: a promise taken on a
    # call the cardholder made passes whenever the call came (the engine never refuses an inbound call),
    # and one written up later from an earlier call is paperwork about a contact already allowed. Without
    # one, it is a conversation now on a call we placed: the window, the flags and the holds apply.
    # The frequency limits do not: a promise is not one more call, and the conversation it was made in is
    # in the ledger already (counted, it would put a US promise inside its own waiting period).
    channel, party_role = Channel.OUTBOUND_CALL, PartyRole.DEBTOR
    if conversation is not None:
        channel, at = conversation.channel, conversation.started_at
        party_role = conversation.party_role or PartyRole.DEBTOR
    rules = rules_for(case.account.cardholder.jurisdiction, policies=policies)
    ctx = build_context(
        case=case,
        rules=rules,
        zones=zones_for(case, rules),
        channel=channel,
        now=at,
        party_role=party_role,
        calls_to_number_today=0,
        open_dispute=open_dispute,
        count_debt=False,  # not applied to a promise (below)
    )
    ctx = replace(ctx, calls_on_debt_last_7_days=0, debt_call_times=None, last_conversation_at=None)
    return policy.evaluate(rules, ctx)


def action_decision(
    *,
    case: Case,
    action: str,
    at: datetime,
    channel: str = Channel.OUTBOUND_CALL,
    contact_point: ContactPoint | None = None,
    party_role: str = PartyRole.DEBTOR,
    outcome: str = "",
    recording_ref: str = "",
    purpose: str = policy.PURPOSE_COLLECTION,
    conversation: ContactAttempt | None = None,
    policies: PolicyBook | None = None,
    calls_to_number_today: int | None = None,
    open_dispute: bool | None = None,
    ledger: LedgerCounts | None = None,
) -> policy.Decision:
    """The contact policy's answer for one action on `case` at `at` (aware):

    - CONTACT, MESSAGE: that contact (`channel`, `contact_point`, ...), as `decide` judges it;
    - PROMISE: the conversation it is made in - `conversation` (a ContactAttempt of the case) at its own
      time, else a call we place at `at`; window, flags and holds, not the frequency limits;
    - CALLBACK: the outbound call to the debtor's primary number at `at`, the whole decision: the window
      then, the waiting period after a conversation, the caps as they will stand, the flags and holds
      (`contact_point`, when given, is that number: `primary_phone` read by the caller).

    A page that has read them already passes `calls_to_number_today` (for `contact_point`),
    `open_dispute` and the `ledger` (read at `at`), so that asking for several actions does not count
    the ledger again.
    """
    if action == Action.PROMISE:
        return _promise_decision(
            case=case, at=at, conversation=conversation, policies=policies, open_dispute=open_dispute
        )
    if action == Action.CALLBACK:
        return decide(
            case=case,
            channel=Channel.OUTBOUND_CALL,
            now=at,
            # A caller that has counted the calls has read the number too (None: the debtor has none).
            contact_point=contact_point
            if contact_point is not None or calls_to_number_today is not None
            else primary_phone(case),
            policies=policies,
            calls_to_number_today=calls_to_number_today,
            open_dispute=open_dispute,
            ledger=ledger,
        )
    if action in (Action.CONTACT, Action.MESSAGE):
        return decide(
            case=case,
            channel=channel,
            now=at,
            contact_point=contact_point,
            party_role=party_role,
            outcome=outcome,
            recording_ref=recording_ref,
            purpose=purpose,
            policies=policies,
            calls_to_number_today=calls_to_number_today,
            open_dispute=open_dispute,
            ledger=ledger,
        )
    raise ValueError(f"unknown action {action!r}")


def _own_zone(actor) -> zoneinfo.ZoneInfo:
    """The actor's own clock (User.time_zone), else the zone active for this request."""
    try:
        return zoneinfo.ZoneInfo(actor.time_zone)
    except (AttributeError, TypeError, ValueError, zoneinfo.ZoneInfoNotFoundError):
        return timezone.get_current_timezone()


def _minute(moment: datetime) -> datetime:
    # A form and a message show minutes: round up, so that the time shown is never before the one allowed.
    rounded = moment.replace(second=0, microsecond=0)
    return rounded if rounded == moment else rounded + timedelta(minutes=1)


def first_allowed_local(
    decision: policy.Decision, *, case: Case, now: datetime, policies: PolicyBook | None = None
) -> LocalClock | None:
    """The first instant, to the minute, at which `decision`'s action is allowed - now when it is
    allowed now - on the cardholder's clock; None when nothing but a change (a flag, a hold) lifts it."""
    moment = now if decision.allowed else decision.allowed_from
    if moment is None:
        return None
    return LocalClock(at=_minute(moment), zone=primary_zone(case, policies=policies))


def refusal(
    decision: policy.Decision,
    *,
    case: Case,
    actor=None,
    action: str = "",
    policies: PolicyBook | None = None,
) -> ContactNotAllowed:
    """The ContactNotAllowed for a refused decision: its rule and `allowed_from`, and a message in the
    active language saying when it is allowed again, on the cardholder's clock and on the actor's own.
    `details["reason"]` is the rule's sentence alone (a page shows the times itself)."""
    reason = decision.text
    message = reason
    if decision.allowed_from is not None:
        local = LocalClock(at=_minute(decision.allowed_from), zone=primary_zone(case, policies=policies))
        zone = _own_zone(actor)
        own = local.at.astimezone(zone).replace(tzinfo=None)
        message = _("%(reason)s Allowed from %(local)s (your time: %(own)s).") % {
            "reason": reason,
            "local": f"{formats.date_format(local.wall, 'SHORT_DATETIME_FORMAT')} {local.label}",
            "own": f"{formats.date_format(own, 'SHORT_DATETIME_FORMAT')} {getattr(zone, 'key', zone)}",
        }
    return ContactNotAllowed(
        message,
        rule=str(decision.rule),
        allowed_from=decision.allowed_from,
        details={**decision.details, "action": str(action), "reason": reason},
    )


def action_check(*, case: Case, action: str, at: datetime, actor=None, **facts) -> None:
    """Raise `refusal(...)` (ContactNotAllowed) unless `action_decision` allows the action at `at`.
    `facts` are `action_decision`'s other arguments (`conversation`, `policies`, ...)."""
    decision = action_decision(case=case, action=action, at=at, **facts)
    if not decision.allowed:
        raise refusal(decision, case=case, actor=actor, action=action, policies=facts.get("policies"))
