"""Legal transitions asked for by name through the API (POST /cases/{id}/transition/): they go through
legal.services like the legal pages - escalation records a referral with the limitation date, approving
litigation needs the court reference, and both are refused past the limitation date.

Personas (tests/conftest.py): `supervisor` of team A escalates; `legal` decides; `agent` of team A may
see the case in legal review but not decide on it."""

from datetime import date

import pytest

from collections_app.models import CaseEvent, CaseState, CreditAccount, EventKind
from legal.models import LegalDecision, LegalReferral
from tests.factories import open_case

pytestmark = pytest.mark.django_db

COURT_REFERENCE = "(2026)京0105民初1234号"


def transition(client, case, **body):
    return client.post(f"/api/v1/cases/{case.pk}/transition/", body)


def test_a_supervisor_escalates_to_legal_with_the_limitation_date_on_the_referral(
    clients, team_a, supervisor
):
    case = open_case(team=team_a, days_past_due=120, first_missed_due_date=date(2026, 2, 2))

    response = transition(
        clients["supervisor"], case, name="escalate_to_legal", reason="120 DPD, refuses to pay"
    )

    assert response.status_code == 200, response.json()
    assert response.json()["state"] == CaseState.LEGAL_REVIEW
    referral = LegalReferral.objects.get(case=case)
    assert (referral.decision, referral.referred_by, referral.reason) == (
        LegalDecision.PENDING,
        supervisor,
        "120 DPD, refuses to pay",
    )
    assert referral.limitation_date == date(2029, 2, 2)  # three years from the first missed due date
    assert CaseEvent.objects.filter(case=case, kind=EventKind.ESCALATED, actor=supervisor).exists()


def test_escalation_past_the_limitation_date_is_409_and_records_nothing(clients, team_a):
    case = open_case(team=team_a, days_past_due=1300, first_missed_due_date=date(2023, 1, 5))

    response = transition(clients["supervisor"], case, name="escalate_to_legal", reason="Old debt")

    assert response.status_code == 409, response.json()
    assert response.json()["rule"] == "limitation_expired"
    case.refresh_from_db()
    assert case.state == CaseState.NEW
    assert not LegalReferral.objects.filter(case=case).exists()


def test_legal_approves_litigation_with_the_court_reference(clients, legal_case, legal):
    response = transition(
        clients["legal"],
        legal_case,
        name="approve_litigation",
        reason="Documentation complete",
        court_reference=COURT_REFERENCE,
    )

    assert response.status_code == 200, response.json()
    assert response.json()["state"] == CaseState.LITIGATION
    referral = LegalReferral.objects.get(case=legal_case)
    assert (referral.decision, referral.court_reference, referral.reviewer) == (
        LegalDecision.LITIGATION,
        COURT_REFERENCE,
        legal,
    )
    event = CaseEvent.objects.get(case=legal_case, kind=EventKind.LEGAL_DECISION)
    assert event.details == {"decision": LegalDecision.LITIGATION, "court_reference": COURT_REFERENCE}


def test_approving_litigation_without_a_court_reference_is_refused_naming_the_field(clients, legal_case):
    response = transition(
        clients["legal"], legal_case, name="approve_litigation", reason="Documentation complete"
    )

    # A business rule the input breaks: the API answers it 422 validation_failed (api.errors).
    assert response.status_code == 422, response.json()
    assert (response.json()["field"], response.json()["rule"]) == ("court_reference", "reference_required")
    legal_case.refresh_from_db()
    assert legal_case.state == CaseState.LEGAL_REVIEW
    assert LegalReferral.objects.get(case=legal_case).decision == LegalDecision.PENDING


def test_litigation_past_the_limitation_date_is_409(clients, legal_case):
    # Referred in time; by the day of the decision the debt is past its limitation date.
    CreditAccount.objects.filter(pk=legal_case.account_id).update(first_missed_due_date=date(2023, 5, 1))

    response = transition(
        clients["legal"], legal_case, name="approve_litigation", court_reference=COURT_REFERENCE
    )

    assert response.status_code == 409, response.json()
    assert response.json()["rule"] == "limitation_expired"
    legal_case.refresh_from_db()
    assert legal_case.state == CaseState.LEGAL_REVIEW


def test_an_agent_may_not_approve_litigation(clients, legal_case):
    response = transition(
        clients["agent"], legal_case, name="approve_litigation", court_reference=COURT_REFERENCE
    )

    assert response.status_code == 403, response.json()
    legal_case.refresh_from_db()
    assert legal_case.state == CaseState.LEGAL_REVIEW
