"""What every REST endpoint shares, whichever app serves it (the API, automation's nightly runs)."""

from datetime import UTC, datetime

from django.db import models
from django.utils import timezone
from rest_framework import serializers


class UtcDateTimeField(serializers.DateTimeField):
    """A stored time as the API returns it: ISO 8601 in UTC ("2026-06-03T07:00:00+00:00"), whoever asks.
    DRF would write it in the zone active for the request - the bank's for a token, the user's own for a
    browser session - so one program could read two offsets for the same instant."""

    def to_representation(self, value):
        if isinstance(value, datetime) and timezone.is_aware(value):
            return value.astimezone(UTC).isoformat()
        return super().to_representation(value)


class UtcModelSerializer(serializers.ModelSerializer):
    """The base of every model serializer of the API: stored times come out in UTC (UtcDateTimeField)."""

    serializer_field_mapping = {
        **serializers.ModelSerializer.serializer_field_mapping,
        models.DateTimeField: UtcDateTimeField,
    }
