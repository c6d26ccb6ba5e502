"""Signing in, in a real browser: the login page in both languages, and what each role finds behind it.

Personas (tests/conftest.py): `agent` works team A's cases and may not open /admin/; `admin_user`
configures everything and is the only role the admin site lets in.
"""

import re

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import login, screenshot
from tests.factories import TEST_PASSWORD


@pytest.mark.parametrize(
    ("browser_locale", "html_lang", "heading"),
    [("en-US", "en", "Sign in"), ("zh-CN", "zh-hans", "登录")],
    ids=["en", "zh-hans"],
)
def test_login_page_speaks_the_browsers_language(page, live_server, browser_locale, html_lang, heading):
    response = page.goto(f"{live_server.url}/accounts/login/")

    assert response.status == 200
    assert response.headers["content-language"] == html_lang
    expect(page.locator("html")).to_have_attribute("lang", html_lang)
    expect(page.get_by_role("heading", level=1)).to_have_text(heading)
    expect(page.locator("main form button[type=submit]")).to_have_text(heading)
    expect(page.locator("#language-select")).to_have_value(html_lang)
    screenshot(page, f"login-{html_lang}")


def test_wrong_password_keeps_the_user_on_the_login_page(page, live_server, agent):
    page.goto(f"{live_server.url}/accounts/login/")
    page.locator("#id_username").fill(agent.username)
    page.locator("#id_password").fill("not-the-password")
    page.locator("main form button[type=submit]").click()

    expect(page.get_by_role("alert")).to_contain_text("did not match")
    expect(page).to_have_url(re.compile(r"/accounts/login/$"))
    expect(page.get_by_role("navigation", name="Main")).to_have_count(0)


def test_agent_signs_in_to_home_without_administration(page, live_server, agent):
    login(page, live_server, agent.username, TEST_PASSWORD)

    expect(page).to_have_url(f"{live_server.url}/")
    nav = page.get_by_role("navigation", name="Main")
    expect(nav.get_by_role("link", name="Home", exact=True)).to_be_visible()
    expect(nav.get_by_role("link", name="Administration")).to_have_count(0)
    expect(page.get_by_test_id("whoami")).to_have_text(f"{agent} · Agent · Team A")


def test_admin_signs_in_and_opens_the_admin_site(page, live_server, admin_user):
    login(page, live_server, admin_user.username, TEST_PASSWORD)

    nav = page.get_by_role("navigation", name="Main")
    expect(nav.get_by_role("link", name="Home", exact=True)).to_be_visible()
    nav.get_by_role("link", name="Administration").click()

    expect(page).to_have_url(f"{live_server.url}/admin/")
    expect(page.locator("#site-name")).to_have_text("Collections administration")
    expect(page.get_by_role("heading", level=1, name="Configuration")).to_be_visible()


def test_agent_is_turned_away_from_the_admin_site(page, live_server, agent):
    login(page, live_server, agent.username, TEST_PASSWORD)

    response = page.goto(f"{live_server.url}/admin/")

    assert response.status == 403  # refused, not sent round to a login form they cannot use
    expect(page.locator("main")).to_contain_text("Only administrators may open the administration.")
    expect(page.get_by_role("heading", name="Configuration")).to_have_count(0)
