"""Writes from other systems are safe to retry: payments by their reference, other POSTs by an
Idempotency-Key, and a stale If-Match is refused rather than lost."""

from datetime import timedelta

import pytest
from rest_framework.parsers import JSONParser
from rest_framework.request import Request
from rest_framework.test import APIRequestFactory

from api import idempotency
from api.models import IdempotencyKey
from collections_app.models import CaseEvent, ContactAttempt, EventKind, Payment
from tests.api.conftest import etag
from tests.factories import open_case

pytestmark = pytest.mark.django_db


def payment(case, **overrides):
    return {
        "external_ref": "PAY-20260602-0001",
        "account_ref": case.account.external_ref,
        "amount": "500.00",
        "currency": "CNY",
        "paid_at": "2026-06-02T09:30:00+08:00",
        "source": "core",
    } | overrides


# --- Payments ------------------------------------------------------------------------------------


def test_the_same_payment_posted_twice_is_recorded_once(clients, case_a):
    first = clients["admin"].post("/api/v1/payments/", payment(case_a))
    again = clients["admin"].post("/api/v1/payments/", payment(case_a))

    assert first.status_code == 201
    assert again.status_code == 200
    assert again.json() == first.json()
    assert Payment.objects.count() == 1
    assert CaseEvent.objects.filter(case=case_a, kind=EventKind.PAYMENT).count() == 1
    case_a.account.refresh_from_db()
    assert str(case_a.account.overdue_amount) == "5500.00"


def test_a_payment_reference_reused_with_other_figures_is_409(clients, case_a):
    clients["admin"].post("/api/v1/payments/", payment(case_a))

    response = clients["admin"].post("/api/v1/payments/", payment(case_a, amount="600.00"))

    assert response.status_code == 409
    assert response.json()["rule"] == "payment_reference_reused"
    assert Payment.objects.get().amount == 500


def test_a_payment_for_an_unknown_account_is_422(clients, case_a):
    response = clients["admin"].post("/api/v1/payments/", payment(case_a, account_ref="NOPE"))

    assert response.status_code == 422
    assert response.json()["field"] == "account_ref"


def test_a_payment_in_another_currency_is_422(clients, case_a):
    response = clients["admin"].post("/api/v1/payments/", payment(case_a, currency="USD"))

    assert response.status_code == 422
    assert response.json()["rule"] == "currency_mismatch"


# --- Idempotency-Key -----------------------------------------------------------------------------

CALL = {
    "channel": "outbound_call",
    "outcome": "no_answer",
    "duration_seconds": 30,
}


def test_the_same_key_and_body_twice_logs_one_contact_and_replays_the_answer(clients, case_a):
    url = f"/api/v1/cases/{case_a.pk}/contacts/"

    first = clients["agent"].post(url, CALL, HTTP_IDEMPOTENCY_KEY="dialer-7781")
    again = clients["agent"].post(url, CALL, HTTP_IDEMPOTENCY_KEY="dialer-7781")

    assert first.status_code == again.status_code == 201
    assert again.json() == first.json()
    assert again["Idempotent-Replayed"] == "true"
    assert again["ETag"] == first["ETag"]
    assert ContactAttempt.objects.filter(case=case_a).count() == 1


def test_the_same_key_with_another_body_is_422(clients, case_a):
    url = f"/api/v1/cases/{case_a.pk}/contacts/"
    clients["agent"].post(url, CALL, HTTP_IDEMPOTENCY_KEY="dialer-7781")

    response = clients["agent"].post(url, {**CALL, "outcome": "busy"}, HTTP_IDEMPOTENCY_KEY="dialer-7781")

    assert response.status_code == 422
    assert response.json()["code"] == "idempotency_key_reused"
    assert response.json()["field"] == "Idempotency-Key"
    assert ContactAttempt.objects.filter(case=case_a).count() == 1


def test_the_same_key_on_another_endpoint_is_422(clients, case_a):
    clients["agent"].post(f"/api/v1/cases/{case_a.pk}/notes/", {"text": "a"}, HTTP_IDEMPOTENCY_KEY="k1")

    response = clients["agent"].post(f"/api/v1/cases/{case_a.pk}/contacts/", CALL, HTTP_IDEMPOTENCY_KEY="k1")

    assert response.status_code == 422


def test_keys_belong_to_their_user(clients, case_a):
    url = f"/api/v1/cases/{case_a.pk}/notes/"
    clients["agent"].post(url, {"text": "mine"}, HTTP_IDEMPOTENCY_KEY="shared-key")

    response = clients["supervisor"].post(url, {"text": "mine"}, HTTP_IDEMPOTENCY_KEY="shared-key")

    assert response.status_code == 201
    assert "Idempotent-Replayed" not in response
    assert CaseEvent.objects.filter(case=case_a, kind=EventKind.NOTE).count() == 2


def test_a_refused_request_is_not_stored_so_the_key_can_be_retried(clients, case_a, office_hours):
    url = f"/api/v1/cases/{case_a.pk}/contacts/"
    office_hours.move_to("2026-06-02 23:00 +0800")
    refused = clients["agent"].post(url, CALL, HTTP_IDEMPOTENCY_KEY="retry-me")
    office_hours.move_to("2026-06-03 09:00 +0800")

    retried = clients["agent"].post(url, CALL, HTTP_IDEMPOTENCY_KEY="retry-me")

    assert refused.status_code == 422
    assert retried.status_code == 201
    assert "Idempotent-Replayed" not in retried


def test_a_retried_claim_hands_back_the_same_case_not_the_next_one(clients, team_a):
    first_case = open_case(team=team_a)
    open_case(team=team_a)

    first = clients["agent"].post("/api/v1/cases/claim-next/", HTTP_IDEMPOTENCY_KEY="next-1")
    again = clients["agent"].post("/api/v1/cases/claim-next/", HTTP_IDEMPOTENCY_KEY="next-1")

    assert first.json()["case"]["id"] == again.json()["case"]["id"]
    first_case.refresh_from_db()
    assert CaseEvent.objects.filter(kind=EventKind.ASSIGNMENT).count() == 1


def test_a_key_still_being_processed_is_409(clients, case_a, agent):
    url = f"/api/v1/cases/{case_a.pk}/notes/"
    # The first request with this key has reserved it and is still running.
    first = Request(APIRequestFactory().post(url, {"text": "x"}, format="json"), parsers=[JSONParser()])
    idempotency.begin(user=agent, key="in-flight", request=first)

    response = clients["agent"].post(url, {"text": "x"}, HTTP_IDEMPOTENCY_KEY="in-flight")

    assert response.status_code == 409
    assert response.json()["code"] == "idempotency_key_in_use"
    assert not CaseEvent.objects.filter(case=case_a, kind=EventKind.NOTE).exists()


def test_an_expired_key_may_be_used_again(clients, case_a, office_hours):
    url = f"/api/v1/cases/{case_a.pk}/notes/"
    clients["agent"].post(url, {"text": "day one"}, HTTP_IDEMPOTENCY_KEY="daily")
    office_hours.shift(timedelta(hours=25))

    response = clients["agent"].post(url, {"text": "day two"}, HTTP_IDEMPOTENCY_KEY="daily")

    assert response.status_code == 201
    assert "Idempotent-Replayed" not in response


def test_expired_keys_are_purged(clients, case_a, office_hours):
    clients["agent"].post(f"/api/v1/cases/{case_a.pk}/notes/", {"text": "x"}, HTTP_IDEMPOTENCY_KEY="old")
    office_hours.shift(timedelta(hours=25))
    clients["agent"].post(f"/api/v1/cases/{case_a.pk}/notes/", {"text": "y"}, HTTP_IDEMPOTENCY_KEY="new")

    assert idempotency.purge_expired() == 1
    assert list(IdempotencyKey.objects.values_list("key", flat=True)) == ["new"]


def test_an_unprintable_key_is_422(clients, case_a):
    response = clients["agent"].post(
        f"/api/v1/cases/{case_a.pk}/notes/", {"text": "x"}, HTTP_IDEMPOTENCY_KEY="x" * 300
    )

    assert response.status_code == 422
    assert response.json()["field"] == "Idempotency-Key"


# --- If-Match --------------------------------------------------------------------------------


def test_case_detail_carries_the_version_as_etag(clients, case_a):
    response = clients["agent"].get(f"/api/v1/cases/{case_a.pk}/")

    assert response["ETag"] == etag(case_a)
    assert response["ETag"] == f'"{response.json()["version"]}"'


def test_a_stale_if_match_is_412_and_nothing_is_written(clients, case_a):
    stale = etag(case_a)
    clients["supervisor"].post(f"/api/v1/cases/{case_a.pk}/notes/", {"text": "someone else first"})

    response = clients["agent"].post(f"/api/v1/cases/{case_a.pk}/contacts/", CALL, HTTP_IF_MATCH=stale)

    assert response.status_code == 412
    body = response.json()
    assert body["code"] == "concurrent_update"
    assert body["details"]["current_version"] == body["details"]["expected_version"] + 1
    assert not ContactAttempt.objects.filter(case=case_a).exists()


@pytest.mark.parametrize(
    ("action", "payload"),
    [
        ("notes", {"text": "x"}),
        ("promises", {"amount": "100.00", "due_date": "2026-06-20"}),
        ("hold", {"reason": "hardship"}),
        ("escalation-requests", {"target": "supervisor", "reason": "x"}),
        ("callback", {"at": "2026-06-03T15:00:00+08:00"}),
        ("transition", {"name": "escalate_to_legal", "reason": "x"}),
        (
            "plans",
            {"kind": "installment", "amount": "1200.00", "installments": 12, "first_due_date": "2026-06-09"},
        ),
    ],
)
def test_every_case_action_refuses_a_stale_if_match(action, payload, clients, case_a):
    stale = etag(case_a)
    clients["agent"].post(f"/api/v1/cases/{case_a.pk}/notes/", {"text": "first"})
    before = CaseEvent.objects.filter(case=case_a).count()

    response = clients["supervisor"].post(
        f"/api/v1/cases/{case_a.pk}/{action}/", payload, HTTP_IF_MATCH=stale
    )

    assert response.status_code == 412, response.json()
    assert CaseEvent.objects.filter(case=case_a).count() == before


def test_a_current_if_match_is_accepted_and_the_new_etag_returned(clients, case_a):
    current = etag(case_a)

    response = clients["agent"].post(f"/api/v1/cases/{case_a.pk}/contacts/", CALL, HTTP_IF_MATCH=current)

    assert response.status_code == 201
    assert response["ETag"] == etag(case_a) != current


def test_an_if_match_that_is_not_a_version_is_412(clients, case_a):
    response = clients["agent"].post(
        f"/api/v1/cases/{case_a.pk}/notes/", {"text": "x"}, HTTP_IF_MATCH='"abc"'
    )

    assert response.status_code == 412
