"""Renders the main pages of every role, in English and Chinese, into
docs/screenshots/<lang>/<role>-<page>.png.

Self-contained (`make screenshots`): a throwaway SQLite database in a temporary directory, migrated and
filled by `seed_demo`, served by `runserver` on a free port, and Debian's Chromium driven by Playwright.
Nothing of the developer's own database, Redis or var/ is touched. The server is stopped at the end, also
when something fails.
"""

import os
import shutil
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

from playwright.sync_api import Page, sync_playwright

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "docs" / "screenshots"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
PASSWORD = "demo-pass-2026"  # noqa: S105 - demo.seed's password for every demo user
LANGUAGES = ["en", "zh-hans"]
WIDTH = 1440
MAX_HEIGHT = 2400  # long pages are cut here, except the ones in FULL_LENGTH
FULL_LENGTH = {"case", "kpis"}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def child_env(tmp: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.pop("REDIS_URL", None)
    env.update(
        DATABASE_URL=f"sqlite:///{tmp / 'shots.sqlite3'}",
        COLLECTIONS_VAR_DIR=str(tmp / "var"),
        DJANGO_DEBUG="1",
        DJANGO_REQUIRE_2FA="0",
    )
    return env


def manage(env: dict[str, str], *args: str) -> None:
    """Runs a management command quietly; its output is shown only when it fails."""
    done = subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True
    )
    if done.returncode:
        sys.stderr.write(done.stdout + done.stderr)
        raise RuntimeError(f"manage.py {' '.join(args)} exited with {done.returncode}")


def wait_until_up(url: str, server: subprocess.Popen, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"runserver exited with {server.returncode}")
        try:
            urllib.request.urlopen(f"{url}/accounts/login/", timeout=2)  # noqa: S310 - our own local server
            return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            time.sleep(0.3)
    raise RuntimeError(f"runserver did not answer at {url} within {timeout:.0f} s")


def shoot(page: Page, lang: str, role: str, name: str) -> None:
    page.wait_for_load_state("networkidle")
    page.evaluate("window.scrollTo(0, 0)")  # a header that stays in view is drawn where it was scrolled to
    path = OUT / lang / f"{role}-{name}.png"
    path.parent.mkdir(parents=True, exist_ok=True)
    height = page.evaluate("document.documentElement.scrollHeight")
    if name in FULL_LENGTH or height <= MAX_HEIGHT:
        page.screenshot(path=str(path), full_page=True)
    else:
        page.screenshot(
            path=str(path), full_page=True, clip={"x": 0, "y": 0, "width": WIDTH, "height": MAX_HEIGHT}
        )
    print(f"  {path.relative_to(ROOT)}")


def visit(page: Page, url: str) -> None:
    response = page.goto(url)
    if response is None or response.status != 200:
        raise RuntimeError(f"{url}: HTTP {response and response.status}")


def log_in(page: Page, base: str, username: str) -> None:
    visit(page, f"{base}/accounts/login/")
    page.locator("#id_username").fill(username)
    page.locator("#id_password").fill(PASSWORD)
    with page.expect_navigation():
        page.locator("main form button[type=submit]").click()
    if "/accounts/login/" in page.url:
        raise RuntimeError(f"could not sign in as {username}")


def switch_language(page: Page, base: str, lang: str) -> None:
    """The app's own language switch (on every page but the Django admin's): it saves the choice on the
    user, which wins over the browser's."""
    visit(page, f"{base}/accounts/settings/")
    if page.locator("#language-select").input_value() == lang:
        return
    with page.expect_navigation():
        page.locator("#language-select").select_option(lang)


def first_href(page: Page, selector: str) -> str:
    href = page.locator(selector).first.get_attribute("href")
    if not href:
        raise RuntimeError(f"no link {selector} on {page.url}")
    return href


def agent_pages(page: Page, base: str, lang: str, db: Path) -> None:
    visit(page, f"{base}/work/")
    shoot(page, lang, "agent", "my-work")
    visit(page, base + first_href(page, 'main a[href^="/queues/"]'))
    case_href = first_href(page, 'main a[href^="/cases/"]')
    visit(page, base + case_href)
    shoot(page, lang, "agent", "case")
    page.wait_for_load_state("networkidle")
    page.keyboard.press("c")  # the contact drawer, with the call script
    page.locator("#drawer-contact.open [name=disclosures]").first.wait_for()
    shoot(page, lang, "agent", "case-contact")
    page.keyboard.press("Escape")
    page.keyboard.press("Escape")
    page.keyboard.press("m")  # the send-message drawer
    page.get_by_test_id("send-message").wait_for()
    page.wait_for_load_state("networkidle")
    shoot(page, lang, "agent", "case-send")
    visit(page, f"{base}/agenda/")
    shoot(page, lang, "agent", "agenda")
    case_id = int(case_href.strip("/").split("/")[-1])
    with sqlite3.connect(db) as conn:
        (reference,) = conn.execute(
            "SELECT reference FROM collections_app_case WHERE id = ?", (case_id,)
        ).fetchone()
    visit(page, f"{base}/search/?q={reference}")
    shoot(page, lang, "agent", "search")


def supervisor_pages(page: Page, base: str, lang: str, db: Path) -> None:
    for path, name in [
        ("/dashboards/", "dashboard"),
        ("/dashboards/kpis/", "kpis"),
        ("/plans/approvals/", "approvals"),
        ("/dashboards/team/", "team"),
        ("/dashboards/cases/", "cases"),
    ]:
        visit(page, f"{base}{path}")
        shoot(page, lang, "supervisor", name)


def legal_pages(page: Page, base: str, lang: str, db: Path) -> None:
    visit(page, f"{base}/legal/")
    shoot(page, lang, "legal", "queue")
    visit(page, base + first_href(page, 'main a[href^="/legal/cases/"]'))
    shoot(page, lang, "legal", "case")


def admin_pages(page: Page, base: str, lang: str, db: Path) -> None:
    visit(page, f"{base}/admin/")
    shoot(page, lang, "admin", "index")
    visit(page, f"{base}/admin/escalation/escalationrule/")
    visit(page, base + first_href(page, '#result_list a[href*="/change/"]'))
    shoot(page, lang, "admin", "escalation-rule")


ROLES = [
    ("agent1", agent_pages),
    ("supervisor1", supervisor_pages),
    ("legal1", legal_pages),
    ("admin", admin_pages),
]


def main() -> int:
    started = time.monotonic()
    tmp = Path(tempfile.mkdtemp(prefix="screenshots-"))
    env = child_env(tmp)
    db = tmp / "shots.sqlite3"
    server = None
    try:
        print("Migrating and seeding a throwaway database ...")
        manage(env, "migrate", "--no-input")
        manage(env, "seed_demo", "--cardholders", "200")
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        server = subprocess.Popen(
            [sys.executable, "manage.py", "runserver", f"127.0.0.1:{port}", "--noreload"],
            cwd=ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_until_up(base, server)
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
            try:
                for username, pages in ROLES:
                    context = browser.new_context(locale="en-US", viewport={"width": WIDTH, "height": 900})
                    context.set_default_timeout(20_000)
                    page = context.new_page()
                    log_in(page, base, username)
                    for lang in LANGUAGES:
                        switch_language(page, base, lang)
                        pages(page, base, lang, db)
                    context.close()
            finally:
                browser.close()
    finally:
        if server is not None:
            server.terminate()
            try:
                server.wait(timeout=10)
            except subprocess.TimeoutExpired:
                server.kill()
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"Done in {time.monotonic() - started:.0f} s: {OUT.relative_to(ROOT)}/")
    return 0


if __name__ == "__main__":
    sys.exit(main())
