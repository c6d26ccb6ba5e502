"""API lists and pages against their web baselines, both served the same way: the same in-process
Django test client, through the same middleware, settings and session, the project's URLs and the
baselines' side by side (demo.bench.urls). Requests alternate project / baseline so that load on the
machine hits both alike.

- each API list (first page, 50 rows) against a bare DRF ListAPIView with cursor pagination over the same
  table returning the same columns (req/s, higher is better);
- the case page and My work against a trivial view (p50 ms, lower is better); the query count of each
  page is in the details.

The pages are measured in the production configuration whatever the settings the bench runs under
(`manage.py bench` usually runs with DJANGO_DEBUG=1 on a laptop): DEBUG off, so that no query is recorded
in `connection.queries` (a production process records none), and the template engine out of debug mode
(no source positions kept for error pages), with Django's cached template loader as in production. Both
the page and the trivial view are served under these same settings, through the same middleware and
session; the queries are counted with CaptureQueriesContext, which records them whatever DEBUG says.
"""

from __future__ import annotations

import time

from django.conf import settings
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext, override_settings
from django.urls import reverse

from accounts.models import Role, User
from collections_app.models import OPEN_STATES, Case
from demo.bench import baseline_views, claim
from demo.bench.report import API_LIST, PAGE, Result
from demo.bench.timing import percentile


def _client(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def _get(client: Client, url: str):
    response = client.get(url, secure=True)
    if response.status_code != 200:
        raise RuntimeError(f"GET {url}: {response.status_code} {response.content[:300]!r}")
    return response


def interleaved(client: Client, project_url: str, baseline_url: str, repeat: int) -> tuple[list, list]:
    """Milliseconds of each GET, the project's and the baseline's taken in turns (after one warm-up each)."""
    _get(client, project_url)
    _get(client, baseline_url)
    times: tuple[list, list] = ([], [])
    for _ in range(repeat):
        for index, url in enumerate((project_url, baseline_url)):
            started = time.perf_counter()
            _get(client, url)
            times[index].append((time.perf_counter() - started) * 1000)
    return sorted(times[0]), sorted(times[1])


def _model_columns(name: str, row: dict) -> list[str]:
    """The keys of a project list's row that are columns of the listed model (what the baseline returns)."""
    from django.apps import apps

    model = apps.get_model(baseline_views.API_LISTS[name])
    columns = {f.name for f in model._meta.concrete_fields} | {f.attname for f in model._meta.concrete_fields}
    fields = [key for key in row if key in columns]
    return fields or ["id"]


def bench_admin() -> User:
    user, _ = User.objects.get_or_create(
        username="bench_admin", defaults={"role": Role.ADMIN, "language": "en"}
    )
    return user


# DEBUG off, as a deployment serves the API: with DEBUG on, Django keeps every query's SQL and timing
# (connection.queries) for both sides; the bench command is usually run with DJANGO_DEBUG=1 (the
# development key), which must not make either side pay for debugging.
@override_settings(ROOT_URLCONF="demo.bench.urls", ALLOWED_HOSTS=["*"], DEBUG=False)
def measure_api(*, out, repeat: int, lists: list[str] | None = None) -> list[Result]:
    client = _client(bench_admin())
    results = []
    for name in lists or baseline_views.API_LISTS:
        project_url = f"/api/v1/{name}/"
        rows = _get(client, project_url).json().get("results") or [{}]
        baseline_views.serve_columns(name, _model_columns(name, rows[0]))
        project, base = interleaved(client, project_url, f"/bench-baseline/api/{name}/", repeat)
        project_rps, base_rps = 1000 * len(project) / sum(project), 1000 * len(base) / sum(base)
        out(f"  API {name:<12} {project_rps:7.1f} req/s  bare DRF {base_rps:7.1f} req/s")
        results.append(
            Result(
                measure=f"api:{name}",
                project=project_rps,
                baseline=base_rps,
                unit="req/s",
                target=API_LIST,
                higher_is_better=True,
                details={
                    "project_p50_ms": percentile(project, 0.5),
                    "baseline_p50_ms": percentile(base, 0.5),
                    "requests": repeat,
                },
            )
        )
    return results


def _caches_templates(loaders) -> bool:
    """Whether Django's cached loader is among `loaders`, at any depth (django-template-partials wraps
    the cached loader in its own)."""
    for loader in loaders:
        name, children = (loader[0], loader[1:]) if isinstance(loader, (list, tuple)) else (loader, ())
        if name.endswith("cached.Loader") or any(_caches_templates(child) for child in children):
            return True
    return False


def production_templates() -> list[dict]:
    """TEMPLATES as production runs them: the engine out of debug mode, templates compiled once and kept
    (Django's cached loader: the engine's default when no loaders are configured; named explicitly if
    the settings configure loaders of their own without it)."""
    engines = []
    for engine in settings.TEMPLATES:
        options = {**engine.get("OPTIONS", {}), "debug": False}
        loaders = options.get("loaders")
        if loaders and not _caches_templates(loaders):
            options["loaders"] = [("django.template.loaders.cached.Loader", loaders)]
        engines.append({**engine, "OPTIONS": options})
    return engines


def measure_pages(*, out, repeat: int) -> list[Result]:
    """The case page and My work against the trivial view, in the production configuration (see the
    module docstring): DEBUG off, templates compiled once."""
    with override_settings(
        ROOT_URLCONF="demo.bench.urls",
        ALLOWED_HOSTS=["*"],
        DEBUG=False,
        TEMPLATES=production_templates(),
    ):
        return _measure_pages(out=out, repeat=repeat)


def _measure_pages(*, out, repeat: int) -> list[Result]:
    admin = bench_admin()
    agents, _queues = claim.agents_on_several_queues(1)
    case = Case.objects.filter(state__in=OPEN_STATES).order_by("-priority", "pk").first()
    pages = []
    if case is not None:
        pages.append(("page:case", admin, reverse("case_detail", args=[case.pk])))
    pages.append(("page:my work", agents[0], reverse("my_work")))
    results = []
    for measure, user, url in pages:
        client = _client(user)
        project, base = interleaved(client, url, "/bench-baseline/page/", repeat)
        with CaptureQueriesContext(connection) as queries:
            _get(client, url)
        p50, base_p50 = percentile(project, 0.5), percentile(base, 0.5)
        out(
            f"  {measure:<14} p50 {p50:7.1f} ms ({len(queries)} queries)  trivial view p50 {base_p50:6.2f} ms"
        )
        results.append(
            Result(
                measure=measure,
                project=p50,
                baseline=base_p50,
                unit="ms p50",
                target=PAGE,
                value=len(queries),
                details={
                    "queries": len(queries),
                    "project_p99_ms": percentile(project, 0.99),
                    "requests": repeat,
                },
            )
        )
    return results
