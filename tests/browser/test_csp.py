"""The Content-Security-Policy in a real browser: every main page, our admin pages and the API docs load
and work with no inline script or style refused, and what moved out of the templates (the KPI bars, the
language switch, the printable agreement's styles and Print button, the rule preview frame) still works.

Personas (tests/conftest.py): `admin_user` opens everything; `agent` of team A made the contact that
fills the KPI page's reasons table.
"""

import re
from datetime import timedelta
from decimal import Decimal

import pytest
import time_machine
from playwright.sync_api import Page, expect

from tests.browser.conftest import login, screenshot
from tests.browser.test_workspace import next_beijing_morning
from tests.dashboards.conftest import at, call
from tests.escalation.conftest import DPD_OVER_90, make_rule
from tests.factories import TEST_PASSWORD, open_case
from tests.repayment_plans.conftest import ensure_default_tiers

# Reported by Chromium as a console message for each refusal, in every frame; the listener added below
# reports the DOM's securitypolicyviolation event too, in case a refusal is ever not logged.
REPORT_VIOLATIONS = """
document.addEventListener("securitypolicyviolation", (event) => {
  console.error(`Content Security Policy violation: ${event.effectiveDirective} ${event.blockedURI}`);
});
"""


@pytest.fixture
def morning():
    """The next 10:00 in Beijing after the real clock (the browser runs on the real clock)."""
    start = next_beijing_morning()
    with time_machine.travel(start, tick=True):
        yield start


@pytest.fixture
def problems(page: Page) -> list[str]:
    """What went wrong in the browser: CSP refusals, script errors, static files that did not load."""
    found: list[str] = []

    def on_console(message):
        if "content security policy" in message.text.lower():
            found.append(f"{page.url}: {message.text}")

    def on_response(response):
        if "/static/" in response.url and response.status >= 400:
            found.append(f"{response.url}: {response.status}")

    page.add_init_script(REPORT_VIOLATIONS)
    page.on("console", on_console)
    page.on("pageerror", lambda error: found.append(f"{page.url}: script error: {error}"))
    page.on("response", on_response)
    return found


def visit(page: Page, url: str, problems: list[str]) -> None:
    response = page.goto(url)
    assert response is not None and response.status == 200, f"{url}: {response and response.status}"
    page.wait_for_load_state("networkidle")
    assert problems == []


@pytest.mark.django_db(transaction=True)
def test_the_main_pages_work_under_the_policy(
    page, live_server, admin_user, agent, team_a, morning, problems
):
    ensure_default_tiers()  # an earlier transactional test may have flushed the migration's rows
    today = morning.date()
    case = open_case(team=team_a, overdue_amount=Decimal("6000.00"))
    call(case, agent, at(today - timedelta(days=2)), "ptp", seconds=120)  # a reason for the KPI bars
    site = live_server.url

    login(page, live_server, admin_user.username, TEST_PASSWORD)
    assert problems == []
    visit(page, f"{site}/work/", problems)
    visit(page, f"{site}/cases/{case.pk}/", problems)
    expect(page.get_by_test_id("case-state")).to_be_visible()

    # The language switch submits on change (a listener in app.js, not an inline onchange).
    page.locator("#language-select").select_option("zh-hans")
    expect(page.locator("html")).to_have_attribute("lang", "zh-hans")
    page.locator("#language-select").select_option("en")
    expect(page.locator("html")).to_have_attribute("lang", "en")

    visit(page, f"{site}/dashboards/", problems)
    visit(page, f"{site}/dashboards/kpis/", problems)
    bar = page.get_by_test_id("reason-bar").first.locator("span")
    expect(bar).to_have_attribute("data-bar-width", "100.0")
    track_width = bar.evaluate("node => getComputedStyle(node.parentElement).width")
    assert track_width != "0px"
    expect(bar).to_have_css("width", track_width)  # a share of 100% fills the track
    expect(page.locator("canvas[data-chart]").first).to_be_visible()
    screenshot(page, "csp-kpis")

    # The plan calculator is htmx (no eval, no injected style); then the printable agreement.
    visit(page, f"{site}/plans/case/{case.pk}/propose/", problems)
    page.get_by_label("Number of installments").fill("10")
    expect(page.locator("#plan-preview tbody tr")).to_have_count(10)
    page.get_by_role("button", name="Propose plan").click()
    expect(page).to_have_url(re.compile(rf"/plans/case/{case.pk}/$"))
    agreement_url = page.get_by_role("link", name="Printable agreement").get_attribute("href")
    visit(page, f"{site}{agreement_url}", problems)
    expect(page.locator(".agreement")).to_have_css("max-width", "760px")
    page.evaluate("window.print = () => { window.printed = true; }")
    page.locator("button[data-print]").click()  # in the cardholder's language
    assert page.evaluate("window.printed") is True
    page.emulate_media(media="print")
    expect(page.locator(".no-print")).to_be_hidden()
    page.emulate_media(media="screen")

    visit(page, f"{site}/api/docs/", problems)
    expect(page.locator(".swagger-ui .info .title")).to_contain_text("Collections casework API")
    assert problems == []


@pytest.mark.django_db(transaction=True)
def test_the_admin_works_under_the_policy(page, live_server, admin_user, team_a, problems):
    case = open_case(team=team_a, overdue_amount=Decimal("6000.00"), days_past_due=120, bucket="M4")
    rule = make_rule(DPD_OVER_90, name="Over 90", raise_priority=5)
    site = live_server.url

    login(page, live_server, admin_user.username, TEST_PASSWORD)
    visit(page, f"{site}/admin/", problems)
    visit(page, f"{site}/admin/collections_app/case/", problems)
    expect(page.locator("#result_list")).to_contain_text(case.reference)
    visit(page, f"{site}/admin/collections_app/case/{case.pk}/change/", problems)
    visit(page, f"{site}/admin/escalation/escalationrule/", problems)
    expect(page.locator("#result_list")).to_contain_text("Over 90")

    visit(page, f"{site}/admin/escalation/escalationrule/{rule.pk}/change/", problems)
    expect(page.get_by_test_id("rule-catalogue")).to_be_visible()
    expect(page.locator(".rule-preview-frame")).to_have_css("min-height", re.compile(r"^[1-9]\d*(\.\d+)?px$"))
    page.locator("input[name=_preview]").click()
    preview = page.frame_locator("iframe[name=rule-preview]")
    expect(preview.get_by_test_id("preview-matching")).to_contain_text("Matches 1 open case now.")
    expect(preview.locator("body")).to_have_css("padding-left", "12px")
    screenshot(page, "csp-rule-preview")
    assert problems == []
