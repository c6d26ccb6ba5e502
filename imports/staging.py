"""The accounts file's staging table and the set-based merge from it (imports.services.import_accounts).

The rows of a file, once their cells are read and checked (imports.services), are streamed into a
temporary table - with PostgreSQL's COPY - with their personal values already encrypted and hashed
(encryption happens in Python, core.crypto). Everything else is SQL over that table:
- the checks across rows: an account reference that appears again, a cardholder whose rows disagree;
- per batch of rows, in one transaction: the checks against the database (an account never changes
  currency, a file older than a payment does not undo it), then cardholders, contact points and
  accounts merged with INSERT ... ON CONFLICT / UPDATE ... FROM, each written only where it differs
  (so that a replay writes nothing), and the cases of newly delinquent accounts opened by the kernel.

A row's outcome is kept in the table (touched, differs, account_new ...), so that the report's counts
are one aggregate per batch, never a loop over rows. Memory stays flat: nothing of the file is held in
Python, only the problems of rejected rows.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time

from django.db import connection, transaction
from django.db.models.expressions import RawSQL
from django.utils import timezone

from collections_app import delinquency, services
from collections_app.models import (
    Cardholder,
    Case,
    CaseEvent,
    ContactPoint,
    ContactPointKind,
    CreditAccount,
    PartyRole,
    ResolutionReason,
)
from collections_app.services.kernel import column_defaults

STAGE = "import_account_stage"
CARDHOLDER_TEXT = (
    "name",
    "national_id",
    "email",
    "address",
    "time_zone",
    "language",
    "jurisdiction",
    "attorney_contact",
)
CARDHOLDER_FLAGS = (
    "do_not_contact",
    "cease_communication",
    "attorney_represented",
    "bankruptcy",
    "deceased",
    "vulnerable",
)
MONEY = ("credit_limit", "principal", "interest", "fees", "penalties", "overdue_amount", "minimum_due")
DATES = ("first_missed_due_date", "next_due_date", "opened_on")
# The columns a row brings, in COPY order: (name, SQL type).
LOADED = (
    ("line", "integer"),
    ("seq", "integer"),  # the row's place among the rows whose cells were read (batches); NULL: refused
    ("ok", "boolean"),
    ("account_ref", "text"),
    ("account_ref_cell", "text"),
    ("cardholder_ref", "text"),
    ("cardholder_ref_cell", "text"),
    ("holder_details", "text"),  # a keyed digest of the cardholder's details: its rows must agree
    *((name, "text") for name in CARDHOLDER_TEXT),
    ("national_id_hash", "text"),
    ("email_hash", "text"),
    *((name, "boolean") for name in CARDHOLDER_FLAGS),
    ("phone1", "text"),
    ("phone1_hash", "text"),
    ("phone2", "text"),
    ("phone2_hash", "text"),
    ("product", "text"),
    ("currency", "text"),
    *((name, "decimal(14, 2)") for name in MONEY),
    *((name, "date") for name in DATES),
    ("card_number", "text"),
    ("card_number_hash", "text"),
    ("card_last4", "text"),
    ("days_past_due", "integer"),
    ("bucket", "text"),
)
LOADED_NAMES = tuple(name for name, _ in LOADED)
# What the merge learns about a row, batch by batch.
WORKING = (
    ("holder_first", "boolean NOT NULL DEFAULT FALSE"),  # the batch's first row of its cardholder
    ("holder_new", "boolean NOT NULL DEFAULT FALSE"),
    ("cardholder_id", "bigint"),
    ("account_id", "bigint"),
    ("account_new", "boolean NOT NULL DEFAULT FALSE"),
    ("was_delinquent", "boolean NOT NULL DEFAULT FALSE"),
    ("differs", "boolean NOT NULL DEFAULT FALSE"),  # the account's stored values differ from the row's
    ("touched", "boolean NOT NULL DEFAULT FALSE"),  # its cardholder or a contact point was written
)


@dataclass(frozen=True)
class Problem:
    """A row refused by a check over the table; imports.services turns it into a RowProblem."""

    line: int
    column: str
    value: str
    reason: str
    already_refused: bool  # the row was refused for its cells already: one more problem, not one more row


@dataclass
class BatchOutcome:
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    cardholders_created: int = 0
    cardholders_updated: int = 0
    contact_points_added: int = 0
    cases_opened: int = 0
    cases_resolved: int = 0


def _t(model, field: str | None = None) -> str:
    if field is None:
        return connection.ops.quote_name(model._meta.db_table)
    return connection.ops.quote_name(model._meta.get_field(field).column)


class AccountStage:
    """The staging table of one accounts file: create, load, check, merge batch by batch, drop.

    `header` is the file's columns: a column absent from the file leaves the stored value alone (the
    rows carry defaults for it, written only when a row is created)."""

    def __init__(self, header: list[str], as_of: date, batch_size: int):
        self.header = set(header)
        self.as_of = as_of
        self.batch_size = batch_size
        self.now = timezone.now()
        self.rows = 0
        self._cases_before: float | None = None  # the planner's estimate of the cases before the import
        self.text_fields = [name for name in CARDHOLDER_TEXT if name in self.header]
        self.flag_fields = [name for name in CARDHOLDER_FLAGS if name in self.header]
        self.account_fields = [
            name for name in ("product", "currency", *MONEY, *DATES, "card_number") if name in self.header
        ]

    # --- The table --------------------------------------------------------------------------------

    def __enter__(self) -> AccountStage:
        columns = ", ".join(f"{name} {kind}" for name, kind in (*LOADED, *WORKING))
        with connection.cursor() as cursor:
            cursor.execute(f"DROP TABLE IF EXISTS {STAGE}")
            cursor.execute(f"CREATE TEMPORARY TABLE {STAGE} ({columns})")
        return self

    def __exit__(self, *exc) -> None:
        if exc[0] is not None and connection.needs_rollback:
            return  # the transaction is broken; the table goes with the session
        with connection.cursor() as cursor:
            cursor.execute(f"DROP TABLE IF EXISTS {STAGE}")

    def load(self, rows: Iterable[tuple]) -> None:
        """Stream the rows (tuples in LOADED order) into the table: COPY on PostgreSQL, batches of
        INSERTs elsewhere. Then index and analyse it (a temporary table is never auto-analysed)."""
        names = ", ".join(LOADED_NAMES)
        with connection.cursor() as cursor:
            if connection.vendor == "postgresql":
                with cursor.cursor.copy(f"COPY {STAGE} ({names}) FROM STDIN") as copy:
                    for row in rows:
                        copy.write_row(row)
                        self.rows += 1
            else:
                values = ", ".join(["%s"] * len(LOADED))
                sql = f"INSERT INTO {STAGE} ({names}) VALUES ({values})"  # noqa: S608
                chunk: list[tuple] = []
                for row in rows:
                    chunk.append(tuple(_sqlite_value(v) for v in row))
                    self.rows += 1
                    if len(chunk) >= 1000:
                        cursor.executemany(sql, chunk)
                        chunk = []
                if chunk:
                    cursor.executemany(sql, chunk)
            cursor.execute(f"CREATE INDEX {STAGE}_seq ON {STAGE} (seq)")
            cursor.execute(f"CREATE INDEX {STAGE}_line ON {STAGE} (line)")
            cursor.execute(f"CREATE INDEX {STAGE}_account ON {STAGE} (account_ref)")
            cursor.execute(f"CREATE INDEX {STAGE}_holder ON {STAGE} (cardholder_ref)")
            cursor.execute(f"ANALYZE {STAGE}")

    def _query(self, sql: str, params: Iterable = ()) -> list[tuple]:
        with connection.cursor() as cursor:
            cursor.execute(sql, list(params))
            return cursor.fetchall()

    def _execute(self, sql: str, params: Iterable = ()) -> int:
        with connection.cursor() as cursor:
            cursor.execute(sql, list(params))
            return cursor.rowcount

    def _refuse_lines(self, lines: list[int]) -> None:
        if lines:
            self._execute(
                f"UPDATE {STAGE} SET ok = FALSE WHERE line IN ({', '.join(['%s'] * len(lines))})",  # noqa: S608
                lines,
            )

    # --- Checks across the rows -------------------------------------------------------------------

    def refuse_repeated_accounts(self) -> list[Problem]:
        """An account reference seen on an earlier line (whether that row was refused or not)."""
        found = self._query(
            f"""
            SELECT s.line, s.account_ref_cell, f.first_line, s.ok
            FROM {STAGE} s JOIN (
                SELECT account_ref, MIN(line) AS first_line FROM {STAGE}
                WHERE account_ref <> '' GROUP BY account_ref HAVING COUNT(*) > 1
            ) f ON f.account_ref = s.account_ref
            WHERE s.line > f.first_line ORDER BY s.line
            """  # noqa: S608
        )
        self._refuse_lines([line for line, _cell, _first, ok in found if ok])
        return [
            Problem(line, "account_ref", cell, f"appears again: first on line {first}", not ok)
            for line, cell, first, ok in found
        ]

    def refuse_disagreeing_cardholders(self) -> list[Problem]:
        """A cardholder's details must be the same on each of its rows: the first good row sets them."""
        found = self._query(
            f"""
            SELECT s.line, s.cardholder_ref_cell, f.line
            FROM {STAGE} s JOIN {STAGE} f ON f.line = (
                SELECT MIN(o.line) FROM {STAGE} o WHERE o.ok AND o.cardholder_ref = s.cardholder_ref
            )
            WHERE s.ok AND s.holder_details <> f.holder_details ORDER BY s.line
            """  # noqa: S608
        )
        self._refuse_lines([line for line, _cell, _first in found])
        return [
            Problem(
                line,
                "cardholder_ref",
                cell,
                f"has other cardholder details than on line {first}; "
                "a cardholder's details must be the same on each of its rows",
                False,
            )
            for line, cell, first in found
        ]

    # --- The merge, batch by batch ------------------------------------------------------------------

    def batches(self) -> Iterable[tuple[int, int]]:
        rows = self._query(f"SELECT MAX(seq) FROM {STAGE}")  # noqa: S608
        last = rows[0][0]
        if last is None:
            return
        for start in range(0, last + 1, self.batch_size):
            yield start, start + self.batch_size

    def merge(self, start: int, end: int) -> tuple[BatchOutcome, list[Problem], list[str]]:
        """Apply one batch in one transaction. Returns its counts, the rows refused against the
        database, and warnings (none yet)."""
        outcome = BatchOutcome()
        batch = "s.seq >= %s AND s.seq < %s AND s.ok"
        span = [start, end]
        with transaction.atomic():
            problems = self._refuse_conflicts(batch, span)
            self._execute(
                f"""
                UPDATE {STAGE} SET holder_first = TRUE WHERE line IN (
                    SELECT MIN(s.line) FROM {STAGE} s WHERE {batch} GROUP BY s.cardholder_ref
                )
                """,  # noqa: S608
                span,
            )
            self._merge_cardholders(batch, span, outcome)
            self._add_contact_points(batch, span, outcome)
            self._merge_accounts(batch, span, outcome)
            # A flag raised, a zone, a jurisdiction or a number changed: may those people be called now?
            # (Before the new cases are opened: those are computed as they open.)
            if self._query(f"SELECT 1 FROM {STAGE} s WHERE {batch} AND s.touched LIMIT 1", span):  # noqa: S608
                services.contactability.contactability_recompute(
                    Case.objects.filter(
                        account__cardholder_id__in=RawSQL(  # noqa: S611
                            f"SELECT s.cardholder_id FROM {STAGE} s WHERE {batch} AND s.touched",  # noqa: S608
                            span,
                        )
                    )
                )
            outcome.cases_opened = services.cases_open_for_delinquent_accounts(
                account_ids=CreditAccount.objects.filter(
                    pk__in=RawSQL(  # noqa: S611 - names from this module, values as parameters
                        f"SELECT s.account_id FROM {STAGE} s WHERE {batch} "  # noqa: S608
                        "AND (s.account_new OR (s.differs AND NOT s.was_delinquent))",
                        span,
                    )
                ),
                now=self.now,
            )
            self._resolve_cured(batch, span, outcome)
        return outcome, problems, []

    def analyse_targets(self) -> None:
        """Refresh the planner's statistics of the tables the import fills. A first import into an
        empty database would otherwise be planned as if the tables were still empty (nested loops
        over sequential scans), until autovacuum gets to them. The case events too when the file is
        larger than the portfolio already there: the trigger that chains each new event to its
        case's last one looks that one up with a plan cached for the session, which must not stay
        the plan of a (nearly) empty table while the table grows (the opening of cases grew with
        every batch); into a large portfolio the file changes little, and the events table is the
        largest to sample. Done after batches 1, 2, 4, 8 ...: a few times, however long the file."""
        if connection.vendor != "postgresql":
            return
        models = [Cardholder, ContactPoint, CreditAccount, Case]
        with connection.cursor() as cursor:
            if self._cases_before is None:
                cursor.execute(
                    "SELECT reltuples FROM pg_class WHERE oid = %s::regclass", [Case._meta.db_table]
                )
                self._cases_before = cursor.fetchone()[0]
            if self._cases_before < self.rows:  # -1: never analysed, a new database
                models.append(CaseEvent)
            for model in models:
                cursor.execute(f"ANALYZE {_t(model)}")

    def _figures_differ(self, account: str = "a", row: str = "s") -> str:
        """SQL: the row's figures differ from the stored account's (a card's number is no figure)."""
        names = [name for name in self.account_fields if name != "card_number"]
        names += ["days_past_due", "bucket"]
        checks = [f"{account}.{name} IS DISTINCT FROM {row}.{name}" for name in names]
        checks.append(f"{account}.dpd_as_of IS DISTINCT FROM %s")
        return "(" + " OR ".join(checks) + ")"

    def _refuse_conflicts(self, batch: str, span: list) -> list[Problem]:
        """Rows that contradict what the database knows better are refused whole, before anything of
        the batch is written. The batch's accounts are locked until it commits: a payment recorded
        meanwhile (payment_record locks the account first) is either seen here or applied on top."""
        accounts = _t(CreditAccount)
        if connection.vendor == "postgresql":
            self._query(
                f"""
                SELECT a.id FROM {accounts} a
                WHERE a.external_ref IN (SELECT s.account_ref FROM {STAGE} s WHERE {batch})
                ORDER BY a.id FOR UPDATE OF a
                """,  # noqa: S608
                span,
            )
        # The bank's day of the file began at this moment: a payment since is newer than the file.
        day_start = timezone.make_aware(datetime.combine(self.as_of, time()))
        found = self._query(
            f"""
            SELECT s.line, s.currency, a.currency, s.account_ref, a.last_payment_at
            FROM {STAGE} s JOIN {accounts} a ON a.external_ref = s.account_ref
            WHERE {batch} AND (
                a.currency <> s.currency
                OR (a.last_payment_at >= %s AND {self._figures_differ()})
            )
            ORDER BY s.line
            """,  # noqa: S608
            [*span, _db_datetime(day_start), _db_date(self.as_of)],
        )
        problems = []
        for line, currency, stored_currency, account_ref, paid_at in found:
            if currency != stored_currency:
                problems.append(
                    Problem(
                        line,
                        "currency",
                        currency,
                        f"differs from the account's currency {stored_currency}; an account never changes "
                        "currency",
                        False,
                    )
                )
                continue
            # The file was cut before this payment: its figures would undo it (un-cure the account,
            # open a new case). The next day's file carries the payment.
            paid_on = timezone.localdate(_aware(paid_at))
            problems.append(
                Problem(
                    line,
                    "account_ref",
                    account_ref,
                    f"the account has a payment of {paid_on} that this file (as of {self.as_of}) does not "
                    "reflect; its figures were left as they are",
                    False,
                )
            )
        self._refuse_lines([p.line for p in problems])
        return problems

    def _fill_cardholder_ids(self, batch: str, span: list) -> None:
        self._execute(
            f"""
            UPDATE {STAGE} AS s SET cardholder_id = h.id FROM {_t(Cardholder)} h
            WHERE {batch} AND s.cardholder_id IS NULL AND h.external_ref = s.cardholder_ref
            """,  # noqa: S608
            span,
        )

    def _merge_cardholders(self, batch: str, span: list, outcome: BatchOutcome) -> None:
        """Create new cardholders, update changed ones. A flag is raised as `stored OR file`, computed
        on the locked row, never written from what was read: a flag an agent sets meanwhile stays."""
        holders = _t(Cardholder)
        self._fill_cardholder_ids(batch, span)
        self._execute(
            f"UPDATE {STAGE} AS s SET holder_new = TRUE, touched = TRUE "  # noqa: S608
            f"WHERE {batch} AND s.holder_first AND s.cardholder_id IS NULL",
            span,
        )
        given = ["external_ref", *CARDHOLDER_TEXT, "national_id_hash", *CARDHOLDER_FLAGS]
        defaults = column_defaults(Cardholder, given=given, now=self.now)
        selected = ["s.cardholder_ref", *(f"s.{name}" for name in given[1:])]
        outcome.cardholders_created = self._execute(
            f"""
            INSERT INTO {holders} ({", ".join([*given, *defaults])})
            SELECT {", ".join(selected)}, {", ".join(["%s"] * len(defaults))}
            FROM {STAGE} s WHERE {batch} AND s.holder_new ORDER BY s.line
            ON CONFLICT (external_ref) DO NOTHING
            """,  # noqa: S608
            [*defaults.values(), *span],
        )
        self._fill_cardholder_ids(batch, span)
        differs = [
            "h.national_id_hash IS DISTINCT FROM s.national_id_hash"
            if name == "national_id"
            else f"h.{name} IS DISTINCT FROM s.{name}"
            for name in self.text_fields
        ]
        differs += [f"(s.{name} AND NOT h.{name})" for name in self.flag_fields]
        if not differs:
            return
        changed = f"""
            FROM {STAGE} s JOIN {holders} h ON h.id = s.cardholder_id
            WHERE {batch} AND s.holder_first AND NOT s.holder_new AND ({" OR ".join(differs)})
        """
        outcome.cardholders_updated = self._execute(
            f"UPDATE {STAGE} SET touched = TRUE WHERE line IN (SELECT s.line {changed})",  # noqa: S608
            span,
        )
        if not outcome.cardholders_updated:
            return
        assignments = [
            # The stored token stays when the number is the same (a fresh token would be a change).
            "national_id = CASE WHEN h.national_id_hash = t.national_id_hash THEN h.national_id "
            "ELSE t.national_id END, national_id_hash = t.national_id_hash"
            if name == "national_id"
            else f"{name} = t.{name}"
            for name in self.text_fields
        ]
        assignments += [f"{name} = h.{name} OR t.{name}" for name in self.flag_fields]
        assignments.append("updated_at = %s")
        self._execute(
            f"UPDATE {holders} AS h SET {', '.join(assignments)} FROM {STAGE} t "  # noqa: S608
            f"WHERE t.line IN (SELECT s.line {changed}) AND h.id = t.cardholder_id",
            [_db_datetime(self.now), *span],
        )

    def _add_contact_points(self, batch: str, span: list, outcome: BatchOutcome) -> None:
        """Phones and the e-mail become debtor contact points (added, never removed). The first
        number of a cardholder the system has no number for yet is the one to dial (primary)."""
        points = _t(ContactPoint)
        phone, email = ContactPointKind.PHONE.value, ContactPointKind.EMAIL.value
        # k = line * 4 + the value's place in its row (0: phone, 1: phone2, 2: e-mail): the first row
        # wanting a value is the one it is counted for.
        wanted = f"""
            WITH wanted AS (
                SELECT cardholder_id, kind, value, value_hash, MIN(k) AS k FROM (
                    SELECT s.cardholder_id, %s AS kind, s.phone1 AS value, s.phone1_hash AS value_hash,
                           s.line * 4 AS k FROM {STAGE} s WHERE {batch} AND s.phone1 <> ''
                    UNION ALL
                    SELECT s.cardholder_id, %s, s.phone2, s.phone2_hash, s.line * 4 + 1
                    FROM {STAGE} s WHERE {batch} AND s.phone2 <> ''
                    UNION ALL
                    SELECT s.cardholder_id, %s, s.email, s.email_hash, s.line * 4 + 2
                    FROM {STAGE} s WHERE {batch} AND s.email <> ''
                ) v GROUP BY cardholder_id, kind, value, value_hash
            ), new AS (
                SELECT w.* FROM wanted w WHERE NOT EXISTS (
                    SELECT 1 FROM {points} c
                    WHERE c.cardholder_id = w.cardholder_id AND c.kind = w.kind AND c.value = w.value
                )
            )
        """  # noqa: S608
        params = [phone, *span, phone, *span, email, *span]
        touched = self._execute(
            f"UPDATE {STAGE} SET touched = TRUE WHERE line IN ({wanted} SELECT k / 4 FROM new)",  # noqa: S608
            params,
        )
        if not touched:
            return
        given = ["cardholder_id", "kind", "value", "value_hash", "party_role", "is_primary"]
        defaults = column_defaults(ContactPoint, given=given, now=self.now)
        if connection.vendor != "postgresql":  # SQLite counts no rows for a statement that starts WITH
            counted = f"{wanted} SELECT COUNT(*) FROM new"  # noqa: S608
            outcome.contact_points_added = self._query(counted, params)[0][0]
        added = self._execute(
            f"""
            {wanted}
            INSERT INTO {points} ({", ".join([*given, *defaults])})
            SELECT n.cardholder_id, n.kind, n.value, n.value_hash, %s,
                n.kind = %s AND n.k %% 4 = 0 AND NOT EXISTS (
                    SELECT 1 FROM {points} c WHERE c.cardholder_id = n.cardholder_id AND c.kind = %s
                ), {", ".join(["%s"] * len(defaults))}
            FROM new n ORDER BY n.k
            ON CONFLICT DO NOTHING
            """,  # noqa: S608
            [*params, PartyRole.DEBTOR.value, phone, phone, *defaults.values()],
        )
        if connection.vendor == "postgresql":
            outcome.contact_points_added = added

    def _merge_accounts(self, batch: str, span: list, outcome: BatchOutcome) -> None:
        """Insert new accounts; update those whose stored values differ from the row's. The row is
        `created`, `updated` (its account, cardholder or a contact point written) or `unchanged`."""
        accounts = _t(CreditAccount)
        as_of = _db_date(self.as_of)
        compared = [name for name in self.account_fields if name != "card_number"]
        compared += ["cardholder_id", "days_past_due", "bucket"]
        differs = [f"a.{name} IS DISTINCT FROM s.{name}" for name in compared]
        differs.append("a.dpd_as_of IS DISTINCT FROM %s")
        if "card_number" in self.account_fields:
            differs.append("a.card_number_hash IS DISTINCT FROM s.card_number_hash")
        self._execute(
            f"""
            UPDATE {STAGE} AS s SET account_id = a.id,
                was_delinquent = (a.overdue_amount > 0 AND a.first_missed_due_date IS NOT NULL),
                differs = ({" OR ".join(differs)})
            FROM {accounts} a WHERE {batch} AND a.external_ref = s.account_ref
            """,  # noqa: S608
            [as_of, *span],
        )
        self._execute(
            f"UPDATE {STAGE} AS s SET account_new = TRUE WHERE {batch} AND s.account_id IS NULL",  # noqa: S608
            span,
        )
        given = [
            "external_ref",
            "cardholder_id",
            "product",
            "currency",
            *MONEY,
            *DATES,
            "card_number",
            "card_number_hash",
            "card_last4",
            "days_past_due",
            "bucket",
            "dpd_as_of",
        ]
        defaults = column_defaults(CreditAccount, given=given, now=self.now)
        selected = ["s.account_ref", *(f"s.{name}" for name in given[1:-1]), "%s"]
        self._execute(
            f"""
            INSERT INTO {accounts} ({", ".join([*given, *defaults])})
            SELECT {", ".join(selected)}, {", ".join(["%s"] * len(defaults))}
            FROM {STAGE} s WHERE {batch} AND s.account_new ORDER BY s.line
            ON CONFLICT (external_ref) DO NOTHING
            """,  # noqa: S608
            [as_of, *defaults.values(), *span],
        )
        self._execute(
            f"""
            UPDATE {STAGE} AS s SET account_id = a.id FROM {accounts} a
            WHERE {batch} AND s.account_new AND a.external_ref = s.account_ref
            """,  # noqa: S608
            span,
        )
        assignments = [f"{name} = s.{name}" for name in compared if name != "dpd_as_of"]
        assignments.append("dpd_as_of = %s")
        if "card_number" in self.account_fields:
            # The stored token stays when the number is the same.
            assignments.append(
                "card_number = CASE WHEN a.card_number_hash = s.card_number_hash THEN a.card_number "
                "ELSE s.card_number END, card_number_hash = s.card_number_hash, card_last4 = s.card_last4"
            )
        assignments.append("updated_at = %s")
        self._execute(
            f"UPDATE {accounts} AS a SET {', '.join(assignments)} FROM {STAGE} s "  # noqa: S608
            f"WHERE {batch} AND s.differs AND a.id = s.account_id",
            [as_of, _db_datetime(self.now), *span],
        )
        counted = self._query(
            f"""
            SELECT
                SUM(CASE WHEN s.account_new THEN 1 ELSE 0 END),
                SUM(CASE WHEN NOT s.account_new AND (s.differs OR s.touched) THEN 1 ELSE 0 END),
                SUM(CASE WHEN NOT s.account_new AND NOT s.differs AND NOT s.touched THEN 1 ELSE 0 END)
            FROM {STAGE} s WHERE {batch}
            """,  # noqa: S608
            span,
        )[0]
        outcome.created, outcome.updated, outcome.unchanged = (int(n or 0) for n in counted)

    def _resolve_cured(self, batch: str, span: list, outcome: BatchOutcome) -> None:
        """Resolve the open cases of accounts the file shows with nothing overdue, set-based through
        the case kernel (`services.cases_resolve_cured`: one statement moves them and writes their
        RESOLVED events; their live plans cancelled): paid in full when the file gives the whole
        balance and it is nil, else cured (every open state may be resolved)."""
        cases = _t(Case)
        rows = f"""
            SELECT c.id FROM {STAGE} s JOIN {cases} c ON c.account_id = s.account_id
            WHERE {batch} AND NOT s.account_new AND s.overdue_amount = 0 AND c.closed_at IS NULL
        """  # noqa: S608
        found = Case.objects.filter(pk__in=RawSQL(rows, span))  # noqa: S611 - names from this module
        whole_balance = set(delinquency.COMPONENTS) <= self.header
        resolved = services.cases_resolve_cured(
            found,
            reason=f"Cured in the daily file of {self.as_of.isoformat()}",
            now=self.now,
            resolution_reason=None if whole_balance else ResolutionReason.CURED,
        )
        outcome.cases_resolved = len(resolved)


def _db_datetime(value: datetime):
    return CreditAccount._meta.get_field("updated_at").get_db_prep_save(value, connection)


def _db_date(value: date):
    return CreditAccount._meta.get_field("dpd_as_of").get_db_prep_save(value, connection)


def _aware(value) -> datetime:
    if isinstance(value, str):  # SQLite returns text from a raw query
        value = datetime.fromisoformat(value)
    return value if timezone.is_aware(value) else timezone.make_aware(value, UTC)


def _sqlite_value(value):
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, date):
        return value.isoformat()
    if value is None or isinstance(value, int | str):
        return value
    return str(value)  # Decimal


def dpd_and_bucket(missed: date | None, as_of: date, boundaries: list[int]) -> tuple[int, str]:
    dpd = delinquency.days_past_due(missed, as_of)
    return dpd, delinquency.bucket_for(dpd, boundaries)
