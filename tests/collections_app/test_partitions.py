"""Contact attempts and case events are monthly range partitions (collections_app.partitions, migration
0012): after migrate both tables are partitioned with this month, the next ones and a DEFAULT partition,
with their indexes, primary key (id, month column) and the case events' hash chain; the beat task and the
command create the coming months (idempotently); a row lands in its month's partition, or in the default
one when no month covers it, and a late month takes its rows out of the default; the migration's
operation rebuilds a table with rows in it both ways, keeping ids, hashes and the sequence.
"""

from datetime import UTC, datetime, timedelta
from io import StringIO

import pytest
import time_machine
from django.core.management import call_command
from django.db import DatabaseError, connection, transaction
from django.db.migrations.loader import MigrationLoader
from django.db.models import ProtectedError
from django.utils import timezone

from collections_app import partitions
from collections_app.models import CaseEvent, Channel, ContactAttempt, EventKind, Outcome
from collections_app.services import kernel
from collections_app.tasks import partitions_ensure
from core import chains
from tests.factories import open_case

pytestmark = [pytest.mark.django_db, pytest.mark.postgres]
ATTEMPTS = "collections_app_contactattempt"
EVENTS = "collections_app_caseevent"


def this_month():
    return partitions.month_of(timezone.now())


def moment_in(month, day=15):
    return datetime(month.year, month.month, day, 10, 30, tzinfo=UTC)


def home_of(model, pk) -> str:
    """The partition a row is stored in."""
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT tableoid::regclass::text FROM {model._meta.db_table} WHERE id = %s", [pk])  # noqa: S608
        return cursor.fetchone()[0]


def attempt_at(case, started_at, **fields):
    return ContactAttempt.objects.create(
        case=case,
        cardholder=case.account.cardholder,
        channel=Channel.OUTBOUND_CALL,
        outcome=Outcome.NO_ANSWER,
        started_at=started_at,
        **fields,
    )


def event_at(case, created_at, reason="note"):
    return CaseEvent.objects.create(case=case, kind=EventKind.NOTE, reason=reason, created_at=created_at)


def names(table) -> list[str]:
    return [p.name for p in partitions.partitions_of(table)]


def test_after_migrate_both_tables_are_partitioned_by_month_with_a_default():
    month = this_month()
    for table, column in ((ATTEMPTS, "started_at"), (EVENTS, "created_at")):
        assert partitions.is_partitioned(table)
        present = names(table)
        for step in range(partitions.MONTHS_AHEAD + 1):
            assert partitions.partition_name(table, partitions.add_months(month, step)) in present
        assert present[-1] == f"{table}_default"
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT pg_get_constraintdef(oid) FROM pg_constraint WHERE conrelid = %s::regclass "
                "AND contype = 'p'",
                [table],
            )
            assert cursor.fetchone()[0] == f"PRIMARY KEY (id, {column})"


def test_the_models_indexes_are_partitioned_indexes_of_the_same_names():
    wanted = {index.name for model in (ContactAttempt, CaseEvent) for index in model._meta.indexes}
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT relname FROM pg_class WHERE relkind = 'I' AND relname = ANY(%s)", [sorted(wanted)]
        )
        assert {row[0] for row in cursor.fetchall()} == wanted


def test_rows_land_in_their_months_partition_or_in_the_default():
    case = open_case()
    month = this_month()
    now_attempt = attempt_at(case, moment_in(month))
    ancient = attempt_at(case, datetime(1990, 1, 2, tzinfo=UTC))
    far_event = event_at(case, moment_in(partitions.add_months(month, 40)))
    assert home_of(ContactAttempt, now_attempt.pk) == partitions.partition_name(ATTEMPTS, month)
    assert home_of(ContactAttempt, ancient.pk) == f"{ATTEMPTS}_default"
    assert home_of(CaseEvent, far_event.pk) == f"{EVENTS}_default"
    # The model still reads and filters by id alone.
    assert ContactAttempt.objects.get(pk=ancient.pk).started_at.year == 1990


def test_the_task_creates_the_coming_months_and_a_row_of_next_month_lands_in_it():
    later = partitions.add_months(this_month(), 7)  # beyond what migrate created
    next_after = partitions.add_months(later, 1)
    assert partitions.partition_name(ATTEMPTS, next_after) not in names(ATTEMPTS)
    with time_machine.travel(moment_in(later, day=3), tick=False):
        created = partitions_ensure.apply().get()
    assert partitions.partition_name(ATTEMPTS, next_after) in created[ATTEMPTS]
    assert partitions.partition_name(EVENTS, next_after) in created[EVENTS]
    case = open_case()
    attempt = attempt_at(case, moment_in(next_after, day=28))
    event = event_at(case, moment_in(next_after, day=1))
    assert home_of(ContactAttempt, attempt.pk) == partitions.partition_name(ATTEMPTS, next_after)
    assert home_of(CaseEvent, event.pk) == partitions.partition_name(EVENTS, next_after)


def test_the_task_and_the_command_are_idempotent():
    before = names(ATTEMPTS), names(EVENTS)
    assert partitions_ensure.apply().get() == {}  # migrate created this month and the next ones
    out = StringIO()
    call_command("ensure_partitions", stdout=out)
    assert "none (all present)" in out.getvalue()
    assert (names(ATTEMPTS), names(EVENTS)) == before

    later = partitions.add_months(this_month(), 9)
    first = partitions.ensure_partitions(today=later, months_ahead=1)
    assert set(first) == {ATTEMPTS, EVENTS}
    assert len(first[ATTEMPTS]) == 2
    assert partitions.ensure_partitions(today=later, months_ahead=1) == {}


def test_a_late_month_takes_its_rows_out_of_the_default_partition_as_they_were():
    case = open_case()
    month = partitions.add_months(this_month(), 11)
    attempt = attempt_at(case, moment_in(month))
    kernel.event_write(case=case, kind=EventKind.NOTE, reason="before")
    stray = event_at(case, moment_in(month), reason="dated ahead")
    kernel.event_write(case=case, kind=EventKind.NOTE, reason="after")
    hashes = (stray.prev_hash, stray.row_hash)
    assert home_of(CaseEvent, stray.pk) == f"{EVENTS}_default"

    created = partitions.ensure_partitions(today=month, months_ahead=0)

    assert created == {
        ATTEMPTS: [partitions.partition_name(ATTEMPTS, month)],
        EVENTS: [partitions.partition_name(EVENTS, month)],
    }
    assert home_of(ContactAttempt, attempt.pk) == partitions.partition_name(ATTEMPTS, month)
    assert home_of(CaseEvent, stray.pk) == partitions.partition_name(EVENTS, month)
    moved = CaseEvent.objects.get(pk=stray.pk)
    assert (moved.prev_hash, moved.row_hash) == hashes
    assert chains.verify_chain(CaseEvent).ok
    # The refusal came back with the reattached default partition and is on the new month too.
    for target in (stray.pk, CaseEvent.objects.filter(case=case).order_by("pk").first().pk):
        with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
            CaseEvent.objects.filter(pk=target).update(reason="softened")


def test_the_chain_runs_across_months_and_verifies():
    case = open_case()
    month = this_month()
    for step in (0, 1, 2, 0, 40):
        event_at(case, moment_in(partitions.add_months(month, step)), reason=f"month {step}")
    kernel.event_write(case=case, kind=EventKind.NOTE, reason="today")
    events = list(CaseEvent.objects.filter(case=case).order_by("pk"))
    homes = {home_of(CaseEvent, e.pk) for e in events}
    assert len(homes) >= 4  # this month, the next two, the default
    previous = chains.GENESIS
    for event in events:
        assert event.prev_hash == previous
        previous = event.row_hash
    assert chains.verify_chain(CaseEvent).ok
    assert chains.verify_chain(CaseEvent, batch=2).ok
    out = StringIO()
    call_command("verify_chains", stdout=out)
    assert f"{EVENTS}: " in out.getvalue() and "OK" in out.getvalue()
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        CaseEvent.objects.filter(pk=events[2].pk).delete()


def test_django_still_protects_an_attempt_its_correction_points_at():
    """The key from a correction to the attempt it corrects is no database constraint any more."""
    case = open_case()
    original = attempt_at(case, timezone.now() - timedelta(minutes=5))
    attempt_at(case, timezone.now(), corrects=original, notes="wrong outcome")
    with pytest.raises(ProtectedError):
        original.delete()


@pytest.mark.parametrize("model_name", ["contactattempt", "caseevent"])
def test_the_migration_rebuilds_a_table_with_rows_both_ways(model_name):
    case = open_case()
    month = this_month()
    attempts = [attempt_at(case, moment_in(partitions.add_months(month, -step))) for step in (0, 3, 14)]
    for step in (0, 3, 14):
        event_at(case, moment_in(partitions.add_months(month, -step)), reason=f"{step} months ago")
    model = ContactAttempt if model_name == "contactattempt" else CaseEvent
    table = model._meta.db_table
    rows = sorted(model.objects.values_list("pk", flat=True))
    hashes = list(CaseEvent.objects.order_by("pk").values_list("row_hash", flat=True))
    migration = next(
        m
        for key, m in MigrationLoader(connection).disk_migrations.items()
        if key[0] == "collections_app" and key[1].startswith("0012_partition")
    )
    operation = next(op for op in migration.operations if op.model_name == model_name)
    state = MigrationLoader(connection).project_state(("collections_app", migration.name))

    with connection.cursor() as cursor:
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")  # the rows' deferred key checks, before DDL
    with connection.schema_editor(atomic=False) as editor:
        operation.database_backwards("collections_app", editor, state, state)
    assert not partitions.is_partitioned(table)
    assert sorted(model.objects.values_list("pk", flat=True)) == rows
    with connection.schema_editor(atomic=False) as editor:
        operation.database_forwards("collections_app", editor, state, state)

    assert partitions.is_partitioned(table)
    assert sorted(model.objects.values_list("pk", flat=True)) == rows
    column = "started_at" if model is ContactAttempt else "created_at"
    oldest = partitions.add_months(month, -14)
    assert partitions.partition_name(table, oldest) in names(table)
    if model is ContactAttempt:
        assert home_of(ContactAttempt, attempts[2].pk) == partitions.partition_name(ATTEMPTS, oldest)
    # The sequence carries on after the copied ids; the chain keeps its hashes and its triggers.
    fresh = attempt_at(case, timezone.now()) if model is ContactAttempt else event_at(case, timezone.now())
    assert fresh.pk > max(rows)
    assert list(CaseEvent.objects.order_by("pk").values_list("row_hash", flat=True))[: len(hashes)] == hashes
    assert chains.verify_chain(CaseEvent).ok and chains.is_installed(EVENTS)
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_constraint WHERE conrelid = %s::regclass AND contype = 'f'", [table]
        )
        assert cursor.fetchone()[0] >= 2, f"the foreign keys of {table} ({column}) are back"


def test_the_demo_seeds_re_dating_moves_events_between_months_without_new_ids():
    """chains.rewriting (the demo seed re-dates what it wrote): a row moved into another month's partition
    keeps its id - PostgreSQL fires the INSERT triggers of the partition it lands in, so the block turns
    the linking trigger off too - and the chains are whole again at the end."""
    case = open_case()
    for i in range(3):
        kernel.event_write(case=case, kind=EventKind.NOTE, reason=f"note {i}")
    ids = list(CaseEvent.objects.filter(case=case).order_by("pk").values_list("pk", flat=True))
    assert len(ids) >= 4  # the opening event and the three notes
    month_ago = partitions.add_months(this_month(), -2)
    with chains.rewriting([chains.chain_for(CaseEvent)]), connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {EVENTS} SET created_at = %s WHERE case_id = %s",  # noqa: S608
            [moment_in(month_ago), case.pk],
        )
    assert list(CaseEvent.objects.filter(case=case).order_by("pk").values_list("pk", flat=True)) == ids
    assert {home_of(CaseEvent, pk) for pk in ids} == {f"{EVENTS}_default"}
    assert chains.verify_chain(CaseEvent).ok and chains.is_installed(EVENTS)
