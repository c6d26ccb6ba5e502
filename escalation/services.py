"""Escalation rules at work: a rule becomes one `Q` over open cases, the preview counts what it would do,
and `run_rules` does it. Preview and run share `rule_evaluation`, so the preview's "would act on N
cases" is what the next run does (a test holds them equal).

How a run goes (DESIGN section 4; the nightly pipeline calls `run_rules`):
- enabled rules in order (`order`, then id); each rule costs one query to find its cases, then
  set-based writes in chunks of CHUNK_SIZE, each chunk in its own transaction;
- the first rule wins: a case matched by an earlier live rule is left alone by the later ones (dry-run
  rules claim nothing, since they change nothing);
- a rule fires once per case and reason (`EscalationFiring`, unique on rule, case and the rule's
  version): a second run the same night, or the next night, does nothing more;
- legal escalation is refused while a dispute is open, past the limitation date, or while the case is
  on hold: recorded as a refused firing with the reason, and tried again on later runs (a dispute ends,
  a payment restarts the limitation period);
- every firing is on the case timeline, naming the rule (kind ESCALATED);
- a dry-run rule, or a run with dry_run=True, records firings marked dry_run and changes no case.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import date, timedelta

from django.db import transaction
from django.db.models import (
    BooleanField,
    Count,
    DateField,
    Exists,
    F,
    IntegerField,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Sum,
    Value,
    When,
)
from django.db.models import Case as SqlCase
from django.db.models.functions import Coalesce
from django.utils import timezone

from collections_app.models import Case, CaseEvent, CaseState, EventKind
from core.clock import bank_today, day_start
from core.compiled import CompiledRead, Param
from escalation.models import (
    FIELDS,
    RULE_STATES,
    EscalationFiring,
    EscalationRule,
    FieldKind,
    FiringOutcome,
    MatchMode,
    Operator,
    SkipReason,
    as_number,
)
from legal import services as legal

log = logging.getLogger(__name__)

CHUNK_SIZE = 500
FIRE = "fire"
SAMPLE_SIZE = 10


# --- Compiling a rule -----------------------------------------------------------------------------


def _days_since_q(operator: str, value, *, as_of: date) -> Q:
    """days_since_last_rpc compared with `value`: days = as_of - the (bank-zone) date of the last
    right-party contact; a case never reached has no last contact and counts as infinitely long ago."""
    field_name = "last_right_party_contact_at"

    def ago(days: int):  # the start of the day `days` before as_of
        return day_start(as_of - timedelta(days=days))

    never = Q(**{f"{field_name}__isnull": True})
    if operator == Operator.BETWEEN:
        low, high = value
        return Q(**{f"{field_name}__gte": ago(high), f"{field_name}__lt": ago(low - 1)})
    if operator == Operator.GT:
        operator, value = Operator.GTE, value + 1
    if operator == Operator.LT:
        operator, value = Operator.LTE, value - 1
    if operator == Operator.GTE:  # days >= n: the last contact was on as_of - n or earlier
        return Q(**{f"{field_name}__lt": ago(value - 1)}) | never
    if operator == Operator.LTE:  # days <= n: on as_of - n or later
        return Q(**{f"{field_name}__gte": ago(value)})
    exactly = Q(**{f"{field_name}__gte": ago(value), f"{field_name}__lt": ago(value - 1)})
    if operator == Operator.EQ:
        return exactly
    return ~exactly | never  # ne


def condition_q(condition: dict, *, as_of: date) -> Q:
    spec = FIELDS[condition["field"]]
    operator, value = condition["operator"], condition["value"]
    if spec.path is None:
        return _days_since_q(operator, value, as_of=as_of)
    if operator == Operator.BETWEEN:
        low, high = (as_number(spec, v) for v in value)
        return Q(**{f"{spec.path}__gte": low, f"{spec.path}__lte": high})
    if operator in (Operator.IN, Operator.NOT_IN):
        q = Q(**{f"{spec.path}__in": list(value)})
        return q if operator == Operator.IN else ~q
    value = as_number(spec, value) if spec.kind != FieldKind.CHOICE else value
    if operator == Operator.NE:
        return ~Q(**{spec.path: value})
    lookup = "" if operator == Operator.EQ else f"__{operator}"
    return Q(**{f"{spec.path}{lookup}": value})


def rule_q(rule: EscalationRule, *, as_of: date) -> Q:
    """The open cases (in the collections department's states) that `rule`'s conditions match."""
    parts = [condition_q(c, as_of=as_of) for c in rule.conditions]
    combined = Q()
    for part in parts:
        combined = (combined & part) if rule.match_mode == MatchMode.ALL else (combined | part)
    return Q(state__in=RULE_STATES) & combined


def _before(rule: EscalationRule) -> Q:
    """Rules that run before `rule`: lower order, or the same order and a lower id (an unsaved rule comes
    after the saved ones of its order)."""
    earlier = Q(order__lt=rule.order)
    if rule.pk is None:
        earlier |= Q(order=rule.order)
    else:
        earlier |= Q(order=rule.order, pk__lt=rule.pk)
    return earlier


def earlier_live_rules(rule: EscalationRule) -> list[EscalationRule]:
    qs = EscalationRule.objects.filter(_before(rule), enabled=True, dry_run=False)
    if rule.pk is not None:
        qs = qs.exclude(pk=rule.pk)
    return list(qs.order_by("order", "pk"))


# --- Evaluating a rule: shared by the preview and the run ----------------------------------------


@dataclass
class RuleEvaluation:
    rule: EscalationRule
    as_of: date
    matching: QuerySet[Case]  # every open case the conditions match now
    annotated: QuerySet[Case]  # the same, with claimed / already_fired / verdict per case

    @property
    def candidates(self) -> QuerySet[Case]:
        """The cases the rule acts on (verdict "fire") or refuses (verdict a SkipReason)."""
        return self.annotated.filter(claimed=False, already_fired=False)


def rule_evaluation(
    rule: EscalationRule, *, as_of: date, earlier: list[EscalationRule] | None = None
) -> RuleEvaluation:
    """`rule` over today's cases: which match, which an earlier live rule takes, which this rule has
    fired on already for its current reason, and for the rest what it would do (verdict)."""
    earlier = earlier_live_rules(rule) if earlier is None else earlier
    matching = Case.objects.filter(rule_q(rule, as_of=as_of))
    claimed_q = Q()
    for other in earlier:
        claimed_q |= rule_q(other, as_of=as_of)
    fired = EscalationFiring.objects.filter(
        rule_id=rule.pk,
        case_id=OuterRef("pk"),
        reason_key=rule.reason_key,
        dry_run=False,
        outcome=FiringOutcome.FIRED,
    )
    annotated = matching.annotate(
        # CASE WHEN, not the bare condition: a NULL in it must read "not claimed", never "unknown".
        claimed=SqlCase(When(claimed_q, then=Value(True)), default=Value(False), output_field=BooleanField())
        if earlier
        else Value(False),
        already_fired=Exists(fired) if rule.pk is not None else Value(False),
    )
    if rule.move_to_legal_review:
        annotated = legal.with_limitation(annotated).annotate(
            open_dispute=legal.open_dispute_sql(),
            verdict=SqlCase(
                When(open_dispute=True, then=Value(SkipReason.OPEN_DISPUTE.value)),
                When(legal.limitation_expired_q(as_of), then=Value(SkipReason.LIMITATION_EXPIRED.value)),
                When(state=CaseState.ON_HOLD, then=Value(SkipReason.ON_HOLD.value)),
                default=Value(FIRE),
            ),
        )
    else:
        annotated = annotated.annotate(
            verdict=Value(FIRE), limitation_restart=Value(None, output_field=DateField())
        )
    return RuleEvaluation(rule=rule, as_of=as_of, matching=matching, annotated=annotated)


@dataclass
class RulePreview:
    rule: EscalationRule
    as_of: date
    matching: int = 0
    claimed_by_earlier: int = 0
    already_fired: int = 0
    would_fire: int = 0
    refused: dict[str, int] = field(default_factory=dict)
    sample: list[Case] = field(default_factory=list)
    earlier_rules: list[EscalationRule] = field(default_factory=list)

    @property
    def refused_total(self) -> int:
        return sum(self.refused.values())

    @property
    def refused_labels(self) -> list[tuple[str, int]]:
        return [(SkipReason(code).label, n) for code, n in sorted(self.refused.items())]


def rule_preview(
    rule: EscalationRule, *, as_of: date | None = None, sample_size: int = SAMPLE_SIZE
) -> RulePreview:
    """What `rule` would do if it ran now (as_of: today in the bank's zone), as if enabled and live:
    counts in one aggregate query and a sample of the cases it would act on (a second query)."""
    as_of = as_of or bank_today()
    earlier = earlier_live_rules(rule)
    evaluation = rule_evaluation(rule, as_of=as_of, earlier=earlier)
    preview = RulePreview(rule=rule, as_of=as_of, earlier_rules=earlier)
    counts = (
        evaluation.annotated.values("claimed", "already_fired", "verdict").annotate(n=Count("pk")).order_by()
    )
    for row in counts:
        preview.matching += row["n"]
        if row["claimed"]:
            preview.claimed_by_earlier += row["n"]
        elif row["already_fired"]:
            preview.already_fired += row["n"]
        elif row["verdict"] == FIRE:
            preview.would_fire += row["n"]
        else:
            preview.refused[row["verdict"]] = preview.refused.get(row["verdict"], 0) + row["n"]
    preview.sample = list(
        evaluation.candidates.filter(verdict=FIRE)
        .select_related("account__cardholder", "queue")
        .order_by("-account__days_past_due", "pk")[:sample_size]
    )
    return preview


# --- Running the rules ------------------------------------------------------------------------------


def _chunks(items: list, size: int):
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _firing(rule, case_id, *, as_of, now, dry_run, verdict) -> EscalationFiring:
    skipped = verdict != FIRE
    return EscalationFiring(
        rule=rule,
        case_id=case_id,
        reason_key=rule.reason_key,
        rule_version=rule.version,
        dry_run=dry_run,
        outcome=FiringOutcome.SKIPPED if skipped else FiringOutcome.FIRED,
        skip_reason=verdict if skipped else "",
        detail=str(SkipReason(verdict).label) if skipped else "",
        actions=rule.actions(),
        priority_points=0 if skipped else rule.raise_priority,
        queue_id=None if skipped else rule.target_queue_id,
        as_of=as_of,
        created_at=now,
    )


def _reason_text(rule: EscalationRule) -> str:
    return f"Escalation rule «{rule.name}» (v{rule.version}): {rule.describe_conditions()}"


def _fire_chunk(rule: EscalationRule, evaluation: RuleEvaluation, case_ids: list[int], *, as_of, now) -> int:
    """Act on one chunk in one transaction. The rows are locked and the rule re-checked under the lock, so
    an agent's change since the rule's query (a payment, a hold) wins and a concurrent run cannot fire
    twice; the row locks are taken in id order, as every sweep takes them."""
    with transaction.atomic():
        rows = list(
            evaluation.candidates.filter(pk__in=case_ids, verdict=FIRE)
            .select_for_update(of=("self",))
            .order_by("pk")
            .values_list("pk", "state", "limitation_restart")
        )
        if not rows:
            return 0
        ids = [pk for pk, _state, _restart in rows]
        from_states = {pk: state for pk, state, _restart in rows}
        reason = _reason_text(rule)
        moved: set[int] = set()
        if rule.move_to_legal_review:
            moved = set(legal.cases_escalate_to_legal_bulk(rows=rows, reason=reason, rule=rule, now=now))
            # A case that could not move (its state changed under us) is not fired on: next run.
            ids = [pk for pk in ids if pk in moved]
        changes = {}
        if rule.target_queue_id:
            changes["queue_id"] = rule.target_queue_id
        if rule.raise_priority:
            changes["priority"] = F("priority") + rule.raise_priority
        if changes and ids:
            Case.objects.filter(pk__in=ids).update(version=F("version") + 1, **changes)
        details = {
            "rule": rule.name,
            "rule_id": rule.pk,
            "rule_version": rule.version,
            "actions": rule.actions(),
        }
        if rule.target_queue_id:
            details["queue"] = rule.target_queue.name
        events = [
            # The legal move wrote its ESCALATED event (from -> legal_review) already.
            CaseEvent(case_id=pk, kind=EventKind.ESCALATED, reason=reason, details=details, created_at=now)
            for pk in ids
            if pk not in moved
        ]
        if rule.notify_supervisor:
            # The supervisor's inbox reads escalation requests (services.escalation_request).
            events += [
                CaseEvent(
                    case_id=pk,
                    kind=EventKind.ESCALATION_REQUESTED,
                    reason=reason,
                    details={**details, "target": "supervisor", "from_state": from_states[pk]},
                    created_at=now,
                )
                for pk in ids
            ]
        CaseEvent.objects.bulk_create(events, batch_size=1000)
        EscalationFiring.objects.bulk_create(
            [_firing(rule, pk, as_of=as_of, now=now, dry_run=False, verdict=FIRE) for pk in ids],
            batch_size=1000,
        )
    return len(ids)


def run_rule(
    rule: EscalationRule, *, as_of: date, earlier: list[EscalationRule], dry_run: bool = False
) -> dict:
    """Evaluate one rule (one query) and act: see the module docstring."""
    now = timezone.now()
    simulate = dry_run or rule.dry_run
    evaluation = rule_evaluation(rule, as_of=as_of, earlier=earlier)
    rows = list(evaluation.candidates.values_list("pk", "verdict"))
    to_fire = [pk for pk, verdict in rows if verdict == FIRE]
    refused = [(pk, verdict) for pk, verdict in rows if verdict != FIRE]
    result = {
        "rule": rule.name,
        "rule_id": rule.pk,
        "version": rule.version,
        "dry_run": simulate,
        "fired": 0,
        "would_fire": 0,
        "refused": {},
    }
    for _pk, verdict in refused:
        result["refused"][verdict] = result["refused"].get(verdict, 0) + 1
    # Refusals are recorded once per case and reason; the case is tried again on the next run.
    firings = [_firing(rule, pk, as_of=as_of, now=now, dry_run=simulate, verdict=v) for pk, v in refused]
    if simulate:
        firings += [_firing(rule, pk, as_of=as_of, now=now, dry_run=True, verdict=FIRE) for pk in to_fire]
        result["would_fire"] = len(to_fire)
    for chunk in _chunks(firings, 2000):
        EscalationFiring.objects.bulk_create(chunk, ignore_conflicts=True)
    if not simulate:
        for chunk in _chunks(to_fire, CHUNK_SIZE):
            result["fired"] += _fire_chunk(rule, evaluation, chunk, as_of=as_of, now=now)
    return result


def run_rules(*, as_of: date, dry_run: bool = False) -> dict:
    """Run every enabled rule in order for `as_of` (see the module docstring). Idempotent: a second run
    for the same date changes nothing. Returns counts per rule and in total."""
    rules = list(
        EscalationRule.objects.filter(enabled=True).select_related("target_queue").order_by("order", "pk")
    )
    earlier: list[EscalationRule] = []
    results = []
    for rule in rules:
        results.append(run_rule(rule, as_of=as_of, earlier=list(earlier), dry_run=dry_run))
        log.info("escalation rule %s: %s", rule.pk, results[-1])
        if not rule.dry_run:
            earlier.append(rule)
    return {
        "as_of": as_of.isoformat(),
        "dry_run": dry_run,
        "rules": results,
        "fired": sum(r["fired"] for r in results),
        "would_fire": sum(r["would_fire"] for r in results),
        "refused": sum(sum(r["refused"].values()) for r in results),
    }


# --- For the nightly steps that recompute assignment -------------------------------------------------
#
# queues.refresh_priorities recomputes every open case's priority from its factors, and
# queues.place_cases_in_queues puts every open case in the first queue whose criteria it meets: both
# would undo a rule's "raise priority" and "move to queue" the next night. They read these instead.


def _live_firings():
    return EscalationFiring.objects.filter(case_id=OuterRef("pk"), dry_run=False, outcome=FiringOutcome.FIRED)


def rule_priority_points_sql():
    """The points escalation rules added to each case's priority (0 if none), as an expression over Case:
    add it to queues.priority_sql."""
    points = (
        _live_firings().order_by().values("case_id").annotate(total=Sum("priority_points")).values("total")
    )
    return Coalesce(Subquery(points, output_field=IntegerField()), Value(0))


def rule_priority_factors(case: Case) -> list[tuple[str, int]]:
    """(rule name, points) for one case: the lines queues.priority_factors can show."""
    return _rule_factors_read(None, case=case.pk)


def _rule_factors_query(_key=None):
    return (
        EscalationFiring.objects.filter(
            case_id=Param("case"), dry_run=False, outcome=FiringOutcome.FIRED, priority_points__gt=0
        )
        .order_by("created_at", "pk")
        .values_list("rule__name", "priority_points")
    )


# Compiled once (core.compiled): the case page shows them on every case opened.
_rule_factors_read = CompiledRead(_rule_factors_query)


def rule_queue_sql():
    """The queue the latest live firing pinned each case to (NULL if none), as an expression over Case:
    queues.place_cases_in_queues leaves cases with a pin in that queue."""
    pinned = _live_firings().filter(queue__isnull=False).order_by("-created_at", "-pk").values("queue_id")[:1]
    return Subquery(pinned, output_field=IntegerField())


def pinned_by_rule_q() -> Q:
    """Open cases a rule has moved to a queue (for place_cases_in_queues to exclude)."""
    return Q(Exists(_live_firings().filter(queue__isnull=False)))


__all__ = [
    "RuleEvaluation",
    "RulePreview",
    "condition_q",
    "earlier_live_rules",
    "pinned_by_rule_q",
    "rule_evaluation",
    "rule_priority_factors",
    "rule_priority_points_sql",
    "rule_queue_sql",
    "rule_preview",
    "rule_q",
    "run_rule",
    "run_rules",
]
