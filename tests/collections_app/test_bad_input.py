"""Bad input on the pages gets a 4xx and a message, never a 500: a case that does not exist, a huge page
number, a NUL byte, dates in year 1 or 9999, a callback years ahead, a megabyte note, a body too big."""

from datetime import datetime, timedelta

import pytest
from django.urls import reverse

from collections_app import services
from collections_app.models import CaseEvent, EventKind
from collections_app.services import queues
from core.exceptions import ValidationFailed
from tests.factories import ContactPointFactory, open_case

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("office_hours")]

MISSING = 987_654_321
HUGE = 10**30

CASE_ACTIONS = [
    ("case_log_contact", {"channel": "outbound_call", "outcome": "no_answer", "party_role": "debtor"}),
    ("case_record_promise", {"amount": "10.00", "due_date": "2026-06-09"}),
    ("case_schedule_callback", {"at": "2026-06-03T10:00"}),
    ("case_add_note", {"text": "Called"}),
    ("case_hold", {"reason": "dispute", "note": "x"}),
    ("case_release_hold", {"note": "x"}),
    ("case_request_escalation", {"target": "supervisor", "reason": "x"}),
    ("case_transition", {"name": "escalate_to_legal", "reason": "x"}),
    ("case_reveal", {"field": "national_id", "reason": "working_case"}),
]


@pytest.fixture
def client(client):
    client.raise_request_exception = False  # a server error is a 500 answer to assert on, not a raise
    return client


@pytest.fixture
def worked_case(team_a, agent):
    case = open_case(team=team_a)
    ContactPointFactory(cardholder=case.account.cardholder, value="+8613812345678")
    queues.refresh_priorities()
    services.case_claim_next(actor=agent)
    return case


@pytest.mark.parametrize(("name", "data"), CASE_ACTIONS, ids=[name for name, _data in CASE_ACTIONS])
def test_an_action_on_a_case_that_does_not_exist_is_404(client, agent, name, data):
    client.force_login(agent)
    assert client.post(reverse(name, args=[MISSING]), data).status_code == 404


def test_an_action_on_a_case_of_another_team_is_404_and_writes_nothing(client, other_agent, worked_case):
    client.force_login(other_agent)
    response = client.post(reverse("case_add_note", args=[worked_case.pk]), {"text": "Not mine"})
    assert response.status_code == 404
    assert not CaseEvent.objects.filter(case=worked_case, kind=EventKind.NOTE).exists()


@pytest.mark.parametrize("page", [str(HUGE), "-5", "abc", "1e9"])
def test_case_page_with_any_timeline_page_number_answers(client, agent, worked_case, page):
    client.force_login(agent)
    assert client.get(reverse("case_detail", args=[worked_case.pk]), {"page": page}).status_code == 200


@pytest.mark.parametrize("page", [str(HUGE), "-5", "abc"])
def test_drill_down_with_any_page_number_answers(client, supervisor, page):
    client.force_login(supervisor)
    assert client.get(reverse("dashboards:drill", args=["attempts"]), {"page": page}).status_code == 200


@pytest.mark.parametrize("page", [str(HUGE), "-5", "abc"])
def test_legal_queue_and_approvals_with_any_page_number_answer(client, legal, supervisor, page):
    client.force_login(legal)
    assert client.get(reverse("legal:queue"), {"page": page}).status_code == 200
    client.force_login(supervisor)
    assert client.get(reverse("plans:approvals"), {"page": page}).status_code == 200


@pytest.mark.parametrize(
    ("start", "end"),
    [("0001-01-01", "9999-12-31"), ("0001-01-01", "0001-01-05"), ("9999-12-25", "9999-12-31")],
)
@pytest.mark.parametrize("url", ["dashboards:home", "dashboards:kpis", "dashboards:legal"])
def test_a_period_in_year_1_or_9999_is_a_form_error(client, admin_user, url, start, end):
    client.force_login(admin_user)
    response = client.get(reverse(url), {"period": "custom", "start": start, "end": end, "roll_month": start})
    assert response.status_code == 200
    assert "Give dates between 2000-01-01 and 2100-12-31." in response.content.decode()


def test_a_drill_down_over_year_9999_is_a_form_error(client, supervisor):
    client.force_login(supervisor)
    response = client.get(
        reverse("dashboards:drill", args=["attempts"]),
        {"period": "custom", "start": "9999-12-25", "end": "9999-12-31"},
    )
    assert response.status_code == 200
    assert "Give dates between" in response.content.decode()


def test_a_roll_month_in_year_1_shows_the_latest_month(client, supervisor):
    client.force_login(supervisor)
    assert client.get(reverse("dashboards:kpis"), {"roll_month": "0001-01-01"}).status_code == 200


def test_search_with_a_nul_byte_is_400_with_a_message(client, agent, worked_case):
    client.force_login(agent)
    response = client.get("/search/?q=a%00b")
    assert response.status_code == 400
    assert "A search cannot contain NUL characters." in response.content.decode()


def test_a_note_with_a_nul_byte_is_refused_beside_the_form(client, agent, worked_case):
    client.force_login(agent)
    response = client.post(reverse("case_add_note", args=[worked_case.pk]), {"text": "a\x00b"})
    assert response.status_code == 422
    assert not CaseEvent.objects.filter(case=worked_case, kind=EventKind.NOTE).exists()


@pytest.mark.parametrize("field", ["jurisdiction", "product", "bucket", "team", "sort", "period"])
def test_dashboard_filters_with_a_nul_byte_answer(client, supervisor, field):
    client.force_login(supervisor)
    assert client.get(f"{reverse('dashboards:kpis')}?{field}=a%00b").status_code == 200


# --- Callbacks: a horizon --------------------------------------------------------------------------


def test_a_callback_beyond_the_horizon_is_refused_naming_the_limit(agent, worked_case, settings):
    settings.COLLECTIONS_CALLBACK_HORIZON_DAYS = 90
    with pytest.raises(ValidationFailed) as refused:
        services.callback_schedule(case_id=worked_case.pk, actor=agent, at=datetime(2026, 9, 3, 10, 0))
    assert refused.value.rule == "callback_horizon"
    assert refused.value.field == "at"
    assert "90 days" in refused.value.message
    worked_case.refresh_from_db()
    assert worked_case.next_action_at is None or worked_case.next_action_at < datetime.fromisoformat(
        "2026-09-01T00:00+00:00"
    )


def test_a_callback_within_the_horizon_is_scheduled(agent, worked_case, settings):
    settings.COLLECTIONS_CALLBACK_HORIZON_DAYS = 90
    case = services.callback_schedule(case_id=worked_case.pk, actor=agent, at=datetime(2026, 8, 25, 10, 0))
    assert case.next_action_at.date().isoformat() == "2026-08-25"


def test_the_horizon_is_a_setting(agent, worked_case, settings):
    settings.COLLECTIONS_CALLBACK_HORIZON_DAYS = 1
    with pytest.raises(ValidationFailed, match="1 days"):
        services.callback_schedule(case_id=worked_case.pk, actor=agent, at=datetime(2026, 6, 5, 10, 0))


def test_the_case_page_refuses_a_callback_years_ahead_with_the_message(client, agent, worked_case):
    client.force_login(agent)
    response = client.post(
        reverse("case_schedule_callback", args=[worked_case.pk]), {"at": "2036-06-03T10:00"}
    )
    assert response.status_code == 422
    assert "A callback may be at most 90 days ahead." in response.content.decode()
    assert not CaseEvent.objects.filter(case=worked_case, kind=EventKind.CALLBACK).exists()


# --- Notes: a length limit -------------------------------------------------------------------------


def test_a_note_longer_than_the_limit_is_refused_by_the_service(agent, worked_case, settings):
    settings.COLLECTIONS_NOTE_MAX_LENGTH = 50
    with pytest.raises(ValidationFailed) as refused:
        services.note_add(case_id=worked_case.pk, actor=agent, text="x" * 51)
    assert (refused.value.rule, refused.value.field) == ("note_too_long", "text")
    assert "50 characters" in refused.value.message
    services.note_add(case_id=worked_case.pk, actor=agent, text="x" * 50)
    assert CaseEvent.objects.filter(case=worked_case, kind=EventKind.NOTE).count() == 1


def test_the_case_page_refuses_a_megabyte_note(client, agent, worked_case):
    client.force_login(agent)
    response = client.post(reverse("case_add_note", args=[worked_case.pk]), {"text": "x" * 1_000_000})
    assert response.status_code in (400, 413, 422)
    assert not CaseEvent.objects.filter(case=worked_case, kind=EventKind.NOTE).exists()


def test_the_case_page_refuses_a_note_over_the_limit_beside_the_form(client, agent, worked_case, settings):
    settings.COLLECTIONS_NOTE_MAX_LENGTH = 100
    client.force_login(agent)
    page = client.get(reverse("case_detail", args=[worked_case.pk])).content.decode()
    assert 'maxlength="100"' in page
    response = client.post(reverse("case_add_note", args=[worked_case.pk]), {"text": "x" * 101})
    assert response.status_code == 422
    assert "at most 100 characters" in response.content.decode()
    assert not CaseEvent.objects.filter(case=worked_case, kind=EventKind.NOTE).exists()


def test_a_form_body_over_the_upload_limit_is_400_not_500(client, agent, worked_case, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 10_000
    client.force_login(agent)
    response = client.post(reverse("case_add_note", args=[worked_case.pk]), {"text": "x" * 20_000})
    assert response.status_code == 400


def test_an_old_enough_callback_is_still_in_the_future_check(agent, worked_case):
    # The horizon does not replace the past check: a time already gone is refused as before.
    with pytest.raises(ValidationFailed) as refused:
        services.callback_schedule(
            case_id=worked_case.pk, actor=agent, at=datetime(2026, 6, 2, 9, 0) - timedelta(days=1)
        )
    assert refused.value.rule == "callback_in_past"
