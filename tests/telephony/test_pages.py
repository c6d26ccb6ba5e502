"""Click-to-call on the case page: the Call button (no query), the dial fragment (a fixed number of
queries), placing a call, its status while it rings, the refusal, and the disposition."""

import pytest
import time_machine
from django.db import connection
from django.test import RequestFactory
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from collections_app.models import ContactAttempt
from telephony import services
from telephony.models import Call, CallStatus
from telephony.views import call_button_panel
from tests.factories import ContactPointFactory
from tests.telephony.conftest import NUMBER, post_event

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("office_hours")]

HTMX = {"HX-Request": "true"}
# session, user, the case (with account, cardholder, queue), the numbers, the agent's current call
DIAL_FRAGMENT_QUERIES = 5


def test_the_call_button_costs_no_query(worked_case, agent, legal):
    case, _ = worked_case
    request = RequestFactory().get("/")
    request.user = agent
    with CaptureQueriesContext(connection) as queries:
        html = call_button_panel(request, case)
    assert len(queries) == 0
    assert 'data-shortcut="d"' in html
    assert reverse("telephony:dial", args=[case.pk]) in html

    request.user = legal  # does not work cases: no button
    assert call_button_panel(request, case) == ""


def test_the_case_page_shows_the_call_button(client, worked_case, agent):
    case, _ = worked_case
    client.force_login(agent)
    page = client.get(reverse("case_detail", args=[case.pk]))
    assert 'data-testid="call-button"' in page.content.decode()


def test_the_dial_fragment_lists_the_numbers_masked_in_a_fixed_number_of_queries(client, worked_case, agent):
    case, point = worked_case
    ContactPointFactory(cardholder=point.cardholder, value="+8613700001111", is_primary=False)
    ContactPointFactory(cardholder=point.cardholder, value="+8613700002222", is_primary=False, active=False)
    services.call_place(
        case_id=case.pk, actor=agent, contact_point_id=point.pk
    )  # a call awaiting its outcome
    client.force_login(agent)

    with CaptureQueriesContext(connection) as queries:
        fragment = client.get(reverse("telephony:dial", args=[case.pk]), headers=HTMX)

    assert len(queries) == DIAL_FRAGMENT_QUERIES
    html = fragment.content.decode()
    assert "+86139****5678" in html and "+86137****1111" in html
    assert "2222" not in html  # an inactive number is not offered
    assert "13912345678" not in html  # no number in the clear before a call is placed
    assert html.count('data-testid="dial-number"') == 2
    assert 'data-testid="call-disposition"' in html
    assert "<html" not in html


def test_without_htmx_the_dial_page_is_a_full_page(client, worked_case, agent):
    case, _ = worked_case
    client.force_login(agent)
    page = client.get(reverse("telephony:dial", args=[case.pk]))
    assert page.status_code == 200
    assert "<html" in page.content.decode()


def test_dialling_through_the_link_dialer_gives_the_tel_link_and_the_disposition_form(
    client, worked_case, agent
):
    case, point = worked_case
    client.force_login(agent)

    answer = client.post(
        reverse("telephony:place", args=[case.pk]), {"contact_point": point.pk}, headers=HTMX
    )

    html = answer.content.decode()
    assert f'href="tel:{NUMBER}"' in html
    assert "data-autodial" in html
    assert 'hx-trigger="every 2s"' not in html  # nothing reports a link call back: no polling
    call = Call.objects.get(case=case)
    assert reverse("telephony:complete", args=[call.call_id]) in html

    done = client.post(
        reverse("telephony:complete", args=[call.call_id]),
        {"outcome": "voicemail", "party_role": "debtor", "duration_seconds": "40", "notes": "left a message"},
        headers=HTMX,
    )
    assert 'data-testid="call-recorded"' in done.content.decode()
    attempt = ContactAttempt.objects.get(case=case)
    assert (attempt.outcome, attempt.duration_seconds, attempt.notes) == ("voicemail", 40, "left a message")
    call.refresh_from_db()
    assert (call.status, call.attempt) == (CallStatus.ENDED, attempt)


def test_a_refused_call_shows_the_reason_and_is_recorded_as_blocked(client, worked_case, agent):
    case, point = worked_case
    with time_machine.travel("2026-06-02 22:30 +0800", tick=False):
        client.force_login(agent)  # signed in tonight (a session of the morning would have expired)
        answer = client.post(
            reverse("telephony:place", args=[case.pk]), {"contact_point": point.pk}, headers=HTMX
        )
    html = answer.content.decode()
    assert 'data-testid="call-refusal"' in html
    assert "Allowed from" in html  # the rule's reason and when it lifts
    assert "tel:" not in html
    assert Call.objects.get(case=case).status == CallStatus.BLOCKED
    assert not ContactAttempt.objects.exists()


def test_the_status_is_polled_while_the_pbx_call_rings_and_stops_when_it_ends(
    client, pbx_mode, worked_case, agent
):
    case, point = worked_case
    client.force_login(agent)
    client.post(reverse("telephony:place", args=[case.pk]), {"contact_point": point.pk}, headers=HTMX)
    call = Call.objects.get(case=case)
    status_url = reverse("telephony:status", args=[call.call_id])

    ringing = client.get(status_url, headers=HTMX).content.decode()
    assert 'hx-trigger="every 2s"' in ringing and 'data-status="placed"' in ringing

    post_event(client, {"call_id": str(call.call_id), "event": "ended", "duration_seconds": 25})
    ended = client.get(status_url, headers=HTMX).content.decode()
    assert 'data-status="ended"' in ended
    assert "every 2s" not in ended
    assert 'hx-swap-oob="true"' in ended  # the disposition form gives way to the outcome logged


def test_other_users_cannot_reach_the_dial_page_or_a_call(client, worked_case, agent, other_agent):
    case, point = worked_case
    call = services.call_place(case_id=case.pk, actor=agent, contact_point_id=point.pk)

    assert client.get(reverse("telephony:dial", args=[case.pk])).status_code == 302  # anonymous: sign in
    client.force_login(other_agent)
    assert client.get(reverse("telephony:dial", args=[case.pk])).status_code == 404
    assert (
        client.post(reverse("telephony:place", args=[case.pk]), {"contact_point": point.pk}).status_code
        == 404
    )
    assert client.get(reverse("telephony:status", args=[call.call_id])).status_code == 404
    assert (
        client.post(reverse("telephony:complete", args=[call.call_id]), {"outcome": "rpc"}).status_code == 404
    )
    assert Call.objects.count() == 1
