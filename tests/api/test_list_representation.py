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


def test_the_case_list_read_as_rows_is_what_serializing_the_cases_gives(portfolio, clients):  # noqa: F811
    from collections_app.models import Case

    Case.objects.filter(pk=portfolio.pk).update(queue=None)  # a case outside every queue: queue_name null
    for query in ("", "?ordering=priority&page_size=3", "?ordering=-opened_at&page_size=2"):
        response = clients["admin"].get(f"/api/v1/cases/{query}")
        rows = response.json()["results"]
        by_id = {c.pk: c for c in Case.objects.filter(pk__in=[row["id"] for row in rows])}
        expected = s.CaseSerializer([by_id[row["id"]] for row in rows], many=True).data

        assert rows and rows == [dict(row) for row in expected], query
        following = response.json()["next"]
        if following:
            assert clients["admin"].get(following).status_code == 200
    assert any(row["queue_name"] is None for row in clients["admin"].get("/api/v1/cases/").json()["results"])
