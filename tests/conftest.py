"""Shared fixtures: personas and markers.

Personas (each sees and does only what its comment says):
- agent: works the cases in team A's queues
- other_agent: an agent of team B; must not reach team A's cases
- supervisor: supervises team A; approves, reassigns, overrides
- legal: the legal reviewer; decides on cases in legal states
- admin: configures everything; the only role that may open /admin/
"""

import importlib
import logging
import os
import re

import pytest
from django.apps import apps
from django.conf import settings
from django.db import connection
from django.db.models.signals import post_migrate
from django.utils import timezone, translation

from core.masking import redact
from tests.factories import TeamFactory, UserFactory


def pytest_collection_modifyitems(config, items):
    redis_missing = not os.environ.get("REDIS_URL")
    for item in items:
        if "redis" in item.keywords and redis_missing:
            item.add_marker(pytest.mark.skip(reason="needs Redis (REDIS_URL unset or unreachable)"))


_ID_IN_A_PATH = re.compile(r"/-?\d+(?=/)")
# A task's or request's UUID ("...-b183-76216984e909" reads like a mobile number with dashes), with or
# without its dashes (a message key's "52ca091cfa1e4160867645fea3bf75cf" holds ten digits in a row).
_UUID = re.compile(
    r"\b(?:[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|[0-9a-f]{32})\b", re.IGNORECASE
)


class _PersonalDataInLogs(logging.Handler):
    """Keeps every log record, at the level production logs (INFO), that names a person in the clear: an
    e-mail address, a phone number or a national ID (the patterns of core.masking.redact)."""

    def __init__(self):
        super().__init__(level=logging.INFO)
        self.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s"))
        self.leaks: list[str] = []

    def emit(self, record):
        # A record's ID in a URL path ("Not Found: /api/v1/cases/4203413794/", as the fuzzing sends) or a
        # UUID is no person, though it may look like a phone number: redact() is generous on purpose.
        line = _UUID.sub("<uuid>", _ID_IN_A_PATH.sub("/#", self.format(record)))
        if redact(line) != line:
            self.leaks.append(line)


@pytest.fixture(scope="session", autouse=True)
def _no_personal_data_in_the_logs():
    """Whatever the suite makes the application log - pages, API, jobs, imports, messages, admin - holds no
    personal data in the clear. Fails the run (as an error of its last test) naming the first lines."""
    keeper = _PersonalDataInLogs()
    root = logging.getLogger()
    root.addHandler(keeper)
    yield
    root.removeHandler(keeper)
    leaks = "\n".join(keeper.leaks[:10])
    assert not keeper.leaks, f"personal data in the logs written by the suite:\n{leaks}"


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
def team_lead(team_a):
    """Works cases like an agent, sees team A's cases, approves within a team lead's limits."""
    return UserFactory(username="lead_a", role="team_lead", team=team_a)


@pytest.fixture
def head(db):
    """The head of collections: every team's cases, the top of the approval ladder."""
    return UserFactory(username="head", role="head")


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
    ("repayment_plans.migrations.0003_authority_roles", "create_tiers"),
    ("authority.migrations.0002_default_limits", "create_limits"),
    ("escalation.migrations.0002_default_rules_cn_us", "create_rules"),
    ("contact_policy.migrations.0004_ship_call_scripts", "create_scripts"),
    ("privacy.migrations.0002_default_retention", "create_policies"),
    ("collections_app.migrations.0013_priority_weights", "ship_default_weights"),
]


def _ship_data() -> None:
    for module, function in SHIPPED_DATA:
        getattr(importlib.import_module(module), function)(apps, None)


@pytest.fixture
def shipped_data(transactional_db):
    """The shipped contact policies, call scripts, approval limits and escalation rules, as after
    `migrate`, for a transactional test that runs after another one flushed them (each function is
    idempotent)."""
    _ship_data()


def _shipped_data_restored_after_a_flush(sender, **kwargs) -> None:
    """A transactional test ends with a flush, which deletes the rows data migrations ship as well; the
    flush then sends post_migrate (as `migrate` does), and this puts the rows back, so that the tests after
    it - in whatever order, on whichever worker - find the database as `migrate` left it. Connected for
    the suite only: in the product, an admin's deletion of a shipped rule must stay deleted."""
    _ship_data()


# One app as the sender: post_migrate is sent once per installed app.
post_migrate.connect(
    _shipped_data_restored_after_a_flush, sender=apps.get_app_config("escalation"), weak=False
)
