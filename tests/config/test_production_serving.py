"""The production path, end to end: static files built exactly as the Dockerfile builds them
(its own `collectstatic` command and environment, DEBUG off, hashed and compressed manifest storage),
then the image's gunicorn serving the app with DEBUG off against the test database.

The rest of the suite runs with DEBUG off too, but with plain static storage and Django's test client;
neither catches a `collectstatic` that fails (the image would not build) nor pages that answer 500
for want of a manifest. Select these tests with `-m production`."""

import http.client
import json
import os
import re
import secrets
import shlex
import socket
import subprocess
import sys
import time
from http.cookies import SimpleCookie
from pathlib import Path
from urllib.parse import quote, urlencode

import pytest
from django.conf import settings
from django.contrib.auth.hashers import make_password
from django.db import connection

from tests.config.test_compose import dockerfile_instructions, final_stage
from tests.factories import TEST_PASSWORD

pytestmark = pytest.mark.production

ROOT = Path(__file__).resolve().parents[2]
# What the proxy in front of the stack adds to every request (TLS ends there; settings trust it).
PROXY_HEADERS = {"X-Forwarded-Proto": "https"}
ONE_YEAR = 365 * 24 * 3600
STARTUP_SECONDS = 20


def clean_environment() -> dict[str, str]:
    """The test process's environment without anything that configures Django: the test runner sets
    DJANGO_STATIC_MANIFEST=0, DATABASE_URL and friends, none of which a docker build or the image has."""
    return {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("DJANGO_", "DATABASE_", "REDIS_", "COLLECTIONS_", "CELERY_"))
    }


def image_django_environment() -> dict[str, str]:
    """The DJANGO_* variables the image's runtime stage sets with ENV."""
    env = {}
    for keyword, rest in final_stage(dockerfile_instructions()):
        if keyword == "ENV":
            for assignment in shlex.split(rest):
                name, _, value = assignment.partition("=")
                if name.startswith("DJANGO_"):
                    env[name] = value
    return env


def dockerfile_collectstatic() -> tuple[dict[str, str], list[str]]:
    """The image's collectstatic step as (variables set for it, argv), read from the Dockerfile's
    RUN instruction: `NAME=value ... python manage.py collectstatic ...`."""
    runs = [rest for keyword, rest in final_stage(dockerfile_instructions()) if keyword == "RUN"]
    steps = [step for run in runs for step in run.split("&&") if "manage.py collectstatic" in step]
    assert len(steps) == 1, "the image runs collectstatic exactly once"
    words = shlex.split(steps[0])
    env = {}
    while re.fullmatch(r"[A-Z][A-Z0-9_]*=.*", words[0]):
        name, _, value = words.pop(0).partition("=")
        env[name] = value
    return env, words


@pytest.fixture(scope="module")
def static_root(tmp_path_factory) -> Path:
    """Static files built by the Dockerfile's own command and environment; only the target directory
    differs (the image writes to the default, /app/staticfiles)."""
    root = tmp_path_factory.mktemp("staticfiles")
    build_env, argv = dockerfile_collectstatic()
    assert argv[:2] == ["python", "manage.py"], argv
    env = clean_environment() | image_django_environment() | build_env | {"DJANGO_STATIC_ROOT": str(root)}
    result = subprocess.run(
        [sys.executable, *argv[1:]], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, f"collectstatic as the image runs it failed:\n{result.stderr[-3000:]}"
    return root


def test_the_image_collectstatic_builds_the_hashed_manifest(static_root):
    manifest = json.loads((static_root / "staticfiles.json").read_text())["paths"]
    for name in ("css/app.css", "js/app.js", "vendor/htmx.min.js", "vendor/chart.umd.min.js"):
        stem, extension = name.rsplit(".", 1)
        hashed = manifest[name]
        assert re.fullmatch(rf"{re.escape(stem)}\.[0-9a-f]{{12}}\.{extension}", hashed), hashed
        assert (static_root / hashed).is_file()
        assert (static_root / f"{hashed}.gz").is_file(), "compressed copies are built too"


def test_no_vendored_file_points_at_a_file_that_is_not_shipped():
    """The cause of the broken build: a `sourceMappingURL` to a .map that is not in the repository."""
    for path in (ROOT / "static").rglob("*"):
        if path.suffix in {".js", ".css"}:
            for target in re.findall(r"sourceMappingURL=(\S+?)(?:\s*\*/)?\s*$", path.read_text(), re.M):
                assert (path.parent / target).is_file(), f"{path.relative_to(ROOT)}: no {target} is shipped"


# --- gunicorn with DEBUG off ----------------------------------------------------------------------


def tail(log_path: Path) -> str:
    return log_path.read_text()[-3000:]


def free_loopback_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def database_url_of_this_test() -> str:
    """The URL of the database this test runs on (pytest-django's test database, not the real one)."""
    s = connection.settings_dict
    credentials = quote(s["USER"] or "", safe="")
    if s["PASSWORD"]:
        credentials += ":" + quote(s["PASSWORD"], safe="")
    return f"postgres://{credentials}@{s['HOST'] or '127.0.0.1'}:{s['PORT'] or 5432}/{quote(s['NAME'])}"


def image_server_argv(port: int) -> list[str]:
    """The image's CMD (gunicorn with its options), on a loopback port with one worker."""
    [cmd] = [json.loads(rest) for keyword, rest in final_stage(dockerfile_instructions()) if keyword == "CMD"]
    assert cmd[0] == "gunicorn", cmd
    argv = list(cmd[1:])
    argv[argv.index("--bind") + 1] = f"127.0.0.1:{port}"
    argv[argv.index("--workers") + 1] = "1"
    return [sys.executable, "-m", "gunicorn", *argv]


class Client:
    """A bare HTTP client that keeps cookies itself: the session and CSRF cookies are Secure (the
    proxy speaks https to browsers), which a standard cookie jar would never send over plain http."""

    def __init__(self, port: int):
        self.port = port
        self.cookies: dict[str, str] = {}

    def request(self, method: str, path: str, form: dict | None = None, headers: dict | None = None):
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        sent = dict(PROXY_HEADERS) | (headers or {})
        if self.cookies:
            sent["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        body = None
        if form is not None:
            body = urlencode(form)
            sent["Content-Type"] = "application/x-www-form-urlencoded"
        try:
            conn.request(method, path, body=body, headers=sent)
            response = conn.getresponse()
            content = response.read()
        finally:
            conn.close()
        for header in response.headers.get_all("Set-Cookie") or []:
            for name, morsel in SimpleCookie(header).items():
                self.cookies[name] = morsel.value
        return response, content


@pytest.fixture
def production_server(static_root, tmp_path):
    """gunicorn as the image starts it, with DEBUG off, the manifest storage and the test database."""
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL: a server process cannot share the SQLite in-memory test database")
    port = free_loopback_port()
    env = (
        clean_environment()
        | image_django_environment()
        | {
            "DJANGO_DEBUG": "0",
            "DJANGO_SECRET_KEY": secrets.token_urlsafe(50),
            # The test process's keys: the server reads the national IDs the tests wrote.
            "PII_ENCRYPTION_KEYS": ",".join(settings.PII_ENCRYPTION_KEYS),
            "DJANGO_ALLOWED_HOSTS": "127.0.0.1",
            # As docker-compose.yml: TLS ends at the proxy, which redirects to https itself.
            "DJANGO_SECURE_SSL_REDIRECT": "0",
            "DJANGO_STATIC_ROOT": str(static_root),
            "DATABASE_URL": database_url_of_this_test(),
            "COLLECTIONS_VAR_DIR": str(tmp_path / "var"),
            # As .env.example: providers that deliver (with DEBUG off the file one refuses to start).
            "COLLECTIONS_SMS_PROVIDER": "http",
            "COLLECTIONS_EMAIL_PROVIDER": "smtp",
        }
    )
    log_path = tmp_path / "gunicorn.log"
    with log_path.open("w") as log:
        server = subprocess.Popen(image_server_argv(port), cwd=ROOT, env=env, stdout=log, stderr=log)
    try:
        deadline = time.monotonic() + STARTUP_SECONDS
        while True:
            assert server.poll() is None, f"gunicorn exited:\n{tail(log_path)}"
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                assert time.monotonic() < deadline, f"gunicorn did not listen:\n{tail(log_path)}"
                time.sleep(0.1)
        yield Client(port), log_path
    finally:
        server.terminate()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)  # committed, so that the server process sees the user
def test_pages_and_static_files_are_served_with_debug_off(agent, production_server):
    client, log_path = production_server
    # The suite hashes passwords with MD5 (tests/settings.py); the server runs the production settings.
    agent.password = make_password(TEST_PASSWORD, hasher="pbkdf2_sha256")
    agent.save(update_fields=["password"])

    response, body = client.request("GET", "/accounts/login/")
    page = body.decode()
    assert response.status == 200, f"{response.status}\n{tail(log_path)}"
    stylesheet = re.search(r'href="(/static/css/app\.[0-9a-f]{12}\.css)"', page)
    assert stylesheet, "the login page links the hashed stylesheet from the manifest"
    assert re.search(r'src="/static/vendor/htmx\.min\.[0-9a-f]{12}\.js"', page)

    response, css = client.request("GET", stylesheet.group(1))
    assert response.status == 200
    assert response.getheader("Content-Type").startswith("text/css")
    cache_control = response.getheader("Cache-Control")
    assert "immutable" in cache_control
    assert int(re.search(r"max-age=(\d+)", cache_control).group(1)) >= ONE_YEAR
    assert css.strip()

    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)
    response, _ = client.request(
        "POST",
        "/accounts/login/",
        form={"username": agent.username, "password": TEST_PASSWORD, "csrfmiddlewaretoken": token},
        headers={"Origin": f"https://127.0.0.1:{client.port}"},
    )
    assert response.status == 302, f"login refused ({response.status})\n{tail(log_path)}"
    assert response.getheader("Location") == "/"
    assert "sessionid" in client.cookies

    response, body = client.request("GET", "/")
    assert response.status == 200, f"{response.status}\n{tail(log_path)}"
    assert 'data-testid="whoami"' in body.decode(), "signed in"

    response, body = client.request("GET", "/no-such-page/")
    assert response.status == 404
    assert b"URLconf" not in body, "the plain 404 page, not the DEBUG one"
