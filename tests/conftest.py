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
from django.db import connection

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


@pytest.fixture
def shipped_data(transactional_db):
    """The shipped contact policies, approval limits and escalation rules, as after `migrate`, for a
    transactional test that runs after another one flushed them (each function is idempotent)."""
    for module, function in SHIPPED_DATA:
        getattr(importlib.import_module(module), function)(apps, None)
