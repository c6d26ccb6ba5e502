"""Team management services (dashboards.team): reassignment one by one and in bulk, agents' queues
and availability, stale leases. Every case change is on the case timeline."""

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from collections_app import selectors as work_selectors
from collections_app.models import Case, CaseEvent, EventKind
from core.exceptions import NotAllowed, ValidationFailed
from dashboards import team
from dashboards.models import AgentSettingChange, AgentStatus
from tests.factories import QueueFactory, UserFactory, open_case

pytestmark = pytest.mark.django_db


def test_a_reassigned_case_shows_on_the_new_agents_list_and_timeline(team_a, agent, agent2, supervisor):
    case = open_case(team=team_a)
    team.case_reassign(case_id=case.pk, actor=supervisor, agent_id=agent2.pk, reason="Spread the M2 work")
    case.refresh_from_db()
    assert case.assigned_agent == agent2
    assert case in work_selectors.my_work(agent2).assigned
    event = CaseEvent.objects.get(case=case, kind=EventKind.ASSIGNMENT)
    assert (event.actor, event.reason, event.details["to_agent"]) == (
        supervisor,
        "Spread the M2 work",
        agent2.pk,
    )


def test_reassigning_to_the_same_agent_writes_nothing(team_a, agent, supervisor):
    case = open_case(team=team_a)
    team.case_reassign(case_id=case.pk, actor=supervisor, agent_id=agent.pk)
    team.case_reassign(case_id=case.pk, actor=supervisor, agent_id=agent.pk)
    assert CaseEvent.objects.filter(case=case, kind=EventKind.ASSIGNMENT).count() == 1


def test_an_agent_may_not_reassign(team_a, agent, agent2):
    case = open_case(team=team_a)
    with pytest.raises(NotAllowed):
        team.case_reassign(case_id=case.pk, actor=agent, agent_id=agent2.pk)


def test_a_supervisor_cannot_reach_another_teams_case_or_agent(
    team_a, team_b, agent, other_agent, supervisor
):
    theirs = open_case(team=team_b)
    with pytest.raises(NotAllowed):
        team.case_reassign(case_id=theirs.pk, actor=supervisor, agent_id=agent.pk)
    ours = open_case(team=team_a)
    with pytest.raises(NotAllowed):
        team.case_reassign(case_id=ours.pk, actor=supervisor, agent_id=other_agent.pk)
    assert not CaseEvent.objects.filter(kind=EventKind.ASSIGNMENT).exists()


def test_bulk_reassign_by_filter_spreads_the_cases_in_turn(team_a, team_b, agent, agent2, supervisor):
    m2 = [open_case(team=team_a) for _ in range(4)]
    m3 = open_case(team=team_a, days_past_due=75, bucket="M3")
    theirs = open_case(team=team_b)
    for i, case in enumerate(m2):
        Case.objects.filter(pk=case.pk).update(priority=100 - i)
    result = team.cases_reassign_bulk(
        actor=supervisor,
        criteria=team.ReassignCriteria(bucket="M2"),
        agent_ids=[agent.pk, agent2.pk],
        reason="Morning rebalance",
    )
    assert (result.matched, result.reassigned) == (4, 4)
    assert result.by_agent == {agent.pk: 2, agent2.pk: 2}
    owners = dict(Case.objects.filter(pk__in=[c.pk for c in m2]).values_list("pk", "assigned_agent_id"))
    assert [owners[c.pk] for c in m2] == [agent.pk, agent2.pk, agent.pk, agent2.pk]  # by priority
    assert Case.objects.get(pk=m3.pk).assigned_agent is None
    assert Case.objects.get(pk=theirs.pk).assigned_agent is None  # another team's case matched nothing
    assert CaseEvent.objects.filter(kind=EventKind.ASSIGNMENT, reason="Morning rebalance").count() == 4


def test_bulk_reassign_is_set_based(team_a, agent, supervisor):
    """The same number of queries for 3 cases as for 30."""

    def run(n):
        for _ in range(n):
            open_case(team=team_a)
        with CaptureQueriesContext(connection) as queries:
            team.cases_reassign_bulk(
                actor=supervisor,
                criteria=team.ReassignCriteria(unassigned=True),
                agent_ids=[agent.pk],
                reason="x",
            )
        return len(queries)

    assert run(3) == run(30)


def test_bulk_reassign_needs_a_filter_a_reason_and_respects_the_limit(team_a, agent, supervisor):
    for _ in range(5):
        open_case(team=team_a)
    with pytest.raises(ValidationFailed):
        team.cases_reassign_bulk(
            actor=supervisor, criteria=team.ReassignCriteria(), agent_ids=[agent.pk], reason="x"
        )
    with pytest.raises(ValidationFailed):
        team.cases_reassign_bulk(
            actor=supervisor,
            criteria=team.ReassignCriteria(unassigned=True),
            agent_ids=[agent.pk],
            reason=" ",
        )
    result = team.cases_reassign_bulk(
        actor=supervisor,
        criteria=team.ReassignCriteria(unassigned=True),
        agent_ids=[agent.pk],
        reason="x",
        limit=2,
    )
    assert (result.matched, result.reassigned) == (3, 2)  # matched counts one beyond the limit


def test_set_queues_touches_only_the_supervisors_queues(team_a, team_b, agent, supervisor):
    ours = [QueueFactory(name="A early", team=team_a), QueueFactory(name="A late", team=team_a)]
    theirs = QueueFactory(name="B early", team=team_b)
    agent.work_queues.add(theirs)
    assert team.agent_set_queues(actor=supervisor, agent_id=agent.pk, queue_ids=[ours[1].pk]) == sorted(
        [ours[1].pk, theirs.pk]
    )
    with pytest.raises(NotAllowed):
        team.agent_set_queues(actor=supervisor, agent_id=agent.pk, queue_ids=[theirs.pk])
    change = AgentSettingChange.objects.get(agent=agent, field="queues")
    assert change.actor == supervisor and change.new_value == sorted([ours[1].pk, theirs.pk])


def test_availability_is_recorded_with_who_set_it(team_a, agent, other_agent, supervisor):
    team.agent_set_availability(actor=supervisor, agent_id=agent.pk, availability="break", note="Lunch")
    status = AgentStatus.objects.get(agent=agent)
    assert (status.availability, status.changed_by, status.note) == ("break", supervisor, "Lunch")
    with pytest.raises(NotAllowed):
        team.agent_set_availability(actor=supervisor, agent_id=other_agent.pk, availability="off")
    with pytest.raises(ValidationFailed):
        team.agent_set_availability(actor=supervisor, agent_id=agent.pk, availability="asleep")


def test_stale_leases_are_released_and_live_ones_kept(team_a, team_b, agent, agent2, other_agent, supervisor):
    now = timezone.now()
    stale = open_case(team=team_a)
    live = open_case(team=team_a)
    theirs = open_case(team=team_b)
    Case.objects.filter(pk=stale.pk).update(lease_owner=agent, lease_expires_at=now - timedelta(minutes=5))
    Case.objects.filter(pk=live.pk).update(lease_owner=agent2, lease_expires_at=now + timedelta(minutes=10))
    Case.objects.filter(pk=theirs.pk).update(
        lease_owner=other_agent, lease_expires_at=now - timedelta(hours=1)
    )
    assert team.leases_release_stale(actor=supervisor, now=now) == 1
    assert Case.objects.get(pk=stale.pk).lease_owner is None
    assert Case.objects.get(pk=live.pk).lease_owner == agent2
    assert Case.objects.get(pk=theirs.pk).lease_owner == other_agent
    event = CaseEvent.objects.get(case=stale, kind=EventKind.ASSIGNMENT)
    assert event.details["lease_owner"] == agent.pk

    assert team.lease_release(case_id=live.pk, actor=supervisor, reason="Went home") is True
    assert Case.objects.get(pk=live.pk).lease_owner is None
    assert team.lease_release(case_id=live.pk, actor=supervisor) is False


def test_admin_manages_every_team(team_a, team_b, other_agent, admin_user):
    case = open_case(team=team_a)
    team.case_reassign(case_id=case.pk, actor=admin_user, agent_id=other_agent.pk)
    assert Case.objects.get(pk=case.pk).assigned_agent == other_agent
    legal = UserFactory(username="legal2", role="legal")
    with pytest.raises(NotAllowed):
        team.case_reassign(case_id=case.pk, actor=admin_user, agent_id=legal.pk)
