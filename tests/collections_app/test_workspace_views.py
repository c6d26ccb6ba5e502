"""The agent workspace pages through the test client: rendering, actions, refusals, query budgets."""

from datetime import timedelta
from decimal import Decimal

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html

from collections_app import panels, selectors, services
from collections_app.models import Case, CaseEvent, CaseState, EventKind
from collections_app.services import queues
from repayment_plans import services as plan_services
from tests.collections_app.test_claim_across_queues import many_cases_like
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
        reverse("case_reveal", args=[worked_case.pk]),
        {"field": "national_id", "reason": "working_case"},
        HTTP_HX_REQUEST="true",
    )
    assert "110101199003071234" in response.content.decode()
    event = CaseEvent.objects.get(case=worked_case, kind=EventKind.PII_REVEAL)
    assert (event.actor, event.details["field"]) == (agent, "national_id")


def test_agent_not_working_the_case_cannot_reveal(client, team_a, worked_case):
    from tests.factories import UserFactory

    colleague = UserFactory(username="colleague", role="agent", team=team_a)
    client.force_login(colleague)
    response = client.post(
        reverse("case_reveal", args=[worked_case.pk]), {"field": "national_id", "reason": "working_case"}
    )
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


NO_ANSWER_FORM = {"channel": "outbound_call", "party_role": "debtor", "outcome": "no_answer"}


def test_a_contact_started_in_the_future_is_refused_on_the_page_as_in_the_api(client, agent, worked_case):
    client.force_login(agent)  # the agent's zone is Asia/Shanghai: 12:00 is two hours from now
    response = client.post(
        reverse("case_log_contact", args=[worked_case.pk]),
        {**NO_ANSWER_FORM, "started_at": "2026-06-02T12:00"},
        HTTP_HX_REQUEST="true",
    )
    html = response.content.decode()
    assert 'data-testid="refusal"' in html
    assert "A contact cannot start in the future." in html and "started_in_future" in html
    assert not worked_case.contact_attempts.exists()
    assert not CaseEvent.objects.filter(case=worked_case, kind=EventKind.POLICY_REFUSED).exists()


def test_a_contact_logged_afterwards_keeps_its_start_time(client, agent, worked_case):
    client.force_login(agent)
    response = client.post(
        reverse("case_log_contact", args=[worked_case.pk]),
        {**NO_ANSWER_FORM, "started_at": "2026-06-02T09:30"},
    )
    assert response.status_code == 302
    assert worked_case.contact_attempts.get().started_at.isoformat() == "2026-06-02T01:30:00+00:00"


def test_a_right_party_contact_without_a_reason_is_refused_by_the_service(client, agent, worked_case):
    client.force_login(agent)
    response = client.post(
        reverse("case_log_contact", args=[worked_case.pk]),
        {**NO_ANSWER_FORM, "outcome": "rpc", "recording_ref": "REC-1"},
        HTTP_HX_REQUEST="true",
    )
    html = response.content.decode()
    assert "A right-party contact needs the reason for delinquency." in html and "reason_required" in html
    assert not worked_case.contact_attempts.exists()
    agent.language = "zh-hans"  # the service's message is translated as the form's was
    agent.save(update_fields=["language"])
    response = client.post(
        reverse("case_log_contact", args=[worked_case.pk]),
        {**NO_ANSWER_FORM, "outcome": "rpc", "recording_ref": "REC-1"},
        HTTP_HX_REQUEST="true",
    )
    assert "本人联系须填写逾期原因。" in response.content.decode()


def test_a_duration_beyond_a_day_is_refused_not_a_server_error(client, agent, worked_case):
    client.force_login(agent)
    response = client.post(
        reverse("case_log_contact", args=[worked_case.pk]),
        {**NO_ANSWER_FORM, "duration_seconds": "3000000000"},  # beyond PostgreSQL's integer
        HTTP_HX_REQUEST="true",
    )
    assert response.status_code == 200
    assert "duration_too_long" in response.content.decode()
    assert not worked_case.contact_attempts.exists()


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
    # The callback's own decision (contactability.action_decision): the rule's sentence, then when.
    assert "Outside the contact window" in html
    assert "Allowed from" in html and "2026-06-03 08:00 Asia/Shanghai" in html
    ok = client.post(
        reverse("case_schedule_callback", args=[worked_case.pk]),
        {"at": "2026-06-02T15:30"},
        HTTP_HX_REQUEST="true",
    )
    assert ok.status_code == 200
    worked_case.refresh_from_db()
    assert worked_case.next_action_at.isoformat() == "2026-06-02T07:30:00+00:00"
    assert worked_case.assigned_agent == agent


def test_the_callback_form_reads_the_cardholders_time_not_the_agents(client, agent, team_a):
    # The agent works from London; the cardholder lives in Los Angeles (placed by the phone's area code).
    agent.time_zone = "Europe/London"
    agent.save(update_fields=["time_zone"])
    case = open_case(team=team_a, cardholder__jurisdiction="US", cardholder__time_zone="")
    ContactPointFactory(cardholder=case.account.cardholder, value="+12135550100")
    client.force_login(agent)
    response = client.post(
        reverse("case_schedule_callback", args=[case.pk]), {"at": "2026-06-03T15:00", "note": "After work"}
    )
    assert response.status_code == 302
    case.refresh_from_db()
    assert case.next_action_at.isoformat() == "2026-06-03T22:00:00+00:00"  # 15:00 PDT


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


def propose_plan(case, agent):
    """A draft plan inside an agent's limits: 1,200.00 in 12 monthly installments."""
    return plan_services.plan_propose(
        case_id=case.pk,
        actor=agent,
        data=plan_services.PlanInput(
            kind="installment",
            amount=Decimal("1200.00"),
            installments=12,
            first_due_date=case.opened_at.date() + timedelta(days=7),
        ),
    )


def test_case_page_query_count_does_not_grow_with_history(
    client, agent, worked_case, django_assert_num_queries
):
    client.force_login(agent)
    url = reverse("case_detail", args=[worked_case.pk])
    propose_plan(worked_case, agent)  # the plan panel (repayment_plans) is on the page, with its schedule
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
    # The promise and callback forms ask the contact policy what it would answer now, with the facts
    # the panel has read (tests/collections_app/test_case_page_queries.py lists them: 11 for a Chinese
    # cardholder, 12 where the policy also reads the debt's weekly calls, as in the US).
    with django_assert_num_queries(11):
        response = client.get(url)
    assert response.status_code == 200


# --- Panels other apps add to the case page (collections_app.panels) ---------------------------------


def test_the_case_page_shows_the_case_plan(client, agent, worked_case):
    """repayment_plans registers its panel from its AppConfig.ready(): the kernel does not import it."""
    propose_plan(worked_case, agent)
    client.force_login(agent)
    html = client.get(reverse("case_detail", args=[worked_case.pk])).content.decode()
    assert html.count('data-testid="case-plan"') == 1
    assert 'data-testid="plan-state"' in html
    assert html.count('data-testid="installment"') == 12


def test_registered_panels_are_rendered_in_the_case_body(client, agent, worked_case, monkeypatch):
    rendered = []

    def panel(request, case):
        rendered.append(case.pk)
        return format_html('<section data-testid="test-panel">{}</section>', case.reference)

    monkeypatch.setattr(panels, "_panels", {place: [] for place in panels.PLACES})
    panels.register_case_panel(panel)
    panels.register_case_panel(panel)  # registering twice adds it once
    client.force_login(agent)
    url = reverse("case_detail", args=[worked_case.pk])

    assert client.get(url).content.decode().count('data-testid="test-panel"') == 1
    body = client.post(
        reverse("case_add_note", args=[worked_case.pk]), {"text": "Called back"}, HTTP_HX_REQUEST="true"
    ).content.decode()
    assert 'id="case-body"' in body and 'data-testid="test-panel"' in body  # refreshed with the body
    timeline = client.get(url, {"fragment": "timeline"}, HTTP_HX_REQUEST="true").content.decode()
    assert "test-panel" not in timeline
    assert rendered == [worked_case.pk, worked_case.pk]  # not computed for the timeline fragment


def test_my_work_query_count_is_fixed(client, agent, team_a, django_assert_num_queries):
    for _ in range(15):
        case = open_case(team=team_a)
        services.callback_schedule(case_id=case.pk, actor=agent, at=case.opened_at + timedelta(hours=1))
    client.force_login(agent)
    # +1 since callbacks show the cardholder's clock: the policy profiles, read once for every callback;
    # the queues come with their counts and the header's team; the callbacks, the assigned cases and the
    # case held are one query (selectors._my_cases). Nothing is ready (every case waits for its
    # callback): the page asks why in a request of its own, after it is shown.
    with django_assert_num_queries(7):
        html = client.get(reverse("my_work")).content.decode()
    assert 'data-testid="held-back-slot"' in html and 'data-testid="passed-over"' not in html
    # That request: session and user, the agent's queues (named ones, else the team's), then two grouped
    # queries (claims.not_ready_summary).
    with django_assert_num_queries(6):
        held = client.get(reverse("my_work_held_back"), HTTP_HX_REQUEST="true").content.decode()
    assert 'data-testid="passed-over"' in held and "<html" not in held
    assert "15</strong>" in held  # the 15 cases waiting for their callback
    page = client.get(reverse("my_work_held_back")).content.decode()  # without HTMX: a page of its own
    assert "<html" in page and 'data-testid="passed-over"' in page


def test_my_work_with_cases_ready_does_not_ask_why_others_are_not(
    client, agent, team_a, django_assert_num_queries
):
    for _ in range(3):
        open_case(team=team_a)
    waiting = open_case(team=team_a)
    services.callback_schedule(case_id=waiting.pk, actor=agent, at=waiting.opened_at + timedelta(hours=1))
    client.force_login(agent)
    with django_assert_num_queries(7):
        html = client.get(reverse("my_work")).content.decode()
    assert 'data-testid="held-back-slot"' not in html  # cases are ready: nothing to explain
    line = selectors.my_work(agent).queues[0]
    assert (line.open_cases, line.ready_now) == (4, 3)


@pytest.mark.postgres
def test_my_work_counts_a_queue_up_to_its_cap_and_says_more(client, agent, team_a):
    cap = selectors.MY_WORK_COUNT_CAP
    assert cap == 200  # "200+": a day's work and more
    template = open_case(team=team_a)
    many_cases_like(template, cap + 100, [template.queue_id], callable_share=1_000_000)
    client.force_login(agent)
    line = selectors.my_work(agent).queues[0]
    assert (line.open_cases, line.ready_now) == (cap + 1, cap + 1)  # the cap, plus one: "more"
    html = client.get(reverse("my_work")).content.decode()
    assert '<td class="num">200+</td><td class="num">200+</td>' in html
    # Below the cap the figures are exact: 200 cases leased to colleagues leave 101 ready.
    Case.objects.filter(pk__in=Case.objects.order_by("pk").values("pk")[:cap]).update(
        lease_owner=agent, lease_expires_at=timezone.now() + timedelta(hours=1)
    )
    line = selectors.my_work(agent).queues[0]
    assert (line.open_shown, line.ready_shown) == ("200+", "101")


@pytest.mark.postgres
def test_my_work_reads_a_queues_ready_cases_from_the_index_in_its_order(agent, team_a):
    """With a LIMIT and a misestimate PostgreSQL scanned the whole case table for a queue with nothing
    ready (it hoped to stop early): 240 ms a queue at 1M accounts. Asked for the index's order, the count
    reads case_ready_queue_idx from its start - only the entries callable by now."""
    template = open_case(team=team_a)
    many_cases_like(template, 300, [template.queue_id])
    with connection.cursor() as cursor:
        cursor.execute(f"ANALYZE {Case._meta.db_table}")
    with CaptureQueriesContext(connection) as queries:
        selectors.my_work(agent)
    counts = next(q["sql"] for q in queries.captured_queries if "capped" in q["sql"])
    with connection.cursor() as cursor:
        # The test's few rows would be scanned whole; what is asked is that the index gives the order.
        for setting in ("enable_sort", "enable_incremental_sort", "enable_bitmapscan"):
            cursor.execute(f"SET LOCAL {setting} = off")
        cursor.execute("EXPLAIN " + counts.replace("%", "%%"))
        plan = "\n".join(row[0] for row in cursor.fetchall())
    assert "Index Scan using case_ready_queue_idx" in plan, plan


def test_queue_list_shows_cases_in_claim_order_with_their_reasons(
    client, agent, team_a, django_assert_num_queries
):
    low = open_case(team=team_a, days_past_due=10)
    high = open_case(team=team_a, days_past_due=90)
    for _ in range(10):
        open_case(team=team_a, days_past_due=20)
    queues.refresh_priorities()
    client.force_login(agent)
    url = reverse("queue_detail", args=[high.queue_id])
    with django_assert_num_queries(5):
        html = client.get(url).content.decode()
    assert html.index(high.reference) < html.index(low.reference)
    assert "Days past due +90" in html


def test_queue_list_of_another_team_shows_none_of_its_cases(client, other_agent, team_a):
    case = open_case(team=team_a)
    client.force_login(other_agent)
    html = client.get(reverse("queue_detail", args=[case.queue_id])).content.decode()
    assert case.reference not in html
