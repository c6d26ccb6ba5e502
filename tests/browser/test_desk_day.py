"""Twenty demo cases worked start to finish with the keyboard only (issue 17, "Done when"): on the seeded
demo portfolio, a demo agent presses n (Next case), c (log the call), p (record the promise), b (schedule
the callback) and n again - twenty times, without touching the mouse - and every case ends promised, with
the contact, the promise and the callback on its timeline, and no case handed out twice.

The demo is seeded the evening before (its own ninety days of history), and the agent works the next
morning at 10:00 in Beijing: inside the contact window of the East team's cardholders.
"""

import re
from datetime import timedelta

import pytest
import time_machine
from django.utils import timezone
from playwright.sync_api import Page, expect

from accounts.demo import DEMO_PASSWORD
from accounts.models import User
from collections_app import selectors
from collections_app.models import Case, CaseEvent, CaseState, EventKind
from collections_app.services import contactability
from demo.seed import seed_portfolio
from tests.browser.conftest import login
from tests.browser.test_keyboard import focused
from tests.browser.test_workspace import next_beijing_morning

CASES = 20
AGENT = "agent2"  # Emma Brown, East team, English


def work_one_case(page: Page, promise_day: str, callback_day: str) -> int:
    """The case page Next case opened: a call ending in a promise, the promise, a callback - keys only."""
    case_id = int(re.search(r"/cases/(\d+)/$", page.url).group(1))
    timeline = page.get_by_test_id("timeline")

    page.keyboard.press("c")  # the contact drawer opens on its first field: the channel (a call)
    assert focused(page) == "select#id_channel[channel]", focused(page)
    page.keyboard.press("Tab")  # the number: the first on file
    page.keyboard.press("ArrowDown")
    page.keyboard.press("Tab")  # the person reached: the debtor
    page.keyboard.press("Tab")  # the outcome, chosen by typing its name
    page.keyboard.type("Promise")
    page.keyboard.press("Tab")  # the reason for delinquency
    page.keyboard.type("Job")
    page.keyboard.press("Tab")  # duration
    page.keyboard.type("120")
    page.keyboard.press("Tab")  # name of the person reached: blank (the debtor)
    page.keyboard.press("Tab")  # the recording reference
    page.keyboard.type(f"REC-{case_id}")
    page.keyboard.press("Enter")
    expect(timeline).to_contain_text("Promise to pay")
    expect(page.locator(".action-bar [data-drawer-open='drawer-contact']")).to_be_focused()
    page.wait_for_load_state("networkidle")  # the refreshed page's own requests (the call script) done

    page.keyboard.press("p")  # the promise's amount
    assert focused(page) == "input#id_amount[amount]", focused(page)
    page.keyboard.type("100.00")
    page.keyboard.press("Tab")
    page.keyboard.type(promise_day)
    page.keyboard.press("Enter")
    expect(page.get_by_test_id("case-state")).to_have_text("Promised")
    expect(page.locator(".action-bar [data-drawer-open='drawer-promise']")).to_be_focused()
    page.wait_for_load_state("networkidle")

    page.keyboard.press("b")  # the callback's time: prefilled with the first allowed when calls must wait
    assert focused(page) == "input#id_at[at]", focused(page)
    at = page.locator("#id_at")
    for _attempt in range(3):
        if at.input_value():
            break
        # Tomorrow 15:00 on the cardholder's clock (en-US: month, day, year, then hour, minute, AM/PM).
        # Under load a segmented date field can drop keys: Esc, b and type again, as a person would.
        if _attempt:
            page.keyboard.press("Escape")
            page.keyboard.press("b")
        page.keyboard.type(callback_day, delay=20)
        page.keyboard.press("ArrowRight")
        page.keyboard.type("0300P", delay=20)
    assert at.input_value(), "the callback time did not take"
    page.keyboard.press("Enter")
    expect(timeline).to_contain_text("Callback scheduled")
    expect(page.get_by_test_id("next-case")).to_be_visible()
    return case_id


@pytest.mark.django_db(transaction=True)
def test_an_agent_works_twenty_demo_cases_with_the_keyboard_only(page, live_server):
    morning = next_beijing_morning()
    with time_machine.travel(morning - timedelta(hours=14), tick=True):
        seed_portfolio(cardholders=200, seed=7, today=timezone.localdate())
    with time_machine.travel(morning, tick=True):
        contactability.contactability_roll()  # as beat runs it every five minutes
        agent = User.objects.get(username=AGENT)
        ready = sum(line.ready_now for line in selectors.my_work(agent).queues)
        assert ready >= CASES, f"the demo gives {AGENT} only {ready} ready cases at {morning}"
        promise_day = (morning + timedelta(days=3)).strftime("%m%d%Y")
        callback_day = (morning + timedelta(days=1)).strftime("%m%d%Y")

        login(page, live_server, AGENT, DEMO_PASSWORD)
        page.goto(f"{live_server.url}/work/")
        worked = []
        for _ in range(CASES):
            previous = page.url
            page.keyboard.press("n")
            expect(page).not_to_have_url(previous)
            expect(page).to_have_url(re.compile(r"/cases/\d+/$"))
            page.wait_for_load_state("networkidle")
            worked.append(work_one_case(page, promise_day, callback_day))

    assert len(set(worked)) == CASES, worked  # never the same case twice
    for case_id in worked:
        kinds = set(CaseEvent.objects.filter(case_id=case_id, actor=agent).values_list("kind", flat=True))
        assert {EventKind.CONTACT, EventKind.PROMISE, EventKind.CALLBACK} <= kinds, (case_id, kinds)
    assert Case.objects.filter(pk__in=worked, state=CaseState.PROMISED).count() == CASES
