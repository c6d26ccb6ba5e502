"""The API of maker-checker: asking for a write-off on a case, listing what awaits me, approving and
rejecting with a reason - and the refusals (own request, no reason, wrong role, not reached)."""

import pytest

from authority.models import AuthorityRequest
from collections_app.models import Case, CaseState
from tests.api.conftest import client_for
from tests.authority.conftest import ask_write_off

pytestmark = pytest.mark.django_db


def test_asking_for_a_write_off_through_the_api(case, supervisor, agent):
    url = f"/api/v1/cases/{case.pk}/write-off-requests/"

    assert client_for(agent).post(url, {"reason": "No assets"}).status_code == 403
    assert client_for(None).post(url, {"reason": "No assets"}).status_code == 401

    response = client_for(supervisor).post(url, {"reason": "No assets", "resolution_reason": "uncollectable"})

    assert response.status_code == 201, response.json()
    body = response.json()
    assert (body["status"], body["routed_to_role"], body["required_approvals"]) == ("pending", "team_lead", 1)
    assert body["amount"] == "8900.00"
    assert Case.objects.get(pk=case.pk).state != CaseState.WRITTEN_OFF


def test_approving_through_the_api_follows_maker_checker(case, supervisor, team_lead):
    request = ask_write_off(case, supervisor)
    approve = f"/api/v1/authority-requests/{request.pk}/approve/"

    own = client_for(supervisor).post(approve, {"reason": "Mine"})
    assert own.status_code == 403
    assert own.json()["rule"] == "maker_checker"

    no_reason = client_for(team_lead).post(approve, {})
    assert no_reason.status_code in (400, 422)

    awaiting = client_for(team_lead).get("/api/v1/authority-requests/?awaiting=1").json()
    assert [row["id"] for row in awaiting["results"]] == [request.pk]

    done = client_for(team_lead).post(approve, {"reason": "Nothing to recover"})
    assert done.status_code == 200, done.json()
    assert Case.objects.get(pk=case.pk).state == CaseState.WRITTEN_OFF
    assert AuthorityRequest.objects.get(pk=request.pk).status == "applied"


def test_rejecting_through_the_api(case, supervisor, team_lead):
    request = ask_write_off(case, supervisor)

    response = client_for(team_lead).post(
        f"/api/v1/authority-requests/{request.pk}/reject/", {"reason": "A payment plan is agreed"}
    )

    assert response.status_code == 200, response.json()
    assert response.json()["status"] == "rejected"
    assert response.json()["decisions"][0]["reason"] == "A payment plan is agreed"


def test_a_request_outside_the_callers_reach_is_404(case, supervisor, supervisor_b):
    request = ask_write_off(case, supervisor)
    response = client_for(supervisor_b).post(
        f"/api/v1/authority-requests/{request.pk}/approve/", {"reason": "x"}
    )
    assert response.status_code == 404


def test_the_transition_endpoint_does_not_write_off(case, supervisor):
    response = client_for(supervisor).post(
        f"/api/v1/cases/{case.pk}/transition/", {"name": "write_off", "resolution_reason": "charged_off"}
    )
    assert response.status_code in (400, 422)
    assert Case.objects.get(pk=case.pk).state != CaseState.WRITTEN_OFF
