"""The arithmetic a court will check: the limitation date (3 years, started again by each payment and
each proven demand), which contacts count as effective collections, and the malicious-overdraft
checklist (two effective collections 30 days apart, more than 3 months, the amount threshold). Each
boundary is tested on both sides; the SQL used by the nightly rules is held equal to the Python."""

from datetime import date, timedelta
from decimal import Decimal

import pytest
import time_machine

from collections_app import services
from collections_app.models import Case
from legal import services as legal
from tests.factories import open_case
from tests.legal.conftest import TODAY, at, log_contact, pay

# --- Dates (pure) ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("day", "months", "expected"),
    [
        (date(2026, 1, 31), 1, date(2026, 2, 28)),
        (date(2024, 2, 29), 12, date(2025, 2, 28)),
        (date(2024, 2, 29), 48, date(2028, 2, 29)),
        (date(2026, 11, 30), 3, date(2027, 2, 28)),
        (date(2026, 3, 31), -1, date(2026, 2, 28)),
    ],
)
def test_adding_months_falls_back_to_the_end_of_a_short_month(day, months, expected):
    assert legal.add_months(day, months) == expected


def test_the_cutoff_is_exactly_the_inverse_of_the_limitation_date():
    """restart < cutoff(as_of)  <=>  as_of > limitation_date(restart), over six years of days."""
    start = date(2023, 1, 1)
    restarts = [start + timedelta(days=n) for n in range(0, 6 * 366, 3)]
    for as_of in (
        date(2027, 2, 28),
        date(2027, 3, 1),
        date(2028, 2, 29),
        date(2028, 3, 1),
        date(2026, 12, 31),
    ):
        cutoff = legal.limitation_cutoff(as_of, years=3)
        for restart in restarts:
            assert (restart < cutoff) == (as_of > legal.limitation_date_for(restart, years=3)), (
                as_of,
                restart,
            )


def test_the_limitation_period_starts_again_on_the_latest_payment_or_proven_demand():
    base = {"first_missed": date(2023, 1, 10), "as_of": TODAY}
    assert (
        legal.limitation_from(last_payment=None, last_effective=None, **base).restart_cause
        == "first_missed_due_date"
    )
    by_payment = legal.limitation_from(last_payment=date(2024, 5, 1), last_effective=date(2024, 3, 1), **base)
    assert (by_payment.restart, by_payment.restart_cause) == (date(2024, 5, 1), "payment")
    assert by_payment.limitation_date == date(2027, 5, 1)
    by_demand = legal.limitation_from(last_payment=date(2024, 5, 1), last_effective=date(2024, 9, 1), **base)
    assert (by_demand.restart_cause, by_demand.limitation_date) == ("effective_collection", date(2027, 9, 1))


@pytest.mark.parametrize(
    ("as_of", "days_left", "warning", "expired"),
    [
        (date(2026, 1, 10), 365, False, False),
        (date(2028, 10, 13), 89, True, False),  # fewer than 90 days: warn
        (date(2028, 10, 12), 90, False, False),
        (date(2029, 1, 10), 0, True, False),  # the last day is still inside the period
        (date(2029, 1, 11), -1, False, True),
    ],
)
def test_the_warning_and_the_expiry_at_their_boundaries(as_of, days_left, warning, expired):
    limitation = legal.limitation_from(
        first_missed=date(2026, 1, 10), last_payment=None, last_effective=None, as_of=as_of
    )
    assert limitation.limitation_date == date(2029, 1, 10)
    if days_left != 365:
        assert limitation.days_left == days_left
    assert (limitation.warning, limitation.expired) == (warning, expired)


def test_the_limitation_years_come_from_the_settings(settings):
    settings.COLLECTIONS_LIMITATION_YEARS = 2
    assert legal.limitation_date_for(date(2026, 1, 10)) == date(2028, 1, 10)


# --- Effective collections ---------------------------------------------------------------------------


@pytest.fixture
def case(today, team_a):
    return open_case(team=team_a, days_past_due=150, first_missed_due_date=date(2026, 1, 3))


def verdicts(case) -> list[tuple[bool, str]]:
    return [(row.effective, row.why) for row in legal.effective_contacts(case.account)]


def test_which_contacts_count_as_effective(case, agent):
    log_contact(case, agent, date(2026, 2, 2), recording="REC-1")
    log_contact(case, agent, date(2026, 2, 3), outcome="no_answer", recording="REC-2")
    log_contact(case, agent, date(2026, 2, 4), channel="sms", outcome="sent")
    log_contact(case, agent, date(2026, 2, 5), channel="sms", outcome="delivered")
    log_contact(case, agent, date(2026, 2, 6), channel="email", outcome="delivered")
    log_contact(case, agent, date(2026, 2, 7), channel="letter", outcome="delivered")
    log_contact(case, agent, date(2026, 2, 8), channel="letter", outcome="sent")
    log_contact(case, agent, date(2026, 2, 9), channel="inbound_call", outcome="rpc", recording="REC-3")
    assert verdicts(case) == [
        (True, "recorded conversation with the debtor (REC-1)"),
        (False, "no conversation with the debtor"),
        (False, "no delivery receipt"),
        (True, "delivery receipt"),
        (True, "delivery receipt"),
        (True, "signed return"),
        (False, "no signed return"),
        (True, "recorded conversation with the debtor (REC-3)"),
    ]


def test_a_demand_on_or_before_the_first_missed_due_date_is_not_a_collection(today, team_a, agent):
    case = open_case(team=team_a, days_past_due=150, first_missed_due_date=date(2026, 2, 2))
    log_contact(case, agent, date(2026, 2, 2), channel="sms", outcome="delivered")
    log_contact(case, agent, date(2026, 2, 3), channel="sms", outcome="delivered")
    assert [ok for ok, _why in verdicts(case)] == [False, True]


def test_a_corrected_contact_no_longer_counts(case, agent):
    wrong = log_contact(case, agent, date(2026, 2, 5), channel="sms", outcome="delivered")
    correction = log_contact(case, agent, date(2026, 2, 5), channel="sms", outcome="failed")
    # The correction points at the wrong entry (corrections are new rows, never edits); there is no
    # correction service yet, so the link is set here.
    type(correction).objects.filter(pk=correction.pk).update(corrects=wrong)
    assert verdicts(case)[0] == (False, "corrected by a later entry")


def test_the_sql_restart_date_equals_the_python_one(today, team_a, agent):
    cases = {
        "none": open_case(team=team_a, first_missed_due_date=date(2025, 3, 1)),
        "payment": open_case(
            team=team_a, first_missed_due_date=date(2025, 3, 1), overdue_amount=Decimal("5000.00")
        ),
        "demand": open_case(team=team_a, first_missed_due_date=date(2025, 3, 1)),
        "ineffective": open_case(team=team_a, first_missed_due_date=date(2025, 3, 1)),
    }
    pay(cases["payment"], date(2025, 9, 1))
    log_contact(cases["demand"], agent, date(2025, 10, 1), channel="letter", outcome="delivered")
    log_contact(cases["demand"], agent, date(2025, 8, 1), recording="REC-9")
    log_contact(cases["ineffective"], agent, date(2025, 11, 1), channel="sms", outcome="sent")
    annotated = dict(legal.with_limitation(Case.objects.all()).values_list("pk", "limitation_restart"))
    expected = {
        "none": date(2025, 3, 1),
        "payment": date(2025, 9, 1),
        "demand": date(2025, 10, 1),
        "ineffective": date(2025, 3, 1),
    }
    for name, case in cases.items():
        assert (
            annotated[case.pk] == expected[name] == legal.limitation_for(case.account, as_of=TODAY).restart
        ), name


def test_a_late_evening_payment_counts_on_its_beijing_date(today, team_a):
    case = open_case(team=team_a, first_missed_due_date=date(2025, 3, 1), overdue_amount=Decimal("5000.00"))
    services.payment_record(
        account=case.account,
        external_ref="PAY-NIGHT",
        amount=Decimal("10.00"),
        paid_at=at(date(2025, 9, 1), 23),
    )
    restart = (
        legal.with_limitation(Case.objects.filter(pk=case.pk))
        .values_list("limitation_restart", flat=True)
        .get()
    )
    assert restart == date(2025, 9, 1) == legal.limitation_for(case.account, as_of=TODAY).restart


def test_the_limitation_warning_on_the_package_moves_with_the_clock(team_a):
    with time_machine.travel("2028-10-12 10:00 +0800", tick=False):
        case = open_case(team=team_a, first_missed_due_date=date(2026, 1, 10))
        package = legal.legal_package(case, as_of=date(2028, 10, 12))
        assert (package.limitation.days_left, package.limitation.warning) == (90, False)
    with time_machine.travel("2028-10-13 10:00 +0800", tick=False):
        assert legal.legal_package(case, as_of=date(2028, 10, 13)).limitation.warning


# --- Malicious overdraft (pure) -------------------------------------------------------------------------

PRINCIPAL = Decimal("60000.00")


def evidence(effective, payments=(), as_of=date(2026, 9, 1), principal=PRINCIPAL, **kw):
    return legal.overdraft_evidence(
        effective_days=list(effective), payment_days=list(payments), principal=principal, as_of=as_of, **kw
    )


def test_two_effective_collections_must_be_at_least_30_days_apart():
    assert evidence([date(2026, 3, 1), date(2026, 3, 30)]).second is None  # 29 days
    assert evidence([date(2026, 3, 1), date(2026, 3, 31)]).second == date(2026, 3, 31)  # 30 days
    assert evidence([date(2026, 3, 1), date(2026, 3, 15), date(2026, 4, 2)]).second == date(2026, 4, 2)


def test_more_than_three_months_must_pass_after_the_second():
    collections = [date(2026, 3, 1), date(2026, 3, 31)]
    assert not evidence(collections, as_of=date(2026, 6, 30)).ready  # exactly three months
    assert evidence(collections, as_of=date(2026, 7, 1)).ready


def test_only_collections_after_the_last_payment_count():
    collections = [date(2026, 3, 1), date(2026, 3, 31), date(2026, 5, 1)]
    after_payment = evidence(collections, payments=[date(2026, 4, 10)])
    assert (after_payment.first, after_payment.second, after_payment.ready) == (date(2026, 5, 1), None, False)
    assert after_payment.checks[0][2] == "one so far (2026-05-01)"


def test_the_amount_threshold_is_configurable(settings):
    collections = [date(2026, 3, 1), date(2026, 3, 31)]
    assert evidence(collections, principal=Decimal("50000.00")).ready
    assert not evidence(collections, principal=Decimal("49999.99")).ready
    settings.COLLECTIONS_MALICIOUS_OVERDRAFT_THRESHOLD = "30000"
    assert evidence(collections, principal=Decimal("30000.00")).ready
