"""Who sees what, exactly as the README says: an agent reaches the cases of their team's queues and those
assigned to them - not a teammate's case outside the team's queues; the supervisor reaches every case of
the team's queues and those assigned to the team's agents. The same answer on the case page, in search
and through the API (list and detail)."""

import pytest
from django.urls import reverse
from rest_framework.test import APIClient

from collections_app.models import Case
from tests.factories import UserFactory, open_case

pytestmark = pytest.mark.django_db


@pytest.fixture
def teammates_case(team_a, team_b):
    """A case of team B's queue, assigned to an agent of team A (a supervisor's reassignment)."""
    mate = UserFactory(username="mate_a", role="agent", team=team_a)
    case = open_case(team=team_b)
    Case.objects.filter(pk=case.pk).update(assigned_agent=mate)
    return case, mate


def reaches(user, case) -> dict[str, bool]:
    pages = APIClient()
    pages.force_login(user)
    api = APIClient()
    api.force_authenticate(user)
    listed = api.get("/api/v1/cases/", {"page_size": 100}).json()
    return {
        "page": pages.get(reverse("case_detail", args=[case.pk])).status_code == 200,
        "search": reverse("case_detail", args=[case.pk])
        in pages.get(reverse("search"), {"q": case.reference}).content.decode(),
        "api detail": api.get(f"/api/v1/cases/{case.pk}/").status_code == 200,
        "api list": any(row["id"] == case.pk for row in listed["results"]),
    }


def test_an_agent_does_not_reach_a_teammates_case_outside_the_teams_queues(teammates_case, agent):
    case, _mate = teammates_case
    assert reaches(agent, case) == dict.fromkeys(("page", "search", "api detail", "api list"), False)


def test_the_assigned_agent_their_supervisor_and_the_queues_team_reach_it(
    teammates_case, supervisor, other_agent
):
    case, mate = teammates_case
    everywhere = dict.fromkeys(("page", "search", "api detail", "api list"), True)
    assert reaches(mate, case) == everywhere
    assert reaches(supervisor, case) == everywhere  # assigned to an agent of the supervisor's team
    assert reaches(other_agent, case) == everywhere  # in team B's queue
