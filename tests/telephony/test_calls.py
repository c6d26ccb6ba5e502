"""Click-to-call through the phone system: placing a call through the contact policy, the signed events
that report it, and the attempt they complete (issue 17, "Click-to-call")."""

import time

import pytest
import time_machine
from django.core import checks
from django.urls import reverse

from collections_app.models import CaseEvent, ContactAttempt, DelinquencyReason, EventKind, Outcome
from core.exceptions import ContactNotAllowed, InvalidTransition, NotAllowed
from telephony import services
from telephony.models import Call, CallStatus
from tests.telephony.conftest import NUMBER, SECRET, post_event

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("office_hours")]

RECORDING = "https://pbx.example.internal/recordings/2026/06/02/abc.wav"


def place(case, point, actor):
    return services.call_place(case_id=case.pk, actor=actor, contact_point_id=point.pk)


def test_the_pbx_receives_the_click_to_call_request(pbx_mode, worked_case, agent):
    case, point = worked_case
    call = place(case, point, agent)

    [request] = pbx_mode.received
    assert request["path"] == "/click-to-call"
    assert request["json"] == {
        "call_id": str(call.call_id),
        "from": "8001",
        "to": NUMBER,
        "callback_url": "https://collections.test/telephony/events/",
    }
    assert request["headers"]["Authorization"] == "Bearer pbx-token"
    call.refresh_from_db()
    assert (call.status, call.dialer, call.reference, call.agent) == (
        CallStatus.PLACED,
        "pbx",
        "pbx-42",
        agent,
    )


def test_answered_then_ended_then_the_disposition_logs_the_attempt_with_duration_and_recording(
    client, pbx_mode, worked_case, agent
):
    case, point = worked_case
    call = place(case, point, agent)

    assert post_event(client, {"call_id": str(call.call_id), "event": "answered"}).status_code == 200
    ended = {
        "call_id": str(call.call_id),
        "event": "ended",
        "duration_seconds": 187,
        "recording_url": RECORDING,
    }
    assert post_event(client, ended).status_code == 200
    call.refresh_from_db()
    assert call.status == CallStatus.ENDED
    assert call.answered_at is not None
    assert not ContactAttempt.objects.filter(case=case).exists()  # waits for the agent's disposition

    attempt = services.call_complete(
        call_id=call.call_id,
        actor=agent,
        outcome=Outcome.RIGHT_PARTY_CONTACT,
        delinquency_reason=DelinquencyReason.JOB_LOSS,
        notes="Will pay on Friday",
    )

    assert (attempt.outcome, attempt.duration_seconds, attempt.recording_ref) == ("rpc", 187, RECORDING)
    assert attempt.contact_point == point
    assert attempt.started_at == call.placed_at
    assert attempt.agent == agent
    call.refresh_from_db()
    assert call.attempt == attempt
    contact = CaseEvent.objects.get(case=case, kind=EventKind.CONTACT)
    assert contact.details["contact_attempt"] == attempt.pk


def test_a_disposition_before_the_end_is_completed_by_the_end_event(client, pbx_mode, worked_case, agent):
    case, point = worked_case
    call = place(case, point, agent)
    post_event(client, {"call_id": str(call.call_id), "event": "answered"})

    attempt = services.call_complete(
        call_id=call.call_id,
        actor=agent,
        outcome=Outcome.CALLBACK_REQUESTED,
        delinquency_reason=DelinquencyReason.ILLNESS,
    )
    assert attempt.duration_seconds == 0
    assert attempt.recording_ref == f"call:{call.call_id}"  # the PBX records it; where, it says at the end

    ended = {
        "call_id": str(call.call_id),
        "event": "ended",
        "duration_seconds": 95,
        "recording_url": RECORDING,
    }
    post_event(client, ended)

    attempt.refresh_from_db()
    assert (attempt.duration_seconds, attempt.recording_ref) == (95, RECORDING)
    assert ContactAttempt.objects.filter(case=case).count() == 1


@pytest.mark.parametrize(("result", "outcome"), [(None, Outcome.NO_ANSWER), ("busy", Outcome.BUSY)])
def test_an_unanswered_call_is_logged_when_it_ends(client, pbx_mode, worked_case, agent, result, outcome):
    case, point = worked_case
    call = place(case, point, agent)
    event = {"call_id": str(call.call_id), "event": "ended", "duration_seconds": 31}
    if result:
        event["result"] = result

    assert post_event(client, event).status_code == 200

    attempt = ContactAttempt.objects.get(case=case)
    assert (attempt.outcome, attempt.duration_seconds, attempt.agent) == (outcome, 31, agent)
    assert attempt.contact_point == point
    call.refresh_from_db()
    assert (call.status, call.attempt, call.end_result) == (CallStatus.ENDED, attempt, outcome)
    with pytest.raises(InvalidTransition):  # nothing left for the agent to record
        services.call_complete(call_id=call.call_id, actor=agent, outcome=Outcome.NO_ANSWER)


def test_a_repeated_event_changes_nothing(client, pbx_mode, worked_case, agent):
    case, point = worked_case
    call = place(case, point, agent)
    answered = {"call_id": str(call.call_id), "event": "answered", "at": "2026-06-02T02:00:05+00:00"}
    ended = {"call_id": str(call.call_id), "event": "ended", "duration_seconds": 12}
    post_event(client, ended)
    call.refresh_from_db()
    first = (call.status, call.ended_at, call.duration_seconds, call.attempt_id)

    # The PBX retries the end (a lost answer), then an answered event arrives late.
    assert post_event(client, {**ended, "duration_seconds": 99}).status_code == 200
    assert post_event(client, answered).status_code == 200

    call.refresh_from_db()
    assert (call.status, call.ended_at, call.duration_seconds, call.attempt_id) == first
    assert call.answered_at is None
    assert ContactAttempt.objects.filter(case=case).count() == 1


def test_a_call_outside_the_window_is_blocked_and_recorded_with_its_rule(pbx_mode, worked_case, agent):
    case, point = worked_case
    with (
        time_machine.travel("2026-06-02 22:30 +0800", tick=False),
        pytest.raises(ContactNotAllowed) as refused,
    ):
        place(case, point, agent)

    assert refused.value.rule == "contact_window"
    assert refused.value.allowed_from is not None
    call = Call.objects.get(case=case)
    assert (call.status, call.blocked_rule) == (CallStatus.BLOCKED, "contact_window")
    event = CaseEvent.objects.get(case=case, kind=EventKind.POLICY_REFUSED)
    assert event.details["rule"] == "contact_window"
    assert event.details["call_id"] == str(call.call_id)
    assert event.details["channel"] == "outbound_call"
    assert not ContactAttempt.objects.filter(case=case).exists()
    assert pbx_mode.received == []  # nobody was dialled


def test_an_agent_cannot_dial_a_case_outside_their_work(pbx_mode, worked_case, other_agent, legal):
    case, point = worked_case
    with pytest.raises(NotAllowed):
        place(case, point, other_agent)
    with pytest.raises(NotAllowed):
        place(case, point, legal)  # a legal reviewer does not work cases
    assert not Call.objects.exists()
    assert pbx_mode.received == []


def test_only_the_agent_who_placed_the_call_records_it(pbx_mode, worked_case, agent, supervisor):
    case, point = worked_case
    call = place(case, point, agent)
    with pytest.raises(NotAllowed):
        services.call_complete(call_id=call.call_id, actor=supervisor, outcome=Outcome.NO_ANSWER)


def test_a_bad_signature_is_refused_and_changes_nothing(client, pbx_mode, worked_case, agent):
    case, point = worked_case
    call = place(case, point, agent)
    ended = {"call_id": str(call.call_id), "event": "ended", "duration_seconds": 20}

    assert post_event(client, ended, secret="not-the-secret").status_code == 403
    assert post_event(client, ended, signature="0" * 64).status_code == 403
    unsigned = client.post(reverse("telephony:events"), data=ended, content_type="application/json")
    assert unsigned.status_code == 403

    call.refresh_from_db()
    assert call.status == CallStatus.PLACED
    assert not ContactAttempt.objects.exists()


def test_a_stale_or_future_timestamp_is_refused(client, pbx_mode, worked_case, agent):
    case, point = worked_case
    call = place(case, point, agent)
    ended = {"call_id": str(call.call_id), "event": "ended"}

    assert post_event(client, ended, signed_at=time.time() - 301).status_code == 403
    assert post_event(client, ended, signed_at=time.time() + 301).status_code == 403
    call.refresh_from_db()
    assert call.status == CallStatus.PLACED
    assert post_event(client, ended, signed_at=time.time() - 60).status_code == 200


def test_unknown_calls_and_bad_events_are_answered_as_such(client, pbx_mode, worked_case, agent):
    case, point = worked_case
    call = place(case, point, agent)
    unknown = {"call_id": "6f1c1f0e-3f7a-4d0b-9a51-2b0c1e1f0a00", "event": "ended"}

    assert post_event(client, unknown).status_code == 404
    assert post_event(client, None, body=b"{not json").status_code == 400
    assert post_event(client, {"call_id": str(call.call_id), "event": "exploded"}).status_code == 400
    bad_duration = {"call_id": str(call.call_id), "event": "ended", "duration_seconds": -5}
    assert post_event(client, bad_duration).status_code == 400
    assert client.get(reverse("telephony:events")).status_code == 405


def test_the_pbx_dialer_without_a_callback_secret_refuses_to_start(settings):
    settings.TELEPHONY_DIALER = "pbx"
    settings.TELEPHONY_PBX_URL = "https://pbx.example.internal/click-to-call"
    settings.TELEPHONY_CALLBACK_URL = "https://collections.test/telephony/events/"
    settings.TELEPHONY_CALLBACK_SECRET = ""
    ids = {m.id for m in checks.run_checks(tags=["collections_delivery"]) if m.is_serious()}
    assert "telephony.E002" in ids

    settings.TELEPHONY_CALLBACK_SECRET = SECRET
    ids = {m.id for m in checks.run_checks(tags=["telephony"]) if m.is_serious()}
    assert not ids
