"""The privacy lists cost the same number of queries however many rows they show (no N+1), and render in
Chinese."""

from datetime import date

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from privacy import services
from privacy.subject_access import subject_access_export
from tests.privacy.conftest import cardholder, open_case_on

pytestmark = pytest.mark.django_db


def _queries(client, url) -> int:
    with CaptureQueriesContext(connection) as captured:
        assert client.get(url).status_code == 200
    return len(captured)


def _add_rows(team, agent, supervisor, legal):
    holder = cardholder()
    open_case_on(date(2026, 1, 5), holder=holder, team=team)
    services.correction_request(
        actor=agent, cardholder=holder, field="address", requested_value="上海市1号", reason="moved"
    )
    services.legal_hold_place(actor=legal, cardholder=holder, reason="Court order")
    subject_access_export(actor=supervisor, cardholder=holder, reason="PIPL Art. 45")


@pytest.mark.parametrize(
    "name", ["privacy:corrections", "privacy:holds", "privacy:subject_access", "privacy:home"]
)
def test_a_list_costs_the_same_with_one_row_or_four(client, team_a, agent, supervisor, legal, name):
    _add_rows(team_a, agent, supervisor, legal)
    client.force_login(supervisor)
    one = _queries(client, reverse(name))
    for _ in range(3):
        _add_rows(team_a, agent, supervisor, legal)
    assert _queries(client, reverse(name)) == one


@pytest.mark.parametrize(
    "name", ["privacy:corrections", "privacy:holds", "privacy:subject_access", "privacy:home"]
)
def test_the_pages_render_in_chinese(client, team_a, agent, supervisor, legal, name):
    _add_rows(team_a, agent, supervisor, legal)
    supervisor.language = "zh-hans"
    supervisor.save(update_fields=["language"])
    client.force_login(supervisor)
    response = client.get(reverse(name))
    assert response.status_code == 200
    assert 'lang="zh-hans"' in response.content.decode() or "zh" in response.headers.get(
        "Content-Language", ""
    )
