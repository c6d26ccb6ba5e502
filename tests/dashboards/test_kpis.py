"""KPI values on a small hand-built month, with the right answers worked out here by hand.

May 2026, team A, one agent. Calls (all 10:00 Beijing unless said):
  case 1  4 May PTP (120 s) -> promise 1000.00 due 10 May; paid 400.00 on 8 May and 600.00 on 10 May: kept
          20 May no answer
  case 2  5 May no answer; 6 May voicemail (30 s); 7 May refused to pay (60 s, reason "refuses")
  case 3  25 May PTP (90 s) -> promise 500.00 due 31 May (the last day); paid 500.00 on 31 May: kept
  case 4  26 May PTP (100 s) -> promise 700.00 due 31 May; unpaid: still open on 1 June (grace day)
  case 5   9 May PTP (110 s) -> promise 800.00 due 12 May; paid 300.00 on 11 May: broken on 14 May
  case 6  15 May third party reached (45 s)
  case 7  30 April PTP: before the period (not counted), its promise due 3 May kept by a payment on 2 May

Attempts 9 (case 7's is in April); reached a person 6 (5 right-party + 1 third party);
right-party contacts 5 (cases 1, 2, 3, 4, 5) -> contact rate 6/9, RPC rate 5/9; accounts attempted 6,
reached 5 -> 5/6; promises recorded 4 -> promise rate 4/5; due in May and settled: case 7 (kept, due
3 May), 1 (kept), 3 (kept), 5 (broken) -> kept rate 3/4; case 4 open; amount: paid toward them
(capped) 200 + 1000 + 500 + 300 = 2000 of promised 200 + 1000 + 500 + 800 = 2500 -> 80 %;
collected 200 (2 May) + 400 + 600 + 500 + 300 = 2000.00.
"""

from datetime import date
from decimal import Decimal

import pytest

from dashboards import kpis, rollups
from dashboards.scope import Filters, Period
from tests.dashboards.conftest import at, call, case_on, nightly_promises, pay, promise

MAY = Period(date(2026, 5, 1), date(2026, 5, 31))
pytestmark = pytest.mark.django_db


@pytest.fixture
def may(team_a, agent):
    c = [None] + [case_on(date(2026, 4, 28), team=team_a) for _ in range(7)]
    call(c[7], agent, at(date(2026, 4, 30)), "ptp", seconds=80)
    promise(c[7], agent, "200.00", date(2026, 5, 3), at(date(2026, 4, 30), 10, 5))
    pay(c[7], "200.00", at(date(2026, 5, 2), 15), "P7")

    call(c[1], agent, at(date(2026, 5, 4)), "ptp", seconds=120)
    promise(c[1], agent, "1000.00", date(2026, 5, 10), at(date(2026, 5, 4), 10, 5))
    pay(c[1], "400.00", at(date(2026, 5, 8), 15), "P1a")
    pay(c[1], "600.00", at(date(2026, 5, 10), 15), "P1b")
    call(c[1], agent, at(date(2026, 5, 20)), "no_answer")

    call(c[2], agent, at(date(2026, 5, 5)), "no_answer")
    call(c[2], agent, at(date(2026, 5, 6)), "voicemail", seconds=30)
    call(c[2], agent, at(date(2026, 5, 7)), "refused", seconds=60, reason="refuses")

    call(c[5], agent, at(date(2026, 5, 9)), "ptp", seconds=110)
    promise(c[5], agent, "800.00", date(2026, 5, 12), at(date(2026, 5, 9), 10, 5))
    pay(c[5], "300.00", at(date(2026, 5, 11), 15), "P5")
    nightly_promises(date(2026, 5, 14))

    call(c[6], agent, at(date(2026, 5, 15)), "third_party", seconds=45)

    call(c[3], agent, at(date(2026, 5, 25)), "ptp", seconds=90)
    promise(c[3], agent, "500.00", date(2026, 5, 31), at(date(2026, 5, 25), 10, 5))
    pay(c[3], "500.00", at(date(2026, 5, 31), 16), "P3")

    call(c[4], agent, at(date(2026, 5, 26)), "ptp", seconds=100)
    promise(c[4], agent, "700.00", date(2026, 5, 31), at(date(2026, 5, 26), 10, 5))
    nightly_promises(date(2026, 6, 1))
    return c


def test_may_figures_match_the_hand_computed_answers(may):
    v = kpis.kpi_values(Filters(), MAY)
    assert v["attempts"] == 9
    assert v["answered"] == 6
    assert v["rpc"] == 5
    assert v["accounts_attempted"] == 6
    assert v["accounts_rpc"] == 5
    assert v["promises_made"] == 4
    assert (v["promises_kept"], v["promises_broken"], v["promises_open"]) == (3, 1, 1)
    assert v["promises_paid_amount"] == {"CNY": Decimal("2000.00")}
    assert v["promises_due_amount"] == {"CNY": Decimal("2500.00")}
    assert v["collected"] == {"CNY": Decimal("2000.00")}
    assert v["talk_seconds"] == 120 + 30 + 60 + 110 + 45 + 90 + 100
    assert v["handled_calls"] == 7

    value = {k.key: k.compute(v) for k in kpis.KPIS}
    assert value["contact_attempts"] == 9
    assert value["contact_rate"] == Decimal("0.6667")
    assert value["rpc_rate"] == Decimal("0.5556")
    assert value["rpc_rate_accounts"] == Decimal("0.8333")
    assert value["promise_rate"] == Decimal("0.8000")
    assert value["kept_rate"] == Decimal("0.7500")
    assert value["kept_rate_amount"] == {"CNY": Decimal("0.8000")}
    assert value["broken_promises"] == 1
    assert value["amount_collected"] == {"CNY": Decimal("2000.00")}
    assert value["aht"] == Decimal("79.2857")  # 555 s over 7 calls with a duration


def test_partial_payments_count_for_what_was_paid_in_the_amount_rate_only(may):
    """Case 5 paid 300 of 800 before breaking: not kept by count, 300 toward the amount rate."""
    only_case_5 = Period(date(2026, 5, 12), date(2026, 5, 12))
    v = kpis.kpi_values(Filters(), only_case_5)
    assert (v["promises_kept"], v["promises_broken"]) == (0, 1)
    assert kpis.KPI_BY_KEY["kept_rate"].compute(v) == Decimal("0")
    assert v["promises_paid_amount"] == {"CNY": Decimal("300.00")}
    assert kpis.KPI_BY_KEY["kept_rate_amount"].compute(v) == {"CNY": Decimal("0.3750")}


def test_a_promise_due_on_the_last_day_counts_in_that_period_once_settled(may):
    """Case 3 (paid on the 31st) is kept in May; case 4 (unpaid, within its grace day) is left out of the
    rate and shown as still open."""
    last_day = Period(date(2026, 5, 31), date(2026, 5, 31))
    v = kpis.kpi_values(Filters(), last_day)
    assert (v["promises_kept"], v["promises_broken"], v["promises_open"]) == (1, 0, 1)
    assert kpis.KPI_BY_KEY["kept_rate"].compute(v) == Decimal("1")
    # June 2: the grace day is over and the nightly check breaks it; May's kept rate now counts it.
    nightly_promises(date(2026, 6, 2))
    v = kpis.kpi_values(Filters(), last_day)
    assert (v["promises_kept"], v["promises_broken"], v["promises_open"]) == (1, 1, 0)


def test_work_before_the_period_is_not_counted(may):
    v = kpis.kpi_values(Filters(), Period(date(2026, 5, 1), date(2026, 5, 3)))
    assert v["attempts"] == 0
    assert v["promises_made"] == 0
    assert v["collected"] == {"CNY": Decimal("200.00")}  # case 7's payment on 2 May
    assert v["promises_kept"] == 1  # case 7's promise was due on 3 May


def test_a_rate_with_nothing_to_divide_by_is_empty_not_zero(db):
    v = kpis.kpi_values(Filters(), MAY)
    assert kpis.KPI_BY_KEY["contact_rate"].compute(v) is None
    assert kpis.KPI_BY_KEY["kept_rate"].compute(v) is None


def test_filters_narrow_every_figure(may, team_b):
    assert kpis.kpi_values(Filters(teams=(team_b.pk,)), MAY)["attempts"] == 0
    assert kpis.kpi_values(Filters(bucket="M3"), MAY)["attempts"] == 0
    assert kpis.kpi_values(Filters(bucket="M2"), MAY)["attempts"] == 9
    assert kpis.kpi_values(Filters(product="consumer_credit"), MAY)["rpc"] == 0
    assert kpis.kpi_values(Filters(jurisdiction="CN"), MAY)["rpc"] == 5


def test_every_drill_down_lists_exactly_what_its_figure_counted(may):
    from dashboards import selectors

    v = kpis.figures(list(kpis.MEASURES), Filters(), MAY)
    for key, measure in kpis.MEASURES.items():
        kind, rows = selectors.drill_queryset(key, Filters(), MAY)
        if measure.money or key in ("talk_seconds",):
            continue
        assert rows.count() == v[key], key


@pytest.mark.parametrize("key", ["accounts_attempted", "accounts_rpc"])
def test_a_reach_drill_down_lists_its_cases_most_recently_contacted_first(may, monkeypatch, key):
    """The same cases as its figure counted, each once, ordered by its last attempt in the period, over
    pages and across chunks of attempts (the chunk made tiny so that the reading takes several)."""
    from collections_app.models import ContactAttempt
    from dashboards import selectors

    monkeypatch.setattr(selectors, "DRILL_PAGE", 2)
    monkeypatch.setattr(selectors, "REACH_CHUNK", 1)
    _kind, counted = selectors.drill_queryset(key, Filters(), MAY)
    listed, page, more = [], 1, True
    while more:
        drill = selectors.drill_page(key, Filters(), MAY, page=page)
        assert drill.kind == "cases" and len(drill.rows) <= 2
        listed += [case.pk for case in drill.rows]
        more, page = drill.has_more, page + 1
    assert sorted(listed) == sorted(counted.values_list("pk", flat=True))
    assert len(listed) == len(set(listed)) == kpis.figures([key], Filters(), MAY)[key] > 2
    rows = kpis.source_rows(kpis.MEASURES[key], Filters(), MAY)
    last = {
        c: ContactAttempt.objects.filter(pk__in=rows.filter(case_id=c).values("pk")).latest("started_at")
        for c in listed
    }
    assert [last[c].started_at for c in listed] == sorted((last[c].started_at for c in listed), reverse=True)


def test_rpc_per_hour_uses_active_quarter_hours(may, agent):
    from dashboards import selectors

    (line,) = selectors.agent_table(Filters(), MAY, through=None)
    # Nine calls in May, each on its own day: nine active quarter-hours.
    assert line.rpc == 5
    assert line.active_hours == Decimal("2.25")
    assert line.rpc_per_hour == Decimal("2.2222")
    assert line.kept_rate == Decimal("0.7500")
    assert line.collected == {"CNY": Decimal("2000.00")}


def test_the_rollup_reads_the_same_figures_as_the_live_computation(may):
    before = kpis.kpi_values(Filters(), MAY)
    rollups.refresh(as_of=date(2026, 6, 1), days=40)
    assert rollups.watermark() == date(2026, 5, 31)
    after = kpis.kpi_values(Filters(), MAY)
    # The month-end stocks are not day rollups: the refresh estimated April's month-end (no nightly run
    # took it), so the cure rate now has its base - the seven cases open, in M2, at the end of April.
    assert (before["cure_base"], after["cure_base"], after["cure_cured"]) == (0, 7, 0)
    stocks = ("cure_base", "cure_cured")
    assert {k: v for k, v in after.items() if k not in stocks} == {
        k: v for k, v in before.items() if k not in stocks
    }


@pytest.mark.postgres
def test_a_promise_drill_down_reads_its_first_page_in_index_order(may):
    """Listed by due date and id, newest first: read from dash_promise_due_id_idx and stopped at the page,
    not every promise of the period joined and sorted (what a due-date-only index made PostgreSQL do)."""
    from django.db import connection

    from dashboards import selectors

    _kind, rows = selectors.drill_queryset("promises_broken", Filters(), MAY)
    sql, params = rows[: selectors.DRILL_PAGE + 1].query.sql_with_params()
    with connection.cursor() as cursor:
        # The test's few rows would be read whole and sorted; what is asked is that an index gives the order.
        for setting in ("enable_seqscan", "enable_bitmapscan", "enable_sort", "enable_incremental_sort"):
            cursor.execute(f"SET LOCAL {setting} = off")
        cursor.execute("EXPLAIN " + sql, params)
        plan = "\n".join(row[0] for row in cursor.fetchall())
    assert "Index Scan Backward using dash_promise_due_id_idx" in plan, plan
    assert "Sort Key: collections_app_promisetopay.due_date" not in plan, plan
