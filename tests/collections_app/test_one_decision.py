"""One contact-policy decision for every action (contactability.action_decision): a promise is judged as
the conversation it is made in, a callback as the call it will be at its time (the whole decision, not
only the window), and the case page, the API and the service give the same answer - the page before
submission too. The agent works from London so that the cardholder's clock and the agent's differ."""

import re
from datetime import datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.urls import reverse
from django.utils import timezone

from collections_app import services
from collections_app.models import CaseState, EventKind, PromiseToPay
from collections_app.services import contactability
from core.exceptions import ContactNotAllowed
from tests.api.conftest import client_for
from tests.factories import ContactPointFactory, open_case

pytestmark = pytest.mark.django_db

UTC = ZoneInfo("UTC")
BEIJING_MORNING = "2026-06-02 10:00 +0800"
BEIJING_NIGHT = "2026-06-02 22:30 +0800"  # the China window (08:00-22:00) is closed
NEXT_BEIJING_0800 = datetime(2026, 6, 3, 0, 0, tzinfo=UTC)
PROMISE = {"amount": "500.00", "due_date": "2026-06-10"}
# US, New York: a right-party conversation on Tuesday 2 June 10:00 (day 1 of the 7-day waiting period),
# so calls resume at midnight starting Tuesday 9 June, and the window (08:00-21:00) opens at 08:00.
NY = {"cardholder__jurisdiction": "US", "cardholder__time_zone": "America/New_York"}
NY_CONVERSATION = "2026-06-02 10:00 -0400"
NY_QUIET_ENDS_IN_WINDOW = datetime(2026, 6, 9, 12, 0, tzinfo=UTC)  # 08:00 in New York


@pytest.fixture
def london_agent(agent):
    agent.time_zone = "Europe/London"
    agent.save(update_fields=["time_zone"])
    return agent


@pytest.fixture
def clock():
    with time_machine.travel(BEIJING_MORNING, tick=False) as traveller:
        yield traveller


@pytest.fixture
def cn_case(team_a, london_agent, clock):
    """A Beijing cardholder's case the agent is working (claimed and started in office hours)."""
    case = open_case(team=team_a)
    ContactPointFactory(cardholder=case.account.cardholder)
    assert services.case_claim_next(actor=london_agent).case == case
    services.case_transition(case_id=case.pk, name="start_work", actor=london_agent)
    return case


@pytest.fixture
def ny_case_after_conversation(team_a, london_agent, clock):
    """A New York cardholder reached on a call we placed: the US waiting period runs."""
    case = open_case(team=team_a, **NY)
    point = ContactPointFactory(cardholder=case.account.cardholder, value="+12125550123")
    clock.move_to(NY_CONVERSATION)
    services.contact_attempt_log(
        case_id=case.pk,
        actor=london_agent,
        data=services.ContactInput(
            channel="outbound_call", outcome="rpc", contact_point_id=point.pk, delinquency_reason="job_loss"
        ),
    )
    clock.move_to("2026-06-02 11:00 -0400")
    return case


def text_of(html: str, start: str, end: str = "</form>") -> str:
    begin = html.index(start)
    return " ".join(re.sub(r"<[^>]+>", " ", html[begin : html.index(end, begin)]).split())


def api_url(case, action: str) -> str:
    return f"/api/v1/cases/{case.pk}/{action}/"


# --- A promise is a conversation: window, flags and holds ----------------------------------------------


def test_a_promise_while_the_window_is_closed_is_refused_until_it_opens(cn_case, london_agent, clock):
    clock.move_to(BEIJING_NIGHT)

    with pytest.raises(ContactNotAllowed) as refused:
        services.promise_record(
            case_id=cn_case.pk, actor=london_agent, amount=Decimal("500.00"), due_date=timezone.localdate()
        )

    assert refused.value.rule == "contact_window"
    assert refused.value.allowed_from == NEXT_BEIJING_0800
    # When, on the cardholder's clock and on the agent's own (London, 01:00 the same night).
    assert "Allowed from 2026-06-03 08:00 Asia/Shanghai (UTC+08:00)" in refused.value.message
    assert "(your time: 2026-06-03 01:00 Europe/London)" in refused.value.message
    assert not PromiseToPay.objects.exists()
    cn_case.refresh_from_db()
    assert cn_case.state == CaseState.IN_PROGRESS


def test_a_promise_inside_the_window_is_recorded(cn_case, london_agent, clock):
    clock.move_to("2026-06-02 21:59 +0800")

    services.promise_record(
        case_id=cn_case.pk, actor=london_agent, amount=Decimal("500.00"), due_date=timezone.localdate()
    )

    cn_case.refresh_from_db()
    assert cn_case.state == CaseState.PROMISED


def test_a_promise_on_a_do_not_contact_cardholder_is_refused_without_a_time(cn_case, london_agent):
    holder = cn_case.account.cardholder
    holder.do_not_contact = True
    holder.save(update_fields=["do_not_contact"])

    with pytest.raises(ContactNotAllowed) as refused:
        services.promise_record(
            case_id=cn_case.pk, actor=london_agent, amount=Decimal("500.00"), due_date=timezone.localdate()
        )

    assert (refused.value.rule, refused.value.allowed_from) == ("do_not_contact", None)


def test_the_page_refuses_a_promise_at_night_and_records_it_in_the_morning(
    client, cn_case, london_agent, clock
):
    url = reverse("case_record_promise", args=[cn_case.pk])
    clock.move_to(BEIJING_NIGHT)
    client.force_login(london_agent)  # a session lasts a working day

    night = client.post(url, PROMISE, HTTP_HX_REQUEST="true")

    refusal = text_of(night.content.decode(), 'data-testid="refusal"', "</div>\n</div>")
    assert "Outside the contact window" in refusal
    assert "Allowed from 2026-06-03 08:00 Asia/Shanghai (UTC+08:00)" in refusal
    assert "your time" in refusal and "01:00" in refusal
    assert not PromiseToPay.objects.exists()

    clock.move_to("2026-06-03 08:00 +0800")
    client.force_login(london_agent)
    assert client.post(url, PROMISE).status_code == 302
    assert PromiseToPay.objects.filter(case=cn_case).count() == 1


def test_the_api_refuses_a_promise_at_night_with_the_rule_and_when(cn_case, london_agent, clock):
    api = client_for(london_agent)
    clock.move_to(BEIJING_NIGHT)

    night = api.post(api_url(cn_case, "promises"), PROMISE)

    assert night.status_code == 422
    body = night.json()
    assert (body["code"], body["rule"]) == ("contact_not_allowed", "contact_window")
    assert datetime.fromisoformat(body["allowed_from"]) == NEXT_BEIJING_0800
    assert "2026-06-03 08:00 Asia/Shanghai" in body["message"]

    clock.move_to("2026-06-03 08:00 +0800")
    assert api.post(api_url(cn_case, "promises"), PROMISE).status_code == 201


def test_a_promise_made_on_the_cardholders_own_call_at_night_is_recorded(
    client, cn_case, london_agent, clock
):
    # The cardholder rings at 22:30: the call may be taken and logged, and what was promised in it too.
    clock.move_to(BEIJING_NIGHT)
    inbound = services.contact_attempt_log(
        case_id=cn_case.pk,
        actor=london_agent,
        data=services.ContactInput(
            channel="inbound_call", outcome="ptp", delinquency_reason="job_loss", recording_ref="REC-1"
        ),
    )
    api = client_for(london_agent)

    by_api = api.post(api_url(cn_case, "promises"), {**PROMISE, "contact_attempt": inbound.pk})
    assert by_api.status_code == 201, by_api.json()

    # The page offers the call as the conversation the promise was made in, chosen already.
    client.force_login(london_agent)
    page = client.get(reverse("case_detail", args=[cn_case.pk])).content.decode()
    form = page[page.index('id="act-promise"') : page.index("</form>", page.index('id="act-promise"'))]
    assert re.search(rf'<option value="{inbound.pk}" selected>', form)
    assert "Not allowed now" not in form
    posted = client.post(
        reverse("case_record_promise", args=[cn_case.pk]), {**PROMISE, "contact_attempt": inbound.pk}
    )
    assert posted.status_code == 302
    assert PromiseToPay.objects.filter(case=cn_case, contact_attempt=inbound).count() == 2


def test_a_promise_right_after_a_us_conversation_is_not_held_to_its_waiting_period(
    ny_case_after_conversation, london_agent
):
    # The conversation it was made in starts the 7-day waiting period; the promise is not another call.
    promise = services.promise_record(
        case_id=ny_case_after_conversation.pk,
        actor=london_agent,
        amount=Decimal("100.00"),
        due_date=timezone.localdate(),
    )
    assert promise.pk is not None


# --- A callback is the call it will be: the whole decision at its time -----------------------------------


def test_a_callback_inside_the_us_waiting_period_is_refused_until_it_ends(
    ny_case_after_conversation, london_agent
):
    case = ny_case_after_conversation

    with pytest.raises(ContactNotAllowed) as refused:
        services.callback_schedule(case_id=case.pk, actor=london_agent, at=datetime(2026, 6, 5, 15, 0))

    assert refused.value.rule == "quiet_after_conversation"
    assert refused.value.allowed_from == NY_QUIET_ENDS_IN_WINDOW
    assert "Allowed from 2026-06-09 08:00 America/New_York (UTC-04:00)" in refused.value.message
    assert "(your time: 2026-06-09 13:00 Europe/London)" in refused.value.message
    case.refresh_from_db()
    assert case.next_action_at is None
    assert not case.events.filter(kind=EventKind.CALLBACK).exists()


def test_a_callback_after_the_us_waiting_period_is_scheduled(ny_case_after_conversation, london_agent):
    case = ny_case_after_conversation

    services.callback_schedule(case_id=case.pk, actor=london_agent, at=datetime(2026, 6, 9, 15, 0))

    case.refresh_from_db()
    assert case.next_action_at == datetime(2026, 6, 9, 19, 0, tzinfo=UTC)


def test_the_page_refuses_a_callback_in_the_waiting_period(client, ny_case_after_conversation, london_agent):
    case = ny_case_after_conversation
    client.force_login(london_agent)
    url = reverse("case_schedule_callback", args=[case.pk])

    refused = client.post(url, {"at": "2026-06-05T15:00"}, HTTP_HX_REQUEST="true")

    refusal = text_of(refused.content.decode(), 'data-testid="refusal"', "</div>\n</div>")
    assert "A telephone conversation on 2026-06-02: no calls for 7 days" in refusal
    assert "your time" in refusal and "13:00" in refusal
    assert "Allowed from 2026-06-09 08:00 America/New_York (UTC-04:00)" in refusal
    case.refresh_from_db()
    assert case.next_action_at is None

    assert client.post(url, {"at": "2026-06-09T15:00"}).status_code == 302
    case.refresh_from_db()
    assert case.next_action_at == datetime(2026, 6, 9, 19, 0, tzinfo=UTC)


def test_the_api_refuses_a_callback_in_the_waiting_period(ny_case_after_conversation, london_agent):
    case = ny_case_after_conversation
    api = client_for(london_agent)

    refused = api.post(api_url(case, "callback"), {"at": "2026-06-05T15:00"})

    assert refused.status_code == 422
    body = refused.json()
    assert (body["code"], body["rule"]) == ("contact_not_allowed", "quiet_after_conversation")
    assert datetime.fromisoformat(body["allowed_from"]) == NY_QUIET_ENDS_IN_WINDOW
    assert api.post(api_url(case, "callback"), {"at": "2026-06-09T15:00"}).status_code == 200


def test_the_callback_decision_is_the_engines_for_a_call_at_that_time(ny_case_after_conversation):
    # The same question Next case and a logged call ask (`decide`), asked for the callback's time.
    case = ny_case_after_conversation
    at = datetime(2026, 6, 5, 19, 0, tzinfo=UTC)
    callback = contactability.action_decision(case=case, action=contactability.Action.CALLBACK, at=at)
    call = contactability.decide(
        case=case, channel="outbound_call", now=at, contact_point=contactability.primary_phone(case)
    )
    assert (callback.allowed, callback.rule, callback.allowed_from) == (
        False,
        "quiet_after_conversation",
        NY_QUIET_ENDS_IN_WINDOW,
    )
    assert (call.rule, call.allowed_from) == (callback.rule, callback.allowed_from)


# --- The page says so before submission ------------------------------------------------------------------


def test_the_case_page_says_when_the_forms_are_allowed_while_the_window_is_closed(
    client, cn_case, london_agent, clock
):
    clock.move_to(BEIJING_NIGHT)
    client.force_login(london_agent)

    html = client.get(reverse("case_detail", args=[cn_case.pk])).content.decode()

    for form_id in ("act-promise", "act-callback", "act-contact"):
        form = text_of(html, f'id="{form_id}"')
        assert "Not allowed now:" in form, form_id
        assert "Allowed from 2026-06-03 08:00 Asia/Shanghai (UTC+08:00)" in form, form_id
        assert "your time" in form and "01:00" in form, form_id
    # The callback picker starts at the first allowed minute, on the cardholder's clock.
    callback = html[html.index('id="act-callback"') : html.index("</form>", html.index('id="act-callback"'))]
    at_input = re.search(r'<input[^>]*name="at"[^>]*>', callback).group(0)
    assert 'value="2026-06-03T08:00"' in at_input
    assert 'min="2026-06-03T08:00"' in at_input


def test_the_case_page_shows_no_hint_while_the_window_is_open(client, cn_case, london_agent):
    client.force_login(london_agent)

    html = client.get(reverse("case_detail", args=[cn_case.pk])).content.decode()

    assert "Not allowed now" not in html
    callback = html[html.index('id="act-callback"') : html.index("</form>", html.index('id="act-callback"'))]
    at_input = re.search(r'<input[^>]*name="at"[^>]*>', callback).group(0)
    assert 'min="2026-06-02T10:00"' in at_input
    assert "value=" not in at_input


# --- A reveal is not a contact ----------------------------------------------------------------------------


def test_a_reveal_at_night_is_not_held_to_the_contact_window(cn_case, london_agent, clock):
    # Checking who is on the line when a cardholder calls at 22:30 must work: nobody is contacted.
    clock.move_to(BEIJING_NIGHT)
    value = services.pii_reveal(
        case_id=cn_case.pk,
        actor=london_agent,
        field="national_id",
        reason=services.access_reason("customer_request"),
    )
    assert value == cn_case.account.cardholder.national_id
