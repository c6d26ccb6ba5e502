"""The case timeline is a hash chain per case (core.chains on CaseEvent, migration 0005_event_chain):

- the database fills prev_hash and row_hash on every path that writes events: `create`, `bulk_create`,
  and INSERT ... SELECT (the kernel's bulk_transition); each case has its own chain from GENESIS;
- UPDATE and DELETE are refused, through the ORM and in raw SQL, with a message that says why;
- two transactions writing into one case's chain at once take turns: the chain does not fork, and id
  order stays chain order.
"""

import hashlib
import json
import threading
import time
from datetime import datetime

import pytest
from django.db import DatabaseError, connection, connections, transaction

from collections_app.models import Case, CaseEvent, CaseState, EventKind
from collections_app.services import kernel
from core import chains
from tests.factories import UserFactory, open_case

pytestmark = [pytest.mark.django_db, pytest.mark.postgres]


def linked(case) -> list[CaseEvent]:
    """The case's events in chain order, each checked against the one before it; returns them."""
    events = list(
        CaseEvent.objects.filter(case=case).annotate(content=chains.content_of(CaseEvent)).order_by("pk")
    )
    previous = chains.GENESIS
    for event in events:
        assert event.prev_hash == previous
        assert event.row_hash == hashlib.sha256((event.prev_hash + event.content).encode()).hexdigest()
        previous = event.row_hash
    return events


def test_a_single_event_is_hashed_by_the_database_and_the_object_knows_it():
    case = open_case()
    event = kernel.event_write(case=case, kind=EventKind.NOTE, reason="Called twice", details={"n": 1})
    assert len(event.row_hash) == 64 and event.row_hash != chains.GENESIS
    stored = CaseEvent.objects.get(pk=event.pk)
    assert (stored.prev_hash, stored.row_hash) == (event.prev_hash, event.row_hash)
    events = linked(case)
    assert events[-1].pk == event.pk
    assert events[0].prev_hash == chains.GENESIS


def test_the_canonical_content_is_the_documented_json_in_utc():
    case = open_case()
    actor = UserFactory()
    event = kernel.event_write(
        case=case, kind=EventKind.NOTE, actor=actor, reason="Promised after payday", details={"b": [1, "x"]}
    )
    content = CaseEvent.objects.annotate(content=chains.content_of(CaseEvent)).get(pk=event.pk).content
    fields = json.loads(content)
    created_at = fields.pop("created_at")
    assert created_at.endswith("+00:00")  # in UTC, whatever the session's time zone
    assert datetime.fromisoformat(created_at) == event.created_at
    assert fields == {
        "id": event.pk,
        "case_id": case.pk,
        "kind": "note",
        "from_state": "",
        "to_state": "",
        "actor_id": actor.pk,
        "reason": "Promised after payday",
        "details": {"b": [1, "x"]},
    }
    assert content.startswith('{"id": ')  # jsonb's key order: shortest first


def test_bulk_create_chains_every_row_in_order():
    case = open_case()
    written = CaseEvent.objects.bulk_create(
        [CaseEvent(case=case, kind=EventKind.NOTE, reason=f"note {i}") for i in range(5)]
    )
    events = linked(case)
    assert [e.pk for e in events[-5:]] == [e.pk for e in written]
    assert [e.row_hash for e in written] == [e.row_hash for e in events[-5:]]


def test_insert_select_chains_every_row():
    """bulk_transition writes its events with one INSERT ... SELECT; a raw one with several rows of one
    case chains them too."""
    cases = [open_case() for _ in range(3)]
    moved = kernel.bulk_transition(
        Case.objects.filter(pk__in=[c.pk for c in cases]), "start_work", reason="x"
    )
    assert sorted(moved) == sorted(c.pk for c in cases)
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO collections_app_caseevent (case_id, kind, from_state, to_state, reason, details, "
            "created_at) SELECT %s, 'note', '', '', 'n' || g, '{}'::jsonb, now() "
            "FROM generate_series(1, 4) g",
            [cases[0].pk],
        )
    assert len(linked(cases[0])) >= 6
    for case in cases[1:]:
        assert linked(case)[-1].to_state == CaseState.IN_PROGRESS


def test_each_case_has_its_own_chain():
    first, second = open_case(), open_case()
    kernel.event_write(case=first, kind=EventKind.NOTE, reason="a")
    event = kernel.event_write(case=second, kind=EventKind.NOTE, reason="b")
    kernel.event_write(case=first, kind=EventKind.NOTE, reason="c")
    second_events = linked(second)
    assert second_events[0].prev_hash == chains.GENESIS
    assert second_events[-1].pk == event.pk
    first_events = linked(first)
    assert first_events[0].prev_hash == chains.GENESIS
    assert [e.reason for e in first_events][-2:] == ["a", "c"]
    assert chains.chain_head(CaseEvent, first.pk) == chains.ChainHead(
        first_events[-1].row_hash, len(first_events)
    )
    assert chains.chain_head(CaseEvent, open_case().pk + 1000) == chains.ChainHead(chains.GENESIS, 0)


@pytest.mark.parametrize(
    "change",
    [
        lambda e: CaseEvent.objects.filter(pk=e.pk).update(reason="softened"),
        lambda e: CaseEvent.objects.filter(pk=e.pk).delete(),
        lambda e: e.delete(),
        lambda e: (setattr(e, "reason", "softened"), e.save()),
    ],
    ids=["queryset update", "queryset delete", "instance delete", "instance save"],
)
def test_the_orm_cannot_update_or_delete_an_event(change):
    event = kernel.event_write(case=open_case(), kind=EventKind.NOTE, reason="Threatened to sue")
    with pytest.raises(DatabaseError, match="append-only.*cannot update or delete"), transaction.atomic():
        change(event)
    assert CaseEvent.objects.get(pk=event.pk).reason == "Threatened to sue"


@pytest.mark.parametrize(
    "sql",
    [
        "UPDATE collections_app_caseevent SET reason = 'x' WHERE id = %s",
        "DELETE FROM collections_app_caseevent WHERE id = %s",
    ],
)
def test_raw_sql_cannot_update_or_delete_an_event(sql):
    event = kernel.event_write(case=open_case(), kind=EventKind.NOTE, reason="kept")
    with pytest.raises(DatabaseError) as refused, transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(sql, [event.pk])
    message = str(refused.value)
    assert "collections_app_caseevent" in message and "cannot update or delete" in message
    assert f"row {event.pk}" in message
    assert CaseEvent.objects.filter(pk=event.pk, reason="kept").exists()


def _waiting_on_a_lock(pid: int) -> bool:
    with connection.cursor() as cursor:
        cursor.execute("SELECT wait_event_type = 'Lock' FROM pg_stat_activity WHERE pid = %s", [pid])
        row = cursor.fetchone()
    return bool(row and row[0])


@pytest.mark.django_db(transaction=True)
def test_two_transactions_writing_into_one_chain_take_turns():
    """A holds the case's chain (one event written, transaction open); B starts writing and waits on the
    chain's lock - its id was drawn already; A writes a second event and commits; B goes on. The chain
    does not fork and id order is chain order (B's row is given its id after the lock)."""
    case = open_case()
    a_wrote, a_may_commit, b_started = threading.Event(), threading.Event(), threading.Event()
    b_pid, errors = [], []

    def writer_a():
        try:
            with transaction.atomic():
                kernel.event_write(case=case, kind=EventKind.NOTE, reason="A1")
                a_wrote.set()
                assert a_may_commit.wait(30)
                kernel.event_write(case=case, kind=EventKind.NOTE, reason="A2")
        except Exception as error:  # noqa: BLE001 - reported by the main thread
            errors.append(error)
        finally:
            connections.close_all()

    def writer_b():
        try:
            assert a_wrote.wait(30)
            with transaction.atomic():
                with connection.cursor() as cursor:
                    cursor.execute("SELECT pg_backend_pid()")
                    b_pid.append(cursor.fetchone()[0])
                b_started.set()
                kernel.event_write(case=case, kind=EventKind.NOTE, reason="B1")
        except Exception as error:  # noqa: BLE001
            errors.append(error)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=writer_a), threading.Thread(target=writer_b)]
    for thread in threads:
        thread.start()
    assert b_started.wait(30)
    for _ in range(10_000):  # until B is blocked on the chain's lock
        if _waiting_on_a_lock(b_pid[0]):
            break
    assert _waiting_on_a_lock(b_pid[0])
    a_may_commit.set()
    for thread in threads:
        thread.join(30)
    assert not errors
    events = linked(case)
    assert [e.reason for e in events if e.kind == EventKind.NOTE] == ["A1", "A2", "B1"]
    assert chains.verify_chain(CaseEvent).ok


@pytest.mark.django_db(transaction=True)
def test_a_writer_of_the_chain_and_a_holder_of_the_case_do_not_deadlock():
    """A has written an event (a reminder recorded) and commits, which checks the event's foreign key to the
    case; B locked the case FOR UPDATE (a sent SMS recorded through the kernel) and then writes an event.
    Were the chain locked before the case, A would wait for B's case and B for A's chain: a deadlock, one
    of them refused. The trigger locks the case first, so B waits for A and both are written."""
    case = open_case()
    a_wrote, a_may_commit = threading.Event(), threading.Event()
    b_pid, errors = [], []

    def writer_a():
        try:
            with transaction.atomic():
                kernel.event_write(case=case, kind=EventKind.NOTE, reason="reminder written")
                a_wrote.set()
                assert a_may_commit.wait(30)
        except Exception as error:  # noqa: BLE001 - reported by the main thread
            errors.append(error)
        finally:
            connections.close_all()

    def writer_b():
        try:
            assert a_wrote.wait(30)
            with transaction.atomic():
                with connection.cursor() as cursor:
                    cursor.execute("SELECT pg_backend_pid()")
                    b_pid.append(cursor.fetchone()[0])
                locked = Case.objects.select_for_update().get(pk=case.pk)
                kernel.event_write(case=locked, kind=EventKind.NOTE, reason="sms sent")
        except Exception as error:  # noqa: BLE001
            errors.append(error)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=writer_a), threading.Thread(target=writer_b)]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:  # until B waits (for the case; without the parent lock, the chain)
        if b_pid and _waiting_on_a_lock(b_pid[0]):
            break
        time.sleep(0.05)
    assert b_pid and _waiting_on_a_lock(b_pid[0])
    a_may_commit.set()
    for thread in threads:
        thread.join(30)
    assert not errors
    assert [e.reason for e in linked(case) if e.kind == EventKind.NOTE] == ["reminder written", "sms sent"]
