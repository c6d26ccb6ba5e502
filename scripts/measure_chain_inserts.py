"""How long appending a case event takes with the chain trigger, on a table with many monthly partitions:
the trigger that links to the head kept in the lock row (collections_app 0018) against the one that
searched every partition's (case, id) index (before 0018), interleaved on the same data.

    DATABASE_URL=postgres://.../scratch_db .venv/bin/python scripts/measure_chain_inserts.py \
        --months 27 --cases 2000 --history 100000 --events 5000 --rounds 3

Run it on a scratch database of its own (migrated; it adds partitions, cases and events). Prints the
milliseconds per event of each trigger and their ratio; asserts nothing (speed is measured, not tested).
With `--load N` (on a generated portfolio): N events written through the trigger against chains.bulk_append
(generate_portfolio before and after), events per second.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

import django  # noqa: E402

django.setup()

from django.db import connection, transaction  # noqa: E402
from django.utils import timezone  # noqa: E402

from collections_app import partitions  # noqa: E402
from collections_app.models import Case, CaseEvent  # noqa: E402
from core import chains  # noqa: E402
from core.chains import InstallChain  # noqa: E402
from demo.management.commands.generate_portfolio import generate  # noqa: E402

CONTENT = ["id", "case", "kind", "from_state", "to_state", "actor", "reason", "details", "created_at"]
TABLE = CaseEvent._meta.db_table


def trigger_function(*, heads: bool) -> str:
    from django.apps import apps
    from django.db.migrations.state import ProjectState

    state = ProjectState.from_apps(apps)
    spec = InstallChain("caseevent", chain_by="case", content=CONTENT).chain_sql(
        "collections_app", state, connection
    )
    return replace(spec, heads=heads).link_function()


def prepare(months: int, cases: int, history: int) -> None:
    this_month = partitions.month_of(timezone.now())
    for step in range(-(months - 3), 3):
        partitions.ensure_month(TABLE, "created_at", partitions.add_months(this_month, step))
    if Case.objects.count() < cases:
        generate(accounts=int(cases * 1.3), prefix=f"M{int(time.time())}")
    have = CaseEvent.objects.count()
    if have < history:
        # History spread over every month, through the trigger (as the application wrote it).
        with connection.cursor() as cursor:
            cursor.execute(
                f"""WITH c AS (SELECT array_agg(id) AS ids FROM collections_app_case)
                INSERT INTO {TABLE} (case_id, kind, from_state, to_state, reason, details, created_at)
                SELECT c.ids[1 + floor(random() * cardinality(c.ids))::int], 'note', '', '', 'history',
                    '{{}}', now() - random() * interval '{months - 3} months'
                FROM c, generate_series(1, %s) g""",  # noqa: S608
                [history - have],
            )
            cursor.execute(f"ANALYZE {TABLE}")


def append(case_ids: list[int], events: int) -> float:
    """Seconds for `events` single-row INSERTs (one statement each, as the kernel writes an event), in one
    transaction rolled back."""
    sql = (
        f"INSERT INTO {TABLE} (case_id, kind, from_state, to_state, reason, details, created_at) "  # noqa: S608
        "VALUES (%s, 'note', '', '', 'measured', '{}', now())"
    )
    started = time.perf_counter()
    try:
        with transaction.atomic(), connection.cursor() as cursor:
            for n in range(events):
                cursor.execute(sql, [case_ids[n % len(case_ids)]])
            elapsed = time.perf_counter() - started
            raise _Rollback
    except _Rollback:
        pass
    return elapsed


def append_in_one_statement(case_ids: list[int], events: int) -> float:
    """Seconds for one INSERT ... SELECT of `events` rows (the trigger per row, as a set-based step writes
    its events), rolled back."""
    sql = (
        f"INSERT INTO {TABLE} (case_id, kind, from_state, to_state, reason, details, created_at) "  # noqa: S608
        "SELECT c, 'note', '', '', 'measured', '{}', now() FROM unnest(%s::bigint[]) c"
    )
    chosen = [case_ids[n % len(case_ids)] for n in range(events)]
    started = time.perf_counter()
    try:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(sql, [chosen])
            elapsed = time.perf_counter() - started
            raise _Rollback
    except _Rollback:
        pass
    return elapsed


class _Rollback(Exception):
    pass


def load_both_ways(rows: int, rounds: int) -> None:
    """generate_portfolio's events before and after: `rows` staged contact events on random cases written
    through the trigger (one INSERT ... SELECT, as its COPY did) and by chains.bulk_append, each rolled
    back, interleaved."""
    staging = "measured_events"
    times: dict[str, list[float]] = {
        "search trigger (before 0018)": [],
        "head trigger (0018)": [],
        "bulk_append (after)": [],
    }
    for _round in range(rounds):
        for label in times:
            try:
                with transaction.atomic(), connection.cursor() as cursor:
                    cursor.execute(
                        f"CREATE TEMPORARY TABLE {staging} (LIKE {TABLE} INCLUDING DEFAULTS) ON COMMIT DROP"
                    )
                    cursor.execute(
                        f"""WITH c AS (SELECT array_agg(id) AS ids FROM collections_app_case),
                            top AS (SELECT max(id) AS id FROM {TABLE})
                        INSERT INTO {staging} (id, case_id, kind, from_state, to_state, reason, details,
                            created_at)
                        SELECT top.id + g, c.ids[1 + floor(random() * cardinality(c.ids))::int], 'contact',
                            '', '', '', jsonb_build_object('contact_attempt', g, 'channel', 'outbound_call',
                            'outcome', 'no_answer'), now() - random() * interval '90 days'
                        FROM c, top, generate_series(1, %s) g""",  # noqa: S608
                        [rows],
                    )
                    if "trigger" in label:  # rolled back with the rest
                        cursor.execute(trigger_function(heads=label.startswith("head")))
                    started = time.perf_counter()
                    if "trigger" in label:
                        cursor.execute(
                            f"INSERT INTO {TABLE} (case_id, kind, from_state, to_state, actor_id, reason, "  # noqa: S608
                            f"details, created_at) SELECT case_id, kind, from_state, to_state, actor_id, "
                            f"reason, details, created_at FROM {staging} ORDER BY id"
                        )
                    else:
                        chains.bulk_append(CaseEvent, staging)
                    times[label].append(time.perf_counter() - started)
                    raise _Rollback
            except _Rollback:
                pass
    print(f"{TABLE}: {CaseEvent.objects.count():,} events; {rows:,} events loaded per round, {rounds} rounds")
    for label, values in times.items():
        median = statistics.median(values)
        print(f"  {label:30} {rows / median:,.0f} events/s ({median:.1f} s, median of {rounds})")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--months", type=int, default=27)
    parser.add_argument("--cases", type=int, default=2000)
    parser.add_argument("--history", type=int, default=100_000)
    parser.add_argument("--events", type=int, default=5000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--load", type=int, help="instead: generate_portfolio's load of this many events")
    args = parser.parse_args()
    if args.load:
        load_both_ways(args.load, args.rounds)
        return
    prepare(args.months, args.cases, args.history)
    parts = len(partitions.partitions_of(TABLE))
    case_ids = list(Case.objects.order_by("?").values_list("pk", flat=True)[: args.cases])
    print(
        f"{TABLE}: {parts} partitions, {CaseEvent.objects.count():,} events, "
        f"{args.events:,} appended per round over {len(case_ids):,} cases, {args.rounds} rounds"
    )
    for way, measure in (
        ("a statement per event", append),
        ("one INSERT ... SELECT", append_in_one_statement),
    ):
        times: dict[str, list[float]] = {"search (before)": [], "head (after)": []}
        with connection.cursor() as cursor:
            for _round in range(args.rounds):
                for label, heads in (("search (before)", False), ("head (after)", True)):
                    cursor.execute(trigger_function(heads=heads))
                    times[label].append(measure(case_ids, args.events))
            cursor.execute(trigger_function(heads=True))
        medians = {label: statistics.median(values) for label, values in times.items()}
        print(f"  {way}:")
        for label, median in medians.items():
            print(f"    {label:16} {median / args.events * 1000:.3f} ms/event (median of {args.rounds})")
        print(f"    ratio before/after: {medians['search (before)'] / medians['head (after)']:.2f}x")
    report = chains.verify_chain(CaseEvent)
    print(f"  verify_chain after the run: {'ok' if report.ok else report.broken}")


if __name__ == "__main__":
    main()
