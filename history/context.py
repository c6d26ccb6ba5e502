"""Who made a change, from where, in which request: the context every recorded change carries.

pghistory attaches the context to the SQL statements of the code running inside `pghistory.context`;
the triggers store it with each event. Its metadata here:
- `user`: the acting user's id (None: the system);
- `source`: page, api, admin, job or shell (SOURCES);
- `request_id`: the web request's X-Request-ID, the Celery task's id, or one id per command run;
- `task` / `command`: the job's or command's name; `url`: the request's path.
A change made outside any context (a statement typed into psql) is still recorded, without context.
"""

from __future__ import annotations

import json
import re
import sys
import uuid
from contextlib import contextmanager

import pghistory
import pgtrigger
from django.utils.translation import gettext_lazy as _
from pghistory import config as pghistory_config
from pghistory import runtime

PAGE, API, ADMIN, JOB, SHELL = "page", "api", "admin", "job", "shell"
SOURCES = {
    PAGE: _("page"),
    API: _("API"),
    ADMIN: _("admin"),
    JOB: _("job"),
    SHELL: _("shell"),
}

# A request id sent by the caller (a gateway, the API client) is kept if it looks like one.
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{8,64}$")
# The management commands that are jobs (run by cron or an operator on schedule), not an operator's
# hand: the nightly pipeline and the imports.
JOB_COMMANDS = {"run_nightly", "import_accounts", "import_payments"}
# Commands that change nothing of their own, whose SQL is the schema's (migrate), or that write demo and
# benchmark data (recorded by the triggers all the same, without a context): no context.
UNTRACKED_COMMANDS = {
    "runserver",
    "test",
    "celery",
    "migrate",
    "makemigrations",
    "check",
    "help",
    "seed_demo",
    "generate_portfolio",
    "bench",
    "",
}


_prefix_each_statement = runtime._inject_history_context


def _inject_context(execute, sql, params, many, context):
    """pghistory puts the context in front of each statement (`SELECT set_config(...); <statement>`), with
    its values as the first parameters - which executemany's list of parameter rows cannot take (it fails
    with a TypeError). For executemany, set the context by a statement of its own first, on the same
    connection: the settings hold for the transaction. On SQLite (`make run` without a database server)
    there are no triggers and no settings to set: the statement runs as it is."""
    if context["connection"].vendor != "postgresql":
        return execute(sql, params, many, context)
    if not many:
        return _prefix_each_statement(execute, sql, params, many, context)
    cursor = context["cursor"]
    if runtime._can_inject_variable(cursor, sql):
        cursor.cursor.execute(
            "SELECT set_config('pghistory.context_id', %s, true), "
            "set_config('pghistory.context_metadata', %s, true)",
            [
                str(runtime._tracker.value.id),
                json.dumps(runtime._tracker.value.metadata, cls=pghistory_config.json_encoder()),
            ],
        )
    return execute(sql, params, many, context)


# pghistory.context installs the module's wrapper when it is entered: replace it once, at import.
runtime._inject_history_context = _inject_context


def new_request_id(incoming: str | None = None) -> str:
    """The caller's request id if it is a plausible one, else a new one."""
    if incoming and _REQUEST_ID.match(incoming):
        return incoming
    return uuid.uuid4().hex


def source_of_path(path: str) -> str:
    if path.startswith("/api/"):
        return API
    if path.startswith("/admin/"):
        return ADMIN
    return PAGE


def active() -> bool:
    """True inside a change context (a request, a job, a command)."""
    return hasattr(runtime._tracker, "value")


@contextmanager
def job_context(task: str, *, request_id: str | None = None, user_id: int | None = None):
    """Record the changes of a job (a Celery task, the nightly command) as source=job. Inside a context
    already open (a task run eagerly within a request), the changes stay the request's."""
    if active():
        yield
        return
    with pghistory.context(user=user_id, source=JOB, task=task, request_id=request_id or new_request_id()):
        yield


def command_context(command: str) -> pghistory.context:
    """The context of a management command's changes: source=job for the scheduled commands, shell for
    the others (an operator's hand, the shell included); no actor; one request id for the run."""
    source = JOB if command in JOB_COMMANDS else SHELL
    return pghistory.context(user=None, source=source, command=command, request_id=new_request_id())


_command_context = None


def start_command_context(argv: list[str]) -> None:
    """Called once at start-up of `manage.py <command>`: every change the command (or what is typed into
    its shell) makes is recorded in `command_context`. The context stays open until the process ends."""
    global _command_context
    command = argv[1] if len(argv) > 1 else ""
    if command in UNTRACKED_COMMANDS or _command_context is not None:
        return
    _command_context = command_context(command)
    _command_context.__enter__()


def is_manage_py(argv: list[str]) -> bool:
    return bool(argv) and argv[0].endswith("manage.py")


def start_if_command() -> None:
    if is_manage_py(sys.argv):
        start_command_context(sys.argv)


@contextmanager
def unrecorded():
    """Changes made inside are not recorded in the history of changes: for the personal-data purge alone,
    whose anonymisation must not leave the values it removes in a new event's old values (its own record
    is the PurgeRun, with its counts per table). Every other path is recorded."""
    with pgtrigger.ignore():
        yield
