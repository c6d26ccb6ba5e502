"""Next case: agents in threads pressing Next case (collections_app.services.case_claim_next) against a raw
claim loop doing the same work on the same cases, 16 and 32 agents, interleaved (baseline, project, ...).

The floor as it is: every agent works SEVERAL queues (all the bench queues), and the hour is 10:00 in
Shanghai - late evening in the US, so the US cardholders are outside their contact windows and their
cases must be passed over. The baseline is one statement per press: release my lease, claim the next case
(`UPDATE ... WHERE id = (SELECT id ... FOR UPDATE SKIP LOCKED LIMIT 1) RETURNING` over a partial index
of its own that matches its WHERE and ORDER BY), write the claim and release events - what Next case does,
without the framework. Afterwards every claim is checked from the case events: no case claimed by a second
agent while a first one held it (`double_claims`).

Two figures per number of agents. `claim:N agents` is a closed loop (`press_for`: each agent presses again
as soon as it has its answer): throughput against the raw loop's (>= 0.5x) and no double claim; its p99
is printed, not judged - in a closed loop mean latency = agents / throughput (Little's law), so at 32
agents p99 < 20 ms needs well over 1,600 claims/s from whoever claims on this machine's cores, which the raw
loop does not make on two. `claim:paced N agents` has every agent press once every PACE_SECONDS
(`press_paced`), an open loop at a floor's pace: the p99 there is the press's own latency, project beside
raw loop, held to 20 ms. Every agent's thread opens its connection before its first press (a worker keeps
its connection, CONN_MAX_AGE or the pool): no press pays for connecting.
"""

from __future__ import annotations

import random
import threading
import time
import zoneinfo
from datetime import date, datetime, timedelta

from django.conf import settings
from django.db import OperationalError, connection, connections
from django.db.models import Max
from django.utils import timezone

from accounts.models import Role, Team, User
from collections_app import services
from collections_app.models import Case, CaseEvent, Queue
from collections_app.services.kernel import DEADLOCK_RETRIES, is_deadlock
from demo.bench.report import CLAIM, CLAIM_PACED, Result
from demo.bench.timing import percentile

CASE, EVENT = Case._meta.db_table, CaseEvent._meta.db_table
BASELINE_INDEX = "bench_claim_baseline_idx"
CLAIM_REASON = "Claimed with Next case"
# The paced figure: an agent presses Next case about once every this many seconds (a fast agent on a
# short call; a real floor is slower).
PACE_SECONDS = 2.0
# A paced round lasts this many closed-loop rounds: at one press per agent every 2 s, 10 s would give each
# agent 5 presses and make the p99 of 16 agents the slowest of 80.
PACED_ROUNDS = 3


def claim_hour(as_of: date, *, not_before: datetime | None = None) -> datetime:
    """10:00 in Shanghai on the business date: the Chinese floor's morning, the US evening - or on the
    first day after it whose 10:00 is not before `not_before`. The bench passes the time it runs: the
    stored contactability (what Next case reads) was decided when the portfolio was written, so at an
    hour before that every callable case is callable only from then and nothing is ready - the figures
    would depend on the time of day the bench is run (from 02:00 UTC on, nothing was)."""
    at = datetime.combine(
        as_of, datetime.min.time().replace(hour=10), tzinfo=zoneinfo.ZoneInfo("Asia/Shanghai")
    )
    while not_before is not None and at < not_before:
        at = datetime.combine(at.date() + timedelta(days=1), at.timetz())
    return at


def agents_on_several_queues(count: int) -> tuple[list[User], list[int]]:
    """`count` agents of one team, each on every bench queue (generate_portfolio makes three)."""
    team, _ = Team.objects.get_or_create(name="Bench claim team")
    queues = list(Queue.objects.filter(active=True, name__startswith="Bench").order_by("order", "pk"))
    if not queues:
        queues = list(Queue.objects.filter(active=True).order_by("order", "pk")[:3])
    users = []
    for n in range(count):
        user, _ = User.objects.get_or_create(
            username=f"bench_agent_{n:02d}", defaults={"role": Role.AGENT, "team": team, "language": "en"}
        )
        user.work_queues.set(queues)
        users.append(user)
    return users, [q.pk for q in queues]


def release_all(users: list[User], at: datetime) -> None:
    """Every case the bench agents hold goes back to its queue (the service, with its event)."""
    held = Case.objects.filter(lease_owner__in=users).values_list("pk", "lease_owner_id")
    by_id = {u.pk: u for u in users}
    for case_id, owner in held:
        services.case_release(case_id=case_id, actor=by_id[owner], now=at)


def ensure_baseline_index() -> None:
    with connection.cursor() as cursor:
        cursor.execute(
            f"CREATE INDEX IF NOT EXISTS {BASELINE_INDEX} ON {CASE} (priority DESC, next_action_at, id) "  # noqa: S608
            "WHERE state IN ('new', 'in_progress') AND queue_id IS NOT NULL"
        )


def drop_baseline_index() -> None:
    with connection.cursor() as cursor:
        cursor.execute(f"DROP INDEX IF EXISTS {BASELINE_INDEX}")


RAW_CLAIM = f"""
    WITH released AS (
        UPDATE {CASE} SET lease_owner_id = NULL, lease_expires_at = NULL, version = version + 1
        WHERE lease_owner_id = %(agent)s RETURNING id, lease_expires_at
    ), claimed AS (
        UPDATE {CASE} SET lease_owner_id = %(agent)s, lease_expires_at = %(until)s, version = version + 1
        WHERE id = (
            SELECT id FROM {CASE}
            WHERE state IN ('new', 'in_progress') AND queue_id IS NOT NULL AND queue_id = ANY(%(queues)s)
              AND (lease_expires_at IS NULL OR lease_expires_at < %(now)s)
              AND (next_action_at IS NULL OR next_action_at <= %(now)s)
              AND contactable_from <= %(now)s AND (contactable_until IS NULL OR contactable_until > %(now)s)
            ORDER BY priority DESC, next_action_at, id
            FOR UPDATE SKIP LOCKED LIMIT 1
        ) RETURNING id
    ), release_events AS (
        INSERT INTO {EVENT} (case_id, kind, from_state, to_state, actor_id, reason, details, created_at)
        SELECT id, 'assignment', '', '', %(agent)s, 'Released for the next case',
            jsonb_build_object('released', true, 'lease_owner', %(agent)s), %(now)s FROM released
    ), claim_events AS (
        INSERT INTO {EVENT} (case_id, kind, from_state, to_state, actor_id, reason, details, created_at)
        SELECT id, 'assignment', '', '', %(agent)s, '{CLAIM_REASON}',
            jsonb_build_object('lease_until', %(until)s::text), %(now)s FROM claimed
    )
    SELECT id FROM claimed
"""  # noqa: S608


def raw_claim(agent_id: int, queue_ids: list[int], at: datetime) -> int | None:
    until = at + timedelta(minutes=settings.COLLECTIONS_LEASE_MINUTES)
    # The same answer to a deadlock as Next case's (kernel.lease_swap): the statement is run again.
    for attempt in range(DEADLOCK_RETRIES + 1):
        try:
            with connection.cursor() as cursor:
                cursor.execute(RAW_CLAIM, {"agent": agent_id, "queues": queue_ids, "now": at, "until": until})
                row = cursor.fetchone()
            break
        except OperationalError as error:
            if attempt == DEADLOCK_RETRIES or not is_deadlock(error):
                raise
    return row[0] if row else None


def press_for(work, users: list[User], seconds: float) -> dict:
    """Each user's thread calls `work(user)` (True when a case was handed out) for `seconds`."""
    latencies: list[float] = []
    claimed = [0]
    lock = threading.Lock()
    errors: list[BaseException] = []
    start = threading.Barrier(len(users) + 1)
    stop = [0.0]

    def run(user):
        mine, got = [], 0
        try:
            connection.ensure_connection()  # an agent's worker keeps its connection: no press pays for one
            start.wait()
            while time.monotonic() < stop[0]:
                began = time.perf_counter()
                got += bool(work(user))
                mine.append(time.perf_counter() - began)
        except BaseException as exc:  # noqa: BLE001 - reported after the join
            errors.append(exc)
        finally:
            connections.close_all()
            with lock:
                latencies.extend(mine)
                claimed[0] += got

    threads = [threading.Thread(target=run, args=(u,)) for u in users]
    for t in threads:
        t.start()
    stop[0] = time.monotonic() + seconds
    start.wait()
    began = time.perf_counter()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - began
    if errors:
        raise errors[0]
    latencies.sort()
    return {
        "claims": claimed[0],
        "presses": len(latencies),
        "per_second": claimed[0] / elapsed if elapsed else 0.0,
        "p50_ms": 1000 * (percentile(latencies, 0.5) or 0),
        "p99_ms": 1000 * (percentile(latencies, 0.99) or 0),
    }


def press_paced(work, users: list[User], seconds: float, every: float = PACE_SECONDS) -> dict:
    """Each user's thread calls `work(user)` once every `every` seconds for `seconds` (the first press at
    a random instant of the first period, so the presses are spread): an open loop at a floor's pace.

    Why beside `press_for`: that one is a closed loop (each agent presses again as soon as it has its
    answer), so its latency is the load it makes itself - by Little's law mean latency = agents /
    throughput, on this machine's cores whoever does the claiming - and its p99 is a figure of the
    machine as much as of the code. Here the load is what agents make, and the p99 is the press's own."""
    latencies: list[float] = []
    claimed = [0]
    lock = threading.Lock()
    errors: list[BaseException] = []
    start = threading.Barrier(len(users) + 1)
    rng = random.Random(len(users))
    offsets = [rng.uniform(0, min(every, seconds)) for _ in users]
    began = [0.0]

    def run(user, offset):
        mine, got = [], 0
        try:
            connection.ensure_connection()
            start.wait()
            due = began[0] + offset
            while due < began[0] + seconds:
                time.sleep(max(0.0, due - time.monotonic()))
                pressed = time.perf_counter()
                got += bool(work(user))
                mine.append(time.perf_counter() - pressed)
                due += every
        except BaseException as exc:  # noqa: BLE001 - reported after the join
            errors.append(exc)
        finally:
            connections.close_all()
            with lock:
                latencies.extend(mine)
                claimed[0] += got

    threads = [threading.Thread(target=run, args=(u, o)) for u, o in zip(users, offsets, strict=True)]
    for t in threads:
        t.start()
    began[0] = time.monotonic()
    start.wait()
    for t in threads:
        t.join()
    if errors:
        raise errors[0]
    latencies.sort()
    return {
        "claims": claimed[0],
        "presses": len(latencies),
        "every_s": every,
        "p50_ms": 1000 * (percentile(latencies, 0.5) or 0),
        "p99_ms": 1000 * (percentile(latencies, 0.99) or 0),
    }


def double_claims(since_event_id: int) -> int:
    """Claims (ASSIGNMENT events that are not releases or queue moves) written after `since_event_id` on a
    case whose previous assignment event was also a claim: a second agent got a case nobody had released.
    Event ids follow each case's chain order (core.chains), so per case they are the order of the claims."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            SELECT count(*) FROM (
                SELECT details ? 'released' AS released,
                    lag(details ? 'released') OVER (PARTITION BY case_id ORDER BY id) AS previous_released
                FROM {EVENT}
                WHERE id > %(since)s AND kind = 'assignment' AND NOT details ? 'from_queue'
            ) e WHERE NOT e.released AND e.previous_released IS FALSE
            """,  # noqa: S608
            {"since": since_event_id},
        )
        return cursor.fetchone()[0]


def last_event_id() -> int:
    return CaseEvent.objects.aggregate(last=Max("pk"))["last"] or 0


def _round(press, work, team: list[User], users: list[User], seconds: float, at: datetime) -> dict:
    """One round of `press` (closed loop or paced) of `work` by `team`, every bench lease released first and
    after; its figures with the double claims found in the events the round wrote."""
    release_all(users, at)
    since = last_event_id()
    figures = press(work, team, seconds)
    figures["double_claims"] = double_claims(since)
    release_all(users, at)
    return figures


def measure(*, out, as_of: date, seconds: float, agent_counts=(16, 32)) -> list[Result]:
    at = claim_hour(as_of, not_before=timezone.now())
    users, queue_ids = agents_on_several_queues(max(agent_counts))
    # What beat keeps up to date: who may be called at `at` (Next case reads the stored answer).
    services.contactability.contactability_roll(now=at)
    ensure_baseline_index()

    def raw(user):
        return raw_claim(user.pk, queue_ids, at)

    def project_press(user):
        return services.case_claim_next(actor=user, now=at).case

    results = []
    try:
        for count in agent_counts:
            team = users[:count]
            base = _round(press_for, raw, team, users, seconds, at)
            project = _round(press_for, project_press, team, users, seconds, at)
            paced_seconds = PACED_ROUNDS * seconds
            paced_base = _round(press_paced, raw, team, users, paced_seconds, at)
            paced = _round(press_paced, project_press, team, users, paced_seconds, at)
            out(
                f"  Next case, {count} agents on {len(queue_ids)} queues: "
                f"project {project['per_second']:.0f}/s "
                f"p50 {project['p50_ms']:.1f} ms p99 {project['p99_ms']:.1f} ms; raw loop "
                f"{base['per_second']:.0f}/s p99 {base['p99_ms']:.1f} ms; double claims "
                f"{project['double_claims']} / {base['double_claims']}"
            )
            results.append(
                Result(
                    measure=f"claim:{count} agents",
                    project=project["per_second"],
                    baseline=base["per_second"],
                    unit="claims/s",
                    target=CLAIM,
                    higher_is_better=True,
                    value=project["double_claims"],
                    details={"project": project, "baseline": base, "queues": len(queue_ids), "at": at},
                )
            )
            out(
                f"  Next case, {count} agents pressing every {PACE_SECONDS:g} s: project p50 "
                f"{paced['p50_ms']:.1f} ms p99 {paced['p99_ms']:.1f} ms; raw loop p50 "
                f"{paced_base['p50_ms']:.1f} ms p99 {paced_base['p99_ms']:.1f} ms; double claims "
                f"{paced['double_claims']} / {paced_base['double_claims']}"
            )
            results.append(
                Result(
                    measure=f"claim:paced {count} agents",
                    project=paced["p99_ms"],
                    baseline=paced_base["p99_ms"],
                    unit="ms (p99)",
                    target=CLAIM_PACED,
                    value=paced["p99_ms"] if paced["double_claims"] == 0 else float("inf"),
                    details={"project": paced, "baseline": paced_base, "queues": len(queue_ids), "at": at},
                )
            )
    finally:
        drop_baseline_index()
    return results
