"""The OpenAPI document: examples for the main requests and answers, and the hooks that keep the
schema to /api/v1/ and give every operation the error envelope for each refusal it can answer."""

from drf_spectacular.utils import OpenApiExample

# --- Examples ------------------------------------------------------------------------------------

TOKEN_EXAMPLES = [
    OpenApiExample(
        "Credentials", value={"username": "agent_a", "password": "correct-horse"}, request_only=True
    ),
    OpenApiExample(
        "A token",
        value={
            "token": "5c1f0e5b6e0c4d6b8f0b2f51c6f1c0e3d9a3c1d2b8f4e6a7c9d0e1f2a3b4c5d6",
            "expiry": "2026-06-02T20:00:00+08:00",
            "user": {
                "id": 7,
                "username": "agent_a",
                "name": "Li Na",
                "role": "agent",
                "team": {"id": 1, "name": "Team A"},
                "language": "zh-hans",
                "time_zone": "Asia/Shanghai",
                "capabilities": ["reveal_pii", "work_cases"],
            },
        },
        response_only=True,
        status_codes=["201"],
    ),
]

_CASE = {
    "id": 1042,
    "reference": "C00000317-1",
    "state": "in_progress",
    "resolution_reason": "",
    "opened_at": "2026-05-20T01:00:00Z",
    "closed_at": None,
    "queue": 3,
    "queue_name": "M2 early",
    "assigned_agent": None,
    "priority": 70,
    "next_action_at": None,
    "lease_owner": 7,
    "lease_expires_at": "2026-06-02T02:15:00Z",
    "broken_promise_count": 0,
    "broken_plan_count": 0,
    "last_right_party_contact_at": None,
    "version": 4,
    "account": {
        "id": 317,
        "external_ref": "ACC00000317",
        "product": "credit_card",
        "currency": "CNY",
        "balance": "8900.00",
        "overdue_amount": "1500.00",
        "days_past_due": 45,
        "bucket": "M2",
    },
    "cardholder": {"id": 290, "external_ref": "CH000290", "name": "王伟", "jurisdiction": "CN"},
}

CLAIM_EXAMPLES = [
    OpenApiExample("A case", value={"case": _CASE, "passed_over": {"contact_window": 2}}, response_only=True),
    OpenApiExample("Nothing ready", value={"case": None, "passed_over": {}}, response_only=True),
]

TRANSITION_EXAMPLES = [
    OpenApiExample(
        "Resolve", value={"name": "resolve", "reason": "Settled by phone", "resolution_reason": "settled"}
    ),
    OpenApiExample(
        "Refused by the state machine",
        value={
            "code": "invalid_transition",
            "rule": "state_machine",
            "message": "A case in state 'New' cannot do 'release_hold'.",
            "details": {"state": "new", "transition": "release_hold"},
        },
        response_only=True,
        status_codes=["409"],
    ),
]

CONTACT_EXAMPLES = [
    OpenApiExample(
        "A call that reached the debtor",
        value={
            "channel": "outbound_call",
            "contact_point": 881,
            "outcome": "rpc",
            "delinquency_reason": "job_loss",
            "duration_seconds": 240,
            "notes": "Lost job in April; can pay 500 on the 15th.",
        },
        request_only=True,
    ),
    OpenApiExample(
        "Refused: outside the contact window",
        value={
            "code": "contact_not_allowed",
            "rule": "contact_window",
            "message": "Outside the cardholder's contact window (08:00-22:00 local time). "
            "The window opens at 2026-06-03 08:00.",
            "details": {},
            "allowed_from": "2026-06-03T00:00:00+00:00",
        },
        response_only=True,
        status_codes=["422"],
    ),
    OpenApiExample(
        "Stale If-Match",
        value={
            "code": "concurrent_update",
            "rule": "concurrent_update",
            "message": "The case was changed by someone else; reload it and try again.",
            "details": {"expected_version": 3, "current_version": 4},
        },
        response_only=True,
        status_codes=["412"],
    ),
]

PROMISE_EXAMPLES = [
    OpenApiExample(
        "500 by the 15th", value={"amount": "500.00", "due_date": "2026-06-15"}, request_only=True
    ),
    OpenApiExample(
        "Above the balance",
        value={
            "code": "validation_failed",
            "rule": "amount_above_balance",
            "message": "The promised amount is above the balance (8900.00 CNY).",
            "details": {},
            "field": "amount",
        },
        response_only=True,
        status_codes=["422"],
    ),
]

PAYMENT_EXAMPLES = [
    OpenApiExample(
        "A payment from the core system",
        value={
            "external_ref": "PAY-20260602-000123",
            "account_ref": "ACC00000317",
            "amount": "500.00",
            "currency": "CNY",
            "paid_at": "2026-06-02T09:30:00+08:00",
            "source": "core",
        },
        request_only=True,
    ),
    OpenApiExample(
        "Same reference, other figures",
        value={
            "code": "concurrent_update",
            "rule": "payment_reference_reused",
            "message": "Payment PAY-20260602-000123 was already recorded with other figures "
            "(500.00 on account ACC00000317).",
            "details": {},
        },
        response_only=True,
        status_codes=["409"],
    ),
]

PLAN_EXAMPLES = [
    OpenApiExample(
        "12 monthly installments",
        value={
            "kind": "installment",
            "amount": "1200.00",
            "installments": 12,
            "frequency": "monthly",
            "first_due_date": "2026-06-09",
        },
        request_only=True,
    ),
]

IMPORT_EXAMPLES = [
    OpenApiExample(
        "A report",
        value={
            "kind": "accounts",
            "rows_read": 3,
            "created": 2,
            "updated": 0,
            "unchanged": 0,
            "rejected": 1,
            "problems": [
                {"line": 3, "column": "overdue_amount", "value": "abc", "reason": "is not an amount"}
            ],
            "warnings": [],
            "counts": {"cardholders_created": 2, "cases_opened": 2},
        },
        response_only=True,
    ),
]


# --- Hooks -----------------------------------------------------------------------------------------

API_PREFIX = "/api/v1/"

ERROR_SCHEMA = {
    "type": "object",
    "description": "The body of every refusal.",
    "properties": {
        "code": {
            "type": "string",
            "description": "e.g. not_allowed, invalid_transition, contact_not_allowed",
        },
        "rule": {"type": "string", "description": "The rule that refused."},
        "message": {"type": "string"},
        "details": {"type": "object", "additionalProperties": {}},
        "field": {"type": "string"},
        "allowed_from": {"type": "string", "format": "date-time", "nullable": True},
    },
    "required": ["code", "rule", "message", "details"],
}

ERRORS = {
    "400": "The body could not be read (malformed JSON or multipart), or unmasked personal data was asked "
    "for without a reason code (`access_reason_required`).",
    "401": "No credentials, or a token that is wrong, expired or revoked (`WWW-Authenticate: Token`).",
    "403": "Your role may not do this (`not_allowed`, `permission_denied`).",
    "404": "No such object within your reach: objects outside your team's work are 404 too.",
    "409": "Conflict with the object's state (`invalid_transition`) or with another writer "
    "(`concurrent_update`, `idempotency_key_in_use`).",
    "412": "`If-Match` is not the case's current version (`concurrent_update`).",
    "415": "Unsupported Content-Type.",
    "422": "Invalid input (`validation_failed`, per-field `details`), a business rule, or the contact "
    "policy (`contact_not_allowed`, with `allowed_from`).",
    "429": "Throttled; `Retry-After` says when to try again.",
}
READ_ERRORS = ("400", "401", "403", "404", "422", "429")
WRITE_ERRORS = (*READ_ERRORS, "409", "412", "415")


def only_api_v1(endpoints, **kwargs):
    """PREPROCESSING_HOOKS: the schema documents the versioned API only (not itself, not the docs)."""
    return [endpoint for endpoint in endpoints if endpoint[0].startswith(API_PREFIX)]


# Object IDs in paths: what the URL patterns accept (api.urls: 1 to 18 digits).
ID_SCHEMA = {"type": "integer", "minimum": 1, "maximum": 10**18 - 1}


def add_error_responses(result, generator, request, public):
    """POSTPROCESSING_HOOKS: every operation answers its refusals with the envelope, and path IDs are
    documented as the integers the URL patterns accept."""
    result.setdefault("components", {}).setdefault("schemas", {})["Error"] = ERROR_SCHEMA
    reference = {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}
    for methods in result.get("paths", {}).values():
        for method, operation in methods.items():
            if not isinstance(operation, dict) or "responses" not in operation:
                continue
            for parameter in operation.get("parameters", []):
                if parameter.get("in") == "path" and parameter["name"] in ("id", "case_id", "plan_id"):
                    parameter["schema"] = dict(ID_SCHEMA)
            codes = READ_ERRORS if method in ("get", "head") else WRITE_ERRORS
            for code in codes:
                operation["responses"].setdefault(code, {"description": ERRORS[code], "content": reference})
    return result
