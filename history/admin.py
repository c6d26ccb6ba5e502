"""The admin's History button of every tracked model shows the history of changes of the object (old ->
new values, actor, time, source, request id), above the admin's own log of its actions."""

from __future__ import annotations

from functools import wraps

from django.contrib import admin

from history import selectors
from history.tracking import TRACKED

OBJECT_HISTORY_TEMPLATE = "history/admin_object_history.html"


def _with_changes(model_admin: admin.ModelAdmin):
    original = model_admin.history_view

    @wraps(original)
    def history_view(request, object_id, extra_context=None):
        changes = selectors.object_changes_by_pk(model_admin.model, object_id)
        return original(request, object_id, extra_context={**(extra_context or {}), "changes": changes})

    return history_view


def add_history_of_changes(site: admin.AdminSite | None = None) -> None:
    """Point the History page of each tracked model's admin at its history of changes (from
    HistoryConfig.ready(), after the admins are registered)."""
    site = site or admin.site
    for model in TRACKED:
        model_admin = site._registry.get(model)
        if model_admin is None or getattr(model_admin, "_history_of_changes", False):
            continue
        model_admin.object_history_template = OBJECT_HISTORY_TEMPLATE
        model_admin.history_view = _with_changes(model_admin)
        model_admin._history_of_changes = True
