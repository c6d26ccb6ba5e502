"""The agent's desk with the keyboard only (static/js/shortcuts.js): Next case (n), the contact form (c),
a promise (p), a callback (b), then n again - five cases from start to finish without the mouse - and
the `?` overlay listing the shortcuts, closed with Esc, focus kept inside it and given back.

Persona: `wang`, an agent of team A working the team's queue (five ready cases, each with a number).
"""

import re
from datetime import timedelta

import pytest
import time_machine
from playwright.sync_api import Page, expect

from collections_app.models import Case, CaseEvent, EventKind
from collections_app.services import queues
from tests.browser.conftest import login, screenshot
from tests.browser.test_workspace import next_beijing_morning
from tests.factories import TEST_PASSWORD, ContactPointFactory, UserFactory, open_case

CASES = 5


@pytest.fixture
def morning():
    """The next 10:00 in Beijing after the real clock: inside the contact window (the browser runs on the
    real clock)."""
    start = next_beijing_morning()
    with time_machine.travel(start, tick=True):
        yield start


def focused(page: Page) -> str:
    """The focused element as `tag#id[name]`, to say where the keyboard is."""
    return page.evaluate(
        "() => { const e = document.activeElement;"
        " return e ? `${e.tagName.toLowerCase()}${e.id ? '#' + e.id : ''}[${e.name || ''}]` : ''; }"
    )


def work_one_case(page: Page, promise_day: str, callback_at: tuple[str, str]) -> int:
    """From the case page Next case opened: log a call that ended in a promise, record the promise,
    schedule a callback - keys only. Returns the case's id."""
    case_id = int(re.search(r"/cases/(\d+)/$", page.url).group(1))
    timeline = page.get_by_test_id("timeline")

    page.keyboard.press("c")  # the contact form's first field: the channel (a call by default)
    assert focused(page) == "select#id_channel[channel]"
    page.keyboard.press("Tab")  # the number: the first on file
    page.keyboard.press("ArrowDown")
    page.keyboard.press("Tab")  # the person reached: the debtor (default)
    page.keyboard.press("Tab")  # the outcome, chosen by typing its name
    assert focused(page) == "select#id_outcome[outcome]"
    page.keyboard.type("Promise")
    page.keyboard.press("Tab")  # reason for delinquency (a right-party contact needs one)
    page.keyboard.type("Job")
    page.keyboard.press("Tab")  # duration
    page.keyboard.type("95")
    page.keyboard.press("Tab")  # name of the person reached: blank (the debtor)
    page.keyboard.press("Tab")  # the recording reference the jurisdiction requires for a call
    assert focused(page) == "input#id_recording_ref[recording_ref]"
    page.keyboard.type(f"REC-{case_id}")
    page.keyboard.press("Enter")
    expect(timeline).to_contain_text("Promise to pay")  # the contact's badge: channel · outcome
    # Done: the drawer closes and focus goes back to its button in the action bar, so the next key is a
    # shortcut again.
    expect(page.locator("#drawer-contact")).to_be_hidden()
    expect(page.locator(".action-bar [data-drawer-open='drawer-contact']")).to_be_focused()

    page.keyboard.press("p")  # the promise form's amount
    assert focused(page) == "input#id_amount[amount]"
    page.keyboard.type("800.00")
    page.keyboard.press("Tab")
    page.keyboard.type(promise_day)
    page.keyboard.press("Enter")
    expect(page.get_by_test_id("case-state")).to_have_text("Promised")
    expect(page.locator(".action-bar [data-drawer-open='drawer-promise']")).to_be_focused()

    page.keyboard.press("b")  # the callback's time, the cardholder's wall clock
    assert focused(page) == "input#id_at[at]"
    page.keyboard.type(callback_at[0])
    page.keyboard.press("ArrowRight")  # a year may have more than four digits: move on to the hour
    page.keyboard.type(callback_at[1])
    expect(page.locator("#id_at")).to_have_value(re.compile(r"T15:00$"))
    page.keyboard.press("Enter")
    expect(timeline).to_contain_text("Callback scheduled")
    expect(page.locator(".action-bar [data-drawer-open='drawer-callback']")).to_be_focused()
    # The page after the last action still offers Next case, and n presses it.
    expect(page.get_by_test_id("next-case")).to_be_visible()
    return case_id


@pytest.mark.django_db(transaction=True)
def test_an_agent_works_five_cases_with_the_keyboard_only(page, live_server, team_a, morning):
    agent = UserFactory(username="wang", role="agent", team=team_a, language="en")
    cases = [open_case(team=team_a, days_past_due=30 + 10 * n) for n in range(CASES + 1)]
    for case in cases:
        ContactPointFactory(cardholder=case.account.cardholder)
    queues.refresh_priorities()
    # en-US date and time fields take month, day, year, then hour, minute and AM/PM, typed in a row.
    promise_day = (morning + timedelta(days=5)).strftime("%m%d%Y")
    callback_at = (morning.strftime("%m%d%Y"), "0300P")  # 15:00 in Beijing, inside the contact window

    login(page, live_server, agent.username, TEST_PASSWORD)
    page.goto(f"{live_server.url}/work/")
    worked = []
    for _ in range(CASES):
        previous = page.url
        page.keyboard.press("n")
        expect(page).not_to_have_url(previous)
        expect(page).to_have_url(re.compile(r"/cases/\d+/$"))
        page.wait_for_load_state("networkidle")  # the page's own first requests done: keys go to it alone
        worked.append(work_one_case(page, promise_day, callback_at))

    assert len(set(worked)) == CASES, worked
    for case_id in worked:
        kinds = set(CaseEvent.objects.filter(case_id=case_id).values_list("kind", flat=True))
        assert {EventKind.CONTACT, EventKind.PROMISE, EventKind.CALLBACK} <= kinds, (case_id, kinds)
        assert Case.objects.get(pk=case_id).state == "promised"

    # Leave case (l) gives the last one back and returns to My work.
    page.keyboard.press("l")
    expect(page).to_have_url(re.compile(r"/work/$"))
    assert Case.objects.get(pk=worked[-1]).lease_owner_id is None


@pytest.mark.django_db(transaction=True)
def test_the_shortcuts_overlay_opens_with_a_question_mark_and_closes_with_escape(
    page, live_server, team_a, morning
):
    agent = UserFactory(username="wang", role="agent", team=team_a, language="en")
    case = open_case(team=team_a)
    ContactPointFactory(cardholder=case.account.cardholder)
    queues.refresh_priorities()
    login(page, live_server, agent.username, TEST_PASSWORD)
    page.goto(f"{live_server.url}/cases/{case.pk}/")
    page.wait_for_load_state("networkidle")
    overlay = page.locator("dialog[data-shortcuts-help]")
    expect(overlay).to_be_hidden()

    # While typing in a field, keys are text: no overlay, no Next case.
    page.keyboard.press("c")  # the contact drawer opens on its first field
    recording = page.locator("#act-contact input[name=recording_ref]")
    recording.focus()
    page.keyboard.type("n?")
    expect(recording).to_have_value("n?")
    expect(overlay).to_be_hidden()
    assert page.url.endswith(f"/cases/{case.pk}/")
    # Esc leaves the field; then ? is a shortcut again.
    page.keyboard.press("Escape")
    assert focused(page) == "body[]"

    next_case = page.get_by_test_id("next-case")
    next_case.focus()
    page.keyboard.press("?")
    expect(overlay).to_be_visible()
    expect(overlay.get_by_role("heading", name="Keyboard shortcuts")).to_be_visible()
    for key, label in [("n", "Next case"), ("c", "Log a contact"), ("p", "Record a promise to pay")]:
        expect(overlay.locator(f"[data-shortcut-help='{key}']")).to_contain_text(label)
    expect(overlay.locator("[data-shortcut-help='l']")).to_be_hidden()  # the case is not leased: no Leave
    screenshot(page, "shortcuts-overlay")
    # Focus is inside the overlay and stays there: the page under it does not react.
    expect(overlay.get_by_role("button", name="Close")).to_be_focused()
    page.keyboard.press("Tab")
    page.keyboard.press("Tab")
    assert page.evaluate(
        "document.querySelector('dialog[data-shortcuts-help]').contains(document.activeElement)"
    )
    page.keyboard.press("n")
    assert page.url.endswith(f"/cases/{case.pk}/")

    page.keyboard.press("Escape")
    expect(overlay).to_be_hidden()
    expect(next_case).to_be_focused()  # focus goes back where it was

    # The top bar's button opens it too (a keyboard user reaches it with Tab and Enter).
    page.locator("[data-shortcuts-open]").focus()
    page.keyboard.press("Enter")
    expect(overlay).to_be_visible()
    page.keyboard.press("Escape")
    expect(overlay).to_be_hidden()
    expect(page.locator("[data-shortcuts-open]")).to_be_focused()

    # Ctrl, Alt or Meta with a key is the browser's: nothing happens.
    page.keyboard.press("Alt+n")
    page.keyboard.press("Alt+?")
    expect(overlay).to_be_hidden()
    assert page.url.endswith(f"/cases/{case.pk}/")

    # h: the hold form's first field; / from the case page: the search page, where / is its field.
    page.keyboard.press("h")  # its form is fetched when first opened (a rare action): focus follows it
    expect(page.locator("#id_hold_reason")).to_be_focused()
    page.keyboard.press("Escape")
    page.keyboard.press("/")
    expect(page).to_have_url(re.compile(r"/search/$"))
    search = page.locator("#q")
    expect(search).to_be_focused()
    page.keyboard.press("Escape")
    page.keyboard.press("/")
    expect(search).to_be_focused()
