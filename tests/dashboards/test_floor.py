"""The supervisor floor (dashboards.floor, the Cases page): a filtered list of the team's cases, bulk actions
previewed first and then applied one case at a time through the single-case services, saved views.

Personas (tests/conftest.py): `supervisor` supervises team A; `agent` and `agent2` work team A's cases;
`other_agent` is in team B, whose cases the supervisor must not touch; `admin_user` sees every team."""

from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from collections_app import services
from collections_app.models import Case, CaseEvent, CaseState, EventKind
from core.exceptions import NotAllowed, ValidationFailed
from dashboards import floor
from tests.factories import AccountFactory, CardholderFactory, QueueFactory, UserFactory, open_case

pytestmark = pytest.mark.django_db


def many_cases(n: int, *, queue, **account_fields) -> list[int]:
    """`n` open cases in `queue`, built set-based: bulk inserts of cardholders and accounts, then the
    nightly opening service (one statement for all), then one UPDATE for the queue."""
    holders = CardholderFactory.build_batch(n)
    type(holders[0]).objects.bulk_create(holders, batch_size=2000)
    accounts = [AccountFactory.build(cardholder=h, **account_fields) for h in holders]
    type(accounts[0]).objects.bulk_create(accounts, batch_size=2000)
    opened = services.cases_open_for_delinquent_accounts(account_ids=[a.pk for a in accounts])
    assert opened == n
    cases = Case.objects.filter(account__in=accounts)
    cases.update(queue=queue)
    return list(cases.order_by("pk").values_list("pk", flat=True))


def queue_of(team):
    return QueueFactory(name=f"{team.name} queue", team=team)


def rows(response) -> list[str]:
    return [c.reference for c in response.context["page_obj"]]


def post_preview(client, **data):
    return client.post(reverse("dashboards:cases_preview"), {"scope": "selected", **data})


def post_apply(client, **data):
    return client.post(reverse("dashboards:cases_apply"), data)


# --- The list -----------------------------------------------------------------------------------------


def test_filters_narrow_the_list(client, team_a, team_b, agent, supervisor):
    m2 = open_case(team=team_a)
    m3 = open_case(team=team_a, days_past_due=75, bucket="M3", overdue_amount=Decimal("9000.00"))
    mine = open_case(team=team_a)
    Case.objects.filter(pk=mine.pk).update(assigned_agent=agent)
    held = open_case(team=team_a)
    services.case_hold(case_id=held.pk, actor=supervisor, reason="dispute", note="Says it is not his card")
    theirs = open_case(team=team_b)
    client.force_login(supervisor)
    url = reverse("dashboards:cases")

    everything = client.get(url)
    assert everything.status_code == 200
    assert set(rows(everything)) == {m2.reference, m3.reference, mine.reference, held.reference}
    assert theirs.reference not in everything.content.decode()  # another team's case is not listed
    assert set(rows(client.get(url, {"bucket": "M3"}))) == {m3.reference}
    assert set(rows(client.get(url, {"dpd_min": 60}))) == {m3.reference}
    assert set(rows(client.get(url, {"dpd_max": 60, "hold": "no", "agent": "none"}))) == {m2.reference}
    assert set(rows(client.get(url, {"agent": agent.pk}))) == {mine.reference}
    assert set(rows(client.get(url, {"hold": "yes"}))) == {held.reference}
    assert set(rows(client.get(url, {"q": mine.reference}))) == {mine.reference}
    assert set(rows(client.get(url, {"q": m3.account.cardholder.name}))) == {m3.reference}
    assert rows(client.get(url, {"sort": "amount"}))[0] == m3.reference
    # Closed cases show only when asked for.
    services.case_close(case_id=m2.pk, actor=supervisor, write_off=False, resolution_reason="paid_in_full")
    assert m2.reference not in rows(client.get(url))
    assert m2.reference in rows(client.get(url, {"state": "any"}))
    assert set(rows(client.get(url, {"state": "resolved"}))) == {m2.reference}


def test_the_list_costs_the_same_queries_whatever_the_page_size(client, team_a, agent, supervisor):
    queue = queue_of(team_a)
    client.force_login(supervisor)
    url = reverse("dashboards:cases")

    def count(per_page: int) -> int:
        with CaptureQueriesContext(connection) as queries:
            response = client.get(url, {"per_page": per_page})
        assert response.status_code == 200
        assert len(rows(response)) == min(per_page, Case.objects.count())
        return len(queries)

    many_cases(3, queue=queue)
    few = count(25)
    many_cases(197, queue=queue)
    assert count(25) == count(200) == few == 14


def test_agents_and_legal_get_403(client, agent, legal, team_a):
    case = open_case(team=team_a)
    for user in (agent, legal):
        client.force_login(user)
        assert client.get(reverse("dashboards:cases")).status_code == 403
        data = {"action": "hold", "hold_reason": "dispute", "reason": "x", "case": [case.pk]}
        assert post_preview(client, **data).status_code == 403
        assert post_apply(client, case_ids=str(case.pk), **data).status_code == 403
    assert not CaseEvent.objects.filter(case=case, kind=EventKind.HOLD).exists()


# --- Preview, then apply -------------------------------------------------------------------------------


def test_the_preview_lists_changes_and_skips_and_changes_nothing(client, team_a, agent, agent2, supervisor):
    li = open_case(team=team_a)
    Case.objects.filter(pk=li.pk).update(assigned_agent=agent, priority=50)
    nobody = open_case(team=team_a)
    already = open_case(team=team_a)
    Case.objects.filter(pk=already.pk).update(assigned_agent=agent2)
    closed = open_case(team=team_a)
    services.case_close(
        case_id=closed.pk, actor=supervisor, write_off=False, resolution_reason="paid_in_full"
    )
    client.force_login(supervisor)

    response = post_preview(
        client,
        action="reassign",
        agents=[agent2.pk],
        reason="Li is on leave",
        case=[li.pk, nobody.pk, already.pk, closed.pk],
    )
    assert response.status_code == 200
    plan = response.context["plan"]
    by_case = {r.case.pk: r for r in plan.rows}
    assert by_case[li.pk].change == f"Agent: {agent} → {agent2}"
    assert by_case[nobody.pk].change == f"Agent: nobody → {agent2}"
    assert by_case[already.pk].skip == f"already with {agent2}"
    assert by_case[closed.pk].skip == "closed"
    assert plan.rows[0].case.pk == li.pk  # highest priority first
    page = response.content.decode()
    assert f"Agent: {agent} → {agent2}" in page and "2 cases will change" in page
    assert not CaseEvent.objects.filter(kind=EventKind.ASSIGNMENT).exists()
    assert Case.objects.get(pk=li.pk).assigned_agent == agent


def test_confirm_changes_each_case_with_one_timeline_entry_and_a_rerun_skips_them(
    client, team_a, agent, agent2, supervisor
):
    cases = [open_case(team=team_a) for _ in range(3)]
    ids = [c.pk for c in cases]
    client.force_login(supervisor)
    data = {"action": "reassign", "agents": [agent.pk, agent2.pk], "reason": "Morning rebalance"}
    preview = post_preview(client, case=ids, **data)
    case_ids = preview.context["case_ids"]
    planned = {r.case.pk: r.target for r in preview.context["plan"].rows}

    result = post_apply(client, case_ids=case_ids, **data)
    assert result.status_code == 200
    assert "3 changed, 0 skipped." in result.content.decode()
    assert dict(Case.objects.filter(pk__in=ids).values_list("pk", "assigned_agent_id")) == planned
    assert set(planned.values()) == {agent.pk, agent2.pk}  # spread over both
    events = CaseEvent.objects.filter(kind=EventKind.ASSIGNMENT, reason="Morning rebalance")
    assert sorted(events.values_list("case_id", flat=True)) == sorted(ids)  # one each

    again = post_apply(client, case_ids=case_ids, **data)
    assert "0 changed, 3 skipped." in again.content.decode()
    assert events.count() == 3


def test_hold_in_bulk_skips_what_is_on_hold_and_records_the_reason(client, team_a, supervisor):
    free = open_case(team=team_a)
    held = open_case(team=team_a)
    services.case_hold(case_id=held.pk, actor=supervisor, reason="hardship", note="Lost job")
    client.force_login(supervisor)
    data = {"action": "hold", "hold_reason": "dispute", "reason": "Disputed in the complaint of 2 June"}

    preview = post_preview(client, case=[free.pk, held.pk], **data)
    by_case = {r.case.pk: r for r in preview.context["plan"].rows}
    assert by_case[free.pk].change == "Hold: none → Dispute"
    assert by_case[held.pk].skip == "already on hold"
    assert Case.objects.get(pk=free.pk).state != CaseState.ON_HOLD

    result = post_apply(client, case_ids=preview.context["case_ids"], **data)
    assert "1 changed, 1 skipped." in result.content.decode()
    assert Case.objects.get(pk=free.pk).state == CaseState.ON_HOLD
    event = CaseEvent.objects.get(case=free, kind=EventKind.HOLD)
    assert (event.actor, event.reason, event.details["hold_reason"]) == (
        supervisor,
        "Disputed in the complaint of 2 June",
        "dispute",
    )


def test_move_to_a_queue_in_bulk_writes_an_assignment_event_per_case(client, team_a, team_b, supervisor):
    early = queue_of(team_a)
    late = QueueFactory(name="A late", team=team_a)
    theirs = QueueFactory(name="B late", team=team_b)
    cases = [open_case(team=team_a) for _ in range(2)]
    client.force_login(supervisor)
    data = {"action": "queue", "to_queue": late.pk, "reason": "Late-stage team takes them"}

    preview = post_preview(client, case=[c.pk for c in cases], **data)
    assert [r.change for r in preview.context["plan"].rows] == [f"Queue: {early.name} → A late"] * 2
    result = post_apply(client, case_ids=preview.context["case_ids"], **data)
    assert "2 changed, 0 skipped." in result.content.decode()
    assert set(Case.objects.filter(pk__in=[c.pk for c in cases]).values_list("queue_id", flat=True)) == {
        late.pk
    }
    events = CaseEvent.objects.filter(kind=EventKind.ASSIGNMENT, reason="Late-stage team takes them")
    assert [e.details["to_queue"] for e in events] == [late.pk, late.pk]
    # Another team's queue is refused, in the preview and in the kernel.
    assert post_preview(client, case=[cases[0].pk], **{**data, "to_queue": theirs.pk}).status_code != 200
    with pytest.raises(NotAllowed):
        services.case_move_queue(case_id=cases[0].pk, actor=supervisor, queue_id=theirs.pk, reason="x")


def test_moving_a_case_to_its_own_queue_or_without_a_reason(team_a, supervisor, agent):
    queue = queue_of(team_a)
    case = open_case(team=team_a)
    services.case_move_queue(case_id=case.pk, actor=supervisor, queue_id=queue.pk, reason="again")
    assert not CaseEvent.objects.filter(case=case, kind=EventKind.ASSIGNMENT).exists()
    other = QueueFactory(name="A other", team=team_a)
    with pytest.raises(ValidationFailed):
        services.case_move_queue(case_id=case.pk, actor=supervisor, queue_id=other.pk, reason=" ")
    with pytest.raises(NotAllowed):
        services.case_move_queue(case_id=case.pk, actor=agent, queue_id=other.pk, reason="mine now")
    assert Case.objects.get(pk=case.pk).queue_id == queue.pk


def test_a_supervisor_cannot_touch_another_teams_cases(
    client, team_a, team_b, agent, other_agent, supervisor
):
    theirs = open_case(team=team_b)
    ours = open_case(team=team_a)
    client.force_login(supervisor)
    data = {"action": "hold", "hold_reason": "dispute", "reason": "x"}
    # Ticked by a forged form, or posted straight to the confirm step: not among the supervisor's cases.
    preview = post_preview(client, case=[theirs.pk, ours.pk], **data)
    assert [r.case.pk for r in preview.context["plan"].rows] == [ours.pk]
    result = post_apply(client, case_ids=f"{theirs.pk},{ours.pk}", **data)
    assert "1 changed, 1 skipped." in result.content.decode()
    assert "not among your team&#x27;s cases: 1" in result.content.decode()
    assert Case.objects.get(pk=theirs.pk).state != CaseState.ON_HOLD
    # Nor give the team's cases to another team's agent.
    refused = post_preview(client, case=[ours.pk], action="reassign", agents=[other_agent.pk], reason="x")
    assert refused.status_code in (302, 403)
    assert not CaseEvent.objects.filter(kind=EventKind.ASSIGNMENT).exists()


def test_every_bulk_action_needs_a_reason(client, team_a, supervisor):
    case = open_case(team=team_a)
    client.force_login(supervisor)
    response = post_preview(client, case=[case.pk], action="hold", hold_reason="dispute", reason="")
    assert response.status_code == 302
    with pytest.raises(ValidationFailed):
        floor.bulk_plan(
            actor=supervisor,
            request=floor.BulkRequest(action="hold", hold_reason="dispute", reason="  "),
            case_ids=[case.pk],
        )


def test_bulk_reassign_of_a_thousand_cases_previews_then_writes_a_thousand_timeline_entries(
    client, team_a, agent, agent2, supervisor
):
    ids = many_cases(1000, queue=queue_of(team_a))
    client.force_login(supervisor)
    data = {"action": "reassign", "agents": [agent.pk, agent2.pk], "reason": "Quarter-end rebalance"}

    preview = post_preview(client, scope="all", filter_query="bucket=M2", **data)
    assert preview.status_code == 200
    assert len(preview.context["plan"].changes) == 1000
    assert preview.content.decode().count('data-testid="preview-row"') == 1000
    assert not CaseEvent.objects.filter(kind=EventKind.ASSIGNMENT).exists()

    result = post_apply(client, case_ids=preview.context["case_ids"], **data)
    assert "1000 changed, 0 skipped." in result.content.decode()
    events = CaseEvent.objects.filter(kind=EventKind.ASSIGNMENT, reason="Quarter-end rebalance")
    assert events.count() == 1000
    assert set(events.values_list("case_id", flat=True)) == set(ids)
    owners = Case.objects.filter(pk__in=ids).values_list("assigned_agent_id", flat=True)
    assert sorted(set(owners)) == sorted([agent.pk, agent2.pk])


# --- Saved views ---------------------------------------------------------------------------------------


def test_saved_views_are_per_user(client, team_a, supervisor):
    colleague = UserFactory(username="sup_a2", role="supervisor", team=team_a)
    client.force_login(supervisor)
    saved = client.post(
        reverse("dashboards:saved_view_save"),
        {"page": "dashboards:cases", "query": "bucket=M3&page=4&agent=none", "name": "M3 unassigned"},
    )
    assert saved.status_code == 302
    assert saved["Location"] == reverse("dashboards:cases") + "?bucket=M3&agent=none"  # the page left out
    page = client.get(reverse("dashboards:cases"))
    assert [v.name for v, _url in page.context["saved"]["views"]] == ["M3 unassigned"]
    # Saved again under the same name: the filter is replaced, not a second view.
    client.post(
        reverse("dashboards:saved_view_save"),
        {"page": "dashboards:cases", "query": "bucket=M4", "name": "M3 unassigned"},
    )
    view = supervisor.saved_views.get()
    assert view.query == "bucket=M4"

    client.force_login(colleague)
    assert client.get(reverse("dashboards:cases")).context["saved"]["views"] == []
    assert client.post(reverse("dashboards:saved_view_delete", args=[view.pk])).status_code == 403
    assert supervisor.saved_views.count() == 1

    client.force_login(supervisor)
    assert client.post(reverse("dashboards:saved_view_delete", args=[view.pk])).status_code == 302
    assert not supervisor.saved_views.exists()


def test_the_kpi_page_loads_my_views_from_their_own_url(client, team_a, supervisor):
    client.force_login(supervisor)
    client.post(
        reverse("dashboards:saved_view_save"),
        {"page": "dashboards:kpis", "query": f"team={team_a.pk}&period=7d", "name": "Team A, week"},
    )
    kpis = client.get(reverse("dashboards:kpis")).content.decode()
    assert reverse("dashboards:saved_views") + "?for=dashboards:kpis" in kpis
    box = client.get(
        reverse("dashboards:saved_views"),
        {"for": "dashboards:kpis", "query": "period=30d"},
        HTTP_HX_REQUEST="true",
    )
    html = box.content.decode()
    assert "Team A, week" in html
    assert f"{reverse('dashboards:kpis')}?team={team_a.pk}&amp;period=7d" in html
    assert 'value="period=30d"' in html  # "Save this view" saves the page's current filter
    # The Cases page's views are not the KPI page's.
    assert client.get(reverse("dashboards:cases")).context["saved"]["views"] == []
