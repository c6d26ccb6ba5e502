"""CSV exports leave the system: each is recorded (who, which table, how many rows, masked or not: an
AccessRecord of kind export and an audit log line), and personal data in it is masked unless the user's
role may reveal it and they give a reason code - then each cardholder in the export gets an AccessRecord
and each case a PII_REVEAL event with that reason, as a reveal on the case page does.

Personas: supervisor (team A; may reveal personal data), legal (legal reviewer; may reveal too)."""

import logging
from datetime import timedelta

import pytest
from django.urls import reverse

from collections_app import services
from collections_app.models import AccessRecord, CaseEvent, EventKind
from core.clock import bank_today
from tests.dashboards.conftest import case_on
from tests.dashboards.test_views import client_for, csv_rows
from tests.messaging.pii_logs import scan_module_logs

pytestmark = pytest.mark.django_db

NAME = "欧阳娜娜"
NOTE_PHONE = "13712345678"
NOTE_ID = "110101199003071234"

pii_logs = scan_module_logs((NAME, NOTE_PHONE, NOTE_ID))


@pytest.fixture
def noted(team_a, agent):
    """A case of team A opened two days ago, whose agent wrote a number and an ID into a note."""
    case = case_on(bank_today() - timedelta(days=2), team=team_a, cardholder__name=NAME)
    services.note_add(
        case_id=case.pk, actor=agent, text=f"Call her sister {NOTE_PHONE}, ID {NOTE_ID} #complaint"
    )
    return case


DRILL = "/dashboards/kpis/complaint_notes/"


def drill_events(user, **params):
    assert reverse("dashboards:drill", args=["complaint_notes"]) == DRILL
    return client_for(user).get(DRILL, {"period": "7d", "export": "csv", **params})


def audit_lines(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "collections.audit"]


def test_an_export_without_a_reason_is_masked_and_recorded(supervisor, noted, caplog):
    with caplog.at_level(logging.INFO, logger="collections.audit"):
        rows = csv_rows(drill_events(supervisor))

    (row,) = rows[1:]
    assert row[1] == noted.reference
    assert row[2] == "欧***"
    assert NOTE_PHONE not in row[-1] and NOTE_ID not in row[-1] and "137****5678" in row[-1]
    assert audit_lines(caplog) == [f"export {DRILL}?export=csv by user {supervisor.pk}: 1 row(s), masked"]
    assert not CaseEvent.objects.filter(kind=EventKind.PII_REVEAL).exists()
    record = AccessRecord.objects.get()
    assert (record.actor, record.kind, record.masked, record.rows, record.cardholder_id, record.reason) == (
        supervisor,
        "export",
        True,
        1,
        None,
        "",
    )


def test_an_export_with_a_reason_is_a_reveal_written_on_each_case(supervisor, noted, caplog):
    with caplog.at_level(logging.INFO, logger="collections.audit"):
        rows = csv_rows(
            drill_events(supervisor, reason="regulator_request", reason_text="Complaint file, ticket 881")
        )

    (row,) = rows[1:]
    assert row[2] == NAME and NOTE_PHONE in row[-1]
    reveal = CaseEvent.objects.get(case=noted, kind=EventKind.PII_REVEAL)
    assert reveal.actor == supervisor
    assert reveal.reason == "Complaint file, ticket 881"
    assert reveal.details == {"export": f"{DRILL}?export=csv", "reason": "regulator_request"}
    looked, summary = AccessRecord.objects.order_by("id")
    assert (looked.cardholder_id, looked.case_id, looked.kind, looked.reason, looked.masked) == (
        noted.account.cardholder_id,
        noted.pk,
        "export",
        "regulator_request",
        False,
    )
    assert (summary.cardholder_id, summary.rows, summary.masked) == (None, 1, False)
    assert audit_lines(caplog) == [
        f"export {DRILL}?export=csv by user {supervisor.pk}: 1 row(s), unmasked (reason given)"
    ]


def test_a_blank_reason_is_no_reason(supervisor, noted):
    rows = csv_rows(drill_events(supervisor, reason="   "))
    assert rows[1][2] == "欧***"
    assert not CaseEvent.objects.filter(kind=EventKind.PII_REVEAL).exists()


def test_an_unknown_reason_is_a_bad_request_and_exports_nothing(supervisor, noted):
    response = drill_events(supervisor, reason="curious")
    assert response.status_code == 400 and "Unknown reason" in response.content.decode()
    assert not AccessRecord.objects.exists()


def test_other_without_words_exports_nothing(supervisor, noted):
    assert drill_events(supervisor, reason="other").status_code == 400
    assert not AccessRecord.objects.exists()


def test_a_role_that_may_not_reveal_gets_the_masked_export_even_with_a_reason(supervisor, noted, monkeypatch):
    """Every role that reaches the dashboards may reveal today; the rule is the capability, not the role."""
    from accounts import permissions

    without = permissions.ROLE_CAPABILITIES["supervisor"] - {permissions.Capability.REVEAL_PII}
    monkeypatch.setitem(permissions.ROLE_CAPABILITIES, "supervisor", without)
    rows = csv_rows(drill_events(supervisor, reason="complaint"))
    assert rows[1][2] == "欧***"
    assert not CaseEvent.objects.filter(kind=EventKind.PII_REVEAL).exists()


def test_the_home_page_exports_are_masked_and_recorded(supervisor, noted, caplog):
    with caplog.at_level(logging.INFO, logger="collections.audit"):
        for table in ("agents", "queues", "callbacks", "leases"):
            response = client_for(supervisor).get(reverse("dashboards:home"), {"export": table})
            assert response["Content-Type"].startswith("text/csv")
            assert NAME not in b"".join(response.streaming_content).decode()
    home = reverse("dashboards:home")
    assert [line.split(" by ")[0] for line in audit_lines(caplog)] == [
        f"export {home}?export={table}" for table in ("agents", "queues", "callbacks", "leases")
    ]


@pytest.mark.parametrize("table", ["kpis", "agents", "trend", "aging", "reasons", "roll"])
def test_every_kpi_export_is_recorded(supervisor, table, caplog):
    with caplog.at_level(logging.INFO, logger="collections.audit"):
        csv_rows(client_for(supervisor).get(reverse("dashboards:kpis"), {"period": "30d", "export": table}))
    (line,) = audit_lines(caplog)
    assert line.startswith(f"export {reverse('dashboards:kpis')}?export={table} by user {supervisor.pk}: ")


@pytest.mark.parametrize("table", ["age", "decisions", "outcomes", "limitation"])
def test_every_legal_export_is_recorded(legal, table, caplog):
    with caplog.at_level(logging.INFO, logger="collections.audit"):
        csv_rows(client_for(legal).get(reverse("dashboards:legal"), {"export": table}))
    (line,) = audit_lines(caplog)
    assert line.startswith(
        f"export {reverse('dashboards:legal')}?export={table} by user {legal.pk}: "
    ) and line.endswith("masked")


def test_a_page_view_is_not_an_export(supervisor, noted, caplog):
    with caplog.at_level(logging.INFO, logger="collections.audit"):
        assert client_for(supervisor).get(reverse("dashboards:home")).status_code == 200
    assert audit_lines(caplog) == []
