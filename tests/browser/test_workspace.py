"""An agent's day in the browser: Next case, log a call, record a promise, schedule a callback, and a
colleague pressing Next gets a different case."""

import re
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import time_machine
from playwright.sync_api import expect

from collections_app.services import queues
from tests.browser.conftest import login, open_action, screenshot
from tests.factories import TEST_PASSWORD, ContactPointFactory, UserFactory, open_case

BEIJING = ZoneInfo("Asia/Shanghai")


def next_beijing_morning() -> datetime:
    """The next 10:00 in Beijing after the real clock: inside the China contact window, and later than
    the browser's own (real) clock so that session cookies are not already expired for it."""
    now = datetime.now(BEIJING)
    target = now.replace(hour=10, minute=0, second=0, microsecond=0)
    return target if target > now else target + timedelta(days=1)


@pytest.fixture
def morning():
    start = next_beijing_morning()
    with time_machine.travel(start, tick=True):
        yield start


@pytest.mark.django_db(transaction=True)
def test_agent_works_a_case_from_next_to_callback(page, browser, live_server, team_a, morning):
    agent = UserFactory(username="wang", role="agent", team=team_a, language="en")
    colleague = UserFactory(username="li", role="agent", team=team_a, language="en")
    first = open_case(team=team_a, days_past_due=90)
    second = open_case(team=team_a, days_past_due=30)
    for case in (first, second):
        ContactPointFactory(cardholder=case.account.cardholder)
    queues.refresh_priorities()

    login(page, live_server, agent.username, TEST_PASSWORD)
    page.goto(f"{live_server.url}/work/")
    page.get_by_test_id("next-case").click()
    expect(page).to_have_url(re.compile(rf"/cases/{first.pk}/$"))

    # Log the call: a right-party contact ending in a promise to pay. Each action opens from the action bar.
    open_action(page, "contact")
    contact = page.locator("#act-contact")
    contact.locator("select[name=contact_point]").select_option(index=1)
    contact.locator("select[name=outcome]").select_option("ptp")
    contact.locator("select[name=delinquency_reason]").select_option("job_loss")
    contact.locator("input[name=recording_ref]").fill("REC-2026-0001")
    contact.locator("button[type=submit]").click()
    expect(page.get_by_test_id("timeline")).to_contain_text("Contact")

    # Record the promise with the keyboard only: type, Tab to the date, Enter submits.
    promise_day = (morning + timedelta(days=5)).date()
    open_action(page, "promise")
    amount = page.locator("#act-promise input[name=amount]")
    amount.focus()
    amount.type("800.00")
    page.keyboard.press("Tab")
    page.keyboard.type(promise_day.strftime("%m%d%Y"))
    page.keyboard.press("Enter")
    expect(page.get_by_test_id("case-state")).to_have_text("Promised")

    # A callback at 15:00 the cardholder's time, inside the window.
    open_action(page, "callback")
    callback = page.locator("#act-callback")
    callback.locator("input[name=at]").fill(f"{morning.date().isoformat()}T15:00")
    callback.locator("button[type=submit]").click()
    timeline = page.get_by_test_id("timeline")
    expect(timeline).to_contain_text("Callback scheduled")
    expect(timeline).to_contain_text("Promise to pay")
    expect(timeline).to_contain_text("Contact")
    screenshot(page, "case-after-journey")

    # The colleague presses Next while the first case is leased: a different case.
    other = browser.new_context(locale="en-US", viewport={"width": 1280, "height": 800})
    try:
        other_page = other.new_page()
        login(other_page, live_server, colleague.username, TEST_PASSWORD)
        other_page.goto(f"{live_server.url}/work/")
        other_page.get_by_test_id("next-case").click()
        expect(other_page).to_have_url(re.compile(rf"/cases/{second.pk}/$"))
    finally:
        other.close()


@pytest.mark.django_db(transaction=True)
def test_a_drawer_not_drawn_with_the_page_comes_when_opened(page, live_server, team_a, morning):
    """The note drawer's form comes when the drawer is first opened (collections_app.views.LAZY_DRAWERS):
    focus lands in it, the note is added, and after the action the drawer is fetched again."""
    agent = UserFactory(username="wang", role="agent", team=team_a, language="en")
    case = open_case(team=team_a)
    ContactPointFactory(cardholder=case.account.cardholder)
    queues.refresh_priorities()
    login(page, live_server, agent.username, TEST_PASSWORD)
    page.goto(f"{live_server.url}/cases/{case.pk}/")
    expect(page.locator("#act-note")).to_have_count(0)

    open_action(page, "note")
    expect(page.locator("#act-note textarea[name=text]")).to_be_focused()
    page.keyboard.type("Cardholder asked for a letter")
    page.locator("#act-note button[type=submit]").click()
    expect(page.get_by_test_id("timeline")).to_contain_text("Cardholder asked for a letter")
    expect(page.locator("#drawer-note")).to_be_hidden()

    open_action(page, "note")  # the body was swapped: the drawer is fetched again
    expect(page.locator("#act-note textarea[name=text]")).to_be_focused()
    expect(page.locator("#act-note textarea[name=text]")).to_have_value("")


@pytest.mark.django_db(transaction=True)
def test_my_work_and_case_page_in_chinese(page, live_server, team_a, morning):
    agent = UserFactory(username="zhang", role="agent", team=team_a, language="zh-hans")
    case = open_case(team=team_a)
    ContactPointFactory(cardholder=case.account.cardholder)
    login(page, live_server, agent.username, TEST_PASSWORD)
    page.goto(f"{live_server.url}/work/")
    expect(page.get_by_test_id("next-case")).to_contain_text("下一个案件")
    screenshot(page, "my-work-zh")
    page.get_by_test_id("next-case").click()
    expect(page.get_by_test_id("compliance")).to_contain_text("联系")
    screenshot(page, "case-zh")


@pytest.mark.django_db(transaction=True)
def test_my_work_says_why_no_case_is_ready_after_it_is_shown(page, live_server, team_a, morning):
    """Nothing ready (the only case waits for a callback): the page shows at once, then loads why."""
    from collections_app import services

    agent = UserFactory(username="zhao", role="agent", team=team_a, language="en")
    case = open_case(team=team_a)
    services.callback_schedule(case_id=case.pk, actor=agent, at=morning + timedelta(hours=2))

    login(page, live_server, agent.username, TEST_PASSWORD)
    page.goto(f"{live_server.url}/work/")
    expect(page.get_by_test_id("passed-over")).to_contain_text("1")
    expect(page.get_by_test_id("held-back-slot")).to_have_count(0)  # replaced by the panel
