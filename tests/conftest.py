"""Shared fixtures: personas and markers.

Personas (each sees and does only what its comment says):
- agent: works the cases in team A's queues
- other_agent: an agent of team B; must not reach team A's cases
- supervisor: supervises team A; approves, reassigns, overrides
- legal: the legal reviewer; decides on cases in legal states
- admin: configures everything; the only role that may open /admin/
"""

import importlib
import os

import pytest
from django.apps import apps
from django.conf import settings
from django.db import connection
from django.utils import timezone, translation

from tests.factories import TeamFactory, UserFactory


def pytest_collection_modifyitems(config, items):
    redis_missing = not os.environ.get("REDIS_URL")
    for item in items:
        if "redis" in item.keywords and redis_missing:
            item.add_marker(pytest.mark.skip(reason="needs Redis (REDIS_URL unset or unreachable)"))


@pytest.fixture(autouse=True)
def _skip_postgres_only(request):
    if request.node.get_closest_marker("postgres") and connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL (the suite is running on SQLite)")


@pytest.fixture(autouse=True)
def _default_language_and_time_zone():
    """Each test starts in the default language and time zone, whatever the test before it activated
    (a service called outside a request speaks the thread's active language)."""
    translation.activate(settings.LANGUAGE_CODE)
    timezone.deactivate()
    yield
    translation.activate(settings.LANGUAGE_CODE)
    timezone.deactivate()


@pytest.fixture
def team_a(db):
    return TeamFactory(name="Team A")


@pytest.fixture
def team_b(db):
    return TeamFactory(name="Team B")


@pytest.fixture
def supervisor(team_a):
    user = UserFactory(username="sup_a", role="supervisor", team=team_a)
    team_a.supervisor = user
    team_a.save(update_fields=["supervisor"])
    return user


@pytest.fixture
def agent(team_a):
    return UserFactory(username="agent_a", role="agent", team=team_a)


@pytest.fixture
def other_agent(team_b):
    return UserFactory(username="agent_b", role="agent", team=team_b)


@pytest.fixture
def legal(db):
    return UserFactory(username="legal", role="legal")


@pytest.fixture
def admin_user(db):
    return UserFactory(username="admin", role="admin")


@pytest.fixture
def office_hours():
    """Freeze the clock at a Tuesday 10:00 in Beijing (02:00 UTC), inside every contact window of the
    China profile; tests of contact rules move the clock themselves."""
    import time_machine

    with time_machine.travel("2026-06-02 10:00 +0800", tick=True) as traveller:
        yield traveller


# The rows data migrations ship (module, function). A transactional test's flush deletes them.
SHIPPED_DATA = [
    ("contact_policy.migrations.0002_builtin_contact_policies", "create_profiles"),
    ("repayment_plans.migrations.0002_default_approval_limits", "create_tiers"),
    ("escalation.migrations.0002_default_rules_cn_us", "create_rules"),
]


def _ship_data() -> None:
    for module, function in SHIPPED_DATA:
        getattr(importlib.import_module(module), function)(apps, None)


@pytest.fixture
def shipped_data(transactional_db):
    """The shipped contact policies, approval limits and escalation rules, as after `migrate`, for a
    transactional test that runs after another one flushed them (each function is idempotent)."""
    _ship_data()


@pytest.fixture(autouse=True)
def _shipped_data_restored_after_a_flush(request, django_db_blocker):
    """A transactional test ends with a flush, which deletes the rows data migrations ship as well: put
    them back, so that the tests after it (in whatever order, on whichever worker) find the database as
    `migrate` left it. Autouse fixtures are torn down last, after the flush."""
    yield
    marker = request.node.get_closest_marker("django_db")
    transactional = (marker is not None and marker.kwargs.get("transaction")) or bool(
        {"transactional_db", "live_server"} & set(request.fixturenames)
    )
    if transactional:
        with django_db_blocker.unblock():
            _ship_data()
