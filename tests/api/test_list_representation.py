"""API rows are written by a plan worked out once per serializer class (core.serializers); what it
writes must be exactly what DRF's own field-by-field path writes, for every list and a case."""

import pytest

import core.serializers
from api import serializers as s
from tests.api.test_query_budgets import portfolio  # noqa: F401 - the fixture

pytestmark = pytest.mark.django_db

PATHS = [
    "/api/v1/cases/",
    "/api/v1/cardholders/",
    "/api/v1/accounts/",
    "/api/v1/contacts/",
    "/api/v1/promises/",
    "/api/v1/payments/",
    "/api/v1/plans/",
    "/api/v1/queues/",
    "/api/v1/outbound-messages/",
    "/api/v1/me/",
]


@pytest.mark.parametrize("persona", ["agent", "admin"])
def test_every_list_writes_what_drf_writes(portfolio, clients, persona, monkeypatch):  # noqa: F811
    paths = [*PATHS, f"/api/v1/cases/{portfolio.pk}/", f"/api/v1/cases/{portfolio.pk}/timeline/"]
    planned = {path: clients[persona].get(path) for path in paths}
    monkeypatch.setattr(core.serializers, "_representation_of", lambda serializer_class: None)
    by_drf = {path: clients[persona].get(path) for path in paths}

    for path in paths:
        assert planned[path].status_code == by_drf[path].status_code == 200, path
        assert planned[path].content == by_drf[path].content, path
    assert len(planned["/api/v1/cases/"].json()["results"]) > 1


def test_a_case_row_and_its_nested_summaries_are_planned_without_drf_fields():
    plan = core.serializers._representation_of(s.CaseSerializer)

    kinds = {name: kind for kind, name, _detail, _field in plan.steps}
    assert kinds["account"] == kinds["cardholder"] == core.serializers._NESTED
    assert core.serializers._FIELD not in kinds.values()


def test_revealed_values_come_from_the_serializer_context():
    holder = s.CardholderSerializer.Meta.model(name="Wang Wei", national_id="110101199003074578")
    holder.active_contact_points = []

    masked = s.CardholderSerializer(holder).data
    revealed = s.CardholderSerializer(holder, context={"revealed": {"national_id": "shown"}}).data

    assert masked["national_id"] != "shown"
    assert revealed["national_id"] == "shown"
    assert revealed["revealed_fields"] == ["national_id"]
