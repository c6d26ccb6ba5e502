"""Builders for the legal review tests: a case with a history (contacts, payments) built through the real
services, then referred to legal by a supervisor. The clock is fixed at 2 June 2026, 10:00 in Beijing.

Personas come from tests/conftest.py: `legal` decides; `supervisor` (team A) escalates; `agent` (team A)
logs the contacts and must not reach the legal pages."""

from datetime import date, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
import time_machine

from collections_app import services
from legal import services as legal_services
from tests.factories import ContactPointFactory, open_case
from tests.repayment_plans.conftest import ensure_default_tiers

BEIJING = ZoneInfo("Asia/Shanghai")
TODAY = date(2026, 6, 2)


@pytest.fixture
def today():
    with time_machine.travel("2026-06-02 10:00 +0800", tick=False):
        yield TODAY


def at(day: date, hour: int = 10) -> datetime:
    return datetime(day.year, day.month, day.day, hour, tzinfo=BEIJING)


def log_contact(
    case, agent, day: date, *, channel="outbound_call", outcome="rpc", recording="", point=None, **extra
):
    """A contact on `day` at 10:00 Beijing (inside the China window), through contact_attempt_log."""
    if point is None and channel in ("outbound_call", "sms", "email"):
        kind = "email" if channel == "email" else "phone"
        point = case.account.cardholder.contact_points.filter(kind=kind).first() or ContactPointFactory(
            cardholder=case.account.cardholder,
            kind=kind,
            value=f"wang{case.pk}@example.cn" if kind == "email" else f"+86139{case.pk:08d}",
        )
    data = services.ContactInput(
        channel=channel,
        outcome=outcome,
        contact_point_id=point.pk if point else None,
        delinquency_reason="refuses" if outcome in ("rpc", "refused", "ptp") else "",
        recording_ref=recording,
        started_at=at(day),
        **extra,
    )
    return services.contact_attempt_log(case_id=case.pk, actor=agent, data=data)


def pay(case, day: date, amount="100.00", ref=None):
    return services.payment_record(
        account=case.account,
        external_ref=ref or f"PAY-{case.pk}-{day:%Y%m%d}",
        amount=Decimal(amount),
        paid_at=at(day, 15),
    )


def build_referred_case(*, team, agent, referrer):
    """A case 150 days past due (first missed 3 January 2026), principal 60,000.00, with two effective
    collections 31 days apart and a payment, referred to legal by `referrer`."""
    ensure_default_tiers()
    case = open_case(
        team=team,
        days_past_due=150,
        first_missed_due_date=date(2026, 1, 3),
        principal=Decimal("60000.00"),
        overdue_amount=Decimal("9000.00"),
    )
    pay(case, date(2026, 1, 20), "500.00")
    log_contact(case, agent, date(2026, 2, 2), recording="REC-0202")
    log_contact(case, agent, date(2026, 2, 10), channel="sms", outcome="sent")
    log_contact(case, agent, date(2026, 3, 5), channel="sms", outcome="delivered")
    legal_services.legal_refer(case_id=case.pk, actor=referrer, reason="150 DPD, refuses to pay")
    case.refresh_from_db()
    return case


@pytest.fixture
def referred_case(today, team_a, agent, supervisor):
    """build_referred_case, referred to legal by the supervisor."""
    return build_referred_case(team=team_a, agent=agent, referrer=supervisor)
