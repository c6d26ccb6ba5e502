"""The callback form takes the cardholder's time; as the agent types it, their own time shows beside it
(static/js/app.js), the same instant the server will store (contactability.cardholder_local_time)."""

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import time_machine
from playwright.sync_api import expect

from tests.browser.conftest import login, open_action
from tests.factories import TEST_PASSWORD, ContactPointFactory, UserFactory, open_case

BEIJING = ZoneInfo("Asia/Shanghai")
NEW_YORK = ZoneInfo("America/New_York")


def next_beijing_morning() -> datetime:
    # Later than the browser's real clock, so its session cookie is not already expired for it.
    now = datetime.now(BEIJING)
    target = now.replace(hour=10, minute=0, second=0, microsecond=0)
    return target if target > now else target + timedelta(days=1)


@pytest.mark.django_db(transaction=True)
def test_the_agent_sees_their_own_time_beside_the_cardholders_as_they_type(page, live_server, team_a):
    morning = next_beijing_morning()
    with time_machine.travel(morning, tick=True):
        agent = UserFactory(
            username="ny_agent", role="agent", team=team_a, language="en", time_zone="America/New_York"
        )
        case = open_case(team=team_a, cardholder__jurisdiction="CN", cardholder__time_zone="Asia/Shanghai")
        ContactPointFactory(cardholder=case.account.cardholder)

        login(page, live_server, agent.username, TEST_PASSWORD)
        page.goto(f"{live_server.url}/cases/{case.pk}/")
        open_action(page, "callback")
        form = page.locator("#act-callback")
        expect(form.get_by_test_id("callback-at-label")).to_contain_text(
            "the cardholder's local time: Asia/Shanghai (UTC+08:00)"
        )

        callback = (morning + timedelta(days=1)).replace(hour=9)  # 09:00 tomorrow in Beijing
        form.locator("input[name=at]").fill(callback.strftime("%Y-%m-%dT%H:%M"))

        theirs = callback.astimezone(NEW_YORK)  # the evening before in New York
        expected = f"(your time {theirs:%Y-%m-%d %H:%M})"
        expect(form.get_by_test_id("callback-your-time")).to_have_text(expected)

        form.locator("button[type=submit]").click()
        expect(page.get_by_test_id("next-callback")).to_contain_text(
            f"{callback:%Y-%m-%d %H:%M} Asia/Shanghai (UTC+08:00) {expected}"
        )
