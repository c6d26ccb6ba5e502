"""A promise counts only with its contact (rollups.with_its_contact): recorded against the contact attempt
it was made in, or its recorder's own right-party contact with the case that bank day. The agent's
Promises column on Team now, the KPI measures read live and from the rollups all agree on it.

6 May 2026, team A:
  case 1  agent: PTP call 10:00, promise 10:05                        -> counts (own RPC that day)
  case 2  agent: PTP call on 5 May; promise on 6 May recorded against it -> counts (its contact)
  case 3  agent: promise 11:00, no contact at all                      -> does not count
  case 4  agent: no-answer call 10:00, promise 10:05                    -> does not count (nobody reached)
  case 5  agent2 reached the cardholder 10:00; agent records the promise -> does not count for agent
  case 6  agent: PTP call on 5 May, promise on 6 May not linked to it    -> does not count (another day)
"""

from datetime import date, timedelta
from decimal import Decimal

import pytest
import time_machine

from collections_app import services
from collections_app.models import PromiseToPay
from dashboards import kpis, rollups, selectors
from dashboards.scope import Filters, Period
from tests.dashboards.conftest import at, call, case_on, nightly_promises, promise

pytestmark = pytest.mark.django_db
DAY = date(2026, 5, 6)


@pytest.fixture
def sixth_of_may(team_a, agent, agent2):
    c = [None] + [case_on(date(2026, 5, 1), team=team_a) for _ in range(6)]
    call(c[1], agent, at(DAY), "ptp", seconds=60)
    promise(c[1], agent, "100.00", DAY + timedelta(days=2), at(DAY, 10, 5))

    earlier = call(c[2], agent, at(DAY - timedelta(days=1)), "ptp", seconds=60)
    with time_machine.travel(at(DAY, 10, 30), tick=False):
        services.promise_record(
            case_id=c[2].pk,
            actor=agent,
            amount=Decimal("200.00"),
            due_date=DAY + timedelta(days=2),
            today=DAY,
            contact_attempt_id=earlier.pk,
        )

    promise(c[3], agent, "300.00", DAY + timedelta(days=2), at(DAY, 11))

    call(c[4], agent, at(DAY), "no_answer")
    promise(c[4], agent, "400.00", DAY + timedelta(days=2), at(DAY, 10, 5))

    call(c[5], agent2, at(DAY), "rpc", seconds=60)
    promise(c[5], agent, "500.00", DAY + timedelta(days=2), at(DAY, 10, 5))

    call(c[6], agent, at(DAY - timedelta(days=1)), "ptp", seconds=60)
    promise(c[6], agent, "600.00", DAY + timedelta(days=2), at(DAY, 10, 5))
    nightly_promises(DAY + timedelta(days=4))  # every promise broken (none was paid)
    return c


def _agent_promises(team_a, agent) -> int:
    now = at(DAY, 20)
    rows = selectors.agents_now(None, Filters(teams=(team_a.pk,)), now=now, through=rollups.freshness(now))
    return next(r.promises for r in rows if r.agent == agent)


def test_a_promise_counts_only_with_its_contact(sixth_of_may, team_a, agent):
    assert PromiseToPay.objects.filter(created_by=agent).count() == 6
    one_day = Period(DAY, DAY)
    promised = {p.amount for p in kpis.source_rows(kpis.MEASURES["promises_made"], Filters(), one_day)}
    assert promised == {Decimal("100.00"), Decimal("200.00")}
    assert kpis.measure_live("promises_made", Filters(), one_day) == 2
    assert kpis.measure_live("promised_amount", Filters(), one_day) == {"CNY": Decimal("300.00")}
    # Kept or broken: the same promises only (all six were broken, two count).
    due = Period(DAY + timedelta(days=2), DAY + timedelta(days=2))
    assert kpis.measure_live("promises_broken", Filters(), due) == 2
    # The agent's Promises column on Team now.
    assert _agent_promises(team_a, agent) == 2


def test_the_rollups_and_the_team_now_column_agree_with_the_live_count(sixth_of_may, team_a, agent):
    with time_machine.travel(at(DAY + timedelta(days=5), 2), tick=False):
        rollups.refresh(as_of=DAY + timedelta(days=5), days=10)
    assert rollups.watermark() >= DAY + timedelta(days=2)
    for period in (Period(DAY, DAY), Period(DAY - timedelta(days=2), DAY + timedelta(days=3))):
        keys = ["promises_made", "promised_amount", "promises_broken", "promises_kept", "promises_due_amount"]
        live = {key: kpis.measure_live(key, Filters(), period) for key in keys}
        assert kpis.figures(keys, Filters(), period) == live
    assert kpis.figures(["promises_made"], Filters(), Period(DAY, DAY))["promises_made"] == 2
    assert _agent_promises(team_a, agent) == 2  # now read from the rollup


def test_logging_the_call_after_the_promise_makes_it_count(team_a, agent):
    case = case_on(date(2026, 5, 1), team=team_a)
    promise(case, agent, "100.00", DAY + timedelta(days=2), at(DAY, 10))
    assert kpis.measure_live("promises_made", Filters(), Period(DAY, DAY)) == 0
    call(case, agent, at(DAY, 10, 20), "ptp", seconds=60)  # the call, logged after the promise
    assert kpis.measure_live("promises_made", Filters(), Period(DAY, DAY)) == 1
