"""The pages of maker-checker: the case page's "Request write-off" (and no direct write-off), the request
form, and the approvers' inbox at /authority/ - with the negative cases (anonymous, wrong role, no reason)."""

import pytest
from django.urls import reverse

from authority.models import AuthorityRequest, RequestStatus
from collections_app.admin import CASE_ACTIONS
from collections_app.models import Case, CaseState
from tests.authority.conftest import ask_write_off

pytestmark = pytest.mark.django_db


def test_the_case_page_offers_request_write_off_not_a_direct_write_off(client, case, supervisor, agent):
    client.force_login(supervisor)
    html = client.get(reverse("case_detail", args=[case.pk])).content.decode()
    assert 'data-testid="request-write-off"' in html
    assert reverse("authority:case_write_off", args=[case.pk]) in html
    assert 'value="write_off"' not in html  # the "Change state" drawer no longer offers it

    client.force_login(agent)
    html = client.get(reverse("case_detail", args=[case.pk])).content.decode()
    assert 'data-testid="request-write-off"' not in html


def test_the_admin_has_no_direct_write_off_action():
    assert "write_off" not in CASE_ACTIONS


def test_requesting_a_write_off_from_the_case_page(client, case, supervisor):
    client.force_login(supervisor)
    url = reverse("authority:case_write_off", args=[case.pk])

    form = client.get(url, HTTP_HX_REQUEST="true")
    assert form.status_code == 200
    assert 'data-role="team_lead"' in form.content.decode()

    refused = client.post(url, {"resolution_reason": "charged_off", "reason": ""}, HTTP_HX_REQUEST="true")
    assert refused.status_code == 422
    assert not AuthorityRequest.objects.exists()

    made = client.post(
        url, {"resolution_reason": "uncollectable", "reason": "Debtor emigrated"}, HTTP_HX_REQUEST="true"
    )
    assert made.status_code == 200
    assert 'data-testid="request-made"' in made.content.decode()
    request = AuthorityRequest.objects.get(case=case)
    assert (request.requested_by, request.resolution_reason) == (supervisor, "uncollectable")
    assert Case.objects.get(pk=case.pk).state != CaseState.WRITTEN_OFF


def test_an_agent_cannot_open_the_request_form(client, case, agent):
    client.force_login(agent)
    assert client.get(reverse("authority:case_write_off", args=[case.pk])).status_code == 403


def test_the_inbox_shows_the_approver_their_requests_and_the_requester_theirs(
    client, case, supervisor, team_lead
):
    request = ask_write_off(case, supervisor)

    client.force_login(team_lead)
    html = client.get(reverse("authority:inbox")).content.decode()
    assert f'data-request="{request.pk}"' in html and 'data-testid="approve"' in html

    client.force_login(supervisor)
    html = client.get(reverse("authority:inbox")).content.decode()
    assert 'data-testid="authority-empty"' in html  # nothing to decide: it is their own
    assert 'data-testid="my-request"' in html


def test_approving_from_the_inbox_needs_a_reason_and_then_writes_off(client, case, supervisor, team_lead):
    request = ask_write_off(case, supervisor)
    client.force_login(team_lead)
    approve = reverse("authority:approve", args=[request.pk])

    client.post(approve, {"reason": ""})
    assert Case.objects.get(pk=case.pk).state != CaseState.WRITTEN_OFF

    response = client.post(approve, {"reason": "Checked: nothing to recover"})
    assert response.status_code == 302
    assert Case.objects.get(pk=case.pk).state == CaseState.WRITTEN_OFF
    request.refresh_from_db()
    assert request.status == RequestStatus.APPLIED


def test_the_requester_approving_from_the_page_is_refused(client, case, supervisor):
    request = ask_write_off(case, supervisor)
    client.force_login(supervisor)

    response = client.post(reverse("authority:approve", args=[request.pk]), {"reason": "Mine"}, follow=True)

    assert "Someone else must approve" in response.content.decode()
    assert Case.objects.get(pk=case.pk).state != CaseState.WRITTEN_OFF


def test_the_inbox_refuses_anonymous_and_agents(client, agent):
    response = client.get(reverse("authority:inbox"))
    assert response.status_code == 302 and "login" in response.url
    client.force_login(agent)
    assert client.get(reverse("authority:inbox")).status_code == 403


def test_a_request_outside_ones_reach_is_404(client, case, supervisor, supervisor_b):
    request = ask_write_off(case, supervisor)
    client.force_login(supervisor_b)
    assert client.post(reverse("authority:approve", args=[request.pk]), {"reason": "x"}).status_code == 404


def test_admins_edit_the_limits_in_the_list(client, admin_user):
    client.force_login(admin_user)
    response = client.get(reverse("admin:authority_authoritylimit_changelist"))
    assert response.status_code == 200
    assert 'name="form-0-max_amount"' in response.content.decode()  # editable in place
