"""An axe-core scan (axe-playwright-python) of every main page, as each role sees it on a seeded demo
portfolio: no violation of impact "serious" or "critical" (contrast, names and labels, landmarks, ARIA).

axe is injected with Playwright's `page.evaluate`, which runs in the page's main world through the
DevTools protocol and is not subject to the Content-Security-Policy; the pages are scanned under the
real policy (no bypass_csp). Moderate and minor findings are printed, not failed.

Personas: the demo's `agent1` (casework of their team), `supervisor1` (dashboards, KPIs, team, plan
approvals), `legal1` (legal queue and cases) and `admin` (the Django admin); signed out: the login page.
"""

import pytest
import time_machine
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import Page

from accounts.models import User
from collections_app.access import cases_visible_to
from collections_app.models import Case, CaseState, Queue
from dashboards import kpis
from demo.seed import seed_portfolio
from repayment_plans.models import RepaymentPlan
from tests.browser.conftest import login

DEMO_PASSWORD = "demo-pass-2026"  # demo.seed's password for its users
FAILING_IMPACTS = {"serious", "critical"}


def _scan(page: Page, label: str) -> tuple[list[str], list[str]]:
    """Runs axe on the page as it is now: (serious or critical findings, the others), one line each."""
    results = Axe().run(page)
    failing, other = [], []
    duplicates = page.evaluate(DUPLICATE_IDS)
    if duplicates:
        failing.append(f"{label}: duplicate ids (serious): {', '.join(duplicates)}")
    for violation in results.response["violations"]:
        targets = "; ".join(", ".join(map(str, node["target"])) for node in violation["nodes"][:5])
        line = f"{label}: {violation['id']} ({violation['impact']}) {violation['help']} - {targets}"
        (failing if violation["impact"] in FAILING_IMPACTS else other).append(line)
    return failing, other


# axe 4.7+ no longer reports duplicate ids by themselves; a label or aria-labelledby pointing at a
# duplicated id names the wrong control, so they are looked for here.
DUPLICATE_IDS = """() => {
  const seen = new Map();
  document.querySelectorAll("[id]").forEach((node) => seen.set(node.id, (seen.get(node.id) || 0) + 1));
  return [...seen].filter(([, count]) => count > 1).map(([id, count]) => `${id} x${count}`);
}"""


def _visit(page: Page, url: str) -> None:
    response = page.goto(url)
    assert response is not None and response.status == 200, f"{url}: {response and response.status}"
    page.wait_for_load_state("networkidle")


def _pages_by_role() -> dict[str, list[str]]:
    agent = User.objects.get(username="agent1")
    mine = cases_visible_to(agent, Case.objects.filter(queue__isnull=False)).order_by("pk")
    case = mine.filter(state__in=[CaseState.NEW, CaseState.IN_PROGRESS]).first() or mine.first()
    queue = Queue.objects.filter(pk=case.queue_id).get()
    in_legal = Case.objects.filter(state__in=[CaseState.LEGAL_REVIEW, CaseState.LITIGATION])
    legal_case = in_legal.order_by("pk").first()
    plan = RepaymentPlan.objects.order_by("pk")[0]  # the admin sees every plan
    return {
        "agent1": [
            "/work/",
            f"/queues/{queue.pk}/",
            f"/cases/{case.pk}/",
            f"/search/?q={case.reference}",
            f"/plans/case/{case.pk}/propose/",
            "/accounts/settings/",
            "/agenda/",
            f"/cases/{case.pk}/history/",
            f"/cases/{case.pk}/documents/",
            f"/messaging/cases/{case.pk}/send/",
            f"/telephony/cases/{case.pk}/dial/",
        ],
        "supervisor1": [
            "/dashboards/",
            "/dashboards/kpis/",
            f"/dashboards/kpis/{next(iter(kpis.MEASURES))}/",
            "/plans/approvals/",
            "/dashboards/team/",
            "/dashboards/cases/",
            "/automation/runs/",
        ],
        "legal1": ["/legal/", f"/legal/cases/{legal_case.pk}/", "/dashboards/legal/"],
        "admin": [
            "/admin/",
            "/admin/collections_app/case/",
            "/admin/contact_policy/callscript/",
            f"/admin/collections_app/case/{case.pk}/change/",
            f"/plans/{plan.pk}/",
        ],
    }


# shipped_data: the contact policies, approval limits and escalation rules the demo history needs, back
# after an earlier transactional test's flush.
@pytest.mark.django_db(transaction=True)
def test_no_serious_or_critical_violation_on_any_main_page(page, live_server, shipped_data):
    with time_machine.travel("2026-06-02 18:00 +0800", tick=True):
        seed_portfolio(cardholders=30, seed=7, history_days=30)
    pages = _pages_by_role()

    failing, other = [], []

    def scan(label: str) -> None:
        bad, minor = _scan(page, label)
        failing.extend(bad)
        other.extend(minor)

    _visit(page, f"{live_server.url}/accounts/login/")
    scan("anonymous /accounts/login/")
    scanned = 1
    # The scan is not vacuous: a field without a label and a repeated id, put on the page, are reported.
    page.evaluate(
        "document.querySelector('main').insertAdjacentHTML('beforeend', '<select id=q></select><b id=q></b>')"
    )
    planted, _ = _scan(page, "planted")
    assert any(" select-name (critical)" in line for line in planted), planted
    assert any("duplicate ids (serious): q x2" in line for line in planted), planted
    for username, paths in pages.items():
        page.context.clear_cookies()
        login(page, live_server, username, DEMO_PASSWORD)
        for path in paths:
            _visit(page, f"{live_server.url}{path}")
            scan(f"{username} {path}")
            scanned += 1
        if username == "agent1":
            # The keyboard shortcuts' overlay, open over the case page.
            _visit(page, f"{live_server.url}{paths[2]}")
            page.keyboard.press("?")
            page.locator("dialog[data-shortcuts-help][open]").wait_for()
            scan(f"{username} {paths[2]} with the shortcuts overlay open")
            scanned += 1
            # The case page with an action's drawer open (the contact form with its call script), and the
            # Payments and promises tab loaded.
            _visit(page, f"{live_server.url}{paths[2]}")
            page.wait_for_load_state("networkidle")
            page.keyboard.press("c")
            page.locator("#drawer-contact.open [name=disclosures]").first.wait_for()
            page.locator("#tab-history").click()
            page.get_by_test_id("case-history").wait_for()
            scan(f"{username} {paths[2]} with the contact drawer and the history tab open")
            scanned += 1

    # With the login page, the overlay and the open drawer.
    assert scanned == 3 + sum(map(len, pages.values()))
    print("\n".join(["moderate or minor findings:", *other]) if other else "no other finding")
    assert not failing, "serious or critical accessibility violations:\n" + "\n".join(failing)
