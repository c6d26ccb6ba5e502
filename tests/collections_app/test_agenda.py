"""The agenda: the agent's callbacks and pending promises, overdue first, then a week of days in the agent's
time zone; each item with the agent's and the cardholder's time and whether the cardholder may be called
now. An agent never sees a colleague's items; a supervisor reads the agenda of an agent of their team.

Personas: `agent` (team A, Shanghai), `supervisor` (team A), `other_agent` (team B).
The clock: Tuesday 2 June 2026 10:00 in Beijing (`office_hours`); the week is Monday 1 to Sunday 7 June."""

from datetime import date, datetime
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from collections_app import agenda as agenda_selectors
from collections_app import services
from collections_app.agenda import CALLBACK, PROMISE
from collections_app.models import DelinquencyReason, Outcome
from collections_app.services import contactability
from core.exceptions import NotAllowed
from tests.factories import ContactPointFactory, UserFactory, open_case

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("office_hours")]


def worked_case(team, **fields):
    case = open_case(team=team, **fields)
    ContactPointFactory(cardholder=case.account.cardholder)
    return case


def callback(case, agent, at: str):
    """A callback at `at`, the cardholder's wall clock, scheduled by `agent` (which assigns them the case)."""
    return services.callback_schedule(case_id=case.pk, actor=agent, at=datetime.fromisoformat(at))


def promise(case, agent, due: date, amount="300.00"):
    return services.promise_record(case_id=case.pk, actor=agent, amount=Decimal(amount), due_date=due)


def items(day):
    return [(item.kind, item.case.reference) for item in day.items]


@pytest.fixture
def week(team_a, agent, office_hours):
    """Tuesday 10:00: a callback today at 11:00 (overdue by Thursday), a promise due Wednesday (overdue by
    Thursday), a callback Friday 15:00, a promise due Saturday. Then the clock moves to Thursday 10:00."""
    late, broken, friday, saturday = (worked_case(team_a) for _ in range(4))
    callback(late, agent, "2026-06-02T11:00")
    promise(broken, agent, date(2026, 6, 3))
    callback(friday, agent, "2026-06-05T15:00")
    promise(saturday, agent, date(2026, 6, 6), amount="1234.50")
    for case in (broken, saturday):  # the cases are the agent's (a promise alone does not assign)
        case.refresh_from_db()
        case.assigned_agent = agent
        case.save(update_fields=["assigned_agent"])
    office_hours.move_to("2026-06-04 10:00 +0800")
    return {"late": late, "broken": broken, "friday": friday, "saturday": saturday}


def test_overdue_items_come_first_and_the_rest_by_day_and_time(agent, week):
    agenda = agenda_selectors.agenda(agent, agent)
    assert [(i.kind, i.case) for i in agenda.overdue] == [(CALLBACK, week["late"]), (PROMISE, week["broken"])]
    assert agenda.week_start == date(2026, 6, 1)
    by_day = {day.day: day for day in agenda.days}
    assert items(by_day[date(2026, 6, 5)]) == [(CALLBACK, week["friday"].reference)]
    assert items(by_day[date(2026, 6, 6)]) == [(PROMISE, week["saturday"].reference)]
    assert by_day[date(2026, 6, 4)].is_today
    # An overdue item is not repeated in its day.
    assert not by_day[date(2026, 6, 2)].items and not by_day[date(2026, 6, 3)].items


def test_a_callback_with_a_contact_since_is_not_overdue(agent, week):
    services.contact_attempt_log(
        case_id=week["late"].pk,
        actor=agent,
        data=services.ContactInput(channel="outbound_call", outcome=Outcome.NO_ANSWER),
    )
    agenda = agenda_selectors.agenda(agent, agent)
    assert [i.case for i in agenda.overdue] == [week["broken"]]


def test_a_page_of_the_agenda_shows_overdue_first_and_the_week(client, agent, week):
    client.force_login(agent)
    response = client.get(reverse("agenda"))
    html = response.content.decode()
    assert response.status_code == 200
    overdue = html.index('data-testid="agenda-overdue"')
    assert overdue < html.index(week["late"].reference) < html.index('data-testid="agenda-week"')
    assert html.index('data-testid="agenda-week"') < html.index(week["friday"].reference)
    assert "¥1,234.50" in html  # the promise's amount with the money filter
    assert week["friday"].account.cardholder.name in html


def test_the_week_ends_on_sunday_midnight_in_the_agents_zone(team_a, agent, office_hours):
    new_york = UserFactory(username="agent_ny", role="agent", team=team_a, time_zone="America/New_York")
    # Monday 8 June 09:00 in Shanghai is Sunday 7 June 21:00 in New York.
    theirs, mine = worked_case(team_a), worked_case(team_a)
    callback(theirs, new_york, "2026-06-08T09:00")
    callback(mine, agent, "2026-06-08T09:00")

    ny_agenda = agenda_selectors.agenda(new_york, new_york)
    assert ny_agenda.days[-1].day == date(2026, 6, 7)
    assert items(ny_agenda.days[-1]) == [(CALLBACK, theirs.reference)]

    shanghai = agenda_selectors.agenda(agent, agent)
    assert not any(day.items for day in shanghai.days)
    next_week = agenda_selectors.agenda(agent, agent, week_offset=1)
    assert next_week.days[0].day == date(2026, 6, 8)
    assert items(next_week.days[0]) == [(CALLBACK, mine.reference)]


def test_each_callback_shows_the_agents_time_and_the_cardholders(client, team_a, office_hours):
    new_york = UserFactory(username="agent_ny", role="agent", team=team_a, time_zone="America/New_York")
    case = worked_case(team_a)
    callback(case, new_york, "2026-06-03T09:00")  # Shanghai 09:00 = New York 21:00 the day before

    item = agenda_selectors.agenda(new_york, new_york).days[1].items[0]  # Tuesday 2 June in New York
    assert item.agent_wall == datetime(2026, 6, 2, 21, 0)
    assert item.cardholder_time.wall == datetime(2026, 6, 3, 9, 0)
    assert item.cardholder_time.zone == "Asia/Shanghai"

    client.force_login(new_york)
    html = client.get(reverse("agenda")).content.decode()
    assert 'data-testid="agent-time">21:00<' in html
    assert "2026-06-03 09:00 Asia/Shanghai (UTC+08:00)" in html


def test_whether_the_cardholder_can_be_called_now(client, team_a, agent, office_hours):
    callable_case = worked_case(team_a)
    callback(callable_case, agent, "2026-06-02T15:00")
    blocked = worked_case(team_a)
    promise(blocked, agent, date(2026, 6, 3))
    holder = blocked.account.cardholder
    holder.do_not_contact = True  # as the bank's file sets it; the stored contactability follows
    holder.save(update_fields=["do_not_contact"])
    contactability.contactability_refresh(cardholder_ids=[holder.pk])
    blocked.refresh_from_db()
    blocked.assigned_agent = agent
    blocked.save(update_fields=["assigned_agent"])

    agenda = agenda_selectors.agenda(agent, agent)
    by_case = {item.case: item for day in agenda.days for item in day.items}
    assert by_case[callable_case].callable_now
    assert not by_case[blocked].callable_now and by_case[blocked].block_rule == "do_not_contact"
    client.force_login(agent)
    html = client.get(reverse("agenda")).content.decode()
    assert 'data-testid="callable"' in html and 'data-testid="not-callable"' in html


def test_an_agent_never_sees_a_colleagues_items(client, team_a, agent, other_agent):
    teammate = UserFactory(username="agent_a2", role="agent", team=team_a)
    case = worked_case(team_a)
    callback(case, teammate, "2026-06-03T10:00")

    assert not any(day.items for day in agenda_selectors.agenda(agent, agent).days)
    client.force_login(agent)
    assert case.reference not in client.get(reverse("agenda")).content.decode()
    assert client.get(reverse("agenda"), {"agent": teammate.pk}).status_code == 403
    client.force_login(other_agent)
    assert client.get(reverse("agenda"), {"agent": teammate.pk}).status_code == 403


def test_a_callback_the_agent_scheduled_stays_theirs_while_the_case_is_unassigned(team_a, agent):
    case = worked_case(team_a)
    callback(case, agent, "2026-06-03T10:00")
    case.refresh_from_db()
    case.assigned_agent = None
    case.save(update_fields=["assigned_agent"])
    assert items(agenda_selectors.agenda(agent, agent).days[2]) == [(CALLBACK, case.reference)]
    other = UserFactory(username="agent_a3", role="agent", team=team_a)
    case.assigned_agent = other
    case.save(update_fields=["assigned_agent"])  # given to a colleague: their callback now
    assert not agenda_selectors.agenda(agent, agent).days[2].items
    assert items(agenda_selectors.agenda(other, other).days[2]) == [(CALLBACK, case.reference)]


def test_a_supervisor_reads_the_agenda_of_an_agent_of_their_team_only(
    client, supervisor, agent, other_agent, week
):
    client.force_login(supervisor)
    response = client.get(reverse("agenda"), {"agent": agent.pk})
    assert response.status_code == 200
    assert week["friday"].reference in response.content.decode()
    assert f'<option value="{agent.pk}" selected>' in response.content.decode()
    assert client.get(reverse("agenda"), {"agent": other_agent.pk}).status_code == 403
    assert client.get(reverse("agenda"), {"agent": "x"}).status_code == 403
    with pytest.raises(NotAllowed):
        agenda_selectors.agenda_owner(agent, supervisor.pk)


def test_anonymous_and_legal_may_not_open_the_agenda(client, legal):
    assert client.get(reverse("agenda")).status_code == 302
    client.force_login(legal)
    assert client.get(reverse("agenda")).status_code == 403


def _agenda_queries(agent) -> int:
    with CaptureQueriesContext(connection) as queries:
        agenda_selectors.agenda(agent, agent)
    return len(queries)


def test_the_agenda_costs_the_same_queries_whatever_the_number_of_items(team_a, agent):
    def add(n, offset):
        for i in range(n):
            case = worked_case(team_a)
            callback(case, agent, f"2026-06-0{3 + (i + offset) % 4}T{10 + i % 8}:00")
        holder_case = worked_case(team_a)
        services.contact_attempt_log(
            case_id=holder_case.pk,
            actor=agent,
            data=services.ContactInput(
                channel="outbound_call",
                outcome=Outcome.RIGHT_PARTY_CONTACT,
                delinquency_reason=DelinquencyReason.FORGOT,
                recording_ref="R",
            ),
        )
        promise(holder_case, agent, date(2026, 6, 4 + offset % 3))
        holder_case.refresh_from_db()
        holder_case.assigned_agent = agent
        holder_case.save(update_fields=["assigned_agent"])

    add(1, 0)
    few = _agenda_queries(agent)
    add(6, 1)
    add(6, 2)
    agenda = agenda_selectors.agenda(agent, agent)
    assert sum(len(day.items) for day in agenda.days) == 16
    # callbacks, promises, the debtors' numbers, the policy profiles
    assert few == _agenda_queries(agent) == 4


@pytest.mark.parametrize(("language", "heading"), [("en", "Overdue"), ("zh-hans", "逾期")])
def test_the_page_renders_in_english_and_chinese(client, agent, week, language, heading):
    agent.language = language
    agent.save()
    client.force_login(agent)
    response = client.get(reverse("agenda"))
    html = response.content.decode()
    assert response.status_code == 200
    assert heading in html
    assert week["friday"].reference in html
    assert f'lang="{language}"' in html or language in response["Content-Language"]
