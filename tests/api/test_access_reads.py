"""An unmasked API read needs a reason code (`?reason=` or the X-Access-Reason header; `reason` in the
reveal body): without one a 400 and nothing revealed; with one each value read is recorded as a look
(AccessRecord, kind api_read or reveal, source api). A masked read needs none.

Personas (tests/conftest.py): agent (team A, works case_a)."""

import pytest

from collections_app.models import AccessRecord, CaseEvent, EventKind

pytestmark = pytest.mark.django_db

NATIONAL_ID = "110101199003071234"


def case_url(case, query: str = "") -> str:
    return f"/api/v1/cases/{case.pk}/{query}"


def test_an_unmasked_read_without_a_reason_is_a_400_and_reveals_nothing(clients, case_a):
    response = clients["agent"].get(case_url(case_a, "?reveal=national_id"))

    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "access_reason_required" and body["field"] == "reason"
    assert "working_case" in body["message"]
    assert NATIONAL_ID not in response.content.decode()
    assert not AccessRecord.objects.exists()
    assert not CaseEvent.objects.filter(kind=EventKind.PII_REVEAL).exists()


def test_an_unmasked_read_with_a_reason_is_recorded(clients, agent, case_a):
    response = clients["agent"].get(case_url(case_a, "?reveal=national_id,phones&reason=customer_request"))

    assert response.status_code == 200
    assert NATIONAL_ID in response.content.decode()
    records = list(AccessRecord.objects.order_by("id"))
    assert [(r.kind, r.source, r.reason, r.what) for r in records] == [
        ("api_read", "api", "customer_request", "national_id"),
        ("api_read", "api", "customer_request", "phone"),
    ]
    assert {r.cardholder_id for r in records} == {case_a.account.cardholder_id}
    assert all(r.actor == agent for r in records)


def test_the_reason_may_come_in_a_header(clients, case_a):
    response = clients["agent"].get(
        case_url(case_a, "?reveal=national_id"),
        HTTP_X_ACCESS_REASON="other",
        HTTP_X_ACCESS_REASON_TEXT="Card fraud check, ticket 12",
    )
    assert response.status_code == 200
    record = AccessRecord.objects.get()
    assert (record.reason, record.reason_text) == ("other", "Card fraud check, ticket 12")


def test_other_without_words_is_a_400(clients, case_a):
    response = clients["agent"].get(case_url(case_a, "?reveal=national_id&reason=other"))
    assert response.status_code == 400 and response.json()["field"] == "reason_text"
    assert not AccessRecord.objects.exists()


def test_a_masked_read_needs_no_reason_and_records_nothing(clients, case_a):
    response = clients["agent"].get(case_url(case_a))
    assert response.status_code == 200
    assert NATIONAL_ID not in response.content.decode()
    assert not AccessRecord.objects.exists()


def test_the_reveal_action_needs_a_reason(clients, agent, case_a):
    url = case_url(case_a, "reveal/")
    refused = clients["agent"].post(url, {"field": "national_id"})
    assert refused.status_code == 400 and refused.json()["code"] == "access_reason_required"
    assert not AccessRecord.objects.exists()

    response = clients["agent"].post(url, {"field": "national_id", "reason": "complaint"})
    assert response.status_code == 200 and response.json()["value"] == NATIONAL_ID
    record = AccessRecord.objects.get()
    assert (record.kind, record.source, record.reason, record.actor) == ("reveal", "api", "complaint", agent)
