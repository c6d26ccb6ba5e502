"""Queues: which open cases belong where, and in which order agents get them.

The priority score is a sum of named factors so that it can be explained on the case page and in the
queue list ("DPD 45 -> 45 points, 2 broken promises -> 40 points ..."). The weights of the factors are
kept in the database (`PriorityWeights`, one row an admin edits, with a preview of how each queue's order
changes: `priority_preview`). The same factors exist twice: `priority_factors` (Python, for one case, to
explain) and `priority_sql` (SQL, for the set-based nightly update); both take their weights from
`priority_weights`, and a test holds them equal.
"""

from collections.abc import Callable
from dataclasses import asdict, dataclass, fields
from datetime import datetime
from decimal import Decimal
from itertools import zip_longest

from django.core.cache import cache
from django.db import connection, transaction
from django.db.models import Case as SqlCase
from django.db.models import Expression, ExpressionWrapper, F, IntegerField, Q, Subquery, Value, When
from django.db.models.functions import Cast, Coalesce, Floor, Least
from django.utils import formats, timezone
from django.utils.translation import get_language, gettext
from django.utils.translation import gettext_lazy as _

from accounts.permissions import Capability, has_capability
from collections_app.access import ensure_can_act, queues_visible_to
from collections_app.models import OPEN_STATES, Case, EventKind, PriorityWeights, Queue
from collections_app.services.claims import CLAIMABLE_STATES
from collections_app.services.kernel import bump_version, event_write, lock_case
from core.exceptions import NotAllowed, ValidationFailed
from core.money import format_money


@dataclass(frozen=True)
class Weights:
    """The weights of the priority score (points), as stored in `PriorityWeights` (field for field)."""

    dpd_points_per_day: int
    dpd_cap_days: int
    amount_points_per_thousand: int
    amount_cap_points: int
    broken_promise_points: int
    broken_plan_points: int
    callback_due_points: int

    @classmethod
    def of(cls, row: PriorityWeights) -> "Weights":
        return cls(**{f.name: getattr(row, f.name) for f in fields(cls)})


# The weights the score shipped with: the model's field defaults (and the data migration's row).
DEFAULT_WEIGHTS = Weights.of(PriorityWeights())

# Pages explain scores on every view (the case page, a queue's list): the weights come from the cache,
# which a save through `priority_weights_save` clears. The nightly score reads the table itself.
WEIGHTS_CACHE_KEY = "collections:priority-weights:v1"
WEIGHTS_CACHE_SECONDS = 300


def priority_weights(*, fresh: bool = False) -> Weights:
    """The weights in force: the stored row (the shipped defaults if there is none). `fresh=True` reads
    the database (the nightly score, the admin's preview); otherwise the cache may answer."""
    if not fresh:
        cached = cache.get(WEIGHTS_CACHE_KEY)
        if isinstance(cached, dict):
            return Weights(**cached)
    row = PriorityWeights.objects.filter(pk=PriorityWeights.SINGLETON_PK).first()
    weights = Weights.of(row) if row is not None else DEFAULT_WEIGHTS
    cache.set(WEIGHTS_CACHE_KEY, asdict(weights), WEIGHTS_CACHE_SECONDS)
    return weights


def forget_cached_weights() -> None:
    cache.delete(WEIGHTS_CACHE_KEY)


def priority_weights_save(row: PriorityWeights, *, actor) -> PriorityWeights:
    """Save the weights (the admin's form) and drop the cached copy, now and once the transaction commits
    (a page reading in between would cache the old row again). The new scores take effect at the next
    nightly run (`refresh_priorities`), as a change of DPD or balance does."""
    row.updated_by = actor
    row.save()
    forget_cached_weights()
    transaction.on_commit(forget_cached_weights)
    return row


# Kept for readers of the shipped defaults (the benchmark's SQL baseline): the score reads the database.
DPD_POINTS_PER_DAY = DEFAULT_WEIGHTS.dpd_points_per_day
DPD_CAP_DAYS = DEFAULT_WEIGHTS.dpd_cap_days
AMOUNT_POINTS_PER_THOUSAND = DEFAULT_WEIGHTS.amount_points_per_thousand
AMOUNT_CAP_POINTS = DEFAULT_WEIGHTS.amount_cap_points
BROKEN_PROMISE_POINTS = DEFAULT_WEIGHTS.broken_promise_points
BROKEN_PLAN_POINTS = DEFAULT_WEIGHTS.broken_plan_points
CALLBACK_DUE_POINTS = DEFAULT_WEIGHTS.callback_due_points


@dataclass(frozen=True)
class PriorityFactor:
    label: str
    detail: str
    points: int


@dataclass(frozen=True)
class PrioritySource:
    """Points and queue pins that an app above the kernel adds (escalation rules: "raise priority", "move
    to queue"). Registered once from that app's AppConfig.ready(), so that the nightly placement keeps
    them and the kernel does not import the app."""

    label: str
    points_sql: Callable[[], Expression]  # the points of each case, an expression over Case (0 if none)
    factors: Callable[[Case], list[tuple[str, int]]]  # (detail, points) lines for one case
    pinned_q: Callable[[], Q]  # open cases that stay in the queue they were moved to


_priority_sources: list[PrioritySource] = []


def register_priority_source(source: PrioritySource) -> None:
    _priority_sources.append(source)


def priority_factors(
    case: Case, *, now=None, rule_factors: bool = True, weights: Weights | None = None
) -> list[PriorityFactor]:
    """The score's parts for one case. `rule_factors=False` leaves out the points escalation rules added
    (one query per case), for lists; the total is `case.priority` either way (as of the last nightly
    score). `weights`: those in force unless given (a list passes them once for all its cases)."""
    now = now or timezone.now()
    w = weights or priority_weights()
    account = case.account
    dpd = min(account.days_past_due, w.dpd_cap_days)
    amount_points = min(
        int(account.overdue_amount // Decimal("1000")) * w.amount_points_per_thousand, w.amount_cap_points
    )
    factors = [
        PriorityFactor(str(_("Days past due")), str(account.days_past_due), dpd * w.dpd_points_per_day),
        PriorityFactor(
            str(_("Overdue amount")),
            format_money(account.overdue_amount, account.currency, get_language()),
            amount_points,
        ),
    ]
    if case.broken_promise_count:
        factors.append(
            PriorityFactor(
                str(_("Broken promises")),
                str(case.broken_promise_count),
                case.broken_promise_count * w.broken_promise_points,
            )
        )
    if case.broken_plan_count:
        factors.append(
            PriorityFactor(
                str(_("Broken plans")),
                str(case.broken_plan_count),
                case.broken_plan_count * w.broken_plan_points,
            )
        )
    for source in _priority_sources if rule_factors else ():
        for detail, points in source.factors(case):
            factors.append(PriorityFactor(str(source.label), detail, points))
    if case.next_action_at and case.next_action_at <= now:
        factors.append(
            PriorityFactor(
                str(_("Callback due")),
                # In the viewer's zone and format (the stored value is UTC).
                formats.date_format(timezone.localtime(case.next_action_at), "SHORT_DATETIME_FORMAT"),
                w.callback_due_points,
            )
        )
    return factors


def priority_score(case: Case, *, now=None, weights: Weights | None = None) -> int:
    return sum(f.points for f in priority_factors(case, now=now, weights=weights))


def priority_sql(*, now=None, weights: Weights | None = None):
    """The same score as `priority_score`, as one SQL expression over a Case queryset. The weights are
    read by the statement itself from the stored row (uncorrelated subqueries, evaluated once per
    statement), or are the `weights` given (the admin's preview of weights not saved yet)."""
    now = now or timezone.now()

    def points(name: str):
        if weights is not None:
            return Value(getattr(weights, name), output_field=IntegerField())
        stored = PriorityWeights.objects.filter(pk=PriorityWeights.SINGLETON_PK).values(name)
        return Coalesce(Subquery(stored), Value(getattr(DEFAULT_WEIGHTS, name)), output_field=IntegerField())

    dpd = Least(F("account__days_past_due"), points("dpd_cap_days")) * points("dpd_points_per_day")
    # Cast alone rounds in PostgreSQL; floor first for parity with Python's //.
    thousands = Cast(Floor(F("account__overdue_amount") / Value(Decimal("1000"))), IntegerField())
    amount = Least(thousands * points("amount_points_per_thousand"), points("amount_cap_points"))
    callback = SqlCase(When(next_action_at__lte=now, then=points("callback_due_points")), default=Value(0))
    return ExpressionWrapper(
        dpd
        + amount
        + F("broken_promise_count") * points("broken_promise_points")
        + F("broken_plan_count") * points("broken_plan_points")
        + callback
        + sum((source.points_sql() for source in _priority_sources), Value(0)),
        output_field=IntegerField(),
    )


# --- The admin's preview of new weights ----------------------------------------------------------------


@dataclass(frozen=True)
class QueueOrderChange:
    """How one queue's order (the claimable cases, in the order Next case hands them out) changes when
    the weights change: how many cases move up, down or stay, and its first `top` cases before/after."""

    queue: Queue
    cases: int
    moved_up: int
    moved_down: int
    score_changed: int
    top_before: list[Case]
    top_after: list[Case]

    @property
    def unmoved(self) -> int:
        return self.cases - self.moved_up - self.moved_down

    @property
    def top_pairs(self) -> list[tuple[Case | None, Case | None]]:
        """(n-th case before, n-th case after) for the first `top` places, side by side."""
        return list(zip_longest(self.top_before, self.top_after))


def priority_preview(
    proposed: Weights, *, top: int = 10, now: datetime | None = None
) -> list[QueueOrderChange]:
    """Each active queue's order as the nightly score would set it now with the weights in force and with
    `proposed` (nothing saved): two statements whatever the portfolio size - the counts per queue, and the
    first `top` cases of each queue before and after - ranked as Next case ranks (claims.CLAIM_ORDER)."""
    now = now or timezone.now()
    current = priority_weights(fresh=True)
    scored = Case.objects.filter(state__in=CLAIMABLE_STATES, queue__active=True).annotate(
        old_score=priority_sql(now=now, weights=current), new_score=priority_sql(now=now, weights=proposed)
    )
    sql, params = scored.values(
        "id", "queue_id", "next_action_at", "old_score", "new_score"
    ).query.sql_with_params()
    ties = (
        "next_action_at ASC NULLS LAST, id"
        if connection.vendor == "postgresql"
        else ("next_action_at IS NULL, next_action_at, id")
    )
    ranked = f"""
        SELECT s.*,
            row_number() OVER (PARTITION BY queue_id ORDER BY old_score DESC, {ties}) AS old_rank,
            row_number() OVER (PARTITION BY queue_id ORDER BY new_score DESC, {ties}) AS new_rank
        FROM ({sql}) s
    """  # noqa: S608 - built from the queryset's SQL; every value is a parameter
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            SELECT queue_id, count(*),
                sum(CASE WHEN new_rank < old_rank THEN 1 ELSE 0 END),
                sum(CASE WHEN new_rank > old_rank THEN 1 ELSE 0 END),
                sum(CASE WHEN new_score <> old_score THEN 1 ELSE 0 END)
            FROM ({ranked}) r GROUP BY queue_id
            """,  # noqa: S608
            params,
        )
        counts = {row[0]: row[1:] for row in cursor.fetchall()}
        cursor.execute(
            f"SELECT id, queue_id, old_rank, new_rank, old_score, new_score FROM ({ranked}) r "  # noqa: S608
            "WHERE old_rank <= %s OR new_rank <= %s",
            [*params, top, top],
        )
        tops = cursor.fetchall()
    cases = Case.objects.select_related("account", "account__cardholder").in_bulk([row[0] for row in tops])
    before: dict[int, list] = {}
    after: dict[int, list] = {}
    for case_id, queue_id, old_rank, new_rank, old_score, new_score in tops:
        case = cases[case_id]
        case.old_score, case.new_score, case.old_rank, case.new_rank = (
            old_score,
            new_score,
            old_rank,
            new_rank,
        )
        if old_rank <= top:
            before.setdefault(queue_id, []).append(case)
        if new_rank <= top:
            after.setdefault(queue_id, []).append(case)
    changes = []
    for queue in Queue.objects.filter(active=True).order_by("order", "pk"):
        n, up, down, changed = counts.get(queue.pk, (0, 0, 0, 0))
        changes.append(
            QueueOrderChange(
                queue=queue,
                cases=n,
                moved_up=up or 0,
                moved_down=down or 0,
                score_changed=changed or 0,
                top_before=sorted(before.get(queue.pk, []), key=lambda c: c.old_rank),
                top_after=sorted(after.get(queue.pk, []), key=lambda c: c.new_rank),
            )
        )
    return changes


def refresh_priorities(*, now=None) -> int:
    """Recompute the score of every open case whose score changed: one UPDATE, the score computed in SQL
    (`priority_sql`, with the points of the registered priority sources); an unchanged row is not
    rewritten. Returns how many changed."""
    now = now or timezone.now()
    changed = (
        Case.objects.filter(state__in=OPEN_STATES)
        .annotate(new_priority=priority_sql(now=now))
        .exclude(priority=F("new_priority"))
        .values("id", "new_priority")
    )
    sql, params = changed.query.sql_with_params()
    table = Case._meta.db_table
    with connection.cursor() as cursor:
        # UPDATE ... FROM (PostgreSQL, SQLite >= 3.33): the score is computed once per row, joins and all.
        cursor.execute(
            f"UPDATE {table} SET priority = s.new_priority FROM ({sql}) s "  # noqa: S608
            f"WHERE {table}.id = s.id",
            params,
        )
        return cursor.rowcount


def queue_criteria(queue: Queue) -> Q:
    """The Case filter a queue stands for."""
    q = Q()
    if queue.buckets:
        q &= Q(account__bucket__in=queue.buckets)
    if queue.min_dpd is not None:
        q &= Q(account__days_past_due__gte=queue.min_dpd)
    if queue.max_dpd is not None:
        q &= Q(account__days_past_due__lte=queue.max_dpd)
    if queue.min_balance is not None:
        q &= Q(account__balance__gte=queue.min_balance)
    if queue.max_balance is not None:
        q &= Q(account__balance__lte=queue.max_balance)
    if queue.products:
        q &= Q(account__product__in=queue.products)
    if queue.jurisdictions:
        q &= Q(account__cardholder__jurisdiction__in=queue.jurisdictions)
    if queue.states:
        q &= Q(state__in=queue.states)
    return q


def placement_sql(queues: list[Queue]) -> SqlCase | Value:
    """The queue each open case belongs in, as one SQL expression: the first of `queues` (in order) whose
    criteria it meets, NULL if none; a queue without criteria catches every case left."""
    whens = []
    for queue in queues:
        criteria = queue_criteria(queue)
        if not criteria:
            return SqlCase(*whens, default=Value(queue.pk)) if whens else Value(queue.pk)
        whens.append(When(criteria, then=Value(queue.pk)))
    return SqlCase(*whens, default=Value(None)) if whens else Value(None)


def place_cases_in_queues() -> dict[str, int]:
    """Put every open case in the first active queue (by `order`) whose criteria it meets; cases that
    meet none leave their queue ("" in the result). One UPDATE for every queue, the queue chosen by one
    CASE WHEN over the queues' criteria in their order; cases already in the right queue are not
    rewritten, so a second run changes nothing. Returns the cases moved, by queue name."""
    queues = list(Queue.objects.filter(active=True).order_by("order", "pk"))
    # A case an escalation rule moved to a queue stays there until the rule's firing is superseded.
    open_cases = Case.objects.filter(state__in=OPEN_STATES)
    for source in _priority_sources:
        open_cases = open_cases.exclude(source.pinned_q())
    # Cast: a lone NULL (no queue at all) would otherwise be typed text.
    target = Cast(placement_sql(queues), IntegerField())
    sql, params = open_cases.annotate(new_queue=target).values("id", "new_queue").query.sql_with_params()
    table = Case._meta.db_table
    distinct = "IS DISTINCT FROM" if connection.vendor == "postgresql" else "IS NOT"
    update = (
        f"UPDATE {table} SET queue_id = s.new_queue FROM ({sql}) s "  # noqa: S608
        f"WHERE {table}.id = s.id AND {table}.queue_id {distinct} s.new_queue"
    )
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(
                f"WITH moved AS ({update} RETURNING {table}.queue_id) "  # noqa: S608
                "SELECT queue_id, count(*) FROM moved GROUP BY queue_id",
                params,
            )
            counts = dict(cursor.fetchall())
        else:  # SQLite: no UPDATE in a WITH; the rows moved come back and are counted here.
            cursor.execute(f"{update} RETURNING queue_id", params)
            counts: dict = {}
            for (queue_id,) in cursor.fetchall():
                counts[queue_id] = counts.get(queue_id, 0) + 1
    moved: dict[str, int] = {}
    for queue in queues:
        moved[queue.name] = counts.get(queue.pk, 0)
        if not queue_criteria(queue):  # a catch-all queue: nothing is left for the queues after it
            return moved
    moved[""] = counts.get(None, 0)
    return moved


def case_move_queue(*, case_id: int, actor, queue_id: int, reason: str) -> Case:
    """Move one open case to another queue, as a supervisor decided (a bulk action on the supervisor
    floor calls this once per case). The actor needs the SUPERVISE capability (None: the system), must
    reach the case (collections_app.access) and see the target queue, which must be active; a reason is
    required. A case already in that queue is left as it is (no event), so a re-run changes nothing.
    Locks the case, bumps its version and writes an ASSIGNMENT event (from_queue, to_queue) with the
    reason. The nightly placement (`place_cases_in_queues`) still puts the case where the queue criteria
    say, unless a priority source pins it."""
    if actor is not None and not has_capability(actor, Capability.SUPERVISE):
        raise NotAllowed(gettext("Only a supervisor may move cases between queues."), rule="supervise")
    if not (reason or "").strip():
        raise ValidationFailed(gettext("Say why the case is moved."), field="reason", rule="reason_required")
    queues = Queue.objects.filter(active=True)
    if actor is not None:
        queues = queues.filter(pk__in=queues_visible_to(actor).values("pk"))
    queue = queues.filter(pk=queue_id).first()
    if queue is None:
        raise NotAllowed(gettext("That queue is not one of your team's."), rule="queue_outside_team")
    with transaction.atomic():
        case = lock_case(case_id)
        ensure_can_act(actor, case)
        if not case.is_open:
            raise ValidationFailed(gettext("The case is closed."), rule="case_closed")
        previous = case.queue_id
        if previous == queue.pk:
            return case
        case.queue = queue
        bump_version(case, "queue")
        event_write(
            case=case,
            kind=EventKind.ASSIGNMENT,
            actor=actor,
            reason=reason.strip(),
            details={"from_queue": previous, "to_queue": queue.pk, "to_queue_name": queue.name},
        )
    return case
