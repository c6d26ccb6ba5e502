"""The supervisor's inbox: escalation requests and refused contacts waiting for an override, each answered
from the home page and recorded on the case timeline."""

from datetime import timedelta

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from collections_app import services
from collections_app.models import Case, CaseEvent, EventKind
from core.exceptions import InvalidTransition, NotAllowed
from dashboards import selectors
from dashboards import services as inbox
from dashboards.models import InboxClosure
from dashboards.scope import Filters
from legal import services as legal_services
from tests.factories import open_case

pytestmark = pytest.mark.django_db


def _request(case, agent, reason="Refuses to pay; threatens to complain"):
    return services.escalation_request(case_id=case.pk, actor=agent, target="legal", reason=reason)


def test_an_escalation_request_waits_in_the_inbox_until_answered(team_a, agent, supervisor):
    case = open_case(team=team_a)
    event = _request(case, agent)
    assert selectors.inbox_escalations(supervisor, Filters(teams=(team_a.pk,))) == [event]
    inbox.inbox_escalate(event_id=event.pk, actor=supervisor, reason="Agreed: legal review")
    case.refresh_from_db()
    assert case.state == "legal_review"
    assert InboxClosure.objects.get(event=event).decision == "escalated"
    assert selectors.inbox_escalations(supervisor, Filters(teams=(team_a.pk,))) == []


def test_declining_needs_a_reason_and_writes_a_note(team_a, agent, supervisor):
    case = open_case(team=team_a)
    event = _request(case, agent)
    with pytest.raises(Exception, match="why"):
        inbox.inbox_close(event_id=event.pk, actor=supervisor, decision="declined", note="")
    inbox.inbox_close(event_id=event.pk, actor=supervisor, decision="declined", note="Call once more first")
    note = CaseEvent.objects.filter(case=case, kind=EventKind.NOTE).get()
    assert note.reason == "Escalation request declined: Call once more first"
    assert note.details == {"inbox_item": event.pk, "decision": "declined"}
    with pytest.raises(InvalidTransition):
        inbox.inbox_close(event_id=event.pk, actor=supervisor, decision="done", note="")


def test_another_teams_supervisor_and_agents_cannot_answer(team_a, team_b, agent, supervisor, other_agent):
    theirs = open_case(team=team_b)
    event = _request(theirs, other_agent)
    assert selectors.inbox_escalations(supervisor, Filters(teams=(team_a.pk,))) == []
    with pytest.raises(NotAllowed):
        inbox.inbox_close(event_id=event.pk, actor=supervisor, decision="done", note="")
    ours = open_case(team=team_a)
    with pytest.raises(NotAllowed):
        inbox.inbox_close(event_id=_request(ours, agent).pk, actor=agent, decision="done", note="")


def test_answering_from_the_home_page(team_a, agent, supervisor):
    case = open_case(team=team_a)
    event = _request(case, agent)
    client = Client()
    client.force_login(supervisor)
    home = client.get(reverse("dashboards:home"))
    assert home.context["data"].escalations == [event]
    response = client.post(
        reverse("dashboards:inbox_answer", args=[event.pk]), {"action": "escalate", "note": "Go ahead"}
    )
    assert response.status_code == 302
    assert Case.objects.get(pk=case.pk).state == "legal_review"


def test_a_case_already_in_legal_review_leaves_the_inbox(team_a, agent, supervisor):
    case = open_case(team=team_a)
    _request(case, agent)
    legal_services.legal_refer(case_id=case.pk, actor=supervisor, reason="Escalated from the case page")
    assert selectors.inbox_escalations(supervisor, Filters(teams=(team_a.pk,))) == []


def test_old_refusals_leave_the_override_inbox(team_a, agent, supervisor):
    case = open_case(team=team_a)
    refusal = services.event_write(
        case=case,
        kind=EventKind.POLICY_REFUSED,
        actor=agent,
        reason="7 calls about this debt in the last 7 days",
        details={"rule": "calls_per_debt_per_7_days", "also": []},
    )
    now = timezone.now()
    assert selectors.inbox_override_requests(supervisor, Filters(teams=(team_a.pk,)), now=now) == [refusal]
    later = now + timedelta(hours=25)
    assert selectors.inbox_override_requests(supervisor, Filters(teams=(team_a.pk,)), now=later) == []
    inbox.inbox_close(event_id=refusal.pk, actor=supervisor, decision="done", note="")
    assert selectors.inbox_override_requests(supervisor, Filters(teams=(team_a.pk,)), now=now) == []
