"""Maker-checker in the supervisor's inbox: a supervisor who asked for an escalation does not grant or
decline it; another supervisor (here the administrator) answers it.

Personas (tests/conftest.py): `supervisor` supervises team A and files the request from a case they work;
`admin_user` answers it."""

import pytest
from django.urls import reverse

from collections_app import services
from collections_app.models import Case
from core.exceptions import NotAllowed
from dashboards import services as inbox
from dashboards.models import InboxClosure
from dashboards.scope import Filters
from dashboards.selectors import inbox_escalations
from tests.factories import open_case

pytestmark = pytest.mark.django_db

OWN_REQUEST = "Someone else answers a request you made yourself."


@pytest.fixture
def own_request(team_a, supervisor):
    case = open_case(team=team_a)
    return services.escalation_request(
        case_id=case.pk, actor=supervisor, target="legal", reason="Refuses to pay; threatens to complain"
    )


def test_the_requester_cannot_grant_their_own_escalation_request(own_request, supervisor):
    with pytest.raises(NotAllowed) as refused:
        inbox.inbox_escalate(event_id=own_request.pk, actor=supervisor, reason="Agreed")

    assert (refused.value.rule, refused.value.message) == ("own_request", OWN_REQUEST)
    assert Case.objects.get(pk=own_request.case_id).state != "legal_review"
    assert not InboxClosure.objects.filter(event=own_request).exists()


def test_the_requester_cannot_decline_their_own_escalation_request(own_request, supervisor):
    with pytest.raises(NotAllowed) as refused:
        inbox.inbox_close(event_id=own_request.pk, actor=supervisor, decision="declined", note="Never mind")

    assert refused.value.rule == "own_request"
    assert not InboxClosure.objects.filter(event=own_request).exists()


def test_the_inbox_page_refuses_the_requester(client, own_request, supervisor):
    client.force_login(supervisor)

    response = client.post(
        reverse("dashboards:inbox_answer", args=[own_request.pk]), {"action": "escalate", "note": "Go"}
    )

    assert response.status_code == 403
    assert Case.objects.get(pk=own_request.case_id).state != "legal_review"


def test_another_supervisor_grants_it(client, own_request, admin_user):
    client.force_login(admin_user)

    response = client.post(
        reverse("dashboards:inbox_answer", args=[own_request.pk]), {"action": "escalate", "note": "Go"}
    )

    assert response.status_code == 302
    assert Case.objects.get(pk=own_request.case_id).state == "legal_review"
    assert InboxClosure.objects.get(event=own_request).closed_by == admin_user


def test_the_requester_does_not_see_their_own_request_in_the_inbox(own_request, supervisor, admin_user):
    assert own_request not in inbox_escalations(supervisor, Filters(teams=(supervisor.team_id,)))
    assert own_request in inbox_escalations(admin_user, Filters())
