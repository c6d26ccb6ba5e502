"""Every page each role can open reads in Chinese when the user's language is zh-hans: no English word of
the UI's own vocabulary (the words of the catalogue's msgids) is left on it.

One demo portfolio (demo.seed, through the real services: promises, plans, refusals, escalation rules,
legal decisions) is seeded; then, for the agent, the supervisor, the legal reviewer and the admin, every
GET page of the URLconf without parameters (the Django admin: its index only; the API: not pages), and
a case page, a plan page, a legal case page, a queue page and a figure's drill-down list are opened in
Chromium with Accept-Language zh-CN. Pages a role may not use are opened too: their 403 must be Chinese
as well. What a person typed or imported (names, notes, references, amounts) is removed before looking
(tests/translations.py)."""

import re

import pytest
import time_machine
from django.db.models import Count
from django.urls import URLPattern, URLResolver, get_resolver

from accounts.models import User
from collections_app.access import cases_visible_to
from collections_app.models import Case, CaseState, Queue
from dashboards import kpis
from demo.seed import seed_portfolio
from repayment_plans.models import RepaymentPlan
from tests.browser.conftest import login
from tests.translations import data_values, english_words, strip_data, vocabulary

DEMO_PASSWORD = "demo-pass-2026"  # demo.seed's password for its users
ROLES = ["agent1", "supervisor1", "legal1", "admin"]

# Paths of the URLconf that are not pages to read: POST-only actions, the JSON API and its browsable
# docs (drf-spectacular's Swagger UI, a product of its own), and the admin beyond its index.
NOT_PAGES = re.compile(r"^(api/|accounts/(logout|language)/|admin/.+|work/next/)")


@pytest.fixture
def browser_locale() -> str:
    return "zh-CN"


def _paths_without_parameters() -> list[str]:
    """Every path of the URLconf that takes no parameter and is a page, e.g. /work/, /dashboards/kpis/."""

    def walk(patterns, prefix: str):
        for pattern in patterns:
            route = prefix + str(pattern.pattern)
            if isinstance(pattern, URLResolver):
                yield from walk(pattern.url_patterns, route)
            elif isinstance(pattern, URLPattern):
                yield route

    paths = []
    for route in walk(get_resolver().url_patterns, ""):
        if "<" in route or "(" in route or "^" in route or NOT_PAGES.match(route):
            continue
        paths.append("/" + route)
    return sorted(set(paths))


def _pages_for(user: User) -> list[str]:
    """The parameterless pages, plus one of each page about an object, picked among those this user may
    see when there is one (else any: the refusal must be Chinese too)."""
    visible = cases_visible_to(user, Case.objects.all())
    case = (visible or Case.objects.all()).annotate(n=Count("events")).order_by("-n", "pk").first()
    in_legal = Case.objects.filter(state__in=[CaseState.LEGAL_REVIEW, CaseState.LITIGATION])
    legal_case = (visible.filter(pk__in=in_legal) or in_legal).order_by("pk").first()
    plans = RepaymentPlan.objects.order_by("pk")
    plan = plans.filter(case__in=visible).first() or plans.first()
    queue = Queue.objects.order_by("pk").first()
    pages = _paths_without_parameters()
    pages += [f"/cases/{case.pk}/", f"/legal/cases/{legal_case.pk}/", f"/queues/{queue.pk}/"]
    pages += [f"/dashboards/kpis/{next(iter(kpis.MEASURES))}/"]  # a figure's drill-down list
    if plan is not None:
        pages += [f"/plans/{plan.pk}/", f"/plans/case/{plan.case_id}/"]
    return pages


def _offending_lines(text: str, words: set[str], data: set[str], vocab: set[str]) -> list[str]:
    lines = []
    for line in text.splitlines():
        if english_words(strip_data(line, data), vocab):
            lines.append(line.strip()[:160])
    return lines[:6]


def test_the_vocabulary_check_sees_english_ui_words():
    """The check below is not vacuous: English UI text is caught, Chinese text and data are not."""
    vocab = vocabulary()
    assert english_words("Next case", vocab) == {"Next", "case"}
    assert english_words(strip_data("下一个案件 · 案件 CASE-000123 · ¥1,200.00", set()), vocab) == set()
    assert english_words(strip_data("张伟 · Robert Brown", {"Robert Brown"}), vocab) == set()


# shipped_data: the rows data migrations ship (contact policies, approval limits, escalation rules) are
# restored first - an earlier transactional test's flush removed them, and without approval limits the
# demo history makes no plan.
@pytest.mark.django_db(transaction=True)
def test_every_page_of_every_role_reads_in_chinese(page, live_server, shipped_data):
    # The same portfolio every run: a fixed seed and a fixed (running) clock for the history.
    with time_machine.travel("2026-06-02 18:00 +0800", tick=True):
        summary = seed_portfolio(cardholders=40, seed=7, history_days=45)
    User.objects.update(language="zh-hans")
    vocab = vocabulary()
    data = data_values()
    # Demo plans and legal cases exist: the pages about them are checked, not skipped.
    assert RepaymentPlan.objects.exists(), summary
    assert Case.objects.filter(state__in=[CaseState.LEGAL_REVIEW, CaseState.LITIGATION]).exists(), summary

    failures, visited = [], 0
    for username in ROLES:
        user = User.objects.get(username=username)
        page.context.clear_cookies()
        login(page, live_server, username, DEMO_PASSWORD)
        for path in _pages_for(user):
            url = f"{live_server.url}{path}"
            if page.request.get(url).status == 405:  # an action that only takes POST: not a page
                continue
            response = page.goto(url)
            page.wait_for_load_state("networkidle")
            visited += 1
            assert page.locator("html").get_attribute("lang") == "zh-hans", f"{username} {path}"
            text = page.evaluate("document.body.innerText")
            words = english_words(strip_data(text, data), vocab)
            if words:
                lines = "\n      ".join(_offending_lines(text, words, data, vocab))
                failures.append(
                    f"{username} {path} ({response.status}): {', '.join(sorted(words))}\n      {lines}"
                )

    assert visited >= 4 * 15, f"only {visited} pages were opened: is the URLconf read?"
    assert not failures, "English UI words on zh-hans pages:\n" + "\n".join(failures)
