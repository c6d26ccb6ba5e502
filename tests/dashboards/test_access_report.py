"""The access report: who looked at which cardholders (by period, person, kind, reason), the days of
unusual volume (above the daily limit, or above k times the person's own median day), its CSV (itself a
recorded export); and an unmasked export records every cardholder in it for a fixed number of queries.

Personas (tests/conftest.py): supervisor (team A: sees the looks of team A's people), agent (team A;
may not open the report), other_agent (team B: outside the supervisor's report), admin_user (sees all)."""

from datetime import datetime, time, timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from collections_app import services
from collections_app.models import AccessRecord, CaseEvent, EventKind
from core.clock import bank_today, bank_zone
from dashboards.exports import ExportAccess, personal_rows
from tests.dashboards.conftest import case_on
from tests.dashboards.test_views import client_for, csv_rows
from tests.factories import CardholderFactory, UserFactory

pytestmark = pytest.mark.django_db

REPORT = "/dashboards/access/"


def looks(actor, holders, day, *, kind="reveal", reason="working_case", hour=10) -> None:
    """`actor` looked at each of `holders` on `day` (bank time)."""
    when = datetime.combine(day, time(hour), bank_zone())
    AccessRecord.objects.bulk_create(
        [
            AccessRecord(
                actor=actor, kind=kind, reason=reason, source="page", cardholder=h, at=when, what="x"
            )
            for h in holders
        ]
    )


@pytest.fixture
def holders(db):
    return CardholderFactory.create_batch(12)


def report(viewer, **params):
    assert reverse("dashboards:access") == REPORT
    return client_for(viewer).get(REPORT, params)


def test_the_report_lists_who_looked_at_whom(supervisor, agent, holders):
    today = bank_today()
    looks(agent, holders[:2], today)
    looks(agent, holders[:1], today, kind="print", reason="legal_proceedings", hour=11)

    response = report(supervisor)

    assert response.status_code == 200
    rows = response.context["page"].object_list
    assert [
        (r["person"], r["cardholder__external_ref"], r["looks"], r["reveals"], r["prints"]) for r in rows
    ] == [
        (agent.get_full_name() or agent.username, holders[0].external_ref, 2, 1, 1),
        (agent.get_full_name() or agent.username, holders[1].external_ref, 1, 1, 0),
    ]
    html = response.content.decode()
    assert holders[0].external_ref in html and holders[0].name not in html  # names masked


def test_filters_by_kind_reason_person_and_period(supervisor, agent, holders, team_a):
    today = bank_today()
    colleague = UserFactory(username="agent_a3", role="agent", team=team_a)
    looks(agent, holders[:1], today, kind="print", reason="legal_proceedings")
    looks(agent, holders[1:2], today, kind="reveal", reason="complaint")
    looks(colleague, holders[2:3], today)
    looks(agent, holders[3:4], today - timedelta(days=20))

    def refs(**params):
        return [
            r["cardholder__external_ref"] for r in report(supervisor, **params).context["page"].object_list
        ]

    assert refs(kind="print") == [holders[0].external_ref]
    assert refs(reason="complaint") == [holders[1].external_ref]
    assert refs(user=colleague.pk) == [holders[2].external_ref]
    old = (today - timedelta(days=20)).isoformat()
    assert refs(start=old, end=old) == [holders[3].external_ref]
    assert holders[3].external_ref not in refs()  # the default period is the last 7 days


def test_a_supervisor_sees_their_team_and_an_admin_everyone(
    supervisor, admin_user, agent, other_agent, holders
):
    today = bank_today()
    looks(agent, holders[:1], today)
    looks(other_agent, holders[1:2], today)

    def people(user):
        return {r["actor_id"] for r in report(user).context["page"].object_list}

    assert people(supervisor) == {agent.pk}
    assert people(admin_user) == {agent.pk, other_agent.pk}


def test_agents_and_legal_cannot_open_the_report(agent, legal):
    assert report(agent).status_code == 403
    assert report(legal).status_code == 403


def test_the_supervisor_nav_links_the_report(supervisor):
    html = client_for(supervisor).get(reverse("dashboards:home")).content.decode()
    assert f'href="{REPORT}"' in html


# --- Unusual volumes --------------------------------------------------------------------------------------


def test_a_day_far_above_a_persons_usual_is_flagged_and_a_normal_one_is_not(
    supervisor, agent, team_a, settings
):
    settings.ACCESS_DAILY_CARDHOLDERS_LIMIT = 50
    settings.ACCESS_MEDIAN_FACTOR = 3
    steady = UserFactory(username="steady", role="agent", team=team_a)
    holders = CardholderFactory.create_batch(10)
    today = bank_today()
    for days_ago in range(1, 11):  # ten usual days: 2 cardholders each
        looks(agent, holders[:2], today - timedelta(days=days_ago))
        looks(steady, holders[:2], today - timedelta(days=days_ago))
    looks(agent, holders[:7], today)  # 7 > 3 x 2
    looks(steady, holders[:3], today)  # 3: more than usual, not 3 times more

    unusual = report(supervisor).context["unusual"]

    assert [(u.actor_id, u.day, u.cardholders, u.median, u.over_limit) for u in unusual] == [
        (agent.pk, today, 7, 2.0, False)
    ]


def test_a_day_above_the_limit_is_flagged_without_any_history(supervisor, agent, settings):
    settings.ACCESS_DAILY_CARDHOLDERS_LIMIT = 5
    holders = CardholderFactory.create_batch(6)
    looks(agent, holders, bank_today())
    # The same cardholder looked at twice is one cardholder: the count is of distinct people.
    looks(agent, holders[:1], bank_today(), kind="print", reason="legal_proceedings")

    (flagged,) = report(supervisor).context["unusual"]

    assert (flagged.actor_id, flagged.cardholders, flagged.median, flagged.over_limit) == (
        agent.pk,
        6,
        None,
        True,
    )
    assert 'data-testid="unusual-row"' in report(supervisor).content.decode()


def test_no_flag_at_the_limit(supervisor, agent, settings):
    settings.ACCESS_DAILY_CARDHOLDERS_LIMIT = 6
    looks(agent, CardholderFactory.create_batch(6), bank_today())
    assert report(supervisor).context["unusual"] == []


# --- Its CSV, and exports' records ------------------------------------------------------------------------


def test_the_reports_csv_is_itself_a_recorded_export(supervisor, agent, holders):
    looks(agent, holders[:2], bank_today())

    rows = csv_rows(report(supervisor, export="people"))

    assert [r[1] for r in rows[1:]] == [holders[0].external_ref, holders[1].external_ref]
    assert holders[0].name not in str(rows)
    summary = AccessRecord.objects.filter(actor=supervisor).get()
    assert (summary.kind, summary.masked, summary.rows, summary.what) == (
        "export",
        True,
        2,
        f"{REPORT}?export=people",
    )


def test_an_unmasked_export_records_each_chunk_in_three_statements(supervisor, team_a):
    cases = [case_on(bank_today() - timedelta(days=1), team=team_a) for _ in range(5)]
    access = ExportAccess(
        actor=supervisor, name="/x?export=csv", reason=services.access_reason("complaint"), unmasked=True
    )
    rows = [(c.pk, [c.reference]) for c in cases for _repeat in range(40)]  # 200 rows, 5 cases

    with CaptureQueriesContext(connection) as queries:
        sent = list(personal_rows(access, iter(rows), {}))

    statements = [
        q["sql"] for q in queries.captured_queries if not q["sql"].startswith(("SAVEPOINT", "RELEASE"))
    ]
    assert len(sent) == 200
    assert len(statements) == 3  # the cases' cardholders, the access records, the timeline events
    assert sorted(AccessRecord.objects.values_list("case_id", flat=True)) == sorted(c.pk for c in cases)
    assert {r.cardholder_id for r in AccessRecord.objects.all()} == {c.account.cardholder_id for c in cases}
    assert CaseEvent.objects.filter(kind=EventKind.PII_REVEAL).count() == 5


def test_an_unmasked_export_costs_the_same_queries_for_2_or_12_cases(supervisor, team_a):
    def export_queries(n: int) -> int:
        day = bank_today() - timedelta(days=1)
        for _ in range(n):
            case = case_on(day, team=team_a)
            services.note_add(case_id=case.pk, actor=supervisor, text="Called #complaint")
        with CaptureQueriesContext(connection) as queries:
            response = client_for(supervisor).get(
                "/dashboards/kpis/complaint_notes/", {"period": "7d", "export": "csv", "reason": "complaint"}
            )
            body = csv_rows(response)
        return len(body) - 1, len(queries.captured_queries)

    rows_2, queries_2 = export_queries(2)
    rows_12, queries_12 = export_queries(10)
    assert (rows_2, rows_12) == (2, 12)
    assert queries_12 == queries_2
    assert AccessRecord.objects.filter(cardholder__isnull=False).count() == 2 + 12


def test_the_embedded_databases_flags_follow_the_same_rule():
    """SQLite has no percentile_cont: the same rule over the daily aggregate (dashboards.access_report)."""
    from dashboards.access_report import AccessFilters, _unusual_in_python

    today = bank_today()
    daily = [{"actor_id": 1, "day": today - timedelta(days=d), "n": 2} for d in range(1, 11)]
    daily += [{"actor_id": 2, "day": today - timedelta(days=d), "n": 2} for d in range(1, 11)]
    daily += [{"actor_id": 1, "day": today, "n": 7}, {"actor_id": 2, "day": today, "n": 3}]
    daily += [{"actor_id": 3, "day": today, "n": 51}]

    flagged = _unusual_in_python(daily, AccessFilters(start=today, end=today), limit=50, factor=3)

    assert flagged == [(3, today, 51, None), (1, today, 7, 2.0)]
