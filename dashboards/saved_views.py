"""Saved views: a supervisor names the filters of a dashboard page ("M3 unassigned, Shanghai") and finds
them again in "My views". The rules live here; pages call these functions.

- a view belongs to one person: only its owner lists, opens from the list or deletes it;
- it is saved for one of SAVEABLE_PAGES, with the page's GET query (what the page would need to show the
  same list again; paging, sorting order kept, CSV export and CSRF left out);
- a name is unique per owner and page: saving under a name already used replaces that view's filter;
- at most MAX_VIEWS_PER_PAGE views per owner and page.
"""

from __future__ import annotations

from django.db import transaction
from django.db.models import QuerySet
from django.http import QueryDict
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from core.exceptions import NotAllowed, ValidationFailed
from dashboards.models import SavedView

# Page URL name -> its title in the list of views.
SAVEABLE_PAGES = {
    "dashboards:cases": gettext_lazy("Cases"),
    "dashboards:kpis": gettext_lazy("KPIs"),
}
MAX_VIEWS_PER_PAGE = 50
MAX_NAME = 100
MAX_QUERY = 2000
# Parameters that say where in a list one was or what to download, not what the list holds.
TRANSIENT_PARAMS = ("page", "export", "csrfmiddlewaretoken", "next")


def clean_query(query: str) -> str:
    """The GET query of a page, without the parameters that are not part of the view and empty values."""
    params = QueryDict(query or "", mutable=True)
    for name in TRANSIENT_PARAMS:
        params.pop(name, None)
    kept = QueryDict(mutable=True)
    for name in params:
        values = [v for v in params.getlist(name) if v != ""]
        if values:
            kept.setlist(name, values)
    return kept.urlencode()


def saved_views_for(owner, page: str) -> QuerySet[SavedView]:
    """The owner's views of one page, by name (nobody else's)."""
    if owner is None or not owner.is_authenticated:
        return SavedView.objects.none()
    return SavedView.objects.filter(owner=owner, page=page).order_by("name", "pk")


def saved_view_url(view: SavedView) -> str:
    query = view.query
    return reverse(view.page) + (f"?{query}" if query else "")


def saved_view_save(*, owner, page: str, name: str, query: str) -> tuple[SavedView, bool]:
    """Save the filter `query` of `page` under `name` for `owner`; a view of the same name on that page
    is replaced. Returns (view, created). Refused (ValidationFailed) for an unknown page, an empty or
    too long name, a too long filter, or more than MAX_VIEWS_PER_PAGE views."""
    if page not in SAVEABLE_PAGES:
        raise ValidationFailed(_("Views of that page cannot be saved."), field="page", rule="page_unknown")
    name = (name or "").strip()
    if not name:
        raise ValidationFailed(_("Give the view a name."), field="name", rule="name_required")
    if len(name) > MAX_NAME:
        raise ValidationFailed(
            _("A name is at most %(n)s characters long.") % {"n": MAX_NAME}, field="name", rule="name_long"
        )
    query = clean_query(query)
    if len(query) > MAX_QUERY:
        raise ValidationFailed(_("That filter is too long to save."), field="query", rule="query_long")
    with transaction.atomic():
        existing = SavedView.objects.select_for_update().filter(owner=owner, page=page, name=name).first()
        if existing is not None:
            existing.query = query
            existing.save(update_fields=["query"])
            return existing, False
        if SavedView.objects.filter(owner=owner, page=page).count() >= MAX_VIEWS_PER_PAGE:
            raise ValidationFailed(
                _("You have %(n)s saved views on this page; delete one first.") % {"n": MAX_VIEWS_PER_PAGE},
                rule="too_many_views",
            )
        return SavedView.objects.create(owner=owner, page=page, name=name, query=query), True


def saved_view_delete(*, owner, view_id: int) -> SavedView:
    """Delete one of the owner's views. Another person's view (or none) is refused the same way, so that
    IDs cannot be probed."""
    view = SavedView.objects.filter(pk=view_id, owner=owner).first() if owner.is_authenticated else None
    if view is None:
        raise NotAllowed(_("That is not one of your saved views."), rule="saved_view_owner")
    view.delete()
    return view


__all__ = [
    "MAX_VIEWS_PER_PAGE",
    "SAVEABLE_PAGES",
    "clean_query",
    "saved_view_delete",
    "saved_view_save",
    "saved_view_url",
    "saved_views_for",
]
