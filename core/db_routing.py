"""Reads that may lag go to the read replica: the one place that decides which database a query reads.

With `DATABASE_REPLICA_URL` set, the settings add a second alias (settings.DATABASE_READ_REPLICA,
"replica") for a PostgreSQL streaming replica. Dashboards, their CSV exports and the access report read
from it - they aggregate a lot and tolerate a replica a moment behind - so that supervisors' heavy reads
never compete with the agents' claims and the nightly batch on the primary. Everything else reads the
primary, and every write goes there whatever the context.

A view opts in with `@replica_reads` (dashboards/views.py, dashboards/access_views.py). The choice is a
context variable rather than a per-model rule, because the same models (cases, contact attempts) are read
by the case page, which must see the agent's own last write. Inside the context:
- a read inside a transaction on the primary stays on the primary (a service an export calls to record
  the look reads what it is about to write next to, and SELECT ... FOR UPDATE cannot run on a standby);
- writes go to the primary (a replica refuses them anyway);
- raw SQL reads (the rollups' `read`, the access report's unusual days) take `read_connection()`, which
  makes the same choice - `django.db.connection` is always the primary;
- a CSV download streams after the view has returned: `replica_reads` carries the context into each
  chunk the server pulls from the response, so the export's own queries read the replica too.

A replica that cannot be reached is left alone for RETRY_AFTER_SECONDS (logged): the dashboards read
the primary meanwhile rather than fail. Without `DATABASE_REPLICA_URL` the context changes nothing:
every query uses "default"."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from functools import wraps

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, DatabaseError, connections, router
from django.http import StreamingHttpResponse

logger = logging.getLogger(__name__)

# After a failed connection to the replica, the seconds the dashboards read the primary before it is
# tried again (rather than each request waiting for the connect timeout of a replica that is down).
RETRY_AFTER_SECONDS = 30
_down_until = 0.0

# The alias reads go to within the replica context (None: the primary).
_reading: ContextVar[str | None] = ContextVar("reading_replica", default=None)


def replica_alias() -> str | None:
    """The alias lagging reads go to, or None when no replica is configured."""
    return getattr(settings, "DATABASE_READ_REPLICA", None) or None


def _replica_if_reachable() -> str | None:
    global _down_until
    alias = replica_alias()
    if alias is None or time.monotonic() < _down_until:
        return None
    try:
        connections[alias].ensure_connection()
    except DatabaseError as error:
        _down_until = time.monotonic() + RETRY_AFTER_SECONDS
        logger.warning(
            "read replica unreachable (%s): dashboards read the primary for %s s",
            type(error).__name__,
            RETRY_AFTER_SECONDS,
        )
        return None
    return alias


@contextmanager
def replica_context() -> Iterator[None]:
    """Within it, reads outside a transaction on the primary go to the replica (when one is configured
    and reachable)."""
    token = _reading.set(_replica_if_reachable())
    try:
        yield
    finally:
        _reading.reset(token)


def read_connection(model=None):
    """The connection a raw SQL read should use: the replica inside the replica context (outside a
    transaction on the primary), else the primary - the router's choice for an ORM read."""
    return connections[router.db_for_read(model)]


def _on_replica(chunks: Iterable, alias: str | None) -> Iterator:
    """Each chunk of a streamed response produced reading `alias`, the view's choice. A generator shares
    its caller's context, so the variable is set and reset around each step, not once around the loop.
    A download cut short needs nothing here: the response closes every iterator it was given."""
    iterator = iter(chunks)
    while True:
        token = _reading.set(alias)
        try:
            chunk = next(iterator)
        except StopIteration:
            return
        finally:
            _reading.reset(token)
        yield chunk


def replica_reads(view):
    """View decorator: the view's reads (and, for a streamed CSV, the streaming's) go to the replica.
    Put it below the permission decorators, which should read the primary."""

    @wraps(view)
    def wrapped(request, *args, **kwargs):
        with replica_context():
            response = view(request, *args, **kwargs)
            if isinstance(response, StreamingHttpResponse):
                response.streaming_content = _on_replica(response.streaming_content, _reading.get())
        return response

    return wrapped


class ReplicaRouter:
    """DATABASE_ROUTERS' only router. It always names a database, so that Django never falls back to the
    database an instance was loaded from: an object read on the replica and saved later is saved on the
    primary, and its related objects are read where the context says."""

    def db_for_read(self, model, **hints) -> str:
        alias = _reading.get()
        if alias and not connections[DEFAULT_DB_ALIAS].in_atomic_block:
            return alias
        return DEFAULT_DB_ALIAS

    def db_for_write(self, model, **hints) -> str:
        return DEFAULT_DB_ALIAS

    def allow_relation(self, obj1, obj2, **hints) -> bool | None:
        # The replica holds the primary's rows: an object read on either may point at one read on the other.
        same_data = {DEFAULT_DB_ALIAS, replica_alias()}
        if obj1._state.db in same_data and obj2._state.db in same_data:
            return True
        return None

    def allow_migrate(self, db, app_label, model_name=None, **hints) -> bool | None:
        # The only other alias is the replica: a standby replays the primary's schema, and
        # `migrate --database replica` would only fail there.
        return None if db == DEFAULT_DB_ALIAS else False
