"""Builders for the privacy tests: cases opened and closed on a given day through the real services (the
clock is moved there), and the contacts, payments and promises a purge must leave countable.

Personas come from tests/conftest.py: `agent` (team A) works the cases and may request corrections;
`supervisor` (team A) decides corrections, exports subject data and places legal holds; `legal` places
legal holds; `other_agent` (team B) may not touch team A's cardholders."""

from datetime import date, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import time_machine

from collections_app import services
from collections_app.models import Case, ContactAttempt, PromiseToPay
from tests.factories import (
    AccountFactory,
    CardholderFactory,
    ContactPointFactory,
    QueueFactory,
    UserFactory,
    write_off_approved,
)

BEIJING = ZoneInfo("Asia/Shanghai")


def at(day: date, hour: int = 10) -> datetime:
    return datetime(day.year, day.month, day.day, hour, tzinfo=BEIJING)


def cardholder(*, jurisdiction="CN", **fields):
    holder = CardholderFactory(
        jurisdiction=jurisdiction,
        email="wang.wei@example.cn",
        address="北京市朝阳区建国路88号",
        attorney_contact="",
        **fields,
    )
    ContactPointFactory(cardholder=holder, party_name="王伟")
    return holder


def open_case_on(day: date, *, holder, team=None) -> Case:
    with time_machine.travel(at(day), tick=False):
        case = services.case_open(account=AccountFactory(cardholder=holder))
    if team is not None:
        case.queue = QueueFactory(name=f"{team.name} queue", team=team)
        case.save(update_fields=["queue"])
    return case


def close_case_on(case: Case, day: date, *, write_off=False) -> Case:
    with time_machine.travel(at(day), tick=False):
        if write_off:  # as the product writes off: a request, approved by others (maker-checker)
            write_off_approved(case, by=UserFactory(role="head"))
        else:
            services.case_close(
                case_id=case.pk, actor=None, write_off=False, resolution_reason="paid_in_full"
            )
    return Case.objects.get(pk=case.pk)


def closed_case(*, holder, opened: date, closed: date, write_off=False, team=None) -> Case:
    return close_case_on(open_case_on(opened, holder=holder, team=team), closed, write_off=write_off)


def contact_on(
    case: Case, day: date, *, recording="REC-0001", notes="客户说下个月发工资后还款"
) -> ContactAttempt:
    """A call as the phone system left it (with its recording reference), on `day`."""
    holder = case.account.cardholder
    return ContactAttempt.objects.create(
        case=case,
        cardholder=holder,
        channel="outbound_call",
        contact_point=holder.contact_points.first(),
        party_role="debtor",
        person_reached="王伟",
        outcome="rpc",
        started_at=at(day),
        duration_seconds=120,
        notes=notes,
        recording_ref=recording,
    )


def pay_on(case: Case, day: date, amount="300.00"):
    return services.payment_record(
        account=case.account,
        external_ref=f"PAY-{case.pk}-{day:%Y%m%d}",
        amount=Decimal(amount),
        paid_at=at(day),
        source="bank_feed",
    ).payment


def promise_on(case: Case, day: date, amount="500.00") -> PromiseToPay:
    return PromiseToPay.objects.create(case=case, amount=Decimal(amount), due_date=day, status="kept")
