"""Reminders planned, sent or suppressed on cases the caller may reach (recipient masked)."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema, extend_schema_view

from api import filters
from api import serializers as s
from api.views.base import ReadOnlyViewSet
from collections_app.access import visible_through_case
from messaging.models import OutboundMessage


@extend_schema_view(
    list=extend_schema(summary="Reminders planned, sent or suppressed on cases you may reach"),
    retrieve=extend_schema(summary="One outbound message"),
)
@extend_schema(tags=["work"])
class OutboundMessageViewSet(ReadOnlyViewSet):
    serializer_class = s.OutboundMessageSerializer
    filterset_class = filters.OutboundMessageFilter
    ordering_fields = ["id", "created_at"]

    def get_queryset(self):
        return visible_through_case(self.request.user, OutboundMessage.objects.all())
