"""One legal path: the supervisor's page (the inbox), the API, the admin and the escalation rules refer a case
to legal the same way - a referral carrying its limitation date, one ESCALATED event, the limitation check
applied - and the legal page, the API and the admin decide the same way (litigation needs a court reference
and is refused past the limitation date).

Each test drives every path on identical cases and compares what they left behind, so a path that drifts
(skips the limitation date, drops the court reference, forgets the check) fails here."""

from datetime import date, timedelta

import pytest
import time_machine
from django.test import Client
from django.urls import reverse

from collections_app import services
from collections_app.models import Case, CaseEvent, CaseState, EventKind
from escalation import services as escalation
from escalation.models import EscalationFiring, EscalationRule
from legal.models import LegalDecision, LegalReferral
from legal.services import add_years
from tests.api.conftest import client_for
from tests.escalation.conftest import DPD_OVER_90, make_rule
from tests.factories import open_case

TODAY = date(2026, 6, 2)
REFERRAL_PATHS = ("page", "api", "admin", "rules")
DECISION_PATHS = ("page", "api", "admin")


@pytest.fixture(autouse=True)
def _tuesday_morning_in_beijing():
    with time_machine.travel("2026-06-02 10:00 +0800", tick=False) as traveller:
        yield traveller


def _case(team, *, first_missed: date) -> Case:
    return open_case(team=team, days_past_due=(TODAY - first_missed).days, first_missed_due_date=first_missed)


def refer(path: str, case: Case, *, agent, supervisor, admin_user) -> int:
    """Send `case` to legal review through `path`; answer the HTTP status (200 for the rule engine)."""
    reason = "Refuses to pay; assets located"
    if path == "page":  # the agent asks, the supervisor grants the request in the inbox
        request = services.escalation_request(case_id=case.pk, actor=agent, target="legal", reason=reason)
        client = Client()
        client.force_login(supervisor)
        return client.post(
            reverse("dashboards:inbox_answer", args=[request.pk]), {"action": "escalate", "note": reason}
        ).status_code
    if path == "api":
        return (
            client_for(supervisor)
            .post(f"/api/v1/cases/{case.pk}/transition/", {"name": "escalate_to_legal", "reason": reason})
            .status_code
        )
    if path == "admin":
        client = Client()
        client.force_login(admin_user)
        return client.post(
            reverse("admin:collections_app_case_changelist"),
            {
                "action": "escalate_to_legal",
                "_selected_action": [case.pk],
                "confirm": "yes",
                "reason": reason,
            },
        ).status_code
    assert path == "rules"  # a live rule "DPD over 90 -> legal review", run as the nightly job runs it
    if not EscalationRule.objects.filter(enabled=True, dry_run=False).exists():  # the shipped ones are off
        make_rule(DPD_OVER_90, move_to_legal_review=True)
    escalation.run_rules(as_of=TODAY)
    return 200


def decide_litigation(path: str, case: Case, *, court_reference: str, legal, admin_user):
    note = "Documentation complete"
    if path == "page":
        client = Client()
        client.force_login(legal)
        return client.post(
            reverse("legal:decide", args=[case.pk]),
            {
                "decision": "litigation",
                "litigation-court_reference": court_reference,
                "litigation-note": note,
            },
        )
    if path == "api":
        return client_for(legal).post(
            f"/api/v1/cases/{case.pk}/transition/",
            {"name": "approve_litigation", "reason": note, "court_reference": court_reference},
        )
    assert path == "admin"
    client = Client()
    client.force_login(admin_user)
    return client.post(
        reverse("admin:collections_app_case_changelist"),
        {
            "action": "approve_litigation",
            "_selected_action": [case.pk],
            "confirm": "yes",
            "reason": note,
            "court_reference": court_reference,
        },
    )


def referral_record(case: Case) -> dict:
    """What a referral left behind, in a form the paths can be compared by."""
    case.refresh_from_db()
    events = CaseEvent.objects.filter(case=case, kind=EventKind.ESCALATED)
    referrals = LegalReferral.objects.filter(case=case)
    return {
        "state": case.state,
        "escalated_events": [(e.from_state, e.to_state) for e in events],
        "referrals": [(r.decision, r.limitation_date) for r in referrals],
    }


def test_every_referral_path_records_the_same_referral_with_its_limitation_date(
    db, team_a, agent, supervisor, admin_user
):
    first_missed = date(2025, 1, 10)
    cases = {path: _case(team_a, first_missed=first_missed) for path in REFERRAL_PATHS}
    for path, case in cases.items():
        assert refer(path, case, agent=agent, supervisor=supervisor, admin_user=admin_user) in (200, 302)

    expected = {
        "state": CaseState.LEGAL_REVIEW,
        "escalated_events": [(CaseState.NEW, CaseState.LEGAL_REVIEW)],
        # Nothing paid and no effective collection: the period runs from the first missed due date.
        "referrals": [(LegalDecision.PENDING, add_years(first_missed, 3))],
    }
    assert {path: referral_record(case) for path, case in cases.items()} == dict.fromkeys(
        REFERRAL_PATHS, expected
    )


def test_every_referral_path_refuses_a_debt_past_its_limitation_date(
    db, team_a, agent, supervisor, admin_user
):
    # First missed more than three years ago, nothing since: past the limitation date.
    cases = {path: _case(team_a, first_missed=date(2023, 3, 1)) for path in REFERRAL_PATHS}
    statuses = {
        path: refer(path, case, agent=agent, supervisor=supervisor, admin_user=admin_user)
        for path, case in cases.items()
    }

    assert statuses["api"] == 409
    for path, case in cases.items():
        assert referral_record(case) == {"state": CaseState.NEW, "escalated_events": [], "referrals": []}, (
            path
        )
    assert EscalationFiring.objects.get(case=cases["rules"]).skip_reason == "limitation_expired"


def test_every_decision_path_approves_litigation_with_its_court_reference(
    db, team_a, supervisor, legal, admin_user
):
    cases = {path: _case(team_a, first_missed=date(2025, 1, 10)) for path in DECISION_PATHS}
    for path, case in cases.items():
        services.case_transition(case_id=case.pk, name="escalate_to_legal", actor=supervisor, reason="x")
        response = decide_litigation(
            path, case, court_reference=f"(2026)沪0115民初{case.pk}号", legal=legal, admin_user=admin_user
        )
        assert response.status_code in (200, 302), (path, response.content[:300])

    for path, case in cases.items():
        case.refresh_from_db()
        referral = LegalReferral.objects.get(case=case)
        decision = CaseEvent.objects.get(case=case, kind=EventKind.LEGAL_DECISION)
        reference = f"(2026)沪0115民初{case.pk}号"
        assert (case.state, referral.decision, referral.court_reference) == (
            CaseState.LITIGATION,
            LegalDecision.LITIGATION,
            reference,
        ), path
        assert decision.details == {"decision": LegalDecision.LITIGATION, "court_reference": reference}, path


def test_every_decision_path_refuses_litigation_without_a_court_reference(
    db, team_a, supervisor, legal, admin_user
):
    cases = {path: _case(team_a, first_missed=date(2025, 1, 10)) for path in DECISION_PATHS}
    for path, case in cases.items():
        services.case_transition(case_id=case.pk, name="escalate_to_legal", actor=supervisor, reason="x")
        decide_litigation(path, case, court_reference="", legal=legal, admin_user=admin_user)
    for path, case in cases.items():
        case.refresh_from_db()
        assert case.state == CaseState.LEGAL_REVIEW, path
        assert LegalReferral.objects.get(case=case).decision == LegalDecision.PENDING, path


def test_every_decision_path_refuses_litigation_past_the_limitation_date(
    db, team_a, supervisor, legal, admin_user, _tuesday_morning_in_beijing
):
    # Referred the day before the limitation date; the reviewer decides two days later.
    first_missed = add_years(TODAY, -3) + timedelta(days=1)
    cases = {path: _case(team_a, first_missed=first_missed) for path in DECISION_PATHS}
    for case in cases.values():
        services.case_transition(case_id=case.pk, name="escalate_to_legal", actor=supervisor, reason="x")
    _tuesday_morning_in_beijing.shift(timedelta(days=2))

    responses = {
        path: decide_litigation(
            path, case, court_reference="(2026)沪0115民初1号", legal=legal, admin_user=admin_user
        )
        for path, case in cases.items()
    }
    assert responses["api"].status_code == 409
    assert responses["api"].json()["rule"] == "limitation_expired"
    for path, case in cases.items():
        case.refresh_from_db()
        assert case.state == CaseState.LEGAL_REVIEW, path
        assert not CaseEvent.objects.filter(case=case, kind=EventKind.LEGAL_DECISION).exists(), path
