"""Case actions through the API: each calls the one service, and a refusal answers with the status and
envelope the domain error names."""

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from collections_app import services
from collections_app.models import CaseEvent, CaseState, ContactAttempt, EventKind, PromiseToPay
from tests.api.conftest import etag, work_case
from tests.factories import ContactPointFactory, open_case

pytestmark = pytest.mark.django_db


def url(case, action=""):
    return f"/api/v1/cases/{case.pk}/{action + '/' if action else ''}"


RPC_CALL = {
    "channel": "outbound_call",
    "outcome": "rpc",
    "delinquency_reason": "job_loss",
    "duration_seconds": 180,
    "notes": "Lost job in April",
    "recording_ref": "REC-20260602-0001",
}


def test_claim_next_hands_the_agent_a_case_of_their_queue(clients, team_a, agent):
    case = open_case(team=team_a)

    response = clients["agent"].post("/api/v1/cases/claim-next/")

    assert response.status_code == 200
    assert response.json()["case"]["id"] == case.pk
    case.refresh_from_db()
    assert case.lease_owner == agent


def test_claim_next_with_nothing_ready_answers_a_null_case(clients, team_a):
    response = clients["agent"].post("/api/v1/cases/claim-next/")

    assert response.status_code == 200
    assert response.json() == {"case": None, "passed_over": {}}


def test_legal_reviewer_may_not_claim_from_queues(clients):
    response = clients["legal"].post("/api/v1/cases/claim-next/")

    assert response.status_code == 403
    assert response.json()["code"] == "not_allowed"
    assert response.json()["rule"] == "work_cases"


def test_release_ends_the_agents_lease(clients, case_a):
    response = clients["agent"].post(url(case_a, "release"))

    assert response.status_code == 200
    assert response.json() == {"released": True}
    case_a.refresh_from_db()
    assert case_a.lease_owner is None


def test_logging_a_contact_writes_the_attempt_and_the_timeline(clients, case_a, agent):
    point = case_a.account.cardholder.contact_points.get()

    response = clients["agent"].post(url(case_a, "contacts"), {**RPC_CALL, "contact_point": point.pk})

    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["outcome"] == "rpc"
    assert "****" in body["contact_point_value"]
    attempt = ContactAttempt.objects.get(pk=body["id"])
    assert attempt.agent == agent
    assert CaseEvent.objects.filter(case=case_a, kind=EventKind.CONTACT).exists()
    assert response["ETag"] == etag(case_a)


def test_a_contact_outside_the_window_is_422_with_the_rule_and_when_it_opens(clients, case_a, office_hours):
    office_hours.move_to("2026-06-02 23:00 +0800")

    response = clients["agent"].post(url(case_a, "contacts"), RPC_CALL)

    assert response.status_code == 422
    body = response.json()
    assert body["code"] == "contact_not_allowed"
    assert body["rule"] == "contact_window"
    assert body["allowed_from"].startswith("2026-06-03")
    # The refusal itself is on the timeline (the compliance record).
    assert CaseEvent.objects.filter(case=case_a, kind=EventKind.POLICY_REFUSED).exists()
    assert not ContactAttempt.objects.filter(case=case_a).exists()


def test_a_right_party_contact_without_a_reason_is_422_naming_the_field(clients, case_a):
    response = clients["agent"].post(url(case_a, "contacts"), {**RPC_CALL, "delinquency_reason": ""})

    assert response.status_code == 422
    assert response.json()["field"] == "delinquency_reason"


def test_a_contact_point_of_another_cardholder_is_refused(clients, case_a, case_b):
    foreign = case_b.account.cardholder.contact_points.get()

    response = clients["agent"].post(url(case_a, "contacts"), {**RPC_CALL, "contact_point": foreign.pk})

    assert response.status_code == 422
    assert response.json()["field"] == "contact_point"


def test_a_contact_cannot_start_in_the_future(clients, case_a):
    later = (timezone.now() + timedelta(hours=2)).isoformat()

    response = clients["agent"].post(url(case_a, "contacts"), {**RPC_CALL, "started_at": later})

    assert response.status_code == 422
    body = response.json()
    assert (body["code"], body["rule"], body["field"]) == (
        "validation_failed",
        "started_in_future",
        "started_at",
    )
    assert body["message"] == "A contact cannot start in the future."
    assert not ContactAttempt.objects.filter(case=case_a).exists()
    assert not CaseEvent.objects.filter(case=case_a, kind=EventKind.POLICY_REFUSED).exists()


def test_a_dialer_posting_a_contact_afterwards_keeps_its_start(clients, case_a):
    earlier = "2026-06-02T09:15:00+08:00"

    response = clients["agent"].post(url(case_a, "contacts"), {**RPC_CALL, "started_at": earlier})

    assert response.status_code == 201, response.json()
    assert ContactAttempt.objects.get(pk=response.json()["id"]).started_at.isoformat() == (
        "2026-06-02T01:15:00+00:00"
    )


def test_recording_a_promise_moves_the_case_to_promised(clients, case_a):
    response = clients["agent"].post(url(case_a, "promises"), {"amount": "500.00", "due_date": "2026-06-15"})

    assert response.status_code == 201, response.json()
    assert response.json()["amount"] == "500.00"
    case_a.refresh_from_db()
    assert case_a.state == CaseState.PROMISED


def test_a_promise_above_the_balance_is_422(clients, case_a):
    response = clients["agent"].post(
        url(case_a, "promises"), {"amount": "99999.00", "due_date": "2026-06-15"}
    )

    assert response.status_code == 422
    assert response.json()["rule"] == "amount_above_balance"
    assert response.json()["field"] == "amount"


def test_a_promise_may_point_only_at_a_contact_of_the_same_case(clients, case_a, case_b, other_agent):
    foreign = services.contact_attempt_log(
        case_id=case_b.pk,
        actor=other_agent,
        data=services.ContactInput(channel="outbound_call", outcome="no_answer"),
    )

    response = clients["agent"].post(
        url(case_a, "promises"),
        {"amount": "500.00", "due_date": "2026-06-15", "contact_attempt": foreign.pk},
    )

    assert response.status_code == 422
    assert (response.json()["field"], response.json()["rule"]) == ("contact_attempt", "attempt_not_on_case")
    assert not PromiseToPay.objects.exists()


def test_a_note_is_added_to_the_timeline(clients, case_a):
    response = clients["agent"].post(url(case_a, "notes"), {"text": "Customer asks for written statement"})

    assert response.status_code == 201
    assert response.json()["kind"] == "note"
    assert response.json()["reason"] == "Customer asks for written statement"


def test_hold_and_release(clients, case_a):
    held = clients["agent"].post(url(case_a, "hold"), {"reason": "dispute", "note": "Disputes the fee"})
    assert held.status_code == 201, held.json()
    case_a.refresh_from_db()
    assert case_a.state == CaseState.ON_HOLD

    released = clients["agent"].post(url(case_a, "release-hold"), {"note": "Fee explained"})
    assert released.status_code == 200, released.json()
    assert released.json()["state"] == CaseState.IN_PROGRESS


def test_a_second_hold_is_a_409_state_conflict(clients, case_a):
    clients["agent"].post(url(case_a, "hold"), {"reason": "hardship"})

    response = clients["agent"].post(url(case_a, "hold"), {"reason": "dispute"})

    assert response.status_code == 409
    assert response.json()["code"] == "invalid_transition"
    assert response.json()["rule"] == "state_machine"


def test_escalation_request_waits_for_the_supervisor(clients, case_a):
    response = clients["agent"].post(
        url(case_a, "escalation-requests"), {"target": "legal", "reason": "Refuses, has assets"}
    )

    assert response.status_code == 201
    assert response.json()["kind"] == EventKind.ESCALATION_REQUESTED
    case_a.refresh_from_db()
    assert case_a.state == CaseState.IN_PROGRESS


def test_transition_by_name_for_a_supervisor(clients, case_a):
    response = clients["supervisor"].post(
        url(case_a, "transition"), {"name": "escalate_to_legal", "reason": "Assets found, refuses"}
    )

    assert response.status_code == 200, response.json()
    assert response.json()["state"] == CaseState.LEGAL_REVIEW


def test_a_transition_the_role_may_not_ask_for_is_403(clients, case_a):
    response = clients["agent"].post(
        url(case_a, "transition"), {"name": "resolve", "resolution_reason": "paid_in_full"}
    )

    assert response.status_code == 403
    assert response.json()["rule"] == "transition_permission"


def test_a_write_off_is_not_a_transition_asked_for_by_name(clients, case_a):
    response = clients["supervisor"].post(
        url(case_a, "transition"), {"name": "write_off", "resolution_reason": "uncollectable"}
    )

    assert response.status_code in (400, 422), response.json()
    case_a.refresh_from_db()
    assert case_a.state != CaseState.WRITTEN_OFF


def test_a_transition_the_state_does_not_allow_is_409(clients, case_a):
    response = clients["supervisor"].post(url(case_a, "transition"), {"name": "release_hold"})

    assert response.status_code == 409
    assert response.json()["code"] == "invalid_transition"


def test_an_unknown_transition_name_is_422(clients, case_a):
    response = clients["supervisor"].post(url(case_a, "transition"), {"name": "teleport"})

    assert response.status_code == 422
    assert response.json()["field"] == "name"


def test_available_transitions_are_listed_on_the_case(clients, case_a):
    body = clients["supervisor"].get(url(case_a)).json()

    assert "escalate_to_legal" in body["available_transitions"]
    assert "approve_litigation" not in body["available_transitions"]


def test_callback_in_local_time_without_offset(clients, case_a, agent):
    response = clients["agent"].post(
        url(case_a, "callback"), {"at": "2026-06-03T15:00", "note": "After work"}
    )

    assert response.status_code == 200, response.json()
    case_a.refresh_from_db()
    assert case_a.next_action_at.isoformat() == "2026-06-03T07:00:00+00:00"
    assert case_a.assigned_agent == agent


US_NEW_YORK = {"cardholder__jurisdiction": "US", "cardholder__time_zone": "America/New_York"}
US_ZONE_FROM_PHONE = {"cardholder__jurisdiction": "US", "cardholder__time_zone": ""}


@pytest.mark.parametrize(
    ("holder", "phone", "stored"),
    [
        ({}, "+8613800000001", "2026-06-03T07:00:00+00:00"),
        (US_NEW_YORK, "+12125550123", "2026-06-03T19:00:00+00:00"),
        (US_ZONE_FROM_PHONE, "+12135550100", "2026-06-03T22:00:00+00:00"),  # a Los Angeles number
    ],
)
def test_the_page_and_the_api_store_the_same_instant_for_a_local_callback_time(
    client, clients, team_a, agent, holder, phone, stored
):
    # The agent's own zone plays no part: the time is the cardholder's.
    agent.time_zone = "Europe/London"
    agent.save(update_fields=["time_zone"])
    by_api, by_page = open_case(team=team_a, **holder), open_case(team=team_a, **holder)
    for case in (by_api, by_page):
        ContactPointFactory(cardholder=case.account.cardholder, value=phone)

    response = clients["agent"].post(url(by_api, "callback"), {"at": "2026-06-03T15:00"})
    assert response.status_code == 200, response.json()
    client.force_login(agent)
    page = client.post(reverse("case_schedule_callback", args=[by_page.pk]), {"at": "2026-06-03T15:00"})
    assert page.status_code == 302

    by_api.refresh_from_db()
    by_page.refresh_from_db()
    assert by_api.next_action_at == by_page.next_action_at
    assert by_api.next_action_at.isoformat() == stored


def test_a_callback_time_with_an_offset_is_that_instant_whoever_the_cardholder(clients, team_a):
    case = open_case(team=team_a, **US_NEW_YORK)

    response = clients["agent"].post(url(case, "callback"), {"at": "2026-06-03T14:00:00-05:00"})

    assert response.status_code == 200, response.json()
    case.refresh_from_db()
    assert case.next_action_at.isoformat() == "2026-06-03T19:00:00+00:00"


def test_callback_at_night_is_refused_with_when_the_window_opens(clients, case_a):
    response = clients["agent"].post(url(case_a, "callback"), {"at": "2026-06-03T23:30:00+08:00"})

    assert response.status_code == 422
    assert response.json()["code"] == "contact_not_allowed"
    assert response.json()["allowed_from"]


def test_reveal_returns_the_value_and_logs_it(clients, case_a):
    response = clients["agent"].post(
        url(case_a, "reveal"), {"field": "national_id", "reason": "working_case"}
    )

    assert response.status_code == 200
    assert response.json()["value"] == "110101199003071234"
    assert CaseEvent.objects.filter(case=case_a, kind=EventKind.PII_REVEAL).count() == 1


def test_an_agent_not_working_the_case_may_not_reveal(clients, team_a, agent, case_a):
    other = work_case(team_a, actor=agent)  # the agent's lease moves to this one
    response = clients["agent"].post(
        url(case_a, "reveal"), {"field": "national_id", "reason": "working_case"}
    )

    assert other.pk != case_a.pk
    assert response.status_code == 403
    assert response.json()["rule"] == "reveal_pii"
