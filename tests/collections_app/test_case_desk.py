"""The case page laid out for speed (issue 17): the next best action in the header, one action bar whose
actions open in drawers (the refused or invalid one comes back open), and the record's tabs - payments
and promises, documents - loaded on their own, each also a page without JavaScript."""

from datetime import timedelta
from decimal import Decimal

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from accounts.models import Role
from collections_app import services
from collections_app.models import HoldReason
from collections_app.services import queues
from tests.collections_app.test_workspace_views import propose_plan
from tests.factories import ContactPointFactory, UserFactory, open_case

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("office_hours")]


@pytest.fixture
def worked_case(team_a, agent):
    case = open_case(team=team_a)
    ContactPointFactory(cardholder=case.account.cardholder, value="+8613812345678")
    queues.refresh_priorities()
    assert services.case_claim_next(actor=agent).case == case
    return case


def _page(client, case) -> str:
    return client.get(reverse("case_detail", args=[case.pk])).content.decode()


def _next_action(html: str) -> str:
    start = html.index('data-testid="next-action"')
    return html[start : html.index("</p>", start)]


def test_the_header_suggests_a_call_when_one_is_allowed(client, agent, worked_case):
    client.force_login(agent)
    action = _next_action(_page(client, worked_case))
    assert "Call the cardholder and ask for a promise to pay." in action
    assert 'data-drawer-open="drawer-contact"' in action


def test_a_hold_comes_first(client, agent, worked_case):
    services.case_hold(case_id=worked_case.pk, actor=agent, reason=HoldReason.DISPUTE, note="Disputed")
    client.force_login(agent)
    action = _next_action(_page(client, worked_case))
    assert "On hold (Dispute" in action and 'data-drawer-open="drawer-hold"' in action


def test_a_late_promise_asks_about_the_payment(client, agent, worked_case):
    services.contact_attempt_log(
        case_id=worked_case.pk,
        actor=agent,
        data=services.ContactInput(
            channel="inbound_call", outcome="ptp", delinquency_reason="job_loss", recording_ref="REC-1"
        ),
    )
    services.promise_record(
        case_id=worked_case.pk, actor=agent, amount=Decimal("100.00"), due_date=timezone.localdate()
    )
    client.force_login(agent)
    assert "A promise is pending: call to confirm the payment date." in _next_action(
        _page(client, worked_case)
    )
    with time_machine.travel(timezone.now() + timedelta(days=1, hours=1), tick=False):
        queues.refresh_priorities()
        client.force_login(agent)  # a new day's session
        action = _next_action(_page(client, worked_case))
    assert "The promised payment is late: call and ask about it." in action


def test_outside_the_window_the_header_suggests_a_callback(client, agent, worked_case):
    with time_machine.travel("2026-06-02 23:30 +0800", tick=False):
        client.force_login(agent)
        action = _next_action(_page(client, worked_case))
    assert "No call now (" in action and ".)" not in action
    assert 'data-drawer-open="drawer-callback"' in action


def test_every_action_is_in_the_bar_and_its_drawer_is_closed(client, agent, worked_case):
    client.force_login(agent)
    html = _page(client, worked_case)
    for key, drawer in [("c", "contact"), ("p", "promise"), ("b", "callback"), ("o", "note"), ("h", "hold")]:
        assert f'data-drawer-open="drawer-{drawer}" data-shortcut="{key}"' in html
        assert f'<section class="drawer" id="drawer-{drawer}" data-drawer>' in html


def test_the_calls_drawers_are_drawn_with_the_page_the_others_when_opened(client, agent, worked_case):
    """A form nobody opens costs the page nothing: the call's drawers (contact, promise, callback) come
    with the page; each other drawer holds a link to its form, fetched when first opened (HTMX) or
    followed without JavaScript."""
    client.force_login(agent)
    html = _page(client, worked_case)
    assert 'id="act-contact"' in html and 'id="act-promise"' in html and 'id="act-callback"' in html
    for drawer in ("note", "hold", "escalation"):
        url = reverse("case_drawer", args=[worked_case.pk, drawer])
        assert f'<a href="{url}" data-drawer-load>' in html, drawer
        fragment = client.get(url, HTTP_HX_REQUEST="true")
        assert fragment.status_code == 200
        assert "<form" in fragment.content.decode() and "<html" not in fragment.content.decode(), drawer
        # Without HTMX: the case page with that drawer drawn and open.
        plain = client.get(url)
        assert plain.status_code == 302 and plain.url.endswith(f"?drawer={drawer}#drawer-{drawer}")
        opened = client.get(plain.url.split("#")[0]).content.decode()
        assert f'<section class="drawer open" id="drawer-{drawer}" data-drawer>' in opened, drawer
        assert f'<a href="{url}" data-drawer-load>' not in opened, drawer
    assert 'id="act-note"' not in html and 'id="act-hold"' not in html and 'id="act-escalate"' not in html
    assert client.get(reverse("case_drawer", args=[worked_case.pk, "contact"])).status_code == 404
    assert client.get(reverse("case_drawer", args=[worked_case.pk, "bogus"])).status_code == 404


def test_the_state_drawer_is_drawn_when_opened(client, supervisor, worked_case):
    client.force_login(supervisor)
    html = _page(client, worked_case)
    url = reverse("case_drawer", args=[worked_case.pk, "state"])
    assert 'data-drawer-open="drawer-state"' in html and f'<a href="{url}" data-drawer-load>' in html
    assert 'class="transition-form"' not in html
    fragment = client.get(url, HTTP_HX_REQUEST="true").content.decode()
    assert 'class="transition-form"' in fragment and 'name="name" value="resolve"' in fragment


def test_a_drawer_of_a_case_out_of_reach_is_not_found(client, agent, worked_case):
    other_team_agent = UserFactory(role=Role.AGENT)
    client.force_login(other_team_agent)
    assert client.get(reverse("case_drawer", args=[worked_case.pk, "note"])).status_code == 404


def test_a_refused_action_comes_back_with_its_drawer_open(client, agent, worked_case):
    client.force_login(agent)
    response = client.post(
        reverse("case_record_promise", args=[worked_case.pk]),
        {"amount": "99999999", "due_date": timezone.localdate().isoformat()},
        HTTP_HX_REQUEST="true",
    )
    html = response.content.decode()
    assert '<section class="drawer open" id="drawer-promise" data-drawer>' in html
    assert '<section class="drawer" id="drawer-contact" data-drawer>' in html


def test_a_successful_action_comes_back_with_every_drawer_closed(client, agent, worked_case):
    client.force_login(agent)
    html = client.post(
        reverse("case_add_note", args=[worked_case.pk]), {"text": "Called back"}, HTTP_HX_REQUEST="true"
    ).content.decode()
    assert "Called back" in html
    assert "drawer open" not in html


def _history(client, case):
    with CaptureQueriesContext(connection) as queries:
        html = client.get(reverse("case_history", args=[case.pk]), HTTP_HX_REQUEST="true").content.decode()
    return html, len(queries)


def test_the_history_tab_lists_payments_and_promises_in_a_fixed_number_of_queries(client, agent, worked_case):
    client.force_login(agent)
    _html, empty_cost = _history(client, worked_case)
    account = worked_case.account
    for i in range(3):
        services.payment_record(
            account=account,
            external_ref=f"PAY-{i}",
            amount=Decimal("10.00"),
            paid_at=timezone.now() - timedelta(hours=i + 1),
        )
    services.contact_attempt_log(
        case_id=worked_case.pk,
        actor=agent,
        data=services.ContactInput(
            channel="inbound_call", outcome="ptp", delinquency_reason="job_loss", recording_ref="REC-1"
        ),
    )
    services.promise_record(
        case_id=worked_case.pk,
        actor=agent,
        amount=Decimal("250.00"),
        due_date=timezone.localdate() + timedelta(days=3),
    )
    html, cost = _history(client, worked_case)
    assert cost == empty_cost
    assert html.count('data-testid="history-payment"') == 3
    assert html.count('data-testid="history-promise"') == 1
    assert "CN¥250.00" in html and "CN¥10.00" in html
    assert "<html" not in html  # the fragment for the tab
    page = client.get(reverse("case_history", args=[worked_case.pk])).content.decode()
    assert "<html" in page and 'data-testid="case-history"' in page  # a page without JavaScript


def test_the_documents_tab_lists_the_plan_agreement(client, agent, worked_case):
    client.force_login(agent)
    empty = client.get(reverse("case_documents", args=[worked_case.pk]), HTTP_HX_REQUEST="true")
    assert "No document for this case yet." in empty.content.decode()
    plan = propose_plan(worked_case, agent)
    html = client.get(
        reverse("case_documents", args=[worked_case.pk]), HTTP_HX_REQUEST="true"
    ).content.decode()
    assert html.count('data-testid="case-document"') == 1
    assert reverse("plans:agreement", args=[plan.pk]) in html and "Repayment agreement" in html


def test_another_teams_agent_gets_neither_tab(client, other_agent, worked_case):
    client.force_login(other_agent)
    assert client.get(reverse("case_history", args=[worked_case.pk])).status_code == 404
    assert client.get(reverse("case_documents", args=[worked_case.pk])).status_code == 404
