"""The cardholder list serializes every row's contact points with one child serializer: the JSON is
the one a ContactPointSerializer(many=True) per cardholder gave, masked or revealed."""

import pytest
from rest_framework import serializers

from api import serializers as s
from collections_app.models import Cardholder
from tests.factories import CardholderFactory, ContactPointFactory

pytestmark = pytest.mark.django_db


def test_contact_points_are_the_same_json_as_a_serializer_per_row():
    holders = CardholderFactory.create_batch(3)
    for holder in holders:
        ContactPointFactory(cardholder=holder)
        ContactPointFactory(cardholder=holder, kind="email", value="li@example.com", is_primary=False)
    revealed_point = holders[1].contact_points.first()
    context = {"revealed": {"contact_points": {revealed_point.pk: revealed_point.value}}}
    rows = s.CardholderSerializer(Cardholder.objects.order_by("pk"), many=True, context=context).data

    for row, holder in zip(rows, Cardholder.objects.order_by("pk"), strict=True):
        points = holder.contact_points.filter(active=True).order_by("-is_primary", "pk")
        expected = s.ContactPointSerializer(points, many=True, context=context).data
        assert row["contact_points"] == expected
    assert [p["revealed"] for row in rows for p in row["contact_points"]].count(True) == 1
    assert any(p["value"] == revealed_point.value for p in rows[1]["contact_points"])
    assert all("****" in p["value"] or "*" in p["value"] for p in rows[0]["contact_points"])


def test_the_directly_written_contact_point_is_what_drf_writes_field_by_field():
    holder = CardholderFactory()
    points = [
        ContactPointFactory(cardholder=holder, label="mobile"),
        ContactPointFactory(cardholder=holder, kind="email", value="li@example.com", is_primary=False),
        ContactPointFactory(
            cardholder=holder, party_role="guarantor", party_name="Zhang Min", is_primary=False
        ),
    ]
    for context in ({}, {"revealed": {"contact_points": {points[2].pk: points[2].value}}}):
        serializer = s.ContactPointSerializer(context=context)
        for point in points:
            by_drf = dict(serializers.ModelSerializer.to_representation(serializer, point))
            assert serializer.to_representation(point) == by_drf
            assert list(serializer.to_representation(point)) == list(serializer.fields)


def test_the_directly_written_cardholder_is_what_drf_writes_field_by_field():
    holder = CardholderFactory(email="li@example.com", address="1 Nanjing Road", vulnerable=True)
    ContactPointFactory(cardholder=holder)
    for context in ({}, {"revealed": {"national_id": "110101199003074578", "email": "li@example.com"}}):
        serializer = s.CardholderSerializer(context=context)
        by_drf = dict(serializers.ModelSerializer.to_representation(serializer, holder))
        direct = serializer.to_representation(holder)
        assert direct == by_drf
        assert list(direct) == list(serializer.fields)
    assert s.CardholderSerializer(holder).data["email"] != "li@example.com"  # masked without a reveal
