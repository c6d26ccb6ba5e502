from datetime import date
from decimal import Decimal

import pytest

from collections_app import delinquency
from collections_app.delinquency import RiskClass, bucket_for, days_past_due, risk_class_cn


def test_the_day_after_the_missed_due_date_is_day_one():
    assert days_past_due(date(2026, 3, 1), date(2026, 3, 1)) == 0
    assert days_past_due(date(2026, 3, 1), date(2026, 3, 2)) == 1
    assert days_past_due(date(2026, 1, 31), date(2026, 3, 1)) == 29
    assert days_past_due(None, date(2026, 3, 1)) == 0


@pytest.mark.parametrize(
    ("dpd", "bucket"),
    [
        (0, "current"),
        (1, "M1"),
        (30, "M1"),
        (31, "M2"),
        (60, "M2"),
        (61, "M3"),
        (90, "M3"),
        (91, "M4"),
        (120, "M4"),
        (121, "M5"),
        (150, "M5"),
        (151, "M6"),
        (180, "M6"),
        (181, "M6+"),
        (900, "M6+"),
    ],
)
def test_bucket_at_each_boundary(dpd, bucket):
    assert bucket_for(dpd) == bucket


def test_bucket_boundaries_are_configurable(settings):
    settings.COLLECTIONS_BUCKET_BOUNDARIES = [29, 59, 89, 119, 149, 179]
    assert bucket_for(30) == "M2"
    assert bucket_for(180) == "M6+"


def test_bad_bucket_boundaries_are_refused(settings):
    settings.COLLECTIONS_BUCKET_BOUNDARIES = [30, 20, 90, 120, 150, 180]
    with pytest.raises(ValueError, match="six increasing"):
        bucket_for(10)


@pytest.mark.parametrize(
    ("dpd", "risk"),
    [
        (0, RiskClass.NORMAL),
        (1, RiskClass.SPECIAL_MENTION),
        (90, RiskClass.SPECIAL_MENTION),
        (91, RiskClass.SUBSTANDARD),
        (120, RiskClass.SUBSTANDARD),
        (121, RiskClass.DOUBTFUL),
        (180, RiskClass.DOUBTFUL),
        (181, RiskClass.LOSS),
    ],
)
def test_china_risk_class_at_each_boundary(dpd, risk):
    assert risk_class_cn(dpd) == risk


COMPONENTS = {
    "principal": Decimal("1000.00"),
    "interest": Decimal("50.00"),
    "fees": Decimal("20.00"),
    "penalties": Decimal("10.00"),
}


def test_payment_pays_components_in_the_configured_order():
    applied, left = delinquency.allocate(Decimal("45.00"), COMPONENTS)
    assert applied == {"penalties": Decimal("10.00"), "fees": Decimal("20.00"), "interest": Decimal("15.00")}
    assert left == Decimal("0.00")


def test_allocation_order_can_put_principal_first(settings):
    settings.COLLECTIONS_ALLOCATION_ORDER = ["principal", "interest", "fees", "penalties"]
    applied, _ = delinquency.allocate(Decimal("45.00"), COMPONENTS)
    assert applied == {"principal": Decimal("45.00")}


def test_overpayment_is_left_unapplied():
    applied, left = delinquency.allocate(Decimal("1100.00"), COMPONENTS)
    assert sum(applied.values()) == Decimal("1080.00")
    assert left == Decimal("20.00")


def test_allocation_order_must_name_every_component(settings):
    settings.COLLECTIONS_ALLOCATION_ORDER = ["principal", "interest"]
    with pytest.raises(ValueError, match="each of"):
        delinquency.allocate(Decimal("1.00"), COMPONENTS)


@pytest.mark.django_db
def test_bucket_sql_agrees_with_bucket_for():
    from django.db.models import F

    from collections_app.models import CreditAccount
    from tests.factories import AccountFactory

    for dpd in (0, 1, 30, 31, 60, 61, 90, 91, 120, 121, 150, 151, 180, 181):
        AccountFactory(days_past_due=dpd, bucket="current")
    CreditAccount.objects.update(bucket=delinquency.bucket_sql(F("days_past_due")))
    for account in CreditAccount.objects.all():
        assert account.bucket == bucket_for(account.days_past_due), account.days_past_due
