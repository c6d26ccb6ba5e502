"""Promises to pay on cases the caller may reach (recording one is a case action)."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema, extend_schema_view

from api import filters
from api import serializers as s
from api.views.base import ReadOnlyViewSet
from collections_app.access import visible_through_case
from collections_app.models import PromiseToPay


@extend_schema_view(
    list=extend_schema(summary="Promises to pay on cases you may reach"),
    retrieve=extend_schema(summary="One promise"),
)
@extend_schema(tags=["work"])
class PromiseViewSet(ReadOnlyViewSet):
    serializer_class = s.PromiseSerializer
    filterset_class = filters.PromiseFilter

    def get_queryset(self):
        return visible_through_case(self.request.user, PromiseToPay.objects.all())
