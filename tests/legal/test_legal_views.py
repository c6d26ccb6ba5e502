"""The legal pages: who may open them, the queue (oldest first, age, rule, limitation badge, a query
budget), the case package, each decision through its form, and the export download.

Personas (tests/conftest.py): `legal` reviews cases in legal states; `agent` (team A) and `supervisor`
(team A) may not open the legal pages; `admin_user` may, but like legal only for cases with legal."""

import io
import zipfile
from datetime import date, timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from authority.models import AuthorityRequest
from collections_app.models import Case, CaseEvent
from escalation.models import EscalationRule
from legal import services as legal_services
from legal.models import LegalReferral
from repayment_plans.models import RepaymentPlan
from tests.factories import open_case
from tests.legal.conftest import TODAY

pytestmark = [pytest.mark.django_db, pytest.mark.postgres, pytest.mark.urls("tests.legal.urls")]

QUEUE = "legal:queue"


def package_url(case) -> str:
    return reverse("legal:case", args=[case.pk])


def decide(client, case, decision, **fields):
    data = {"decision": decision, **{f"{decision}-{name}": value for name, value in fields.items()}}
    return client.post(reverse("legal:decide", args=[case.pk]), data)


# --- Who may open what -----------------------------------------------------------------------------------


def test_anonymous_users_are_sent_to_sign_in(client, referred_case):
    for url in (reverse(QUEUE), package_url(referred_case)):
        response = client.get(url)
        assert response.status_code == 302 and response.url.startswith(reverse("login"))


@pytest.mark.parametrize("persona", ["agent", "supervisor"])
def test_collections_staff_get_403(client, request, referred_case, persona):
    client.force_login(request.getfixturevalue(persona))
    assert client.get(reverse(QUEUE)).status_code == 403
    assert client.get(package_url(referred_case)).status_code == 403
    assert decide(client, referred_case, "returned", note="x").status_code == 403
    assert client.post(reverse("legal:export", args=[referred_case.pk])).status_code == 403


@pytest.mark.parametrize("persona", ["legal", "admin_user"])
def test_a_case_not_in_a_legal_state_is_a_404(client, request, today, team_a, persona):
    case = open_case(team=team_a)
    client.force_login(request.getfixturevalue(persona))
    assert client.get(package_url(case)).status_code == 404
    assert decide(client, case, "returned", note="x").status_code == 404
    assert client.get(reverse("legal:case", args=[999999])).status_code == 404


def test_the_decision_and_export_urls_take_posts_only(client, legal, referred_case):
    client.force_login(legal)
    assert client.get(reverse("legal:decide", args=[referred_case.pk])).status_code == 405
    assert client.get(reverse("legal:export", args=[referred_case.pk])).status_code == 405


# --- The queue ------------------------------------------------------------------------------------------


def test_the_queue_lists_cases_in_legal_review_oldest_first(
    client, legal, referred_case, team_a, supervisor, time_machine
):
    time_machine.move_to("2026-06-05 10:00 +0800", tick=False)
    newer = open_case(team=team_a, days_past_due=100, first_missed_due_date=date(2023, 7, 20))
    legal_services.legal_refer(case_id=newer.pk, actor=None, reason="Escalation rule «M4»")
    # As the rule engine records it (escalation.services names the rule on the referral).
    LegalReferral.objects.filter(case=newer).update(rule_name="M4, no contact")
    client.force_login(legal)
    page = client.get(reverse(QUEUE)).content.decode()
    assert page.index(referred_case.reference) < page.index(newer.reference)
    assert "3 days" in page  # referred on 2 June, seen on 5 June
    assert "150 DPD, refuses to pay" in page
    assert "M4, no contact" in page
    # First missed 20 July 2023: the limitation date 20 July 2026 is 45 days away.
    assert "2026-07-20 · 45 days left" in page
    assert 'class="badge badge-warn" data-testid="limitation-badge"' in page


def test_the_queue_does_not_list_returned_or_closed_cases(client, legal, referred_case):
    legal_services.legal_decide(case_id=referred_case.pk, actor=legal, decision="returned", note="back")
    client.force_login(legal)
    assert 'data-testid="legal-queue-empty"' in client.get(reverse(QUEUE)).content.decode()


def test_the_queue_has_a_query_budget(
    client, legal, today, team_a, supervisor, django_assert_max_num_queries
):
    def fill(n):
        for _ in range(n):
            case = open_case(team=team_a, days_past_due=120)
            legal_services.legal_refer(case_id=case.pk, actor=supervisor, reason="x")
        litigated = Case.objects.filter(state="legal_review").first()
        legal_services.legal_decide(
            case_id=litigated.pk, actor=legal, decision="litigation", court_reference="L-1"
        )

    client.force_login(legal)
    fill(3)
    # Session and user, the count, the page, the litigation list.
    with django_assert_max_num_queries(6) as small:
        assert client.get(reverse(QUEUE)).status_code == 200
    fill(20)
    with django_assert_max_num_queries(len(small.captured_queries)):
        page = client.get(reverse(QUEUE)).content.decode()
    assert page.count('data-testid="legal-row"') == 21


def test_the_queue_pages_with_htmx(client, legal, today, team_a, supervisor):
    for _ in range(3):
        case = open_case(team=team_a)
        legal_services.legal_refer(case_id=case.pk, actor=supervisor, reason="x")
    client.force_login(legal)
    response = client.get(reverse(QUEUE), {"fragment": "queue"}, HTTP_HX_REQUEST="true")
    body = response.content.decode()
    assert body.lstrip().startswith('<section class="card" id="legal-queue">')
    assert "<html" not in body


# --- The package ---------------------------------------------------------------------------------------


def test_the_package_shows_what_a_court_will_ask_for(client, legal, referred_case):
    client.force_login(legal)
    page = client.get(package_url(referred_case)).content.decode()
    for text in (
        "Statement of account",
        "CN¥60,400.00",  # the balance, in its currency as English writes it
        "CN¥60,000.00",  # the principal
        "Principal at least CN¥50,000.00",  # the malicious-overdraft threshold, in the account's currency
        "PAY-",  # the payment
        "recorded conversation with the debtor (REC-0202)",
        "no delivery receipt",
        "Two effective collections at least 30 days apart",
        "150 DPD, refuses to pay",
        "2029-03-05",  # the limitation date, from the last effective collection (5 March 2026)
        "110***********1234",  # the national ID, masked
    ):
        assert text in page, text
    assert "110101199003071234" not in page


def test_the_package_names_the_rule_that_referred_the_case(client, legal, today, team_a):
    from escalation import services as escalation

    rule = EscalationRule(
        name="M5 refusers",
        conditions=[{"field": "dpd", "operator": "gte", "value": 121}],
        move_to_legal_review=True,
        enabled=True,
        dry_run=False,
    )
    rule.full_clean()
    rule.save()
    case = open_case(team=team_a, days_past_due=130)
    escalation.run_rules(as_of=TODAY)
    client.force_login(legal)
    page = client.get(package_url(case)).content.decode()
    assert "M5 refusers" in page and "dpd ≥ 121" in page


# --- Decisions through the page -------------------------------------------------------------------------


def test_approving_litigation_through_the_page(client, legal, referred_case):
    client.force_login(legal)
    response = decide(client, referred_case, "litigation", court_reference="(2026)京0105民初1234号", note="")
    assert response.status_code == 302 and response.url == package_url(referred_case)
    referred_case.refresh_from_db()
    assert referred_case.state == "litigation"
    page = client.get(package_url(referred_case)).content.decode()
    assert "(2026)京0105民初1234号" in page
    assert "Litigation approved." in page


def test_litigation_without_a_reference_is_refused_beside_the_form(client, legal, referred_case):
    client.force_login(legal)
    response = decide(client, referred_case, "litigation", court_reference="", note="")
    assert response.status_code == 422
    assert "This field is required." in response.content.decode()
    referred_case.refresh_from_db()
    assert referred_case.state == "legal_review"


def test_returning_and_writing_off_through_the_page(client, legal, referred_case, today, team_a, supervisor):
    client.force_login(legal)
    response = decide(client, referred_case, "returned", note="Debtor found a job; call again")
    assert response.status_code == 302 and response.url == reverse(QUEUE)
    assert Case.objects.get(pk=referred_case.pk).state == "in_progress"

    other = open_case(team=team_a)
    legal_services.legal_refer(case_id=other.pk, actor=supervisor, reason="x")
    assert decide(client, other, "write_off", note="").status_code == 422
    response = decide(client, other, "write_off", note="Bankruptcy discharge")
    assert response.status_code == 302
    # A write-off request waits for its approvers; the case stays in legal review meanwhile.
    assert Case.objects.get(pk=other.pk).state == "legal_review"
    assert AuthorityRequest.objects.get(case=other).status == "pending"


def test_proposing_a_settlement_through_the_page(client, legal, referred_case):
    client.force_login(legal)
    first_due = (TODAY + timedelta(days=10)).isoformat()
    response = decide(
        client,
        referred_case,
        "settlement",
        discount_percent="90",
        installments="1",
        first_due_date=first_due,
        note="x",
    )
    assert response.status_code == 422  # beyond every approval tier: the refusal is shown
    assert 'data-testid="refusal"' in response.content.decode()
    response = decide(
        client,
        referred_case,
        "settlement",
        discount_percent="25",
        installments="2",
        first_due_date=first_due,
        note="Final offer",
    )
    assert response.status_code == 302
    plan = RepaymentPlan.objects.get(case=referred_case)
    assert (plan.kind, plan.installment_count, str(plan.discount_percent)) == ("settlement", 2, "25.00")


def test_an_unknown_decision_is_a_bad_request(client, legal, referred_case):
    client.force_login(legal)
    assert decide(client, referred_case, "appeal", note="x").status_code == 400


# --- Export ---------------------------------------------------------------------------------------------


def test_the_export_downloads_a_zip_and_is_logged(client, legal, referred_case):
    client.force_login(legal)
    response = client.post(reverse("legal:export", args=[referred_case.pk]), {"reason": "legal_proceedings"})
    assert response.status_code == 200
    assert response["Content-Type"] == "application/zip"
    assert (
        response["Content-Disposition"]
        == f'attachment; filename="{referred_case.reference}-legal-package-20260602.zip"'
    )
    assert response["Cache-Control"] == "no-store"
    names = zipfile.ZipFile(io.BytesIO(response.content)).namelist()
    assert sorted(n.split("/")[1] for n in names) == [
        "contacts.csv",
        "events.csv",
        "payments.csv",
        "statement.pdf",
    ]
    assert (
        CaseEvent.objects.filter(
            case=referred_case, details__action="legal_package_exported", actor=legal
        ).count()
        == 1
    )


def test_the_package_costs_the_same_queries_however_long_the_history(
    client, legal, referred_case, agent, supervisor
):
    from tests.legal.conftest import log_contact, pay

    client.force_login(legal)
    with CaptureQueriesContext(connection) as short:
        assert client.get(package_url(referred_case)).status_code == 200
    legal_services.legal_decide(case_id=referred_case.pk, actor=legal, decision="returned", note="more work")
    for day in range(10):
        log_contact(
            referred_case,
            agent,
            date(2026, 4, 1) + timedelta(days=day),
            channel="letter",
            outcome="delivered",
        )
        pay(referred_case, date(2026, 4, 1) + timedelta(days=day), "10.00")
    legal_services.legal_refer(case_id=referred_case.pk, actor=supervisor, reason="again")
    with CaptureQueriesContext(connection) as long:
        page = client.get(package_url(referred_case)).content.decode()
    assert page.count("signed return") >= 10
    assert len(long.captured_queries) == len(short.captured_queries)
