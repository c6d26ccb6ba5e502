"""The nightly run records over the REST API: GET /api/v1/nightly-runs/ (supervisors and admins),
read-only, each run with its steps.

Automation's own endpoint, mounted by config/urls.py (automation.api_urls) in front of the API's, so
that automation and api - siblings on the top layer - never import each other. It is plain DRF:
authentication, pagination and the error envelope come from REST_FRAMEWORK in the settings, like the
API's; the role rule from accounts.permissions. Run records hold no personal data, so every supervisor
sees every run (as on the automation pages).
"""

from __future__ import annotations

from datetime import date

import django_filters as filters
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db.models import Prefetch
from django_filters.rest_framework import DjangoFilterBackend
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import mixins, serializers, viewsets
from rest_framework.filters import OrderingFilter
from rest_framework.permissions import IsAuthenticated
from rest_framework.renderers import JSONRenderer
from rest_framework.throttling import UserRateThrottle

from accounts.permissions import Capability, HasCapability
from automation.models import NightlyRun, NightlyStep, RunStatus
from core.serializers import UtcModelSerializer

# The dates the API accepts (a date filter outside them is refused, not looked up).
EARLIEST = date(2000, 1, 1)
LATEST = date(2100, 12, 31)


class NightlyStepSerializer(UtcModelSerializer):
    duration_seconds = serializers.FloatField(allow_null=True, read_only=True)

    class Meta:
        model = NightlyStep
        fields = [
            "name",
            "position",
            "status",
            "started_at",
            "finished_at",
            "duration_seconds",
            "counts",
            "note",
            "error",
        ]


class NightlyRunSerializer(UtcModelSerializer):
    duration_seconds = serializers.FloatField(allow_null=True, read_only=True)
    steps = NightlyStepSerializer(many=True, read_only=True)

    class Meta:
        model = NightlyRun
        fields = [
            "id",
            "run_date",
            "status",
            "trigger",
            "owner",
            "started_at",
            "finished_at",
            "heartbeat_at",
            "duration_seconds",
            "error",
            "steps",
        ]


class NightlyRunFilter(filters.FilterSet):
    run_date = filters.DateFilter(
        validators=[MinValueValidator(EARLIEST), MaxValueValidator(LATEST)],
        help_text=f"The business date ({EARLIEST} to {LATEST}).",
    )
    status = filters.MultipleChoiceFilter(choices=RunStatus.choices)

    class Meta:
        model = NightlyRun
        fields = []


@extend_schema_view(
    list=extend_schema(summary="Nightly run records (supervisors, admins)"),
    retrieve=extend_schema(summary="One nightly run, with its steps"),
)
@extend_schema(tags=["configuration"])
class NightlyRunViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    serializer_class = NightlyRunSerializer
    filterset_class = NightlyRunFilter
    permission_classes = [IsAuthenticated, HasCapability.of(Capability.SUPERVISE)]
    throttle_classes = [UserRateThrottle]  # the API's "user" rate and counter
    renderer_classes = [JSONRenderer]
    filter_backends = [DjangoFilterBackend, OrderingFilter]
    ordering_fields = ["id", "started_at"]
    ordering = ("-id",)
    lookup_value_regex = r"[0-9]{1,18}"
    queryset = NightlyRun.objects.prefetch_related(
        Prefetch("steps", queryset=NightlyStep.objects.order_by("position"))
    )
