"""The agent workspace pages through the test client: rendering, actions, refusals, query budgets."""

from datetime import timedelta
from decimal import Decimal

import pytest
import time_machine
from django.urls import reverse

from collections_app import services
from collections_app.models import CaseEvent, CaseState, EventKind
from collections_app.services import queues
from tests.factories import ContactPointFactory, open_case

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("office_hours")]


@pytest.fixture
def worked_case(team_a, agent):
    case = open_case(team=team_a)
    ContactPointFactory(cardholder=case.account.cardholder, value="+8613812345678")
    queues.refresh_priorities()
    services.case_claim_next(actor=agent)
    return case


def test_my_work_shows_queues_and_next_case_button(client, agent, worked_case):
    client.force_login(agent)
    html = client.get(reverse("my_work")).content.decode()
    assert "Team A queue" in html
    assert 'data-testid="next-case"' in html
    assert worked_case.reference in html


def test_next_case_redirects_to_the_claimed_case(client, agent, team_a):
    case = open_case(team=team_a)
    client.force_login(agent)
    response = client.post(reverse("next_case"))
    assert response["Location"] == reverse("case_detail", args=[case.pk])


def test_next_case_with_nothing_to_do_says_so(client, agent, team_a):
    open_case(team=team_a, cardholder__do_not_contact=True)
    client.force_login(agent)
    response = client.post(reverse("next_case"), follow=True)
    html = response.content.decode()
    assert "No case in your queues can be worked right now" in html
    assert "do-not-contact" in html


def test_case_page_masks_personal_data(client, agent, worked_case):
    client.force_login(agent)
    html = client.get(reverse("case_detail", args=[worked_case.pk])).content.decode()
    assert "110***********1234" in html
    assert "110101199003071234" not in html
    assert "+86138****5678" in html
    assert "+8613812345678" not in html


def test_reveal_returns_the_value_and_logs_it(client, agent, worked_case):
    client.force_login(agent)
    response = client.post(
        reverse("case_reveal", args=[worked_case.pk]), {"field": "national_id"}, HTTP_HX_REQUEST="true"
    )
    assert "110101199003071234" in response.content.decode()
    event = CaseEvent.objects.get(case=worked_case, kind=EventKind.PII_REVEAL)
    assert (event.actor, event.details["field"]) == (agent, "national_id")


def test_agent_not_working_the_case_cannot_reveal(client, team_a, worked_case):
    from tests.factories import UserFactory

    colleague = UserFactory(username="colleague", role="agent", team=team_a)
    client.force_login(colleague)
    response = client.post(reverse("case_reveal", args=[worked_case.pk]), {"field": "national_id"})
    assert response.status_code == 403
    assert not CaseEvent.objects.filter(kind=EventKind.PII_REVEAL).exists()


def test_log_contact_with_htmx_returns_the_updated_case_body(client, agent, worked_case):
    client.force_login(agent)
    point = worked_case.account.cardholder.contact_points.get()
    response = client.post(
        reverse("case_log_contact", args=[worked_case.pk]),
        {
            "channel": "outbound_call",
            "contact_point": point.pk,
            "party_role": "debtor",
            "outcome": "ptp",
            "delinquency_reason": "job_loss",
            "duration_seconds": "120",
            "recording_ref": "REC-1",
        },
        HTTP_HX_REQUEST="true",
    )
    html = response.content.decode()
    assert response.status_code == 200
    assert 'id="case-body"' in html and "<html" not in html
    assert worked_case.contact_attempts.count() == 1


def test_refused_contact_shows_the_rule_and_when_it_is_allowed(client, agent, worked_case):
    client.force_login(agent)
    point = worked_case.account.cardholder.contact_points.get()
    with time_machine.travel("2026-06-02 07:30 +0800", tick=False):
        response = client.post(
            reverse("case_log_contact", args=[worked_case.pk]),
            {
                "channel": "outbound_call",
                "contact_point": point.pk,
                "party_role": "debtor",
                "outcome": "no_answer",
            },
            HTTP_HX_REQUEST="true",
        )
    html = response.content.decode()
    assert 'data-testid="refusal"' in html
    assert "contact_window" in html
    assert "06-02 08:00" in html
    assert not worked_case.contact_attempts.exists()
    assert CaseEvent.objects.filter(case=worked_case, kind=EventKind.POLICY_REFUSED).count() == 1


def test_promise_form_refuses_an_amount_above_the_balance(client, agent, worked_case):
    client.force_login(agent)
    response = client.post(
        reverse("case_record_promise", args=[worked_case.pk]),
        {"amount": "99999.00", "due_date": "2026-06-05"},
        HTTP_HX_REQUEST="true",
    )
    assert "above the balance" in response.content.decode()
    assert not worked_case.promises.exists()


def test_promise_without_javascript_redirects_back_to_the_case(client, agent, worked_case):
    client.force_login(agent)
    response = client.post(
        reverse("case_record_promise", args=[worked_case.pk]), {"amount": "500.00", "due_date": "2026-06-05"}
    )
    assert response.status_code == 302
    worked_case.refresh_from_db()
    assert worked_case.state == CaseState.PROMISED


def test_callback_outside_the_window_says_when_it_opens(client, agent, worked_case):
    client.force_login(agent)
    response = client.post(
        reverse("case_schedule_callback", args=[worked_case.pk]),
        {"at": "2026-06-02T23:00"},
        HTTP_HX_REQUEST="true",
    )
    html = response.content.decode()
    assert "The window opens at 2026-06-03 08:00" in html
    ok = client.post(
        reverse("case_schedule_callback", args=[worked_case.pk]),
        {"at": "2026-06-02T15:30"},
        HTTP_HX_REQUEST="true",
    )
    assert ok.status_code == 200
    worked_case.refresh_from_db()
    assert worked_case.next_action_at.isoformat() == "2026-06-02T07:30:00+00:00"
    assert worked_case.assigned_agent == agent


def test_other_team_cannot_open_the_case(client, other_agent, worked_case):
    client.force_login(other_agent)
    assert client.get(reverse("case_detail", args=[worked_case.pk])).status_code == 404
    response = client.post(reverse("case_add_note", args=[worked_case.pk]), {"text": "x"})
    assert response.status_code == 404


def test_anonymous_is_sent_to_login(client, worked_case):
    response = client.get(reverse("case_detail", args=[worked_case.pk]))
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]


def test_search_by_last_four_digits_is_scoped_and_masked(client, agent, other_agent, worked_case):
    client.force_login(agent)
    html = client.get(reverse("search"), {"q": "5678"}).content.decode()
    assert worked_case.reference in html
    client.force_login(other_agent)
    assert worked_case.reference not in client.get(reverse("search"), {"q": "5678"}).content.decode()


def test_case_page_query_count_does_not_grow_with_history(
    client, agent, worked_case, django_assert_max_num_queries
):
    client.force_login(agent)
    url = reverse("case_detail", args=[worked_case.pk])
    client.get(url)
    for i in range(40):
        services.note_add(case_id=worked_case.pk, actor=agent, text=f"note {i}")
    for i in range(5):
        services.promise_record(
            case_id=worked_case.pk,
            actor=agent,
            amount=Decimal("10.00") + i,
            due_date=worked_case.opened_at.date() + timedelta(days=3),
        )
    with django_assert_max_num_queries(30):
        response = client.get(url)
    assert response.status_code == 200


def test_my_work_query_count_is_fixed(client, agent, team_a, django_assert_max_num_queries):
    for _ in range(15):
        case = open_case(team=team_a)
        services.callback_schedule(case_id=case.pk, actor=agent, at=case.opened_at + timedelta(hours=1))
    client.force_login(agent)
    with django_assert_max_num_queries(20):
        assert client.get(reverse("my_work")).status_code == 200


def test_queue_list_shows_cases_in_claim_order_with_their_reasons(
    client, agent, team_a, django_assert_max_num_queries
):
    low = open_case(team=team_a, days_past_due=10)
    high = open_case(team=team_a, days_past_due=90)
    for _ in range(10):
        open_case(team=team_a, days_past_due=20)
    queues.refresh_priorities()
    client.force_login(agent)
    url = reverse("queue_detail", args=[high.queue_id])
    with django_assert_max_num_queries(12):
        html = client.get(url).content.decode()
    assert html.index(high.reference) < html.index(low.reference)
    assert "Days past due +90" in html


def test_queue_list_of_another_team_shows_none_of_its_cases(client, other_agent, team_a):
    case = open_case(team=team_a)
    client.force_login(other_agent)
    html = client.get(reverse("queue_detail", args=[case.queue_id])).content.decode()
    assert case.reference not in html
