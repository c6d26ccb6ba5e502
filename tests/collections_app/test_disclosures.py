"""The call script's statements ticked on a contact are stored on the attempt (with the script's version)
from the page and from the API; a right-party call missing a required statement is recorded all the same,
flagged `missing_disclosures` on its timeline entry for quality review. The script fragment the contact
form loads has one checkbox per statement and the hidden script id, in a fixed number of queries.

Personas: `agent` (team A) works the case; `other_agent` (team B) must not read its script."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import translation
from django.utils.translation import gettext

from collections_app import services
from collections_app.forms import ContactForm
from collections_app.models import CaseEvent, ContactAttempt, EventKind
from collections_app.templatetags.callscripts import disclosures
from contact_policy.models import CallScript
from core.exceptions import ValidationFailed
from tests.api.conftest import client_for
from tests.factories import ContactPointFactory, open_case

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("office_hours")]

CN_REQUIRED = ["identity", "right_party", "purpose"]


@pytest.fixture
def case(team_a, agent):
    case = open_case(team=team_a)
    ContactPointFactory(cardholder=case.account.cardholder)
    return case


def rpc(**fields) -> services.ContactInput:
    return services.ContactInput(
        channel="outbound_call", outcome="rpc", delinquency_reason="job_loss", recording_ref="REC-1", **fields
    )


def contact_event(attempt) -> CaseEvent:
    return CaseEvent.objects.get(kind=EventKind.CONTACT, details__contact_attempt=attempt.pk)


def cn_script(language="zh-hans") -> CallScript:
    return CallScript.objects.get(jurisdiction="CN", language=language, stage="any")


def test_ticks_and_the_script_version_are_stored_on_the_attempt(case, agent):
    script = cn_script()
    attempt = services.contact_attempt_log(
        case_id=case.pk, actor=agent, data=rpc(disclosures=(*CN_REQUIRED, "recording"), script_id=script.pk)
    )
    attempt.refresh_from_db()
    assert attempt.disclosures_given == [*CN_REQUIRED, "recording"]
    assert attempt.script_version == script.version == 1
    details = contact_event(attempt).details
    assert details["script"] == script.pk and details["disclosures"] == [*CN_REQUIRED, "recording"]
    assert "missing_disclosures" not in details


def test_a_right_party_call_without_a_required_statement_is_recorded_and_flagged(case, agent):
    attempt = services.contact_attempt_log(
        case_id=case.pk, actor=agent, data=rpc(disclosures=("identity",), script_id=cn_script().pk)
    )
    assert ContactAttempt.objects.filter(pk=attempt.pk).exists()
    assert contact_event(attempt).details["missing_disclosures"] == ["right_party", "purpose"]


def test_a_right_party_call_posted_without_any_tick_is_flagged_against_the_cases_script(case, agent):
    attempt = services.contact_attempt_log(case_id=case.pk, actor=agent, data=rpc())
    attempt.refresh_from_db()
    assert contact_event(attempt).details["missing_disclosures"] == CN_REQUIRED
    assert attempt.script_version is None  # no script was read
    assert attempt.disclosures_given == []


def test_an_unanswered_call_is_not_flagged(case, agent):
    attempt = services.contact_attempt_log(
        case_id=case.pk, actor=agent, data=services.ContactInput(channel="outbound_call", outcome="no_answer")
    )
    assert "missing_disclosures" not in contact_event(attempt).details


def test_a_statement_the_script_does_not_have_is_refused_and_nothing_is_written(case, agent):
    with pytest.raises(ValidationFailed) as refused:
        services.contact_attempt_log(
            case_id=case.pk,
            actor=agent,
            data=rpc(disclosures=("identity", "made_up"), script_id=cn_script().pk),
        )
    assert refused.value.field == "disclosures"
    assert not ContactAttempt.objects.filter(case=case).exists()


def test_the_us_script_flags_a_call_without_the_mini_miranda(team_a, agent, office_hours):
    office_hours.move_to("2026-06-02 10:00 -0400")  # inside the US window in New York
    case = open_case(
        team=team_a,
        cardholder__jurisdiction="US",
        cardholder__language="en",
        cardholder__time_zone="America/New_York",
    )
    ContactPointFactory(cardholder=case.account.cardholder, value="+12125550100")
    script = services.call_script_for_case(case)
    assert (script.jurisdiction, script.language) == ("US", "en")
    attempt = services.contact_attempt_log(
        case_id=case.pk,
        actor=agent,
        data=rpc(disclosures=("identity", "right_party"), script_id=script.pk),
    )
    assert contact_event(attempt).details["missing_disclosures"] == ["mini_miranda"]


def test_the_api_stores_the_ticks_and_answers_them(case, agent):
    script = cn_script()
    response = client_for(agent).post(
        f"/api/v1/cases/{case.pk}/contacts/",
        {
            "channel": "outbound_call",
            "outcome": "rpc",
            "delinquency_reason": "job_loss",
            "recording_ref": "REC-9",
            "disclosures": ["identity", "purpose"],
            "script_id": script.pk,
        },
    )
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["disclosures_given"] == ["identity", "purpose"]
    assert body["script_version"] == 1
    attempt = ContactAttempt.objects.get(pk=body["id"])
    assert attempt.disclosures_given == ["identity", "purpose"]
    assert contact_event(attempt).details["missing_disclosures"] == ["right_party"]


def test_the_api_refuses_an_unknown_statement_code_with_422(case, agent):
    response = client_for(agent).post(
        f"/api/v1/cases/{case.pk}/contacts/",
        {
            "channel": "outbound_call",
            "outcome": "no_answer",
            "disclosures": ["nope"],
            "script_id": cn_script().pk,
        },
    )
    assert response.status_code == 422, response.json()
    assert not ContactAttempt.objects.filter(case=case).exists()


def test_the_case_page_stores_the_ticks_posted_with_the_contact_form(client, case, agent):
    client.force_login(agent)
    script = cn_script()
    response = client.post(
        reverse("case_log_contact", args=[case.pk]),
        {
            "channel": "outbound_call",
            "party_role": "debtor",
            "outcome": "rpc",
            "delinquency_reason": "job_loss",
            "recording_ref": "REC-2",
            "duration_seconds": "60",
            "disclosures": ["identity", "right_party", "purpose"],
            "script_id": str(script.pk),
        },
    )
    assert response.status_code in (200, 302)
    attempt = ContactAttempt.objects.get(case=case)
    assert attempt.disclosures_given == ["identity", "right_party", "purpose"]
    assert attempt.script_version == 1


def test_the_contact_form_takes_the_ticks_with_or_without_the_statements_given():
    data = {"channel": "outbound_call", "party_role": "debtor", "outcome": "rpc", "disclosures": ["identity"]}
    form = ContactForm({**data, "script_id": "7"})
    assert form.is_valid(), form.errors
    assert form.disclosure_input() == {"disclosures": ("identity",), "script_id": 7}
    limited = ContactForm(data | {"disclosures": ["purpose"]}, statements=[("identity", "Identity")])
    assert not limited.is_valid() and "disclosures" in limited.errors
    assert not ContactForm(data | {"disclosures": ["<b>"]}).is_valid()


def test_the_script_fragment_has_a_checkbox_per_statement_and_the_script_id(client, case, agent):
    client.force_login(agent)
    url = reverse("case_call_script", args=[case.pk])
    client.get(url)  # the session and user are loaded once, like on any page
    with CaptureQueriesContext(connection) as queries:
        response = client.get(url)
    assert response.status_code == 200
    # session, user, the case (with account and cardholder), the scripts, their statements
    assert len(queries) == 5, [q["sql"] for q in queries]
    html = response.content.decode()
    script = cn_script()
    assert f'name="script_id" value="{script.pk}"' in html
    for code in ["identity", "right_party", "purpose", "recording"]:
        assert f'name="disclosures" value="{code}"' in html
    assert "逾期" in html  # the cardholder's language: Chinese
    assert agent.get_full_name() in html  # {agent_name} filled in
    assert case.account.cardholder.name in html


def test_an_english_speaking_cardholder_gets_the_english_script_in_a_chinese_page(client, team_a, agent):
    case = open_case(team=team_a, cardholder__language="en")
    agent.language = "zh-hans"
    agent.save()
    client.force_login(agent)
    html = client.get(reverse("case_call_script", args=[case.pk])).content.decode()
    assert "State the purpose" in html
    with translation.override("zh-hans"):
        assert gettext("Call script") in html  # the frame in the agent's language


def test_an_agent_of_another_team_cannot_read_the_script(client, case, other_agent):
    client.force_login(other_agent)
    assert client.get(reverse("case_call_script", args=[case.pk])).status_code == 404


def test_anonymous_is_sent_to_log_in(client, case):
    response = client.get(reverse("case_call_script", args=[case.pk]))
    assert response.status_code == 302 and "login" in response["Location"]


@pytest.mark.parametrize("language", ["en", "zh-hans"])
def test_the_timeline_snippet_shows_given_and_missing_statements(language):
    details = {"disclosures": ["identity"], "missing_disclosures": ["mini_miranda", "purpose"]}
    with translation.override(language):
        html = disclosures(details)
        labels = [gettext("Identity"), gettext("Mini-Miranda"), gettext("Purpose of the call")]
        given = disclosures({"disclosures": ["identity"]})
        identity = gettext("Identity")
    assert all(label in html for label in labels)  # by name in the reader's language, not by code
    assert "mini_miranda" not in html
    assert 'data-testid="missing-disclosures"' in html
    assert identity in given and "missing-disclosures" not in given
    assert disclosures({"outcome": "rpc"}) == ""
