"""The nightly steps that touch every open case are set-based: closing cured cases is one kernel call
whatever their number, and writes what closing one case by hand writes; queue placement and priorities
are a fixed number of statements however many cases there are."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from automation import pipeline as nightly
from collections_app import services
from collections_app.models import Case, CaseState, CreditAccount, EventKind, Queue, ResolutionReason
from collections_app.services import queues
from tests.automation.conftest import AS_OF, overdue
from tests.factories import QueueFactory, open_case

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("night", "defaults")]


def context() -> nightly.StepContext:
    return nightly.StepContext(run=None, as_of=AS_OF, now=timezone.now())


def cured(team, count: int, *, paid_in_full: int = 0) -> list[Case]:
    """`count` open cases whose overdue amount is now paid; the first `paid_in_full` owe nothing at all."""
    cases = [open_case(team=team, **overdue(20)) for _ in range(count)]
    CreditAccount.objects.filter(pk__in=[c.account_id for c in cases]).update(
        overdue_amount=Decimal("0.00"), minimum_due=Decimal("0.00"), first_missed_due_date=None
    )
    zero = Decimal("0.00")
    CreditAccount.objects.filter(pk__in=[c.account_id for c in cases[:paid_in_full]]).update(
        principal=zero, interest=zero, fees=zero, penalties=zero
    )
    return cases


# --- Cure / close -------------------------------------------------------------------------------------


def test_closing_cured_cases_takes_the_same_statements_for_3_cases_as_for_30(team_a):
    cured(team_a, 3, paid_in_full=1)
    with CaptureQueriesContext(connection) as few:
        assert nightly.open_and_resolve_cases(context())["resolved"] == 3
    cured(team_a, 30, paid_in_full=10)
    with CaptureQueriesContext(connection) as many:
        assert nightly.open_and_resolve_cases(context())["resolved"] == 30
    assert len(many.captured_queries) == len(few.captured_queries)
    if connection.vendor == "postgresql":
        # One statement moves the cases and writes their events (the kernel's bulk transition).
        moving = [q["sql"] for q in many.captured_queries if "UPDATE" in q["sql"] and "INSERT" in q["sql"]]
        assert len(moving) == 1


def test_each_cured_case_gets_its_own_resolution_reason_in_the_same_statement(team_a):
    owes_nothing, still_owes = cured(team_a, 2, paid_in_full=1)
    nightly.open_and_resolve_cases(context())
    for case, reason in (
        (owes_nothing, ResolutionReason.PAID_IN_FULL),
        (still_owes, ResolutionReason.CURED),
    ):
        case.refresh_from_db()
        event = case.events.get(kind=EventKind.RESOLVED)
        assert (case.state, case.resolution_reason) == (CaseState.RESOLVED, reason)
        assert event.details == {"resolution_reason": reason}


def test_the_nightly_close_writes_what_closing_one_case_by_hand_writes(team_a, agent):
    by_hand, nightly_closed = cured(team_a, 2)
    # Both worked by an agent who holds the lease: closing leaves assignment and lease as they are.
    for case in (by_hand, nightly_closed):
        Case.objects.filter(pk=case.pk).update(
            assigned_agent=agent, lease_owner=agent, lease_expires_at=timezone.now() + timedelta(minutes=5)
        )
    versions = {c.pk: Case.objects.get(pk=c.pk).version for c in (by_hand, nightly_closed)}

    services.case_close(
        case_id=by_hand.pk,
        actor=None,
        write_off=False,
        resolution_reason=ResolutionReason.CURED,
        reason=nightly.CURED_REASON,
    )
    assert nightly.open_and_resolve_cases(context())["resolved"] == 1

    fields = (
        "state",
        "resolution_reason",
        "closed_at",
        "assigned_agent_id",
        "lease_owner_id",
        "lease_expires_at",
        "queue_id",
        "priority",
    )
    one, bulk = (Case.objects.values(*fields).get(pk=c.pk) for c in (by_hand, nightly_closed))
    assert one == bulk
    assert one["closed_at"] == timezone.now()
    for case in (by_hand, nightly_closed):
        assert Case.objects.get(pk=case.pk).version == versions[case.pk] + 1
    event_fields = ("kind", "from_state", "to_state", "actor_id", "reason", "details", "created_at")
    one_event, bulk_event = (
        c.events.exclude(kind=EventKind.OPENED).values(*event_fields).get() for c in (by_hand, nightly_closed)
    )
    assert one_event == bulk_event
    assert bulk_event["kind"] == EventKind.RESOLVED


# --- Queues and priorities ------------------------------------------------------------------------------


def test_placement_and_priorities_take_the_same_statements_for_3_cases_as_for_30(team_a, team_b):
    QueueFactory(name="early", order=1, team=team_a, buckets=["M1"])
    QueueFactory(name="late", order=2, team=team_b, min_dpd=61)
    for n in range(3):
        open_case(days_past_due=10 + 40 * n)
    with CaptureQueriesContext(connection) as few:
        nightly.place_in_queues(context())
    for n in range(30):
        open_case(days_past_due=5 + 5 * n)
    with CaptureQueriesContext(connection) as many:
        counts = nightly.place_in_queues(context())
    assert counts["moved"] > 0 and counts["priorities_changed"] > 0
    assert len(many.captured_queries) == len(few.captured_queries)
    updates = [
        q["sql"] for q in many.captured_queries if q["sql"].lstrip().upper().startswith(("UPDATE", "WITH"))
    ]
    assert len(updates) == 2  # one for placement, one for priorities


def test_one_update_places_cases_in_the_first_matching_queue_and_stops_at_a_catch_all(team_a):
    m1 = QueueFactory(name="M1 callers", order=1, team=team_a, buckets=["M1"])
    rest = QueueFactory(name="everyone else", order=2, team=team_a)
    never = QueueFactory(name="after the catch-all", order=3, team=team_a, min_dpd=0)
    early = open_case(days_past_due=10, bucket="M1")
    later = open_case(days_past_due=100, bucket="M4")

    moved = queues.place_cases_in_queues()

    assert moved == {"M1 callers": 1, "everyone else": 1}
    assert Case.objects.get(pk=early.pk).queue == m1
    assert Case.objects.get(pk=later.pk).queue == rest
    assert not Case.objects.filter(queue=never).exists()
    assert queues.place_cases_in_queues() == {"M1 callers": 0, "everyone else": 0}


def test_cases_that_meet_no_queue_leave_theirs_and_are_counted_under_no_queue(team_a):
    m1 = QueueFactory(name="M1 callers", order=1, team=team_a, buckets=["M1"])
    case = open_case(days_past_due=10, bucket="M1")
    assert queues.place_cases_in_queues() == {"M1 callers": 1, "": 0}
    CreditAccount.objects.filter(pk=case.account_id).update(bucket="M2")

    assert queues.place_cases_in_queues() == {"M1 callers": 0, "": 1}
    assert Case.objects.get(pk=case.pk).queue is None
    assert m1.cases.count() == 0


def test_no_active_queue_takes_every_case_out_of_its_queue(team_a):
    case = open_case(team=team_a)
    Queue.objects.update(active=False)
    assert queues.place_cases_in_queues() == {"": 1}
    assert Case.objects.get(pk=case.pk).queue is None


def test_priorities_are_one_update_of_the_changed_rows_and_match_the_python_score(team_a):
    now = timezone.now()
    cases = [open_case(team=team_a, days_past_due=10 * n + 5) for n in range(5)]
    Case.objects.filter(pk=cases[0].pk).update(
        broken_promise_count=1, next_action_at=now - timedelta(hours=1)
    )
    assert queues.refresh_priorities(now=now) == 5
    for case in Case.objects.select_related("account").filter(pk__in=[c.pk for c in cases]):
        assert case.priority == queues.priority_score(case, now=now)
    with CaptureQueriesContext(connection) as again:
        assert queues.refresh_priorities(now=now) == 0
    assert len(again.captured_queries) == 1
