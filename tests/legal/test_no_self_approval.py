"""Maker-checker in legal review: whoever referred a case to legal does not decide on that referral
(litigation, return, write-off or a settlement); another legal reviewer does. Only an administrator holds
both capabilities, so the requester here is `admin_user`.

Personas (tests/conftest.py): `admin_user` refers the case and may open the legal pages; `legal` decides;
`agent` (team A) logs the contacts that make the case eligible."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.urls import reverse

from authority import services as authority
from authority.models import AuthorityRequest
from collections_app.models import Case
from core.exceptions import NotAllowed
from legal import services as legal_services
from legal.models import LegalReferral
from tests.factories import UserFactory
from tests.legal.conftest import TODAY, build_referred_case

pytestmark = [pytest.mark.django_db, pytest.mark.urls("tests.legal.urls")]

OWN_REFERRAL = "Someone else decides on a case you referred to legal yourself."


@pytest.fixture
def admin_referred_case(today, team_a, agent, admin_user):
    """The conftest's referred case, but referred to legal by the administrator."""
    case = build_referred_case(team=team_a, agent=agent, referrer=admin_user)
    assert case.state == "legal_review"
    return case


@pytest.mark.parametrize(
    ("decision", "fields"),
    [
        ("write_off", {"note": "Deceased, no estate"}),
        ("returned", {"note": "Back to collections"}),
        ("litigation", {"court_reference": "(2026) Jing 0105 Min Chu 1234"}),
    ],
)
def test_the_referrer_cannot_decide_on_their_own_referral(admin_referred_case, admin_user, decision, fields):
    with pytest.raises(NotAllowed) as refused:
        legal_services.legal_decide(
            case_id=admin_referred_case.pk, actor=admin_user, decision=decision, **fields
        )

    assert refused.value.rule == "own_request"
    assert refused.value.message == OWN_REFERRAL
    assert Case.objects.get(pk=admin_referred_case.pk).state == "legal_review"
    assert LegalReferral.objects.get(case=admin_referred_case).decision == "pending"


def test_the_referrer_cannot_propose_a_settlement_on_their_own_referral(admin_referred_case, admin_user):
    with pytest.raises(NotAllowed) as refused:
        legal_services.legal_propose_settlement(
            case_id=admin_referred_case.pk,
            actor=admin_user,
            discount_percent=Decimal("10.00"),
            installments=6,
            first_due_date=TODAY + timedelta(days=7),
            note="Offer to settle",
        )

    assert refused.value.rule == "own_request"
    assert Case.objects.get(pk=admin_referred_case.pk).state == "legal_review"


def test_another_reviewer_writes_it_off(admin_referred_case, legal):
    legal_services.legal_decide(
        case_id=admin_referred_case.pk, actor=legal, decision="write_off", note="Deceased, no estate"
    )

    assert Case.objects.get(pk=admin_referred_case.pk).state == "legal_review"  # asked, not yet approved
    write_off = AuthorityRequest.objects.get(case=admin_referred_case)
    authority.request_approve(
        request_id=write_off.pk, actor=UserFactory(username="head", role="head"), reason="Checked"
    )

    referral = LegalReferral.objects.get(case=admin_referred_case)
    assert (referral.decision, referral.reviewer) == ("write_off", legal)
    assert Case.objects.get(pk=admin_referred_case.pk).state == "written_off"


def test_the_decide_page_refuses_the_referrer_with_the_reason(client, admin_referred_case, admin_user):
    client.force_login(admin_user)

    response = client.post(
        reverse("legal:decide", args=[admin_referred_case.pk]),
        {"decision": "write_off", "write_off-note": "Deceased, no estate"},
    )

    assert response.status_code == 422
    assert OWN_REFERRAL in response.content.decode()
    assert Case.objects.get(pk=admin_referred_case.pk).state == "legal_review"


def test_the_decide_page_lets_another_reviewer_decide(client, admin_referred_case, legal):
    client.force_login(legal)

    response = client.post(
        reverse("legal:decide", args=[admin_referred_case.pk]),
        {"decision": "write_off", "write_off-note": "Deceased, no estate"},
    )

    assert response.status_code == 302
    assert AuthorityRequest.objects.get(case=admin_referred_case).requested_by == legal


def test_the_referrer_is_shown_no_decision_forms_but_why(client, admin_referred_case, admin_user, legal):
    client.force_login(admin_user)
    page = client.get(reverse("legal:case", args=[admin_referred_case.pk])).content.decode()
    assert 'data-testid="own-referral"' in page and 'id="decide-litigation"' not in page

    client.force_login(legal)
    page = client.get(reverse("legal:case", args=[admin_referred_case.pk])).content.decode()
    assert 'data-testid="own-referral"' not in page and 'id="decide-litigation"' in page
