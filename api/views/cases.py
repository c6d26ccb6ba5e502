"""Cases the caller may reach: the list, one case (masked; `?reveal=` unmasks through the logged
reveal service) with its ETag, and its timeline."""

from __future__ import annotations

from django.utils.translation import gettext as _
from django_filters.rest_framework import DjangoFilterBackend
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import generics
from rest_framework.response import Response

from api import filters
from api import serializers as s
from api.pagination import TimelinePagination
from api.views.base import (
    ACCESS_REASON_PARAMETERS,
    ApiMixin,
    ReadOnlyViewSet,
    api_access_reason,
    quoted_etag,
    serialized_columns,
)
from collections_app import selectors, services
from collections_app.access import cases_visible_to, get_case_for_user
from collections_app.models import AccessKind, AccessSource, Case, CaseEvent, ContactPoint
from core.exceptions import ValidationFailed
from core.serializers import values_representation

REVEAL_TOKENS = {"national_id", "email", "address", "phones", "contact_points", "card_number"}


def _reveal_request(request) -> set[str]:
    raw = request.query_params.get("reveal", "")
    wanted = {token.strip() for token in raw.split(",") if token.strip()}
    unknown = wanted - REVEAL_TOKENS
    if unknown:
        raise ValidationFailed(
            _("Cannot reveal %(fields)s; choose from %(choices)s.")
            % {"fields": ", ".join(sorted(unknown)), "choices": ", ".join(sorted(REVEAL_TOKENS))},
            field="reveal",
            rule="reveal_fields",
        )
    return wanted


@extend_schema_view(
    list=extend_schema(summary="Cases you may reach, with filters, search and ordering"),
)
@extend_schema(tags=["cases"])
class CaseViewSet(ReadOnlyViewSet):
    serializer_class = s.CaseSerializer
    filterset_class = filters.CaseFilter
    search_fields = [
        "=reference",
        "=account__external_ref",
        "=account__cardholder__external_ref",
        "account__cardholder__name",
    ]
    ordering_fields = ["id", "priority", "opened_at"]

    def list(self, request, *args, **kwargs):
        # The page is read as plain rows of the columns the serializer writes (one joined query, no model
        # instance per case, account, cardholder and queue) and written by the serializer's own plan:
        # the same JSON as serializing instances (a test compares the two).
        plan = values_representation(s.CaseSerializer)
        if plan is None:
            return super().list(request, *args, **kwargs)
        queryset = self.filter_queryset(self.get_queryset())
        page = self.paginate_queryset(queryset.values(*plan.values_paths()))
        return self.get_paginated_response([plan.write_values(row) for row in page])

    def get_queryset(self):
        queryset = Case.objects.select_related("account__cardholder", "queue").only(
            *serialized_columns(s.CaseSerializer),
            *serialized_columns(s.AccountSummarySerializer, "account__"),
            "account__cardholder",
            *serialized_columns(s.CardholderSummarySerializer, "account__cardholder__"),
            "queue__name",
        )
        return cases_visible_to(self.request.user, queryset)

    @extend_schema(
        summary="One case (masked; `?reveal=` unmasks and logs the reveal)",
        parameters=[
            OpenApiParameter(
                "reveal",
                str,
                description="Comma-separated: national_id, email, address, phones, card_number. "
                "Each revealed value is written on the case timeline (pii_reveal) and recorded as a "
                "look with its reason (`reason`, required). Agents must hold the case (lease or "
                "assignment); supervisors, legal and admins on cases they reach.",
            ),
            *ACCESS_REASON_PARAMETERS,
        ],
        responses={200: OpenApiResponse(s.CaseDetailSerializer, description="ETag: the case version.")},
    )
    def retrieve(self, request, *args, **kwargs):
        case = selectors.case_for_page(request.user, int(kwargs["pk"]))  # with its hold and promise
        wanted = _reveal_request(request)
        holder = case.account.cardholder
        holder.active_contact_points = list(
            ContactPoint.objects.filter(cardholder=holder, active=True).order_by("-is_primary", "pk")
        )
        revealed = self._reveal(request, case, wanted)
        active_hold, pending_promise = selectors.case_hold_and_promise(case)
        context = {
            "revealed": revealed,
            "active_hold": active_hold,
            "pending_promise": pending_promise,
            "available_transitions": services.available_transitions(case, request.user),
        }
        response = Response(s.CaseDetailSerializer(case, context=context).data)
        response["ETag"] = quoted_etag(case.version)
        return response

    @staticmethod
    def _reveal(request, case: Case, wanted: set[str]) -> dict:
        """Every unmasked value goes through services.pii_reveal, which checks the role and writes the
        PII_REVEAL event: reading it here is logged exactly like the Reveal button on the page."""
        holder = case.account.cardholder
        revealed: dict = {}
        if not wanted:
            return revealed
        # Unmasked data is asked for: without a reason code, a 400 and nothing revealed.
        look = {
            "reason": api_access_reason(request),
            "kind": AccessKind.API_READ,
            "source": AccessSource.API,
            "request_id": services.request_id_of(request),
        }
        for field in ("national_id", "email", "address"):
            if field in wanted and getattr(holder, field):
                revealed[field] = services.pii_reveal(
                    case_id=case.pk, actor=request.user, field=field, **look
                )
        if "card_number" in wanted and case.account.card_last4:
            revealed["card_number"] = services.pii_reveal(
                case_id=case.pk, actor=request.user, field="card_number", **look
            )
        if wanted & {"phones", "contact_points"}:
            revealed["contact_points"] = {
                point.pk: services.pii_reveal(
                    case_id=case.pk, actor=request.user, field="phone", contact_point_id=point.pk, **look
                )
                for point in holder.active_contact_points
            }
        return revealed


@extend_schema(tags=["cases"])
class CaseTimelineView(ApiMixin, generics.ListAPIView):
    serializer_class = s.CaseEventSerializer
    pagination_class = TimelinePagination
    filter_backends = [DjangoFilterBackend]
    filterset_class = filters.EventFilter

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):  # schema generation: no request user
            return CaseEvent.objects.none()
        case = get_case_for_user(self.request.user, self.kwargs["case_id"])
        return CaseEvent.objects.filter(case=case).select_related("actor")

    @extend_schema(summary="The case timeline, newest first")
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)
