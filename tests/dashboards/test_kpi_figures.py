"""Every figure of /dashboards/kpis/ on a small hand-built portfolio, against the answer worked out by hand
here. Two currencies (CNY and USD): no figure may add them together. The rollups are run once at the end
(as after seeding data, or on a new installation): no nightly run has snapshotted April's month-end or
the open cases of 30 April.

Team A, one agent, period 1-5 May 2026, read on 6 May. Balances: the factory's 8,900.00 (overdue
1,500.00); case C's account is in USD with a balance of 3,000.00 (overdue 400.00).

  case  currency  first missed  case opened  bucket 30 Apr  bucket now   work in May (Beijing time)
  A     CNY       20 Mar        21 Mar       M2 (41 DPD)    current      4 May 10:00 PTP (120 s) -> promise
                                                                         1,000.00 due 5 May; pays 1,500.00
                                                                         on 5 May 15:00: kept, and the
                                                                         overdue amount is paid: cured
  B     CNY       1 Apr         2 Apr        M1 (29 DPD)    M2 (34 DPD)  1 May 10:00 no answer, 10:05 no
                                                                         answer, 10:20 voicemail (20 s);
                                                                         2 May 10:00 PTP (60 s) -> promise
                                                                         500.00 due 3 May; pays 200.00 on
                                                                         3 May: broken on 5 May
  C     USD       10 Apr        11 Apr       M1 (20 DPD)    M1 (25 DPD)  3 May 11:00 PTP (90 s) -> promise
                                                                         300.00 due 4 May; pays 300.00 on
                                                                         4 May 12:00: kept
  D     CNY       15 Apr        16 Apr       M1 (15 DPD)    M1 (20 DPD)  2 May 14:00 third party (30 s)
  E     CNY       1 May         2 May        current        M1 (4 DPD)   (opened in the period)
"""

from datetime import date, timedelta
from decimal import Decimal

import pytest
import time_machine
from django.test import Client
from django.urls import reverse
from django.utils import translation

from dashboards import rollups, selectors
from dashboards.models import AccountMonthEnd
from dashboards.scope import Filters, Period
from tests.dashboards.conftest import at, call, case_on, nightly_promises, pay, promise

pytestmark = pytest.mark.django_db
MAY_1_TO_5 = Period(date(2026, 5, 1), date(2026, 5, 5))
QUERY = {"period": "custom", "start": "2026-05-01", "end": "2026-05-05"}


@pytest.fixture
def portfolio(team_a, agent):
    a = case_on(
        date(2026, 3, 21), team=team_a, first_missed_due_date=date(2026, 3, 20), days_past_due=46, bucket="M2"
    )
    b = case_on(
        date(2026, 4, 2), team=team_a, first_missed_due_date=date(2026, 4, 1), days_past_due=34, bucket="M2"
    )
    c = case_on(
        date(2026, 4, 11),
        team=team_a,
        currency="USD",
        principal=Decimal("3000.00"),
        interest=Decimal("0.00"),
        fees=Decimal("0.00"),
        penalties=Decimal("0.00"),
        overdue_amount=Decimal("400.00"),
        minimum_due=Decimal("400.00"),
        first_missed_due_date=date(2026, 4, 10),
        days_past_due=25,
        bucket="M1",
    )
    d = case_on(
        date(2026, 4, 16), team=team_a, first_missed_due_date=date(2026, 4, 15), days_past_due=20, bucket="M1"
    )
    e = case_on(
        date(2026, 5, 2), team=team_a, first_missed_due_date=date(2026, 5, 1), days_past_due=4, bucket="M1"
    )

    call(b, agent, at(date(2026, 5, 1), 10, 0), "no_answer")
    call(b, agent, at(date(2026, 5, 1), 10, 5), "no_answer")
    call(b, agent, at(date(2026, 5, 1), 10, 20), "voicemail", seconds=20)
    call(b, agent, at(date(2026, 5, 2), 10, 0), "ptp", seconds=60)
    promise(b, agent, "500.00", date(2026, 5, 3), at(date(2026, 5, 2), 10, 1))
    call(d, agent, at(date(2026, 5, 2), 14, 0), "third_party", seconds=30)
    call(c, agent, at(date(2026, 5, 3), 11, 0), "ptp", seconds=90)
    promise(c, agent, "300.00", date(2026, 5, 4), at(date(2026, 5, 3), 11, 1))
    pay(b, "200.00", at(date(2026, 5, 3), 16), "PB")
    call(a, agent, at(date(2026, 5, 4), 10, 0), "ptp", seconds=120)
    promise(a, agent, "1000.00", date(2026, 5, 5), at(date(2026, 5, 4), 10, 1))
    pay(c, "300.00", at(date(2026, 5, 4), 12), "PC")
    nightly_promises(date(2026, 5, 5))  # B's promise (due 3 May, one grace day) breaks
    pay(a, "1500.00", at(date(2026, 5, 5), 15), "PA")
    nightly_promises(date(2026, 5, 6))
    with time_machine.travel(at(date(2026, 5, 6), 2), tick=False):
        rollups.refresh(as_of=date(2026, 5, 6))
    return {"a": a, "b": b, "c": c, "d": d, "e": e}


def kpi_page(user):
    client = Client()
    client.force_login(user)
    with time_machine.travel(at(date(2026, 5, 6), 12), tick=False), translation.override("en"):
        response = client.get(reverse("dashboards:kpis"), QUERY)
    assert response.status_code == 200
    return response


def tile_values(response) -> dict:
    return {row["kpi"].key: row["value"] for _title, rows in response.context["groups"] for row in rows}


def test_every_kpi_on_the_page_equals_the_hand_computed_figure(portfolio, supervisor):
    value = tile_values(kpi_page(supervisor))
    # Attempts by agents: B 4 (three on 1 May, one on 2 May) + A 1 + C 1 + D 1 = 7.
    assert value["contact_attempts"] == 7
    # Reached a person: the PTPs of A, B and C + D's third party = 4; 4 / 7.
    assert value["contact_rate"] == Decimal("0.5714")
    # Right-party contacts: the three PTPs; 3 / 7.
    assert value["rpc_rate"] == Decimal("0.4286")
    # Accounts reached by the right party 3 (A, B, C) of 4 attempted (A, B, C, D).
    assert value["rpc_rate_accounts"] == Decimal("0.7500")
    # Promises 3 / right-party contacts 3.
    assert value["promise_rate"] == Decimal("1.0000")
    # Due in the period and settled: A kept, C kept, B broken -> 2 / 3.
    assert value["kept_rate"] == Decimal("0.6667")
    # Per currency: CNY paid toward them (capped) 1,000.00 (A) + 200.00 (B) = 1,200.00 of 1,500.00
    # promised = 0.8; USD 300.00 of 300.00 = 1.
    assert value["kept_rate_amount"] == {"CNY": Decimal("0.8000"), "USD": Decimal("1.0000")}
    assert value["broken_promises"] == 1
    # CNY 200.00 (B) + 1,500.00 (A) = 1,700.00; USD 300.00 (C). Never 2,000.00.
    assert value["amount_collected"] == {"CNY": Decimal("1700.00"), "USD": Decimal("300.00")}
    # Open at the start (no snapshot of 30 April: balances now plus the payments since): CNY A 8,900.00
    # + B 8,900.00 + D 8,900.00 = 26,700.00, USD C 3,000.00; opened in the period: E CNY 8,900.00.
    # CNY 1,700.00 / (26,700.00 + 8,900.00) = 0.04775 -> 0.0478; USD 300.00 / 3,000.00 = 0.1.
    assert value["liquidation_rate"] == {"CNY": Decimal("0.0478"), "USD": Decimal("0.1000")}
    # Delinquent at the end of April: A (M2), B, C, D (M1) = 4; current at the end of May so far: A.
    assert value["cure_rate"] == Decimal("0.2500")
    # A's payment cleared its overdue amount: its case was resolved as cured. Nothing referred or planned.
    assert value["cases_cured"] == 1
    assert value["escalations"] == 0
    assert (value["plans_activated"], value["plans_completed"], value["plans_broken"]) == (0, 0, 0)
    assert (value["refusals"], value["overrides"], value["complaints"]) == (0, 0, 0)
    # Talk time of calls with a duration: 20 + 60 + 30 + 90 + 120 = 320 s over 5 calls = 64 s.
    assert value["aht"] == Decimal("64.0000")


def test_money_is_shown_per_currency_never_summed(portfolio, supervisor):
    response = kpi_page(supervisor)
    html = response.content.decode()
    assert "CN¥1,700.00 · $300.00" in html  # the amount collected tile (en -> en_US conventions)
    assert "CNY 4.8% · USD 10.0%" in html  # the liquidation rate, one rate per currency
    assert "2,000.00" not in html  # 1,700.00 + 300.00: what adding the currencies would show
    (line,) = response.context["agents"]
    assert line.collected == {"CNY": Decimal("1700.00"), "USD": Decimal("300.00")}
    trend = {d["day"]: d for d in response.context["trend"]}
    assert trend[date(2026, 5, 5)]["collected"] == {"CNY": Decimal("1500.00")}
    assert trend[date(2026, 5, 4)]["collected"] == {"USD": Decimal("300.00")}


def test_the_page_in_chinese_uses_the_mainland_symbols(portfolio, supervisor):
    supervisor.language = "zh-hans"
    supervisor.save(update_fields=["language"])
    client = Client()
    client.force_login(supervisor)
    with time_machine.travel(at(date(2026, 5, 6), 12), tick=False):
        html = client.get(reverse("dashboards:kpis"), QUERY).content.decode()
    assert "¥1,700.00 · US$300.00" in html


def test_the_csv_has_one_line_per_currency(portfolio, supervisor):
    client = Client()
    client.force_login(supervisor)
    with time_machine.travel(at(date(2026, 5, 6), 12), tick=False), translation.override("en"):
        response = client.get(reverse("dashboards:kpis"), {**QUERY, "export": "kpis"})
        body = b"".join(response.streaming_content).decode("utf-8-sig")
        agents = client.get(reverse("dashboards:kpis"), {**QUERY, "export": "agents"})
        agents_csv = b"".join(agents.streaming_content).decode("utf-8-sig")
    lines = [line for line in body.splitlines() if line.startswith("Amount collected,")]
    assert lines == [
        'Amount collected,1700.00,CNY,"Sum of the payments received in the period, per currency."',
        'Amount collected,300.00,USD,"Sum of the payments received in the period, per currency."',
    ]
    header, row = agents_csv.splitlines()[:2]
    assert "Collected (CNY)" in header and "Collected (USD)" in header
    assert "1700.00" in row and "300.00" in row and "2000.00" not in row


def test_roll_rates_move_month_on_month(portfolio, supervisor, admin_user):
    roll = kpi_page(supervisor).context["roll"]
    assert roll.month == date(2026, 5, 1)
    rows = {r["from"]: r for r in roll.rows}
    cells = {b: {cell["to"]: cell for cell in r["cells"]} for b, r in rows.items()}
    # End of April -> end of May so far: M2 1 account (A) -> current; M1 3 (B, C, D): B -> M2, C and D
    # stay. E was current at the end of April, with no case and so in no team's queue: not team A's.
    assert rows["M2"]["total"] == 1 and cells["M2"]["current"]["rate"] == Decimal("1.0000")
    assert rows["M1"]["total"] == 3
    assert cells["M1"]["M2"]["rate"] == Decimal("0.3333")
    assert cells["M1"]["M1"]["rate"] == Decimal("0.6667")
    assert rows["current"]["total"] == 0
    # An admin's matrix has every account: E rolled from current to M1.
    every = {r["from"]: r for r in kpi_page(admin_user).context["roll"].rows}
    assert every["current"]["total"] == 1 and every["current"]["cells"][1]["to"] == "M1"
    assert every["current"]["cells"][1]["rate"] == Decimal("1.0000")
    # April's month-end predates the first nightly run: estimated, and marked so.
    april = AccountMonthEnd.objects.filter(month=date(2026, 4, 1))
    assert set(april.values_list("estimated", flat=True)) == {True}
    assert not AccountMonthEnd.objects.filter(month=date(2026, 5, 1), estimated=True).exists()


def test_active_hours_count_whole_quarter_hours(portfolio, supervisor):
    (line,) = kpi_page(supervisor).context["agents"]
    # Quarter-hours with an attempt: 1 May 10:00-10:15 (10:00 and 10:05) and 10:15-10:30 (10:20);
    # 2 May 10:00 and 14:00; 3 May 11:00; 4 May 10:00 -> 6 quarter-hours = 1.5 hours; 3 RPC / 1.5.
    assert line.active_hours == Decimal("1.50")
    assert line.rpc_per_hour == Decimal("2.0000")


def test_the_daily_trend_has_every_day(portfolio, supervisor):
    trend = kpi_page(supervisor).context["trend"]
    assert [(d["day"].day, d["attempts"], d["rpc"], d["promises_made"]) for d in trend] == [
        (1, 3, 0, 0),
        (2, 2, 1, 1),
        (3, 1, 1, 1),
        (4, 1, 1, 1),
        (5, 0, 0, 0),
    ]


def test_the_daily_trend_read_live_has_every_day(portfolio):
    """The same days computed live from the contact log (today's figures, or before any rollup): on
    SQLite the day comes back as text there."""
    trend = selectors.daily_trend(Filters(), MAY_1_TO_5, through=None)
    assert [(d["day"].day, d["attempts"], d["rpc"], d["promises_made"]) for d in trend] == [
        (1, 3, 0, 0),
        (2, 2, 1, 1),
        (3, 1, 1, 1),
        (4, 1, 1, 1),
        (5, 0, 0, 0),
    ]
    assert [d["collected"] for d in trend][2:] == [
        {"CNY": Decimal("200.00")},
        {"USD": Decimal("300.00")},
        {"CNY": Decimal("1500.00")},
    ]


def test_the_trend_reads_days_returned_as_text_as_sqlite_does():
    """SQLite hands the grouped day back as "YYYY-MM-DD": the trend must still put each row on its day."""
    rows = [
        {"d_day": "2026-05-02", "attempts": 2, "rpc": 1, "promises_made": 1, "collected": {}},
        {"d_day": "2026-05-03", "attempts": 1, "rpc": 1, "promises_made": 1, "collected": {"CNY": "200.00"}},
    ]
    days = [date(2026, 5, 1) + timedelta(days=i) for i in range(3)]
    trend = selectors.trend_from_rows(rows, days)
    assert [(d["day"], d["attempts"], d["rpc"]) for d in trend] == [
        (date(2026, 5, 1), 0, 0),
        (date(2026, 5, 2), 2, 1),
        (date(2026, 5, 3), 1, 1),
    ]
    assert trend[2]["collected"] == {"CNY": Decimal("200.00")}


def test_rollup_reads_turn_text_days_into_dates():
    row = rollups.typed_row({"d_day": "2026-05-02", "d_prev": None, "m_attempts": 3})
    assert row == {"d_day": date(2026, 5, 2), "d_prev": None, "m_attempts": 3}


def test_a_kpi_page_without_filters_mixes_no_currency_in_the_drill_down(portfolio, supervisor):
    client = Client()
    client.force_login(supervisor)
    with time_machine.travel(at(date(2026, 5, 6), 12), tick=False), translation.override("en"):
        response = client.get(reverse("dashboards:drill", args=["collected"]), QUERY)
    assert response.context["figure"] == {"CNY": Decimal("1700.00"), "USD": Decimal("300.00")}
    assert "CN¥1,700.00 · $300.00" in response.content.decode()
    assert selectors.drill_queryset("collected", Filters(), MAY_1_TO_5)[1].count() == 3
