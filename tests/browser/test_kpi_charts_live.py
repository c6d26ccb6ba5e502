"""In a real browser: the KPI page draws the promise funnel (Chart.js, from the JSON beside it) and shows
the bucket-migration heatmap shaded by CSS classes; the team page's live part reloads itself every 30 s
(an HTMX poll) and shows new work, while a note typed in an agent's settings form stays."""

from datetime import timedelta

import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import login
from tests.browser.test_csp import morning, problems  # noqa: F401 - fixtures
from tests.dashboards.conftest import at, call, promise
from tests.factories import TEST_PASSWORD, open_case


@pytest.mark.django_db(transaction=True)
def test_the_funnel_draws_and_the_team_view_refreshes_itself(
    page: Page,
    live_server,
    supervisor,
    agent,
    team_a,
    morning,  # noqa: F811
    problems,  # noqa: F811
):
    today = morning.date()
    case = open_case(team=team_a)
    call(case, agent, at(today - timedelta(days=2)), "ptp", seconds=60)
    promise(case, agent, "100.00", today + timedelta(days=3), at(today - timedelta(days=2), 10, 5))
    site = live_server.url
    page.clock.install()
    login(page, live_server, supervisor.username, TEST_PASSWORD)

    page.goto(f"{site}/dashboards/kpis/?period=30d")
    funnel = page.locator('canvas[data-chart="funnel"]')
    expect(funnel).to_be_visible()
    assert funnel.evaluate("canvas => Chart.getChart(canvas).data.datasets[0].data") == [1, 1, 0, 0, 0, 0]
    expect(page.get_by_test_id("roll-matrix")).to_be_visible()

    page.goto(f"{site}/dashboards/team/")
    row = page.locator(f'[data-testid="team-live-agents"] tr[data-agent="{agent.pk}"]')
    expect(row.locator("td").nth(3)).to_have_text("0")  # attempts today
    note = page.get_by_test_id(f"agent-form-{agent.pk}").locator("input[name$='note']")
    note.fill("Back at 14:00")

    call(case, agent, at(today, 10, 1), "rpc", seconds=30)  # new work while the page is open
    page.clock.fast_forward(31_000)
    expect(row.locator("td").nth(3)).to_have_text("1")
    expect(note).to_have_value("Back at 14:00")  # the refresh left the form alone
    assert problems == []
