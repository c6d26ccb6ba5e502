"""The admin pages of the collections app: only the admin role gets in, every list has a query budget
on a realistic portfolio, history is read-only, and case transitions go through the services.

Personas: admin_user (configures everything; the only role in /admin/), agent (works team A's cases;
refused the admin), supervisor (team A; refused the admin too)."""

from datetime import date

import pytest
import time_machine
from django.contrib import admin
from django.contrib.messages import get_messages
from django.db import transaction
from django.test import RequestFactory
from django.urls import reverse

from collections_app import services
from collections_app.models import (
    Cardholder,
    Case,
    CaseEvent,
    CaseHold,
    CaseState,
    ContactAttempt,
    ContactPoint,
    CreditAccount,
    EventKind,
    Payment,
    PromiseToPay,
    Queue,
)
from contact_policy.models import ContactPolicy
from legal import services as legal_services
from legal.models import LegalReferral
from tests.factories import open_case

pytestmark = [pytest.mark.django_db, pytest.mark.postgres]

NOW = "2026-06-01 10:00 +0800"
ALL_MODELS = [
    Cardholder,
    ContactPoint,
    CreditAccount,
    Queue,
    ContactPolicy,
    Case,
    CaseEvent,
    ContactAttempt,
    PromiseToPay,
    Payment,
    CaseHold,
    LegalReferral,
]
APPEND_ONLY = [CaseEvent, ContactAttempt, Payment, PromiseToPay, CaseHold, LegalReferral]
# Session and user (2), the page and its count(s), a filter's choices (queues, policies), a prefetch.
QUERY_BUDGET = 8


def changelist(model) -> str:
    return reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_changelist")


@pytest.fixture(scope="class")
def portfolio(django_db_setup, django_db_blocker):
    """A demo portfolio (every model has rows), rolled back after the class."""
    from demo.seed import seed_portfolio

    with django_db_blocker.unblock(), transaction.atomic():
        # A running clock: the demo history dates each step's writes by the wall-clock span it took.
        with time_machine.travel(NOW, tick=True):
            summary = seed_portfolio(cardholders=30, seed=3, today=date(2026, 6, 1), history_days=30)
        yield summary
        transaction.set_rollback(True)


class TestPagesOnAPortfolio:
    @pytest.mark.parametrize("model", ALL_MODELS, ids=lambda m: m._meta.model_name)
    def test_every_changelist_renders_within_its_query_budget(
        self, portfolio, client, admin_user, model, django_assert_max_num_queries
    ):
        assert model.objects.exists(), "the demo portfolio should fill every model"
        client.force_login(admin_user)
        with django_assert_max_num_queries(QUERY_BUDGET):
            response = client.get(changelist(model))
        assert response.status_code == 200

    @pytest.mark.parametrize(
        "query",
        ["?state__exact=in_progress", "?account__bucket__exact=M2&jurisdiction=CN", "?q=DEMO-0000001-CC1"],
    )
    def test_filtered_and_searched_case_lists_keep_the_budget(
        self, portfolio, client, admin_user, query, django_assert_max_num_queries
    ):
        client.force_login(admin_user)
        with django_assert_max_num_queries(QUERY_BUDGET):
            response = client.get(changelist(Case) + query)
        assert response.status_code == 200

    def test_case_page_shows_the_timeline_newest_first_read_only(
        self, portfolio, client, admin_user, django_assert_max_num_queries
    ):
        case = Case.objects.exclude(state=CaseState.NEW).order_by("pk").first()
        client.force_login(admin_user)
        with django_assert_max_num_queries(15):
            response = client.get(reverse("admin:collections_app_case_change", args=[case.pk]))
        assert response.status_code == 200
        page = response.content.decode()
        kinds = list(case.events.order_by("-created_at", "-id").values_list("kind", flat=True))
        shown = list(response.context["inline_admin_formsets"][0].formset.get_queryset())
        assert [event.kind for event in shown] == kinds[:50]
        assert 'name="state"' not in page  # read-only: no input for the protected FSM field
        assert 'name="_save"' not in page

    def test_lists_show_national_ids_and_phones_masked(self, portfolio, client, admin_user):
        holder = Cardholder.objects.order_by("external_ref").first()
        phone = holder.contact_points.get(is_primary=True, kind="phone").value
        client.force_login(admin_user)
        page = client.get(changelist(Cardholder) + f"?q={holder.external_ref}").content.decode()
        assert holder.external_ref in page
        assert holder.national_id not in page
        assert holder.national_id[-4:] in page
        assert phone not in page and phone[-4:] in page


@pytest.mark.parametrize("persona", ["agent", "supervisor"])
def test_other_roles_are_refused_the_collections_admin(client, request, persona):
    client.force_login(request.getfixturevalue(persona))
    response = client.get(changelist(Case))
    assert response.status_code == 302
    assert reverse("admin:login") in response["Location"]


@pytest.mark.parametrize("model", APPEND_ONLY, ids=lambda m: m._meta.model_name)
def test_history_records_cannot_be_added_changed_or_deleted(admin_user, model):
    request = RequestFactory().get("/")
    request.user = admin_user
    model_admin = admin.site._registry[model]
    assert model_admin.has_view_permission(request)
    assert not model_admin.has_add_permission(request)
    assert not model_admin.has_change_permission(request)
    assert not model_admin.has_delete_permission(request)


def test_a_contact_attempt_cannot_be_deleted_through_the_admin(client, admin_user, team_a, agent):
    case = open_case(team=team_a)
    attempt = services.contact_attempt_log(
        case_id=case.pk,
        actor=None,
        data=services.ContactInput(channel="letter", outcome="sent"),
    )
    client.force_login(admin_user)
    url = reverse("admin:collections_app_contactattempt_delete", args=[attempt.pk])
    assert client.post(url, {"post": "yes"}).status_code == 403
    assert ContactAttempt.objects.filter(pk=attempt.pk).exists()


def test_the_case_state_is_read_only_and_cases_are_not_added_in_the_admin(client, admin_user):
    case = open_case()
    client.force_login(admin_user)
    url = reverse("admin:collections_app_case_change", args=[case.pk])
    response = client.post(url, {"state": "resolved", "priority": 999})
    assert response.status_code == 403
    case.refresh_from_db()
    assert (case.state, case.priority) == (CaseState.NEW, 0)
    assert client.get(reverse("admin:collections_app_case_add")).status_code == 403


def _action(client, action: str, cases, **data):
    return client.post(
        changelist(Case),
        {"action": action, "_selected_action": [c.pk for c in cases], "confirm": "yes", **data},
        follow=True,
    )


def test_a_transition_action_first_asks_for_a_reason(client, admin_user):
    cases = [open_case(), open_case()]
    client.force_login(admin_user)
    response = client.post(
        changelist(Case), {"action": "start_work", "index": 0, "_selected_action": [c.pk for c in cases]}
    )
    assert response.status_code == 200
    assert "admin/collections_app/case_action.html" in [t.name for t in response.templates]
    page = response.content.decode()
    assert all(c.reference in page for c in cases)
    assert 'name="reason"' in page
    assert not CaseEvent.objects.filter(kind=EventKind.TRANSITION).exists()


def test_a_transition_action_without_a_reason_changes_nothing(client, admin_user):
    case = open_case()
    client.force_login(admin_user)
    response = _action(client, "start_work", [case], reason="  ")
    assert response.status_code == 200
    assert response.context["form"].errors["reason"]
    assert Case.objects.get(pk=case.pk).state == CaseState.NEW


def test_a_transition_action_reports_each_case_and_writes_events_only_for_the_allowed_one(
    client, admin_user, team_a, agent
):
    held = open_case(team=team_a)
    services.case_hold(case_id=held.pk, actor=agent, reason="hardship", note="Hardship review")
    fresh = open_case(team=team_a)
    events_before = {c.pk: CaseEvent.objects.filter(case=c).count() for c in (held, fresh)}
    client.force_login(admin_user)

    response = _action(client, "release_hold", [held, fresh], reason="Hardship documents checked")

    assert response.status_code == 200
    texts = [(m.level_tag, str(m)) for m in get_messages(response.wsgi_request)]
    assert ("success", f"Release the hold: done for 1 case(s): {held.reference}.") in texts
    refused = [text for level, text in texts if level == "warning"]
    assert len(refused) == 1 and fresh.reference in refused[0] and "cannot do 'release_hold'" in refused[0]
    assert Case.objects.get(pk=held.pk).state == CaseState.IN_PROGRESS
    released = CaseEvent.objects.get(case=held, kind=EventKind.HOLD_RELEASED)
    assert (released.actor, released.reason) == (admin_user, "Hardship documents checked")
    assert CaseEvent.objects.filter(case=held).count() == events_before[held.pk] + 1
    assert CaseEvent.objects.filter(case=fresh).count() == events_before[fresh.pk]
    assert Case.objects.get(pk=fresh.pk).state == CaseState.NEW


def test_resolving_needs_a_resolution_reason_and_records_it(client, admin_user):
    case = open_case()
    client.force_login(admin_user)
    response = _action(client, "resolve", [case], reason="Settled by phone")
    assert "resolution_reason" in response.context["form"].errors
    _action(client, "resolve", [case], reason="Settled by phone", resolution_reason="settled")
    case = Case.objects.get(pk=case.pk)
    assert (case.state, case.resolution_reason) == (CaseState.RESOLVED, "settled")
    event = CaseEvent.objects.get(case=case, kind=EventKind.RESOLVED)
    assert (event.actor, event.reason) == (admin_user, "Settled by phone")


def test_litigation_is_approved_with_the_court_reference(client, admin_user):
    case = open_case()
    legal_services.legal_refer(case_id=case.pk, actor=None, reason="M4 without contact")
    client.force_login(admin_user)
    _action(
        client, "approve_litigation", [case], reason="File complete", court_reference="(2026)沪0115民初1号"
    )
    assert Case.objects.get(pk=case.pk).state == CaseState.LITIGATION
    referral = LegalReferral.objects.get(case=case)
    assert (referral.decision, referral.court_reference) == ("litigation", "(2026)沪0115民初1号")


def test_an_unfiltered_big_list_takes_its_count_from_the_planner_estimate(monkeypatch):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from core.admin_tools import LargeTablePaginator

    open_case()
    open_case()
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE collections_app_caseevent")
    monkeypatch.setattr(LargeTablePaginator, "ESTIMATE_ABOVE", 0)  # the table here is tiny
    with CaptureQueriesContext(connection) as queries:
        assert LargeTablePaginator(CaseEvent.objects.all(), 100).count == 2
    assert "COUNT" not in queries[0]["sql"].upper() and "reltuples" in queries[0]["sql"]
    with CaptureQueriesContext(connection) as queries:
        assert LargeTablePaginator(CaseEvent.objects.filter(kind=EventKind.PROMISE), 100).count == 0
    assert "COUNT" in queries[0]["sql"].upper()
