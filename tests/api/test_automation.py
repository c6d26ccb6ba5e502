"""Escalation rules (admins), outbound messages (scoped like their case, recipient masked) and nightly
run records (supervisors and admins), read-only over the API."""

from datetime import date, timedelta
from decimal import Decimal

import pytest

from automation import pipeline as nightly
from collections_app import services
from escalation.models import EscalationRule
from messaging import services as messaging
from messaging.models import OutboundMessage
from tests.factories import open_case

pytestmark = pytest.mark.django_db


@pytest.fixture
def rule(db):
    return EscalationRule.objects.create(
        name="90+ to legal",
        conditions=[{"field": "dpd", "operator": "gte", "value": 91}],
        move_to_legal_review=True,
    )


def test_admins_read_escalation_rules(clients, rule):
    response = clients["admin"].get("/api/v1/escalation-rules/")

    assert response.status_code == 200
    rows = {row["name"]: row for row in response.json()["results"]}
    # The rule made here, beside the CN and US defaults shipped as data.
    assert EscalationRule.objects.count() == len(rows) > 1
    row = rows["90+ to legal"]
    assert row["actions"] == [{"action": "move_to_legal_review"}]


@pytest.mark.parametrize("persona", ["agent", "supervisor", "legal", "other_agent"])
def test_other_roles_may_not_read_escalation_rules(persona, clients, rule):
    assert clients[persona].get("/api/v1/escalation-rules/").status_code == 403
    assert clients[persona].get(f"/api/v1/escalation-rules/{rule.pk}/").status_code == 403


def test_a_rule_preview_counts_the_cases_it_would_act_on(clients, team_a, case_a):
    deep = open_case(team=team_a, days_past_due=120)
    rule = EscalationRule.objects.create(
        name="120+", conditions=[{"field": "dpd", "operator": "gte", "value": 100}], notify_supervisor=True
    )

    response = clients["admin"].get(f"/api/v1/escalation-rules/{rule.pk}/preview/?as_of=2026-06-02")

    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["matching"] == 1
    assert body["would_fire"] + body["already_fired"] + sum(body["refused"].values()) == 1
    if body["would_fire"]:
        assert body["sample"] == [deep.pk]


@pytest.fixture
def reminder(case_a, agent):
    services.promise_record(
        case_id=case_a.pk, actor=agent, amount=Decimal("200.00"), due_date=date(2026, 6, 3)
    )
    messaging.plan_reminders(as_of=date(2026, 6, 2))
    return OutboundMessage.objects.get(case=case_a)


def test_outbound_messages_are_scoped_like_their_case(clients, reminder):
    for persona, visible in {"agent": True, "supervisor": True, "admin": True, "other_agent": False}.items():
        ids = [row["id"] for row in clients[persona].get("/api/v1/outbound-messages/").json()["results"]]
        assert (reminder.pk in ids) is visible, persona
        status = clients[persona].get(f"/api/v1/outbound-messages/{reminder.pk}/").status_code
        assert status == (200 if visible else 404), persona


def test_the_recipient_of_a_message_is_masked(clients, reminder, settings, tmp_path, office_hours):
    settings.COLLECTIONS_OUTBOX_DIR = str(tmp_path)
    messaging.ensure_defaults()  # the built-in templates
    office_hours.move_to("2026-06-02 18:00 +0800")
    messaging.message_send(message_id=reminder.pk)
    reminder.refresh_from_db()

    body = clients["agent"].get(f"/api/v1/outbound-messages/{reminder.pk}/").json()

    assert body["purpose"] == "promise_reminder"
    assert body["status"] == "written", (reminder.reason, reminder.detail)  # the file provider
    assert reminder.recipient.startswith("+86")
    assert body["recipient"] == reminder.recipient[:6] + "****" + reminder.recipient[-4:]


@pytest.fixture
def run(db):
    return nightly.run_pipeline(as_of=date(2026, 6, 1), trigger="test", only=["queues"])


@pytest.mark.parametrize(
    ("persona", "status_code"), [("supervisor", 200), ("admin", 200), ("agent", 403), ("legal", 403)]
)
def test_nightly_runs_for_supervisors_and_admins(persona, status_code, clients, run):
    response = clients[persona].get("/api/v1/nightly-runs/")

    assert response.status_code == status_code
    if status_code == 200:
        [row] = response.json()["results"]
        assert row["run_date"] == "2026-06-01"
        assert [step["name"] for step in row["steps"]] == ["queues"]
        detail = clients[persona].get(f"/api/v1/nightly-runs/{run.pk}/")
        assert detail.json()["status"] == run.status


def test_nightly_runs_filter_by_date(clients, run):
    later = (date(2026, 6, 1) + timedelta(days=1)).isoformat()

    assert clients["admin"].get(f"/api/v1/nightly-runs/?run_date={later}").json()["results"] == []


@pytest.mark.parametrize(
    ("persona", "status_code", "code"),
    [("anonymous", 401, "not_authenticated"), ("agent", 403, "permission_denied")],
)
def test_nightly_run_refusals_use_the_api_envelope(persona, status_code, code, clients, run):
    response = clients[persona].get(f"/api/v1/nightly-runs/{run.pk}/")

    assert response.status_code == status_code
    assert response.json()["code"] == code
    assert response.json()["rule"] == code


def test_an_unknown_nightly_run_is_a_404_in_the_envelope(clients, run):
    response = clients["admin"].get(f"/api/v1/nightly-runs/{run.pk + 1}/")

    assert response.status_code == 404
    assert response.json()["code"] == "not_found"


def test_a_nightly_run_date_out_of_range_is_422(clients, run):
    response = clients["admin"].get("/api/v1/nightly-runs/?run_date=1999-12-31")

    assert response.status_code == 422
    assert response.json()["field"] == "run_date"
