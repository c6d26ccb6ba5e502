"""Where the history is read: the case page's Changes tab (the case's reach, personal values masked, a
fixed number of queries), the supervisors' search (by actor, period, kind and source), the admin's
per-object page."""

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from collections_app.models import Cardholder
from history import models as events
from history.context import command_context
from history.tracking import TRACKED
from tests.factories import ContactPointFactory, open_case

pytestmark = [pytest.mark.django_db, pytest.mark.postgres]

NATIONAL_ID = "110101199003071234"
NEW_NATIONAL_ID = "310104198512240021"
CASE_TAB_QUERIES = 11  # session, user, the case (as the case page loads it), 7 event tables, the actors


def _tab(client, case):
    return client.get(reverse("history:case_changes", args=[case.pk]), HTTP_HX_REQUEST="true")


def test_the_case_page_has_a_changes_tab_loaded_on_first_click(client, agent, worked_case):
    client.force_login(agent)

    page = client.get(reverse("case_detail", args=[worked_case.pk])).content.decode()

    url = reverse("history:case_changes", args=[worked_case.pk])
    assert f'hx-get="{url}"' in page and 'id="tab-changes"' in page and 'hx-trigger="click once"' in page


def test_the_changes_tab_shows_a_change_of_the_cardholder_masked(client, agent, worked_case):
    holder = worked_case.account.cardholder
    with command_context("shell"):
        Cardholder.objects.filter(pk=holder.pk).update(national_id=NEW_NATIONAL_ID, vulnerable=True)
    client.force_login(agent)

    html = _tab(client, worked_case).content.decode()

    assert "110***********1234" in html and "310***********0021" in html
    assert NATIONAL_ID not in html and NEW_NATIONAL_ID not in html
    assert "vulnerable customer" in html.lower()
    assert 'data-testid="case-changes"' in html


def test_the_changes_tab_lists_the_case_promises_and_contact_points_newest_first(client, agent, worked_case):
    client.force_login(agent)
    client.post(reverse("case_schedule_callback", args=[worked_case.pk]), {"at": "2026-06-03T15:00"})
    ContactPointFactory(cardholder=worked_case.account.cardholder, value="+8613911112222", is_primary=False)

    html = _tab(client, worked_case).content.decode()

    assert "139****2222" in html and "+8613911112222" not in html
    assert html.index("139****2222") < html.index("Next action")  # the newest first
    assert str(agent) in html
    assert "2026-06-03 15:00" in html  # the callback's new time, in the agent's (Beijing) time


def test_the_changes_tab_refuses_a_user_who_cannot_see_the_case(client, other_agent, worked_case):
    client.force_login(other_agent)

    assert _tab(client, worked_case).status_code == 404


def test_the_changes_tab_refuses_anonymous_users(client, worked_case):
    response = client.get(reverse("history:case_changes", args=[worked_case.pk]))

    assert response.status_code == 302 and "login" in response["Location"]


def test_the_changes_tab_costs_the_same_queries_for_a_long_history(client, agent, worked_case):
    client.force_login(agent)
    client.post(reverse("case_schedule_callback", args=[worked_case.pk]), {"at": "2026-06-03T15:00"})
    _tab(client, worked_case)  # warm the session
    with CaptureQueriesContext(connection) as short:
        _tab(client, worked_case)
    for i in range(15):
        ContactPointFactory(cardholder=worked_case.account.cardholder, is_primary=False, label=f"n{i}")
        client.post(
            reverse("case_schedule_callback", args=[worked_case.pk]), {"at": f"2026-06-0{3 + i % 5}T15:00"}
        )

    with CaptureQueriesContext(connection) as long:
        response = _tab(client, worked_case)

    assert response.status_code == 200
    assert len(short) == len(long) == CASE_TAB_QUERIES


def test_the_case_page_stays_within_its_budget_with_the_tab(client, agent, worked_case):
    client.force_login(agent)
    client.get(reverse("case_detail", args=[worked_case.pk]))

    with CaptureQueriesContext(connection) as queries:
        client.get(reverse("case_detail", args=[worked_case.pk]))

    assert len(queries) <= 12


def _search(client, **params):
    return client.get(reverse("history:search"), params)


def test_the_search_filters_by_actor(client, supervisor, agent, worked_case):
    client.force_login(agent)
    client.post(reverse("case_schedule_callback", args=[worked_case.pk]), {"at": "2026-06-03T15:00"})
    with command_context("shell"):
        Cardholder.objects.filter(pk=worked_case.account.cardholder_id).update(deceased=True)
    client.force_login(supervisor)

    by_agent = _search(client, actor=agent.pk)
    everyone = _search(client)

    assert by_agent.status_code == 200
    assert {c.actor for c in by_agent.context["changes"]} == {agent}
    assert {c.object_label for c in by_agent.context["changes"]} == {"case"}
    assert any(c.source == "shell" for c in everyone.context["changes"])


def test_the_search_filters_by_period_kind_and_source(client, supervisor, worked_case):
    holder = worked_case.account.cardholder
    with command_context("shell"):
        Cardholder.objects.filter(pk=holder.pk).update(deceased=True)
        Cardholder.objects.filter(pk=holder.pk).update(bankruptcy=True)
    old = (
        events.CardholderChange.objects.filter(pgh_obj_id=holder.pk, pgh_label="update")
        .order_by("pgh_id")
        .first()
    )
    events.CardholderChange.objects.filter(pk=old.pk).update(
        pgh_created_at=timezone.now() - timedelta(days=10)
    )
    client.force_login(supervisor)
    today = timezone.localdate()

    recent = _search(client, date_from=today - timedelta(days=1), kind="CardholderChange", source="shell")
    earlier = _search(client, date_to=today - timedelta(days=5), kind="CardholderChange")

    assert [c.id for c in recent.context["changes"]] != [] and all(
        c.id != f"CardholderChange:{old.pk}" for c in recent.context["changes"]
    )
    assert [c.id for c in earlier.context["changes"]] == [f"CardholderChange:{old.pk}"]
    assert [f.new for f in earlier.context["changes"][0].fields] == ["yes"]


def test_the_search_refuses_a_period_that_ends_before_it_starts(client, supervisor):
    client.force_login(supervisor)

    response = _search(client, date_from="2026-06-02", date_to="2026-06-01")

    assert response.context["changes"] is None
    assert "The period ends before it starts." in response.content.decode()


def test_the_search_is_for_supervisors_and_admins(client, agent, supervisor, admin_user):
    client.force_login(agent)
    assert _search(client).status_code == 403
    for user in (supervisor, admin_user):
        client.force_login(user)
        assert _search(client).status_code == 200


def test_the_search_is_in_the_supervisors_navigation(client, supervisor, agent):
    client.force_login(supervisor)
    assert reverse("history:search") in client.get(reverse("home"), follow=True).content.decode()
    client.force_login(agent)
    assert reverse("history:search") not in client.get(reverse("home"), follow=True).content.decode()


def test_the_search_pages(client, supervisor, team_a):
    cases = [open_case(team=team_a) for _ in range(30)]
    client.force_login(supervisor)

    first = _search(client, kind="CaseChange")
    second = _search(client, kind="CaseChange", page=2)

    assert first.context["page"].paginator.count >= 60  # opened and placed in the queue, each
    assert len(first.context["changes"]) == 50
    assert not {c.id for c in first.context["changes"]} & {c.id for c in second.context["changes"]}
    assert len(cases) == 30


def test_the_admin_history_page_lists_the_changes(client, admin_user, worked_case):
    holder = worked_case.account.cardholder
    with command_context("shell"):
        Cardholder.objects.filter(pk=holder.pk).update(national_id=NEW_NATIONAL_ID)
    client.force_login(admin_user)

    change_page = client.get(reverse("admin:collections_app_cardholder_change", args=[holder.pk]))
    response = client.get(reverse("admin:collections_app_cardholder_history", args=[holder.pk]))

    assert (
        reverse("admin:collections_app_cardholder_history", args=[holder.pk]) in change_page.content.decode()
    )

    html = response.content.decode()
    assert response.status_code == 200
    assert "History of changes" in html and 'data-testid="object-changes"' in html
    assert "310***********0021" in html and NEW_NATIONAL_ID not in html
    assert len(response.context["changes"]) == 2  # created, then the national ID changed


def test_the_admin_history_page_is_the_admins_only(client, supervisor, worked_case):
    client.force_login(supervisor)

    response = client.get(reverse("admin:collections_app_case_history", args=[worked_case.pk]))

    assert response.status_code in (302, 403)


def test_every_tracked_model_admin_shows_its_history_of_changes(client, admin_user, worked_case):
    client.force_login(admin_user)
    shown = []

    for model in TRACKED:
        obj = model._default_manager.order_by("pk").first()
        if obj is None:
            continue
        opts = model._meta
        response = client.get(reverse(f"admin:{opts.app_label}_{opts.model_name}_history", args=[obj.pk]))
        assert response.status_code == 200, opts.label
        assert "changes" in response.context and 'data-testid="object-changes"' in response.content.decode()
        shown.append(opts.label)

    assert {"collections_app.Case", "collections_app.Cardholder", "accounts.User"} <= set(shown)
    assert len(shown) >= 8
