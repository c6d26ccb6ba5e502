"""core.chains: `verify_chains` recomputes every registered chain and names the first broken link.

Tampering is simulated as a DBA who owns the table would do it: disable the refusing trigger
(`ALTER TABLE ... DISABLE TRIGGER`), change rows, enable it again. Found: an edited row (its row_hash no
longer matches its content), a deleted row (the next row's prev_hash no longer matches), a reordered pair
(two rows' contents swapped), a disabled trigger; the command exits 1 on each, 0 on a clean database.
"""

from contextlib import contextmanager

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import DatabaseError, connection, transaction

from collections_app.models import CaseEvent, EventKind
from collections_app.services import kernel
from core import chains
from tests.factories import open_case

pytestmark = [pytest.mark.django_db, pytest.mark.postgres]
TABLE = "collections_app_caseevent"


@contextmanager
def as_table_owner():
    """What only the table's owner can do: switch the refusal off for a moment."""
    with connection.cursor() as cursor:
        # Django's foreign keys are checked at commit; ALTER TABLE wants no such check pending.
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        cursor.execute(f"ALTER TABLE {TABLE} DISABLE TRIGGER {TABLE}_chain_refuse")
        yield cursor
        cursor.execute(f"ALTER TABLE {TABLE} ENABLE TRIGGER {TABLE}_chain_refuse")


@pytest.fixture
def timelines():
    """Two cases with four notes each, written interleaved (their ids alternate)."""
    first, second = open_case(), open_case()
    for i in range(4):
        for case in (first, second):
            kernel.event_write(case=case, kind=EventKind.NOTE, reason=f"note {i} on {case.pk}")
    return {
        case.pk: list(CaseEvent.objects.filter(case=case).order_by("pk").values_list("pk", flat=True))
        for case in (first, second)
    }


def run_command() -> tuple[str, int]:
    from io import StringIO

    out = StringIO()
    try:
        call_command("verify_chains", stdout=out)
    except CommandError as error:
        return out.getvalue(), error.returncode
    return out.getvalue(), 0


def test_a_clean_database_verifies(timelines):
    report = chains.verify_chain(CaseEvent)
    assert report.ok and report.rows == CaseEvent.objects.count()
    out, status = run_command()
    assert status == 0
    assert f"{TABLE}: {report.rows:,} rows, OK" in out


def test_small_batches_see_links_across_batch_boundaries(timelines):
    assert chains.verify_chain(CaseEvent, batch=1).ok
    assert chains.verify_chain(CaseEvent, batch=3).ok


def test_an_edited_row_is_named(timelines):
    case_id, ids = next(iter(timelines.items()))
    with as_table_owner() as cursor:
        cursor.execute(f"UPDATE {TABLE} SET reason = 'softened' WHERE id = %s", [ids[2]])  # noqa: S608
    broken = chains.verify_chain(CaseEvent).broken
    assert (broken.row_id, broken.chain_key, broken.problem) == (ids[2], case_id, "content")
    assert "row_hash does not match its content" in broken.message
    out, status = run_command()
    assert status == 1
    assert f"BROKEN - {TABLE} row {ids[2]} (chain {case_id})" in out


def test_an_edited_row_with_recomputed_own_hash_breaks_the_next_link(timelines):
    """A forger who also recomputes the edited row's hash changes what the next row points to."""
    case_id, ids = next(iter(timelines.items()))
    with as_table_owner() as cursor:
        cursor.execute(
            f"UPDATE {TABLE} t SET reason = 'softened' WHERE id = %s",  # noqa: S608
            [ids[1]],
        )
        cursor.execute(
            f"UPDATE {TABLE} t SET row_hash = {chains.hash_sql('t.prev_hash', f'{TABLE}_chain_content(t)')} "  # noqa: S608
            "WHERE id = %s",
            [ids[1]],
        )
    broken = chains.verify_chain(CaseEvent).broken
    assert (broken.row_id, broken.problem) == (ids[2], "link")


def test_a_deleted_row_is_named_by_the_row_after_it(timelines):
    case_id, ids = list(timelines.items())[1]
    with as_table_owner() as cursor:
        cursor.execute(f"DELETE FROM {TABLE} WHERE id = %s", [ids[1]])  # noqa: S608
    broken = chains.verify_chain(CaseEvent).broken
    assert (broken.row_id, broken.chain_key, broken.problem) == (ids[2], case_id, "link")
    assert "prev_hash does not match the previous row's row_hash" in broken.message
    assert run_command()[1] == 1


def test_a_reordered_pair_is_named_at_the_first_of_the_two(timelines):
    """Swap the content of two rows of one chain (hashes left in place): the earlier one is named."""
    case_id, ids = next(iter(timelines.items()))
    with as_table_owner() as cursor:
        cursor.execute(
            f"""UPDATE {TABLE} t SET reason = o.reason, created_at = o.created_at
                FROM {TABLE} o WHERE (t.id, o.id) IN ((%s, %s), (%s, %s))""",  # noqa: S608
            [ids[1], ids[2], ids[2], ids[1]],
        )
    broken = chains.verify_chain(CaseEvent).broken
    assert (broken.row_id, broken.problem) == (ids[1], "content")


def test_the_first_broken_link_is_the_lowest_id(timelines):
    (first_case, first_ids), (_, second_ids) = timelines.items()
    with as_table_owner() as cursor:
        cursor.execute(
            f"UPDATE {TABLE} SET reason = 'x' WHERE id IN (%s, %s)",  # noqa: S608
            [first_ids[3], second_ids[0]],
        )
    assert chains.verify_chain(CaseEvent).broken.row_id == min(first_ids[3], second_ids[0])


def test_a_disabled_trigger_fails_the_command(timelines):
    with connection.cursor() as cursor:
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        cursor.execute(f"ALTER TABLE {TABLE} DISABLE TRIGGER {TABLE}_chain_link")
    report = chains.verify_chain(CaseEvent)
    assert not report.installed and report.broken is None and not report.ok
    out, status = run_command()
    assert status == 1 and "NOT PROTECTED" in out


def test_every_registered_chain_is_walked():
    assert "collections_app.CaseEvent" in chains.CHAINS
    assert [r.table for r in chains.verify_chains()] == [c.table for c in chains.CHAINS.values()]


def test_an_unregistered_model_is_refused_by_name():
    from collections_app.models import Case

    with pytest.raises(LookupError, match="collections_app.Case is not a registered hash chain"):
        chains.verify_chain(Case)


def test_the_operation_round_trips_through_a_migration_file():
    operation = chains.InstallChain("caseevent", chain_by="case", content=["id", "case", "reason"])
    name, args, kwargs = operation.deconstruct()
    assert (name, args, kwargs) == (
        "InstallChain",
        ["caseevent"],
        {"chain_by": "case", "content": ["id", "case", "reason"]},
    )
    assert chains.InstallChain(*args, **kwargs).describe() == operation.describe()


def test_names_that_are_not_plain_identifiers_are_refused():
    with pytest.raises(ValueError, match="not a plain column or table name"):
        chains.ChainSQL(
            table="events; drop table x",
            pk="id",
            key=None,
            content=("id",),
            prev_hash="prev_hash",
            row_hash="row_hash",
            sequence=None,
        )


@pytest.mark.parametrize("key", [None, "grp"], ids=["one chain for the table", "a chain per group"])
def test_a_new_table_installs_fills_links_and_uninstalls(key):
    """What InstallChain runs, on a scratch table: rows already there are hashed by the fill (chain by chain
    in id order), later ones by the trigger; uninstalling frees the table again. chain_by=None is one chain
    for the whole table (e.g. an audit table)."""
    spec = chains.ChainSQL(
        table="chain_scratch",
        pk="id",
        key=key,
        content=("id", "grp", "note"),
        prev_hash="prev_hash",
        row_hash="row_hash",
        sequence="chain_scratch_id_seq",
    )
    partition = "PARTITION BY grp" if key else ""
    with connection.cursor() as cursor:
        cursor.execute(
            "CREATE TABLE chain_scratch (id serial PRIMARY KEY, grp int NOT NULL, note text, "
            "prev_hash varchar(64) DEFAULT '', row_hash varchar(64) DEFAULT '')"
        )
        cursor.execute(
            "INSERT INTO chain_scratch (grp, note) SELECT g % 2, 'old' FROM generate_series(1, 5) g"
        )
        for sql in spec.install():
            cursor.execute(sql)
        cursor.execute(
            "INSERT INTO chain_scratch (grp, note) SELECT g % 3, 'new' FROM generate_series(1, 6) g"
        )
        cursor.execute(
            f"SELECT id, prev_hash, row_hash, lag(row_hash) OVER ({partition} ORDER BY id), "  # noqa: S608
            f"{chains.hash_sql('prev_hash', 'chain_scratch_chain_content(chain_scratch)')} "
            "FROM chain_scratch ORDER BY id"
        )
        rows = cursor.fetchall()
        assert len(rows) == 11
        for _id, prev_hash, row_hash, before, recomputed in rows:
            assert row_hash == recomputed
            assert prev_hash == (before or chains.GENESIS)
        assert sum(prev_hash == chains.GENESIS for _i, prev_hash, *_ in rows) == (3 if key else 1)
        for sql in spec.uninstall():
            cursor.execute(sql)
        cursor.execute("UPDATE chain_scratch SET note = 'free again'")  # no trigger left


def test_a_seeding_tool_that_owns_the_table_rewrites_and_rehashes_its_own_history(timelines):
    """The demo seed re-dates the history it has just written (chains.rewriting): inside the block the
    refusal is off; at its end every chain is hashed again and the refusal is back."""
    chain = chains.chain_for(CaseEvent)
    with chains.rewriting([chain]), connection.cursor() as cursor:
        cursor.execute(f"UPDATE {TABLE} SET created_at = created_at - interval '30 days'")  # noqa: S608
        assert not chains.verify_chain(CaseEvent).ok  # the old hashes no longer match, until the end
    assert chains.verify_chain(CaseEvent).ok
    with (
        pytest.raises(DatabaseError, match="append-only"),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute(f"UPDATE {TABLE} SET reason = 'x'")  # noqa: S608
