"""Send from the case in the browser: the agent presses m on the case page, the drawer loads the template
choice, Preview shows the SMS filled in with the policy's verdict, Send queues it - and it is on the case.

Persona: `liu`, an agent of team A, on a case of the team's queue whose cardholder has a mobile number.
"""

from decimal import Decimal

import pytest
from playwright.sync_api import expect

from messaging import services as messaging
from messaging.models import OutboundMessage
from tests.browser.conftest import login
from tests.browser.test_keyboard import morning  # noqa: F401 - pytest fixture
from tests.factories import TEST_PASSWORD, ContactPointFactory, TeamFactory, UserFactory, open_case


@pytest.mark.usefixtures("morning")
def test_an_agent_presses_m_previews_and_sends_an_sms_from_the_case(page, live_server, tmp_path, settings):
    settings.COLLECTIONS_OUTBOX_DIR = str(tmp_path)
    messaging.ensure_defaults()
    team = TeamFactory(name="Team A")
    agent = UserFactory(username="liu", role="agent", team=team)
    case = open_case(team=team, overdue_amount=Decimal("12345.60"))
    ContactPointFactory(cardholder=case.account.cardholder, value="+8613800000007")

    login(page, live_server, agent.username, TEST_PASSWORD)
    page.goto(f"{live_server.url}/cases/{case.pk}/")
    page.keyboard.press("m")
    drawer = page.locator("#drawer-message")
    expect(drawer).to_be_visible()
    expect(drawer.get_by_test_id("preview-message")).to_be_visible()

    drawer.get_by_test_id("preview-message").click()
    preview = drawer.get_by_test_id("message-preview")
    expect(preview).to_contain_text("12,345.60 CNY")
    expect(drawer.get_by_test_id("policy-verdict")).to_be_visible()
    assert not OutboundMessage.objects.filter(case=case).exists()

    drawer.get_by_test_id("send-now").click()
    expect(drawer.get_by_test_id("message-queued")).to_be_visible()
    assert OutboundMessage.objects.get(case=case).requested_by == agent
