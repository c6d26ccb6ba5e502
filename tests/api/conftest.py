"""Builders for the API tests. Personas come from tests/conftest.py (agent and supervisor of team A,
other_agent of team B, legal, admin); each talks to the API with a token of their own.

Objects: `case_a` (team A's queue, in progress, leased to `agent`), `case_b` (team B's queue, in
progress), `legal_case` (team A's queue, escalated to legal review). Every case is built through the
real services.
"""

import importlib
from datetime import timedelta
from decimal import Decimal

import pytest
from django.core.cache import cache
from knox.models import AuthToken
from rest_framework.test import APIClient

from api.throttling import stock as throttle_stock
from collections_app import services
from legal import services as legal_services
from repayment_plans.models import ApprovalLimit
from tests.factories import ContactPointFactory, open_case

DEFAULT_TIERS = importlib.import_module("repayment_plans.migrations.0002_default_approval_limits").TIERS


@pytest.fixture(autouse=True)
def _office_hours(office_hours):
    """Every API test runs on Tuesday 2 June 2026, 10:00 in Beijing: inside the contact window."""
    return office_hours


@pytest.fixture(autouse=True)
def _fresh_throttles_and_tiers(db):
    # Throttle counters live in the cache, which outlives a test's transaction (and a process's stock
    # of calls already counted there).
    cache.clear()
    throttle_stock.clear()
    for tier in DEFAULT_TIERS:  # a transactional test elsewhere may have flushed the migration's rows
        ApprovalLimit.objects.get_or_create(role=tier["role"], defaults=tier)
    yield
    cache.clear()
    throttle_stock.clear()


def token_for(user, *, ttl: timedelta | None = timedelta(days=7)) -> str:
    _instance, token = AuthToken.objects.create(user=user, expiry=ttl)
    return token


def client_for(user) -> APIClient:
    client = APIClient()
    client.default_format = "json"
    if user is not None:
        client.credentials(HTTP_AUTHORIZATION=f"Token {token_for(user)}")
    return client


@pytest.fixture
def anonymous():
    return client_for(None)


@pytest.fixture
def personas(agent, supervisor, other_agent, legal, admin_user):
    return {
        "agent": agent,
        "supervisor": supervisor,
        "other_agent": other_agent,
        "legal": legal,
        "admin": admin_user,
    }


@pytest.fixture
def clients(personas):
    return {name: client_for(user) for name, user in personas.items()} | {"anonymous": client_for(None)}


def work_case(team, *, actor, **account_fields):
    """An in-progress case of `team`'s queue with a debtor phone, claimed by `actor` (Next case)."""
    case = open_case(team=team, **account_fields)
    ContactPointFactory(cardholder=case.account.cardholder)
    claimed = services.case_claim_next(actor=actor).case
    assert claimed == case, "build work cases before any other claimable case of the team"
    services.case_transition(case_id=case.pk, name="start_work", actor=actor)
    case.refresh_from_db()
    return case


@pytest.fixture
def case_a(team_a, agent):
    return work_case(team_a, actor=agent, overdue_amount=Decimal("6000.00"))


@pytest.fixture
def case_b(team_b, other_agent):
    return work_case(team_b, actor=other_agent)


@pytest.fixture
def legal_case(team_a, supervisor):
    case = open_case(team=team_a)
    legal_services.legal_refer(case_id=case.pk, actor=supervisor, reason="Refuses to pay, 120 DPD")
    case.refresh_from_db()
    return case


def etag(case) -> str:
    case.refresh_from_db()
    return f'"{case.version}"'
