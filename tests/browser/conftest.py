"""Browser tests: Playwright driving Debian's Chromium against pytest-django's live server.

Every test under tests/browser is marked `browser` (`pytest -m "not browser"` leaves them out). Without
/usr/bin/chromium they are skipped with the reason, except on CI (CI=true), where they must run: there
a missing browser fails every one of them. `.ci/run` installs the package.
"""

import os
import re
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

# Playwright's sync API runs an asyncio event loop in this thread, and Django refuses ORM calls from a
# thread with a running loop. The test code is synchronous, so the check is a false alarm here.
# It has to be set before the first test builds its data, and stays for the session: the browser does.
os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",  # containers and CI runners give no user namespaces for the sandbox
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
HERE = Path(__file__).resolve().parent
ON_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}
MISSING_CHROMIUM = f"no Chromium at {CHROMIUM} (apt-get install chromium)"
SHOTS_DIR = Path("/tmp/shots")  # noqa: S108 - screenshots for a person to look at; nothing reads them back


def chromium_available() -> bool:
    return CHROMIUM.is_file() and os.access(CHROMIUM, os.X_OK)


def pytest_collection_modifyitems(config, items):
    # This hook sees every collected item, not only this directory's.
    skip = (
        None
        if ON_CI or chromium_available()
        else pytest.mark.skip(reason=f"browser test, and {MISSING_CHROMIUM}")
    )
    for item in items:
        if item.path.is_relative_to(HERE):
            item.add_marker(pytest.mark.browser)
            if skip:
                item.add_marker(skip)


@pytest.fixture(scope="session")
def browser() -> Browser:
    if not chromium_available():
        pytest.fail(f"CI: browser tests must run here, but there is {MISSING_CHROMIUM}", pytrace=False)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def browser_locale() -> str:
    """The browser's language (its Accept-Language). Override with
    `@pytest.mark.parametrize("browser_locale", ["zh-CN"])`."""
    return "en-US"


@pytest.fixture
def page(browser, browser_locale, live_server) -> Page:
    """A fresh browser context per test: no cookies or session carried over from another test."""
    context = browser.new_context(locale=browser_locale, viewport={"width": 1280, "height": 800})
    context.set_default_timeout(10_000)
    page = context.new_page()
    yield page
    context.close()


def login(page: Page, live_server, username: str, password: str) -> None:
    """Signs in through the login form and waits until the app has let the user in."""
    page.goto(f"{live_server.url}/accounts/login/")
    page.locator("#id_username").fill(username)
    page.locator("#id_password").fill(password)
    page.locator("main form button[type=submit]").click()
    expect(page, "the login form accepted the credentials").not_to_have_url(re.compile(r"/accounts/login/"))


def screenshot(page: Page, name: str) -> Path:
    """Saves a full-page screenshot under /tmp/shots for a person to look at; asserts nothing."""
    SHOTS_DIR.mkdir(parents=True, exist_ok=True)
    path = SHOTS_DIR / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def open_action(page: Page, action: str) -> None:
    """Open an action's drawer on the case page from its button in the action bar (static/js/case_page.js),
    as an agent clicking it would."""
    page.locator(f".action-bar [data-drawer-open='drawer-{action}']").click()
    expect(page.locator(f"#drawer-{action}")).to_be_visible()
