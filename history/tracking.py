"""How a change is recorded: a PostgreSQL trigger per tracked table (django-pghistory) writes one event row
per insert, update and delete, whatever wrote it - a page, the API, the admin, a job, the shell or a
statement typed into psql. The application cannot forget to record a change it cannot see.

Each event row holds the row's values after the change (before it, for a delete) and, for an update,
`pgh_diff`: {column: [old, new]} for the columns the update changed, computed by the trigger from OLD and
NEW - so the old value is known even for a row that existed before tracking began. Columns listed in
`exclude` are neither stored nor compared: an update that changes only them (a nightly recompute of a
derived column, a password hash) writes no event at all.

The triggers are installed by `migrate` (PGTRIGGER_INSTALL_ON_MIGRATE, settings) rather than by
migrations in the tracked apps: the apps below `history` stay unaware that they are tracked.
"""

from __future__ import annotations

import pghistory
import pghistory.trigger
import pgtrigger
from django.db import models
from django.utils.translation import gettext_lazy as _
from pghistory.models import Event

# The event models by tracked model, in the order declared (history.models fills it).
TRACKED: dict[type[models.Model], type[models.Model]] = {}


class ChangeEvent(Event):
    """The base of every event model: pghistory's columns (pgh_id, pgh_created_at, pgh_label, pgh_obj,
    pgh_context) plus the update's old and new values."""

    pgh_diff = models.JSONField(_("changed values"), null=True)

    class Meta:
        abstract = True


class _EventWithDiff(pghistory.trigger.Event):
    """pghistory's row trigger, extended to store {column: [old, new]} of the changed tracked columns in
    `pgh_diff` on an update (NULL on insert and delete, where the stored row says it all)."""

    def get_func(self, model):
        func = super().get_func(model)
        if self.operation != pgtrigger.Update or self.level == pgtrigger.Statement:
            return func
        # Column names of our own models (not input): the trigger's SQL is built from them.
        columns = ", ".join(f"'{column}'" for column in _tracked_columns(self.event_model))
        diff = (
            "(SELECT jsonb_object_agg(n.key, jsonb_build_array(o.value, n.value)) "  # noqa: S608
            "FROM jsonb_each(to_jsonb(NEW)) n JOIN jsonb_each(to_jsonb(OLD)) o ON o.key = n.key "
            f"WHERE n.key IN ({columns}) AND n.value IS DISTINCT FROM o.value)"
        )
        table = self.event_model._meta.db_table
        sql = func.func
        head = f'INSERT INTO "{table}" ('
        if head not in sql or ") VALUES (" not in sql:  # pragma: no cover - a pghistory upgrade changed it
            raise RuntimeError(f"history: unexpected pghistory trigger body for {table}")
        sql = sql.replace(head, head + '"pgh_diff", ', 1).replace(") VALUES (", f") VALUES ({diff}, ", 1)
        return pgtrigger.Func(sql)


class UpdateWithDiff(pghistory.UpdateEvent):
    def add_event_trigger(self, event_model):
        pgtrigger.register(
            _EventWithDiff(
                event_model=event_model,
                label=self.label,
                name=self.trigger_name,
                row=self.row,
                operation=self.operation,
                condition=self.condition,
                level=self.level,
            )
        )(event_model.pgh_tracked_model)


def _tracked_columns(event_model) -> list[str]:
    tracked = {f.name for f in event_model.pgh_tracked_model._meta.concrete_fields}
    return [
        f.column
        for f in event_model._meta.concrete_fields
        if f.name in tracked and not f.name.startswith("pgh_")
    ]


def track_changes(
    model: type[models.Model],
    name: str,
    *,
    exclude: tuple[str, ...] = (),
    indexed: tuple[str, ...] = (),
) -> type[models.Model]:
    """Create the event model `name` (in this app) recording every insert, update and delete of `model`,
    except the columns in `exclude`. Indexes: the tracked object and the context (pghistory's), the time
    (the search's period and order), and the columns in `indexed` (the case tab finds a case's promises,
    payments, plans and contact points by them, deleted ones included)."""
    table = f"history_{name.lower()}"
    event_model = pghistory.create_event_model(
        model,
        pghistory.InsertEvent(),
        UpdateWithDiff(),
        pghistory.DeleteEvent(),
        exclude=list(exclude),
        obj_field=pghistory.ObjForeignKey(related_name="+", db_index=True),
        context_field=pghistory.ContextForeignKey(db_index=True),
        model_name=name,
        app_label="history",
        base_model=ChangeEvent,
        abstract=False,
        meta={
            "db_table": table,
            "indexes": [models.Index(fields=["pgh_created_at"], name=f"{table[:20]}_at")]
            + [models.Index(fields=[f], name=f"{table[:20]}_{f[:8]}") for f in indexed],
        },
    )
    TRACKED[model] = event_model
    return event_model
