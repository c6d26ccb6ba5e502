"""Every endpoint x every persona x an object of their own team / of another team / in legal review.

Reach (collections_app.access): agents and supervisors reach their team's queues, legal reviewers the
cases in legal states, admins everything. An object outside reach is 404 - for reads and for every
write, which then changes nothing - so that IDs cannot be probed. Anonymous callers get 401.
"""

from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from collections_app import services
from collections_app.models import Case, CaseEvent, ContactAttempt, PromiseToPay
from messaging import services as messaging
from messaging.models import OutboundMessage
from repayment_plans import services as plan_services
from repayment_plans.models import RepaymentPlan

pytestmark = pytest.mark.django_db

PERSONAS = ("legal", "agent", "other_agent", "supervisor", "admin")  # legal first: see _world
# Which personas reach which world's objects.
REACH = {
    "team_a": {"agent", "supervisor", "admin"},
    "team_b": {"other_agent", "admin"},
    "legal_review": {"agent", "supervisor", "legal", "admin"},  # team A's queue, in a legal state
}
PLAN_TERMS = {
    "kind": "installment",
    "amount": "1200.00",
    "installments": 12,
    "frequency": "monthly",
    "first_due_date": "2026-06-09",
}


@dataclass
class World:
    ids: dict[str, dict[str, int | None]]

    def objects(self, kind: str, personas_reach: str) -> set[int]:
        return {
            ids[kind]
            for name, ids in self.ids.items()
            if personas_reach in REACH[name] and ids[kind] is not None
        }


def _records(case: Case, *, actor, ref: str, with_plan: bool) -> dict[str, int | None]:
    contact = services.contact_attempt_log(
        case_id=case.pk, actor=actor, data=services.ContactInput(channel="outbound_call", outcome="no_answer")
    )
    payment = services.payment_record(
        account=case.account, external_ref=ref, amount=Decimal("100.00"), paid_at=timezone.now()
    ).payment
    promise = plan = None
    if with_plan:
        plan = plan_services.plan_propose(
            case_id=case.pk,
            actor=actor,
            data=plan_services.PlanInput(
                kind="installment",
                amount=Decimal("1200.00"),
                installments=12,
                first_due_date=date(2026, 6, 9),
            ),
        ).pk
        promise = services.promise_record(
            case_id=case.pk, actor=actor, amount=Decimal("300.00"), due_date=date(2026, 6, 20)
        ).pk
    return {
        "case": case.pk,
        "cardholder": case.account.cardholder_id,
        "account": case.account_id,
        "contact": contact.pk,
        "payment": payment.pk,
        "promise": promise,
        "plan": plan,
    }


@pytest.fixture
def world(case_a, case_b, legal_case, agent, other_agent, supervisor) -> World:
    ids = {
        "team_a": _records(case_a, actor=agent, ref="PAY-A", with_plan=True),
        "team_b": _records(case_b, actor=other_agent, ref="PAY-B", with_plan=True),
        "legal_review": _records(legal_case, actor=supervisor, ref="PAY-L", with_plan=False),
    }
    messaging.plan_reminders(as_of=date(2026, 6, 19))  # the day before the promises fall due
    for records in ids.values():
        message = OutboundMessage.objects.filter(case_id=records["case"]).first()
        records["message"] = message.pk if message else None
    return World(ids=ids)


READS = [
    "cases/{case}/",
    "cases/{case}/timeline/",
    "cardholders/{cardholder}/",
    "accounts/{account}/",
    "contacts/{contact}/",
    "promises/{promise}/",
    "payments/{payment}/",
    "plans/{plan}/",
    "outbound-messages/{message}/",
]

# Payloads that keep every case within the same personas' reach (no escalation to legal).
WRITES = [
    ("cases/{case}/release/", {}),
    ("cases/{case}/transition/", {"name": "release_hold", "reason": "matrix"}),
    ("cases/{case}/contacts/", {"channel": "outbound_call", "outcome": "no_answer"}),
    ("cases/{case}/promises/", {"amount": "100.00", "due_date": "2026-06-20"}),
    ("cases/{case}/notes/", {"text": "matrix"}),
    ("cases/{case}/hold/", {"reason": "hardship"}),
    ("cases/{case}/release-hold/", {"note": "matrix"}),
    ("cases/{case}/escalation-requests/", {"target": "supervisor", "reason": "matrix"}),
    ("cases/{case}/callback/", {"at": "2026-06-03T15:00:00+08:00"}),
    ("cases/{case}/reveal/", {"field": "national_id", "reason": "working_case"}),
    ("cases/{case}/plans/calculate/", PLAN_TERMS),
    ("cases/{case}/plans/", PLAN_TERMS),
    ("plans/{plan}/accept/", {}),
    ("plans/{plan}/approve/", {}),
    ("plans/{plan}/reject/", {"reason": "matrix"}),
    ("plans/{plan}/cancel/", {"reason": "matrix"}),
]


def _kind(template: str) -> str:
    return template.split("{")[1].split("}")[0]


def _footprint(case_id: int) -> tuple:
    """Everything a write on this case could change."""
    return (
        Case.objects.filter(pk=case_id)
        .values_list("version", "state", "lease_owner_id", "next_action_at")
        .get(),
        CaseEvent.objects.filter(case_id=case_id).count(),
        ContactAttempt.objects.filter(case_id=case_id).count(),
        PromiseToPay.objects.filter(case_id=case_id).values_list("pk", "status").order_by("pk").count(),
        list(RepaymentPlan.objects.filter(case_id=case_id).values_list("pk", "state").order_by("pk")),
    )


@pytest.mark.parametrize("template", READS)
def test_reads_by_id(template, world, clients):
    kind = _kind(template)
    wrong = []
    for name, ids in world.ids.items():
        if ids[kind] is None:
            continue
        path = "/api/v1/" + template.format(**{kind: ids[kind]})
        for persona in ("anonymous", *PERSONAS):
            expected = 401 if persona == "anonymous" else 200 if persona in REACH[name] else 404
            got = clients[persona].get(path).status_code
            if got != expected:
                wrong.append(f"{persona} GET {path} ({name}): {got}, expected {expected}")
    assert not wrong, "\n".join(wrong)


@pytest.mark.parametrize(("template", "payload"), WRITES, ids=[w[0] for w in WRITES])
def test_writes_by_id(template, payload, world, clients):
    kind = _kind(template)
    wrong = []
    for name, ids in world.ids.items():
        if ids[kind] is None:
            continue
        path = "/api/v1/" + template.format(**{kind: ids[kind]})
        for persona in ("anonymous", *PERSONAS):
            before = _footprint(ids["case"])
            got = clients[persona].post(path, payload).status_code
            inside = persona in REACH[name]
            if persona == "anonymous" or not inside:
                expected = 401 if persona == "anonymous" else 404
                if got != expected:
                    wrong.append(f"{persona} POST {path} ({name}): {got}, expected {expected}")
                if _footprint(ids["case"]) != before:
                    wrong.append(f"{persona} POST {path} ({name}) changed the case from outside its reach")
            elif got in (401, 404) or got >= 500:
                wrong.append(f"{persona} POST {path} ({name}): {got} although the object is in reach")
    assert not wrong, "\n".join(wrong)


def test_a_note_is_added_by_anyone_in_reach(world, clients):
    for name, ids in world.ids.items():
        for persona in REACH[name]:
            response = clients[persona].post(f"/api/v1/cases/{ids['case']}/notes/", {"text": "hello"})
            assert response.status_code == 201, (persona, name, response.json())


LISTS = {
    "cases/": "case",
    "cardholders/": "cardholder",
    "accounts/": "account",
    "contacts/": "contact",
    "promises/": "promise",
    "payments/": "payment",
    "plans/": "plan",
    "outbound-messages/": "message",
}


@pytest.mark.parametrize("path", LISTS)
def test_lists_hold_exactly_what_is_in_reach(path, world, clients):
    kind = LISTS[path]
    for persona in PERSONAS:
        response = clients[persona].get(f"/api/v1/{path}?page_size=200")
        assert response.status_code == 200
        got = {row["id"] for row in response.json()["results"]}
        assert got == world.objects(kind, persona), persona
    assert clients["anonymous"].get(f"/api/v1/{path}").status_code == 401


ROLE_ENDPOINTS = [
    # (method, path, payload, {persona: expected status})
    ("get", "me/", None, dict.fromkeys(PERSONAS, 200)),
    ("get", "queues/", None, dict.fromkeys(PERSONAS, 200)),
    ("get", "escalation-rules/", None, {**dict.fromkeys(PERSONAS, 403), "admin": 200}),
    ("get", "nightly-runs/", None, {**dict.fromkeys(PERSONAS, 403), "supervisor": 200, "admin": 200}),
    (
        "post",
        "cases/claim-next/",
        None,
        {"agent": 200, "other_agent": 200, "supervisor": 200, "admin": 200, "legal": 403},
    ),
    (
        "post",
        "payments/",
        {
            "external_ref": "PAY-ROLE",
            "account_ref": "{account_ref}",
            "amount": "10.00",
            "paid_at": "2026-06-02T09:00:00+08:00",
        },
        {"agent": 403, "other_agent": 403, "supervisor": 403, "legal": 403, "admin": 201},
    ),
    (
        "post",
        "accounts/import/",
        {"rows": []},
        {"agent": 403, "other_agent": 403, "supervisor": 403, "legal": 403, "admin": 200},
    ),
    (
        "post",
        "payments/import/",
        {"rows": []},
        {"agent": 403, "other_agent": 403, "supervisor": 403, "legal": 403, "admin": 200},
    ),
]


@pytest.mark.parametrize(
    ("method", "path", "payload", "expected"), ROLE_ENDPOINTS, ids=[e[1] for e in ROLE_ENDPOINTS]
)
def test_role_level_endpoints(method, path, payload, expected, clients, case_a):
    if payload and payload.get("account_ref"):
        payload = {**payload, "account_ref": case_a.account.external_ref}
    assert getattr(clients["anonymous"], method)(f"/api/v1/{path}", payload).status_code == 401
    for persona, status_code in expected.items():
        response = getattr(clients[persona], method)(f"/api/v1/{path}", payload)
        assert response.status_code == status_code, (persona, response.json())


def test_queues_are_those_of_the_callers_team(clients, case_a, case_b):
    names = {
        persona: {q["name"] for q in clients[persona].get("/api/v1/queues/").json()["results"]}
        for persona in PERSONAS
    }

    assert names["agent"] == names["supervisor"] == {"Team A queue"}
    assert names["other_agent"] == {"Team B queue"}
    assert names["legal"] == set()
    assert names["admin"] == {"Team A queue", "Team B queue"}


def test_a_plan_waiting_for_legal_is_reachable_by_legal(clients, case_a, agent):
    plan = plan_services.plan_propose(
        case_id=case_a.pk,
        actor=agent,
        data=plan_services.PlanInput(
            kind="personalised_installment",
            amount=Decimal("8900.00"),
            installments=48,
            first_due_date=date(2026, 6, 2) + timedelta(days=7),
        ),
    )
    assert plan.approval_role == "legal"

    assert clients["legal"].get(f"/api/v1/plans/{plan.pk}/").status_code == 200
    assert clients["other_agent"].get(f"/api/v1/plans/{plan.pk}/").status_code == 404
