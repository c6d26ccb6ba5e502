"""Correction requests: whoever works the cardholder's cases asks, a supervisor other than the requester
decides; the value before and after stays on the request and the open case's timeline says so."""

from datetime import date

import pytest
from django.db import IntegrityError, transaction
from django.urls import reverse

from collections_app.models import Cardholder, CaseEvent
from core.exceptions import ConcurrentUpdate, NotAllowed, ValidationFailed
from core.masking import pii_hash
from privacy import services
from privacy.models import CorrectionRequest, CorrectionStatus
from tests.factories import UserFactory
from tests.privacy.conftest import cardholder, open_case_on

pytestmark = pytest.mark.django_db

NEW_ID = "110101198501019876"


@pytest.fixture
def holder(team_a):
    holder = cardholder()
    open_case_on(date(2026, 1, 5), holder=holder, team=team_a)
    return holder


@pytest.fixture
def second_supervisor(team_a):
    return UserFactory(username="sup_a2", role="supervisor", team=team_a)


def ask(agent, holder, field="national_id", value=NEW_ID):
    return services.correction_request(
        actor=agent, cardholder=holder, field=field, requested_value=value, reason="ID card copy received"
    )


def test_a_supervisor_approves_and_the_detail_changes_with_its_history(agent, supervisor, holder):
    request = ask(agent, holder)
    assert request.current_value == "110101199003071234"

    services.correction_approve(actor=supervisor, request=request, reason="checked the ID copy")

    holder.refresh_from_db()
    assert holder.national_id == NEW_ID
    assert holder.national_id_hash == pii_hash(NEW_ID)  # still found by the new ID
    request.refresh_from_db()
    assert (request.status, request.decided_by) == (CorrectionStatus.APPROVED, supervisor)
    assert (request.current_value, request.requested_value) == ("110101199003071234", NEW_ID)
    event = CaseEvent.objects.filter(case__account__cardholder=holder, kind="note").latest("pk")
    assert event.details["correction"] == request.pk
    assert event.actor == supervisor
    assert NEW_ID not in event.reason and NEW_ID not in str(event.details)  # values stay on the request


def test_a_rejection_needs_a_reason_and_changes_nothing(agent, supervisor, holder):
    request = ask(agent, holder)
    with pytest.raises(ValidationFailed):
        services.correction_reject(actor=supervisor, request=request, reason=" ")
    services.correction_reject(actor=supervisor, request=request, reason="the copy is unreadable")
    holder.refresh_from_db()
    assert holder.national_id == "110101199003071234"
    request.refresh_from_db()
    assert (request.status, request.decision_reason) == (CorrectionStatus.REJECTED, "the copy is unreadable")


def test_the_requester_never_decides_their_own_request(supervisor, second_supervisor, holder):
    request = ask(supervisor, holder, field="email", value="wang@example.cn")
    with pytest.raises(NotAllowed) as refused:
        services.correction_approve(actor=supervisor, request=request)
    assert refused.value.rule == "maker_checker"
    assert Cardholder.objects.get(pk=holder.pk).email == "wang.wei@example.cn"
    services.correction_approve(actor=second_supervisor, request=request)
    assert Cardholder.objects.get(pk=holder.pk).email == "wang@example.cn"


def test_the_database_refuses_a_self_decided_request_too(agent, holder):
    request = ask(agent, holder)
    with pytest.raises(IntegrityError), transaction.atomic():
        CorrectionRequest.objects.filter(pk=request.pk).update(decided_by=agent)


def test_an_agent_does_not_decide(agent, other_agent, holder):
    request = ask(agent, holder)
    with pytest.raises(NotAllowed):
        services.correction_approve(actor=other_agent, request=request)


def test_an_agent_of_another_team_cannot_ask(other_agent, holder):
    with pytest.raises(NotAllowed):
        ask(other_agent, holder)
    assert not CorrectionRequest.objects.exists()


def test_a_decided_request_is_not_decided_again(agent, supervisor, second_supervisor, holder):
    request = ask(agent, holder)
    services.correction_reject(actor=supervisor, request=request, reason="no proof")
    with pytest.raises(ConcurrentUpdate):
        services.correction_approve(actor=second_supervisor, request=request)


def test_a_detail_changed_since_the_request_is_not_overwritten(agent, supervisor, holder):
    request = ask(agent, holder, field="address", value="上海市浦东新区1号")
    Cardholder.objects.filter(pk=holder.pk).update(address="广州市天河区2号")
    with pytest.raises(ConcurrentUpdate):
        services.correction_approve(actor=supervisor, request=request)
    assert Cardholder.objects.get(pk=holder.pk).address == "广州市天河区2号"


def test_one_pending_request_per_detail(agent, holder):
    ask(agent, holder)
    with pytest.raises(ValidationFailed):
        ask(agent, holder, value="110101198501010000")


def test_the_same_value_or_an_empty_name_is_refused(agent, holder):
    with pytest.raises(ValidationFailed):
        ask(agent, holder, value="110101199003071234")
    with pytest.raises(ValidationFailed):
        ask(agent, holder, field="name", value="  ")


def test_an_invalid_email_is_refused_when_asked(agent, holder):
    with pytest.raises(ValidationFailed) as refused:
        ask(agent, holder, field="email", value="not-an-address")
    assert refused.value.field == "requested_value"
    assert not CorrectionRequest.objects.exists()


# --- Pages -------------------------------------------------------------------------------------------


def test_the_agent_asks_on_the_page_and_sees_the_request_masked(agent, client, holder):
    client.force_login(agent)
    response = client.post(
        reverse("privacy:corrections"),
        {
            "external_ref": holder.external_ref,
            "field": "national_id",
            "requested_value": NEW_ID,
            "reason": "ID copy",
        },
    )
    assert response.status_code == 302
    page = client.get(reverse("privacy:corrections")).content.decode()
    assert 'data-testid="corrections-mine"' in page
    assert 'data-testid="corrections-pending"' not in page  # an agent does not decide
    assert NEW_ID not in page


def test_the_supervisor_decides_on_the_page_with_values_masked(agent, supervisor, client, holder):
    request = ask(agent, holder)
    client.force_login(supervisor)
    page = client.get(reverse("privacy:corrections")).content.decode()
    assert f'data-request="{request.pk}"' in page
    assert NEW_ID not in page and "110101199003071234" not in page
    response = client.post(
        reverse("privacy:correction_decide", args=[request.pk]), {"decision": "approve", "reason": "ok"}
    )
    assert response.status_code == 302
    assert Cardholder.objects.get(pk=holder.pk).national_id == NEW_ID


def test_the_decide_url_refuses_agents_and_anonymous(agent, client, holder):
    request = ask(agent, holder)
    url = reverse("privacy:correction_decide", args=[request.pk])
    assert client.post(url, {"decision": "approve"}).status_code == 302  # to the login page
    client.force_login(agent)
    assert client.post(url, {"decision": "approve"}).status_code == 403
    assert CorrectionRequest.objects.get(pk=request.pk).status == CorrectionStatus.PENDING


def test_a_legal_reviewer_has_no_correction_page(legal, client):
    client.force_login(legal)
    assert client.get(reverse("privacy:corrections")).status_code == 403


def test_the_case_page_links_the_agent_to_a_correction_request(agent, client, holder):
    case = holder.accounts.get().cases.get()
    client.force_login(agent)
    html = client.get(reverse("case_detail", args=[case.pk])).content.decode()
    assert f"{reverse('privacy:corrections')}?ref={holder.external_ref}" in html
    page = client.get(reverse("privacy:corrections"), {"ref": holder.external_ref}).content.decode()
    assert f'value="{holder.external_ref}"' in page
