"""The navigation bar: each entry is shown to the roles holding its capability."""

from dataclasses import dataclass

from django.urls import reverse
from django.utils.translation import gettext_lazy as _

from accounts.permissions import Capability, capabilities_of


@dataclass(frozen=True)
class NavItem:
    label: str
    url_name: str
    capability: Capability | None  # None: every signed-in user


NAV_ITEMS: list[NavItem] = [
    NavItem(_("Home"), "home", None),
    NavItem(_("My work"), "my_work", Capability.WORK_CASES),
    NavItem(_("Agenda"), "agenda", Capability.WORK_CASES),
    NavItem(_("Legal review"), "legal:queue", Capability.LEGAL_REVIEW),
    NavItem(_("Dashboards"), "dashboards:home", Capability.SUPERVISE),
    NavItem(_("Cases"), "dashboards:cases", Capability.SUPERVISE),
    NavItem(_("Legal dashboard"), "dashboards:legal", Capability.LEGAL_REVIEW),
    NavItem(_("Search"), "search", None),
    NavItem(_("Plan approvals"), "plans:approvals", Capability.APPROVE_PLANS),
    NavItem(_("Approvals"), "authority:inbox", Capability.APPROVE_REQUESTS),
    NavItem(_("Automation"), "automation_runs", Capability.SUPERVISE),
    NavItem(_("History of changes"), "history:search", Capability.SUPERVISE),
    NavItem(_("Privacy"), "privacy:home", Capability.SUPERVISE),
    NavItem(_("Legal holds"), "privacy:holds", Capability.LEGAL_REVIEW),
    NavItem(_("API"), "api:docs", Capability.ADMINISTER),
    NavItem(_("Administration"), "admin:index", Capability.ADMINISTER),
]


def navigation_for(user) -> list[dict]:
    if not user.is_authenticated:
        return []
    caps = capabilities_of(user)
    return [
        {"label": item.label, "url": reverse(item.url_name), "url_name": item.url_name}
        for item in NAV_ITEMS
        if item.capability is None or item.capability in caps
    ]
