"""The supervisor floor in the browser: filter the team's cases, tick two, preview a reassignment (nothing
changes yet), confirm it, and see both cases with their new agent; then save the filter as a view."""

import pytest
from playwright.sync_api import expect

from collections_app.models import Case, CaseEvent, EventKind
from tests.browser.conftest import login, screenshot
from tests.factories import TEST_PASSWORD, UserFactory, open_case


@pytest.mark.django_db(transaction=True)
def test_supervisor_ticks_cases_previews_and_confirms_a_reassignment(page, live_server, team_a):
    supervisor = UserFactory(username="zhou", role="supervisor", team=team_a, language="en")
    li = UserFactory(username="li", role="agent", team=team_a, first_name="Li", last_name="Na")
    wang = UserFactory(username="wang", role="agent", team=team_a, first_name="Wang", last_name="Fang")
    first, second = (
        open_case(team=team_a, bucket="M3", days_past_due=70),
        open_case(team=team_a, bucket="M3", days_past_due=70),
    )
    untouched = open_case(team=team_a)  # M2: filtered out
    Case.objects.filter(pk__in=[first.pk, second.pk]).update(assigned_agent=li)

    login(page, live_server, supervisor.username, TEST_PASSWORD)
    page.goto(f"{live_server.url}/dashboards/")
    page.locator("nav.mainnav").get_by_role("link", name="Cases").click()
    page.locator("#id_bucket").select_option("M3")
    page.get_by_test_id("apply-case-filters").click()
    expect(page.get_by_test_id("case-row")).to_have_count(2)
    expect(page.get_by_test_id("case-table")).not_to_contain_text(untouched.reference)

    page.locator("#floor-tick-page").check()  # ticks every case on the page (static/js/floor.js)
    expect(page.locator("input[data-tick]:checked")).to_have_count(2)
    page.locator("#id_action").select_option("reassign")
    expect(page.locator("#id_hold_reason")).to_be_hidden()
    page.locator("#id_agents").select_option(label=str(wang))
    page.locator("#id_reason").fill("Li is on leave this week")
    page.get_by_test_id("bulk-preview").click()

    expect(page.get_by_test_id("preview-totals")).to_contain_text("2 cases will change")
    expect(page.locator(f"tr[data-case='{first.reference}']")).to_contain_text(f"Agent: {li} → {wang}")
    screenshot(page, "floor-preview")
    assert not CaseEvent.objects.filter(kind=EventKind.ASSIGNMENT).exists()

    page.get_by_test_id("bulk-confirm").click()
    expect(page.get_by_test_id("bulk-result-line")).to_contain_text("2 changed, 0 skipped.")
    assert CaseEvent.objects.filter(kind=EventKind.ASSIGNMENT, reason="Li is on leave this week").count() == 2

    page.get_by_test_id("back-to-cases").click()
    for case in (first, second):
        expect(page.locator(f"tr[data-case='{case.reference}']")).to_contain_text(str(wang))
    page.locator("#id_name").fill("M3 cases")
    page.get_by_test_id("save-view-form").get_by_role("button").click()
    expect(page.get_by_test_id("saved-view")).to_contain_text("M3 cases")
    screenshot(page, "floor-cases")
