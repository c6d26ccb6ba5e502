"""Next case against a raw SKIP LOCKED loop on the same data, interleaved (not part of the test suite).

    DJANGO_DEBUG=1 DATABASE_URL=postgres://.../bench_x .venv/bin/python scripts/claim_bench.py \
        --threads 16 32 --seconds 10 --rounds 2

Works on a portfolio made by `manage.py generate_portfolio` (it changes the data: use a database of its
own). Sets up three teams of three queues (the open cases spread over the nine by id), agents on their
team's three queues, the stored contactability rolled to `--at` (a UTC hour at which some cardholders are
outside their calling windows), then for each thread count runs, one after the other:

- raw: a hand-written loop over the same partial index - per press one transaction that ends the agent's
  lease, takes the next ready case of their queues (UPDATE ... WHERE id = (SELECT ... ORDER BY ... LIMIT 1
  FOR UPDATE SKIP LOCKED)) and writes the two ASSIGNMENT events, as Next case does;
- project: `services.case_claim_next`.

Prints claims/s, p50 and p99 per press and the ratio, and checks from the events that no case was held by
two agents at once (each claim event of a case follows the release of the claim before it).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

import django  # noqa: E402

django.setup()

from django.db import connection, connections, transaction  # noqa: E402

from accounts.models import Role, Team, User  # noqa: E402
from collections_app import services  # noqa: E402
from collections_app.models import Case, CaseEvent, CreditAccount, EventKind, Queue  # noqa: E402
from collections_app.services import claims, contactability  # noqa: E402

TEAMS = 3
QUEUES_PER_TEAM = 3
CLAIM_REASON = "Claimed with Next case"

RAW_PRESS = """
WITH released AS (
    UPDATE {case} SET lease_owner_id = NULL, lease_expires_at = NULL, version = version + 1
    WHERE lease_owner_id = %(agent)s RETURNING id
), released_event AS (
    INSERT INTO {event} (case_id, kind, from_state, to_state, actor_id, reason, details, created_at)
    SELECT id, 'assignment', '', '', %(agent)s, %(released)s, '{{"released": true}}', %(now)s FROM released
), claimed AS (
    UPDATE {case} SET lease_owner_id = %(agent)s, lease_expires_at = %(until)s, version = version + 1
    WHERE id = (
        SELECT id FROM {case}
        WHERE queue_id = ANY(%(queues)s) AND state IN ('new', 'in_progress')
          AND (lease_expires_at IS NULL OR lease_expires_at < %(now)s)
          AND (next_action_at IS NULL OR next_action_at <= %(now)s)
          AND contactable_from <= %(now)s AND (contactable_until IS NULL OR contactable_until > %(now)s)
          AND id <> ALL(ARRAY(SELECT id FROM released))
        ORDER BY priority DESC, next_action_at ASC NULLS LAST, id
        LIMIT 1 FOR UPDATE SKIP LOCKED)
    RETURNING id
)
INSERT INTO {event} (case_id, kind, from_state, to_state, actor_id, reason, details, created_at)
SELECT id, 'assignment', '', '', %(agent)s, %(claimed)s, '{{}}', %(now)s FROM claimed RETURNING case_id
"""


def grow(claimable: int) -> None:
    """Copy the open cases (each with a copy of its account) until `claimable` cases can be claimed:
    generate_portfolio makes a realistic small portfolio in seconds, SQL multiplies it."""
    have = Case.objects.filter(state__in=claims.CLAIMABLE_STATES).count()
    if have >= claimable:
        return
    account, case = CreditAccount._meta.db_table, Case._meta.db_table
    account_columns = [
        f.column
        for f in CreditAccount._meta.concrete_fields
        if not f.primary_key and not getattr(f, "generated", False)
    ]
    case_columns = [f.column for f in Case._meta.concrete_fields if not f.primary_key]
    copied = {
        "external_ref": "a.external_ref || '-c' || m.g",
        "reference": "t.reference || '-c' || m.g",
        "account_id": "m.new_account",
        "priority": "(m.g * 7919) % 1000",
    }
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            f"""CREATE TEMP TABLE grow ON COMMIT DROP AS
            WITH src AS (SELECT id, account_id, row_number() OVER (ORDER BY id) - 1 AS rn FROM {case}
                         WHERE state IN ('new', 'in_progress'))
            SELECT g, src.id AS case_id, src.account_id,
                   nextval(pg_get_serial_sequence('{account}', 'id')) AS new_account
            FROM generate_series(1, %s) g JOIN src ON src.rn = g %% %s""",  # noqa: S608
            [claimable - have, have],
        )
        cursor.execute(
            f"INSERT INTO {account} (id, {', '.join(account_columns)}) SELECT m.new_account, "  # noqa: S608
            + ", ".join(copied.get(c, f"a.{c}") for c in account_columns)
            + f" FROM grow m JOIN {account} a ON a.id = m.account_id"
        )
        cursor.execute(
            f"INSERT INTO {case} ({', '.join(case_columns)}) SELECT "  # noqa: S608
            + ", ".join(copied.get(c, f"t.{c}") for c in case_columns)
            + f" FROM grow m JOIN {case} t ON t.id = m.case_id"
        )


def set_up(agents: int, at: datetime) -> list[tuple[User, list[int]]]:
    """Nine queues in three teams, the claimable cases spread over them, `agents` agents on their team's
    queues, leases cleared, the stored contactability rolled to `at`."""
    queue_ids: list[list[int]] = []
    for t in range(TEAMS):
        team, _ = Team.objects.get_or_create(name=f"Claim bench team {t}")
        ids = []
        for q in range(QUEUES_PER_TEAM):
            queue, _ = Queue.objects.get_or_create(
                name=f"Claim bench {t}.{q}", defaults={"order": 900 + t * 10 + q, "team": team}
            )
            ids.append(queue.pk)
        queue_ids.append(ids)
    flat = [pk for ids in queue_ids for pk in ids]
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {Case._meta.db_table} SET queue_id = (%s::int[])[1 + id %% %s], "  # noqa: S608
            "lease_owner_id = NULL, lease_expires_at = NULL WHERE state IN ('new', 'in_progress') "
            "AND (queue_id IS DISTINCT FROM (%s::int[])[1 + id %% %s] OR lease_owner_id IS NOT NULL)",
            [flat, len(flat), flat, len(flat)],
        )
        cursor.execute(f"VACUUM ANALYZE {Case._meta.db_table}")  # noqa: S608
    contactability.contactability_roll(now=at)
    users = []
    for n in range(agents):
        team = n % TEAMS
        user, _ = User.objects.get_or_create(username=f"claim_bench_{n}", defaults={"role": Role.AGENT})
        user.team = Team.objects.get(name=f"Claim bench team {team}")
        user.save(update_fields=["team"])
        user.work_queues.set(queue_ids[team])
        users.append((user, queue_ids[team]))
    return users


def run(users, seconds: float, press) -> dict:
    latencies: list[float] = []
    claims_made = [0]
    lock = threading.Lock()
    barrier = threading.Barrier(len(users))
    stop = [0.0]

    def work(user, queues):
        mine, got = [], 0
        try:
            barrier.wait()
            if not stop[0]:
                stop[0] = time.monotonic() + seconds
            while time.monotonic() < stop[0]:
                started = time.perf_counter()
                got += bool(press(user, queues))
                mine.append(time.perf_counter() - started)
        finally:
            connections.close_all()
            with lock:
                latencies.extend(mine)
                claims_made[0] += got

    threads = [threading.Thread(target=work, args=u) for u in users]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    latencies.sort()
    return {
        "claims": claims_made[0],
        "per_s": claims_made[0] / seconds,
        "p50_ms": 1000 * statistics.median(latencies),
        "p99_ms": 1000 * latencies[int(0.99 * (len(latencies) - 1))],
    }


def project_press(at: datetime):
    def press(user, _queues):
        return services.case_claim_next(actor=user, now=at).case

    return press


def raw_press(at: datetime):
    sql = RAW_PRESS.format(case=Case._meta.db_table, event=CaseEvent._meta.db_table)
    until = at + timedelta(minutes=15)

    def press(user, queues):
        params = {
            "agent": user.pk,
            "queues": queues,
            "now": at,
            "until": until,
            "released": claims.NEXT_CASE,
            "claimed": CLAIM_REASON,
        }
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(sql, params)
            return cursor.fetchone()

    return press


def double_claims(since_event: int) -> int:
    """Claims of a case made while another agent's claim of it had not been released: from the events,
    per case in insertion order, a claim must follow nothing or a release."""
    rows = (
        CaseEvent.objects.filter(pk__gt=since_event, kind=EventKind.ASSIGNMENT)
        .order_by("case_id", "pk")
        .values_list("case_id", "reason")
    )
    bad, last = 0, {}
    for case_id, reason in rows.iterator(chunk_size=20000):
        if reason == CLAIM_REASON and last.get(case_id) == CLAIM_REASON:
            bad += 1
        last[case_id] = reason
    return bad


def release_all() -> None:
    Case.objects.filter(lease_owner__isnull=False).update(lease_owner=None, lease_expires_at=None)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--threads", type=int, nargs="+", default=[16, 32])
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--at", default="2026-12-03T21:00:00", help="UTC instant the agents work at")
    parser.add_argument("--only", choices=["raw", "project"])
    parser.add_argument("--cases", type=int, default=100_000, help="claimable cases (copies made if fewer)")
    args = parser.parse_args()
    at = datetime.fromisoformat(args.at).replace(tzinfo=UTC)
    grow(args.cases)
    users = set_up(max(args.threads), at)
    ready = Case.objects.filter(claims.ready_now(at)).count()
    open_ = Case.objects.filter(state__in=claims.CLAIMABLE_STATES).count()
    print(f"claimable cases {open_:,}, ready at {at:%H:%M} UTC {ready:,}; {TEAMS}x{QUEUES_PER_TEAM} queues")
    for _ in range(args.rounds):
        for n in args.threads:
            figures = {}
            for name, press in (("raw", raw_press(at)), ("project", project_press(at))):
                if args.only and name != args.only:
                    continue
                release_all()
                since = CaseEvent.objects.order_by("-pk").values_list("pk", flat=True).first() or 0
                figures[name] = result = run(users[:n], args.seconds, press)
                result["double"] = double_claims(since)
                print(
                    f"{n:>3} agents {name:>8}: {result['claims']:>7,} claims {result['per_s']:>8.1f}/s "
                    f"p50 {result['p50_ms']:6.2f} ms p99 {result['p99_ms']:6.2f} ms "
                    f"double claims {result['double']}",
                    flush=True,
                )
            if len(figures) == 2:
                print(f"{n:>3} agents    ratio: {figures['project']['per_s'] / figures['raw']['per_s']:.2f}")


if __name__ == "__main__":
    main()
