"""The web baselines, served beside the project's URLs (demo.bench.urls) through the same middleware:
a bare DRF ListAPIView with cursor pagination per API list (the same table, the same columns the project's
list returns, no filters, no nesting), and a trivial Django view for the pages."""

from __future__ import annotations

from django.apps import apps
from django.contrib.auth.decorators import login_required
from django.http import HttpResponse
from rest_framework import generics, serializers
from rest_framework.pagination import CursorPagination

# API list name (its URL under /api/v1/) -> the model it lists.
API_LISTS = {
    "cardholders": "collections_app.Cardholder",
    "accounts": "collections_app.CreditAccount",
    "cases": "collections_app.Case",
    "promises": "collections_app.PromiseToPay",
    "payments": "collections_app.Payment",
    "contacts": "collections_app.ContactAttempt",
}


class BarePagination(CursorPagination):
    page_size = 50
    ordering = "-id"


def bare_list_view(model_label: str, fields: list[str]):
    """A ListAPIView over the model's table with a plain ModelSerializer of `fields` (model columns)."""
    model = apps.get_model(model_label)
    meta = type("Meta", (), {"model": model, "fields": fields or ["id"]})
    serializer = type(f"Bare{model.__name__}Serializer", (serializers.ModelSerializer,), {"Meta": meta})
    return generics.ListAPIView.as_view(
        queryset=model.objects.all(), serializer_class=serializer, pagination_class=BarePagination
    )


# Set by demo.bench.web before the first request (`serve_columns`): the columns each project list returns.
_views: dict[str, object] = {}


def serve_columns(name: str, fields: list[str]) -> None:
    _views[name] = bare_list_view(API_LISTS[name], fields)


def bare_list(request, name: str):
    if name not in _views:
        serve_columns(name, ["id"])
    return _views[name](request)


@login_required
def trivial(request):
    return HttpResponse("ok")
