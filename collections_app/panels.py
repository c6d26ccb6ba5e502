"""Panels that apps above the case kernel add to the case page.

The kernel does not import the apps built on it (the layers in pyproject.toml), yet the case page shows
what they know about the case - repayment_plans the case's plan. Such an app registers a panel from its
AppConfig.ready(); the case page renders every registered panel, in the order registered, in its body
(so a panel is refreshed with the body after each action on the page).

A panel is a callable `(request, case) -> str` returning the panel's HTML, safe to insert (render it with
`render_to_string(..., request=request)`). It should load what it shows in a fixed number of queries: the
case page's query budget (tests/collections_app/test_workspace_views.py) counts them.
"""

from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest
from django.utils.safestring import SafeString

from collections_app.models import Case

CasePanel = Callable[[HttpRequest, Case], SafeString]

_panels: list[CasePanel] = []


def register_case_panel(panel: CasePanel) -> None:
    """Add a panel to the case page (called from AppConfig.ready(); registering twice adds it once)."""
    if panel not in _panels:
        _panels.append(panel)


def case_panels(request: HttpRequest, case: Case) -> list[SafeString]:
    """The HTML of every registered panel for `case`, in the order registered."""
    return [panel(request, case) for panel in _panels]
