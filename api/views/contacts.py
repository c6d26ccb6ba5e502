"""Contact attempts on cases the caller may reach (logging one is a case action)."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema, extend_schema_view

from api import filters
from api import serializers as s
from api.views.base import ReadOnlyViewSet, serialized_columns
from collections_app.access import visible_through_case
from collections_app.models import ContactAttempt


@extend_schema_view(
    list=extend_schema(summary="Contact attempts on cases you may reach"),
    retrieve=extend_schema(summary="One contact attempt"),
)
@extend_schema(tags=["work"])
class ContactAttemptViewSet(ReadOnlyViewSet):
    serializer_class = s.ContactAttemptSerializer
    filterset_class = filters.ContactAttemptFilter
    ordering_fields = ["id", "started_at"]

    def get_queryset(self):
        queryset = ContactAttempt.objects.select_related("contact_point").only(
            *serialized_columns(s.ContactAttemptSerializer), "contact_point__kind", "contact_point__value"
        )
        return visible_through_case(self.request.user, queryset)
