"""A legal reviewer's journey in the browser: the legal queue, the case package, approving litigation
with a court reference, and the case shown in litigation.

Personas (tests/conftest.py): `legal` decides on cases in legal review; `supervisor` (team A) referred
the case."""

import re
from datetime import datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
import time_machine
from playwright.sync_api import expect

from legal import services as legal_services
from tests.browser.conftest import login, screenshot
from tests.factories import TEST_PASSWORD, open_case

pytestmark = pytest.mark.urls("tests.legal.urls")

BEIJING = ZoneInfo("Asia/Shanghai")


@pytest.fixture
def morning():
    """The next 10:00 in Beijing after the real clock: later than the browser's own (real) clock, so that
    its session cookie is not already expired for it (see test_workspace.py)."""
    now = datetime.now(BEIJING)
    start = now.replace(hour=10, minute=0, second=0, microsecond=0)
    start = start if start > now else start + timedelta(days=1)
    with time_machine.travel(start, tick=True):
        yield start


@pytest.mark.django_db(transaction=True)
def test_legal_reviewer_approves_litigation_from_the_queue(
    page, live_server, team_a, supervisor, legal, morning
):
    case = open_case(team=team_a, days_past_due=150, principal=Decimal("62000.00"))
    legal_services.legal_refer(case_id=case.pk, actor=supervisor, reason="150 DPD, refuses to pay")

    login(page, live_server, legal.username, TEST_PASSWORD)
    page.goto(f"{live_server.url}/legal/")
    row = page.get_by_test_id("legal-row").filter(has_text=case.reference)
    expect(row).to_contain_text("150 DPD, refuses to pay")
    screenshot(page, "legal-queue")

    row.get_by_role("link", name=case.reference).click()
    expect(page).to_have_url(re.compile(rf"/legal/cases/{case.pk}/$"))
    expect(page.get_by_test_id("case-state")).to_have_text("Legal review")
    expect(page.get_by_test_id("statement")).to_contain_text("CN¥62,000.00")
    expect(page.get_by_test_id("limitation")).to_be_visible()

    decision = page.locator("#decide-litigation")
    decision.get_by_label("Court or agency reference").fill("(2026)京0105民初1234号")
    screenshot(page, "legal-package")
    decision.get_by_role("button", name="Approve litigation").click()

    expect(page.get_by_test_id("case-state")).to_have_text("Litigation")
    expect(page.get_by_test_id("court-reference")).to_have_text("(2026)京0105民初1234号")
    expect(page.locator("#decisions")).to_have_count(0)
    screenshot(page, "legal-litigation")


@pytest.mark.django_db(transaction=True)
def test_admin_previews_an_escalation_rule_before_saving_it(page, live_server, team_a, admin_user, morning):
    """The Preview button posts the unsaved form into the frame under the fields; nothing is saved."""
    import escalation.admin  # noqa: F401 - registered once collections_app.admin imports it
    from escalation.models import EscalationRule

    for dpd in (40, 100, 130):
        open_case(team=team_a, days_past_due=dpd)
    login(page, live_server, admin_user.username, TEST_PASSWORD)
    page.goto(f"{live_server.url}/admin/escalation/escalationrule/add/")
    page.locator("#id_name").fill("Over 90 days")
    page.locator("select[name=conditions-0-field]").select_option("dpd")
    page.locator("select[name=conditions-0-operator]").select_option("gt")
    page.locator("input[name=conditions-0-value]").fill("90")
    # The rows are counted as they are typed (the condition editor's live count).
    expect(page.get_by_test_id("condition-count")).to_have_text("Matches 2 open cases now.")
    page.locator("#id_move_to_legal_review").check()
    page.get_by_role("button", name="Preview").click()

    frame = page.frame_locator("iframe[name=rule-preview]")
    expect(frame.get_by_test_id("preview-matching")).to_have_text("Matches 2 open cases now.")
    expect(frame.get_by_test_id("preview-would-fire")).to_contain_text("Would act on 2")
    screenshot(page, "admin-rule-preview")

    page.locator("select[name=conditions-0-operator]").select_option("between")
    page.locator("input[name=conditions-0-value]").fill("120, 90")
    page.get_by_role("button", name="Preview").click()
    expect(frame.get_by_test_id("preview-errors")).to_be_visible()
    expect(frame.locator(".errorlist")).to_contain_text("Impossible range")
    expect(page.get_by_test_id("condition-error-0")).to_contain_text("Impossible range")
    assert not EscalationRule.objects.filter(name="Over 90 days").exists()
