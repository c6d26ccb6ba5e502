"""The legal reviewer's decisions and the package export, through the services: each decision, its
refusals, and what it leaves on the timeline.

Personas (tests/conftest.py): `legal` decides; `supervisor` escalates (team A); `agent` may not decide."""

import csv
import io
import zipfile
from datetime import date, timedelta
from decimal import Decimal

import pytest

from authority import services as authority
from authority.models import AuthorityRequest
from collections_app import services
from collections_app.models import CaseEvent, EventKind
from core.exceptions import InvalidTransition, NotAllowed, ValidationFailed
from legal import services as legal_ops
from legal import services as legal_services
from legal.models import LegalReferral
from repayment_plans.models import PlanState, RepaymentPlan
from tests.factories import UserFactory, open_case
from tests.legal.conftest import TODAY, log_contact

pytestmark = [pytest.mark.django_db, pytest.mark.postgres]

LEGAL_REASON = services.access_reason("legal_proceedings")


def referral(case) -> LegalReferral:
    return LegalReferral.objects.filter(case=case).order_by("-pk").first()


# --- Escalation by a person -------------------------------------------------------------------------


def test_a_supervisor_escalates_with_the_limitation_date_on_the_referral(today, team_a, supervisor):
    case = open_case(team=team_a, days_past_due=120, first_missed_due_date=date(2026, 2, 2))
    legal_ops.legal_refer(case_id=case.pk, actor=supervisor, reason="120 DPD, no contact")
    case.refresh_from_db()
    assert case.state == "legal_review"
    assert referral(case).limitation_date == date(2029, 2, 2)


def test_escalation_past_the_limitation_date_is_refused_with_the_reason(today, team_a, supervisor):
    case = open_case(team=team_a, days_past_due=1300, first_missed_due_date=date(2023, 1, 5))
    with pytest.raises(InvalidTransition) as refused:
        legal_ops.legal_refer(case_id=case.pk, actor=supervisor, reason="old debt")
    assert refused.value.rule == "limitation_expired"
    assert (
        "past its limitation date (2026-01-05; the period last started on 2023-01-05" in refused.value.message
    )
    case.refresh_from_db()
    assert case.state == "new"


def test_escalation_is_refused_while_a_dispute_is_open(today, team_a, supervisor, agent):
    case = open_case(team=team_a, days_past_due=120)
    services.case_hold(case_id=case.pk, actor=agent, reason="dispute")
    with pytest.raises(InvalidTransition) as refused:
        legal_ops.legal_refer(case_id=case.pk, actor=supervisor, reason="x")
    assert (refused.value.rule, refused.value.message) == (
        "open_dispute",
        "Legal escalation is refused while a dispute is open.",
    )


# --- Decisions --------------------------------------------------------------------------------------


def test_approving_litigation_needs_the_court_reference(referred_case, legal):
    with pytest.raises(ValidationFailed) as refused:
        legal_ops.legal_decide(case_id=referred_case.pk, actor=legal, decision="litigation")
    assert refused.value.field == "court_reference"
    case = legal_ops.legal_decide(
        case_id=referred_case.pk,
        actor=legal,
        decision="litigation",
        court_reference=" (2026)京0105民初1234号 ",
    )
    assert case.state == "litigation"
    assert referral(case).court_reference == "(2026)京0105民初1234号"
    event = CaseEvent.objects.filter(case=case, kind=EventKind.LEGAL_DECISION).get()
    assert (event.actor, event.to_state, event.details["decision"]) == (legal, "litigation", "litigation")


def test_litigation_is_refused_past_the_limitation_date(today, team_a, supervisor, legal):
    case = open_case(team=team_a, days_past_due=1000, first_missed_due_date=TODAY - timedelta(days=1000))
    legal_services.legal_refer(case_id=case.pk, actor=supervisor, reason="referred before the rule")
    case.account.__class__.objects.filter(pk=case.account_id).update(first_missed_due_date=date(2023, 5, 1))
    with pytest.raises(InvalidTransition) as refused:
        legal_ops.legal_decide(case_id=case.pk, actor=legal, decision="litigation", court_reference="X-1")
    assert refused.value.rule == "limitation_expired"


def test_returning_to_collections_needs_a_note(referred_case, legal):
    with pytest.raises(ValidationFailed):
        legal_ops.legal_decide(case_id=referred_case.pk, actor=legal, decision="returned", note=" ")
    case = legal_ops.legal_decide(
        case_id=referred_case.pk, actor=legal, decision="returned", note="New employer found; call again"
    )
    assert case.state == "in_progress"
    assert (referral(case).decision, referral(case).decision_note) == (
        "returned",
        "New employer found; call again",
    )


def test_writing_off_needs_a_reason(referred_case, legal):
    with pytest.raises(ValidationFailed):
        legal_ops.legal_decide(case_id=referred_case.pk, actor=legal, decision="write_off")
    case = legal_ops.legal_decide(
        case_id=referred_case.pk, actor=legal, decision="write_off", note="Debtor deceased, no estate"
    )
    # Legal asks; the approvers of the amount decide (maker-checker): nothing is written off yet.
    case.refresh_from_db()
    assert case.state == "legal_review"
    assert referral(case).decision == "pending"
    request = AuthorityRequest.objects.get(case=case, status="pending")
    assert (request.kind, request.requested_by, request.reason) == (
        "write_off",
        legal,
        "Debtor deceased, no estate",
    )

    head = UserFactory(username="head", role="head")
    authority.request_approve(request_id=request.pk, actor=head, reason="Estate checked")
    case.refresh_from_db()
    assert (case.state, case.resolution_reason) == ("written_off", "uncollectable")
    assert (referral(case).decision, referral(case).reviewer) == ("write_off", legal)


def test_a_settlement_returns_the_case_with_a_settlement_plan(referred_case, legal):
    plan = legal_ops.legal_propose_settlement(
        case_id=referred_case.pk,
        actor=legal,
        discount_percent=Decimal("20.00"),
        installments=3,
        first_due_date=TODAY + timedelta(days=14),
        note="Offer 80% in three months",
    )
    referred_case.refresh_from_db()
    assert referred_case.state == "in_progress"
    assert (plan.kind, plan.state, plan.proposed_by) == ("settlement", PlanState.DRAFT, legal)
    balance = Decimal("60400.00")
    assert (plan.amount, plan.payable_amount) == (balance, Decimal("48320.00"))
    assert referral(referred_case).decision == "settlement"
    decision = CaseEvent.objects.get(case=referred_case, kind=EventKind.LEGAL_DECISION)
    assert (decision.details["decision"], decision.to_state) == ("settlement", "in_progress")
    assert CaseEvent.objects.filter(
        case=referred_case, kind=EventKind.PLAN, details__action="proposed"
    ).exists()


def test_a_settlement_no_one_may_grant_leaves_the_case_with_legal(referred_case, legal):
    with pytest.raises(ValidationFailed):
        legal_ops.legal_propose_settlement(
            case_id=referred_case.pk,
            actor=legal,
            discount_percent=Decimal("70.00"),  # legal's limit is 50%
            installments=1,
            first_due_date=TODAY + timedelta(days=14),
            note="Too generous",
        )
    referred_case.refresh_from_db()
    assert referred_case.state == "legal_review"
    assert referral(referred_case).decision == "pending"
    assert not RepaymentPlan.objects.exists()


def test_only_legal_legals_decide(referred_case, supervisor, agent):
    for actor in (supervisor, agent):
        with pytest.raises(NotAllowed):
            legal_ops.legal_decide(case_id=referred_case.pk, actor=actor, decision="returned", note="x")
        with pytest.raises(NotAllowed):
            legal_ops.legal_package_export(case_id=referred_case.pk, actor=actor, reason=LEGAL_REASON)


def test_a_decision_on_a_case_not_in_legal_review_is_refused(today, team_a, legal, supervisor):
    case = open_case(team=team_a)
    legal_services.legal_refer(case_id=case.pk, actor=supervisor, reason="x")
    legal_ops.legal_decide(case_id=case.pk, actor=legal, decision="litigation", court_reference="X-1")
    with pytest.raises(InvalidTransition):
        legal_ops.legal_decide(case_id=case.pk, actor=legal, decision="returned", note="again")


# --- Export ----------------------------------------------------------------------------------------------


def read_zip(content: bytes) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(content)) as archive:
        return {name.split("/", 1)[1]: archive.read(name) for name in archive.namelist()}


def csv_rows(data: bytes) -> list[dict]:
    return list(csv.DictReader(io.StringIO(data.decode("utf-8-sig"))))


def test_the_export_holds_the_statement_the_contacts_and_the_payments(referred_case, legal):
    export = legal_ops.legal_package_export(case_id=referred_case.pk, actor=legal, reason=LEGAL_REASON)
    assert export.filename == f"{referred_case.reference}-legal-package-20260602.zip"
    files = read_zip(export.content)
    assert sorted(files) == ["contacts.csv", "events.csv", "payments.csv", "statement.pdf"]
    assert files["statement.pdf"].startswith(b"%PDF")
    contacts = csv_rows(files["contacts.csv"])
    assert [(c["channel"], c["outcome"], c["effective"]) for c in contacts] == [
        ("Outbound call", "Right-party contact", "yes"),
        ("SMS", "Sent", "no"),
        ("SMS", "Delivered", "yes"),
    ]
    assert contacts[0]["recording_ref"] == "REC-0202"
    assert "****" in contacts[0]["number_or_address"]  # masked
    payments = csv_rows(files["payments.csv"])
    assert [(p["reference"], p["amount"], p["currency"]) for p in payments] == [
        (f"PAY-{referred_case.pk}-20260120", "500.00", "CNY")
    ]


def test_the_export_is_logged_on_the_timeline(referred_case, legal):
    export = legal_ops.legal_package_export(case_id=referred_case.pk, actor=legal, reason=LEGAL_REASON)
    event = CaseEvent.objects.get(case=referred_case, details__action="legal_package_exported")
    assert event == export.event
    assert (event.kind, event.actor) == (EventKind.NOTE, legal)
    assert set(event.details["files"]) == {"statement.pdf", "contacts.csv", "payments.csv", "events.csv"}


def test_csv_cells_that_a_spreadsheet_would_run_are_quoted(referred_case, legal, agent, supervisor):
    case = referred_case
    legal_services.legal_decide(case_id=case.pk, actor=legal, decision="returned", note="one more call")
    log_contact(case, agent, TODAY, recording="REC-X", notes='=HYPERLINK("http://evil")')
    legal_services.legal_refer(case_id=case.pk, actor=supervisor, reason="again")
    contacts = csv_rows(
        read_zip(legal_ops.legal_package_export(case_id=case.pk, actor=legal, reason=LEGAL_REASON).content)[
            "contacts.csv"
        ]
    )
    assert contacts[-1]["notes"] == '\'=HYPERLINK("http://evil")'


def test_only_cases_with_legal_are_exported(today, team_a, legal, admin_user):
    case = open_case(team=team_a)
    with pytest.raises(InvalidTransition):
        legal_ops.legal_package_export(case_id=case.pk, actor=admin_user, reason=LEGAL_REASON)
    with pytest.raises(NotAllowed):
        legal_ops.legal_package_export(
            case_id=case.pk, actor=legal, reason=LEGAL_REASON
        )  # outside a legal legal's reach
