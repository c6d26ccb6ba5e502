"""Bad input on the API gets a 4xx in the error envelope, never a 500: impossible dates, bodies nested ten
thousand deep or too big, huge page numbers and sizes, NUL bytes, a callback years ahead, a long note."""

import json

import pytest

from collections_app.models import CaseEvent, EventKind
from tests.api.conftest import client_for

pytestmark = [pytest.mark.django_db, pytest.mark.postgres]


@pytest.fixture
def agent_client(agent):
    client = client_for(agent)
    client.raise_request_exception = False
    return client


@pytest.mark.parametrize(
    "at", ["2026-02-30T10:00:00Z", "0000-01-01T00:00:00Z", "2026-13-01T10:00", "2026-06-03T25:00", "garbage"]
)
def test_an_impossible_time_is_a_field_error(agent_client, case_a, at):
    response = agent_client.post(f"/api/v1/cases/{case_a.pk}/callback/", {"at": at}, format="json")
    assert response.status_code == 422
    assert response.json()["field"] == "at"


@pytest.mark.parametrize("day", ["2026-02-30", "0000-01-01", "0001-01-01", "9999-12-31", "garbage"])
def test_an_impossible_date_is_a_field_error(agent_client, case_a, day):
    response = agent_client.post(
        f"/api/v1/cases/{case_a.pk}/promises/", {"amount": "10.00", "due_date": day}, format="json"
    )
    assert response.status_code == 422
    assert response.json()["field"] == "due_date"


def test_an_impossible_payment_time_is_a_field_error(clients, case_a):
    client = clients["admin"]
    body = {
        "external_ref": "P-1",
        "account_ref": case_a.account.external_ref,
        "amount": "10.00",
        "paid_at": "2026-02-30T10:00:00Z",
    }
    response = client.post("/api/v1/payments/", body, format="json")
    assert response.status_code == 422
    assert response.json()["field"] == "paid_at"


@pytest.mark.parametrize("url", ["/api/v1/auth/token/", "/api/v1/cases/{case}/notes/"])
@pytest.mark.parametrize("who", ["anonymous", "agent"])
def test_a_body_nested_ten_thousand_deep_is_400(clients, case_a, url, who):
    client = clients[who]
    client.raise_request_exception = False
    body = "[" * 10_000 + "]" * 10_000
    response = client.generic("POST", url.format(case=case_a.pk), body, content_type="application/json")
    assert response.status_code in (400, 401)  # anonymous on a case: refused before the body is read
    if response.status_code == 400:
        assert response.json()["code"] == "parse_error"
        assert "deeper than 32 levels" in response.json()["message"]


def test_a_body_just_deeper_than_the_limit_is_400_and_a_shallow_one_is_read(agent_client, case_a, settings):
    settings.API_JSON_MAX_DEPTH = 3
    url = f"/api/v1/cases/{case_a.pk}/notes/"
    deep = {"text": {"a": {"b": {"c": 1}}}}  # four levels
    response = agent_client.generic("POST", url, json.dumps(deep), content_type="application/json")
    assert response.status_code == 400
    response = agent_client.post(url, {"text": "Called"}, format="json")
    assert response.status_code == 201


def test_a_json_body_over_the_size_limit_is_413(clients, settings):
    settings.API_JSON_MAX_BYTES = 1000
    client = clients["admin"]
    rows = [{"external_ref": f"A-{i}"} for i in range(200)]
    response = client.post("/api/v1/accounts/import/", rows, format="json")
    assert response.status_code == 413
    assert "larger than 1000 bytes" in response.json()["message"]


def test_a_form_body_over_the_upload_limit_is_413_in_the_envelope(clients, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    client = clients["admin"]
    response = client.post("/api/v1/accounts/import/", {"note": "x" * 5000, "file": ""}, format="multipart")
    assert response.status_code == 413
    assert response.json()["code"] == "payload_too_large"


@pytest.mark.parametrize("page", [str(10**30), "-1", "abc"])
def test_any_page_parameter_answers(agent_client, case_a, page):
    assert agent_client.get("/api/v1/cases/", {"page": page}).status_code == 200
    timeline = agent_client.get(f"/api/v1/cases/{case_a.pk}/timeline/", {"page": page})
    assert timeline.status_code == 200


def test_a_huge_page_size_is_capped(agent_client, case_a):
    response = agent_client.get("/api/v1/cases/", {"page_size": str(10**30)})
    assert response.status_code == 200
    assert len(response.json()["results"]) <= 200


@pytest.mark.parametrize("cursor", ["abc", "%00"])
def test_a_forged_cursor_is_a_4xx(agent_client, cursor):
    assert agent_client.get(f"/api/v1/cases/?cursor={cursor}").status_code in (404, 422)


def test_a_cursor_past_the_end_is_an_empty_page(agent_client):
    position = "cD0xMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAw"  # base64 of "p=10000000000000000000000000000"
    response = agent_client.get(f"/api/v1/cases/?cursor={position}")
    assert response.status_code in (200, 404)


def test_a_nul_byte_in_a_filter_or_a_field_is_a_4xx(agent_client, case_a):
    assert agent_client.get("/api/v1/cases/?search=a%00b").status_code == 422
    response = agent_client.post(f"/api/v1/cases/{case_a.pk}/notes/", {"text": "a\x00b"}, format="json")
    assert response.status_code == 422
    assert not CaseEvent.objects.filter(case=case_a, kind=EventKind.NOTE).exists()


def test_a_callback_beyond_the_horizon_is_refused_by_the_api_too(agent_client, case_a):
    response = agent_client.post(
        f"/api/v1/cases/{case_a.pk}/callback/", {"at": "2026-12-03T10:00:00+08:00"}, format="json"
    )
    assert response.status_code == 422
    body = response.json()
    assert (body["rule"], body["field"]) == ("callback_horizon", "at")
    assert body["message"] == "A callback may be at most 90 days ahead."


def test_a_note_over_the_limit_is_refused_by_the_api_too(agent_client, case_a, settings):
    settings.COLLECTIONS_NOTE_MAX_LENGTH = 20
    url = f"/api/v1/cases/{case_a.pk}/notes/"
    response = agent_client.post(url, {"text": "x" * 21}, format="json")
    assert response.status_code == 422
    assert response.json()["field"] == "text"
    assert agent_client.post(url, {"text": "x" * 20}, format="json").status_code == 201
