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


# --- The chain heads (collections_app 0018) and the bulk path --------------------------------------------


def lock_heads(case_ids) -> dict[int, tuple]:
    """case id -> (head_id, head_hash) as the lock rows hold them."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT chain, head_id, head_hash FROM {chains.LOCK_TABLE} WHERE chain = ANY(%s)",  # noqa: S608
            [[f"{TABLE}:{case_id}" for case_id in case_ids]],
        )
        return {int(chain.split(":")[1]): (head_id, head_hash) for chain, head_id, head_hash in cursor}


def last_events(case_ids) -> dict[int, tuple]:
    return {
        case_id: CaseEvent.objects.filter(case_id=case_id).order_by("-pk").values_list("pk", "row_hash")[0]
        for case_id in case_ids
    }


def test_the_lock_row_keeps_each_chains_head(timelines):
    assert lock_heads(timelines) == last_events(timelines)


def test_the_trigger_links_to_the_head_in_the_lock_row_not_a_search(timelines):
    """The next event's prev_hash is what the lock row holds (here a forged value, for the proof): the
    trigger no longer searches the months of the table for the previous row."""
    case_id = next(iter(timelines))
    forged = "f" * 64
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {chains.LOCK_TABLE} SET head_hash = %s WHERE chain = %s",  # noqa: S608
            [forged, f"{TABLE}:{case_id}"],
        )
    event = kernel.event_write(case=open_case_of(case_id), kind=EventKind.NOTE, reason="after the head")
    event.refresh_from_db()
    assert event.prev_hash == forged


def test_a_chain_without_a_head_links_by_the_search_and_gets_one(timelines):
    """Lock rows from before the heads were kept (head NULL): the trigger searches, then records it."""
    case_id = next(iter(timelines))
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {chains.LOCK_TABLE} SET head_id = NULL, head_at = NULL, head_hash = NULL",  # noqa: S608
        )
    kernel.event_write(case=open_case_of(case_id), kind=EventKind.NOTE, reason="after the search")
    assert chains.verify_chain(CaseEvent).ok
    assert lock_heads([case_id]) == last_events([case_id])


def test_a_head_whose_row_is_gone_falls_back_to_the_search(timelines):
    """A truncated table leaves its lock rows: a head whose row is no longer there is not linked to (here
    the owner removed the chain's last row; the next event links to the row before it)."""
    case_id, ids = next(iter(timelines.items()))
    with as_table_owner() as cursor:
        cursor.execute(f"DELETE FROM {TABLE} WHERE id = %s", [ids[-1]])  # noqa: S608
    event = kernel.event_write(case=open_case_of(case_id), kind=EventKind.NOTE, reason="after the removal")
    event.refresh_from_db()
    assert event.prev_hash == CaseEvent.objects.get(pk=ids[-2]).row_hash
    assert chains.verify_chain(CaseEvent).ok


def test_the_migrations_backfill_records_the_heads_of_existing_chains(timelines):
    with connection.cursor() as cursor:
        cursor.execute(f"DELETE FROM {chains.LOCK_TABLE} WHERE chain LIKE %s", [f"{TABLE}:%"])  # noqa: S608
        cursor.execute(chains._spec_of(chains.chain_for(CaseEvent), cursor).heads_backfill())
    assert lock_heads(timelines) == last_events(timelines)


def open_case_of(case_id):
    from collections_app.models import Case

    return Case.objects.get(pk=case_id)


def stage(cursor, rows) -> None:
    """A staging table LIKE the events', filled with (id, case_id, reason) rows."""
    cursor.execute(f"CREATE TEMPORARY TABLE staged (LIKE {TABLE} INCLUDING DEFAULTS) ON COMMIT DROP")
    for row_id, case_id, reason in rows:
        cursor.execute(
            "INSERT INTO staged (id, case_id, kind, from_state, to_state, reason, details, created_at) "
            "VALUES (%s, %s, 'note', '', '', %s, '{}', now() - interval '40 days')",
            [row_id, case_id, reason],
        )


def test_a_bulk_append_hashes_as_the_trigger_would_and_the_trigger_goes_on_from_it(timelines):
    """chains.bulk_append (generate_portfolio's path): staged rows for a chain that has rows already and
    for a new chain, hashed set-based with the trigger off for that INSERT; the chains verify, the heads
    are recorded, the trigger is back on and continues them."""
    (old_case, old_ids), _ = timelines.items()
    new_case = open_case()
    with connection.cursor() as cursor:
        cursor.execute("SELECT max(id) FROM collections_app_caseevent")
        top = cursor.fetchone()[0]
        opened = CaseEvent.objects.filter(case=new_case).values_list("pk", flat=True)
        assert len(opened) <= 1
        stage(
            cursor,
            [(top + 1, old_case, "bulk 1"), (top + 2, new_case.pk, "bulk 2"), (top + 3, old_case, "bulk 3")],
        )
        assert chains.bulk_append(CaseEvent, "staged") == 3
    assert chains.is_installed(TABLE)
    assert chains.verify_chain(CaseEvent).ok
    assert CaseEvent.objects.get(pk=top + 1).prev_hash == CaseEvent.objects.get(pk=old_ids[-1]).row_hash
    assert lock_heads([old_case, new_case.pk]) == last_events([old_case, new_case.pk])
    kernel.event_write(case=new_case, kind=EventKind.NOTE, reason="after the bulk append")
    assert chains.verify_chain(CaseEvent).ok


def test_a_bulk_append_refuses_ids_below_the_tables(timelines):
    """Id order is chain order: staged rows must come after every row there."""
    (case_id, ids), _ = timelines.items()
    with connection.cursor() as cursor:
        stage(cursor, [(ids[0] - 1 if ids[0] > 1 else 0, case_id, "too early")])
        with pytest.raises(ValueError, match="must be above every id"):
            chains.bulk_append(CaseEvent, "staged")
