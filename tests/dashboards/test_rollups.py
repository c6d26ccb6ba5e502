"""The rollup tables against the live computation, their refresh (idempotent, catching up missed nights),
the month-end snapshots behind roll rates and the cure rate, and the compliance figures."""

import random
from datetime import date, timedelta
from decimal import Decimal

import pytest
import time_machine
from django.urls import reverse

from collections_app import services
from collections_app.models import ContactAttempt, CreditAccount, EventKind
from core.exceptions import ContactNotAllowed
from core.money import Amounts
from dashboards import kpis, rollups, selectors
from dashboards.models import ActivityDaily, PortfolioDaily, ReachDaily
from dashboards.scope import Filters, Period
from tests.dashboards.conftest import at, call, case_on, nightly_promises, pay, point_of, promise
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db
START = date(2026, 5, 4)
OUTCOMES = ["no_answer", "no_answer", "busy", "voicemail", "rpc", "ptp", "refused", "third_party", "callback"]


@pytest.fixture
def busy_fortnight(team_a, team_b, agent, other_agent):
    """Two weeks of mixed work on two teams, two products and two buckets (seeded, so always the same)."""
    rng = random.Random(8)
    colleague = UserFactory(username="agent_a3", role="agent", team=team_a)
    people = {team_a: [agent, colleague], team_b: [other_agent]}
    cases = []
    for i in range(10):
        team = team_a if i < 7 else team_b
        fields = {"product": "consumer_credit"} if i % 3 == 0 else {}
        if i % 4 == 0:
            fields.update(days_past_due=75, bucket="M3")
        cases.append((case_on(START - timedelta(days=2), team=team, **fields), team))
    ref = 0
    for offset in range(14):
        day = START + timedelta(days=offset)
        for case, team in rng.sample(cases, 4):
            who = rng.choice(people[team])
            outcome = rng.choice(OUTCOMES)
            call(
                case,
                who,
                at(day, rng.randint(9, 19), rng.choice([0, 20, 40])),
                outcome,
                seconds=rng.randint(0, 200),
            )
            if outcome == "ptp" and case.state in ("new", "in_progress"):
                due = day + timedelta(days=rng.randint(0, 3))
                promise(case, who, f"{rng.randint(1, 9)}00.00", due, at(day, 20))
            if rng.random() < 0.3:
                ref += 1
                pay(case, f"{rng.randint(1, 5)}0.00", at(day, 21), f"PAY{ref}")
        nightly_promises(day + timedelta(days=1))
        for case, _team in cases:
            case.refresh_from_db()
    return cases


def _filters(team_a, agent):
    return [
        Filters(),
        Filters(teams=(team_a.pk,)),
        Filters(teams=(team_a.pk,), agent=agent.pk),
        Filters(product="consumer_credit"),
        Filters(bucket="M3"),
        Filters(team=team_a.pk, product="credit_card"),
    ]


def test_rollups_agree_with_the_live_computation(busy_fortnight, team_a, agent):
    last = START + timedelta(days=15)
    with time_machine.travel(at(last + timedelta(days=1), 2), tick=False):
        rollups.refresh(as_of=last + timedelta(days=1), days=20)
    assert rollups.watermark() == last
    periods = [
        Period(START, START + timedelta(days=13)),
        Period(START + timedelta(days=3), START + timedelta(days=9)),
        Period(START + timedelta(days=5), START + timedelta(days=5)),
    ]
    checked = 0
    for filters in _filters(team_a, agent):
        for period in periods:
            from_rollups = kpis.figures(list(kpis.MEASURES), filters, period)
            live = {key: kpis.measure_live(key, filters, period) for key in kpis.MEASURES}
            assert from_rollups == live, (filters, period)
            checked += sum(1 for v in live.values() if v)
    assert checked > 100  # the data set exercises most measures


def test_a_period_across_the_watermark_reads_rollups_then_live(busy_fortnight, team_a, agent):
    with time_machine.travel(at(START + timedelta(days=8), 2), tick=False):
        rollups.refresh(as_of=START + timedelta(days=8), days=10)
    assert rollups.watermark() == START + timedelta(days=7)
    period = Period(START, START + timedelta(days=13))
    for filters in _filters(team_a, agent):
        live = {key: kpis.measure_live(key, filters, period) for key in kpis.MEASURES}
        assert kpis.figures(list(kpis.MEASURES), filters, period) == live


def test_grouped_reads_agree_with_the_live_computation(busy_fortnight, team_a):
    with time_machine.travel(at(START + timedelta(days=15), 2), tick=False):
        rollups.refresh(as_of=START + timedelta(days=15), days=20)
    period = Period(START, START + timedelta(days=13))
    filters = Filters(teams=(team_a.pk,))
    by_day = {
        r["d_day"]: r["attempts"] for r in kpis.read_measures(["attempts"], filters, period, group=("d_day",))
    }
    for day in period.days:
        assert by_day.get(day, 0) == kpis.measure_live("attempts", filters, Period(day, day))
    by_agent = kpis.read_measures(["rpc", "collected", "accounts_rpc"], filters, period, group=("d_agent",))
    assert len([row for row in by_agent if row["d_agent"]]) == 2
    for row in by_agent:
        if row["d_agent"] is None:
            continue
        one = Filters(teams=(team_a.pk,), agent=row["d_agent"])
        assert row["rpc"] == kpis.measure_live("rpc", one, period)
        assert row["collected"] == kpis.measure_live("collected", one, period)
        assert row["accounts_rpc"] == kpis.measure_live("accounts_rpc", one, period)


def test_refresh_is_idempotent(busy_fortnight):
    as_of = START + timedelta(days=15)
    with time_machine.travel(at(as_of, 2), tick=False):
        first = rollups.refresh(as_of=as_of, days=20)
        rows = ActivityDaily.objects.count(), ReachDaily.objects.count(), PortfolioDaily.objects.count()
        figures = kpis.figures(list(kpis.MEASURES), Filters(), Period(START, as_of - timedelta(days=1)))
        second = rollups.refresh(as_of=as_of, days=20)
    once = {"seconds", "portfolio_days_estimated", "portfolio_rows_estimated"}  # estimated the first time
    assert {k: v for k, v in first.items() if k not in once} == {
        k: v for k, v in second.items() if k not in once
    }
    assert first["portfolio_days_estimated"] > 0 and second["portfolio_days_estimated"] == 0
    assert (ActivityDaily.objects.count(), ReachDaily.objects.count(), PortfolioDaily.objects.count()) == rows
    assert kpis.figures(list(kpis.MEASURES), Filters(), Period(START, as_of - timedelta(days=1))) == figures


def test_a_missed_night_is_caught_up(busy_fortnight):
    with time_machine.travel(at(START + timedelta(days=2), 2), tick=False):
        rollups.refresh(as_of=START + timedelta(days=2), days=3)
    # Nine nights missed: the next refresh goes back to the day after the watermark, not only 2 days.
    with time_machine.travel(at(START + timedelta(days=12), 2), tick=False):
        result = rollups.refresh(as_of=START + timedelta(days=12), days=2)
    assert result["from"] == (START + timedelta(days=2)).isoformat()
    assert rollups.watermark() == START + timedelta(days=11)


def test_roll_rates_and_cure_rate_from_month_end_buckets(team_a):
    """End of May: A in M3, B in M1, C in M2, D in M1. End of June: A rolled back to M1 (a partial payment
    moved its oldest due date), B rolled forward to M2, C is current, D stayed in M1."""
    a, b, c, d = (case_on(date(2026, 5, 2), team=team_a).account for _ in range(4))
    for account, bucket in ((a, "M3"), (b, "M1"), (c, "M2"), (d, "M1")):
        CreditAccount.objects.filter(pk=account.pk).update(bucket=bucket)
    with time_machine.travel(at(date(2026, 6, 1), 2), tick=False):
        rollups.refresh(as_of=date(2026, 6, 1))
    for account, bucket in ((a, "M1"), (b, "M2"), (c, "current"), (d, "M1")):
        CreditAccount.objects.filter(pk=account.pk).update(bucket=bucket)
    with time_machine.travel(at(date(2026, 7, 1), 2), tick=False):
        rollups.refresh(as_of=date(2026, 7, 1))

    matrix = kpis.roll_matrix(Filters(), date(2026, 6, 1))
    rows = {r["from"]: {cell["to"]: cell for cell in r["cells"]} for r in matrix.rows}
    assert rows["M3"]["M1"]["rate"] == Decimal("1") and rows["M3"]["M1"]["side"] == "back"
    assert rows["M1"]["M2"]["rate"] == Decimal("0.5") and rows["M1"]["M2"]["side"] == "forward"
    assert rows["M1"]["M1"]["rate"] == Decimal("0.5")
    assert rows["M2"]["current"]["rate"] == Decimal("1")

    june = Period(date(2026, 6, 1), date(2026, 6, 30))
    cure = kpis.cure_figures(Filters(), june)
    assert cure == {"cure_base": 4, "cure_cured": 1}
    assert kpis.KPI_BY_KEY["cure_rate"].compute(cure) == Decimal("0.25")
    assert kpis.cure_figures(Filters(bucket="M2"), june) == {"cure_base": 1, "cure_cured": 1}
    cured = selectors.cure_accounts(Filters(), june, cured_only=True)
    assert list(cured.values_list("pk", flat=True)) == [c.pk]


def test_the_open_balance_at_the_start_comes_from_the_nightly_snapshot(team_a):
    case = case_on(date(2026, 5, 2), team=team_a)
    with time_machine.travel(at(date(2026, 5, 4), 2), tick=False):
        rollups.refresh(as_of=date(2026, 5, 4))  # snapshots 3 May
    pay(case, "100.00", at(date(2026, 5, 4), 15), "P1")
    values = kpis.kpi_values(Filters(), Period(date(2026, 5, 4), date(2026, 5, 4)))
    assert values["open_start"] == {"CNY": Decimal("8900.00")}  # the factory's balance, before the payment
    assert values["collected"] == {"CNY": Decimal("100.00")}
    assert kpis.KPI_BY_KEY["liquidation_rate"].compute(values) == {"CNY": Decimal("0.0112")}
    # No snapshot of 7 May: the case open then, its balance now (8800.00) plus the payments since (none).
    later = kpis.kpi_values(Filters(), Period(date(2026, 5, 8), date(2026, 5, 9)))
    assert later["open_start"] == {"CNY": Decimal("8800.00")}
    # No snapshot of 2 May either: its balance now plus the payment received since 3 May - for the cases
    # the filters keep only.
    since_3_may = Period(date(2026, 5, 3), date(2026, 5, 3))
    assert kpis.kpi_values(Filters(), since_3_may)["open_start"] == {"CNY": Decimal("8900.00")}
    assert kpis.kpi_values(Filters(product="consumer_credit"), since_3_may)["open_start"] == {}
    # Before the first case there was nothing open: no figure at all.
    assert kpis.kpi_values(Filters(), Period(date(2026, 4, 1), date(2026, 4, 2)))["open_start"] is None


def test_compliance_figures_refusals_overrides_and_complaints(team_a, agent, supervisor):
    case = case_on(date(2026, 5, 5), team=team_a)
    day = date(2026, 5, 6)
    for minute in range(6):
        call(case, agent, at(day, 10, minute * 5))
    with pytest.raises(ContactNotAllowed):
        call(case, agent, at(day, 11))  # the seventh call to the number today
    with pytest.raises(ContactNotAllowed):
        call(case, agent, at(day, 23))  # quiet hours (not a rule a supervisor may override)
    requests = selectors.inbox_override_requests(supervisor, Filters(teams=(team_a.pk,)), now=at(day, 11, 5))
    assert [e.details["rule"] for e in requests] == ["calls_per_number_per_day"]

    data = services.ContactInput(
        channel="outbound_call",
        outcome="rpc",
        contact_point_id=point_of(case).pk,
        delinquency_reason="illness",
        recording_ref="REC-7",
        notes="She says our calls upset her #complaint",
        started_at=at(day, 11, 10),
    )
    with time_machine.travel(at(day, 11, 10), tick=False):
        services.contact_attempt_log(
            case_id=case.pk, actor=supervisor, data=data, override_reason="Asked to call"
        )
        services.note_add(case_id=case.pk, actor=agent, text="#投诉 客户投诉催收方式")
    assert not selectors.inbox_override_requests(supervisor, Filters(teams=(team_a.pk,)), now=at(day, 11, 15))

    values = kpis.kpi_values(Filters(), Period(day, day))
    assert values["refusals"] == 2
    assert values["overrides"] == 1
    assert kpis.KPI_BY_KEY["complaints"].compute(values) == 2
    assert values["attempts"] == 7
    refused = selectors.drill_queryset("refusals", Filters(), Period(day, day))[1]
    assert set(refused.values_list("kind", flat=True)) == {EventKind.POLICY_REFUSED}
    with time_machine.travel(at(day + timedelta(days=1), 2), tick=False):
        rollups.refresh(as_of=day + timedelta(days=1))
    assert kpis.kpi_values(Filters(), Period(day, day))["refusals"] == 2


def test_an_attempt_corrected_by_another_counts_once_through_its_correction(team_a, agent):
    """The contact log is never edited: a correction is a new attempt naming the one it corrects, and
    the figures count the correction in its place - live, and from the rollups after the night."""
    case = case_on(date(2026, 5, 5), team=team_a)
    day = date(2026, 5, 6)
    call(case, agent, at(day, 9), "no_answer")
    correction = call(case, agent, at(day, 10), "no_answer")
    correction.pk = None
    correction._state.adding = True
    correction.outcome, correction.delinquency_reason = "rpc", "job_loss"
    correction.corrects = ContactAttempt.objects.get(started_at=at(day, 10))
    correction.save()

    def counted():
        values = kpis.kpi_values(Filters(), Period(day, day))
        return values["attempts"], values["rpc"], values["accounts_rpc"]

    assert counted() == (2, 1, 1)
    with time_machine.travel(at(day + timedelta(days=1), 2), tick=False):
        rollups.refresh(as_of=day + timedelta(days=1))
    assert counted() == (2, 1, 1)


def test_days_before_the_first_snapshot_are_estimated_once_and_read_like_a_snapshot(team_a, team_b):
    """A period starting before the first nightly run reads its opening balance from an estimated
    snapshot of the day before (kept by the first refresh): the same figure as rebuilding it from the
    cases on every read, for every filter, and a second night estimates nothing more."""
    a = case_on(date(2026, 5, 2), team=team_a)
    case_on(date(2026, 5, 2), team=team_b)
    late = case_on(date(2026, 5, 5), team=team_a)
    pay(a, "100.00", at(date(2026, 5, 5), 15), "P1")
    pay(late, "50.00", at(date(2026, 5, 6), 15), "P2")
    period = Period(date(2026, 5, 4), date(2026, 5, 6))  # opens on the snapshot of 3 May
    choices = (Filters(), Filters(teams=(team_a.pk,)), Filters(teams=(team_b.pk,)), Filters(product="x"))
    rebuilt = [kpis.kpi_values(f, period)["open_start"] for f in choices]
    assert rebuilt[1] == {"CNY": Decimal("8900.00")}  # case a: 8800 now + the 100 paid since

    with time_machine.travel(at(date(2026, 5, 7), 2), tick=False):
        counts = rollups.refresh(as_of=date(2026, 5, 7))
    assert counts["portfolio_days_estimated"] == 4  # 2..5 May (6 May is the night's own snapshot)
    assert PortfolioDaily.objects.filter(day=date(2026, 5, 3)).exists()
    pay(a, "25.00", at(date(2026, 5, 7), 11), "P3")  # after the estimate: the kept figure stays
    assert [kpis.kpi_values(f, period)["open_start"] for f in choices] == rebuilt
    with time_machine.travel(at(date(2026, 5, 8), 2), tick=False):
        assert rollups.refresh(as_of=date(2026, 5, 8))["portfolio_days_estimated"] == 0


def test_a_payment_is_not_credited_to_a_contact_corrected_to_another_outcome(team_a, agent, agent2):
    """The payment goes to the last right-party contact as corrected: agent2's "rpc" corrected to "no
    answer" credits agent's earlier one instead - live and from the rollups."""
    case = case_on(date(2026, 5, 4), team=team_a)
    day = date(2026, 5, 6)
    call(case, agent, at(day, 9), "rpc", seconds=40)
    wrong = call(case, agent2, at(day, 10), "rpc", seconds=30)
    correction = ContactAttempt.objects.get(pk=wrong.pk)
    correction.pk = None
    correction._state.adding = True
    correction.outcome, correction.delinquency_reason, correction.recording_ref = "no_answer", "", ""
    correction.corrects_id = wrong.pk
    correction.save()
    pay(case, "300.00", at(day, 15), "PAY-CORR-1")
    period = Period(day, day)

    def credited():
        rows = kpis.read_measures(["collected"], Filters(), period, group=("d_agent",))
        return {row["d_agent"]: row["collected"] for row in rows}

    assert credited() == {agent.pk: Amounts({"CNY": Decimal("300.00")})}
    with time_machine.travel(at(day + timedelta(days=1), 2), tick=False):
        rollups.refresh(as_of=day + timedelta(days=1))
    assert credited() == {agent.pk: Amounts({"CNY": Decimal("300.00")})}


def test_todays_rows_rolled_up_every_few_minutes_are_read_and_marked_late_when_old(team_a, agent):
    day = date(2026, 5, 6)
    case = case_on(day - timedelta(days=2), team=team_a)
    call(case, agent, at(day - timedelta(days=1)), "rpc", seconds=50)
    with time_machine.travel(at(day, 2), tick=False):
        rollups.refresh(as_of=day)
    call(case, agent, at(day, 10), "ptp", seconds=70)
    period = Period(day - timedelta(days=1), day)
    with time_machine.travel(at(day, 11), tick=False):
        assert rollups.freshness().today_as_of is None  # today is read live
        live = kpis.figures(list(kpis.MEASURES), Filters(), period)
        rollups.refresh_today()
        fresh = rollups.freshness()
        assert fresh.through == day and fresh.nightly == day - timedelta(days=1)
        assert kpis.figures(list(kpis.MEASURES), Filters(), period) == live
        rollups.refresh_today()  # idempotent
        assert kpis.figures(list(kpis.MEASURES), Filters(), period) == live
        assert not fresh.late
    call(case, agent, at(day, 11, 30), "rpc", seconds=30)
    with time_machine.travel(at(day, 12), tick=False):
        # An hour old: still read (a page never sums the day's log), marked late, and the later call is
        # not counted until the next refresh.
        late = rollups.freshness()
        assert late.today_as_of is not None and late.late
        assert kpis.figures(list(kpis.MEASURES), Filters(), period) == live
        rollups.refresh_today()
        assert not rollups.freshness().late
        assert kpis.figures(["attempts"], Filters(), period)["attempts"] == live["attempts"] + 1
    with time_machine.travel(at(day + timedelta(days=1), 0, 30), tick=False):
        # After midnight, before the nightly run: yesterday's intraday rows are not taken as complete.
        assert rollups.watermark() == day - timedelta(days=1)


def test_the_pages_say_when_todays_rollup_is_late(client, team_a, agent, supervisor):
    day = date(2026, 5, 6)
    case = case_on(day - timedelta(days=2), team=team_a)
    with time_machine.travel(at(day, 2), tick=False):
        rollups.refresh(as_of=day)
    call(case, agent, at(day, 10), "rpc", seconds=50)
    with time_machine.travel(at(day, 10, 5), tick=False):
        rollups.refresh_today()
    client.force_login(supervisor)
    for moment, late in ((at(day, 10, 10), False), (at(day, 11), True)):
        with time_machine.travel(moment, tick=False):
            kpi_page = client.get(reverse("dashboards:kpis")).content.decode()
            home = client.get(reverse("dashboards:home")).content.decode()
        assert "today as of 10:05" in kpi_page
        assert ('data-testid="today-late"' in kpi_page) is late
        assert ('data-testid="depths-late"' in home) is late


def test_the_two_nightly_steps_snapshot_first_and_roll_up_last(busy_fortnight):
    from types import SimpleNamespace

    from dashboards.models import AccountMonthEnd, PortfolioDaily

    as_of = START + timedelta(days=15)
    ctx = SimpleNamespace(as_of=as_of)
    with time_machine.travel(at(as_of, 1), tick=False):
        snap = rollups.nightly_snapshot_step(ctx)
        assert snap["portfolio"] and snap["month_end"] == CreditAccount.objects.count()
        assert rollups.watermark() is None  # the day tables wait for the last step
        rollups.nightly_step(ctx)
    assert rollups.watermark() == as_of - timedelta(days=1)
    assert PortfolioDaily.objects.filter(day=as_of - timedelta(days=1)).exists()
    assert AccountMonthEnd.objects.filter(month=(as_of - timedelta(days=1)).replace(day=1)).exists()
    period = Period(START, as_of - timedelta(days=1))
    live = {key: kpis.measure_live(key, Filters(), period) for key in kpis.MEASURES}
    assert kpis.figures(list(kpis.MEASURES), Filters(), period) == live


def test_queue_depths_and_aging_from_the_intraday_snapshot_match_the_live_count(team_a, team_b, supervisor):
    day = date(2026, 5, 6)
    for _ in range(3):
        case_on(day - timedelta(days=3), team=team_a)
    case_on(day - timedelta(days=3), team=team_a, days_past_due=75, bucket="M3")
    case_on(day - timedelta(days=3), team=team_b)
    filters = Filters(teams=(team_a.pk,))
    with time_machine.travel(at(day, 2), tick=False):
        rollups.refresh(as_of=day)
    with time_machine.travel(at(day, 11), tick=False):
        live_depths = selectors.queue_depths(supervisor, filters)
        live_aging = selectors.aging(supervisor, filters)
        rollups.refresh_today()
        snapshot = selectors.open_cases_snapshot(rollups.freshness())
        assert snapshot.day == day and snapshot.at is not None
        snap_depths = selectors.queue_depths(supervisor, filters, snapshot=snapshot)
        assert [(d.name, d.total, d.by_state, d.by_bucket) for d in snap_depths] == [
            (d.name, d.total, d.by_state, d.by_bucket) for d in live_depths
        ]
        snap_aging = selectors.aging(supervisor, filters, snapshot=snapshot)
        assert [(a["bucket"], a["cases"], a["balance"]) for a in snap_aging] == [
            (a["bucket"], a["cases"], a["balance"]) for a in live_aging
        ]
    assert [(a["bucket"], a["cases"]) for a in live_aging if a["cases"]] == [("M2", 3), ("M3", 1)]


def test_before_the_days_first_intraday_rollup_the_now_panels_read_last_nights_snapshot(
    client, team_a, supervisor
):
    """Counting every open case live takes most of a second at a million accounts: between midnight and
    the day's first intraday rollup (or without the every-few-minutes task) queue depths and aging read
    the nightly snapshot and say which day's close it is; with no nightly run yet they count live."""
    from types import SimpleNamespace

    day = date(2026, 5, 6)
    filters = Filters(teams=(team_a.pk,))
    for _ in range(2):
        case_on(day - timedelta(days=3), team=team_a)
    with time_machine.travel(at(day, 8), tick=False):
        assert selectors.open_cases_snapshot(rollups.freshness()) is None  # no nightly run yet: live
        assert sum(d.total for d in selectors.queue_depths(supervisor, filters)) == 2
    ctx = SimpleNamespace(as_of=day)
    with time_machine.travel(at(day, 1), tick=False):
        rollups.nightly_snapshot_step(ctx)
        rollups.nightly_step(ctx)
    case_on(day - timedelta(days=1), team=team_a)  # opened after the night: not in its snapshot
    client.force_login(supervisor)
    with time_machine.travel(at(day, 7), tick=False):
        snapshot = selectors.open_cases_snapshot(rollups.freshness())
        assert snapshot == selectors.OpenCasesSnapshot(day - timedelta(days=1))
        assert PortfolioDaily.objects.filter(day=snapshot.day).exists()
        depths = selectors.team_now(supervisor, filters).queues
        assert sum(d.total for d in depths) == 2
        aging = selectors.aging(supervisor, filters, snapshot=snapshot)
        assert sum(a["cases"] for a in aging) == 2
        assert sum(a["cases"] for a in selectors.aging(supervisor, filters)) == 3  # live
        home = client.get(reverse("dashboards:home")).content.decode()
        kpi_page = client.get(reverse("dashboards:kpis")).content.decode()
    closing = "at the close of 2026-05-05"
    assert closing in home.split('id="h-queues"')[1].split("</h2>")[0]
    assert closing in kpi_page.split('id="h-aging"')[1].split("</h2>")[0]
    with time_machine.travel(at(day, 9), tick=False):
        rollups.refresh_today()
        snapshot = selectors.open_cases_snapshot(rollups.freshness())
        assert (snapshot.day, snapshot.at is not None) == (day, True)
        assert sum(d.total for d in selectors.team_now(supervisor, filters).queues) == 3


def test_a_night_rebuilds_the_days_rows_arrived_on_and_agrees_with_the_live_computation(
    busy_fortnight, team_a, agent
):
    from collections_app.models import ContactAttempt
    from core.clock import day_start

    with time_machine.travel(at(START + timedelta(days=14), 2), tick=False):
        rollups.refresh(as_of=START + timedelta(days=14), days=20)
    # The next day: a contact of the day, and one logged late for five days before.
    late_day = START + timedelta(days=9)
    called = set(
        ContactAttempt.objects.filter(
            started_at__gte=day_start(late_day), started_at__lt=day_start(late_day + timedelta(days=1))
        ).values_list("case_id", flat=True)
    )
    case = next(c for c, team in busy_fortnight if team == team_a and c.pk not in called)
    call(case, agent, at(START + timedelta(days=14), 11), "rpc", seconds=60)
    call(case, agent, at(late_day, 11), "rpc", seconds=30)
    with time_machine.travel(at(START + timedelta(days=15), 2), tick=False):
        night = rollups.refresh(as_of=START + timedelta(days=15))
    last = START + timedelta(days=14)
    # The contact tables from the late contact's day, the promises and flows over the settling window.
    assert night["days"]["activity"] == f"{late_day.isoformat()}..{last.isoformat()}"
    assert night["days"]["reach"] == night["days"]["activity"]
    window = f"{(last - timedelta(days=rollups.REFRESH_DAYS - 1)).isoformat()}..{last.isoformat()}"
    assert night["days"]["promises"] == night["days"]["flows"] == window
    period = Period(START, last)
    for filters in _filters(team_a, agent):
        live = {key: kpis.measure_live(key, filters, period) for key in kpis.MEASURES}
        assert kpis.figures(list(kpis.MEASURES), filters, period) == live, filters
    # A night with nothing logged late rebuilds the contact tables of the day before only.
    with time_machine.travel(at(START + timedelta(days=16), 2), tick=False):
        quiet = rollups.refresh(as_of=START + timedelta(days=16))
    day = (START + timedelta(days=15)).isoformat()
    assert quiet["days"]["activity"] == f"{day}..{day}"
    assert rollups.nightly_ranges(START + timedelta(days=17))["collections"] == (
        START + timedelta(days=16),
        START + timedelta(days=16),
    )


def test_a_month_rebuilt_in_full_gives_the_nightly_rows_back(busy_fortnight, team_a, agent):
    from django.core.management import call_command

    with time_machine.travel(at(START + timedelta(days=15), 2), tick=False):
        rollups.refresh(as_of=START + timedelta(days=15), days=20)

    def rows():
        fields = ("level", "day", "agent_id", "attempts", "rpc")
        return sorted(ActivityDaily.objects.values_list(*fields), key=str)

    before = rows()
    ActivityDaily.objects.filter(day=START + timedelta(days=3)).delete()  # a day lost
    call_command("rollups_rebuild", month=f"{START:%Y-%m}")
    assert rows() == before
    period = Period(START, START + timedelta(days=13))
    for filters in _filters(team_a, agent):
        live = {key: kpis.measure_live(key, filters, period) for key in kpis.MEASURES}
        assert kpis.figures(list(kpis.MEASURES), filters, period) == live, filters
