"""A supervisor's morning in the browser: the KPI page in Chinese, then in English; filter to the team; open
the broken promises; give one of those cases to another agent, who then finds it on their list."""

import re
from datetime import timedelta

import pytest
import time_machine
from playwright.sync_api import expect

from tests.browser.conftest import login, screenshot
from tests.browser.test_workspace import next_beijing_morning
from tests.dashboards.conftest import at, call, case_on, nightly_promises, promise
from tests.factories import TEST_PASSWORD, UserFactory


@pytest.fixture
def morning():
    """The next 10:00 in Beijing after the real clock (the browser runs on the real clock)."""
    start = next_beijing_morning()
    with time_machine.travel(start, tick=True):
        yield start


@pytest.mark.django_db(transaction=True)
def test_supervisor_drills_into_broken_promises_and_reassigns_a_case(
    page, browser, live_server, team_a, morning
):
    supervisor = UserFactory(username="zhao", role="supervisor", team=team_a, language="zh-hans")
    wang = UserFactory(username="wang", role="agent", team=team_a, language="en")
    li = UserFactory(username="li", role="agent", team=team_a, language="en")
    today = morning.date()
    broken = case_on(today - timedelta(days=6), team=team_a)
    kept_busy = case_on(today - timedelta(days=6), team=team_a)
    for case in (broken, kept_busy):
        call(case, wang, at(today - timedelta(days=5)), "ptp", seconds=120)
    promise(broken, wang, "800.00", today - timedelta(days=4), at(today - timedelta(days=5), 11))
    nightly_promises(today)

    login(page, live_server, supervisor.username, TEST_PASSWORD)
    page.goto(f"{live_server.url}/dashboards/")
    expect(page.locator("html")).to_have_attribute("lang", "zh-hans")
    expect(page.get_by_test_id("agents-now")).to_contain_text(str(wang))
    screenshot(page, "dashboard-home-zh")
    page.goto(f"{live_server.url}/dashboards/kpis/")
    # Strings the catalogue already translates: the nav and the broken-promises label.
    expect(page.locator("nav.mainnav")).to_contain_text("首页")
    expect(page.get_by_test_id("kpi-broken_promises")).to_contain_text("承诺违约次数")
    screenshot(page, "dashboard-kpis-zh")

    page.locator("#language-select").select_option("en")
    expect(page.locator("html")).to_have_attribute("lang", "en")
    expect(page.get_by_test_id("kpi-broken_promises")).to_contain_text("Broken promises")

    page.locator("#id_team").select_option(label="Team A")
    page.get_by_test_id("apply-filters").click()
    expect(page).to_have_url(re.compile(rf"team={team_a.pk}"))
    expect(page.get_by_test_id("kpi-value-broken_promises")).to_have_text("1")
    screenshot(page, "dashboard-kpis-en")

    page.get_by_test_id("kpi-value-broken_promises").click()
    expect(page.get_by_test_id("drill-title")).to_contain_text("Promises broken")
    row = page.locator(f"tr[data-case='{broken.reference}']")
    expect(row).to_contain_text("Broken")
    row.locator("select[name=agent]").select_option(label=str(li))
    row.get_by_role("button", name="Reassign").click()
    expect(page.locator(".messages")).to_contain_text(f"{broken.reference} is now assigned to {li}")
    expect(page.locator(f"tr[data-case='{broken.reference}']")).to_contain_text(str(li))
    screenshot(page, "dashboard-drill-broken-promises")

    other = browser.new_context(locale="en-US", viewport={"width": 1280, "height": 800})
    try:
        li_page = other.new_page()
        login(li_page, live_server, li.username, TEST_PASSWORD)
        li_page.goto(f"{live_server.url}/work/")
        expect(li_page.locator("main")).to_contain_text(broken.reference)
        expect(li_page.locator("main")).not_to_contain_text(kept_busy.reference)
    finally:
        other.close()
