"""Reads compiled once and run many times: the hot reads of a page served for every case.

The ORM builds and compiles a queryset's SQL again at every call (for a case loaded with its account,
cardholder, queue, team, agents, hold and promise, a millisecond of Python spent hashing and resolving
expressions), and PostgreSQL plans the statement again at every run (two milliseconds for those nine
relations, ten times what running it takes). A `CompiledRead` builds its queryset once per key, with
`Param` placeholders where each call's values go, keeps the compiler (its SQL, its columns and how they
become model instances), and at each call binds the values, runs the statement and builds the instances
as iterating the queryset would - select_related and annotations included, converters applied (the
encrypted columns are decrypted as usual).

On PostgreSQL the statement is sent with server-side binding and prepared on the connection (psycopg's
`prepare=True`): from then on the connection plans it no more (PostgreSQL keeps a generic plan once it
costs no more than planning each time), for as long as the connection lives (DATABASE_CONN_MAX_AGE, or
the pool) - where the connection takes prepared statements (OPTIONS["prepare_threshold"], which
config.settings sets except behind PgBouncer in transaction mode: a prepared statement lives on one server
connection, and the next transaction may run on another). Elsewhere, and on SQLite, the statement is sent
as any other (still compiled once). Either way it goes through Django's cursor
wrappers: it is logged, counted by the query-count tests, and passes the execute wrappers.

Use it for model querysets (or a values_list() of fields) without prefetch_related, built from
Model.objects (not a related manager), whose SQL depends only on the key: every value that differs
between calls with the same key must be a `Param`. Not for a statement with parameters in GROUP BY
(server-side binding sends each occurrence as its own parameter, which PostgreSQL cannot match to the
select list).
"""

from __future__ import annotations

import copy
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import dataclass

from django.db import connections, router
from django.db.backends.postgresql.base import ServerBindingCursor
from django.db.backends.utils import CursorDebugWrapper, CursorWrapper
from django.db.models import Expression, IntegerField, Model, QuerySet
from django.db.models.query import ModelIterable, ValuesListIterable, get_related_populators


class Param(Expression):
    """A named parameter of a statement compiled once and run many times: it compiles to a placeholder,
    and its value is given at each run (by name)."""

    def __init__(self, name: str, output_field=None):
        super().__init__(output_field=output_field or IntegerField())
        self.name = name

    def as_sql(self, compiler, connection):
        return "%s", [self]


def bind(params, values: dict) -> tuple:
    """The statement's parameters with each `Param` replaced by its value in `values`."""
    return tuple(values[p.name] if isinstance(p, Param) else p for p in params)


@dataclass
class _Compiled:
    queried: type[Model]  # the queryset's model (the router's choice of database is asked for it)
    db: str
    sql: str | None  # None: the queryset is empty whatever the values (.none())
    params: tuple
    compiler: object = None
    converters: dict | None = None  # the compiler's, by column: decrypting, time zones, JSON
    model: type[Model] | None = None
    model_columns: slice | None = None
    init_list: list | None = None
    related_populators: list | None = None
    annotations: dict | None = None


class CompiledRead:
    """`read(key, **values)`: the rows of `build(key)` (a model queryset - or a values_list() of fields,
    read as tuples - with `Param`s in place of the values) for those values, compiled once per key (the
    last `keys` keys kept)."""

    def __init__(self, build: Callable[[Hashable], QuerySet], *, keys: int = 256):
        self._build = build
        self._keys = keys
        self._compiled: OrderedDict[Hashable, _Compiled] = OrderedDict()
        self._lock = threading.Lock()

    def __call__(self, key: Hashable, **values) -> list:
        compiled = self._get(key, None)
        # The database is the router's choice at each call (core.db_routing: a dashboard's reads may go
        # to the replica): compiled once per key and database.
        db = router.db_for_read(compiled.queried)
        if db != compiled.db:
            compiled = self._get(key, db)
        if compiled.sql is None:
            return []
        connection = connections[compiled.db]
        with _cursor(connection) as cursor:
            cursor.execute(compiled.sql, bind(compiled.params, values))
            rows = cursor.fetchall()
        compiler = copy.copy(compiled.compiler)
        compiler.connection = connection  # this thread's (the converters are given it)
        if compiler.has_extra_select:  # columns only ORDER BY needed
            rows = [row[: compiler.col_count] for row in rows]
        if compiled.converters:
            rows = compiler.apply_converters(rows, compiled.converters)
        if compiled.model is None:  # values_list()
            return [tuple(row) for row in rows]
        found = []
        for row in rows:
            obj = compiled.model.from_db(compiled.db, compiled.init_list, row[compiled.model_columns])
            for populator in compiled.related_populators:
                populator.populate(row, obj)
            for name, position in compiled.annotations.items():
                setattr(obj, name, row[position])
            found.append(obj)
        return found

    def _get(self, key: Hashable, db: str | None) -> _Compiled:
        """Compiled for `db` (None: the database the queryset reads when first built)."""
        with self._lock:
            compiled = self._compiled.get((key, db))
            if compiled is not None:
                self._compiled.move_to_end((key, db))
                return compiled
        queryset = self._build(key)
        compiled = _compile(queryset if db is None else queryset.using(db))
        with self._lock:
            self._compiled[(key, db)] = compiled
            while len(self._compiled) > self._keys:
                self._compiled.popitem(last=False)
        return compiled


def _compile(queryset: QuerySet) -> _Compiled:
    tuples = queryset._iterable_class is ValuesListIterable
    if not (queryset._iterable_class is ModelIterable or tuples) or queryset._prefetch_related_lookups:
        raise ValueError("CompiledRead reads model querysets and values_list(), without prefetch_related")
    if queryset._known_related_objects:
        raise ValueError("CompiledRead reads querysets built from Model.objects, not a related manager")
    if tuples and (queryset.query.extra_select or queryset.query.annotation_select):
        raise ValueError("CompiledRead reads values_list() of fields (annotations reorder the columns)")
    db = queryset.db
    if queryset.query.is_empty():
        return _Compiled(queryset.model, db, None, ())
    compiler = queryset.query.get_compiler(using=db)
    sql, params = compiler.as_sql()
    fields = [column[0] for column in compiler.select[: compiler.col_count]]
    if compiler.has_composite_fields(fields):
        raise ValueError("CompiledRead does not read composite primary keys")
    converters = compiler.get_converters(fields)
    if tuples:
        return _Compiled(queryset.model, db, sql, tuple(params), compiler, converters)
    klass_info, select = compiler.klass_info, compiler.select
    fields = klass_info["select_fields"]
    columns = slice(fields[0], fields[-1] + 1)
    return _Compiled(
        queried=queryset.model,
        db=db,
        sql=sql,
        params=tuple(params),
        compiler=compiler,
        converters=converters,
        model=klass_info["model"],
        model_columns=columns,
        init_list=[column[0].target.attname for column in select[columns]],
        related_populators=get_related_populators(klass_info, select, db),
        annotations=dict(compiler.annotation_col_map),
    )


def _prepares(connection) -> bool:
    """Whether the connection takes prepared statements: PostgreSQL with OPTIONS["prepare_threshold"]
    set (config.settings sets it unless DATABASE_PGBOUNCER)."""
    return connection.vendor == "postgresql" and connection.connection.prepare_threshold is not None


class PreparingCursor(ServerBindingCursor):
    """Binds parameters server-side and prepares each statement it runs on its connection."""

    def execute(self, query, params=None, *, prepare=None, binary=None):
        return super().execute(query, params, prepare=True, binary=binary)


def _cursor(connection):
    """A cursor of `connection` through Django's wrappers (logged, counted, execute wrappers applied):
    on PostgreSQL one that binds parameters server-side and prepares what it runs (where the connection
    takes prepared statements), else Django's own."""
    connection.ensure_connection()
    if not _prepares(connection):
        return connection.cursor()
    connection.validate_thread_sharing()
    raw = PreparingCursor(connection.connection)
    return _LoggedCursor(raw, connection) if connection.queries_logged else connection.make_cursor(raw)


class _LoggedCursor(CursorDebugWrapper):
    """Logs a statement with its values in, as Django logs its own (psycopg keeps no text of a statement
    bound server-side, where Django's logging looks for it)."""

    def execute(self, sql, params=None):
        with self.debug_sql(self.db.ops.compose_sql(sql, params)):
            return CursorWrapper.execute(self, sql, params)
