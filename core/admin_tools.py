"""Pieces shared by the admin pages of every app."""

from django.contrib import admin
from django.core.paginator import Paginator
from django.db import connection
from django.utils.functional import cached_property


class ReadOnlyAdmin(admin.ModelAdmin):
    """For records that only services write (the history of a case): view, filter, search - no edits.
    Corrections are new records made through the service, never edits here."""

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


class LargeTablePaginator(Paginator):
    """COUNT(*) over tens of millions of contacts or events takes seconds. Unfiltered, the page count
    comes from PostgreSQL's row estimate (kept by autovacuum); filtered, it is counted."""

    ESTIMATE_ABOVE = 100_000

    @cached_property
    def count(self) -> int:
        queryset = self.object_list
        if connection.vendor == "postgresql" and not queryset.query.where:
            with connection.cursor() as cursor:
                cursor.execute(
                    "SELECT reltuples::bigint FROM pg_class WHERE oid = %s::regclass",
                    [queryset.model._meta.db_table],
                )
                row = cursor.fetchone()
            if row and row[0] > self.ESTIMATE_ABOVE:
                return int(row[0])
        return super().count
