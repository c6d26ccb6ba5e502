"""The deployment files agree with each other and with the settings: docker-compose.yml runs the
processes `make run` runs, passes only variables the settings read, and starts the image the
Dockerfile builds. No database and no Docker needed: the files are read as text and YAML."""

import json
import re
import shlex
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import yaml
from django.conf import settings

ROOT = Path(__file__).resolve().parents[2]
WORKERS = ("worker", "worker-nightly", "worker-rollups")
APP_SERVICES = ("web", *WORKERS, "beat")
# ${NAME}, ${NAME:-default}, ${NAME:?message}: compose fills these from the shell or .env.
INTERPOLATION = re.compile(r"\$\{([A-Z][A-Z0-9_]*)(?::?[-?][^}]*)?\}")


def settings_variables() -> set[str]:
    source = (ROOT / "config" / "settings.py").read_text()
    return set(re.findall(r"\benv_(?:str|bool|int|list)\(\s*[\"']([A-Z][A-Z0-9_]*)[\"']", source))


def interpolated(value: str) -> str:
    """The value with each ${...} replaced by a placeholder, as compose would fill it."""
    return INTERPOLATION.sub("placeholder", value)


def as_argv(command) -> list[str]:
    return shlex.split(command) if isinstance(command, str) else list(command)


def environment_of(service: dict) -> dict[str, str]:
    env = service.get("environment") or {}
    if isinstance(env, list):
        env = dict(item.split("=", 1) if "=" in item else (item, "") for item in env)
    return {name: str(value) for name, value in env.items()}


def dockerfile_instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) for each instruction, continuation lines joined."""
    text = (ROOT / "Dockerfile").read_text()
    logical = re.sub(r"\\\n", " ", text)
    instructions = []
    for line in logical.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            keyword, _, rest = line.partition(" ")
            instructions.append((keyword.upper(), rest.strip()))
    return instructions


def final_stage(instructions: list[tuple[str, str]]) -> list[tuple[str, str]]:
    last_from = max(i for i, (keyword, _) in enumerate(instructions) if keyword == "FROM")
    return instructions[last_from:]


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


@pytest.fixture(scope="module")
def services(compose) -> dict:
    return compose["services"]


@pytest.fixture(scope="module")
def image_cmd() -> list[str]:
    stage = final_stage(dockerfile_instructions())
    cmds = [rest for keyword, rest in stage if keyword == "CMD"]
    assert len(cmds) == 1, "the image has one default command"
    return json.loads(cmds[0])


def migrate_steps(services) -> list[list[str]]:
    """The one-shot migrate service's command, `sh -c "<step> && <step>"`, as one argv per step."""
    argv = as_argv(services["migrate"]["command"])
    assert argv[:2] == ["sh", "-c"], argv
    return [shlex.split(step.strip()) for step in argv[2].split("&&")]


def test_the_stack_has_a_one_shot_migrate_and_the_services(services):
    assert set(services) == {"migrate", "web", *WORKERS, "beat", "postgres", "redis"}


def test_migrate_runs_once_per_deploy_then_creates_the_schedules(services):
    migrate, schedules = migrate_steps(services)
    assert migrate[:3] == ["python", "manage.py", "migrate"] and "--no-input" in migrate
    assert schedules == ["python", "manage.py", "setup_schedules"], "default schedules are created on install"
    assert services["migrate"]["restart"] == "no", "a one-shot: it must not be restarted after it finished"
    assert services["migrate"]["depends_on"]["postgres"]["condition"] == "service_healthy"


def test_web_runs_the_image_default_server_on_the_wsgi_app(services, image_cmd):
    assert "command" not in services["web"], "web runs the image's own command, the one CI serves pages with"
    assert image_cmd[:2] == ["gunicorn", "config.wsgi:application"]
    assert settings.WSGI_APPLICATION == "config.wsgi.application"


def queues_of(argv: list[str]) -> list[str]:
    return argv[argv.index("-Q") + 1].split(",")


def test_the_workers_together_consume_every_queue_each_exactly_once(services):
    declared = {queue.name for queue in settings.CELERY_TASK_QUEUES}
    consumed = []
    for name in WORKERS:
        argv = as_argv(services[name]["command"])
        assert argv[:4] == ["celery", "-A", "config", "worker"], name
        consumed += queues_of(argv)
    assert sorted(consumed) == sorted(declared), "every queue has a worker, and one only on this host"
    nightly = next(name for name in WORKERS if "nightly" in queues_of(as_argv(services[name]["command"])))
    assert queues_of(as_argv(services[nightly]["command"])) == ["nightly"], "a long night delays nothing else"


def test_make_run_starts_one_worker_on_every_queue():
    run_all = (ROOT / "scripts" / "run_all.py").read_text()
    assert '"worker",' in run_all
    assert '"-Q"' not in run_all, "without -Q a worker consumes every queue in CELERY_TASK_QUEUES"


def test_every_worker_has_a_healthcheck_and_time_to_finish_its_tasks(services):
    for name in WORKERS:
        assert "inspect ping" in " ".join(as_argv(services[name]["healthcheck"]["test"])), name
        assert services[name]["stop_grace_period"] == "2m", name


def test_beat_leaves_the_scheduler_to_the_settings(services):
    argv = as_argv(services["beat"]["command"])
    assert argv[:4] == ["celery", "-A", "config", "beat"]
    assert not {"-S", "--scheduler"} & set(argv), "the scheduler is chosen once, in settings"
    assert settings.CELERY_BEAT_SCHEDULER == "django_celery_beat.schedulers:DatabaseScheduler"


def test_app_services_run_the_image_built_here(services):
    for name in APP_SERVICES:
        build = services[name]["build"]
        context = build if isinstance(build, str) else build.get("context", ".")
        assert (ROOT / context / "Dockerfile").is_file(), name


def test_postgres_keeps_its_data_in_a_named_volume(compose, services):
    postgres = services["postgres"]
    assert postgres["image"].split(":")[1].startswith("16")
    sources = [
        v.split(":")[0] for v in postgres["volumes"] if v.split(":")[1:2] == ["/var/lib/postgresql/data"]
    ]
    assert len(sources) == 1, "the data directory is mounted"
    assert sources[0] in compose["volumes"], "a named volume, not a bind mount or an anonymous one"


def test_postgres_redis_and_web_have_healthchecks(services):
    assert "pg_isready" in " ".join(as_argv(services["postgres"]["healthcheck"]["test"]))
    assert services["redis"]["image"].split(":")[1].startswith("7")
    assert as_argv(services["redis"]["healthcheck"]["test"])[-2:] == ["redis-cli", "ping"]
    web_check = " ".join(as_argv(services["web"]["healthcheck"]["test"]))
    assert "http://127.0.0.1:8000/accounts/login/" in web_check


def test_app_services_start_once_postgres_and_redis_are_healthy(services):
    for name in APP_SERVICES:
        depends_on = services[name]["depends_on"]
        for dependency in ("postgres", "redis"):
            assert depends_on[dependency]["condition"] == "service_healthy", (name, dependency)


def test_web_workers_and_beat_start_only_after_the_migrations_succeeded(services):
    for name in APP_SERVICES:
        assert services[name]["depends_on"]["migrate"]["condition"] == "service_completed_successfully", name


def test_app_services_share_one_environment(services):
    web = environment_of(services["web"])
    for name in (*APP_SERVICES, "migrate"):
        assert environment_of(services[name]) == web, name


def test_compose_passes_only_variables_the_settings_read(services):
    passed = set(environment_of(services["web"]))
    unknown = passed - settings_variables()
    assert not unknown, f"config/settings.py reads none of {sorted(unknown)}: a typo, or a setting never read"


def test_production_environment(services):
    env = environment_of(services["web"])
    assert env["DJANGO_DEBUG"] == "0"
    assert env["DJANGO_SECURE_SSL_REDIRECT"] == "0"  # TLS ends at the proxy
    assert re.fullmatch(r"\$\{DJANGO_SECRET_KEY:\?[^}]+\}", env["DJANGO_SECRET_KEY"]), (
        "the secret comes from the operator, and compose refuses to start without it"
    )
    assert "127.0.0.1" in interpolated(env["DJANGO_ALLOWED_HOSTS"]).split(","), "the web healthcheck's host"


def test_app_reaches_postgres_and_redis_by_service_name(services):
    env = environment_of(services["web"])
    database = urlsplit(interpolated(env["DATABASE_URL"]))
    assert (database.scheme, database.hostname, database.path) == ("postgres", "postgres", "/collections")
    postgres_env = services["postgres"]["environment"]
    assert (database.username, database.path.lstrip("/")) == (
        postgres_env["POSTGRES_USER"],
        postgres_env["POSTGRES_DB"],
    )
    assert urlsplit(env["REDIS_URL"]).hostname == "redis"


def test_image_runs_as_an_unprivileged_user_on_port_8000(image_cmd):
    stage = final_stage(dockerfile_instructions())
    users = [rest for keyword, rest in stage if keyword == "USER"]
    assert users, "the runtime stage switches to a non-root user"
    assert users[-1].split(":")[0] not in {"root", "0"}
    assert ("EXPOSE", "8000") in stage
    assert "--bind" in image_cmd
    assert image_cmd[image_cmd.index("--bind") + 1] == "0.0.0.0:8000"
    assert not [rest for keyword, rest in stage if keyword == "ENTRYPOINT"], "compose commands run as written"


def test_image_installs_the_locked_runtime_dependencies_and_collects_static():
    instructions = dockerfile_instructions()
    runs = " ".join(rest for keyword, rest in instructions if keyword == "RUN")
    assert "uv sync --frozen --no-dev" in runs
    assert {rest.split()[0] for keyword, rest in instructions if keyword == "FROM"} == {"python:3.11-slim"}
    final_runs = " ".join(rest for keyword, rest in final_stage(instructions) if keyword == "RUN")
    assert "manage.py collectstatic --no-input" in final_runs
    env = " ".join(rest for keyword, rest in instructions if keyword == "ENV")
    assert "UV_PROJECT_ENVIRONMENT=/app/.venv" in env
    assert "PATH=/app/.venv/bin:" in env


def test_env_example_lists_every_variable_the_settings_read():
    listed = set(re.findall(r"^#?([A-Z][A-Z0-9_]*)=", (ROOT / ".env.example").read_text(), re.MULTILINE))
    missing = settings_variables() - listed
    assert not missing, f".env.example does not list {sorted(missing)}"


def test_env_example_holds_no_secret():
    values = dict(re.findall(r"^([A-Z][A-Z0-9_]*)=(.*)$", (ROOT / ".env.example").read_text(), re.MULTILINE))
    assert values["DJANGO_SECRET_KEY"] == ""
    assert values["POSTGRES_PASSWORD"] == ""


def test_every_variable_compose_fills_in_is_documented():
    used = set(INTERPOLATION.findall((ROOT / "docker-compose.yml").read_text()))
    listed = set(re.findall(r"^#?([A-Z][A-Z0-9_]*)=", (ROOT / ".env.example").read_text(), re.MULTILINE))
    assert used <= listed, f".env.example does not list {sorted(used - listed)}"
