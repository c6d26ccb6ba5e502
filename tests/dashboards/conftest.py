"""Builders for the dashboard tests: work logged through the real services at chosen moments (the clock
travels to each), so that every figure has a hand-computable answer.

Personas (tests/conftest.py): `supervisor` supervises team A and reads its dashboards; `agent` works team
A's cases; `other_agent` is in team B and must not show on team A's figures; `legal` reads the legal
dashboard only; `admin_user` sees every team."""

from datetime import date, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
import time_machine

from collections_app import services
from collections_app.models import RIGHT_PARTY_OUTCOMES, ContactPoint
from tests.factories import ContactPointFactory, UserFactory, open_case

BEIJING = ZoneInfo("Asia/Shanghai")
ANSWERED = (*RIGHT_PARTY_OUTCOMES, "third_party", "wrong_number")


def at(day: date, hour: int = 10, minute: int = 0) -> datetime:
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=BEIJING)


def point_of(case) -> ContactPoint:
    holder = case.account.cardholder
    return holder.contact_points.filter(kind="phone").first() or ContactPointFactory(
        cardholder=holder, value=f"+86139{case.pk:08d}"
    )


def call(
    case, agent, when: datetime, outcome: str = "no_answer", *, seconds: int = 0, reason: str = "", notes=""
):
    """A call logged by `agent` at `when` (the clock travels there)."""
    data = services.ContactInput(
        channel="outbound_call",
        outcome=outcome,
        contact_point_id=point_of(case).pk,
        delinquency_reason=reason or ("job_loss" if outcome in RIGHT_PARTY_OUTCOMES else ""),
        duration_seconds=seconds,
        recording_ref=f"REC-{case.pk}-{when:%m%d%H%M}" if outcome in ANSWERED else "",
        notes=notes,
        started_at=when,
    )
    with time_machine.travel(when, tick=False):
        return services.contact_attempt_log(case_id=case.pk, actor=agent, data=data)


def promise(case, agent, amount: str, due: date, when: datetime):
    with time_machine.travel(when, tick=False):
        return services.promise_record(
            case_id=case.pk, actor=agent, amount=Decimal(amount), due_date=due, today=when.date()
        )


def pay(case, amount: str, when: datetime, ref: str):
    with time_machine.travel(when, tick=False):
        return services.payment_record(
            account=case.account, external_ref=ref, amount=Decimal(amount), paid_at=when
        ).payment


def nightly_promises(as_of: date):
    with time_machine.travel(at(as_of, 1), tick=False):
        return services.promises_check_broken(as_of=as_of)


def case_on(day: date, *, team, **fields):
    with time_machine.travel(at(day, 9), tick=False):
        return open_case(team=team, **fields)


@pytest.fixture
def agent2(team_a):
    """A second agent of team A (reassignment target)."""
    return UserFactory(username="agent_a2", role="agent", team=team_a)
