"""The team page's live part: an HTMX fragment of its own URL that the page polls every 30 s (agent
statuses, today's counts, the leases held), the forms around it untouched by the refresh."""

import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from collections_app import services
from tests.dashboards.conftest import call
from tests.dashboards.test_views import client_for
from tests.factories import UserFactory, open_case

pytestmark = pytest.mark.django_db


def _agent_row(html: str, agent) -> list[str]:
    row = re.search(rf'<tr data-agent="{agent.pk}">(.*?)</tr>', html, re.S).group(1)
    return [re.sub(r"<[^>]+>", " ", cell).split() for cell in re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)]


def test_the_page_polls_the_fragment_and_keeps_its_forms_outside_it(supervisor, agent):
    html = client_for(supervisor).get(reverse("dashboards:team")).content.decode()
    live = re.search(r'<section class="card team-live".*?</section>', html, re.S).group(0)
    assert f'hx-get="{reverse("dashboards:team_live")}"' in live
    assert 'hx-trigger="every 30s"' in live
    assert "<form" not in live and "<input" not in live  # read-only: a refresh loses no typing
    assert f'data-testid="agent-form-{agent.pk}"' in html  # the settings forms are still on the page


def test_the_fragment_opened_as_a_page_is_the_team_page(supervisor):
    response = client_for(supervisor).get(reverse("dashboards:team_live"))
    assert response.status_code == 302 and response.url == reverse("dashboards:team")


def test_the_fragment_reflects_new_work_and_leases(supervisor, agent, team_a, office_hours):
    client = client_for(supervisor)
    url = reverse("dashboards:team_live")
    before = client.get(url, HTTP_HX_REQUEST="true")
    assert before.status_code == 200
    html = before.content.decode()
    assert "<html" not in html and html.lstrip().startswith('<section class="card team-live"')
    attempts, rpc, promises = (cells[0] for cells in _agent_row(html, agent)[3:6])
    assert (attempts, rpc, promises) == ("0", "0", "0")
    assert "No case is leased." in html

    case = open_case(team=team_a)
    case.queue.agents.add(agent)
    claimed = services.case_claim_next(actor=agent).case
    assert claimed == case
    call(case, agent, timezone.now(), "rpc", seconds=30)

    html = client.get(url, HTTP_HX_REQUEST="true").content.decode()
    row = _agent_row(html, agent)
    assert "working" in row[1]
    assert case.reference in row[2]
    assert [cells[0] for cells in row[3:5]] == ["1", "1"]
    assert "just now" in " ".join(row[7])  # last contact, said relatively
    leases = re.search(r'data-testid="team-live-leases".*?</table>', html, re.S).group(0)
    assert case.reference in leases and "in " in leases  # the lease expires "in N min"


def test_an_agent_may_not_read_the_fragment(agent):
    assert client_for(agent).get(reverse("dashboards:team_live"), HTTP_HX_REQUEST="true").status_code == 403


def _queries(client, url) -> int:
    client.get(url, HTTP_HX_REQUEST="true")
    with CaptureQueriesContext(connection) as captured:
        assert client.get(url, HTTP_HX_REQUEST="true").status_code == 200
    return len(captured)


def test_the_fragment_costs_a_fixed_number_of_queries(supervisor, agent, team_a):
    client = client_for(supervisor)
    url = reverse("dashboards:team_live")
    for _ in range(2):
        open_case(team=team_a)
    small = _queries(client, url)
    for i in range(4):
        UserFactory(username=f"agent_extra{i}", role="agent", team=team_a)
        open_case(team=team_a)
    assert _queries(client, url) == small == 10  # agents_now: their last call today on their own query
