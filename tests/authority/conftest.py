"""Builders for maker-checker tests. Personas come from tests/conftest.py (agent, team_lead and supervisor
of team A, head of collections, legal, admin); this adds a second head and a supervisor of team B.

The default account's balance is 8,900.00 CNY: within a team lead's write-off limit (10,000 CNY). Larger
balances come from `case_owing`."""

from decimal import Decimal

import pytest

from authority import services
from authority.models import ActionKind
from tests.factories import UserFactory, open_case


@pytest.fixture
def head2(db):
    """A second head of collections: the other approver that dual control needs."""
    return UserFactory(username="head2", role="head")


@pytest.fixture
def supervisor_b(team_b):
    return UserFactory(username="sup_b", role="supervisor", team=team_b)


@pytest.fixture
def case(team_a):
    """Team A's case, balance 8,900.00 CNY."""
    return open_case(team=team_a)


def case_owing(team, principal: str, currency: str = "CNY"):
    """A case of `team` whose balance is `principal` + 900.00 (interest, fees, penalties)."""
    return open_case(team=team, principal=Decimal(principal), currency=currency)


def ask_write_off(case, actor, reason="No assets, debtor abroad"):
    return services.request_create(case_id=case.pk, actor=actor, kind=ActionKind.WRITE_OFF, reason=reason)
