"""Cardholders and accounts: those with at least one case the caller may reach (personal data masked)."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema, extend_schema_view

from api import filters
from api import serializers as s
from api.views.base import ReadOnlyViewSet, serialized_columns
from collections_app.access import with_visible_case
from collections_app.models import Cardholder, CreditAccount


@extend_schema_view(
    list=extend_schema(summary="Cardholders with a case you may reach (personal data masked)"),
    retrieve=extend_schema(summary="One cardholder (masked; reveal through a case)"),
)
@extend_schema(tags=["portfolio"])
class CardholderViewSet(ReadOnlyViewSet):
    serializer_class = s.CardholderSerializer
    filterset_class = filters.CardholderFilter
    search_fields = ["=external_ref", "name"]

    def get_queryset(self):
        queryset = Cardholder.objects.all()  # contact points: CardholderListSerializer, one query
        return with_visible_case(self.request.user, queryset, case_link="account__cardholder")


@extend_schema_view(
    list=extend_schema(summary="Accounts with a case you may reach"),
    retrieve=extend_schema(summary="One account"),
)
@extend_schema(tags=["portfolio"])
class AccountViewSet(ReadOnlyViewSet):
    serializer_class = s.AccountSerializer
    filterset_class = filters.AccountFilter
    search_fields = ["=external_ref", "=cardholder__external_ref"]
    ordering_fields = ["id", "days_past_due"]

    def get_queryset(self):
        queryset = CreditAccount.objects.select_related("cardholder").only(
            *serialized_columns(s.AccountSerializer), "card_last4", "cardholder__external_ref"
        )
        return with_visible_case(self.request.user, queryset, case_link="account")
