"""The case table's indexes are the ones queries use (each named in Case.Meta), and the tables rewritten
every night keep room on their pages so that those updates can stay HOT."""

import re
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from collections_app.models import Case, CaseEvent, EventKind
from collections_app.selectors import TIMELINE_PAGE_SIZE, case_timeline
from tests.factories import open_case

pytestmark = pytest.mark.django_db

CASE_INDEXES = {
    "collections_app_case_pkey",
    "case_reference_unique",
    "one_open_case_per_account",
    "collections_app_case_account_id_2907ca90",
    "collections_app_case_lease_owner_id_72fbb6af",
    "case_state_queue_idx",
    "case_agent_state_idx",
    "case_claimable_idx",
    "case_ready_queue_idx",
    "case_contact_until_idx",
    "case_contact_uncomputed_idx",
    # the dashboards' (dashboards migration 0002)
    "dash_case_opened_idx",
    "dash_case_closed_idx",
    "dash_case_lease_idx",
}


def indexes_of(table: str) -> dict[str, str]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT indexname, indexdef FROM pg_indexes WHERE tablename = %s", [table])
        return dict(cursor.fetchall())


def test_the_case_table_has_only_the_indexes_queries_use():
    found = indexes_of(Case._meta.db_table)
    # No copy of an index another one covers: queue_id and assigned_agent_id on their own, the LIKE
    # pattern index of the reference.
    assert set(found) == CASE_INDEXES, sorted(set(found) ^ CASE_INDEXES)


def test_columns_rewritten_nightly_stay_out_of_the_indexes_but_the_claims_and_the_roll():
    serving_others = {
        name: definition
        for name, definition in indexes_of(Case._meta.db_table).items()
        # My work's ready count (case_ready_queue_idx) reads contactable_from too: the claim's own index
        # holds it already, so a roll's update of it is not HOT either way - this index adds an entry.
        if name
        not in {
            "case_claimable_idx",
            "case_ready_queue_idx",
            "case_contact_until_idx",
            "case_contact_uncomputed_idx",
        }
    }
    for column in ("priority", "contactable_from", "contactable_until", "broken_promise_count", "version"):
        assert not [name for name, definition in serving_others.items() if column in definition], column


@pytest.mark.parametrize("table", ["collections_app_case", "collections_app_creditaccount"])
def test_tables_updated_nightly_leave_room_on_each_page(table):
    with connection.cursor() as cursor:
        cursor.execute("SELECT reloptions FROM pg_class WHERE relname = %s", [table])
        assert "fillfactor=85" in cursor.fetchone()[0]


def test_a_long_timeline_is_read_a_page_at_a_time_in_index_order():
    """The case page's timeline (25 events, newest first) comes from event_case_time_idx in its order and
    stops at the page, however long the case's history: the events table has no index on the case alone,
    which let the planner read a busy case's whole history (2,200 events) and sort it."""
    assert not [d for d in indexes_of(CaseEvent._meta.db_table).values() if d.endswith("(case_id)")]

    busy, *quiet = [open_case() for _ in range(30)]
    start = timezone.now() - timedelta(days=20)
    events = [
        CaseEvent(case=case, kind=EventKind.NOTE, reason="n", created_at=start + timedelta(minutes=i))
        for case, count in [(busy, 600), *((case, 6) for case in quiet)]
        for i in range(count)
    ]
    CaseEvent.objects.bulk_create(events, batch_size=500)
    with connection.cursor() as cursor:
        cursor.execute(f"ANALYZE {CaseEvent._meta.db_table}")
        sql, params = (
            CaseEvent.objects.filter(case=busy)
            .select_related("actor")
            .order_by("-created_at", "-id")[: TIMELINE_PAGE_SIZE + 1]
            .query.sql_with_params()
        )
        cursor.execute("EXPLAIN " + sql, params)
        plan = "\n".join(row[0] for row in cursor.fetchall())

    assert re.search(r"Index Scan using \S*(event_case_time_idx|case_id_created_at_id_idx)", plan), plan
    assert "Sort Key" not in plan.split("Merge Append")[0], plan  # the merge of months keeps index order
    assert len(case_timeline(busy)[0]) == TIMELINE_PAGE_SIZE
