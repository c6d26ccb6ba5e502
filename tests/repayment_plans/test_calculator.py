"""The repayment-plan calculator: schedules, input errors, limits and approval tiers. No database, no clock:
every test passes `today` explicitly."""

from dataclasses import replace
from datetime import date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal

import pytest
from django.utils.functional import Promise
from hypothesis import assume, given
from hypothesis import strategies as st

from repayment_plans.calculator import (
    PERSONALISED_MAX_TERM_MONTHS,
    Frequency,
    PlanInputError,
    PlanKind,
    PlanLimits,
    PlanTerms,
    Schedule,
    approver_for,
    build_schedule,
    check_limits,
    due_dates,
    split_amount,
    term_months,
)

TODAY = date(2025, 1, 15)


def make_terms(**overrides) -> PlanTerms:
    """A 12-month installment plan of 1,200.00 starting next month, changed by `overrides`."""
    values = {
        "kind": PlanKind.INSTALLMENT,
        "amount": Decimal("1200.00"),
        "installments": 12,
        "frequency": Frequency.MONTHLY,
        "first_due_date": date(2025, 2, 15),
    }
    return PlanTerms(**(values | overrides))


def codes(terms: PlanTerms, limits: PlanLimits, today: date = TODAY) -> list[str]:
    return [violation.code for violation in check_limits(terms, build_schedule(terms), limits, today)]


def amounts(schedule: Schedule) -> list[Decimal]:
    return [line.amount for line in schedule.lines]


def dates(schedule: Schedule) -> list[date]:
    return [line.due_date for line in schedule.lines]


# Splitting money


def test_amount_splits_into_whole_cents_with_the_remainder_on_the_last_installment():
    assert split_amount(Decimal("100.00"), 3) == [Decimal("33.33"), Decimal("33.33"), Decimal("33.34")]


def test_amount_that_divides_evenly_has_equal_installments():
    assert split_amount(Decimal("1200.00"), 12) == [Decimal("100.00")] * 12


def test_every_leftover_cent_goes_to_the_last_installment():
    assert split_amount(Decimal("0.11"), 6) == [Decimal("0.01")] * 5 + [Decimal("0.06")]


def test_splitting_into_no_parts_is_refused():
    with pytest.raises(ValueError, match="count"):
        split_amount(Decimal("10.00"), 0)


# Due dates


def test_monthly_plan_from_31_january_lands_on_february_month_end():
    assert due_dates(date(2025, 1, 31), Frequency.MONTHLY, 4) == [
        date(2025, 1, 31),
        date(2025, 2, 28),
        date(2025, 3, 31),
        date(2025, 4, 30),
    ]


def test_monthly_plan_from_31_january_of_a_leap_year_lands_on_29_february():
    assert due_dates(date(2024, 1, 31), Frequency.MONTHLY, 3) == [
        date(2024, 1, 31),
        date(2024, 2, 29),
        date(2024, 3, 31),
    ]


def test_monthly_plan_from_29_february_keeps_the_29th_after_a_short_february():
    assert due_dates(date(2024, 2, 29), Frequency.MONTHLY, 14)[-2:] == [date(2025, 2, 28), date(2025, 3, 29)]


def test_monthly_plan_crosses_the_year_end():
    assert due_dates(date(2024, 11, 30), Frequency.MONTHLY, 3) == [
        date(2024, 11, 30),
        date(2024, 12, 30),
        date(2025, 1, 30),
    ]


def test_weekly_plan_falls_due_every_seven_days():
    assert due_dates(date(2025, 2, 26), Frequency.WEEKLY, 3) == [
        date(2025, 2, 26),
        date(2025, 3, 5),
        date(2025, 3, 12),
    ]


def test_biweekly_plan_falls_due_every_fourteen_days():
    assert due_dates(date(2024, 2, 22), Frequency.BIWEEKLY, 3) == [
        date(2024, 2, 22),
        date(2024, 3, 7),
        date(2024, 3, 21),
    ]


def test_due_dates_can_start_some_periods_after_the_first_due_date():
    assert due_dates(date(2025, 1, 31), Frequency.MONTHLY, 2, offset=1) == [
        date(2025, 2, 28),
        date(2025, 3, 31),
    ]


# Schedules


def test_installment_plan_has_one_line_per_installment_numbered_from_one():
    schedule = build_schedule(make_terms(amount=Decimal("1000.00"), installments=3))

    assert [line.number for line in schedule.lines] == [1, 2, 3]
    assert amounts(schedule) == [Decimal("333.33"), Decimal("333.33"), Decimal("333.34")]
    assert dates(schedule) == [date(2025, 2, 15), date(2025, 3, 15), date(2025, 4, 15)]
    assert schedule.total == Decimal("1000.00")
    assert schedule.waived == Decimal("0.00")
    assert not any(line.is_down_payment for line in schedule.lines)


def test_down_payment_is_the_first_line_due_on_the_first_due_date_and_the_rest_follows_monthly():
    terms = make_terms(amount=Decimal("1000.00"), down_payment=Decimal("100.00"), installments=3)

    schedule = build_schedule(terms)

    assert amounts(schedule) == [Decimal("100.00"), Decimal("300.00"), Decimal("300.00"), Decimal("300.00")]
    assert dates(schedule) == [date(2025, 2, 15), date(2025, 3, 15), date(2025, 4, 15), date(2025, 5, 15)]
    assert [line.is_down_payment for line in schedule.lines] == [True, False, False, False]
    assert [line.number for line in schedule.lines] == [1, 2, 3, 4]
    assert schedule.total == Decimal("1000.00")


def test_down_payment_with_its_own_date_leaves_the_installments_starting_on_the_first_due_date():
    terms = make_terms(
        amount=Decimal("1000.00"),
        down_payment=Decimal("250.00"),
        down_payment_due_date=date(2025, 1, 20),
        installments=2,
        first_due_date=date(2025, 1, 31),
    )

    schedule = build_schedule(terms)

    assert dates(schedule) == [date(2025, 1, 20), date(2025, 1, 31), date(2025, 2, 28)]
    assert amounts(schedule) == [Decimal("250.00"), Decimal("375.00"), Decimal("375.00")]


def test_what_is_left_after_the_down_payment_is_split_with_the_remainder_on_the_last_installment():
    terms = make_terms(amount=Decimal("1000.00"), down_payment=Decimal("99.99"), installments=7)

    # 900.01 / 7 = 128.5728...: six of 128.57 and the last carries the 2 cents left over.
    assert amounts(build_schedule(terms)) == [Decimal("99.99")] + [Decimal("128.57")] * 6 + [
        Decimal("128.59")
    ]


def test_moved_due_date_is_a_single_payment_of_the_whole_amount():
    terms = PlanTerms(
        kind=PlanKind.MOVED_DUE_DATE, amount=Decimal("856.40"), first_due_date=date(2025, 3, 10)
    )

    schedule = build_schedule(terms)

    assert amounts(schedule) == [Decimal("856.40")]
    assert dates(schedule) == [date(2025, 3, 10)]
    assert schedule.waived == Decimal("0.00")


def test_settlement_pays_the_stated_share_and_waives_the_rest():
    terms = PlanTerms(
        kind=PlanKind.SETTLEMENT,
        amount=Decimal("10000.00"),
        discount_percent=Decimal("40"),
        first_due_date=date(2025, 2, 1),
    )

    schedule = build_schedule(terms)

    assert amounts(schedule) == [Decimal("6000.00")]
    assert schedule.total == Decimal("6000.00")
    assert schedule.waived == Decimal("4000.00")


def test_settlement_payable_rounds_half_a_cent_up():
    terms = PlanTerms(
        kind=PlanKind.SETTLEMENT,
        amount=Decimal("100.25"),
        discount_percent=Decimal("50"),
        first_due_date=date(2025, 2, 1),
    )

    # 50.125: banker's rounding would give 50.12; the issue asks for ROUND_HALF_UP.
    assert terms.payable == Decimal("50.13")
    assert build_schedule(terms).waived == Decimal("50.12")


def test_settlement_with_a_fractional_discount_rounds_to_the_cent():
    terms = PlanTerms(
        kind=PlanKind.SETTLEMENT,
        amount=Decimal("1234.57"),
        discount_percent=Decimal("33.33"),
        first_due_date=date(2025, 2, 1),
    )

    # 1234.57 * 66.67 / 100 = 823.087819
    assert terms.payable == Decimal("823.09")
    assert terms.waived == Decimal("411.48")


def test_settlement_can_be_paid_in_a_few_installments():
    terms = PlanTerms(
        kind=PlanKind.SETTLEMENT,
        amount=Decimal("1000.00"),
        discount_percent=Decimal("30"),
        installments=3,
        frequency=Frequency.BIWEEKLY,
        first_due_date=date(2025, 2, 1),
    )

    schedule = build_schedule(terms)

    assert amounts(schedule) == [Decimal("233.33"), Decimal("233.33"), Decimal("233.34")]
    assert dates(schedule) == [date(2025, 2, 1), date(2025, 2, 15), date(2025, 3, 1)]
    assert schedule.waived == Decimal("300.00")


def test_personalised_installment_repays_the_frozen_balance_and_waives_nothing():
    terms = make_terms(kind=PlanKind.PERSONALISED_INSTALLMENT, amount=Decimal("60000.00"), installments=60)

    schedule = build_schedule(terms)

    assert len(schedule.lines) == 60
    assert set(amounts(schedule)) == {Decimal("1000.00")}
    assert schedule.last_due_date == date(2030, 1, 15)
    assert schedule.waived == Decimal("0.00")


def test_kind_and_frequency_given_as_strings_become_enum_members():
    terms = make_terms(kind="settlement", frequency="weekly", discount_percent=Decimal("10"))

    assert terms.kind is PlanKind.SETTLEMENT
    assert terms.frequency is Frequency.WEEKLY


# Input that no approver could accept


@pytest.mark.parametrize(
    ("overrides", "code", "field"),
    [
        ({"amount": Decimal("0.00")}, "amount_not_positive", "amount"),
        ({"amount": Decimal("-10.00")}, "amount_not_positive", "amount"),
        ({"installments": 0}, "count_not_positive", "installments"),
        ({"installments": -3}, "count_not_positive", "installments"),
        (
            {"kind": PlanKind.SETTLEMENT, "discount_percent": Decimal("100.01")},
            "discount_out_of_range",
            "discount_percent",
        ),
        (
            {"kind": PlanKind.SETTLEMENT, "discount_percent": Decimal("-0.01")},
            "discount_out_of_range",
            "discount_percent",
        ),
        (
            {"kind": PlanKind.SETTLEMENT, "discount_percent": Decimal("100")},
            "nothing_payable",
            "discount_percent",
        ),
        ({"down_payment": Decimal("-1.00")}, "down_payment_negative", "down_payment"),
        ({"down_payment": Decimal("1200.00")}, "down_payment_not_below_amount", "down_payment"),
        (
            {"amount": Decimal("0.05"), "down_payment": Decimal("0.01"), "installments": 5},
            "amount_too_small_to_split",
            "installments",
        ),
        (
            {"down_payment": Decimal("100.00"), "down_payment_due_date": date(2025, 2, 15)},
            "down_payment_date_not_before_first_due",
            "down_payment_due_date",
        ),
        ({"discount_percent": Decimal("10")}, "not_applicable", "discount_percent"),
        ({"down_payment_due_date": date(2025, 2, 1)}, "not_applicable", "down_payment_due_date"),
        ({"kind": PlanKind.MOVED_DUE_DATE}, "not_applicable", "installments"),
        (
            {"kind": PlanKind.MOVED_DUE_DATE, "installments": 1, "down_payment": Decimal("10.00")},
            "not_applicable",
            "down_payment",
        ),
        ({"amount": 1200.0}, "not_a_decimal", "amount"),
        ({"amount": Decimal("NaN")}, "not_a_decimal", "amount"),
        ({"amount": Decimal("1200.005")}, "not_whole_cents", "amount"),
        ({"installments": 12.0}, "not_an_integer", "installments"),
        ({"installments": True}, "not_an_integer", "installments"),
        ({"first_due_date": datetime(2025, 2, 15, 9, 0)}, "not_a_date", "first_due_date"),
        ({"kind": "loan_sale"}, "unknown_kind", "kind"),
        ({"frequency": "daily"}, "unknown_frequency", "frequency"),
    ],
)
def test_terms_that_describe_no_plan_are_refused_with_a_code_and_the_field(overrides, code, field):
    with pytest.raises(PlanInputError) as raised:
        make_terms(**overrides)

    assert raised.value.code == code
    assert raised.value.field == field


def test_input_error_is_a_value_error_with_a_translatable_message_naming_the_value():
    with pytest.raises(ValueError, match="-10.00") as raised:
        make_terms(amount=Decimal("-10.00"))

    assert isinstance(raised.value.message, Promise)
    assert raised.value.params == {"amount": Decimal("-10.00")}
    assert str(raised.value) == "The amount must be more than zero (it is -10.00)."


def test_field_the_plan_kind_does_not_have_is_refused_rather_than_ignored():
    with pytest.raises(PlanInputError) as raised:
        make_terms(discount_percent=Decimal("10"))

    assert str(raised.value) == "discount_percent does not apply to this kind of plan (Installment plan)."


def test_settlement_may_waive_nothing_and_pay_in_full():
    terms = make_terms(kind=PlanKind.SETTLEMENT, discount_percent=Decimal("0"))

    assert terms.payable == Decimal("1200.00")


def test_first_payment_due_in_the_past_is_refused_by_the_limits_check():
    terms = make_terms(first_due_date=TODAY - timedelta(days=1))

    with pytest.raises(PlanInputError) as raised:
        check_limits(terms, build_schedule(terms), PlanLimits(), TODAY)

    assert raised.value.code == "first_due_in_past"
    assert raised.value.field == "first_due_date"


def test_down_payment_due_in_the_past_is_refused_too():
    terms = make_terms(down_payment=Decimal("100.00"), down_payment_due_date=TODAY - timedelta(days=1))

    with pytest.raises(PlanInputError, match="before 2025-01-15"):
        check_limits(terms, build_schedule(terms), PlanLimits(), TODAY)


def test_first_payment_due_today_is_accepted():
    assert codes(make_terms(first_due_date=TODAY), PlanLimits()) == []


# Limits of one tier


def test_plan_within_every_limit_has_no_violation():
    limits = PlanLimits(
        min_installment_amount=Decimal("100.00"),
        max_installments=12,
        max_term_months=12,
        first_due_horizon_days=31,
    )

    assert codes(make_terms(), limits) == []


def test_more_installments_than_the_tier_allows_is_a_violation():
    limits = PlanLimits(max_installments=12)

    assert codes(make_terms(installments=13), limits) == ["max_installments"]
    assert codes(make_terms(installments=12), limits) == []


def test_down_payment_does_not_count_as_an_installment():
    terms = make_terms(installments=12, down_payment=Decimal("100.00"))

    assert codes(terms, PlanLimits(max_installments=12)) == []


def test_term_longer_than_the_tier_allows_is_a_violation():
    limits = PlanLimits(max_term_months=12)

    # From 15 January, the 13th monthly payment is due on 15 February next year: 13 months.
    assert codes(make_terms(installments=13), limits) == ["max_term"]
    assert codes(make_terms(installments=12), limits) == []


def test_term_counts_whole_months_from_today_to_the_last_payment_rounded_up():
    weekly = build_schedule(make_terms(frequency=Frequency.WEEKLY, installments=52, first_due_date=TODAY))

    assert weekly.last_due_date == date(2026, 1, 7)
    assert term_months(weekly, TODAY) == 12
    assert term_months(weekly, date(2025, 1, 6)) == 13


def test_personalised_installment_is_bounded_by_its_own_term_not_the_ordinary_limits():
    limits = PlanLimits(max_installments=12, max_term_months=12, max_personalised_term_months=60)
    personalised = make_terms(kind=PlanKind.PERSONALISED_INSTALLMENT, amount=Decimal("60000.00"))

    assert codes(replace(personalised, installments=60), limits) == []
    assert codes(replace(personalised, installments=61), limits) == ["max_term"]


def test_personalised_installment_term_defaults_to_the_five_years_of_the_china_card_rules():
    personalised = make_terms(kind=PlanKind.PERSONALISED_INSTALLMENT, amount=Decimal("61000.00"))

    assert PERSONALISED_MAX_TERM_MONTHS == 60
    assert codes(replace(personalised, installments=60), PlanLimits()) == []
    assert codes(replace(personalised, installments=61), PlanLimits()) == ["max_term"]


def test_deeper_discount_than_the_tier_allows_is_a_violation():
    limits = PlanLimits(max_discount_percent=Decimal("30"))

    assert codes(make_terms(kind=PlanKind.SETTLEMENT, discount_percent=Decimal("30.01")), limits) == [
        "max_discount"
    ]
    assert codes(make_terms(kind=PlanKind.SETTLEMENT, discount_percent=Decimal("30")), limits) == []


def test_installment_below_the_minimum_is_a_violation():
    limits = PlanLimits(min_installment_amount=Decimal("100.00"))

    assert codes(make_terms(amount=Decimal("1199.99")), limits) == ["min_installment"]
    assert codes(make_terms(amount=Decimal("1200.00")), limits) == []


def test_down_payment_below_the_minimum_is_a_violation():
    terms = make_terms(amount=Decimal("1250.00"), down_payment=Decimal("50.00"))

    assert codes(terms, PlanLimits(min_installment_amount=Decimal("100.00"))) == ["min_installment"]


def test_single_payment_below_the_minimum_installment_is_not_a_violation():
    moved = PlanTerms(kind=PlanKind.MOVED_DUE_DATE, amount=Decimal("80.00"), first_due_date=date(2025, 2, 1))

    assert codes(moved, PlanLimits(min_installment_amount=Decimal("100.00"))) == []


def test_first_payment_beyond_the_horizon_is_a_violation():
    limits = PlanLimits(first_due_horizon_days=30)

    assert codes(make_terms(first_due_date=TODAY + timedelta(days=31)), limits) == [
        "first_due_beyond_horizon"
    ]
    assert codes(make_terms(first_due_date=TODAY + timedelta(days=30)), limits) == []


def test_plan_kind_the_tier_may_not_grant_is_a_violation():
    limits = PlanLimits(allowed_kinds=frozenset({PlanKind.INSTALLMENT, PlanKind.MOVED_DUE_DATE}))

    assert codes(make_terms(kind=PlanKind.SETTLEMENT, discount_percent=Decimal("5")), limits) == [
        "kind_not_allowed"
    ]
    assert codes(make_terms(), limits) == []


def test_allowed_kinds_may_be_configured_as_strings():
    limits = PlanLimits(allowed_kinds=frozenset({"installment"}))

    assert limits.allowed_kinds == frozenset({PlanKind.INSTALLMENT})


def test_limits_refuse_float_money():
    with pytest.raises(TypeError, match="min_installment_amount"):
        PlanLimits(min_installment_amount=100.0)


def test_every_broken_limit_is_reported_with_a_message_naming_the_figures():
    terms = make_terms(
        kind=PlanKind.SETTLEMENT,
        amount=Decimal("1000.00"),
        discount_percent=Decimal("50"),
        installments=24,
        first_due_date=TODAY + timedelta(days=60),
    )
    limits = PlanLimits(
        allowed_kinds=frozenset({PlanKind.INSTALLMENT}),
        min_installment_amount=Decimal("50.00"),
        max_installments=12,
        max_term_months=12,
        max_discount_percent=Decimal("20"),
        first_due_horizon_days=30,
    )

    violations = check_limits(terms, build_schedule(terms), limits, TODAY)

    assert [violation.code for violation in violations] == [
        "kind_not_allowed",
        "max_installments",
        "max_term",
        "max_discount",
        "min_installment",
        "first_due_beyond_horizon",
    ]
    assert all(isinstance(violation.message, Promise) for violation in violations)
    assert [str(violation) for violation in violations][1:] == [
        "24 installments is more than the 12 allowed.",
        "A term of 26 months is longer than the 12 months allowed.",
        "A discount of 50% is more than the 20% allowed.",
        "An installment of 20.83 is below the minimum of 50.00.",
        "The first payment is due in 60 days; at most 30 days are allowed.",
    ]


# Who may approve


TIERS = [
    ("agent", PlanLimits(max_installments=6, allowed_kinds=frozenset({PlanKind.INSTALLMENT}))),
    ("supervisor", PlanLimits(max_installments=24, max_discount_percent=Decimal("30"))),
]


def test_plan_within_the_agents_limits_is_approved_by_the_agent():
    terms = make_terms(installments=6)

    assert approver_for(terms, build_schedule(terms), TIERS, TODAY) == "agent"


def test_plan_beyond_the_agent_goes_to_the_first_tier_that_may_approve_it():
    terms = make_terms(installments=12)

    assert approver_for(terms, build_schedule(terms), TIERS, TODAY) == "supervisor"


def test_plan_beyond_every_tier_has_no_approver_and_goes_to_legal():
    terms = make_terms(kind=PlanKind.SETTLEMENT, discount_percent=Decimal("60"))

    assert approver_for(terms, build_schedule(terms), TIERS, TODAY) is None


def test_plan_due_in_the_past_is_refused_rather_than_sent_to_legal():
    terms = make_terms(first_due_date=date(2025, 1, 1))

    with pytest.raises(PlanInputError, match="in the past"):
        approver_for(terms, build_schedule(terms), [], TODAY)


# Properties


@st.composite
def plan_terms(draw) -> PlanTerms:
    kind = draw(st.sampled_from(PlanKind))
    count = 1 if kind == PlanKind.MOVED_DUE_DATE else draw(st.integers(min_value=1, max_value=120))
    amount = Decimal(draw(st.integers(min_value=1, max_value=10**11))) / 100
    discount = Decimal("0")
    if kind == PlanKind.SETTLEMENT:
        discount = Decimal(draw(st.integers(min_value=0, max_value=9999))) / 100
    payable_cents = int((amount * (100 - discount)).quantize(Decimal("1"), ROUND_HALF_UP))
    assume(payable_cents >= count)
    down_payment = Decimal("0.00")
    if kind != PlanKind.MOVED_DUE_DATE and payable_cents > count and draw(st.booleans()):
        down_payment = Decimal(draw(st.integers(min_value=1, max_value=payable_cents - count))) / 100
    first_due_date = draw(st.dates(min_value=date(2000, 1, 1), max_value=date(2080, 12, 31)))
    down_payment_due_date = None
    if down_payment and draw(st.booleans()):
        down_payment_due_date = first_due_date - timedelta(days=draw(st.integers(min_value=1, max_value=60)))
    return PlanTerms(
        kind=kind,
        amount=amount.quantize(Decimal("0.01")),
        installments=count,
        frequency=draw(st.sampled_from(Frequency)),
        first_due_date=first_due_date,
        down_payment=down_payment.quantize(Decimal("0.01")),
        down_payment_due_date=down_payment_due_date,
        discount_percent=discount,
    )


@given(plan_terms())
def test_schedule_pays_exactly_the_payable_amount_in_positive_whole_cents(terms):
    schedule = build_schedule(terms)

    assert sum(amounts(schedule), Decimal("0.00")) == schedule.total == terms.payable
    assert schedule.total + schedule.waived == terms.amount
    assert all(amount > 0 and amount == amount.quantize(Decimal("0.01")) for amount in amounts(schedule))


@given(plan_terms())
def test_schedule_has_one_line_per_installment_plus_the_down_payment(terms):
    schedule = build_schedule(terms)

    assert len(schedule.lines) == terms.installments + (1 if terms.down_payment else 0)
    assert [line.number for line in schedule.lines] == list(range(1, len(schedule.lines) + 1))


@given(plan_terms())
def test_schedule_due_dates_strictly_increase(terms):
    due = dates(build_schedule(terms))

    assert all(earlier < later for earlier, later in zip(due, due[1:], strict=False))


@given(plan_terms())
def test_installments_are_equal_but_the_last_which_carries_fewer_cents_than_there_are_installments(terms):
    regular = [line.amount for line in build_schedule(terms).lines if not line.is_down_payment]

    assert len(set(regular[:-1])) <= 1
    assert Decimal("0") <= regular[-1] - regular[0] < terms.installments * Decimal("0.01")


@given(plan_terms())
def test_monthly_due_dates_keep_the_first_due_day_or_the_month_end(terms):
    assume(terms.frequency == Frequency.MONTHLY)
    regular = [line.due_date for line in build_schedule(terms).lines if not line.is_down_payment]

    for due in regular:
        next_month_start = (due.replace(day=1) + timedelta(days=32)).replace(day=1)
        month_end = (next_month_start - timedelta(days=1)).day
        assert due.day == min(terms.first_due_date.day, month_end)


@given(plan_terms(), st.integers(min_value=1, max_value=10**8))
def test_limits_check_reports_an_installment_below_the_minimum_whenever_there_is_one(terms, minimum_cents):
    schedule = build_schedule(terms)
    minimum = Decimal(minimum_cents) / 100
    limits = PlanLimits(min_installment_amount=minimum.quantize(Decimal("0.01")))

    reported = "min_installment" in codes(terms, limits, today=schedule.first_due_date)

    split = len(schedule.lines) > 1
    assert reported == (split and any(amount < minimum for amount in amounts(schedule)))


@given(plan_terms(), st.integers(min_value=0, max_value=30))
def test_approver_is_the_first_tier_with_no_violation(terms, days_before_first_due):
    schedule = build_schedule(terms)
    today = schedule.first_due_date - timedelta(days=days_before_first_due)
    tiers = [
        ("agent", PlanLimits(max_installments=6, min_installment_amount=Decimal("50.00"), max_term_months=6)),
        (
            "supervisor",
            PlanLimits(max_installments=36, max_term_months=36, max_discount_percent=Decimal("40")),
        ),
    ]

    fits = [role for role, limits in tiers if not check_limits(terms, schedule, limits, today)]

    assert approver_for(terms, schedule, tiers, today) == (fits[0] if fits else None)
