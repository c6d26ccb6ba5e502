"""Monthly partitions of the two tables that grow with every contact: contact attempts (by `started_at`)
and case events (by `created_at`), PostgreSQL range partitions of one calendar month each (UTC), plus a
DEFAULT partition for any row outside them.

Why: at ten million attempts a month's dashboards, the per-person caps and the case timeline read one or
two recent months; with a partition per month PostgreSQL prunes the others, the indexes of a month stay
small enough to live in memory, and an old month can later be detached and archived whole.

What stays the same for the application: the models keep `id` as their primary key (the sequence makes it
unique); in the database the primary key is `(id, <month column>)`, because PostgreSQL requires a
partitioned table's unique keys to contain the partition key. So no other table can have a database
foreign key to these two: the columns that point at them (Promise.contact_attempt,
ContactAttempt.corrects, telephony's Call.attempt, the dashboards' InboxClosure.event) are
`db_constraint=False`. Django still applies their `on_delete` (it does so in Python anyway), and neither
table is ever deleted from (events refuse it; attempts are append-only by rule).

Case events keep their hash chain (core.chains): its triggers are installed on the partitioned table,
PostgreSQL clones them onto every partition, present and future.

Partitions are created ahead of time by `ensure_partitions` (beat task `partitions_ensure`, daily; command
`manage.py ensure_partitions`): the current month and MONTHS_AHEAD months after it. Creating a partition
and moving rows need the table's owner (the role that runs migrations). If the task did not run in time
and rows of a month landed in the DEFAULT partition, creating that month moves them out of it (one short
exclusive lock on the table). On SQLite (the development default) none of this exists: the tables are
plain tables and every function here does nothing.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, date, datetime

from django.apps import apps as global_apps
from django.db import connection as default_connection
from django.db import transaction
from django.db.migrations.operations.base import Operation
from django.utils import timezone

from core.chains import IDENTIFIER, InstallChain, content_function

logger = logging.getLogger(__name__)

# Months created ahead of the current one: the daily task has two months to succeed once.
MONTHS_AHEAD = 2
# A migration on an old database creates monthly partitions back to the oldest row, but no further back
# than this; older rows go to the DEFAULT partition.
MONTHS_BACK_LIMIT = 120

# model label -> the column whose month picks the partition.
PARTITIONED: dict[str, str] = {
    "collections_app.ContactAttempt": "started_at",
    "collections_app.CaseEvent": "created_at",
}


# --- Months ---------------------------------------------------------------------------------------------


def month_of(moment: datetime | date) -> date:
    """The first day of the (UTC) month of a moment: partitions follow UTC months, as the data is in UTC."""
    if isinstance(moment, datetime):
        moment = moment.astimezone(UTC).date() if timezone.is_aware(moment) else moment.date()
    return moment.replace(day=1)


def add_months(month: date, count: int) -> date:
    index = month.year * 12 + month.month - 1 + count
    return date(index // 12, index % 12 + 1, 1)


def partition_name(table: str, month: date) -> str:
    return _checked(f"{table}_{month:%Y_%m}")


def default_partition_name(table: str) -> str:
    return _checked(f"{table}_default")


def _checked(name: str) -> str:
    if len(name) > 63 or not IDENTIFIER.match(name):
        raise ValueError(f"{name!r} is not usable as a PostgreSQL name (63 characters, lower case)")
    return name


def _bound(month: date) -> str:
    return f"'{month:%Y-%m-%d} 00:00:00+00'"


# --- Reading the catalogue ------------------------------------------------------------------------------


def is_partitioned(table: str, connection=default_connection) -> bool:
    if connection.vendor != "postgresql":
        return False
    with connection.cursor() as cursor:
        cursor.execute("SELECT relkind = 'p' FROM pg_class WHERE oid = to_regclass(%s)", [table])
        row = cursor.fetchone()
    return bool(row and row[0])


@dataclass(frozen=True)
class Partition:
    name: str
    bounds: str  # PostgreSQL's text: "FOR VALUES FROM (...) TO (...)" or "DEFAULT"
    rows: int  # the planner's estimate (reltuples), -1 when never analysed


def partitions_of(table: str, connection=default_connection) -> list[Partition]:
    """The partitions of a partitioned table, in name order (so months in order, `_default` last)."""
    if connection.vendor != "postgresql":
        return []
    with connection.cursor() as cursor:
        cursor.execute(
            """SELECT c.relname, pg_get_expr(c.relpartbound, c.oid), c.reltuples::bigint
               FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
               WHERE i.inhparent = to_regclass(%s) ORDER BY c.relname""",
            [table],
        )
        return [Partition(*row) for row in cursor.fetchall()]


def partitioned_tables() -> list[tuple[str, str]]:
    """(table, month column) of every table meant to be partitioned."""
    result = []
    for label, field in PARTITIONED.items():
        meta = global_apps.get_model(label)._meta
        result.append((meta.db_table, meta.get_field(field).column))
    return result


# --- Creating months ------------------------------------------------------------------------------------


def ensure_month(table: str, column: str, month: date, connection=default_connection) -> bool:
    """Create the partition of `month` unless it exists; True when it was created. Rows of that month
    already in the DEFAULT partition (the task was late) are moved into it in the same transaction."""
    name = partition_name(table, month)
    default = default_partition_name(table)
    start, end = _bound(month), _bound(add_months(month, 1))
    with transaction.atomic(using=connection.alias), connection.cursor() as cursor:
        cursor.execute("SELECT to_regclass(%s) IS NOT NULL", [name])
        if cursor.fetchone()[0]:
            return False
        cursor.execute("SELECT to_regclass(%s) IS NOT NULL", [default])
        has_default = cursor.fetchone()[0]
        stray = 0
        if has_default:
            cursor.execute(
                f"SELECT count(*) FROM {default} WHERE {column} >= {start} AND {column} < {end}"  # noqa: S608
            )
            stray = cursor.fetchone()[0]
        if not stray:
            # IF NOT EXISTS: two runs racing (a redelivered task) do not fail on each other.
            cursor.execute(
                f"CREATE TABLE IF NOT EXISTS {name} PARTITION OF {table} FOR VALUES FROM ({start}) TO ({end})"
            )
            return True
        # Rows of the month sit in the DEFAULT partition: PostgreSQL would refuse the new partition. Detach
        # the default (its cloned triggers go with it: moving a chained event does not rewrite it), fill
        # the month's table with those rows as they are, and attach both back (the attach clones the
        # triggers and indexes; no trigger fires for rows already there).
        logger.warning("Moving %s rows of %s out of %s into a new partition", stray, month, default)
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        cursor.execute(f"ALTER TABLE {table} DETACH PARTITION {default}")
        cursor.execute(f"CREATE TABLE {name} (LIKE {table} INCLUDING DEFAULTS INCLUDING CONSTRAINTS)")
        where = f"{column} >= {start} AND {column} < {end}"
        cursor.execute(f"INSERT INTO {name} SELECT * FROM {default} WHERE {where}")  # noqa: S608
        cursor.execute(f"DELETE FROM {default} WHERE {where}")  # noqa: S608
        cursor.execute(f"ALTER TABLE {table} ATTACH PARTITION {name} FOR VALUES FROM ({start}) TO ({end})")
        cursor.execute(f"ALTER TABLE {table} ATTACH PARTITION {default} DEFAULT")
        return True


def ensure_partitions(
    *, today: date | None = None, months_ahead: int = MONTHS_AHEAD, connection=default_connection
) -> dict[str, list[str]]:
    """Make sure every partitioned table has the partitions of this month and the next `months_ahead`:
    the beat task and the command call this. Idempotent. Returns the partitions created, per table."""
    if connection.vendor != "postgresql":
        return {}
    first = month_of(today or timezone.now())
    created: dict[str, list[str]] = {}
    for table, column in partitioned_tables():
        if not is_partitioned(table, connection):
            continue
        for step in range(months_ahead + 1):
            month = add_months(first, step)
            if ensure_month(table, column, month, connection):
                created.setdefault(table, []).append(partition_name(table, month))
    return created


# --- The migration: rebuilding a table as partitioned (and back) ----------------------------------------


class PartitionByMonth(Operation):
    """Migration operation: rebuild `model_name`'s table as a monthly range-partitioned table on `column`
    (a field name), with a DEFAULT partition, keeping its rows, ids, sequence, indexes (as partitioned
    indexes, same names), check and foreign key constraints, grants and - `chain` given, the keyword
    arguments of the table's InstallChain - its hash chain triggers (the rows' hashes are copied, not
    recomputed). The same code runs on a fresh database (empty tables) and on one with data. Backwards
    rebuilds a plain table. Nothing changes in Django's model state; on SQLite it does nothing.

    It runs inside the migration's transaction and holds an exclusive lock on the table while the rows
    are copied: on a large table, run the migration in a maintenance window."""

    reversible = True
    reduces_to_sql = False

    def __init__(self, model_name: str, column: str, *, chain: dict | None = None):
        self.model_name = model_name
        self.column = column
        self.chain = chain

    def deconstruct(self):
        kwargs = {"chain": self.chain} if self.chain else {}
        return self.__class__.__qualname__, [self.model_name, self.column], kwargs

    def state_forwards(self, app_label, state):
        pass  # partitioning is invisible to Django's model state

    def describe(self):
        return f"Partition {self.model_name} by month of {self.column}"

    @property
    def migration_name_fragment(self):
        return f"partition_{self.model_name.lower()}"

    def database_forwards(self, app_label, schema_editor, from_state, to_state):
        if schema_editor.connection.vendor == "postgresql":
            self._rebuild(app_label, schema_editor, to_state, partitioned=True)

    def database_backwards(self, app_label, schema_editor, from_state, to_state):
        if schema_editor.connection.vendor == "postgresql":
            self._rebuild(app_label, schema_editor, to_state, partitioned=False)

    def _rebuild(self, app_label, schema_editor, state, *, partitioned: bool):
        connection = schema_editor.connection
        meta = state.apps.get_model(app_label, self.model_name)._meta
        table, pk, column = meta.db_table, meta.pk.column, meta.get_field(self.column).column
        if is_partitioned(table, connection) == partitioned:
            return
        with connection.cursor() as cursor:
            plan = _TablePlan.read(cursor, table, pk)
        new = _checked(f"{table}_rebuilt")

        def run(sql: str) -> None:
            schema_editor.execute(sql, params=None)  # no parameters: a % in an index predicate stays as is

        if partitioned:
            run(
                f"CREATE TABLE {new} (LIKE {table} INCLUDING DEFAULTS INCLUDING STORAGE INCLUDING COMMENTS) "
                f"PARTITION BY RANGE ({column})"
            )
            for month in self._months(connection, table, column):
                start, end = _bound(month), _bound(add_months(month, 1))
                run(
                    f"CREATE TABLE {partition_name(table, month)} PARTITION OF {new} "
                    f"FOR VALUES FROM ({start}) TO ({end})"
                )
            run(f"CREATE TABLE {default_partition_name(table)} PARTITION OF {new} DEFAULT")
        else:
            run(f"CREATE TABLE {new} (LIKE {table} INCLUDING DEFAULTS INCLUDING STORAGE INCLUDING COMMENTS)")
        # A plain copy: no trigger on the new table yet, so ids and hashes arrive as they were.
        run(f"INSERT INTO {new} SELECT * FROM {table}")  # noqa: S608
        if self.chain:
            # The content function takes the table's row type: it goes with the old table.
            run(f"DROP FUNCTION IF EXISTS {content_function(table)}({table})")
        run(f"DROP TABLE {table}")  # its partitions, triggers and identity sequence with it
        run(f"ALTER TABLE {new} RENAME TO {table}")
        key = f"{pk}, {column}" if partitioned else pk
        run(f"ALTER TABLE {table} ADD CONSTRAINT {_checked(table + '_pkey')} PRIMARY KEY ({key})")
        for statement in plan.restore(table, pk):
            run(statement)
        if self.chain:
            chain_sql = InstallChain(self.model_name, **self.chain).chain_sql(app_label, state, connection)
            for statement in chain_sql.install(fill=False):
                run(statement)
        run(f"ANALYZE {table}")

    def _months(self, connection, table: str, column: str) -> list[date]:
        """Every month from the oldest row's (at most MONTHS_BACK_LIMIT back) to MONTHS_AHEAD ahead."""
        this_month = month_of(timezone.now())
        with connection.cursor() as cursor:
            cursor.execute(f"SELECT min({column}) FROM {table}")  # noqa: S608
            oldest = cursor.fetchone()[0]
        first = max(month_of(oldest), add_months(this_month, -MONTHS_BACK_LIMIT)) if oldest else this_month
        first = min(first, this_month)
        months, month = [], first
        while month <= add_months(this_month, MONTHS_AHEAD):
            months.append(month)
            month = add_months(month, 1)
        return months


@dataclass
class _TablePlan:
    """What a table carries besides its rows and columns, read from the catalogue before it is dropped."""

    indexes: list[str]
    constraints: list[tuple[str, str]]
    grants: list[str]
    sequence: str | None
    sequence_state: tuple[int, bool] | None
    sequence_grants: list[str]

    @classmethod
    def read(cls, cursor, table: str, pk: str) -> _TablePlan:
        cursor.execute(
            """SELECT conrelid::regclass::text, conname FROM pg_constraint
               WHERE confrelid = to_regclass(%s) AND contype = 'f' AND conparentid = 0""",
            [table],
        )
        incoming = cursor.fetchall()
        if incoming:
            raise RuntimeError(
                f"{table} is the target of database foreign keys {incoming}: a partitioned table cannot "
                "be (its primary key includes the month); make those fields db_constraint=False first"
            )
        # Indexes (as partitioned indexes of the same name), except the primary key's, rebuilt apart.
        cursor.execute(
            """SELECT pg_get_indexdef(i.indexrelid) FROM pg_index i
               WHERE i.indrelid = to_regclass(%s) AND NOT i.indisprimary
               AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.indexrelid)
               ORDER BY i.indexrelid""",
            [table],
        )
        indexes = [row[0] for row in cursor.fetchall()]
        cursor.execute(
            """SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint
               WHERE conrelid = to_regclass(%s) AND contype IN ('c', 'f', 'u', 'x')
               ORDER BY contype, conname""",
            [table],
        )
        constraints = cursor.fetchall()
        cursor.execute("SELECT pg_get_serial_sequence(%s, %s)", [table, pk])
        sequence = cursor.fetchone()[0]
        state = None
        if sequence:
            cursor.execute(f"SELECT last_value, is_called FROM {sequence}")  # noqa: S608
            state = cursor.fetchone()
        return cls(
            indexes,
            constraints,
            _grants(cursor, table),
            sequence,
            state,
            _grants(cursor, sequence) if sequence else [],
        )

    def restore(self, table: str, pk: str) -> list[str]:
        statements = list(self.indexes)
        statements += [
            f"ALTER TABLE {table} ADD CONSTRAINT {name} {definition}" for name, definition in self.constraints
        ]
        if self.sequence:
            statements.append(
                f"ALTER TABLE {table} ALTER COLUMN {pk} ADD GENERATED BY DEFAULT AS IDENTITY "
                f"(SEQUENCE NAME {self.sequence})"
            )
            last_value, is_called = self.sequence_state
            statements.append(f"SELECT setval('{self.sequence}', {int(last_value)}, {bool(is_called)})")
        statements += [grant.format(target=f"TABLE {table}") for grant in self.grants]
        if self.sequence:
            statements += [grant.format(target=f"SEQUENCE {self.sequence}") for grant in self.sequence_grants]
        return statements


def _grants(cursor, relation: str) -> list[str]:
    """The GRANTs on a table or sequence other than its owner's own, as statements with a {target}."""
    cursor.execute(
        """SELECT a.privilege_type,
                  CASE WHEN a.grantee = 0 THEN 'PUBLIC' ELSE quote_ident(pg_get_userbyid(a.grantee)) END
           FROM pg_class c, aclexplode(c.relacl) a
           WHERE c.oid = to_regclass(%s) AND a.grantee <> c.relowner""",
        [relation],
    )
    return [f"GRANT {privilege} ON {{target}} TO {grantee}" for privilege, grantee in cursor.fetchall()]
