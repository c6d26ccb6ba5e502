"""Hash chains: tamper evidence for append-only tables (case events, audit rows), kept by PostgreSQL.

A chained table has two columns the model declares, `prev_hash` and `row_hash` (64 hex characters), which
the database fills on INSERT - whatever path writes the row (`create`, `bulk_create`, INSERT ... SELECT, a
shell): the application never computes them.

    prev_hash = row_hash of the previous row of the same chain (same chain key, previous by id);
                the first row of a chain has GENESIS (64 zeros)
    row_hash  = lower-case hex SHA-256 of the UTF-8 text  prev_hash || canonical content

The canonical content of a row is one JSON text, built in the database by `<table>_chain_content(row)`:
`jsonb_build_object('<column>', <value>, ...)::text` over the content columns the migration names, with
the session time zone set to UTC. So: keys sorted by length, then bytewise (jsonb's order), `", "` and
`": "` as separators, text as UTF-8 (Chinese as is, control characters escaped), timestamps as ISO 8601 in
UTC as PostgreSQL writes them (`"2026-12-03T18:42:02.1234+00:00"`: trailing zeros of the fraction left
out), JSON columns as their jsonb text, NULL as `null`. A case event, for example:
    {"id": 7, "kind": "note", "reason": "Called twice", "case_id": 2, "details": {}, "actor_id": 3,
     "to_state": "", "created_at": "2026-12-03T18:42:02.123456+00:00", "from_state": ""}
A court, an auditor or `verify_chains` recomputes it with that function (or by hand from the rules above).

What the triggers guarantee (installed by the migration operation `InstallChain`):
- BEFORE INSERT, per row: when the chain key is a foreign key (a case's events), first take the lock the
  foreign key's check takes at commit (FOR KEY SHARE of the parent row), so every writer locks in one order,
  parent then chain. Without it, a transaction that wrote an event and commits (the deferred check waits for
  the case) and one that locked the case FOR UPDATE and then writes an event (waits for the chain) deadlock:
  a reminder recorded while the same case's SMS is recorded as sent did. Then lock the chain's row in
  `core_chain_lock` (FOR UPDATE, created by an upsert for a new chain; the table is created by the first
  InstallChain) until the transaction ends, so two transactions writing into one chain take turns instead
  of forking it; then give the row its id from the table's sequence (after the lock, so id order is chain
  order even when transactions race; an explicit id is replaced), take the previous row's hash from the
  chain's head kept in that lock row (after checking that the head row is still there, by its id and
  month: one partition) - or, with no head, find the previous row through the (chain key, id) index of
  every partition - fill both hashes and record the row as the new head. A BEFORE ROW trigger sees the rows
  written earlier by the same statement, so a bulk insert chains too. Under READ COMMITTED (Django's
  default) each statement in the trigger sees what was committed before it ran, including the row of the
  transaction it waited for; under REPEATABLE READ the second writer fails with a serialization error
  (the lock row was updated concurrently) rather than fork the chain.
- BEFORE UPDATE OR DELETE, per row: refuse, with a message that says the rows are append-only. Nothing in
  the application updates or deletes them; a correction is a new row. There is no maintenance path for the
  application's database role: only the table's owner (a DBA) can `ALTER TABLE ... DISABLE TRIGGER`, and
  what they change then shows up in `verify_chains` - which is exactly how the tests simulate tampering.
  TRUNCATE is not trapped (Django's test runner and `flush` truncate every table); the application's role
  should not be granted it in production. Deleting the LAST rows of a chain leaves a shorter valid chain:
  that is why the legal package prints the chain head it saw, so a later copy can be held against it.

Adding a table: one `InstallChain(...)` in its app's migration and one `register(...)` in its app's
`ready()` (so `manage.py verify_chains` walks it).
"""

from __future__ import annotations

import re
from contextlib import contextmanager
from dataclasses import dataclass, replace

from django.apps import apps as global_apps
from django.db import connection as default_connection
from django.db import models, transaction
from django.db.migrations.operations.base import Operation
from django.db.models.expressions import RawSQL

GENESIS = "0" * 64
# The database's answer to an UPDATE or DELETE (% are the operation, the table and the row id).
REFUSAL = (
    "% on %: these rows are append-only and hash-chained; the application''s database role cannot update "
    "or delete them (row %)"
)
VERIFY_BATCH = 50_000
# One row per chain ("<table>:<chain key>"), updated (so locked) by the INSERT trigger: row locks live in
# the rows, so one statement may write into any number of chains (advisory locks would fill PostgreSQL's
# shared lock table - max_locks_per_transaction - on a nightly run over thousands of cases). Not a Django
# model: only the triggers use it, and its rows carry nothing but the chains' names.
LOCK_TABLE = "core_chain_lock"
IDENTIFIER = re.compile(r"^[a-z_][a-z0-9_]*$")
# The lock row also keeps the chain's head - the last row's id, its partition key (the month column of a
# partitioned table, NULL otherwise) and its row_hash - written by the trigger that appends the row: the
# next writer links to it without searching the table (on a table partitioned by month that search probes
# the (chain key, id) index of every month). Shared by every chain; created by the first InstallChain and
# completed by whatever installs a chain or a trigger function (so an older database gets the columns).
LOCK_TABLE_SQL = [
    f"CREATE TABLE IF NOT EXISTS {LOCK_TABLE} (chain text PRIMARY KEY, writes bigint NOT NULL)",
    f"""ALTER TABLE {LOCK_TABLE} ADD COLUMN IF NOT EXISTS head_id bigint,
        ADD COLUMN IF NOT EXISTS head_at timestamptz, ADD COLUMN IF NOT EXISTS head_hash text""",
]
# The chain as an aggregate, for the set-based paths (the fill, a bulk load): `core_chain_hash(content,
# start) OVER (PARTITION BY <chain key> ORDER BY id)` is each row's row_hash - the running hash of the
# contents in id order, from `start` (the hash the chain already ends with, or GENESIS). The same formula
# as the trigger's (hash_sql), one row after the other.
AGGREGATE_SQL = [
    """CREATE OR REPLACE FUNCTION core_chain_step(state text, content text, start text) RETURNS text
        LANGUAGE sql IMMUTABLE PARALLEL SAFE
        AS $$ SELECT encode(sha256(convert_to(coalesce(state, start) || content, 'UTF8')), 'hex') $$""",
    "CREATE OR REPLACE AGGREGATE core_chain_hash(text, text) (SFUNC = core_chain_step, STYPE = text)",
]


class ChainHashField(models.CharField):
    """`prev_hash` / `row_hash` of a chained model: 64 hex characters that the INSERT trigger fills. The
    column's database default ("") lets every writer leave them out - Django sends DEFAULT, a raw INSERT
    or COPY names only the content columns - and, being a database default, Django reads the trigger's
    value back with RETURNING: an object knows its hashes as soon as `create()` or `bulk_create()`
    returns. (Without the triggers - SQLite - they stay "".)"""

    def __init__(self, *args, **kwargs):
        kwargs.update(max_length=64, editable=False, blank=True, db_default="")
        super().__init__(*args, **kwargs)

    def deconstruct(self):
        name, path, args, kwargs = super().deconstruct()
        for fixed in ("max_length", "editable", "blank", "db_default"):
            kwargs.pop(fixed, None)
        return name, path, args, kwargs


# --- The chained tables ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Chain:
    """A chained table as `verify_chains` walks it: the model (app_label.ModelName) and the field whose
    value separates its chains (None: one chain for the whole table)."""

    model_label: str
    chain_by: str | None

    @property
    def model(self):
        return global_apps.get_model(self.model_label)

    @property
    def table(self) -> str:
        return self.model._meta.db_table

    @property
    def key_column(self) -> str | None:
        return self.model._meta.get_field(self.chain_by).column if self.chain_by else None


CHAINS: dict[str, Chain] = {}


def register(model_label: str, *, chain_by: str | None) -> Chain:
    """Declare a chained table (call from the app's `ready()`); its migration installs the triggers."""
    chain = Chain(model_label, chain_by)
    CHAINS[model_label] = chain
    return chain


def chain_for(model_or_label) -> Chain:
    label = model_or_label if isinstance(model_or_label, str) else model_or_label._meta.label
    try:
        return CHAINS[label]
    except KeyError:
        raise LookupError(f"{label} is not a registered hash chain (core.chains.register)") from None


# --- SQL ------------------------------------------------------------------------------------------------


def _name(table: str, suffix: str) -> str:
    name = f"{table}_{suffix}"
    if len(name) > 63 or not IDENTIFIER.match(name):
        raise ValueError(f"{name!r} is not usable as a PostgreSQL name (63 characters, lower case)")
    return name


def content_function(table: str) -> str:
    return _name(table, "chain_content")


def hash_sql(prev: str, content: str) -> str:
    """SQL for a row hash: hex SHA-256 of prev_hash || content (built-in sha256(), no extension)."""
    return f"encode(sha256(convert_to({prev} || {content}, 'UTF8')), 'hex')"


@dataclass(frozen=True)
class ChainSQL:
    """The statements that install (and remove) the chain on one table; columns are database columns."""

    table: str
    pk: str
    key: str | None
    content: tuple[str, ...]
    prev_hash: str
    row_hash: str
    sequence: str | None
    # The table and key column the chain key refers to, when it is a foreign key: locked first (see above).
    parent: tuple[str, str] | None = None
    # The partition key column of a partitioned table (a timestamp): kept with the head, so the trigger
    # finds the head row in one partition.
    locator: str | None = None
    # The trigger keeps the chain's head in the lock row (False: the function before collections_app 0018,
    # which searched the table for the previous row every time).
    heads: bool = True

    def __post_init__(self):
        names = (self.table, self.pk, self.key or "x", *self.content, self.prev_hash, self.row_hash)
        for name in (*names, *(self.parent or ()), self.locator or "x"):
            if not IDENTIFIER.match(name):
                raise ValueError(f"{name!r} is not a plain column or table name")

    def install(self, *, fill: bool = True) -> list[str]:
        """`fill=False` when the rows already carry their hashes (a table rebuilt with its rows copied as
        they were: collections_app.partitions)."""
        t, fn = self.table, content_function(self.table)
        fields = ", ".join(f"'{c}', r.{c}" for c in self.content)
        index_columns = f"{self.key}, {self.pk}" if self.key else self.pk
        return [
            # One definition of the canonical content, used by the trigger, the fill and verify_chains.
            f"""CREATE OR REPLACE FUNCTION {fn}(r {t}) RETURNS text
                LANGUAGE sql STABLE SET TimeZone = 'UTC'
                AS $$ SELECT jsonb_build_object({fields})::text $$""",
            f"CREATE INDEX IF NOT EXISTS {_name(t, 'chain_idx')} ON {t} ({index_columns})",
            *LOCK_TABLE_SQL,
            *AGGREGATE_SQL,
            *([self.fill()] if fill else [self.heads_backfill()]),
            self.link_function(),
            f"""CREATE OR REPLACE FUNCTION {_name(t, "chain_refuse")}() RETURNS trigger
                LANGUAGE plpgsql AS $$
                BEGIN
                    RAISE EXCEPTION '{REFUSAL}', TG_OP, TG_TABLE_NAME, OLD.{self.pk}
                        USING ERRCODE = 'insufficient_privilege',
                        HINT = 'Write a new row instead (a correction is a new event).';
                END $$""",
            f"""CREATE TRIGGER {_name(t, "chain_link")} BEFORE INSERT ON {t}
                FOR EACH ROW EXECUTE FUNCTION {_name(t, "chain_link")}()""",
            f"""CREATE TRIGGER {_name(t, "chain_refuse")} BEFORE UPDATE OR DELETE ON {t}
                FOR EACH ROW EXECUTE FUNCTION {_name(t, "chain_refuse")}()""",
        ]

    def lock_key(self, row: str) -> str:
        """SQL for the lock row's name of the chain of `row` (a row variable or table alias)."""
        return f"'{self.table}:' || {row}.{self.key}::text" if self.key else f"'{self.table}'"

    def link_function(self) -> str:
        """The INSERT trigger's function (CREATE OR REPLACE: also how an installed chain gets a new one)."""
        t, fn = self.table, content_function(self.table)
        parent_lock = ""
        if self.parent and self.key:
            parent_table, parent_key = self.parent
            parent_lock = (
                f"PERFORM 1 FROM {parent_table} p WHERE p.{parent_key} = NEW.{self.key} FOR KEY SHARE;"
            )
        where = f"WHERE t.{self.key} = NEW.{self.key}" if self.key else ""
        new_id = f"NEW.{self.pk} := nextval('{self.sequence}');" if self.sequence else ""
        search = f"""SELECT t.{self.row_hash} INTO previous FROM {t} t {where}
                        ORDER BY t.{self.pk} DESC LIMIT 1;"""  # noqa: S608 - names checked by IDENTIFIER
        # One writer per chain at a time, until its transaction ends: no fork.
        lock = f"""-- An upsert, not SELECT ... FOR UPDATE: a REPEATABLE READ writer that raced another
                    -- then fails with a serialization error rather than link to a head its snapshot
                    -- cannot see.
                    INSERT INTO {LOCK_TABLE} AS l (chain, writes) VALUES (chain_key, 1)
                        ON CONFLICT (chain) DO UPDATE SET writes = l.writes + 1;"""  # noqa: S608
        use_head, keep_head = search, ""
        if self.heads:
            same_row = [f"t.{self.pk} = last_id"]
            if self.locator:
                same_row.append(f"t.{self.locator} = last_at")  # one partition's primary key
            if self.key:
                same_row.append(f"t.{self.key} = NEW.{self.key}")
            head = "l.head_id, l.head_at, l.head_hash INTO last_id, last_at, last_hash"
            lock = f"""-- The lock row is locked, then updated once, with the new head, at the end. Under
                    -- READ COMMITTED a writer that waited reads it as the writer before it left it; under
                    -- REPEATABLE READ it fails with a serialization error (the row was updated, or
                    -- inserted, concurrently) rather than link to a head its snapshot cannot see.
                    SELECT {head} FROM {LOCK_TABLE} l WHERE l.chain = chain_key FOR UPDATE;
                    IF NOT FOUND THEN  -- a new chain (an upsert: another writer may create it meanwhile)
                        INSERT INTO {LOCK_TABLE} AS l (chain, writes) VALUES (chain_key, 0)
                            ON CONFLICT (chain) DO UPDATE SET writes = l.writes RETURNING {head};
                    END IF;"""  # noqa: S608 - names checked by IDENTIFIER
            use_head = f"""-- The head the chain's last writer left in the lock row, as long as its row
                    -- is still there (one partition's primary key; a truncated table leaves its lock rows
                    -- behind); else, or with no head yet (a new chain, or rows older than the heads), the
                    -- search through every partition.
                    IF last_id IS NOT NULL THEN
                        SELECT last_hash INTO previous FROM {t} t WHERE {" AND ".join(same_row)};
                    END IF;
                    IF previous IS NULL THEN
                        {search}
                    END IF;"""  # noqa: S608 - names checked by IDENTIFIER
            keep_head = f"""UPDATE {LOCK_TABLE} SET writes = writes + 1, head_id = NEW.{self.pk},
                        head_at = {f"NEW.{self.locator}" if self.locator else "NULL"},
                        head_hash = NEW.{self.row_hash} WHERE chain = chain_key;"""  # noqa: S608
        return f"""CREATE OR REPLACE FUNCTION {_name(t, "chain_link")}() RETURNS trigger
                LANGUAGE plpgsql AS $$
                DECLARE previous text; last_id bigint; last_at timestamptz; last_hash text;
                    chain_key text := {self.lock_key("NEW")};
                BEGIN
                    -- The parent first (what the foreign key's check locks at commit), then the chain:
                    -- every writer in the same order, so none waits for another that waits for it.
                    {parent_lock}
                    {lock}
                    {new_id}
                    {use_head}
                    NEW.{self.prev_hash} := coalesce(previous, '{GENESIS}');
                    NEW.{self.row_hash} := {hash_sql(f"NEW.{self.prev_hash}", f"{fn}(NEW)")};
                    {keep_head}
                    RETURN NEW;
                END $$"""  # noqa: S608 - names from model metadata, checked by IDENTIFIER

    def heads_backfill(self, source: str | None = None) -> str:
        """Record the head of every chain of the table in its lock row - set-based (one DISTINCT ON over
        the (chain key, id) index): how the chains written before the heads were kept get theirs. With
        `source` (rows just written, shaped like the table), the heads of their chains only."""
        t = source or self.table
        key = f"t.{self.key}" if self.key else "NULL::int"  # one chain (a plain 0 would be a position)
        locator = f"t.{self.locator}" if self.locator else "NULL::timestamptz"
        return f"""
            INSERT INTO {LOCK_TABLE} AS l (chain, writes, head_id, head_at, head_hash)
            SELECT DISTINCT ON ({key}) {self.lock_key("t")}, 0, t.{self.pk}, {locator}, t.{self.row_hash}
            FROM {t} t ORDER BY {key}, t.{self.pk} DESC
            ON CONFLICT (chain) DO UPDATE SET head_id = excluded.head_id, head_at = excluded.head_at,
                head_hash = excluded.head_hash"""  # noqa: S608 - names from model metadata, checked by IDENTIFIER

    def hashed(self, source: str, start: str) -> str:
        """A SELECT of the rows of `source` (the table or a table LIKE it, alias `s`) with `chain_prev` and
        `chain_hash`, their hashes in each chain's id order from `start` (SQL over `s`: the hash the chain
        already ends with, or GENESIS)."""
        t, fn = self.table, content_function(self.table)
        by_s, by_h = (f"s.{self.key}", f"h.{self.key}") if self.key else ("0", "0")
        return f"""
            SELECT h.*, coalesce(lag(h.chain_hash) OVER w, h.chain_start) AS chain_prev FROM (
                SELECT s.*, st.chain_start,
                    core_chain_hash({fn}(ROW(s.*)::{t}), st.chain_start) OVER w AS chain_hash
                FROM {source} s CROSS JOIN LATERAL (SELECT {start} AS chain_start) st
                WINDOW w AS (PARTITION BY {by_s} ORDER BY s.{self.pk})
            ) h WINDOW w AS (PARTITION BY {by_h} ORDER BY h.{self.pk})"""  # noqa: S608

    def fill(self) -> str:
        """Hash the rows already in the table, chain by chain in id order, and record each chain's head -
        set-based: one window over the table (core_chain_hash), one UPDATE."""
        t = self.table
        return f"""
            WITH filled AS (
                UPDATE {t} t SET {self.prev_hash} = f.chain_prev, {self.row_hash} = f.chain_hash
                FROM ({self.hashed(t, f"'{GENESIS}'::text")}) f WHERE t.{self.pk} = f.{self.pk}
                RETURNING t.*
            )
            {self.heads_backfill("filled")}"""  # noqa: S608

    def uninstall(self) -> list[str]:
        t = self.table
        return [
            f"DROP TRIGGER IF EXISTS {_name(t, 'chain_refuse')} ON {t}",
            f"DROP TRIGGER IF EXISTS {_name(t, 'chain_link')} ON {t}",
            f"DROP FUNCTION IF EXISTS {_name(t, 'chain_refuse')}()",
            f"DROP FUNCTION IF EXISTS {_name(t, 'chain_link')}()",
            f"DROP INDEX IF EXISTS {_name(t, 'chain_idx')}",
            f"DROP FUNCTION IF EXISTS {content_function(t)}({t})",
            f"""DO $$ BEGIN IF to_regclass('{LOCK_TABLE}') IS NOT NULL THEN
                DELETE FROM {LOCK_TABLE} WHERE chain = '{t}' OR chain LIKE '{t}:%';
            END IF; END $$""",  # noqa: S608 - names from model metadata, checked by IDENTIFIER
        ]


class InstallChain(Operation):
    """Migration operation: chain the table of `model_name` (in the migration's app). `chain_by` is the
    (non-null) field that separates chains, or None for one chain; `content` the fields whose values the
    row hash covers (include the primary key, so a row cannot be moved). Hashes rows already there, then
    installs the triggers and the (chain key, id) index. PostgreSQL only: elsewhere (the SQLite
    development default) nothing is installed and `verify_chains` says the table is not chained."""

    reversible = True
    reduces_to_sql = True

    def __init__(
        self,
        model_name: str,
        *,
        chain_by: str | None,
        content: list[str],
        prev_hash: str = "prev_hash",
        row_hash: str = "row_hash",
    ):
        self.model_name = model_name
        self.chain_by = chain_by
        self.content = list(content)
        self.prev_hash = prev_hash
        self.row_hash = row_hash

    def deconstruct(self):
        kwargs = {"chain_by": self.chain_by, "content": self.content}
        if self.prev_hash != "prev_hash":
            kwargs["prev_hash"] = self.prev_hash
        if self.row_hash != "row_hash":
            kwargs["row_hash"] = self.row_hash
        return self.__class__.__qualname__, [self.model_name], kwargs

    def state_forwards(self, app_label, state):
        pass  # triggers and functions are not part of Django's model state

    def chain_sql(self, app_label, state, connection) -> ChainSQL:
        model = state.apps.get_model(app_label, self.model_name)
        meta = model._meta
        key = meta.get_field(self.chain_by) if self.chain_by else None
        if key is not None and key.null:
            raise ValueError(f"the chain key {self.chain_by!r} must be NOT NULL")
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_get_serial_sequence(%s, %s)", [meta.db_table, meta.pk.column])
            sequence = cursor.fetchone()[0]
            locator = partition_column(meta.db_table, cursor)
        return ChainSQL(
            table=meta.db_table,
            pk=meta.pk.column,
            key=key.column if key is not None else None,
            content=tuple(meta.get_field(name).column for name in self.content),
            prev_hash=meta.get_field(self.prev_hash).column,
            row_hash=meta.get_field(self.row_hash).column,
            sequence=sequence,
            parent=_parent_of(key),
            locator=locator,
        )

    def database_forwards(self, app_label, schema_editor, from_state, to_state):
        if schema_editor.connection.vendor != "postgresql":
            return
        for sql in self.chain_sql(app_label, to_state, schema_editor.connection).install():
            schema_editor.execute(sql, params=None)

    def database_backwards(self, app_label, schema_editor, from_state, to_state):
        if schema_editor.connection.vendor != "postgresql":
            return
        for sql in self.chain_sql(app_label, from_state, schema_editor.connection).uninstall():
            schema_editor.execute(sql, params=None)

    def describe(self):
        return f"Hash-chain {self.model_name} (per {self.chain_by or 'table'}), append-only"

    @property
    def migration_name_fragment(self):
        return f"{self.model_name.lower()}_chain"


def partition_column(table: str, cursor) -> str | None:
    """The partition key of a table partitioned by one timestamp column (collections_app.partitions), else
    None: what the chain's head is located by besides its id."""
    cursor.execute(
        """SELECT a.attname FROM pg_partitioned_table p
           JOIN pg_attribute a ON a.attrelid = p.partrelid AND a.attnum = p.partattrs[0]
           WHERE p.partrelid = to_regclass(%s) AND p.partnatts = 1
           AND a.atttypid = 'timestamptz'::regtype""",
        [table],
    )
    row = cursor.fetchone()
    return row[0] if row else None


def _parent_of(key) -> tuple[str, str] | None:
    """(table, column) a foreign-key chain key refers to; None for a plain column or one chain."""
    if key is None or key.remote_field is None:
        return None
    target = key.target_field
    return target.model._meta.db_table, target.column


class RelinkChain(InstallChain):
    """Migration operation: replace the INSERT trigger's function of a chain already installed (the rows,
    hashes and refusal stay as they are) - how a chain installed by an earlier InstallChain gets what the
    current one installs (the parent lock). Backwards, the function without the parent lock."""

    def database_forwards(self, app_label, schema_editor, from_state, to_state):
        if schema_editor.connection.vendor == "postgresql":
            schema_editor.execute(
                self.chain_sql(app_label, to_state, schema_editor.connection).link_function()
            )

    def database_backwards(self, app_label, schema_editor, from_state, to_state):
        if schema_editor.connection.vendor == "postgresql":
            spec = self.chain_sql(app_label, from_state, schema_editor.connection)
            schema_editor.execute(replace(spec, parent=None).link_function())

    def describe(self):
        return f"Replace the chain trigger function of {self.model_name}"

    @property
    def migration_name_fragment(self):
        return f"{self.model_name.lower()}_chain_relink"


class KeepChainHeads(InstallChain):
    """Migration operation: a chain installed by an earlier InstallChain keeps its head in its lock row
    (see LOCK_TABLE): the lock table's columns, the heads of the chains already there (set-based), and the
    INSERT trigger's function that keeps them. Backwards, the function that searches every time."""

    def database_forwards(self, app_label, schema_editor, from_state, to_state):
        if schema_editor.connection.vendor == "postgresql":
            spec = self.chain_sql(app_label, to_state, schema_editor.connection)
            for sql in (*LOCK_TABLE_SQL, *AGGREGATE_SQL, spec.heads_backfill(), spec.link_function()):
                schema_editor.execute(sql, params=None)

    def database_backwards(self, app_label, schema_editor, from_state, to_state):
        if schema_editor.connection.vendor == "postgresql":
            spec = self.chain_sql(app_label, from_state, schema_editor.connection)
            schema_editor.execute(replace(spec, heads=False).link_function(), params=None)

    def describe(self):
        return f"Keep the chain heads of {self.model_name} in their lock rows"

    @property
    def migration_name_fragment(self):
        return f"{self.model_name.lower()}_chain_heads"


def _spec_of(chain: Chain, cursor) -> ChainSQL:
    """The SQL of a registered chain whose functions are installed (the content function is not rebuilt:
    `content` is left empty)."""
    meta = chain.model._meta
    return ChainSQL(
        table=chain.table,
        pk=meta.pk.column,
        key=chain.key_column,
        content=(),
        prev_hash=meta.get_field("prev_hash").column,
        row_hash=meta.get_field("row_hash").column,
        sequence=None,
        locator=partition_column(chain.table, cursor),
    )


@contextmanager
def _link_disabled(table: str, cursor):
    """The linking trigger off for the block, in the caller's transaction (the table's owner only)."""
    # Django's foreign keys are checked at commit; ALTER TABLE wants no such check pending.
    cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
    cursor.execute(f"ALTER TABLE {table} DISABLE TRIGGER {_name(table, 'chain_link')}")
    yield
    cursor.execute(f"ALTER TABLE {table} ENABLE TRIGGER {_name(table, 'chain_link')}")


def bulk_append(model, staging: str, *, connection=default_connection) -> int:
    """For a tool that loads a large batch into a chained table it owns (generate_portfolio): insert every
    row of `staging` - a table created `LIKE` the chained one, ids filled and above every id of the table
    - with the hashes the trigger would give them, computed set-based (core_chain_hash over the same
    content function, each chain continued from the row it ends with), in one INSERT with the linking
    trigger off for that statement only, and the heads of the chains it wrote recorded. Returns the rows
    written; the table's sequence is moved past them. Like `rewriting`, it needs the table's ownership
    (ALTER TABLE): the application's role cannot. The previous row of a chain is searched only for chain
    keys not above the highest one already in the table (a loader that opens the cases it fills writes
    new chains: nothing to search)."""
    chain = chain_for(model)
    meta = chain.model._meta
    t = chain.table
    columns = [field.column for field in meta.concrete_fields]
    with transaction.atomic(using=connection.alias), connection.cursor() as cursor:
        spec = _spec_of(chain, cursor)
        cursor.execute(f"SELECT (SELECT min({spec.pk}) FROM {staging}) <= (SELECT max({spec.pk}) FROM {t})")  # noqa: S608
        if cursor.fetchone()[0]:
            raise ValueError(f"the ids of {staging} must be above every id of {t} (id order is chain order)")
        start = f"'{GENESIS}'::text"
        if chain.key_column:
            key = chain.key_column
            cursor.execute(f"SELECT max({key}) FROM {t}")  # noqa: S608 - names from model metadata
            top = cursor.fetchone()[0]
            if top is not None:
                start = f"""CASE WHEN s.{key} > {int(top)} THEN {start} ELSE coalesce((
                    SELECT p.{spec.row_hash} FROM {t} p WHERE p.{key} = s.{key}
                    ORDER BY p.{spec.pk} DESC LIMIT 1), {start}) END"""  # noqa: S608
        else:
            last = f"SELECT p.{spec.row_hash} FROM {t} p ORDER BY p.{spec.pk} DESC LIMIT 1"  # noqa: S608
            start = f"coalesce(({last}), {start})"
        values = ", ".join(
            "h.chain_prev" if c == spec.prev_hash else "h.chain_hash" if c == spec.row_hash else f"h.{c}"
            for c in columns
        )
        with _link_disabled(t, cursor):
            cursor.execute(
                f"""WITH written AS (
                        INSERT INTO {t} ({", ".join(columns)})
                        SELECT {values} FROM ({spec.hashed(staging, start)}) h
                        RETURNING *
                    ), heads AS ({spec.heads_backfill("written")} RETURNING 1)
                    SELECT count(*) FROM written"""  # noqa: S608 - names from model metadata
            )
            written = cursor.fetchone()[0]
        # The trigger's next id comes after the rows loaded.
        cursor.execute("SELECT pg_get_serial_sequence(%s, %s)", [t, spec.pk])
        sequence = cursor.fetchone()[0]
        if sequence:
            cursor.execute(
                f"""SELECT setval(%(seq)s, greatest((SELECT max({spec.pk}) FROM {staging}),
                    coalesce(pg_sequence_last_value(%(seq)s), 1)))""",  # noqa: S608
                {"seq": sequence},
            )
        return written


@contextmanager
def rewriting(chained: list[Chain], *, connection=default_connection):
    """For a seeding tool that rewrites history it has just written, on a database whose tables it owns
    (the demo's re-dating of ninety days of history): the refusal is off for the block and every chain of
    those tables is hashed again from scratch at its end, in one transaction. `ALTER TABLE` needs the
    table's ownership, which the application's role must not have in production - there this fails, as
    it should. Nothing in the application itself uses it. The linking trigger is off for the block too:
    on a partitioned table (collections_app.partitions) re-dating a row into another month moves it, and
    PostgreSQL fires the INSERT triggers of the partition it moves to - the row would get a new id."""
    if connection.vendor != "postgresql" or not chained:
        yield
        return
    with transaction.atomic(using=connection.alias), connection.cursor() as cursor:
        # Django's foreign keys are checked at commit; ALTER TABLE wants no such check pending.
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        for chain in chained:
            for trigger in ("chain_refuse", "chain_link"):
                cursor.execute(f"ALTER TABLE {chain.table} DISABLE TRIGGER {_name(chain.table, trigger)}")
        yield
        for chain in chained:
            cursor.execute(_spec_of(chain, cursor).fill())
            for trigger in ("chain_refuse", "chain_link"):
                cursor.execute(f"ALTER TABLE {chain.table} ENABLE TRIGGER {_name(chain.table, trigger)}")


# --- Reading and verifying ------------------------------------------------------------------------------


def content_of(model) -> RawSQL:
    """The canonical content of each row, for a queryset of a chained model without joins:
    `CaseEvent.objects.annotate(chain_content=content_of(CaseEvent))`."""
    table = model._meta.db_table
    return RawSQL(f"{content_function(table)}({table})", [])  # noqa: S611 - names from model metadata


@dataclass(frozen=True)
class BrokenLink:
    table: str
    row_id: int
    chain_key: object
    problem: str  # "content" (the row was edited) or "link" (a row before it was deleted or moved)

    @property
    def message(self) -> str:
        chain = f"chain {self.chain_key}" if self.chain_key is not None else "the chain"
        if self.problem == "content":
            return (
                f"{self.table} row {self.row_id} ({chain}): row_hash does not match its content "
                "(the row was edited)"
            )
        return (
            f"{self.table} row {self.row_id} ({chain}): prev_hash does not match the previous row's "
            "row_hash (a row before it was deleted, inserted or moved)"
        )


@dataclass(frozen=True)
class ChainReport:
    table: str
    rows: int
    installed: bool
    broken: BrokenLink | None

    @property
    def ok(self) -> bool:
        return self.installed and self.broken is None


def is_installed(table: str, connection=default_connection) -> bool:
    """Both triggers are there and enabled (a disabled or dropped trigger is itself a sign of tampering)."""
    if connection.vendor != "postgresql":
        return False
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_trigger WHERE tgrelid = to_regclass(%s) AND tgname IN (%s, %s) "
            "AND tgenabled <> 'D'",
            [table, _name(table, "chain_link"), _name(table, "chain_refuse")],
        )
        return cursor.fetchone()[0] == 2


def verify_chain(model_or_label, *, batch: int = VERIFY_BATCH, connection=default_connection) -> ChainReport:
    """Walk every chain of a registered table in id order and return the first broken link (lowest id).
    Set-based: each batch of ids is one query that recomputes every row hash from its content and
    compares each prev_hash with the row before it in its chain (lag() over the chain; the row before a
    batch's first row of a chain is looked up through the (chain key, id) index)."""
    chain = chain_for(model_or_label)
    meta = chain.model._meta
    t, pk, key = chain.table, meta.pk.column, chain.key_column
    prev_col, hash_col = meta.get_field("prev_hash").column, meta.get_field("row_hash").column
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT count(*), min({pk}), max({pk}) FROM {t}")  # noqa: S608
        rows, low, high = cursor.fetchone()
    installed = is_installed(t, connection)
    if connection.vendor != "postgresql":
        return ChainReport(t, rows, installed=False, broken=None)
    with connection.cursor() as cursor:
        cursor.execute("SELECT to_regproc(%s) IS NOT NULL", [content_function(t)])
        if not cursor.fetchone()[0]:
            return ChainReport(t, rows, installed=False, broken=None)
    chain_expr = f"t.{key}" if key else "0"
    same_chain = f"p.{key} = b.chain AND" if key else ""
    sql = f"""
        SELECT b.id, b.chain,
            b.{hash_col} <> {hash_sql(f"b.{prev_col}", "b.content")} AS edited,
            b.{prev_col} <> coalesce(b.prev_in_batch, before.{hash_col}, '{GENESIS}') AS unlinked
        FROM (
            SELECT t.{pk} AS id, {chain_expr} AS chain, t.{prev_col}, t.{hash_col},
                {content_function(t)}(t) AS content,
                lag(t.{hash_col}) OVER w AS prev_in_batch, row_number() OVER w AS n
            FROM {t} t WHERE t.{pk} >= %(low)s AND t.{pk} < %(high)s
            WINDOW w AS (PARTITION BY {chain_expr} ORDER BY t.{pk})
        ) b
        LEFT JOIN LATERAL (
            SELECT p.{hash_col} FROM {t} p
            WHERE b.n = 1 AND {same_chain} p.{pk} < %(low)s ORDER BY p.{pk} DESC LIMIT 1
        ) before ON true
        WHERE b.{hash_col} <> {hash_sql(f"b.{prev_col}", "b.content")}
            OR b.{prev_col} <> coalesce(b.prev_in_batch, before.{hash_col}, '{GENESIS}')
        ORDER BY b.id LIMIT 1
    """  # noqa: S608 - names from model metadata, values are parameters
    start = low
    with connection.cursor() as cursor:
        while start is not None and start <= high:
            cursor.execute(sql, {"low": start, "high": start + batch})
            found = cursor.fetchone()
            if found:
                row_id, chain_key, edited, _unlinked = found
                return ChainReport(
                    t,
                    rows,
                    installed=installed,
                    broken=BrokenLink(t, row_id, chain_key if key else None, "content" if edited else "link"),
                )
            start += batch
    return ChainReport(t, rows, installed=installed, broken=None)


def verify_chains(*, batch: int = VERIFY_BATCH) -> list[ChainReport]:
    """Every registered chain, in registration order."""
    return [verify_chain(label, batch=batch) for label in CHAINS]


def chain_rows(model, key=None):
    """One chain's rows in chain order, each with its canonical content (`.chain_content`): what a copy
    for a court carries so that each row hash can be recomputed without the database."""
    chain = chain_for(model)
    filters = {chain.chain_by: key} if chain.chain_by else {}
    return (
        chain.model.objects.filter(**filters).annotate(chain_content=content_of(chain.model)).order_by("pk")
    )


@dataclass(frozen=True)
class ChainHead:
    """The row_hash of the last row of one chain (GENESIS when it has none) and the chain's length: what
    a later copy of the chain is held against (it catches rows removed from the end)."""

    head: str
    length: int


def chain_head(model, key=None) -> ChainHead:
    """One query: the last row's hash, and the number of rows (a window count over the chain)."""
    chain = chain_for(model)
    filters = {chain.chain_by: key} if chain.chain_by else {}
    last = (
        chain.model.objects.filter(**filters)
        .annotate(chain_length=models.Window(models.Count("pk")))
        .order_by("-pk")
        .values_list("row_hash", "chain_length")
        .first()
    )
    return ChainHead(*last) if last else ChainHead(GENESIS, 0)
