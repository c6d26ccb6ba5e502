"""The dashboard pages: who may open them, what each shows of whose data, their query budgets, the CSV
twins of their tables, and the team-management actions."""

import csv
import io
from datetime import date, timedelta

import pytest
import time_machine
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from collections_app import services
from collections_app.models import Case, CaseEvent, EventKind
from core.clock import bank_today
from legal import services as legal_services
from tests.dashboards.conftest import at, call, case_on, nightly_promises, promise
from tests.factories import UserFactory, open_case

pytestmark = pytest.mark.django_db

PAGES = [
    "dashboards:home",
    "dashboards:kpis",
    "dashboards:team",
]


def client_for(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def csv_rows(response) -> list[list[str]]:
    text = b"".join(response.streaming_content).decode("utf-8").lstrip("\ufeff")
    return list(csv.reader(io.StringIO(text)))


@pytest.fixture
def worked(team_a, team_b, agent, other_agent):
    """Today's and recent work on both teams: a broken promise on each team, calls today."""
    today = bank_today()
    ours = case_on(today - timedelta(days=6), team=team_a)
    theirs = case_on(today - timedelta(days=6), team=team_b)
    for case, who in ((ours, agent), (theirs, other_agent)):
        call(case, who, at(today - timedelta(days=5)), "ptp", seconds=100)
        promise(case, who, "300.00", today - timedelta(days=4), at(today - timedelta(days=5), 11))
    nightly_promises(today - timedelta(days=1))
    return ours, theirs


# --- Who may open what -----------------------------------------------------------------------------


@pytest.mark.parametrize("name", [*PAGES, "dashboards:legal"])
def test_anonymous_users_go_to_the_login_page(client, name):
    response = client.get(reverse(name))
    assert response.status_code == 302
    assert "/accounts/login/" in response["Location"]


@pytest.mark.parametrize("name", [*PAGES, "dashboards:legal"])
def test_agents_get_403(agent, name):
    assert client_for(agent).get(reverse(name)).status_code == 403


@pytest.mark.parametrize("name", PAGES)
def test_legal_reviewers_get_403_on_supervisor_pages(legal, name):
    assert client_for(legal).get(reverse(name)).status_code == 403


def test_legal_reviewers_and_supervisors_open_the_legal_dashboard(legal, supervisor):
    assert client_for(legal).get(reverse("dashboards:legal")).status_code == 200
    assert client_for(supervisor).get(reverse("dashboards:legal")).status_code == 200


def test_agents_may_not_drill_down_or_act(agent, worked):
    ours, _theirs = worked
    c = client_for(agent)
    assert c.get(reverse("dashboards:drill", args=["promises_broken"])).status_code == 403
    assert c.post(reverse("dashboards:case_reassign", args=[ours.pk]), {"agent": agent.pk}).status_code == 403
    assert c.post(reverse("dashboards:leases_release")).status_code == 403


def test_an_unknown_figure_is_404(supervisor):
    assert client_for(supervisor).get(reverse("dashboards:drill", args=["nonsense"])).status_code == 404


# --- Other teams' data -----------------------------------------------------------------------------------


def test_a_supervisor_sees_only_their_teams_figures(supervisor, worked, other_agent):
    ours, theirs = worked
    response = client_for(supervisor).get(reverse("dashboards:kpis"), {"period": "30d"})
    assert response.context["values"]["promises_broken"] == 1
    assert response.context["values"]["attempts"] == 1
    assert other_agent.username not in [a.name for a in response.context["agents"]]
    drill = client_for(supervisor).get(
        reverse("dashboards:drill", args=["promises_broken"]), {"period": "30d"}
    )
    listed = [p.case_id for p in drill.context["page"].rows]
    assert listed == [ours.pk]
    assert theirs.reference not in drill.content.decode()


def test_choosing_another_teams_id_in_the_url_shows_nothing_of_it(supervisor, worked, team_b):
    response = client_for(supervisor).get(reverse("dashboards:kpis"), {"team": team_b.pk, "period": "30d"})
    assert response.context["values"]["attempts"] == 1  # the invalid choice is ignored: own team only
    assert response.context["filters"].teams == (supervisor.team_id,)


def test_an_admin_sees_every_team_and_can_choose_one(admin_user, worked, team_b):
    c = client_for(admin_user)
    assert c.get(reverse("dashboards:kpis"), {"period": "30d"}).context["values"]["promises_broken"] == 2
    chosen = c.get(reverse("dashboards:kpis"), {"period": "30d", "team": team_b.pk})
    assert chosen.context["values"]["promises_broken"] == 1


def test_a_supervisor_cannot_reassign_another_teams_case(supervisor, worked, agent):
    _ours, theirs = worked
    response = client_for(supervisor).post(
        reverse("dashboards:case_reassign", args=[theirs.pk]), {"agent": agent.pk}
    )
    assert response.status_code == 404
    assert Case.objects.get(pk=theirs.pk).assigned_agent_id != agent.pk


def test_the_home_page_lists_only_the_teams_agents_and_queues(supervisor, worked, agent, other_agent):
    response = client_for(supervisor).get(reverse("dashboards:home"))
    names = [row.agent.pk for row in response.context["data"].agents]
    assert names == [agent.pk]
    assert [q.name for q in response.context["data"].queues] == ["Team A queue"]


# --- Query budgets ----------------------------------------------------------------------------------------


def _queries(user, url, params=None) -> int:
    c = client_for(user)
    c.get(url, params)  # warm caches (content types, sessions)
    with CaptureQueriesContext(connection) as captured:
        response = c.get(url, params)
    assert response.status_code == 200
    return len(captured)


@pytest.mark.parametrize(
    ("name", "args", "budget"),
    [
        ("dashboards:home", [], 26),
        ("dashboards:kpis", [], 30),
        ("dashboards:drill", ["promises_broken"], 12),
        ("dashboards:drill", ["attempts"], 12),
        ("dashboards:drill", ["accounts_rpc"], 12),
        ("dashboards:team", [], 21),  # with its live part (agents now, leases held): 5 more
        ("dashboards:legal", [], 16),
    ],
)
def test_each_page_has_a_fixed_query_budget(supervisor, team_a, agent, agent2, name, args, budget):
    """The same number of queries with 2 cases as with 8, and within the budget."""
    url = reverse(name, args=args)
    today = bank_today()

    def add_work(n):
        for _ in range(n):
            case = case_on(today - timedelta(days=6), team=team_a)
            call(case, agent, at(today - timedelta(days=5)), "ptp", seconds=60)
            promise(case, agent, "100.00", today - timedelta(days=4), at(today - timedelta(days=5), 11))
            services.escalation_request(case_id=case.pk, actor=agent, target="supervisor", reason="Refuses")
        nightly_promises(today - timedelta(days=1))

    add_work(2)
    small = _queries(supervisor, url, {"period": "30d"})
    add_work(6)
    large = _queries(supervisor, url, {"period": "30d"})
    print(name, args, large)
    assert small == large
    assert large <= budget


# --- CSV -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("table", ["kpis", "agents", "trend", "aging", "reasons", "roll"])
def test_every_kpi_table_exports_to_csv(supervisor, worked, table):
    response = client_for(supervisor).get(reverse("dashboards:kpis"), {"period": "30d", "export": table})
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    rows = csv_rows(response)
    assert len(rows) >= 2 and rows[0]


def test_the_kpi_csv_carries_values_and_formulas(supervisor, worked):
    rows = csv_rows(
        client_for(supervisor).get(reverse("dashboards:kpis"), {"period": "30d", "export": "kpis"})
    )
    assert rows[0] == ["KPI", "Value", "Currency", "Formula"]
    by_label = {r[0]: r for r in rows[1:]}
    assert by_label["Broken promises"][1] == "1"
    assert by_label["Broken promises"][2] == ""  # a count has no currency
    assert "grace" in by_label["Broken promises"][3]


@pytest.mark.parametrize("table", ["agents", "queues", "callbacks", "leases"])
def test_every_home_table_exports_to_csv(supervisor, worked, table):
    response = client_for(supervisor).get(reverse("dashboards:home"), {"export": table})
    assert response["Content-Type"].startswith("text/csv")
    assert csv_rows(response)[0]


@pytest.mark.parametrize("table", ["age", "decisions", "outcomes", "limitation"])
def test_every_legal_table_exports_to_csv(legal, table):
    response = client_for(legal).get(reverse("dashboards:legal"), {"export": table})
    assert response["Content-Type"].startswith("text/csv")


def test_a_drill_down_exports_every_row_it_counted(supervisor, worked):
    ours, _theirs = worked
    response = client_for(supervisor).get(
        reverse("dashboards:drill", args=["promises_broken"]), {"period": "30d", "export": "csv"}
    )
    rows = csv_rows(response)
    assert rows[0][:2] == ["due", "case"]
    assert [r[1] for r in rows[1:]] == [ours.reference]


def test_csv_cells_cannot_smuggle_a_formula(supervisor, team_a, agent):
    today = bank_today()
    case = case_on(today - timedelta(days=2), team=team_a)
    services.note_add(case_id=case.pk, actor=agent, text='=HYPERLINK("http://x") #complaint')
    rows = csv_rows(
        client_for(supervisor).get(
            reverse("dashboards:drill", args=["complaint_notes"]), {"period": "7d", "export": "csv"}
        )
    )
    assert rows[1][-1].startswith("'=")


# --- Pages and fragments ------------------------------------------------------------------------------------


def test_the_kpi_page_shows_each_formula_and_links_each_number(supervisor, worked):
    html = client_for(supervisor).get(reverse("dashboards:kpis"), {"period": "30d"}).content.decode()
    assert "Right-party contacts ÷ contact attempts." in html
    assert reverse("dashboards:drill", args=["promises_broken"]) + "?" in html
    assert 'data-chart="trend"' in html and "chart.umd.min.js" in html
    assert 'data-testid="trend-table"' in html and 'data-testid="aging-table"' in html


def test_the_chart_labels_are_in_the_readers_language(supervisor, worked):
    supervisor.language = "zh-hans"
    supervisor.save(update_fields=["language"])
    response = client_for(supervisor).get(reverse("dashboards:kpis"), {"period": "30d"})
    labels = response.context["chart_aging"]["labels"]
    assert labels[0] == "未逾期" and "current" not in labels and labels[1] == "M1"


def test_an_htmx_filter_request_gets_the_body_fragment(supervisor, worked):
    response = client_for(supervisor).get(
        reverse("dashboards:kpis"), {"period": "7d"}, HTTP_HX_REQUEST="true"
    )
    html = response.content.decode()
    assert html.lstrip().startswith('<div id="kpi-body"')
    assert "<html" not in html


def test_the_agent_table_sorts_on_any_column(supervisor, worked, team_a, agent2):
    c = client_for(supervisor)
    down = c.get(reverse("dashboards:kpis"), {"period": "30d", "sort": "attempts", "dir": "desc"}).context[
        "agents"
    ]
    up = c.get(reverse("dashboards:kpis"), {"period": "30d", "sort": "attempts", "dir": "asc"}).context[
        "agents"
    ]
    assert [a.attempts for a in down] == [1, 0]
    assert [a.attempts for a in up] == [0, 1]


def test_reassign_from_a_drill_down_goes_back_to_it(supervisor, worked, agent2):
    ours, _theirs = worked
    back = reverse("dashboards:drill", args=["promises_broken"]) + "?period=30d"
    response = client_for(supervisor).post(
        reverse("dashboards:case_reassign", args=[ours.pk]), {"agent": agent2.pk, "next": back}
    )
    assert response.status_code == 302 and response["Location"] == back
    assert Case.objects.get(pk=ours.pk).assigned_agent == agent2


def test_reassign_refuses_an_outside_redirect(supervisor, worked, agent2):
    ours, _theirs = worked
    response = client_for(supervisor).post(
        reverse("dashboards:case_reassign", args=[ours.pk]),
        {"agent": agent2.pk, "next": "https://evil.example/"},
    )
    assert response["Location"] == reverse("dashboards:home")


def test_bulk_reassign_previews_then_moves(supervisor, team_a, agent, agent2):
    for _ in range(3):
        open_case(team=team_a)
    c = client_for(supervisor)
    form = {"bucket": "M2", "agents": [agent2.pk], "reason": "Cover for a colleague"}
    preview = c.post(reverse("dashboards:team"), {**form, "preview": "1"})
    assert preview.context["preview"] == 3
    assert not Case.objects.filter(assigned_agent=agent2).exists()
    assert c.post(reverse("dashboards:team"), form).status_code == 302
    assert Case.objects.filter(assigned_agent=agent2).count() == 3


def test_agent_settings_form_sets_availability_and_queues(supervisor, team_a, agent):
    from tests.factories import QueueFactory

    queue = QueueFactory(name="A early", team=team_a)
    response = client_for(supervisor).post(
        reverse("dashboards:agent_settings", args=[agent.pk]),
        {f"a{agent.pk}-availability": "training", f"a{agent.pk}-note": "", f"a{agent.pk}-queues": [queue.pk]},
    )
    assert response.status_code == 302
    assert list(agent.work_queues.all()) == [queue]
    assert agent.agent_status.availability == "training"


def test_another_teams_agent_cannot_be_configured(supervisor, other_agent):
    response = client_for(supervisor).post(
        reverse("dashboards:agent_settings", args=[other_agent.pk]),
        {f"a{other_agent.pk}-availability": "off"},
    )
    assert response.status_code == 403


def test_home_shows_working_idle_and_offline(supervisor, team_a, agent, agent2):
    third = UserFactory(username="agent_a9", role="agent", team=team_a)
    working = open_case(team=team_a)
    now = timezone.now()
    Case.objects.filter(pk=working.pk).update(lease_owner=agent, lease_expires_at=now + timedelta(minutes=10))
    third.last_login = now - timedelta(minutes=5)
    third.save(update_fields=["last_login"])
    rows = {
        r.agent.pk: r.status
        for r in client_for(supervisor).get(reverse("dashboards:home")).context["data"].agents
    }
    assert rows[agent.pk] == "working"
    assert rows[third.pk] == "idle"
    assert rows[agent2.pk] == "offline"


def test_an_agents_last_activity_is_their_latest_call_today(supervisor, team_a, agent, agent2):
    case = open_case(team=team_a)
    day = date(2026, 5, 6)
    call(case, agent, at(day, 9, 0))
    latest = call(case, agent, at(day, 10, 30))
    call(case, agent2, at(day - timedelta(days=1), 17, 0))  # yesterday's: not today's activity
    with time_machine.travel(at(day, 10, 40), tick=False):
        rows = {
            r.agent.pk: r
            for r in client_for(supervisor).get(reverse("dashboards:home")).context["data"].agents
        }
    assert rows[agent.pk].last_activity == latest.started_at
    assert rows[agent.pk].status == "idle"  # called 10 minutes ago, holds no case
    assert rows[agent2.pk].last_activity is None
    assert rows[agent2.pk].status == "offline"


def test_release_a_stuck_lease_from_home(supervisor, team_a, agent):
    case = open_case(team=team_a)
    Case.objects.filter(pk=case.pk).update(
        lease_owner=agent, lease_expires_at=timezone.now() - timedelta(minutes=1)
    )
    home = client_for(supervisor).get(reverse("dashboards:home"))
    assert [c.pk for c in home.context["data"].stuck_leases] == [case.pk]
    client_for(supervisor).post(reverse("dashboards:lease_release", args=[case.pk]))
    assert Case.objects.get(pk=case.pk).lease_owner is None
    assert CaseEvent.objects.filter(case=case, kind=EventKind.ASSIGNMENT).exists()


def test_the_legal_dashboard_counts_cases_in_review_by_age(legal, supervisor, team_a):
    case = open_case(team=team_a)
    legal_services.legal_refer(case_id=case.pk, actor=supervisor, reason="Refuses to pay for months")
    data = client_for(legal).get(reverse("dashboards:legal")).context["data"]
    assert data.in_review == 1
    assert data.by_reason[0]["counts"][0] == 1


def test_the_period_defaults_to_the_last_30_days(supervisor):
    response = client_for(supervisor).get(reverse("dashboards:kpis"))
    period = response.context["period"]
    assert (period.end - period.start).days == 29 and period.end == bank_today()
    assert response.context["form"]["period"].value() == "30d"


def test_a_custom_period_longer_than_a_year_falls_back_to_the_default(supervisor):
    response = client_for(supervisor).get(
        reverse("dashboards:kpis"), {"period": "custom", "start": "2024-01-01", "end": date(2026, 1, 1)}
    )
    assert response.status_code == 200
    assert response.context["form"].errors
    assert (response.context["period"].end - response.context["period"].start).days == 29


@pytest.mark.parametrize("key", ["cure_cured", "cure_base", "open_start", "plans_active"])
def test_the_figures_that_are_not_day_sums_drill_down_too(supervisor, worked, key):
    response = client_for(supervisor).get(reverse("dashboards:drill", args=[key]), {"period": "30d"})
    assert response.status_code == 200
    assert csv_rows(
        client_for(supervisor).get(
            reverse("dashboards:drill", args=[key]), {"period": "30d", "export": "csv"}
        )
    )[0]
