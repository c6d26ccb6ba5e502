"""Maker-checker: asking for a write-off on a case, and the requests the caller reaches (awaiting their
decision, or their own) with approve / reject / withdraw - each one call to authority.services."""

from __future__ import annotations

from django.shortcuts import get_object_or_404
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import status
from rest_framework.response import Response

from api import serializers as s
from api.idempotency import idempotent
from api.views.base import IDEMPOTENCY_KEY, ApiView, CaseActionView, ReadOnlyViewSet, refusals, valid_input
from authority import services as authority
from authority.models import ActionKind


@extend_schema_view(
    list=extend_schema(
        summary="Authority requests you reach",
        parameters=[
            OpenApiParameter(
                "awaiting", bool, description="Only those waiting for your decision (`awaiting=1`)."
            )
        ],
    ),
    retrieve=extend_schema(summary="One authority request, with its decisions"),
)
@extend_schema(tags=["authority"])
class AuthorityRequestViewSet(ReadOnlyViewSet):
    serializer_class = s.AuthorityRequestSerializer

    def get_queryset(self):
        if self.request.query_params.get("awaiting") in ("1", "true"):
            return authority.requests_awaiting(self.request.user)
        return authority.requests_visible_to(self.request.user)


def _body(request_id: int, user) -> dict:
    found = authority.requests_visible_to(user).filter(pk=request_id).first()
    return s.AuthorityRequestSerializer(found).data if found else {"id": request_id}


@extend_schema(tags=["authority"])
class WriteOffRequestView(CaseActionView):
    @extend_schema(
        request=s.WriteOffRequestInputSerializer,
        responses={201: s.AuthorityRequestSerializer, **refusals("403", "409")},
        parameters=[IDEMPOTENCY_KEY],
        summary="Ask for a write-off of the case's balance (approved by others)",
        description="The request goes to the lowest role whose limit covers the balance; above a limit "
        "it needs two different approvers. Nobody approves their own request.",
    )
    @idempotent
    def post(self, request, case_id: int):
        self.load(request, case_id)
        data = valid_input(s.WriteOffRequestInputSerializer, request)
        made = authority.request_create(
            case_id=case_id,
            actor=request.user,
            kind=ActionKind.WRITE_OFF,
            reason=data["reason"],
            resolution_reason=data["resolution_reason"],
        )
        return self.answer(_body(made.pk, request.user), case_id=case_id, status_code=status.HTTP_201_CREATED)


class AuthorityActionView(ApiView):
    """POST /authority-requests/{id}/<action>/: 404 unless the caller reaches the request."""

    operation = None

    @idempotent
    def post(self, request, request_id: int):
        get_object_or_404(authority.requests_visible_to(request.user), pk=request_id)
        data = valid_input(s.AuthorityReasonInputSerializer, request)
        type(self).operation(request_id=request_id, actor=request.user, reason=data["reason"])
        return Response(_body(request_id, request.user))


def _action_schema(summary: str):
    return extend_schema(
        tags=["authority"],
        request=s.AuthorityReasonInputSerializer,
        responses={200: s.AuthorityRequestSerializer, **refusals("403", "409")},
        parameters=[IDEMPOTENCY_KEY],
        summary=summary,
    )


@_action_schema("Approve a request (with a reason); the last approval needed applies it")
class AuthorityApproveView(AuthorityActionView):
    operation = authority.request_approve


@_action_schema("Reject a request (with a reason)")
class AuthorityRejectView(AuthorityActionView):
    operation = authority.request_reject


@_action_schema("Withdraw your own pending request (with a reason)")
class AuthorityCancelView(AuthorityActionView):
    operation = authority.request_cancel
