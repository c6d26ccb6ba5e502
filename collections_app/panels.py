"""Panels that apps above the case kernel add to the case page.

The kernel does not import the apps built on it (the layers in pyproject.toml), yet the case page shows
what they know about the case - repayment_plans the case's plan. Such an app registers a panel from its
AppConfig.ready(); the case page renders every registered panel, in the order registered, in its body
(so a panel is refreshed with the body after each action on the page).

A panel is a callable `(request, case) -> str` returning the panel's HTML, safe to insert (render it with
`render_to_string(..., request=request)`). Its place is "body" (below the tabs: the plan) or "actions"
(the page's action bar: a button that loads its own fragment, e.g. Call or Send message). It should load
what it shows in a fixed number of queries - an action none at all: the case page's query budget
(tests/collections_app/test_case_page_queries.py) counts them.

The Documents tab lists what the apps above the kernel hold about the case (the plan agreements, the
legal package, letters): each registers a documents source, `(request, case) -> list[CaseDocument]`,
read only when the tab is opened.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from django.http import HttpRequest
from django.utils.safestring import SafeString

from collections_app.models import Case

CasePanel = Callable[[HttpRequest, Case], SafeString]
PLACES = ("body", "actions")

_panels: dict[str, list[CasePanel]] = {place: [] for place in PLACES}


def register_case_panel(panel: CasePanel, *, place: str = "body") -> None:
    """Add a panel to the case page (called from AppConfig.ready(); registering twice adds it once)."""
    if place not in PLACES:
        raise ValueError(f"unknown case page place {place!r}; one of {PLACES}")
    if panel not in _panels[place]:
        _panels[place].append(panel)


def case_panels(request: HttpRequest, case: Case, place: str = "body") -> list[SafeString]:
    """The HTML of every panel registered for `place` on `case`, in the order registered."""
    return [panel(request, case) for panel in _panels[place]]


@dataclass(frozen=True)
class CaseDocument:
    title: str
    url: str
    kind: str  # what it is, translated: "Repayment agreement", "Letter", "Legal package"
    at: datetime | None = None


DocumentSource = Callable[[HttpRequest, Case], list[CaseDocument]]

_document_sources: list[DocumentSource] = []


def register_case_documents(source: DocumentSource) -> None:
    """Add a source of documents to the case's Documents tab (from AppConfig.ready())."""
    if source not in _document_sources:
        _document_sources.append(source)


def case_documents(request: HttpRequest, case: Case) -> list[CaseDocument]:
    """Every registered source's documents for `case`, newest first (undated last)."""
    documents = [doc for source in _document_sources for doc in source(request, case)]
    dated = sorted((d for d in documents if d.at), key=lambda d: d.at, reverse=True)
    return dated + [d for d in documents if not d.at]


@dataclass(frozen=True)
class CaseTab:
    """A tab of the case record that an app above the kernel adds: its label, and the name of the URL
    (taking the case's id) that serves its content - loaded only when the tab is first opened, so that the
    case page itself costs no query for it."""

    key: str  # the tab's id on the page: tab-<key>, panel-<key>
    label: str
    url_name: str


_case_tabs: list[CaseTab] = []


def register_case_tab(key: str, label: str, url_name: str) -> None:
    """Add a lazy-loaded tab to the case record (from AppConfig.ready(); registering twice adds it once)."""
    tab = CaseTab(key=key, label=label, url_name=url_name)
    if all(t.key != key for t in _case_tabs):
        _case_tabs.append(tab)


def case_tabs() -> list[CaseTab]:
    """The registered tabs, in the order registered."""
    return list(_case_tabs)
