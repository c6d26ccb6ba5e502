"""Repayment plans in a real browser: the agent's propose-and-activate journey with the live calculator,
and a plan outside the agent's limits that the supervisor approves from the inbox.

Personas (tests/conftest.py): `agent` works team A's cases (up to 12 installments alone); `supervisor`
supervises team A and approves what is beyond the agent's limits.
"""

import re
from decimal import Decimal

import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import login, screenshot
from tests.factories import TEST_PASSWORD, open_case
from tests.repayment_plans.conftest import ensure_default_tiers

pytestmark = pytest.mark.urls("tests.repayment_plans.urls")


@pytest.fixture
def cases(transactional_db, team_a):
    ensure_default_tiers()  # an earlier transactional test may have flushed the migration's rows
    return [open_case(team=team_a, overdue_amount=Decimal("6000.00")) for _ in range(2)]


def propose_page(page: Page, live_server, case) -> None:
    page.goto(f"{live_server.url}/plans/case/{case.pk}/propose/")
    expect(page.get_by_role("heading", level=1)).to_have_text("Propose a repayment plan")


def test_agent_proposes_within_limits_and_activates_the_plan(page, live_server, agent, cases):
    case = cases[0]
    login(page, live_server, agent.username, TEST_PASSWORD)
    propose_page(page, live_server, case)

    # The starting terms: the overdue 6,000.00 over six months, inside the agent's limits.
    preview = page.locator("#plan-preview")
    expect(preview.get_by_test_id("plan-approval")).to_contain_text("Within your limits")
    expect(preview.locator("tbody tr")).to_have_count(6)

    # The live calculator follows the installment count.
    page.get_by_label("Number of installments").fill("10")
    expect(preview.locator("tbody tr")).to_have_count(10)
    expect(preview.locator("tbody tr").first).to_contain_text("600.00")
    page.get_by_label("Number of installments").fill("0")
    expect(preview.get_by_test_id("plan-errors")).to_contain_text("A plan needs at least one installment")
    page.get_by_label("Number of installments").fill("10")
    expect(preview.locator("tbody tr")).to_have_count(10)
    screenshot(page, "plans-propose-within-limits")

    page.get_by_role("button", name="Propose plan").click()

    expect(page).to_have_url(re.compile(rf"/plans/case/{case.pk}/$"))
    plan = page.get_by_test_id("case-plan")
    expect(plan.get_by_test_id("plan-state")).to_have_text("Draft")
    page.get_by_label("How the cardholder accepted").fill("Call, recording R-100")
    page.get_by_role("button", name="Record the cardholder's acceptance").click()

    expect(page.get_by_test_id("case-state")).to_have_text("On plan")
    expect(plan.get_by_test_id("plan-state")).to_have_text("Active")
    expect(plan.get_by_test_id("installment")).to_have_count(10)
    screenshot(page, "plans-active")


def test_plan_outside_limits_is_approved_by_the_supervisor(
    page, browser, live_server, agent, supervisor, cases
):
    case = cases[1]
    login(page, live_server, agent.username, TEST_PASSWORD)
    propose_page(page, live_server, case)
    page.get_by_label("Amount to repay").fill("1800.00")
    page.get_by_label("Number of installments").fill("18")
    approval = page.locator("#plan-preview").get_by_test_id("plan-approval")
    expect(approval).to_contain_text("Outside your limits: Supervisor can approve this plan.")
    expect(approval).to_contain_text("18 installments is more than the 12 allowed.")
    page.get_by_label("The cardholder has accepted these terms").check()
    page.get_by_role("button", name="Propose plan").click()

    expect(page.get_by_test_id("plan-state")).to_have_text("Pending approval")
    expect(page.get_by_test_id("plan-waiting")).to_contain_text("Waiting for approval by Supervisor")

    context = browser.new_context(locale="en-US", viewport={"width": 1280, "height": 800})
    context.set_default_timeout(10_000)
    boss = context.new_page()
    try:
        login(boss, live_server, supervisor.username, TEST_PASSWORD)
        boss.goto(f"{live_server.url}/plans/approvals/")
        row = boss.get_by_test_id("approval-row").filter(has_text=case.reference)
        expect(row).to_contain_text("18 installments is more than the 12 allowed.")
        screenshot(boss, "plans-approvals-inbox")
        row.get_by_role("button", name="Approve").click()
        expect(boss.get_by_role("status")).to_contain_text("The plan is approved.")
        expect(boss.get_by_test_id("approvals-empty")).to_be_visible()

        boss.goto(f"{live_server.url}/plans/case/{case.pk}/")
        expect(boss.get_by_test_id("case-state")).to_have_text("On plan")
        expect(boss.get_by_test_id("plan-state")).to_have_text("Active")
        expect(boss.get_by_test_id("installment")).to_have_count(18)
        screenshot(boss, "plans-approved")
    finally:
        context.close()
