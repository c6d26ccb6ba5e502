"""Settings parsing: each variable's reader, and the refusal to start with the development key."""

import os
import re
import secrets
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from config.env import env_bool, env_int, env_list

ROOT = Path(__file__).resolve().parents[2]


def run_django(env: dict, *args: str) -> subprocess.CompletedProcess:
    clean = {
        k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "DATABASE_URL", "REDIS_URL"))
    }
    clean.update(env)
    return subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=clean, capture_output=True, text=True, timeout=60
    )


@pytest.mark.parametrize(
    ("raw", "expected"), [("1", True), ("true", True), ("On", True), ("0", False), ("no", False)]
)
def test_env_bool_reads_the_usual_spellings(monkeypatch, raw, expected):
    monkeypatch.setenv("X_FLAG", raw)
    assert env_bool("X_FLAG") is expected


def test_env_bool_treats_an_empty_value_as_unset(monkeypatch):
    monkeypatch.setenv("X_FLAG", "")
    assert env_bool("X_FLAG", True) is True


def test_env_bool_refuses_nonsense(monkeypatch):
    monkeypatch.setenv("X_FLAG", "maybe")
    with pytest.raises(ImproperlyConfigured, match="X_FLAG"):
        env_bool("X_FLAG")


def test_env_int_names_the_variable_on_a_bad_value(monkeypatch):
    monkeypatch.setenv("X_NUM", "ten")
    with pytest.raises(ImproperlyConfigured, match="X_NUM must be a whole number"):
        env_int("X_NUM", 1)
    monkeypatch.setenv("X_NUM", "10")
    assert env_int("X_NUM", 1) == 10


def test_env_list_splits_on_commas(monkeypatch):
    monkeypatch.setenv("X_LIST", "a, b,,c")
    assert env_list("X_LIST") == ["a", "b", "c"]
    monkeypatch.delenv("X_LIST")
    assert env_list("X_LIST", ["d"]) == ["d"]


@pytest.mark.parametrize(
    "secret",
    [
        pytest.param(None, id="missing"),
        pytest.param("", id="empty, as .env.example ships it"),
        pytest.param("   ", id="blank"),
        pytest.param(settings.DEVELOPMENT_SECRET_KEY, id="the development key"),
    ],
)
def test_debug_off_without_a_secret_key_fails_fast_with_a_clear_message(secret):
    env = {"DJANGO_DEBUG": "0"} | ({} if secret is None else {"DJANGO_SECRET_KEY": secret})
    result = run_django(env, "check")
    assert result.returncode != 0
    assert "ImproperlyConfigured: DJANGO_SECRET_KEY is not set and DJANGO_DEBUG is off" in result.stderr


def test_debug_on_with_an_empty_secret_key_uses_the_development_key():
    code = "from django.conf import settings as s;print(s.SECRET_KEY == s.DEVELOPMENT_SECRET_KEY)"
    result = run_django({"DJANGO_DEBUG": "1", "DJANGO_SECRET_KEY": ""}, "shell", "-v", "0", "-c", code)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["True"]


def test_defaults_are_sqlite_and_the_serverless_broker():
    code = (
        "from django.conf import settings as s;"
        "print(s.DATABASES['default']['ENGINE']);print(s.CELERY_BROKER_URL);print(s.DEBUG)"
    )
    result = run_django({"DJANGO_DEBUG": "1"}, "shell", "-v", "0", "-c", code)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["django.db.backends.sqlite3", "filesystem://", "True"]


def test_sqlite_connections_queue_for_the_write_lock_and_read_beside_a_writer(tmp_path):
    """`make run`'s web, worker and beat share one SQLite file: transactions take the write lock at BEGIN
    (IMMEDIATE), where a busy writer is waited for (the busy timeout) instead of answering "database is
    locked"; WAL lets pages read while a nightly step writes; the worker works one task at a time."""
    code = (
        "from django.conf import settings as s;from django.db import connection as c;"
        "cursor = c.cursor();"
        "[print(cursor.execute(f'PRAGMA {p}').fetchone()[0]) for p in ('journal_mode', 'busy_timeout', "
        "'synchronous')];"
        "print(c.transaction_mode);print(s.CELERY_WORKER_CONCURRENCY)"
    )
    database_url = f"sqlite:///{tmp_path / 'db.sqlite3'}"
    result = run_django({"DJANGO_DEBUG": "1", "DATABASE_URL": database_url}, "shell", "-v", "0", "-c", code)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["wal", "30000", "1", "IMMEDIATE", "1"]  # synchronous 1 is NORMAL


def test_postgresql_gets_no_sqlite_options_and_the_default_worker_concurrency():
    code = (
        "from django.conf import settings as s;print(s.DATABASES['default'].get('OPTIONS', {}));"
        "print(hasattr(s, 'CELERY_WORKER_CONCURRENCY'))"
    )
    env = {"DJANGO_DEBUG": "1", "DATABASE_URL": "postgres://u:p@db.example:5432/x"}
    result = run_django(env, "shell", "-v", "0", "-c", code)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split("\n")[:2] == ["{'prepare_threshold': 5, 'options': '-c jit=off'}", "False"]


def test_database_and_redis_urls_switch_backends():
    code = (
        "from django.conf import settings as s;"
        "print(s.DATABASES['default']['ENGINE']);print(s.CELERY_BROKER_URL)"
    )
    result = run_django(
        {
            "DJANGO_DEBUG": "1",
            "DATABASE_URL": "postgres://u:p@db.example:5432/x",
            "REDIS_URL": "redis://cache.example:6379/3",
        },
        "shell",
        "-v",
        "0",
        "-c",
        code,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["django.db.backends.postgresql", "redis://cache.example:6379/3"]


def new_key() -> str:
    return Fernet.generate_key().decode()


def test_production_settings_pass_the_deploy_check():
    """The documented production environment: the values `.env.example` sets (its commented-out lines
    keep their defaults), with the secret key filled in the way its comment says to make one."""
    documented = dict(re.findall(r"^([A-Z][A-Z0-9_]*)=(.*)$", (ROOT / ".env.example").read_text(), re.M))
    assert documented["DJANGO_DEBUG"] == "0"
    assert documented["DJANGO_SECRET_KEY"] == "", "the operator fills it in"
    assert documented["PII_ENCRYPTION_KEYS"] == "", "the operator fills it in"
    env = documented | {"DJANGO_SECRET_KEY": secrets.token_urlsafe(50), "PII_ENCRYPTION_KEYS": new_key()}
    result = run_django(env, "check", "--deploy", "--fail-level", "WARNING")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


# --- Database connections: pool, PgBouncer, read replica (docs/operations.md) ---------------------------

DATABASE_SHAPE = (
    "import json;from django.conf import settings as s;"
    "print(json.dumps({a: {'conn_max_age': d['CONN_MAX_AGE'], 'options': d.get('OPTIONS', {}), "
    "'no_server_cursors': d.get('DISABLE_SERVER_SIDE_CURSORS', False), 'host': d.get('HOST'), "
    "'mirror': d.get('TEST', {}).get('MIRROR')} for a, d in s.DATABASES.items()} "
    "| {'read_replica': s.DATABASE_READ_REPLICA, 'routers': s.DATABASE_ROUTERS}))"
)
POSTGRES = "postgres://u:p@db.example:5432/x"


def database_shape(env: dict) -> dict:
    import json

    result = run_django({"DJANGO_DEBUG": "1", **env}, "shell", "-v", "0", "-c", DATABASE_SHAPE)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_by_default_one_database_with_persistent_connections_and_no_replica():
    shape = database_shape({"DATABASE_URL": POSTGRES})
    assert shape["default"] == {
        "conn_max_age": 60,
        "options": {"prepare_threshold": 5, "options": "-c jit=off"},
        "no_server_cursors": False,
        "host": "db.example",
        "mirror": None,
    }
    assert "replica" not in shape and shape["read_replica"] is None
    assert shape["routers"] == ["core.db_routing.ReplicaRouter"]


def test_a_pool_replaces_persistent_connections_on_the_primary_and_the_replica():
    shape = database_shape(
        {
            "DATABASE_URL": POSTGRES,
            "DATABASE_REPLICA_URL": "postgres://ro:p@replica.example:5432/x",
            "DATABASE_POOL": "1",
            "DATABASE_POOL_MIN_SIZE": "2",
            "DATABASE_POOL_MAX_SIZE": "8",
            "DATABASE_POOL_TIMEOUT": "5",
        }
    )
    pool = {"min_size": 2, "max_size": 8, "timeout": 5}
    jit = {"options": "-c jit=off"}
    prepared = {"prepare_threshold": 5}  # core.compiled prepares the case page's reads
    assert shape["default"]["options"] == {"pool": pool, **prepared, **jit}
    assert shape["replica"]["options"] == {"pool": pool, **prepared, **jit, "connect_timeout": 5}
    for alias in ("default", "replica"):
        assert shape[alias]["conn_max_age"] == 0, "Django refuses persistent connections beside a pool"


def test_a_replica_url_adds_the_replica_alias_that_tests_mirror():
    shape = database_shape(
        {"DATABASE_URL": POSTGRES, "DATABASE_REPLICA_URL": "postgres://ro:p@replica.example:5432/x"}
    )
    assert shape["read_replica"] == "replica"
    assert shape["replica"]["host"] == "replica.example"
    assert shape["replica"]["mirror"] == "default", "the test runner never creates a database on a standby"
    assert shape["replica"]["options"] == {
        "prepare_threshold": 5,
        "options": "-c jit=off",
        "connect_timeout": 5,
    }, "a replica that is down is given up on soon"
    assert shape["default"]["mirror"] is None


def test_behind_pgbouncer_there_are_no_server_side_cursors():
    shape = database_shape({"DATABASE_URL": POSTGRES, "DATABASE_PGBOUNCER": "1"})
    assert shape["default"]["no_server_cursors"] is True
    assert shape["default"]["conn_max_age"] == 60
    # A prepared statement lives on one server connection: none behind a transaction-mode pool.
    assert "prepare_threshold" not in shape["default"]["options"]
    assert database_shape({"DATABASE_URL": POSTGRES})["default"]["options"]["prepare_threshold"] == 5


@pytest.mark.parametrize(
    "env",
    [
        {"DATABASE_POOL": "1"},
        {"DATABASE_PGBOUNCER": "1"},
        {"DATABASE_REPLICA_URL": "postgres://ro:p@replica.example:5432/x"},
        {"DATABASE_URL": POSTGRES, "DATABASE_REPLICA_URL": "sqlite:///replica.sqlite3"},
    ],
)
def test_pooling_and_a_replica_are_refused_without_postgresql(env):
    result = run_django({"DJANGO_DEBUG": "1", **env}, "check")
    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr and "PostgreSQL" in result.stderr


@pytest.mark.postgres
@pytest.mark.django_db
def test_a_pooled_connection_answers():
    """A process on DATABASE_POOL=1 gets its connections from the pool (psycopg[pool])."""
    from django.db import connection

    db = connection.settings_dict  # the test database: it exists while the suite runs
    url = f"postgres://{db['USER']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"
    code = (
        "from django.db import connection as c;"
        "print(c.pool is not None, c.cursor().execute('SELECT 1').fetchone()[0], "
        "c.pool.get_stats()['pool_size'])"
    )
    env = {"DJANGO_DEBUG": "1", "DATABASE_URL": url, "DATABASE_POOL": "1"}
    result = run_django(env, "shell", "--no-imports", "-c", code)
    assert result.returncode == 0, result.stderr
    pooled, answer, size = result.stdout.split()
    assert (pooled, answer) == ("True", "1") and int(size) >= 1


@pytest.mark.django_db
def test_the_apps_postgresql_connections_run_without_jit():
    """The dashboards' statements pass PostgreSQL's JIT cost threshold and spent seconds compiling (config
    settings, DATABASE_JIT): the app's own connections turn it off at start-up."""
    from django.db import connection

    if connection.vendor != "postgresql":
        pytest.skip("PostgreSQL's JIT")
    with connection.cursor() as cursor:
        cursor.execute("SHOW jit")
        assert cursor.fetchone()[0] == "off"


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        pytest.param({}, "-c jit=off", id="default"),
        pytest.param({"DATABASE_JIT": "1"}, None, id="DATABASE_JIT=1 leaves it to the server"),
        pytest.param({"DATABASE_PGBOUNCER": "1"}, None, id="PgBouncer refuses startup options"),
    ],
)
def test_jit_is_turned_off_by_a_startup_option_unless_asked_or_behind_pgbouncer(env, expected):
    code = (
        "from django.conf import settings as s;"
        "print(s.DATABASES['default'].get('OPTIONS', {}).get('options'))"
    )
    env = {"DJANGO_DEBUG": "1", "DATABASE_URL": "postgres://u@127.0.0.1:5432/x"} | env
    result = run_django(env, "shell", "-v", "0", "-c", code)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == str(expected)
