"""Escalation rules, read-only for admins, with a dry-run preview of what a rule would do now."""

from __future__ import annotations

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework.decorators import action
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response

from api import filters
from api import serializers as s
from api.permissions import IsAdministrator
from api.views.base import ReadOnlyViewSet
from escalation import services as escalation
from escalation.models import EscalationRule


@extend_schema_view(
    list=extend_schema(summary="Escalation rules (admins)"),
    retrieve=extend_schema(summary="One escalation rule"),
)
@extend_schema(tags=["configuration"])
class EscalationRuleViewSet(ReadOnlyViewSet):
    """Read-only: admins edit rules in the admin pages, where a change makes a new version."""

    serializer_class = s.EscalationRuleSerializer
    filterset_class = filters.EscalationRuleFilter
    permission_classes = [IsAuthenticated, IsAdministrator]
    search_fields = ["name"]
    ordering_fields = ["id", "order"]
    queryset = EscalationRule.objects.all()

    @extend_schema(
        summary="What the rule would do if it ran now (nothing is written)",
        filters=False,
        parameters=[OpenApiParameter("as_of", OpenApiTypes.DATE, description="Default: today.")],
        responses=s.RulePreviewSerializer,
    )
    @action(detail=True, methods=["get"], filter_backends=[], pagination_class=None)
    def preview(self, request, pk=None):
        rule = self.get_object()
        as_of = None
        if "as_of" in request.query_params:
            as_of = s.BoundedDateField().run_validation(request.query_params["as_of"])
        return Response(s.RulePreviewSerializer(escalation.rule_preview(rule, as_of=as_of)).data)
