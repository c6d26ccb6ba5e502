"""Send a message template in bulk from the supervisor floor: each cardholder gets the template's twin in
their own language, the contact policy is asked per case in the preview (a refusal is a skip with its
reason), and a second run does not send again on the same day.

Personas (tests/conftest.py): `supervisor` supervises team A."""

from datetime import date
from decimal import Decimal

import pytest
from django.urls import reverse

from collections_app import services
from messaging import services as messaging
from messaging.models import MessageTemplate, OutboundMessage
from tests.automation.conftest import defaults, outbox  # noqa: F401 - pytest fixtures
from tests.dashboards.test_floor import post_apply, post_preview
from tests.factories import ContactPointFactory, open_case

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("office_hours", "defaults", "outbox")]

MISSED = date(2026, 5, 3)  # the office_hours clock is 2026-06-02 10:00 in Beijing


def template(case, channel: str, purpose: str = "overdue_notice") -> MessageTemplate:
    return next(t for t in messaging.templates_for_case(case) if (t.channel, t.purpose) == (channel, purpose))


def a_case(team, n: int, *, language="zh-hans"):
    """An open case of `team`, 30 days past due, whose cardholder speaks `language` and has a mobile."""
    case = open_case(
        team=team, overdue_amount=Decimal("12345.60"), first_missed_due_date=MISSED, days_past_due=30
    )
    holder = case.account.cardholder
    holder.language = language
    holder.save(update_fields=["language"])
    ContactPointFactory(cardholder=holder, value=f"+861380000{n:04d}")
    return case


def test_bulk_send_previews_per_case_and_sends_each_in_its_language(client, team_a, supervisor):
    chinese = a_case(team_a, 1)
    english = a_case(team_a, 2, language="en")
    disputed = a_case(team_a, 3)
    services.case_hold(case_id=disputed.pk, actor=supervisor, reason="dispute", note="Disputes the debt")
    sms = template(chinese, "sms")
    client.force_login(supervisor)
    data = {"action": "message", "template": sms.pk, "reason": "Quarter-end reminder"}

    preview = post_preview(client, case=[chinese.pk, english.pk, disputed.pk], **data)
    assert preview.status_code == 200
    rows = {r.case.pk: r for r in preview.context["plan"].rows}
    assert rows[chinese.pk].target == sms.pk
    assert rows[english.pk].target == template(english, "sms").pk != sms.pk
    assert rows[chinese.pk].change.startswith("Message (")
    assert rows[disputed.pk].skip.startswith("refused: ")
    assert not OutboundMessage.objects.exists()

    result = post_apply(client, case_ids=preview.context["case_ids"], **data)
    assert "2 changed, 1 skipped." in result.content.decode()
    sent = OutboundMessage.objects.filter(requested_by=supervisor)
    assert sorted(sent.values_list("case_id", flat=True)) == sorted([chinese.pk, english.pk])
    assert {m.about.get("note") for m in sent} == {"Quarter-end reminder"}

    again = post_preview(client, case=[chinese.pk, english.pk], **data)
    assert [r.skip for r in again.context["plan"].rows] == ["already sent today"] * 2
    assert client.get(reverse("dashboards:cases")).status_code == 200
