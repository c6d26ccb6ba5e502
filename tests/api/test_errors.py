"""Every refusal has the same body - {code, rule, message, details} (+ field, allowed_from) - whether a
service refused (DomainError) or DRF did (authentication, parsing, validation, throttling)."""

import base64

import pytest

pytestmark = pytest.mark.django_db

ENVELOPE = {"code", "rule", "message", "details"}


def assert_envelope(response, status_code: int, code: str) -> dict:
    assert response.status_code == status_code, response.content
    assert response["Content-Type"] == "application/json"
    body = response.json()
    assert set(body) >= ENVELOPE, body
    assert set(body) - ENVELOPE <= {"field", "allowed_from"}, body
    assert body["code"] == code
    assert isinstance(body["message"], str) and body["message"]
    assert isinstance(body["details"], dict)
    return body


def test_401_without_credentials(anonymous):
    response = anonymous.get("/api/v1/cases/")

    assert_envelope(response, 401, "not_authenticated")
    assert response["WWW-Authenticate"] == "Token"


def test_401_with_a_bad_token(anonymous):
    anonymous.credentials(HTTP_AUTHORIZATION="Token not-a-token")

    assert_envelope(anonymous.get("/api/v1/cases/"), 401, "authentication_failed")


def test_403_domain_refusal_names_the_rule(clients):
    body = assert_envelope(clients["legal"].post("/api/v1/cases/claim-next/"), 403, "not_allowed")

    assert body["rule"] == "work_cases"


def test_403_role_refusal(clients):
    assert_envelope(clients["agent"].post("/api/v1/payments/import/", {"rows": []}), 403, "permission_denied")


def test_404_outside_reach_looks_like_missing(clients, case_b):
    outside = assert_envelope(clients["agent"].get(f"/api/v1/cases/{case_b.pk}/"), 404, "not_found")
    missing = assert_envelope(clients["agent"].get("/api/v1/cases/999999/"), 404, "not_found")

    assert outside == missing


def test_404_for_an_id_beyond_any_integer(clients):
    assert_envelope(clients["admin"].get("/api/v1/cases/99999999999999999/"), 404, "not_found")
    assert_envelope(
        clients["admin"].post("/api/v1/cases/99999999999999999999/notes/", {"text": "x"}), 404, "not_found"
    )


def test_405_wrong_method(clients, case_a):
    assert_envelope(clients["agent"].get(f"/api/v1/cases/{case_a.pk}/notes/"), 405, "method_not_allowed")


def test_400_unreadable_json(clients, case_a):
    response = clients["agent"].post(
        f"/api/v1/cases/{case_a.pk}/notes/", data="{not json", content_type="application/json"
    )

    assert_envelope(response, 400, "parse_error")


def test_415_unsupported_content_type(clients, case_a):
    response = clients["agent"].post(
        f"/api/v1/cases/{case_a.pk}/notes/", data="text=x", content_type="text/plain"
    )

    assert_envelope(response, 415, "unsupported_media_type")


def test_422_serializer_validation_names_the_field_and_lists_details(clients, case_a):
    response = clients["agent"].post(
        f"/api/v1/cases/{case_a.pk}/promises/", {"amount": "-5", "due_date": "not a date"}
    )

    body = assert_envelope(response, 422, "validation_failed")
    assert body["field"] in ("amount", "due_date")
    assert set(body["details"]) == {"amount", "due_date"}
    assert isinstance(body["details"]["amount"], list)


def test_422_business_rule_from_a_service(clients, case_a):
    response = clients["agent"].post(f"/api/v1/cases/{case_a.pk}/notes/", {"text": "   "})

    body = assert_envelope(response, 422, "validation_failed")
    assert body["field"] == "text"


CONTACT = {"channel": "outbound_call", "outcome": "no_answer"}


def test_422_a_rule_the_service_owns_keeps_the_field_and_names_the_rule(clients, case_a):
    # The shape of `started_at` is the serializer's; "not in the future" is contact_attempt_log's.
    malformed = clients["agent"].post(
        f"/api/v1/cases/{case_a.pk}/contacts/", {**CONTACT, "started_at": "yesterday"}
    )
    future = clients["agent"].post(
        f"/api/v1/cases/{case_a.pk}/contacts/", {**CONTACT, "started_at": "2030-01-01T10:00:00+08:00"}
    )

    shape = assert_envelope(malformed, 422, "validation_failed")
    assert (shape["field"], shape["rule"]) == ("started_at", "invalid_input")
    rule = assert_envelope(future, 422, "validation_failed")
    assert (rule["field"], rule["rule"]) == ("started_at", "started_in_future")


def test_422_bad_filter_value(clients):
    body = assert_envelope(clients["agent"].get("/api/v1/cases/?state=flying"), 422, "validation_failed")

    assert body["field"] == "state"


def test_422_contact_policy_carries_allowed_from(clients, case_a, office_hours):
    office_hours.move_to("2026-06-02 22:30 +0800")

    response = clients["agent"].post(
        f"/api/v1/cases/{case_a.pk}/contacts/", {"channel": "outbound_call", "outcome": "no_answer"}
    )

    body = assert_envelope(response, 422, "contact_not_allowed")
    assert body["allowed_from"] == "2026-06-03T00:00:00+00:00"


def test_409_state_conflict(clients, case_a):
    body = assert_envelope(
        clients["agent"].post(f"/api/v1/cases/{case_a.pk}/release-hold/", {"note": "x"}),
        409,
        "invalid_transition",
    )

    assert body["details"]["state"] == "in_progress"


def test_412_stale_version(clients, case_a):
    response = clients["agent"].post(f"/api/v1/cases/{case_a.pk}/notes/", {"text": "x"}, HTTP_IF_MATCH='"1"')

    assert_envelope(response, 412, "concurrent_update")


def test_422_bad_reveal_request(clients, case_a):
    body = assert_envelope(
        clients["agent"].get(f"/api/v1/cases/{case_a.pk}/?reveal=password"), 422, "validation_failed"
    )

    assert body["field"] == "reveal"


def test_404_bad_cursor(clients, case_a):
    assert_envelope(clients["agent"].get("/api/v1/cases/?cursor=garbage"), 404, "not_found")


def test_404_forged_cursor_position(clients, case_a):
    forged = base64.b64encode(b"o=0&r=0&p=not-a-date").decode()

    response = clients["agent"].get(f"/api/v1/cases/?ordering=opened_at&cursor={forged}")

    assert_envelope(response, 404, "not_found")


def test_429_throttled_per_user(clients, settings):
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": {"user": "3/min"}}
    for _ in range(3):
        assert clients["agent"].get("/api/v1/me/").status_code == 200

    response = clients["agent"].get("/api/v1/me/")

    body = assert_envelope(response, 429, "throttled")
    assert body["details"]["wait_seconds"] > 0
    assert response["Retry-After"]
    # Another user has their own allowance.
    assert clients["supervisor"].get("/api/v1/me/").status_code == 200


def test_the_per_user_limit_holds_across_a_minute_boundary(clients, settings, office_hours):
    """The limit is over any 60 seconds, not per clock minute: three calls at the end of one minute
    leave no room for a fourth just after the next one starts; the room comes back as they age."""
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": {"user": "3/min"}}
    office_hours.move_to("2026-06-02 10:00:50 +0800")
    for _ in range(3):
        assert clients["agent"].get("/api/v1/me/").status_code == 200
    office_hours.move_to("2026-06-02 10:01:05 +0800")
    assert clients["agent"].get("/api/v1/me/").status_code == 429
    office_hours.move_to("2026-06-02 10:01:55 +0800")
    assert clients["agent"].get("/api/v1/me/").status_code == 200


def test_404_for_an_unknown_endpoint_is_json_too(clients):
    body = assert_envelope(clients["agent"].get("/api/v1/nothing-here/"), 404, "not_found")

    assert "slash" in body["message"]
    assert_envelope(clients["agent"].post("/api/v1/cases/1/notes"), 404, "not_found")


def test_422_nul_in_a_query_parameter(clients):
    assert_envelope(clients["agent"].get("/api/v1/cases/?search=a%00b"), 422, "validation_failed")
