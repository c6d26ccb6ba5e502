"""The timeline is rendered in the reader's language, whatever language was active when an event was
written: system texts are stored as msgids and translated at display time, a refused contact is rebuilt
from its rule and parameters, and what a person wrote comes back as written.

Personas (tests/conftest.py): `agent` works team A's queue; the events are written in English (the
language of a nightly run or an English-speaking colleague) and read by an agent in zh-hans."""

import re

import pytest
import time_machine
from django.utils import translation

from collections_app import services
from collections_app.models import CaseEvent, EventKind
from core.exceptions import ContactNotAllowed
from tests.factories import TEST_PASSWORD, ContactPointFactory, UserFactory, open_case

pytestmark = pytest.mark.django_db

CJK = re.compile(r"[\u4e00-\u9fff]")


def late_evening():
    """23:00 in Beijing: outside the China profile's contact window (08:00-22:00)."""
    return time_machine.travel("2026-06-02 23:00 +0800", tick=False)


def refused_call(case, agent) -> CaseEvent:
    point = ContactPointFactory(cardholder=case.account.cardholder)
    call = services.ContactInput(channel="outbound_call", outcome="no_answer", contact_point_id=point.pk)
    with late_evening(), translation.override("en"), pytest.raises(ContactNotAllowed):
        services.contact_attempt_log(case_id=case.pk, actor=agent, data=call)
    return CaseEvent.objects.get(case=case, kind=EventKind.POLICY_REFUSED)


def test_a_refusal_written_in_english_reads_in_chinese(team_a, agent):
    event = refused_call(open_case(team=team_a), agent)
    assert event.reason.startswith("Outside the contact window")  # stored as it was written

    with translation.override("zh-hans"):
        shown = event.display_reason()

    assert "Outside" not in shown and CJK.search(shown), shown
    assert "08:00" in shown and "22:00" in shown  # the parameters of the rule, kept


def test_a_system_text_is_translated_and_a_persons_note_is_not(team_a, agent):
    case = open_case(team=team_a)
    note = services.note_add(case_id=case.pk, actor=agent, text="Call once more on Friday")
    opened = CaseEvent.objects.get(case=case, kind=EventKind.OPENED)

    with translation.override("zh-hans"):
        assert opened.display_reason() == "账户已逾期"
        assert note.display_reason() == "Call once more on Friday"
    with translation.override("en"):
        assert opened.display_reason() == "Account became delinquent"


def test_escalation_rule_and_inbox_texts_of_existing_rows_read_in_chinese(team_a):
    case = open_case(team=team_a)
    fired = CaseEvent.objects.create(
        case=case,
        kind=EventKind.ESCALATED,
        reason="Escalation rule «M5 refusers» (v3): dpd ≥ 121 AND days_since_last_rpc ≥ 60",
        details={"rule": "M5 refusers", "rule_id": 7, "rule_version": 3},
    )
    answered = CaseEvent.objects.create(
        case=case,
        kind=EventKind.NOTE,
        reason="Escalation request declined: Call once more first",
        details={"inbox_item": fired.pk, "decision": "declined"},
    )

    with translation.override("zh-hans"):
        assert fired.display_reason() == "升级规则「M5 refusers」（第 3 版）"
        assert answered.display_reason() == "升级申请已驳回: Call once more first"


def test_the_case_page_shows_the_refusal_and_its_rule_in_chinese(client, team_a, agent):
    reader = UserFactory(username="zhang", role="agent", team=team_a, language="zh-hans")
    case = open_case(team=team_a)
    refused_call(case, agent)
    client.login(username=reader.username, password=TEST_PASSWORD)

    with late_evening():
        page = client.get(f"/cases/{case.pk}/").content.decode()

    timeline = page[page.index('id="timeline"') :]
    assert "可联系时段" in timeline  # the rule by its name
    assert "contact_window" not in timeline and "Outside the contact window" not in timeline
    assert "账户已逾期" in timeline and "Account became delinquent" not in timeline
