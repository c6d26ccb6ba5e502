"""Payments on cases the caller may reach; admins and integrations record them (idempotent by the
payment's own reference)."""

from __future__ import annotations

from django.utils.translation import gettext as _
from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import mixins, status
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response

from api import filters, schema
from api import serializers as s
from api.permissions import IsAdministrator
from api.views.base import ReadOnlyViewSet, refusals, serialized_columns, valid_input
from collections_app import services
from collections_app.access import visible_through_case
from collections_app.models import CreditAccount, Payment
from core.exceptions import ValidationFailed


@extend_schema_view(
    list=extend_schema(summary="Payments on cases you may reach (all for admins)"),
    retrieve=extend_schema(summary="One payment"),
)
@extend_schema(tags=["payments"])
class PaymentViewSet(mixins.CreateModelMixin, ReadOnlyViewSet):
    serializer_class = s.PaymentSerializer
    filterset_class = filters.PaymentFilter
    ordering_fields = ["id", "paid_at"]

    def get_permissions(self):
        if self.action == "create":
            return [IsAuthenticated(), IsAdministrator()]
        return super().get_permissions()

    def get_queryset(self):
        queryset = Payment.objects.select_related("account").only(
            *serialized_columns(s.PaymentSerializer), "account__external_ref"
        )
        return visible_through_case(self.request.user, queryset)

    @extend_schema(
        request=s.PaymentInputSerializer,
        responses={
            201: OpenApiResponse(s.PaymentSerializer, description="Recorded now."),
            200: OpenApiResponse(s.PaymentSerializer, description="Already recorded: the original."),
            **refusals("409"),
        },
        examples=schema.PAYMENT_EXAMPLES,
        summary="Record a payment (idempotent by its reference; admins / integrations)",
        description="Posting the same payment again answers 200 with the payment first recorded; the same "
        "reference with other figures is 409 `payment_reference_reused`.",
    )
    def create(self, request, *args, **kwargs):
        data = valid_input(s.PaymentInputSerializer, request)
        account = CreditAccount.objects.filter(external_ref=data["account_ref"]).first()
        if account is None:
            raise ValidationFailed(
                _("No account has this reference."), field="account_ref", rule="unknown_account"
            )
        result = services.payment_record(
            account=account,
            external_ref=data["external_ref"],
            amount=data["amount"],
            paid_at=data["paid_at"],
            source=data["source"],
            currency=data["currency"],
            actor=request.user,
        )
        payment = Payment.objects.select_related("account").get(pk=result.payment.pk)
        return Response(
            s.PaymentSerializer(payment).data,
            status=status.HTTP_201_CREATED if result.created else status.HTTP_200_OK,
        )
