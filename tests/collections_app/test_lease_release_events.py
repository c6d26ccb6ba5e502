"""Every end of a lease is on the case's timeline, as the claim that started it is: the agent releasing
the case, Next case releasing the case they leave, and a lease that ran out when a colleague takes the
case."""

from datetime import timedelta

import pytest
from django.conf import settings
from django.urls import reverse
from django.utils import timezone

from collections_app import services
from collections_app.models import Case, EventKind
from collections_app.services import claims, queues
from tests.factories import UserFactory, open_case

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("office_hours")]


def assignments(case: Case) -> list[tuple[str, int | None]]:
    """The case's ASSIGNMENT events, oldest first, as (reason, actor id)."""
    return list(
        case.events.filter(kind=EventKind.ASSIGNMENT).order_by("pk").values_list("reason", "actor_id")
    )


def test_the_agent_releasing_the_case_writes_an_event_and_bumps_the_version(team_a, agent):
    case = open_case(team=team_a)
    services.case_claim_next(actor=agent)
    version = Case.objects.get(pk=case.pk).version

    assert services.case_release(case_id=case.pk, actor=agent)

    case.refresh_from_db()
    assert (case.lease_owner, case.lease_expires_at, case.version) == (None, None, version + 1)
    assert assignments(case) == [("Claimed with Next case", agent.pk), (claims.RELEASED_BY_AGENT, agent.pk)]
    released = case.events.filter(kind=EventKind.ASSIGNMENT).latest("pk")
    assert released.details["released"] is True and released.details["lease_owner"] == agent.pk


def test_releasing_a_case_one_does_not_hold_changes_nothing_and_writes_nothing(team_a, agent):
    colleague = UserFactory(username="colleague", role="agent", team=team_a)
    case = open_case(team=team_a)
    services.case_claim_next(actor=colleague)

    assert not services.case_release(case_id=case.pk, actor=agent)

    case.refresh_from_db()
    assert case.lease_owner == colleague
    assert assignments(case) == [("Claimed with Next case", colleague.pk)]


def test_next_case_writes_the_release_of_the_case_the_agent_leaves(team_a, agent):
    first = open_case(team=team_a, days_past_due=90)
    second = open_case(team=team_a, days_past_due=10)
    queues.refresh_priorities()
    assert services.case_claim_next(actor=agent).case == first
    assert services.case_claim_next(actor=agent).case == second

    assert assignments(first) == [("Claimed with Next case", agent.pk), (claims.NEXT_CASE, agent.pk)]
    assert assignments(second) == [("Claimed with Next case", agent.pk)]


def test_a_lease_that_ran_out_is_on_the_timeline_when_a_colleague_takes_the_case(team_a, agent):
    colleague = UserFactory(username="colleague", role="agent", team=team_a)
    case = open_case(team=team_a)
    services.case_claim_next(actor=colleague)
    later = timezone.now() + timedelta(minutes=16)

    assert services.case_claim_next(actor=agent, now=later).case == case

    assert assignments(case) == [
        ("Claimed with Next case", colleague.pk),
        (claims.LEASE_EXPIRED, None),  # nobody ended it: the time did
        ("Claimed with Next case", agent.pk),
    ]
    expired = case.events.get(reason=claims.LEASE_EXPIRED)
    assert expired.details["lease_owner"] == colleague.pk


def test_the_agents_own_lease_that_ran_out_says_so_when_they_press_next(team_a, agent):
    case = open_case(team=team_a)
    services.case_claim_next(actor=agent)
    later = timezone.now() + timedelta(minutes=16)

    services.case_claim_next(actor=agent, now=later)

    assert assignments(case)[1] == (claims.LEASE_EXPIRED, agent.pk)


def test_the_release_shows_on_the_case_page_timeline(team_a, agent, client):
    case = open_case(team=team_a)
    services.case_claim_next(actor=agent)
    services.case_release(case_id=case.pk, actor=agent)
    client.force_login(agent)

    page = client.get(reverse("case_detail", args=[case.pk])).content.decode()

    assert "Released by the agent" in page


@pytest.mark.parametrize("microsecond", [0, 123456])
def test_the_release_says_until_when_the_lease_ran_as_the_claim_wrote_it(team_a, agent, microsecond):
    """The end of a lease is written by the database (kernel.lease_swap), the claim's lease_until by
    Python: both read the same ISO 8601 text, with or without a fraction of a second."""
    first = open_case(team=team_a, days_past_due=90)
    open_case(team=team_a, days_past_due=10)
    queues.refresh_priorities()
    now = (timezone.now() + timedelta(seconds=1)).replace(microsecond=microsecond)  # not before the cases
    services.case_claim_next(actor=agent, now=now)

    services.case_claim_next(actor=agent, now=now + timedelta(minutes=1))

    claimed, released = first.events.filter(kind=EventKind.ASSIGNMENT).order_by("pk")
    assert released.reason == claims.NEXT_CASE
    assert released.details["lease_until"] == claimed.details["lease_until"]
    lease = timedelta(minutes=settings.COLLECTIONS_LEASE_MINUTES)
    assert claimed.details["lease_until"] == (now + lease).isoformat()
    assert released.created_at == now + timedelta(minutes=1)
