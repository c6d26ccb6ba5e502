"""Reading the history of changes: one object's (the admin), a case's with its account, cardholder,
contact points, promises, payments and plans (the case page's Changes tab), and a search by actor,
period, kind of object and source (the supervisors' History page).

Each change is shown as a list of fields, old -> new: an update from the trigger's `pgh_diff`, a creation
from the row it created (old: nothing), a deletion from the row it removed (new: nothing). Personal fields
are masked (core.masking) wherever a change is shown."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db.models import CharField, DateTimeField, Model, QuerySet, Value
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from collections_app.models import Case
from core import crypto
from core.masking import (
    mask_address,
    mask_card_number,
    mask_contact_value,
    mask_email,
    mask_national_id,
    redact,
)
from history import models as events
from history.context import SOURCES
from history.tracking import TRACKED

EMPTY = "—"
LABELS = {"insert": _("Created"), "update": _("Changed"), "delete": _("Deleted")}
# Personal fields shown masked, by tracked model: column -> masker (row -> masked text).
_MASKED = {
    "Cardholder": {
        "national_id": lambda v, row: mask_national_id(v),
        "email": lambda v, row: mask_email(v),
        "address": lambda v, row: mask_address(v),
        "attorney_contact": lambda v, row: redact(v),
    },
    "ContactPoint": {"value": lambda v, row: mask_contact_value(row.get("kind", ""), v)},
    "CreditAccount": {"card_number": lambda v, row: mask_card_number(v)},
    "User": {"email": lambda v, row: mask_email(v)},
}
CASE_TAB_LIMIT = 100


@dataclass
class FieldChange:
    label: str
    old: str
    new: str


@dataclass
class Change:
    """One recorded change, ready to show."""

    id: str  # "<event model>:<pgh_id>", unique across the event tables
    at: datetime
    kind: str  # insert / update / delete
    object_label: str  # "case", "cardholder" ... (translated)
    object_id: int | str
    fields: list[FieldChange] = field(default_factory=list)
    actor: object | None = None  # the user, or None (the system / direct SQL)
    actor_id: int | None = None
    source: str = ""
    request_id: str = ""
    task: str = ""

    @property
    def kind_label(self):
        return LABELS.get(self.kind, self.kind)

    @property
    def source_label(self):
        return SOURCES.get(self.source, self.source or _("database"))


def _model_of(event_model) -> type[Model]:
    return event_model.pgh_tracked_model


def kind_choices() -> list[tuple[str, str]]:
    """The kinds of object tracked, for the search form: (event model name, the object's name)."""
    return [(ev.__name__, _model_of(ev)._meta.verbose_name) for ev in TRACKED.values()]


def _event_model_named(name: str):
    return next((ev for ev in TRACKED.values() if ev.__name__ == name), None)


def _text(model: type[Model], column: str, value, row: dict) -> str:
    if value is None or value == "":
        return EMPTY
    masker = _MASKED.get(model.__name__, {}).get(column)
    if masker:
        value = str(value)
        if crypto.is_token(value):  # an encrypted column's old or new value, as the trigger's diff keeps it
            value = crypto.decrypt(value, what=f"{model.__name__}.{column}")
        return masker(value, row)
    field_ = _field_by_column(model).get(column)
    if field_ is not None and field_.choices:
        return str(dict(field_.flatchoices).get(value, value))
    if isinstance(value, bool):
        return str(_("yes") if value else _("no"))
    if isinstance(field_, DateTimeField) and isinstance(value, str):
        value = parse_datetime(value) or value  # an update's old and new values come as JSON text
    if isinstance(value, datetime):
        return timezone.localtime(value).strftime("%Y-%m-%d %H:%M")
    if isinstance(value, list | dict):
        return ", ".join(map(str, value)) if isinstance(value, list) else str(value)
    return str(value)


def _field_by_column(model: type[Model]) -> dict:
    cache = getattr(model, "_history_columns", None)
    if cache is None:
        cache = {f.column: f for f in model._meta.concrete_fields}
        model._history_columns = cache
    return cache


def _label(model: type[Model], column: str) -> str:
    field_ = _field_by_column(model).get(column)
    # A field without a verbose_name of its own (Case.queue) is named after itself: translated here
    # when the catalogue has the word.
    return gettext(str(field_.verbose_name)) if field_ is not None else column


def _row(event, event_model) -> dict:
    """The stored row of an insert or delete event, by column."""
    model = _model_of(event_model)
    tracked = set(_field_by_column(model))
    return {
        f.column: getattr(event, f.attname)
        for f in event_model._meta.concrete_fields
        if f.column in tracked and not f.name.startswith("pgh_")
    }


def _field_changes(event, event_model) -> list[FieldChange]:
    model = _model_of(event_model)
    if event.pgh_label == "update":
        diff = event.pgh_diff or {}
        row = {column: pair[1] for column, pair in diff.items()}
        if "kind" not in row and model.__name__ == "ContactPoint":
            row["kind"] = getattr(event, "kind", "")
        return [
            FieldChange(_label(model, column), _text(model, column, old, row), _text(model, column, new, row))
            for column, (old, new) in diff.items()
        ]
    row = _row(event, event_model)
    pk_column = model._meta.pk.column
    shown = [(c, v) for c, v in row.items() if c != pk_column and v not in (None, "")]
    if event.pgh_label == "insert":
        return [FieldChange(_label(model, c), EMPTY, _text(model, c, v, row)) for c, v in shown]
    return [FieldChange(_label(model, c), _text(model, c, v, row), EMPTY) for c, v in shown]


def _change(event, event_model) -> Change:
    metadata = (event.pgh_context.metadata if event.pgh_context_id and event.pgh_context else None) or {}
    return Change(
        id=f"{event_model.__name__}:{event.pgh_id}",
        at=event.pgh_created_at,
        kind=event.pgh_label,
        object_label=_model_of(event_model)._meta.verbose_name,
        object_id=event.pgh_obj_id,
        fields=_field_changes(event, event_model),
        actor_id=metadata.get("user"),
        source=metadata.get("source", ""),
        request_id=metadata.get("request_id", ""),
        task=metadata.get("task") or metadata.get("command") or "",
    )


def _with_actors(changes: list[Change]) -> list[Change]:
    """Attach the acting users (one query)."""
    ids = {c.actor_id for c in changes if c.actor_id}
    users = get_user_model().objects.in_bulk(ids) if ids else {}
    for c in changes:
        c.actor = users.get(c.actor_id)
    return changes


def object_changes(obj: Model, *, limit: int = 500) -> list[Change]:
    """Every recorded change of one object, newest first (2 queries)."""
    return object_changes_by_pk(type(obj), obj.pk, limit=limit)


def object_changes_by_pk(model: type[Model], pk, *, limit: int = 500) -> list[Change]:
    event_model = TRACKED[model._meta.concrete_model]
    try:
        pk = model._meta.pk.to_python(pk)
    except ValidationError:
        return []
    rows = event_model.objects.filter(pgh_obj_id=pk).select_related("pgh_context").order_by("-pgh_id")
    return _with_actors([_change(e, event_model) for e in rows[:limit]])


def _newest(queryset: QuerySet, limit: int) -> list:
    return list(queryset.select_related("pgh_context").order_by("-pgh_created_at", "-pgh_id")[:limit])


def case_changes(case: Case, *, limit: int = CASE_TAB_LIMIT) -> tuple[list[Change], bool]:
    """The changes of a case, its account, its cardholder and contact points, its promises and plans and
    the account's payments, newest first; at most `limit`, and whether there are more. 8 queries: one per
    event table (each by an indexed column, deleted rows included) and the actors."""
    account_id, holder_id = case.account_id, case.account.cardholder_id
    sources = [
        (events.CaseChange, events.CaseChange.objects.filter(pgh_obj_id=case.pk)),
        (events.CreditAccountChange, events.CreditAccountChange.objects.filter(pgh_obj_id=account_id)),
        (events.CardholderChange, events.CardholderChange.objects.filter(pgh_obj_id=holder_id)),
        (events.ContactPointChange, events.ContactPointChange.objects.filter(cardholder_id=holder_id)),
        (events.PromiseChange, events.PromiseChange.objects.filter(case_id=case.pk)),
        (events.PaymentChange, events.PaymentChange.objects.filter(account_id=account_id)),
        (events.RepaymentPlanChange, events.RepaymentPlanChange.objects.filter(case_id=case.pk)),
    ]
    changes = [_change(e, ev) for ev, qs in sources for e in _newest(qs, limit + 1)]
    changes.sort(key=lambda c: (c.at, c.id), reverse=True)
    return _with_actors(changes[:limit]), len(changes) > limit


@dataclass(frozen=True)
class Search:
    actor: int | None = None
    date_from: date | None = None
    date_to: date | None = None
    kind: str = ""
    source: str = ""


def _day_start(day: date) -> datetime:
    return timezone.make_aware(datetime.combine(day, time.min))


def search_changes(search: Search) -> QuerySet:
    """The recorded changes matching `search`, newest first, as one UNION ALL over the event tables
    (rows of dicts; `changes_for_rows` turns a page of them into Changes). Each table is filtered on its
    own, by its indexed time and its context."""
    chosen = [_event_model_named(search.kind)] if search.kind else list(TRACKED.values())
    parts = []
    for event_model in filter(None, chosen):
        qs = event_model.objects.all()
        if search.actor:
            qs = qs.filter(pgh_context__metadata__user=search.actor)
        if search.source:
            qs = qs.filter(pgh_context__metadata__source=search.source)
        if search.date_from:
            qs = qs.filter(pgh_created_at__gte=_day_start(search.date_from))
        if search.date_to:
            qs = qs.filter(pgh_created_at__lt=_day_start(search.date_to + timedelta(days=1)))
        parts.append(
            qs.annotate(event_model=Value(event_model.__name__, output_field=CharField())).values(
                "event_model", "pgh_id", "pgh_created_at"
            )
        )
    if not parts:
        return events.CaseChange.objects.none().values("pgh_id")
    union = parts[0].union(*parts[1:], all=True) if len(parts) > 1 else parts[0]
    return union.order_by("-pgh_created_at", "-pgh_id")


def changes_for_rows(rows) -> list[Change]:
    """Load the events of a page of search rows (one query per event table on the page, and the
    actors), in the rows' order."""
    by_model: dict[str, list[int]] = {}
    for row in rows:
        by_model.setdefault(row["event_model"], []).append(row["pgh_id"])
    loaded = {}
    for name, ids in by_model.items():
        event_model = _event_model_named(name)
        for e in event_model.objects.filter(pgh_id__in=ids).select_related("pgh_context"):
            loaded[(name, e.pgh_id)] = _change(e, event_model)
    return _with_actors(
        [loaded[(r["event_model"], r["pgh_id"])] for r in rows if (r["event_model"], r["pgh_id"]) in loaded]
    )
