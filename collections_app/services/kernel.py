"""The case kernel: the only code that changes a case's state.

- One case: `lock_case`, then `transition(case, name, actor=...)` inside the caller's transaction (state
  machine guard, permission, the change, the event).
- Many cases (nightly jobs, escalation rules): `bulk_transition(queryset, name, reason=...)`, set-based,
  with one event per case written by the same SQL statement.

The transition table is written once, on the model (`Case` transition methods and
`collections_app.models.TRANSITION_EFFECTS`); both paths read it.

Extension points: apps above the kernel (repayment plans, legal, escalation) take part in its operations
without the kernel importing them, so dependencies point one way. Each registers its handlers once, in its
AppConfig.ready(); handlers run inside the kernel's transaction.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from datetime import datetime

from django.db import OperationalError, connection, transaction
from django.db.models import DateTimeField, F, IntegerField, QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _
from django_fsm import can_proceed, has_transition_perm

from collections_app.models import (
    CLOSED_STATES,
    INCREMENT,
    NOW,
    TRANSITION_EFFECTS,
    USER_TRANSITIONS,
    Case,
    CaseEvent,
    CaseState,
    CreditAccount,
    EventKind,
)
from core.compiled import Param
from core.exceptions import ConcurrentUpdate, InvalidTransition, NotAllowed

__all__ = [
    "USER_TRANSITIONS",
    "bulk_transition",
    "cases_open_bulk",
    "column_defaults",
    "case_closed",
    "cases_closed",
    "payment_recorded",
    "bump_version",
    "event_write",
    "events_write_from",
    "lock_case",
    "lock_cases",
    "lock_rows",
    "is_deadlock",
    "lease_swap",
    "next_case_reference",
    "on_case_closed",
    "on_cases_closed",
    "on_payment_recorded",
    "register_transition_handler",
    "register_write_off_authoriser",
    "start_work_if_new",
    "transition",
    "transition_handler",
    "transition_sources",
]


def lock_case(case_id: int, *, expected_version: int | None = None) -> Case:
    # The row lock serialises two agents (or an agent and a worker) acting on one case: the second
    # waits, then re-reads the state and is refused cleanly if its action no longer applies.
    # Only the case row is locked (of=self): payments lock the account, then the case; locking the
    # account here too would take the two locks in the opposite order and risk a deadlock.
    case = (
        Case.objects.select_for_update(of=("self",))
        .select_related("account", "account__cardholder")
        .get(pk=case_id)
    )
    if expected_version is not None and case.version != expected_version:
        raise ConcurrentUpdate(
            _("The case was changed by someone else; reload it and try again."),
            details={"expected_version": expected_version, "current_version": case.version},
        )
    return case


def lock_rows(rows: QuerySet) -> None:
    """Lock the rows of `rows` (FOR UPDATE) inside the caller's transaction without reading them into
    Python: a set-based job locks thousands of rows in one statement. SQLite (one writer) needs no lock."""
    if connection.vendor != "postgresql":
        return
    sql, params = rows.select_for_update().values("pk").query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT count(*) FROM ({sql}) locked", params)  # noqa: S608 - the queryset's SQL


def lock_cases(cases: QuerySet[Case]) -> None:
    """Lock many cases, in id order (as every bulk path takes them, so that two bulk jobs never deadlock)."""
    lock_rows(cases.order_by("pk"))


def event_write(
    *,
    case: Case,
    kind: str,
    actor=None,
    reason: str = "",
    details: dict | None = None,
    from_state: str = "",
    to_state: str = "",
) -> CaseEvent:
    return CaseEvent.objects.create(
        case=case,
        kind=kind,
        actor=actor,
        reason=reason,
        details=details or {},
        from_state=from_state,
        to_state=to_state,
    )


def events_write_from(
    rows: QuerySet, *, case_field: str, details, kind: str, reason: str = "", actor=None, now: datetime
) -> int:
    """One event (not a state change: the kernel's `bulk_transition` writes those) for each row of `rows`,
    in one INSERT ... SELECT: the case is the row's `case_field`, the details an expression over the row
    (`JSONObject(...)`), the actor `actor` (None: the system). For the nightly checks' events (a promise
    broken, a plan broken or cancelled) over any number of rows, without reading them into Python.
    Returns how many were written."""
    selected = rows.annotate(event_case=F(case_field), event_details=details).values(
        "event_case", "event_details"
    )
    sql, params = selected.query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {CaseEvent._meta.db_table} "  # noqa: S608 - names from the model, values parameters
            "(case_id, kind, from_state, to_state, actor_id, reason, details, created_at) "
            f"SELECT s.event_case, %s, '', '', %s, %s, s.event_details, %s FROM ({sql}) s",
            [kind, getattr(actor, "pk", None), reason, now, *params],
        )
        return cursor.rowcount


def transition(
    case: Case,
    name: str,
    *,
    actor,
    reason: str = "",
    kind: str = EventKind.TRANSITION,
    details: dict | None = None,
    authority_request_id: int | None = None,
) -> CaseEvent:
    """Run transition `name` (a transition method of Case) on a case locked by `lock_case`, inside the
    caller's transaction: check the state machine and the actor's permission, change the state, bump the
    version, save, and write the event. Raises InvalidTransition or NotAllowed.

    A write-off (AUTHORISED_TRANSITIONS) runs only for an approved authority request,
    `authority_request_id`, which the registered authoriser (authority.services) checks: nobody writes a
    debt off alone, from any path. The request's id goes on the event."""
    method = getattr(case, name)
    if not can_proceed(method):
        raise InvalidTransition(
            _("A case in state '%(state)s' cannot do '%(name)s'.")
            % {"state": case.get_state_display(), "name": name},
            rule="state_machine",
            details={"state": case.state, "transition": name},
        )
    if not has_transition_perm(method, actor):
        raise NotAllowed(
            _("Your role may not '%(name)s' a case.") % {"name": name},
            rule="transition_permission",
            details={"transition": name},
        )
    if name in AUTHORISED_TRANSITIONS:
        _ensure_authorised(case, name, authority_request_id)
        details = {**(details or {}), "authority_request": authority_request_id}
    from_state = case.state
    method()
    case.version += 1
    case.save()
    return event_write(
        case=case,
        kind=kind,
        actor=actor,
        reason=reason,
        details=details,
        from_state=from_state,
        to_state=case.state,
    )


# Transitions that need an approved authority request (maker-checker): never run by one person's say-so,
# never in bulk.
AUTHORISED_TRANSITIONS = frozenset({"write_off"})


def _ensure_authorised(case: Case, name: str, authority_request_id: int | None) -> None:
    if authority_request_id is None or _write_off_authoriser is None:
        raise NotAllowed(
            _("A write-off needs an approved authority request: ask for one with Request write-off."),
            rule="authority_required",
            details={"transition": name},
        )
    _write_off_authoriser(case=case, request_id=authority_request_id)


def start_work_if_new(case: Case, *, actor) -> None:
    """The first work on a new case (a contact, a callback, a plan) starts it."""
    if case.state == CaseState.NEW:
        transition(case, "start_work", actor=actor)


def bump_version(case: Case, *fields: str) -> None:
    """Save a locked case's changed fields (never its state) and bump its version (the API's ETag)."""
    case.version += 1
    case.save(update_fields=["version", *fields])


def _bound(name: str, value) -> Param:
    field = DateTimeField() if isinstance(value, datetime) else IntegerField()
    return Param(name, field)


# lease_swap's statements, compiled: (select, shape of its values) -> (SQL, the selection's constants).
_lease_swap_statements: dict[tuple, tuple[str, dict]] = {}


def lease_swap(
    select: Callable[..., QuerySet[Case]],
    *,
    values: dict,
    actor,
    now: datetime,
    until: datetime,
    claim_reason: str,
    release_reason: str,
    expired_reason: str,
) -> Case | None:
    """Next case's writes for one agent: end the leases `actor` holds, lease them the first case of the
    selection `select(**values)` until `until`, and write the ASSIGNMENT events - on PostgreSQL in ONE
    statement (no transaction, no savepoint, one round trip), as the bench's raw claim does.

    `select(**values)` is the caller's locking selection (`select_for_update(skip_locked=True)`, ordered,
    built from `values`: datetimes, ids and lists of ids); it must leave out the cases `actor` holds (the
    same statement releases them: it must not hand one straight back, nor update a row twice). On
    PostgreSQL it is compiled once per `select` and number of ids (core.compiled's `Param`s in place of
    the values), not at every press. Events, in this order, all at `now`:
    - each lease ended: by `actor`, `release_reason` (`expired_reason` if it had already run out), details
      released / lease_owner / lease_until;
    - a colleague's lease that had run out on the case taken: by the system, `expired_reason`;
    - the claim: by `actor`, `claim_reason`, details lease_until.
    Each case changed gets its version bumped. The release is a compare-and-swap (no row lock taken
    before it): a lease a colleague took meanwhile (it had run out) is left alone and gets no event.
    Returns the case leased (every column, read back by the statement) or None."""
    if connection.vendor != "postgresql":
        return _lease_swap_one_writer(
            select(**values),
            actor=actor,
            now=now,
            until=until,
            claim_reason=claim_reason,
            release_reason=release_reason,
            expired_reason=expired_reason,
        )
    bind: dict = {}
    for name, value in values.items():
        if isinstance(value, list | tuple):
            bind.update({f"s_{name}_{i}": item for i, item in enumerate(value)})
        else:
            bind[f"s_{name}"] = value
    shape = tuple((name, len(v) if isinstance(v, list | tuple) else None) for name, v in values.items())
    key = (select, shape)
    compiled = _lease_swap_statements.get(key)
    if compiled is None:
        compiled = _lease_swap_statements[key] = _lease_swap_compile(select, values)
    sql, constants = compiled
    params = {
        **constants,
        **bind,
        "agent": actor.pk,
        "now": now,
        "until": until,
        "until_text": until.isoformat(),
        "kind": EventKind.ASSIGNMENT,
        "claim": claim_reason,
        "release": release_reason,
        "expired": expired_reason,
    }
    for attempt in range(DEADLOCK_RETRIES + 1):
        try:
            with connection.cursor() as cursor:
                cursor.execute(sql, params)
                row = cursor.fetchone()
            break
        except OperationalError as error:
            # Run alone (not inside the caller's transaction) the statement is its own transaction: a
            # deadlock aborted it whole, nothing was written, and it is simply run again.
            if connection.in_atomic_block or attempt == DEADLOCK_RETRIES or not is_deadlock(error):
                raise
    return _case_from_row(row) if row else None


# Two claims can deadlock although neither waits for a row the other is claiming (SKIP LOCKED): locking
# a row that was updated, PostgreSQL follows its update chain and may wait for the updater there.
DEADLOCK_RETRIES = 3


def is_deadlock(error: BaseException) -> bool:
    """The database error (as Django raises it) is PostgreSQL's "deadlock detected" (SQLSTATE 40P01)."""
    return getattr(error.__cause__, "sqlstate", None) == "40P01"


def _lease_swap_compile(select: Callable[..., QuerySet[Case]], values: dict) -> tuple[str, dict]:
    """`lease_swap`'s statement for the selection `select` over values shaped like `values`: its SQL with
    named parameters, and the selection's constants (the values are Params, s_<name>[_<i>])."""
    markers = {
        name: [_bound(f"s_{name}_{i}", item) for i, item in enumerate(value)]
        if isinstance(value, list | tuple)
        else _bound(f"s_{name}", value)
        for name, value in values.items()
    }
    pick = select(**markers).values("id", "lease_owner_id", "lease_expires_at")[:1].query
    if not pick.select_for_update:
        raise ValueError("lease_swap takes a locking selection (select_for_update)")
    # Django compiles a locking SELECT only inside a transaction; this one runs inside the statement
    # (which is its own transaction), so its lock clause is written here, as the selection asks for it.
    pick.select_for_update = False
    pick_sql, pick_params = pick.sql_with_params()
    lock = connection.ops.for_update_sql(
        nowait=pick.select_for_update_nowait, skip_locked=pick.select_for_update_skip_locked
    )
    constants = {f"c{i}": p for i, p in enumerate(pick_params) if not isinstance(p, Param)}
    names = [p.name if isinstance(p, Param) else f"c{i}" for i, p in enumerate(pick_params)]
    pick_sql = f"{pick_sql} {lock}" % tuple(f"%({name})s" for name in names)
    table, events = Case._meta.db_table, CaseEvent._meta.db_table
    case_columns = [f.column for f in Case._meta.concrete_fields]
    columns, returned = ", ".join(f"c.{n}" for n in case_columns), ", ".join(case_columns)
    # `pick` is MATERIALIZED so the locking selection runs once. As a subquery joined to the UPDATE, a
    # plan that scans the cases and re-runs the selection for each (chosen when the statistics say the
    # table is nearly empty) saw the case just leased as modified, skipped it and returned the next one,
    # which the scan then leased too: one press leased every ready case stored after the first.
    # Table and column names come from the model; every value is a parameter.
    sql = f"""
        WITH held AS (
            SELECT id, lease_expires_at FROM {table} WHERE lease_owner_id = %(agent)s
        ), released AS (
            UPDATE {table} c SET lease_owner_id = NULL, lease_expires_at = NULL, version = c.version + 1
            FROM held WHERE c.id = held.id AND c.lease_owner_id = %(agent)s
            RETURNING c.id, held.lease_expires_at AS was_until
        ), pick AS MATERIALIZED (
            {pick_sql}
        ), claimed AS (
            UPDATE {table} c SET lease_owner_id = %(agent)s, lease_expires_at = %(until)s,
                version = c.version + 1
            FROM pick WHERE c.id = pick.id
            RETURNING {columns}, pick.lease_owner_id AS was_owner, pick.lease_expires_at AS was_until
        ), written AS (
            INSERT INTO {events} (case_id, kind, from_state, to_state, actor_id, reason, details, created_at)
            SELECT e.case_id, %(kind)s, '', '', e.actor_id, e.reason, e.details, %(now)s FROM (
                SELECT 1 AS n, id AS case_id, %(agent)s AS actor_id,
                    CASE WHEN was_until < %(now)s THEN %(expired)s ELSE %(release)s END AS reason,
                    jsonb_build_object('released', true, 'lease_owner', %(agent)s,
                        'lease_until', {_iso("was_until")}) AS details
                FROM released
                UNION ALL
                SELECT 2, id, NULL, %(expired)s, jsonb_build_object('released', true,
                    'lease_owner', was_owner, 'lease_until', {_iso("was_until")})
                FROM claimed WHERE was_owner IS NOT NULL
                UNION ALL
                SELECT 3, id, %(agent)s, %(claim)s, jsonb_build_object('lease_until', %(until_text)s::text)
                FROM claimed
            ) e ORDER BY e.n, e.case_id
        )
        SELECT {returned} FROM claimed
    """  # noqa: S608
    return sql, constants


def _iso(column: str) -> str:
    """SQL for a timestamp as Python's `isoformat()` writes it in UTC (what `details` of a lease's end
    have always held): seconds, the microseconds only when there are some, "+00:00"."""
    utc = f"({column} AT TIME ZONE 'UTC')"
    return (
        f"(to_char({utc}, 'YYYY-MM-DD\"T\"HH24:MI:SS') || CASE WHEN mod(extract(microseconds FROM {column}), "
        f"1000000) = 0 THEN '' ELSE to_char({utc}, '.US') END || '+00:00')"
    )


def _case_from_row(row) -> Case:
    fields = Case._meta.concrete_fields
    values = [
        field.from_db_value(value, None, connection) if hasattr(field, "from_db_value") else value
        for field, value in zip(fields, row, strict=True)
    ]
    return Case.from_db(connection.alias, [f.attname for f in fields], values)


def _lease_swap_one_writer(
    candidates: QuerySet[Case],
    *,
    actor,
    now: datetime,
    until: datetime,
    claim_reason: str,
    release_reason: str,
    expired_reason: str,
) -> Case | None:
    """`lease_swap` on SQLite (one writer at a time: nothing changes between a read and a write)."""

    def ended(pk, owner, was_until, by, reason):
        details = {
            "released": True,
            "lease_owner": owner,
            "lease_until": was_until.isoformat() if was_until else None,
        }
        return CaseEvent(
            case_id=pk, kind=EventKind.ASSIGNMENT, actor_id=by, reason=reason, details=details, created_at=now
        )

    with transaction.atomic():
        held = list(Case.objects.filter(lease_owner=actor).values_list("pk", "lease_expires_at"))
        Case.objects.filter(pk__in=[pk for pk, _until in held]).update(
            lease_owner=None, lease_expires_at=None, version=F("version") + 1
        )
        written = [
            ended(pk, actor.pk, was, actor.pk, expired_reason if was and was < now else release_reason)
            for pk, was in held
        ]
        case = candidates.first()
        if case is not None:
            if case.lease_owner_id is not None:
                expired = ended(case.pk, case.lease_owner_id, case.lease_expires_at, None, expired_reason)
                written.append(expired)
            case.lease_owner = actor
            case.lease_expires_at = until
            bump_version(case, "lease_owner", "lease_expires_at")
            written.append(
                CaseEvent(
                    case=case,
                    kind=EventKind.ASSIGNMENT,
                    actor=actor,
                    reason=claim_reason,
                    details={"lease_until": until.isoformat()},
                    created_at=now,
                )
            )
        CaseEvent.objects.bulk_create(written)
    return case


def next_case_reference(account_id: int, existing: int) -> str:
    return f"C{account_id:08d}-{existing + 1}"


# --- Many cases at once ---------------------------------------------------------------------------


def column_defaults(model, *, given: Iterable[str], now: datetime) -> dict[str, object]:
    """The database value of every column of `model` that an `INSERT ... SELECT` does not give: the
    field's default (auto_now fields get `now`). Django keeps defaults in Python, not in the schema, so a
    set-based insert must name them; taken from the model, a column added later is covered too."""
    given = set(given)
    values: dict[str, object] = {}
    for field in model._meta.concrete_fields:
        if field.primary_key or field.generated or field.column in given or field.name in given:
            continue
        if getattr(field, "auto_now", False) or getattr(field, "auto_now_add", False):
            value = now
        elif field.has_default():
            value = field.get_default()
        elif field.null:
            value = None
        elif field.blank and field.empty_strings_allowed:
            value = ""
        else:
            raise ValueError(f"{model._meta.label}.{field.name} has no default for a set-based insert")
        values[field.column] = field.get_db_prep_save(value, connection)
    return values


def cases_open_bulk(accounts: QuerySet[CreditAccount], *, reason: str, now: datetime | None = None) -> int:
    """Open a case (state NEW, an OPENED event by the system) for every delinquent account of `accounts`
    that has no open case and whose debt was not written off - charge-off is final until a person opens a
    case. Set-based: one INSERT ... SELECT of cases and one of their events, whatever the number of
    accounts; the partial unique index one_open_case_per_account makes a concurrent opening skip the
    account rather than fail. The reference counts the account's earlier cases (next_case_reference).
    Contactability is left to the caller (contactability_recompute of the cases opened at `now`).
    Returns how many cases were opened."""
    now = now or timezone.now()
    cases, events, account_table = Case._meta.db_table, CaseEvent._meta.db_table, CreditAccount._meta.db_table
    selected_sql, selected_params = accounts.values("pk").query.sql_with_params()
    case_defaults = column_defaults(Case, given=("reference", "account_id", "opened_at", "state"), now=now)
    event_defaults = column_defaults(
        CaseEvent, given=("case_id", "kind", "to_state", "reason", "created_at"), now=now
    )
    if connection.vendor == "postgresql":
        account_text = "CASE WHEN a.id < 100000000 THEN lpad(a.id::text, 8, '0') ELSE a.id::text END"
    else:
        account_text = "printf('%%08d', a.id)"
    not_again = [*(s for s in CaseState.values if s not in CLOSED_STATES), CaseState.WRITTEN_OFF]
    placeholders = ", ".join(["%s"] * len(not_again))
    case_columns = ", ".join(case_defaults)
    case_values = ", ".join(["%s"] * len(case_defaults))
    dt = Case._meta.get_field("opened_at")
    stamp = dt.get_db_prep_save(now, connection)
    # Table and column names come from the models; every value is a parameter.
    insert_cases = f"""
        INSERT INTO {cases} (reference, account_id, opened_at, state, {case_columns})
        SELECT 'C' || {account_text} || '-' || CAST(
                   (SELECT COUNT(*) FROM {cases} k WHERE k.account_id = a.id) + 1 AS TEXT),
               a.id, %s, %s, {case_values}
        FROM {account_table} a
        WHERE a.id IN ({selected_sql})
          AND a.overdue_amount > 0 AND a.first_missed_due_date IS NOT NULL
          AND NOT EXISTS (
              SELECT 1 FROM {cases} k WHERE k.account_id = a.id AND k.state IN ({placeholders})
          )
        ORDER BY a.id
        ON CONFLICT DO NOTHING
    """  # noqa: S608
    event_columns = ", ".join(event_defaults)
    event_values = ", ".join(["%s"] * len(event_defaults))
    event_params = [EventKind.OPENED, CaseState.NEW, reason, stamp, *event_defaults.values()]
    case_params = [stamp, CaseState.NEW, *case_defaults.values(), *selected_params, *not_again]
    with transaction.atomic(), connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            # One statement: the events are written from the cases the INSERT returned.
            cursor.execute(
                f"""
                WITH opened AS ({insert_cases} RETURNING id)
                INSERT INTO {events} (case_id, kind, to_state, reason, created_at, {event_columns})
                SELECT opened.id, %s, %s, %s, %s, {event_values} FROM opened ORDER BY opened.id
                """,  # noqa: S608
                [*case_params, *event_params],
            )
            return cursor.rowcount
        # SQLite (one writer at a time): the cases just opened are the NEW ones of these accounts
        # opened at `now` without an event yet.
        cursor.execute(insert_cases, case_params)
        opened = cursor.rowcount
        if opened:
            cursor.execute(
                f"""
                INSERT INTO {events} (case_id, kind, to_state, reason, created_at, {event_columns})
                SELECT c.id, %s, %s, %s, %s, {event_values} FROM {cases} c
                WHERE c.opened_at = %s AND c.state = %s AND c.account_id IN ({selected_sql})
                  AND NOT EXISTS (SELECT 1 FROM {events} e WHERE e.case_id = c.id)
                ORDER BY c.id
                """,  # noqa: S608
                [*event_params, stamp, CaseState.NEW, *selected_params],
            )
    return opened


def _sources_and_target(name: str) -> tuple[list[str], str]:
    """The states transition `name` leaves from, and the one it goes to, as declared on Case (django-fsm
    keeps one entry per source state)."""
    found = [t for t in Case._meta.get_field("state").get_all_transitions(Case) if t.name == name]
    if not found:
        raise InvalidTransition(
            _("'%(name)s' is not a case transition.") % {"name": name}, rule="state_machine"
        )
    return sorted({t.source for t in found}), found[0].target


def transition_sources(name: str) -> tuple[str, ...]:
    """The case states from which transition `name` may run, as declared on Case - for a filter over
    many cases; for one case in hand ask `django_fsm.can_proceed(getattr(case, name))`."""
    return tuple(_sources_and_target(name)[0])


def bulk_transition(
    cases: QuerySet[Case],
    name: str,
    *,
    reason: str,
    kind: str = EventKind.TRANSITION,
    details: dict | None = None,
    values: dict | None = None,
    now: datetime | None = None,
    details_by_case: dict[int, dict] | None = None,
    details_fields: tuple[str, ...] = (),
) -> list[int]:
    """Run transition `name` on every case of `cases` whose state allows it, as the system (actor None):
    one UPDATE and one INSERT of events, whatever the number of cases. Cases whose state does not allow
    the transition are left alone (so a second run changes nothing). `values` sets other case columns
    (e.g. a resolution reason), each to a constant or to an expression over the case (`Case(When(...))`,
    joins allowed: it is computed in the statement that selects the cases); the transition's own effects
    (TRANSITION_EFFECTS) are applied too. Every event gets `details`; `details_fields` adds those case
    columns as the transition left them (e.g. the resolution reason each case got; on SQLite only fields
    set by `values`, to a constant or an expression); `details_by_case`
    (case id -> dict) adds what is particular to a case (e.g. which plan broke), merged over both.
    Returns the ids of the cases moved, each with one event. A write-off is never run in bulk (it needs
    an approved authority request per case)."""
    if name in AUTHORISED_TRANSITIONS:
        raise NotAllowed(
            _("A write-off needs an approved authority request for each case."),
            rule="authority_required",
            details={"transition": name},
        )
    values = {**TRANSITION_EFFECTS.get(name, {}), **(values or {})}
    computed = {f: v for f, v in values.items() if hasattr(v, "resolve_expression")}
    if computed and connection.vendor != "postgresql":
        return _bulk_transition_by_value(
            cases,
            name,
            computed=computed,
            reason=reason,
            kind=kind,
            details=details,
            values=values,
            now=now,
            details_by_case=details_by_case,
            details_fields=details_fields,
        )
    sources, target = _sources_and_target(name)
    now = now or timezone.now()
    table, events = Case._meta.db_table, CaseEvent._meta.db_table
    assignments, params = ["state = %s", "version = c.version + 1"], [target]
    for field_name, value in values.items():
        column = Case._meta.get_field(field_name).column
        if field_name in computed:
            assignments.append(f"{column} = src.value_{column}")
        elif value is INCREMENT:
            assignments.append(f"{column} = c.{column} + 1")
        else:
            assignments.append(f"{column} = %s")
            params.append(now if value is NOW else value)
    selected = cases.filter(state__in=sources)
    set_clause = ", ".join(assignments)
    event_values = [kind, target, reason, json.dumps(details or {})]
    by_case = json.dumps({str(pk): extra for pk, extra in (details_by_case or {}).items()})
    with transaction.atomic():
        if connection.vendor == "postgresql":
            if computed:
                # The computed values come with the selection (its joins stay in the subquery).
                aliases = [f"value_{Case._meta.get_field(f).column}" for f in computed]
                selected = selected.annotate(**dict(zip(aliases, computed.values(), strict=True)))
                selected_sql, selected_params = selected.values("id", *aliases).query.sql_with_params()
                columns = "".join(f", sel.{alias}" for alias in aliases)
                src = f"""
                    SELECT c.id, c.state{columns} FROM {table} c JOIN ({selected_sql}) sel ON sel.id = c.id
                    WHERE c.state = ANY(%s) FOR UPDATE OF c
                """  # noqa: S608
            else:
                selected_sql, selected_params = selected.values("pk").query.sql_with_params()
                src = f"""
                    SELECT c.id, c.state FROM {table} c
                    WHERE c.id IN ({selected_sql}) AND c.state = ANY(%s)
                    FOR UPDATE OF c
                """  # noqa: S608
            returned = "".join(
                f", c.{Case._meta.get_field(f).column} AS detail_{i}" for i, f in enumerate(details_fields)
            )
            from_row = "".join(
                f" || jsonb_build_object(%s, moved.detail_{i})" for i in range(len(details_fields))
            )
            # One statement: lock the rows (re-checking their state once locked), move them, and write one
            # event each from the rows actually moved - a case changed meanwhile by an agent is skipped.
            # Table and column names come from the model; every value is a parameter.
            sql = f"""
                WITH src AS ({src}), moved AS (
                    UPDATE {table} c SET {set_clause} FROM src WHERE c.id = src.id
                    RETURNING c.id, src.state AS from_state{returned}
                )
                INSERT INTO {events}
                    (case_id, kind, from_state, to_state, actor_id, reason, details, created_at)
                SELECT moved.id, %s, moved.from_state, %s, NULL, %s,
                    %s::jsonb{from_row} || COALESCE(%s::jsonb -> moved.id::text, '{{}}'::jsonb), %s
                FROM moved
                RETURNING case_id
            """  # noqa: S608
            with connection.cursor() as cursor:
                cursor.execute(
                    sql,
                    [*selected_params, sources, *params, *event_values, *details_fields, by_case, now],
                )
                return [row[0] for row in cursor.fetchall()]
        # SQLite (the embedded default) has one writer at a time, so the events written from the rows as
        # they are and the UPDATE that follows see the same cases. Values here are constants.
        selected_sql, selected_params = selected.values("pk").query.sql_with_params()
        ids = list(selected.values_list("pk", flat=True))
        if not ids:
            return []
        if details_fields:
            written = {f: now.isoformat() if values[f] is NOW else values[f] for f in details_fields}
            event_values[3] = json.dumps({**(details or {}), **written})
        placeholders = ", ".join(["%s"] * len(sources))
        with connection.cursor() as cursor:
            cursor.execute(
                f"INSERT INTO {events} (case_id, kind, from_state, to_state, actor_id, reason, details, "  # noqa: S608
                "created_at) "
                "SELECT c.id, %s, c.state, %s, NULL, %s, "
                "json_patch(%s, COALESCE(json_extract(%s, '$.\"' || c.id || '\"'), '{}')), %s "
                f"FROM {table} c WHERE c.id IN ({selected_sql}) AND c.state IN ({placeholders})",
                [*event_values, by_case, now, *selected_params, *sources],
            )
            cursor.execute(
                f"UPDATE {table} AS c SET {set_clause} WHERE c.id IN ({selected_sql}) "  # noqa: S608
                f"AND c.state IN ({placeholders})",
                [*params, *selected_params, *sources],
            )
        return ids


def _bulk_transition_by_value(cases: QuerySet[Case], name: str, *, computed: dict, **kwargs) -> list[int]:
    """SQLite: `bulk_transition` with computed values, as one constant-valued call per distinct value
    (a handful: the values are categories such as a resolution reason)."""
    sources, _target = _sources_and_target(name)
    aliases = {f"value_{field}": expression for field, expression in computed.items()}
    groups: dict[tuple, list[int]] = {}
    rows = cases.filter(state__in=sources).annotate(**aliases).values_list("pk", *aliases)
    for pk, *found in rows:
        groups.setdefault(tuple(found), []).append(pk)
    constants = {f: v for f, v in kwargs.pop("values").items() if f not in computed}
    moved: list[int] = []
    for found, pks in groups.items():
        values = {**constants, **dict(zip(computed, found, strict=True))}
        moved += bulk_transition(Case.objects.filter(pk__in=pks), name, values=values, **kwargs)
    return moved


# --- Extension points -----------------------------------------------------------------------------

_case_closed_handlers: list[Callable] = []
_cases_closed_handlers: list[Callable] = []
_payment_handlers: list[Callable] = []
_transition_handlers: dict[str, Callable] = {}
_write_off_authoriser: Callable | None = None


def on_case_closed(handler: Callable) -> Callable:
    """Register `handler(case=, actor=, reason=)`, called when a case is resolved or written off by a
    person or a payment (repayment plans cancel the live plan)."""
    _case_closed_handlers.append(handler)
    return handler


def case_closed(case: Case, *, actor, reason: str) -> None:
    for handler in _case_closed_handlers:
        handler(case=case, actor=actor, reason=reason)


def on_cases_closed(handler: Callable) -> Callable:
    """Register `handler(case_ids=, actor=, reason=)`, the set-based counterpart of `on_case_closed`: called
    after `bulk_transition` has resolved or written off many cases (the nightly pipeline), inside the same
    transaction, with the ids it moved (repayment plans cancel their live plans in bulk)."""
    _cases_closed_handlers.append(handler)
    return handler


def cases_closed(case_ids: list[int], *, actor, reason: str) -> None:
    """Tell the `on_cases_closed` handlers that the cases `case_ids` have just been closed in bulk."""
    if not case_ids:
        return
    for handler in _cases_closed_handlers:
        handler(case_ids=case_ids, actor=actor, reason=reason)


def on_payment_recorded(handler: Callable) -> Callable:
    """Register `handler(case=, payment=, actor=)`, called for a payment on an open case before promises
    are settled (repayment plans allocate it to the installments)."""
    _payment_handlers.append(handler)
    return handler


def payment_recorded(case: Case, *, payment, actor) -> None:
    for handler in _payment_handlers:
        handler(case=case, payment=payment, actor=actor)


def register_transition_handler(name: str, handler: Callable) -> None:
    """The operation that carries out the user transition `name` when it is asked for by name (API, case
    page, admin action): `handler(case_id=, actor=, reason=, expected_version=, resolution_reason=,
    court_reference=)`. Legal registers its transitions, which need a referral and a limitation check."""
    _transition_handlers[name] = handler


def register_write_off_authoriser(authoriser: Callable) -> None:
    """`authoriser(case=, request_id=)` raises NotAllowed unless `request_id` is an approved write-off
    request of `case` (authority registers it). Without one, no write-off runs at all."""
    global _write_off_authoriser
    _write_off_authoriser = authoriser


def transition_handler(name: str) -> Callable | None:
    return _transition_handlers.get(name)
