"""What every REST endpoint shares, whichever app serves it (the API, automation's nightly runs)."""

from __future__ import annotations

from datetime import UTC, datetime

from django.core.exceptions import FieldDoesNotExist, ObjectDoesNotExist
from django.db import models
from django.utils import timezone
from rest_framework import relations, serializers
from rest_framework.fields import SkipField


class UtcDateTimeField(serializers.DateTimeField):
    """A stored time as the API returns it: ISO 8601 in UTC ("2026-06-03T07:00:00+00:00"), whoever asks.
    DRF would write it in the zone active for the request - the bank's for a token, the user's own for a
    browser session - so one program could read two offsets for the same instant."""

    def to_representation(self, value):
        if isinstance(value, datetime) and timezone.is_aware(value):
            return value.astimezone(UTC).isoformat()
        return super().to_representation(value)


# Fields whose output depends only on the value (not on the serializer they sit in, its context or
# the request): one instance of each can write every row of every request. Exact classes, not
# subclasses, so that a field overriding to_representation is never taken for one of these.
_VALUE_ONLY_FIELDS = {
    serializers.BigIntegerField,
    serializers.BooleanField,
    serializers.CharField,
    serializers.ChoiceField,
    serializers.DateField,
    serializers.DecimalField,
    serializers.EmailField,
    serializers.FloatField,
    serializers.IntegerField,
    serializers.IPAddressField,
    serializers.JSONField,
    serializers.ReadOnlyField,
    serializers.SlugField,
    serializers.URLField,
    serializers.UUIDField,
    UtcDateTimeField,
}
_PLAIN, _PK, _METHOD, _NESTED, _FIELD = range(5)


def _column_path(model, attrs: list[str], *, ends_in_relation: bool) -> bool:
    """Whether `attrs` walks forward relations to a stored column of `model` (or, with
    `ends_in_relation`, to a related row): plain attribute reads that can never be callables."""
    if not attrs:
        return False
    for position, attr in enumerate(attrs):
        try:
            field = model._meta.get_field(attr)
        except FieldDoesNotExist:
            return False
        last = position == len(attrs) - 1
        if not field.concrete or field.many_to_many or field.one_to_many:
            return False
        if field.is_relation:
            if last and not ends_in_relation:
                return False
            model = field.related_model
        elif not last or ends_in_relation:
            return False
    return True


class _Representation:
    """How a model serializer class writes a row, worked out once from its fields (DRF builds and
    deep-copies every field for every request, and walks each of them through several calls a value:
    on a 50-row list with nested summaries that was most of the request). The output is DRF's own:
    the same keys in the same order, each value written by the field DRF would use; anything this
    does not recognise (a custom field, a nested serializer that reads its context) is written by
    the serializer's own bound field, exactly as DRF does."""

    def __init__(self, serializer_class):
        self.model = serializer_class.Meta.model
        self.steps: list[tuple] = []
        for name, field in serializer_class().fields.items():
            if not field.write_only:
                self.steps.append(self._step(name, field))
        self.value_only = all(step[0] in (_PLAIN, _PK, _NESTED) for step in self.steps)

    def _step(self, name: str, field) -> tuple:
        kind = type(field)
        attrs = field.source_attrs
        if isinstance(field, serializers.SerializerMethodField):
            return (_METHOD, name, field.method_name, None)
        if kind in _VALUE_ONLY_FIELDS:
            path = attrs if _column_path(self.model, attrs, ends_in_relation=False) else None
            return (_PLAIN, name, path, field)
        if (
            kind is relations.PrimaryKeyRelatedField
            and field.pk_field is None
            and len(attrs) == 1
            and _column_path(self.model, attrs, ends_in_relation=True)
        ):
            return (_PK, name, self.model._meta.get_field(attrs[0]).attname, None)
        if isinstance(field, UtcModelSerializer) and _column_path(self.model, attrs, ends_in_relation=True):
            nested = _representation_of(type(field))
            if nested is not None and nested.value_only:
                return (_NESTED, name, attrs, (field, nested))
        return (_FIELD, name, None, None)

    @property
    def writes_values(self) -> bool:
        """Whether every value comes from a stored column (nested summaries included): then a list can
        read `.values(*values_paths())` and skip building model instances (`write_values`)."""
        return all(
            (kind == _PLAIN and detail is not None)
            or kind == _PK
            or (kind == _NESTED and field[1].writes_values)
            for kind, _name, detail, field in self.steps
        )

    def values_paths(self, prefix: str = "") -> list[str]:
        """The ORM paths `write_values` reads (a nested summary's primary key too: None means no row)."""
        paths: list[str] = []
        for kind, _name, detail, field in self.steps:
            if kind == _PLAIN:
                paths.append(prefix + "__".join(detail))
            elif kind == _PK:
                paths.append(prefix + detail)
            elif kind == _NESTED:
                nested = field[1]
                inner = prefix + "__".join(detail) + "__"
                paths.append(inner + nested.model._meta.pk.attname)
                paths.extend(nested.values_paths(inner))
        return list(dict.fromkeys(paths))

    def write_values(self, row: dict, prefix: str = "") -> dict:
        """A row from a `.values(*values_paths())` dict: the same output as `write` from an instance."""
        out = {}
        for kind, name, detail, field in self.steps:
            if kind == _PLAIN:
                value = row[prefix + "__".join(detail)]
                out[name] = None if value is None else field.to_representation(value)
            elif kind == _PK:
                out[name] = row[prefix + detail]
            else:
                nested = field[1]
                inner = prefix + "__".join(detail) + "__"
                present = row[inner + nested.model._meta.pk.attname] is not None
                out[name] = nested.write_values(row, inner) if present else None
        return out

    def write(self, serializer, instance) -> dict:
        row = {}
        for kind, name, detail, field in self.steps:
            if kind == _PK:
                row[name] = getattr(instance, detail)
                continue
            if kind == _METHOD:
                row[name] = getattr(serializer, detail)(instance)
                continue
            if kind == _FIELD:
                field = serializer.fields[name]
            try:
                if detail is None or kind == _FIELD:
                    raise LookupError
                value = instance
                for attr in detail:
                    value = getattr(value, attr)
            except (LookupError, AttributeError, ObjectDoesNotExist):
                try:  # DRF's own reading, with its defaults, nulls and skipped fields
                    value = (field[0] if kind == _NESTED else field).get_attribute(instance)
                except SkipField:
                    continue
            if kind == _FIELD and isinstance(value, relations.PKOnlyObject):
                row[name] = None if value.pk is None else field.to_representation(value)
            elif value is None:
                row[name] = None
            elif kind == _NESTED:
                nested_field, nested = field
                row[name] = (
                    nested.write(None, value)
                    if isinstance(value, nested.model)
                    else nested_field.to_representation(value)
                )
            else:
                row[name] = field.to_representation(value)
        return row


_representations: dict[type, _Representation | None] = {}


def _representation_of(serializer_class) -> _Representation | None:
    try:
        return _representations[serializer_class]
    except KeyError:
        pass
    representation = None
    # A serializer that builds its fields per instance (get_fields overridden) is left to DRF.
    if serializer_class.get_fields is serializers.ModelSerializer.get_fields:
        try:
            representation = _Representation(serializer_class)
        except Exception:  # noqa: BLE001 - cannot be worked out ahead (e.g. needs arguments): DRF's way
            representation = None
    _representations[serializer_class] = representation
    return representation


def values_representation(serializer_class) -> _Representation | None:
    """The plan of a serializer that can write rows from `.values()` dicts (`writes_values`), else
    None (a list then serializes model instances as usual)."""
    representation = _representation_of(serializer_class)
    if representation is None or not representation.writes_values:
        return None
    return representation


class UtcModelSerializer(serializers.ModelSerializer):
    """The base of every model serializer of the API: stored times come out in UTC (UtcDateTimeField),
    and rows are written by a plan worked out once per class (_Representation), not by fields built
    and deep-copied for every request."""

    serializer_field_mapping = {
        **serializers.ModelSerializer.serializer_field_mapping,
        models.DateTimeField: UtcDateTimeField,
    }

    def to_representation(self, instance):
        representation = _representation_of(type(self))
        if representation is None or not isinstance(instance, representation.model):
            return super().to_representation(instance)
        return representation.write(self, instance)
