"""Send from the case (issue 17): an agent picks a template in the cardholder's language, previews it
with its figures filled in and the contact policy's verdict, and sends it; the send goes through the
reminders' delivery path and is on the timeline under the agent. Refusals are explained and nothing
is sent; the drawer costs the case page no query and its own fragment has a fixed budget."""

from datetime import date
from decimal import Decimal

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import translation

from collections_app.models import CaseEvent, ContactAttempt, EventKind
from collections_app.panels import case_documents, case_panels
from contact_policy.models import ContactPolicy
from core.exceptions import ContactNotAllowed, NotAllowed, ValidationFailed
from messaging import services as messaging
from messaging.models import MessageTemplate, OutboundMessage
from messaging.services import Outgoing, Provider
from tests.factories import ContactPointFactory, open_case

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("office_hours", "defaults", "outbox")]

HX = {"HTTP_HX_REQUEST": "true"}
PHONE = "+8613800000007"
MISSED = date(2026, 5, 3)  # the office_hours clock is 2026-06-02 10:00 in Beijing


def a_case(team, *, language="zh-hans", name="王伟", **account):
    """An open case of `team`, 30 days past due with 12,345.60 CNY overdue, whose cardholder has a
    mobile number, an e-mail and a postal address."""
    case = open_case(
        team=team,
        overdue_amount=Decimal("12345.60"),
        first_missed_due_date=MISSED,
        days_past_due=30,
        external_ref="ACC00004321",
        **account,
    )
    holder = case.account.cardholder
    holder.name, holder.language = name, language
    holder.email, holder.address = "wang.wei@example.com", "北京市朝阳区建国路 1 号"
    holder.save()
    ContactPointFactory(cardholder=holder, value=PHONE)
    return case


def template(case, channel: str, purpose: str = "overdue_notice") -> MessageTemplate:
    return next(t for t in messaging.templates_for_case(case) if (t.channel, t.purpose) == (channel, purpose))


@pytest.fixture
def eager_celery():
    """The delivery task runs in this process when queued (as on the `messages` worker)."""
    from config.celery import app

    app.conf.task_always_eager = True
    yield
    app.conf.task_always_eager = False


class Delivering(Provider):
    """An SMS gateway that accepts everything (the real one is outside the system)."""

    name = "test-gateway"
    channels = frozenset({"sms", "email", "letter"})
    idempotent = True
    sent: list[Outgoing] = []

    def send(self, message: Outgoing) -> str:
        Delivering.sent.append(message)
        return f"gw-{len(Delivering.sent)}"


# --- What may be sent, and the preview --------------------------------------------------------------


def test_the_templates_offered_are_in_the_cardholders_language_and_apply_to_the_case(team_a):
    case = a_case(team_a)
    offered = messaging.templates_for_case(case)
    assert {(t.channel, t.purpose) for t in offered} == {
        ("sms", "overdue_notice"),
        ("email", "overdue_notice"),
        ("letter", "overdue_notice"),
    }  # no promise, plan, referral or due date on this case: nothing about those
    assert {t.language for t in offered} == {"zh-hans"}
    assert [t.channel for t in offered] == ["sms", "email", "letter"]


def test_a_jurisdictions_own_template_wins_over_the_one_for_everyone(team_a):
    case = a_case(team_a)
    general = template(case, "sms")
    own = MessageTemplate.objects.create(
        purpose="overdue_notice", channel="sms", language="zh-hans", jurisdiction="CN", body=general.body
    )
    sms = [t for t in messaging.templates_for_case(case) if t.channel == "sms"]
    assert sms == [own]


def test_the_preview_fills_the_variables_in_chinese_with_grouped_money(team_a, agent):
    case = a_case(team_a)
    preview = messaging.case_message_preview(
        case_id=case.pk, actor=agent, template_id=template(case, "sms").pk
    )
    assert preview.allowed and preview.rule == "" and preview.refusal == ""
    assert (preview.channel, preview.language) == ("sms", "zh-hans")
    assert preview.body.startswith("【示例银行】王伟您好")
    assert "逾期金额 12,345.60 CNY" in preview.body
    assert "2026年5月3日" in preview.body and "尾号4321" in preview.body
    assert "{" not in preview.body
    assert preview.recipient != PHONE and preview.recipient.endswith("0007")  # masked
    assert not OutboundMessage.objects.exists()  # a preview writes nothing


def test_the_preview_fills_the_variables_in_english(team_a, agent):
    case = a_case(team_a, language="en", name="Wei Wang")
    email = template(case, "email")
    assert email.language == "en"
    preview = messaging.case_message_preview(case_id=case.pk, actor=agent, template_id=email.pk)
    assert preview.subject == "Your account is overdue"
    assert preview.body.startswith("Dear Wei Wang,")
    assert "12,345.60 CNY is overdue" in preview.body and "3 May 2026" in preview.body
    assert preview.recipient and "wang.wei@example.com" not in preview.recipient


def test_a_template_not_offered_on_the_case_is_refused(team_a, agent):
    case = a_case(team_a)  # a Chinese-speaking cardholder
    english = MessageTemplate.objects.get(purpose="overdue_notice", channel="sms", language="en")
    promise = MessageTemplate.objects.get(purpose="promise_reminder", channel="sms", language="zh-hans")
    for refused in (english, promise):
        with pytest.raises(ValidationFailed) as error:
            messaging.case_message_send(case_id=case.pk, actor=agent, template_id=refused.pk)
        assert error.value.rule == "template_not_offered"
    assert not OutboundMessage.objects.exists()


# --- Sending -------------------------------------------------------------------------------------------


def test_a_send_creates_one_message_and_one_timeline_entry_under_the_agent(
    team_a, agent, outbox, eager_celery, django_capture_on_commit_callbacks
):
    case = a_case(team_a)
    before = CaseEvent.objects.filter(case=case).count()
    with django_capture_on_commit_callbacks(execute=True):
        message = messaging.case_message_send(
            case_id=case.pk, actor=agent, template_id=template(case, "sms").pk, reason="asked for a text"
        )

    message.refresh_from_db()
    assert OutboundMessage.objects.filter(case=case).count() == 1
    assert message.requested_by == agent and message.about["note"] == "asked for a text"
    # The default provider only writes to the outbox: written, never "sent", and no contact recorded.
    assert message.status == "written" and "逾期金额 12,345.60 CNY" in message.body
    assert (outbox / "sms" / f"{message.idempotency_key.replace(':', '_')}.txt").exists()
    events = list(CaseEvent.objects.filter(case=case).order_by("pk")[before:])
    assert [(e.kind, e.actor) for e in events] == [(EventKind.REMINDER, agent)]
    assert events[0].details["sent_by"] == agent.pk and events[0].details["message"] == message.pk
    assert not ContactAttempt.objects.filter(case=case).exists()


def test_a_delivered_message_is_a_sent_contact_attempt_by_the_agent(
    team_a, agent, settings, eager_celery, django_capture_on_commit_callbacks
):
    settings.COLLECTIONS_SMS_PROVIDER = f"{__name__}.Delivering"
    case = a_case(team_a)
    with django_capture_on_commit_callbacks(execute=True):
        message = messaging.case_message_send(
            case_id=case.pk, actor=agent, template_id=template(case, "sms").pk
        )

    message.refresh_from_db()
    assert message.status == "sent" and Delivering.sent[-1].recipient == PHONE
    attempt = ContactAttempt.objects.get(case=case)
    assert (attempt.channel, attempt.outcome, attempt.agent) == ("sms", "sent", agent)
    contact = CaseEvent.objects.get(case=case, kind=EventKind.CONTACT)
    assert contact.actor == agent and contact.details["message"] == message.pk
    reminder = CaseEvent.objects.get(case=case, kind=EventKind.REMINDER)
    assert reminder.actor == agent and reminder.details["outcome"] == "sent"


def test_every_send_is_a_message_of_its_own(team_a, agent):
    case = a_case(team_a)
    sms = template(case, "sms").pk
    first = messaging.case_message_send(case_id=case.pk, actor=agent, template_id=sms)
    second = messaging.case_message_send(case_id=case.pk, actor=agent, template_id=sms)
    assert first.idempotency_key != second.idempotency_key
    assert first.status == second.status == "planned"  # queued; the task (or the dispatcher) sends it


def test_a_message_whose_task_was_lost_goes_out_with_the_dispatcher(team_a, agent, office_hours):
    case = a_case(team_a)
    # The task is queued after commit; this test's transaction never commits, as if the task were lost.
    message = messaging.case_message_send(case_id=case.pk, actor=agent, template_id=template(case, "sms").pk)
    assert messaging.send_due_now() == {}  # queued a moment ago: not queued twice
    office_hours.move_to("2026-06-02 10:31 +0800")
    assert messaging.send_due_now() == {"written": 1}
    message.refresh_from_db()
    assert message.status == "written" and message.template_id == template(case, "sms").pk


# --- Refused: explained, recorded, nothing sent ----------------------------------------------------------


def _refused_send(case, actor, channel="sms") -> ContactNotAllowed:
    with pytest.raises(ContactNotAllowed) as error:
        messaging.case_message_send(case_id=case.pk, actor=actor, template_id=template(case, channel).pk)
    assert not OutboundMessage.objects.filter(case=case).exists()
    refusal = CaseEvent.objects.get(case=case, kind=EventKind.POLICY_REFUSED)
    assert refusal.actor == actor and refusal.details["channel"] == channel
    return error.value


@pytest.mark.parametrize("flag", ["cease_communication", "do_not_contact"])
def test_a_flagged_cardholder_gets_no_message(team_a, agent, flag):
    case = a_case(team_a)
    setattr(case.account.cardholder, flag, True)
    case.account.cardholder.save()

    preview = messaging.case_message_preview(
        case_id=case.pk, actor=agent, template_id=template(case, "sms").pk
    )
    assert not preview.allowed and preview.rule == flag and preview.refusal

    refused = _refused_send(case, agent)
    assert refused.rule == flag
    assert CaseEvent.objects.get(case=case, kind=EventKind.POLICY_REFUSED).details["rule"] == flag


def test_a_channel_the_jurisdiction_does_not_allow_is_refused(team_a, agent):
    ContactPolicy.objects.filter(code="CN").update(
        allowed_channels=["outbound_call", "inbound_call", "email", "letter", "visit"]
    )
    case = a_case(team_a)
    assert _refused_send(case, agent, "sms").rule == "channel_not_allowed"
    # The other channels are still allowed.
    email = messaging.case_message_preview(
        case_id=case.pk, actor=agent, template_id=template(case, "email").pk
    )
    assert email.allowed


def test_outside_the_contact_window_an_sms_is_refused_with_when_it_is_allowed(team_a, agent, office_hours):
    case = a_case(team_a)
    office_hours.move_to("2026-06-02 23:30 +0800")
    with translation.override("zh-hans"):
        preview = messaging.case_message_preview(
            case_id=case.pk, actor=agent, template_id=template(case, "sms").pk
        )
    assert not preview.allowed and preview.rule == "contact_window"
    assert "08:00" in preview.refusal  # when it opens again, on the cardholder's clock
    refused = _refused_send(case, agent)
    assert refused.rule == "contact_window" and refused.allowed_from is not None


def test_no_address_is_refused_and_not_recorded_as_a_policy_refusal(team_a, agent):
    case = a_case(team_a)
    case.account.cardholder.address = ""
    case.account.cardholder.save()
    with pytest.raises(ValidationFailed) as error:
        messaging.case_message_send(case_id=case.pk, actor=agent, template_id=template(case, "letter").pk)
    assert error.value.rule == "no_address"
    assert not OutboundMessage.objects.exists()
    assert not CaseEvent.objects.filter(case=case, kind=EventKind.POLICY_REFUSED).exists()


def test_an_agent_of_another_team_or_a_legal_reviewer_may_not_send(team_a, other_agent, legal):
    case = a_case(team_a)
    sms = template(case, "sms").pk
    for actor in (other_agent, legal):
        with pytest.raises(NotAllowed):
            messaging.case_message_preview(case_id=case.pk, actor=actor, template_id=sms)
        with pytest.raises(NotAllowed):
            messaging.case_message_send(case_id=case.pk, actor=actor, template_id=sms)
    assert not OutboundMessage.objects.exists()


# --- Letters ---------------------------------------------------------------------------------------------


def test_a_letter_renders_as_a_printable_page_in_the_cardholders_language(client, team_a, agent):
    case = a_case(team_a)
    letter = template(case, "letter")
    client.force_login(agent)  # an agent whose own language is English

    page = client.get(reverse("messaging:case_letter_preview", args=[case.pk]), {"template": letter.pk})

    assert page.status_code == 200 and page.headers["Content-Language"] == "zh-hans"
    html = page.content.decode()
    assert 'data-testid="letter-draft"' in html and "打印" in html  # the page is in Chinese too
    assert "逾期金额 12,345.60 CNY" in html and "案件编号：" in html and "北京市朝阳区建国路 1 号" in html


def test_a_sent_letter_is_queued_for_the_print_run_and_listed_with_the_cases_documents(
    client, rf, team_a, agent, outbox, eager_celery, django_capture_on_commit_callbacks
):
    case = a_case(team_a)
    with django_capture_on_commit_callbacks(execute=True):
        message = messaging.case_message_send(
            case_id=case.pk, actor=agent, template_id=template(case, "letter").pk
        )
    message.refresh_from_db()
    assert message.status == "written" and message.recipient == "北京市朝阳区建国路 1 号"
    assert (outbox / "letter").is_dir()

    request = rf.get("/")
    request.user = agent
    documents = case_documents(request, case)
    url = reverse("messaging:letter", args=[message.pk])
    assert [(d.kind, d.url) for d in documents] == [("Letter", url)]
    client.force_login(agent)
    letter = client.get(url, {"reason": "customer_request"})
    assert letter.status_code == 200 and message.body.splitlines()[0] in letter.content.decode()


# --- The pages --------------------------------------------------------------------------------------------


def test_the_drawer_flow_choose_preview_send_through_htmx(client, team_a, agent, office_hours):
    case = a_case(team_a)
    sms = template(case, "sms")
    client.force_login(agent)
    url = reverse("messaging:case_send", args=[case.pk])

    choose = client.get(url, **HX)
    assert choose.status_code == 200
    html = choose.content.decode()
    assert "<html" not in html and f'value="{sms.pk}"' in html and "<optgroup" in html

    preview = client.post(reverse("messaging:case_preview", args=[case.pk]), {"template": sms.pk}, **HX)
    html = preview.content.decode()
    assert preview.status_code == 200 and 'data-allowed="yes"' in html
    assert "逾期金额 12,345.60 CNY" in html and PHONE not in html
    assert not OutboundMessage.objects.exists()

    sent = client.post(url, {"template": sms.pk, "note": ""}, **HX)
    assert sent.status_code == 200 and 'data-testid="message-queued"' in sent.content.decode()
    assert OutboundMessage.objects.get(case=case).requested_by == agent

    # At night the preview says why not, and Send is refused beside the form.
    office_hours.move_to("2026-06-02 23:30 +0800")
    client.force_login(agent)  # a new shift: the day's session has ended
    html = client.post(reverse("messaging:case_preview", args=[case.pk]), {"template": sms.pk}, **HX).content
    assert b'data-allowed="no"' in html and b'data-rule="contact_window"' in html and b"send-now" not in html
    refused = client.post(url, {"template": sms.pk}, **HX)
    assert refused.status_code == 422 and b'data-rule="contact_window"' in refused.content
    assert OutboundMessage.objects.filter(case=case).count() == 1


def test_without_htmx_the_same_url_is_a_full_page(client, team_a, agent):
    case = a_case(team_a)
    client.force_login(agent)
    page = client.get(reverse("messaging:case_send", args=[case.pk]))
    assert page.status_code == 200 and b"<html" in page.content and b'data-testid="case-send"' in page.content


def test_who_may_not_use_the_pages(client, team_a, other_agent, legal):
    case = a_case(team_a)
    sms = template(case, "sms").pk
    url = reverse("messaging:case_send", args=[case.pk])
    assert client.get(url).status_code == 302  # anonymous: to the sign-in page
    client.force_login(other_agent)  # another team's case is not found, as every case page
    assert client.get(url, **HX).status_code == 404
    assert client.post(url, {"template": sms}, **HX).status_code == 404
    client.force_login(legal)  # a legal reviewer does not work cases
    assert client.get(url, **HX).status_code == 403
    assert not OutboundMessage.objects.exists()


def test_the_case_page_action_costs_no_query(rf, team_a, agent):
    case = a_case(team_a)
    request = rf.get("/")
    request.user = agent
    with CaptureQueriesContext(connection) as queries:
        html = "".join(case_panels(request, case, "actions"))
    assert len(queries) == 0
    assert 'data-shortcut="m"' in html and reverse("messaging:case_send", args=[case.pk]) in html


def test_the_case_page_shows_the_send_message_button(client, team_a, agent):
    case = a_case(team_a)
    client.force_login(agent)
    page = client.get(reverse("case_detail", args=[case.pk])).content.decode()
    assert 'data-testid="send-message"' in page


@pytest.mark.parametrize("step", ["choose", "preview"])
def test_the_fragments_query_budget(client, team_a, agent, step):
    """Choose (7): session, user, the case, the templates, the case's pending promise, due installment
    and broken plan (the purposes that may apply). Preview (16): those, then the service's own (the case,
    the templates and purposes again), the debtor's number, the policy profiles, today's calls to the
    number and the open dispute the policy needs."""
    case = a_case(team_a)
    sms = template(case, "sms").pk
    client.force_login(agent)
    url = reverse("messaging:case_send", args=[case.pk])
    with CaptureQueriesContext(connection) as queries:
        if step == "choose":
            response = client.get(url, **HX)
        else:
            response = client.post(reverse("messaging:case_preview", args=[case.pk]), {"template": sms}, **HX)
    assert response.status_code == 200
    assert len(queries) == {"choose": 7, "preview": 16}[step], [q["sql"][:120] for q in queries]


def test_the_preview_budget_does_not_grow_with_history(client, team_a, agent):
    case = a_case(team_a)
    sms = template(case, "sms").pk
    client.force_login(agent)
    url = reverse("messaging:case_preview", args=[case.pk])
    counts = []
    for _round in range(2):
        with CaptureQueriesContext(connection) as queries:
            client.post(url, {"template": sms}, **HX)
        counts.append(len(queries))
        with time_machine.travel("2026-06-02 11:00 +0800"):
            messaging.case_message_send(case_id=case.pk, actor=agent, template_id=sms)
            messaging.send_due_now()
    assert counts[0] == counts[1]


def test_opening_a_letter_asks_a_reason_and_records_a_print(
    client, team_a, agent, outbox, eager_celery, django_capture_on_commit_callbacks
):
    """The printable letter shows the cardholder's name and address: a look, recorded with its reason."""
    from collections_app.models import AccessRecord

    case = a_case(team_a)
    with django_capture_on_commit_callbacks(execute=True):
        message = messaging.case_message_send(
            case_id=case.pk, actor=agent, template_id=template(case, "letter").pk
        )
    message.refresh_from_db()
    url = reverse("messaging:letter", args=[message.pk])
    client.force_login(agent)

    asked = client.get(url)
    assert asked.status_code == 200 and 'data-testid="letter-reason"' in asked.content.decode()
    assert "北京市朝阳区建国路 1 号" not in asked.content.decode()
    refused = client.get(url, {"reason": "other"})  # "other" needs words
    assert refused.status_code == 400 and "北京市朝阳区建国路 1 号" not in refused.content.decode()
    assert not AccessRecord.objects.exists()

    letter = client.get(url, {"reason": "customer_request"})

    assert letter.status_code == 200 and message.body.splitlines()[0] in letter.content.decode()
    record = AccessRecord.objects.get()
    assert (record.actor, record.kind, record.reason, record.case_id, record.cardholder_id, record.what) == (
        agent,
        "print",
        "customer_request",
        case.pk,
        case.account.cardholder_id,
        f"letter:{message.pk}",
    )
