"""Queues of the caller's team (all for admins), read-only: admins edit them in the admin pages."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema, extend_schema_view

from api import serializers as s
from api.views.base import ReadOnlyViewSet
from collections_app.access import queues_visible_to


@extend_schema_view(
    list=extend_schema(summary="Queues of your team (all for admins)"),
    retrieve=extend_schema(summary="One queue"),
)
@extend_schema(tags=["configuration"])
class QueueViewSet(ReadOnlyViewSet):
    serializer_class = s.QueueSerializer
    search_fields = ["name"]
    ordering_fields = ["id", "order"]

    def get_queryset(self):
        return queues_visible_to(self.request.user)
