"""Next case for an agent who works several queues: one locking statement over case_claimable_idx, read
in the index's order across all their queues, no joins, a fixed number of queries per press, and never
the same case to two agents at once."""

import json
import threading
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from collections_app import services
from collections_app.models import Case, CaseEvent, CreditAccount, EventKind
from collections_app.services import claims
from tests.factories import QueueFactory, UserFactory, open_case

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("office_hours")]

CLAIMED = "Claimed with Next case"


def team_queues(team, count: int) -> list:
    return [QueueFactory(name=f"{team.name} queue {n}", team=team) for n in range(count)]


def case_in(queue, *, priority: int, next_action_at=None) -> Case:
    case = open_case()
    Case.objects.filter(pk=case.pk).update(queue=queue, priority=priority, next_action_at=next_action_at)
    return case


def many_cases_like(template: Case, count: int, queue_ids: list[int], *, callable_share: int = 4) -> None:
    """`count` more open cases, each on its own copy of the template's account (as the importer would
    make them), spread over `queue_ids`, priorities 0-999; one in `callable_share` not callable until
    tomorrow (called today, say). SQL, as the benchmark's data is built: thousands of cases in a second."""
    account_columns = [
        f.column
        for f in CreditAccount._meta.concrete_fields
        if not f.primary_key and not getattr(f, "generated", False)
    ]
    copied = ", ".join(
        "external_ref || '-' || g" if column == "external_ref" else column for column in account_columns
    )
    case_columns = [f.column for f in Case._meta.concrete_fields if not f.primary_key]
    replaced = {
        "reference": "t.reference || '-' || a.n",
        "account_id": "a.id",
        "queue_id": "(%(queues)s::int[])[1 + a.n %% cardinality(%(queues)s::int[])]",
        "priority": "(a.n * 7919) %% 1000",
        "contactable_from": "CASE WHEN a.n %% %(share)s = 0 THEN %(tomorrow)s ELSE t.contactable_from END",
    }
    values = ", ".join(replaced.get(column, f"t.{column}") for column in case_columns)
    account_table, case_table = CreditAccount._meta.db_table, Case._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"""WITH accounts AS (
                    INSERT INTO {account_table} ({", ".join(account_columns)})
                    SELECT {copied} FROM {account_table}, generate_series(1, %(count)s) g
                    WHERE id = %(account)s RETURNING id
                ), a AS (SELECT id, row_number() OVER (ORDER BY id) AS n FROM accounts)
                INSERT INTO {case_table} ({", ".join(case_columns)})
                SELECT {values} FROM {case_table} t, a WHERE t.id = %(case)s""",  # noqa: S608
            {
                "count": count,
                "account": template.account_id,
                "case": template.pk,
                "queues": queue_ids,
                "share": callable_share,
                "tomorrow": timezone.now() + timedelta(days=1),
            },
        )
        cursor.execute(f"ANALYZE {account_table}, {case_table}")  # noqa: S608


def plan_nodes(plan: dict) -> list[dict]:
    return [plan, *(node for child in plan.get("Plans", []) for node in plan_nodes(child))]


def test_next_case_takes_the_highest_priority_across_all_the_agents_queues(team_a, team_b, agent):
    queues = team_queues(team_a, 3)
    colleagues = [UserFactory(username=f"colleague{n}", role="agent", team=team_a) for n in range(3)]
    for person in [agent, *colleagues]:
        person.work_queues.set(queues)
    now = timezone.now()
    low = case_in(queues[0], priority=10)
    top = case_in(queues[2], priority=90)
    # At the same priority a due callback comes first, then the case never scheduled (NULLS LAST).
    unscheduled = case_in(queues[1], priority=50)
    callback = case_in(queues[0], priority=50, next_action_at=now - timedelta(minutes=5))
    case_in(QueueFactory(name="Team B queue", team=team_b), priority=99)  # not one of their queues

    handed_out = [services.case_claim_next(actor=person).case for person in [agent, *colleagues]]

    assert handed_out == [top, callback, unscheduled, low]
    assert (
        services.case_claim_next(actor=UserFactory(username="late", role="agent", team=team_a)).case is None
    )


@pytest.mark.postgres
def test_the_claim_reads_the_claimable_index_in_order_and_stops_early(team_a, agent):
    """At 20,000 claimable cases over three queues (the agent works two), a quarter not callable now:
    the locking statement is an index scan of case_claimable_idx with no Sort, "callable now" checked on
    the index entry, and it reads a handful of rows - not every ready case of the queues."""
    queues = team_queues(team_a, 3)
    template = case_in(queues[0], priority=0)
    many_cases_like(template, 20_000, [q.pk for q in queues])
    mine = [queues[0].pk, queues[2].pk]
    statement = claims.claim_candidates(timezone.now(), queue_ids=mine)[:1]

    plan = statement.explain(format="json", analyze=True)
    nodes = plan_nodes(json.loads(plan)[0]["Plan"])
    kinds = [node["Node Type"] for node in nodes]
    assert kinds == ["Limit", "LockRows", "Index Scan"], kinds
    scan = nodes[-1]
    assert scan["Index Name"] == "case_claimable_idx"
    assert scan["Scan Direction"] == "Forward"
    assert "contactable_from" in scan["Index Cond"]
    assert "Sort" not in kinds and "Hash Join" not in kinds and "Nested Loop" not in kinds
    # It stopped at the first ready case of the agent's queues: a few rows, not 10,000.
    assert scan["Actual Rows"] + scan.get("Rows Removed by Filter", 0) < 20


@pytest.mark.postgres
def test_a_press_of_next_costs_the_same_few_queries_however_many_queues_and_cases(
    team_a, agent, django_assert_num_queries
):
    queues = team_queues(team_a, 3)
    agent.work_queues.set(queues)
    template = case_in(queues[0], priority=0)
    many_cases_like(template, 2_000, [q.pk for q in queues])
    services.case_claim_next(actor=agent)  # the agent holds a case: the next press releases it

    # The agent's queues; then one statement: the lease ended, the next case locked and leased, and
    # both events (kernel.lease_swap) - no savepoint either.
    with django_assert_num_queries(2):
        result = services.case_claim_next(actor=agent)

    assert result.case is not None and result.case.lease_owner == agent


@pytest.mark.postgres
@pytest.mark.parametrize("rows_believed", [0, 1, 2])
def test_a_press_leases_one_case_whatever_plan_the_statistics_lead_to(team_a, agent, rows_believed):
    """When the planner believes the case table nearly empty (a fresh install, a restore before ANALYZE,
    a test database deep into a run), it may scan the cases and re-run the locking selection for each
    row; a re-run skips the case the statement has just leased and finds the next one. Next case locks
    its one case once, whatever the plan: one press, one case leased, one claim event."""
    queues = team_queues(team_a, 1)
    agent.work_queues.set(queues)
    # Stored in creation order, best first: each later row is the next best when the scan reaches it.
    cases = [case_in(queues[0], priority=50 - n) for n in range(6)]
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE pg_class SET reltuples = %s, relpages = 1 WHERE oid = %s::regclass",
            [rows_believed, Case._meta.db_table],
        )

    handed = services.case_claim_next(actor=agent).case

    assert handed == cases[0]
    assert list(Case.objects.filter(lease_owner=agent)) == [cases[0]]
    assert CaseEvent.objects.filter(kind=EventKind.ASSIGNMENT, reason=CLAIMED).count() == 1


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("agents", [16, 32])
def test_agents_on_three_queues_each_pressing_next_at_once_never_share_a_case(team_a, team_b, agents):
    """Two teams of three queues; every agent works their team's three; each presses Next five times, all
    at once. No case is ever held by two agents: from the events, every claim of a case follows the
    release of the claim before it, and at the end each agent holds a different case."""
    queues = {team: team_queues(team, 3) for team in (team_a, team_b)}
    template = case_in(queues[team_a][0], priority=0)
    many_cases_like(template, 400, [q.pk for team in queues for q in queues[team]])
    people = []
    for n in range(agents):
        team = (team_a, team_b)[n % 2]
        person = UserFactory(username=f"rush{n}", role="agent", team=team)
        person.work_queues.set(queues[team])
        people.append(person)
    barrier = threading.Barrier(agents)
    handed_out: list[list[int]] = []
    errors: list[BaseException] = []
    lock = threading.Lock()

    def press(person):
        mine = []
        try:
            barrier.wait()
            for _ in range(5):
                result = services.case_claim_next(actor=person)
                mine.append(result.case.pk if result.case else None)
        except BaseException as error:  # noqa: BLE001 - reported below, in the test's thread
            errors.append(error)
        finally:
            connection.close()
            with lock:
                handed_out.append(mine)

    threads = [threading.Thread(target=press, args=(p,)) for p in people]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    assert not errors
    assert all(len(mine) == 5 and None not in mine for mine in handed_out)
    held = Case.objects.filter(lease_owner__isnull=False).values_list("lease_owner_id", "pk")
    assert len(held) == agents and len({pk for _owner, pk in held}) == agents
    events = CaseEvent.objects.filter(kind=EventKind.ASSIGNMENT).order_by("case_id", "pk")
    last: dict[int, str] = {}
    claims_seen = 0
    for case_id, reason in events.values_list("case_id", "reason"):
        if reason == CLAIMED:
            assert last.get(case_id) != CLAIMED, f"case {case_id} claimed twice without a release"
            claims_seen += 1
        last[case_id] = reason
    assert claims_seen == 5 * agents
