"""Reminders from plan to outcome: rendered in the cardholder's language, sent once, deferred outside the
contact window (never dropped), suppressed by flags, holds and caps with the reason recorded, shown on the
case timeline; the providers (file outbox, SMTP through Django's e-mail backends, an HTTP SMS gateway
started by the test on 127.0.0.1) and their retries."""

import smtplib
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.core import mail
from django.core.mail.backends.base import BaseEmailBackend
from django.utils import timezone

from automation import tasks
from collections_app import services
from collections_app.models import CaseEvent, ContactAttempt, EventKind
from collections_app.services import ContactInput, contactability
from messaging import services as messaging
from messaging.models import PLACEHOLDERS, OutboundMessage
from tests.automation.conftest import AS_OF, overdue, sms_gateway
from tests.factories import ContactPointFactory, open_case

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("night", "defaults", "outbox")]

NINE_IN_BEIJING = "2026-06-02 09:01 +0800"
NIGHT_RUN = "2026-06-02 02:00 +0800"  # the `night` fixture's clock
AFTERNOON_BEFORE = "2026-06-01 15:00 +0800"


def notice_case(*, phone="+8613800000007", email="wang.wei@example.com", team=None, **fields):
    """A case 7 days past due on AS_OF, so that the nightly plans an overdue notice (SMS and e-mail)."""
    case = open_case(team=team, **overdue(7, **fields))
    holder = case.account.cardholder
    if phone:
        ContactPointFactory(cardholder=holder, value=phone)
    holder.email = email
    holder.save(update_fields=["email"])
    return case


def plan() -> dict:
    return messaging.plan_reminders(as_of=AS_OF)


def sms_of(case) -> OutboundMessage:
    return OutboundMessage.objects.get(case=case, channel="sms")


def reminder_events(case):
    return list(CaseEvent.objects.filter(case=case, kind=EventKind.REMINDER).order_by("pk"))


# --- Planned once, sent once, in the cardholder's language -------------------------------------------


def test_an_overdue_notice_is_sent_once_in_chinese(night, outbox):
    case = notice_case()
    assert plan()["overdue_notice"] == 2
    assert plan()["overdue_notice"] == 0  # the key is unique: planning again plans nothing
    night.move_to(NINE_IN_BEIJING)

    assert messaging.send_due_now() == {"written": 2}

    sms = sms_of(case)
    assert sms.status == "written" and sms.language == "zh-hans" and sms.provider == "file"
    assert sms.body.startswith(f"【示例银行】{case.account.cardholder.name}您好")
    assert "逾期金额 1,500.00 CNY" in sms.body and "2026年5月26日" in sms.body
    # The opt-out names a way the bank keeps (a person at the hotline), never a reply nobody reads.
    assert "请致电客服热线告知" in sms.body and "回复" not in sms.body
    written = (outbox / "sms" / f"overdue_notice_{case.pk}_2026-05-26+7_sms.txt").read_text()
    assert "+8613800000007" in written and sms.body in written
    # In the outbox is not with the cardholder: written, never "sent", and no contact in the ledger.
    assert not ContactAttempt.objects.filter(case=case).exists()
    events = reminder_events(case)
    assert [e.details["status"] for e in events] == ["written", "written"]
    assert "outcome" not in events[0].details and "written to the outbox, not delivered" in events[0].reason

    # Nothing goes out twice: not from the dispatcher, not from a repeated task.
    assert messaging.send_due_now() == {}
    assert messaging.message_send(message_id=sms.pk) == "written"
    assert len(reminder_events(case)) == 2


def test_a_sent_reminder_is_recorded_in_the_ledger_as_every_contact_is(night, gateway):
    case = notice_case()
    assert case.state == "new"
    plan()
    night.move_to(NINE_IN_BEIJING)

    messaging.send_due_now()

    sms = sms_of(case)
    attempt = ContactAttempt.objects.get(case=case, channel="sms")
    assert (attempt.outcome, attempt.agent, attempt.contact_point, attempt.party_role) == (
        "sent",
        None,
        sms.contact_point,
        "debtor",
    )
    contact = CaseEvent.objects.get(case=case, kind=EventKind.CONTACT, details__contact_attempt=attempt.pk)
    assert contact.details["message"] == sms.pk and contact.details["channel"] == "sms"
    assert contact.actor is None
    case.refresh_from_db()
    assert case.state == "in_progress"  # the first contact starts work on a new case, a reminder too
    started = CaseEvent.objects.get(case=case, kind=EventKind.TRANSITION, to_state="in_progress")
    assert started.actor is None


def test_the_contact_policy_is_asked_once_per_send(night, monkeypatch):
    case = notice_case()
    plan()
    asked = []
    decide = contactability.decide

    def counting_decide(**kwargs):
        asked.append(kwargs["channel"])
        return decide(**kwargs)

    monkeypatch.setattr(contactability, "decide", counting_decide)
    night.move_to(NINE_IN_BEIJING)
    assert messaging.message_send(message_id=sms_of(case).pk) == "written"
    assert asked == ["sms"]


def test_an_english_speaking_cardholder_gets_the_english_text(night):
    case = notice_case(cardholder__language="en", cardholder__name="Emily Carter")
    plan()
    night.move_to(NINE_IN_BEIJING)
    messaging.send_due_now()
    email = OutboundMessage.objects.get(case=case, channel="email")
    assert email.subject == "Your account is overdue"
    assert email.body.startswith("Dear Emily Carter,\n\nYour account ending")
    assert "1,500.00 CNY is overdue" in email.body and "26 May 2026" in email.body
    assert "call our hotline and tell us" in email.body and "reply" not in email.body.lower()


@pytest.mark.parametrize("purpose", ["overdue_notice", "promise_reminder", "escalation_notice"])
def test_every_placeholder_has_a_value_for_every_purpose(purpose, night):
    case = notice_case()
    night.move_to(AFTERNOON_BEFORE)  # a promise is a conversation: inside the contact window
    promise = services.promise_record(
        case_id=case.pk, actor=None, amount=Decimal("200.00"), due_date=AS_OF + timedelta(days=2)
    )
    message = OutboundMessage(case=case, purpose=purpose, channel="letter", about={"promise": promise.pk})
    for language in ("zh-hans", "en"):
        values = messaging.message_values(message, case, language)
        assert set(values) == set(PLACEHOLDERS)
        assert all(values[k] for k in PLACEHOLDERS if k != "opt_out")  # no letter carries an opt-out


def test_a_reminder_that_no_longer_applies_is_not_sent(night):
    case = notice_case()
    plan()
    services.case_close(case_id=case.pk, actor=None, write_off=False, resolution_reason="cured")
    night.move_to(NINE_IN_BEIJING)
    messaging.send_due_now()
    sms = sms_of(case)
    assert (sms.status, sms.reason) == ("suppressed", "case_closed")


# --- The contact policy ----------------------------------------------------------------------------


def test_outside_the_window_a_reminder_waits_for_it_to_open_and_then_goes(night, outbox):
    case = notice_case()
    plan()
    night.move_to("2026-06-02 22:30 +0800")  # the workers were down all day; the window closed at 22:00

    messaging.send_due_now()

    sms = sms_of(case)
    assert sms.status == "deferred" and sms.reason == "contact_window"
    assert sms.send_after == datetime(2026, 6, 3, 0, 0, tzinfo=UTC)  # 08:00 in Beijing
    assert not (outbox / "sms").exists()
    deferred = reminder_events(case)[0]
    assert deferred.details["status"] == "deferred" and deferred.details["at"] == "2026-06-03T00:00:00+00:00"

    night.move_to("2026-06-03 07:59 +0800")
    assert messaging.send_due_now() == {}
    night.move_to("2026-06-03 08:00 +0800")
    assert messaging.send_due_now() == {"written": 2}
    assert sms_of(case).status == "written"
    assert [e.details["status"] for e in reminder_events(case) if e.details["channel"] == "sms"] == [
        "deferred",
        "written",
    ]


@pytest.mark.parametrize(
    ("flag", "rule"),
    [
        ("do_not_contact", "do_not_contact"),
        ("cease_communication", "cease_communication"),
        ("bankruptcy", "bankruptcy"),
        ("deceased", "deceased"),
    ],
)
def test_a_flag_suppresses_the_reminder_with_the_rule_recorded(night, outbox, flag, rule):
    case = notice_case(**{f"cardholder__{flag}": True})
    plan()
    night.move_to(NINE_IN_BEIJING)

    messaging.send_due_now()

    sms = sms_of(case)
    assert (sms.status, sms.reason) == ("suppressed", rule)
    assert sms.detail  # the policy's own words
    event = reminder_events(case)[0]
    assert event.details["rule"] == rule and "reminder not sent" in event.reason
    assert not ContactAttempt.objects.filter(case=case).exists()
    assert not outbox.exists()
    assert messaging.send_due_now() == {}  # suppressed is final


def test_an_open_dispute_suppresses_the_reminder(night, team_a, agent):
    case = notice_case(team=team_a)
    services.case_hold(case_id=case.pk, actor=agent, reason="dispute", note="Says the charge is not theirs")
    plan()
    night.move_to(NINE_IN_BEIJING)
    messaging.send_due_now()
    assert sms_of(case).reason == "open_dispute"


def test_a_cap_suppresses_the_reminder(night, team_a, agent):
    """Massachusetts counts texts towards 2 communications per debt in 7 days (940 CMR 7.04(1)(f))."""
    night.move_to("2026-06-02 10:00 -0400")
    case = notice_case(
        team=team_a,
        phone="+16175550100",
        cardholder__jurisdiction="US-MA",
        cardholder__time_zone="America/New_York",
        cardholder__language="en",
    )
    point = case.account.cardholder.contact_points.get()
    for hours in (25, 1):
        services.contact_attempt_log(
            case_id=case.pk,
            actor=agent,
            data=ContactInput(
                channel="sms",
                outcome="sent",
                contact_point_id=point.pk,
                started_at=datetime(2026, 6, 2, 14, tzinfo=UTC) - timedelta(hours=hours),
            ),
        )
    plan()

    messaging.send_due_now()

    sms = sms_of(case)
    assert (sms.status, sms.reason) == ("suppressed", "calls_per_debt_per_7_days")
    assert OutboundMessage.objects.get(case=case, channel="email").status == "written"  # not capped


def test_without_a_number_the_sms_is_suppressed_and_the_email_still_goes(night):
    case = notice_case(phone=None)
    plan()
    night.move_to(NINE_IN_BEIJING)
    messaging.send_due_now()
    assert (sms_of(case).status, sms_of(case).reason) == ("suppressed", "no_address")
    assert OutboundMessage.objects.get(case=case, channel="email").status == "written"


def test_without_a_template_in_the_cardholders_language_nothing_is_sent(night):
    case = notice_case(cardholder__language="fr")
    plan()
    night.move_to(NINE_IN_BEIJING)
    messaging.send_due_now()
    sms = sms_of(case)
    assert (sms.status, sms.reason) == ("suppressed", "no_template")
    assert "in fr" in sms.detail


def test_without_a_contact_policy_for_the_jurisdiction_nothing_is_sent(night):
    case = notice_case(cardholder__jurisdiction="XX", cardholder__time_zone="")
    plan()
    night.move_to(NINE_IN_BEIJING)
    messaging.send_due_now()
    sms = sms_of(case)
    assert (sms.status, sms.reason) == ("suppressed", "no_policy")
    assert "no built-in contact policy" in sms.detail


def test_a_kept_promise_gets_no_reminder(night, team_a, agent):
    case = open_case(team=team_a, **overdue(20))
    ContactPointFactory(cardholder=case.account.cardholder)
    night.move_to(AFTERNOON_BEFORE)  # a promise is a conversation: inside the contact window
    services.promise_record(
        case_id=case.pk, actor=agent, amount=Decimal("300.00"), due_date=AS_OF + timedelta(days=1)
    )
    night.move_to(NIGHT_RUN)
    assert plan()["promise_reminder"] == 1
    services.payment_record(
        account=case.account,
        external_ref="PAY-1",
        amount=Decimal("300.00"),
        paid_at=timezone.now(),
    )
    night.move_to(NINE_IN_BEIJING)
    messaging.send_due_now()
    assert OutboundMessage.objects.get(case=case).reason == "not_applicable"


# --- Providers -----------------------------------------------------------------------------------------


def test_email_goes_through_django_email_backend(night, settings):
    settings.COLLECTIONS_EMAIL_PROVIDER = "smtp"
    case = notice_case()
    plan()
    night.move_to(NINE_IN_BEIJING)
    messaging.send_due_now()

    email = OutboundMessage.objects.get(case=case, channel="email")
    assert email.status == "sent" and email.provider == "smtp"
    (sent,) = mail.outbox
    assert sent.to == ["wang.wei@example.com"] and sent.subject == "逾期还款通知" and sent.body == email.body
    assert sent.extra_headers["X-Collections-Key"] == email.idempotency_key
    assert email.provider_ref == sent.extra_headers["Message-ID"]


def test_the_sender_and_the_message_id_domain_are_settings(night, settings):
    settings.COLLECTIONS_EMAIL_PROVIDER = "smtp"
    settings.COLLECTIONS_EMAIL_FROM = "collections@bank.example"
    settings.COLLECTIONS_EMAIL_DOMAIN = "mail.bank.example"
    notice_case()
    plan()
    night.move_to(NINE_IN_BEIJING)
    messaging.send_due_now()
    (sent,) = mail.outbox
    assert sent.from_email == "collections@bank.example"
    assert sent.extra_headers["Message-ID"].endswith("@mail.bank.example>")


def test_the_channels_of_a_purpose_are_a_setting(settings):
    settings.COLLECTIONS_REMINDER_CHANNELS = {"overdue_notice": ["letter"]}
    case = notice_case()
    assert plan()["overdue_notice"] == 1
    assert list(OutboundMessage.objects.filter(case=case).values_list("channel", flat=True)) == ["letter"]


def test_the_bank_texts_are_settings(settings):
    settings.COLLECTIONS_BANK_NAME = "Bank of Testing"
    settings.COLLECTIONS_BANK_TEXTS = {"en": {"bank_contact": "call 555-0100"}}
    english = messaging.bank_texts("en", "sms")
    assert (english["bank_name"], english["bank_contact"]) == ("Bank of Testing", "call 555-0100")
    chinese = messaging.bank_texts("zh-hans", "sms")
    assert chinese["bank_name"] == "Bank of Testing"
    assert chinese["bank_contact"] == messaging.BANK_TEXTS["zh-hans"]["bank_contact"]


class DisconnectingBackend(BaseEmailBackend):
    def send_messages(self, email_messages):
        raise smtplib.SMTPServerDisconnected("Connection unexpectedly closed")


def test_an_smtp_disconnect_is_retried_later(night, settings):
    settings.COLLECTIONS_EMAIL_PROVIDER = "smtp"
    settings.COLLECTIONS_EMAIL_BACKEND = f"{__name__}.DisconnectingBackend"
    case = notice_case()
    plan()
    night.move_to(NINE_IN_BEIJING)
    email = OutboundMessage.objects.get(case=case, channel="email")

    with pytest.raises(messaging.RetryLater) as later:
        messaging.message_send(message_id=email.pk)

    email.refresh_from_db()
    assert (email.status, email.reason, email.attempts) == ("planned", "temporary_failure", 1)
    assert "Connection unexpectedly closed" in email.last_error
    assert 48 <= later.value.countdown <= 72  # 60 s, +-20 % jitter
    assert email.send_after > datetime(2026, 6, 2, 1, 1, 40, tzinfo=UTC)


@pytest.fixture
def gateway(settings):
    with sms_gateway() as server:
        settings.COLLECTIONS_SMS_PROVIDER = "http"
        settings.COLLECTIONS_SMS_GATEWAY_URL = server.url
        settings.COLLECTIONS_SMS_GATEWAY_TOKEN = "gateway-token"
        yield server


def test_sms_goes_through_the_http_gateway_with_credentials_and_the_key(night, gateway):
    case = notice_case()
    plan()
    night.move_to(NINE_IN_BEIJING)
    messaging.send_due_now()

    sms = sms_of(case)
    assert (sms.status, sms.provider, sms.provider_ref) == ("sent", "http", "gw-1")
    (request,) = gateway.received
    assert request["path"] == "/v1/sms"
    assert request["headers"]["Authorization"] == "Bearer gateway-token"
    assert request["headers"]["Idempotency-Key"] == sms.idempotency_key
    assert request["json"] == {"to": "+8613800000007", "text": sms.body, "reference": sms.idempotency_key}


def test_basic_auth_when_the_gateway_has_a_user(night, gateway, settings):
    settings.COLLECTIONS_SMS_GATEWAY_TOKEN = ""
    settings.COLLECTIONS_SMS_GATEWAY_USER = "bank"
    settings.COLLECTIONS_SMS_GATEWAY_PASSWORD = "s3cret"
    notice_case()
    plan()
    night.move_to(NINE_IN_BEIJING)
    messaging.send_due_now()
    assert gateway.received[0]["headers"]["Authorization"] == "Basic YmFuazpzM2NyZXQ="


def test_a_busy_gateway_is_retried_with_back_off_and_the_same_key(night, gateway):
    gateway.answers.append((503, {"error": "busy"}))
    case = notice_case()
    plan()
    night.move_to(NINE_IN_BEIJING)

    assert messaging.send_due_now() == {"retry": 1, "written": 1}  # the e-mail to the outbox
    sms = sms_of(case)
    assert (sms.status, sms.attempts) == ("planned", 1) and "503" in sms.last_error
    assert messaging.send_due_now() == {}  # not before the back-off
    night.shift(timedelta(minutes=2))
    # The task's own retry (countdown) comes now: without Celery here, send as that retry would.
    assert messaging.message_send(message_id=sms.pk) == "sent"
    sms.refresh_from_db()
    assert (sms.status, sms.attempts, sms.provider_ref) == ("sent", 2, "gw-2")
    assert [r["headers"]["Idempotency-Key"] for r in gateway.received] == [sms.idempotency_key] * 2
    assert [e.details["status"] for e in reminder_events(case) if e.details["channel"] == "sms"] == ["sent"]


def test_a_refusing_gateway_fails_the_message_for_good(night, gateway):
    gateway.answers.append((400, {"error": "invalid number 8613800000007"}))
    case = notice_case()
    plan()
    night.move_to(NINE_IN_BEIJING)
    messaging.send_due_now()
    sms = sms_of(case)
    assert (sms.status, sms.reason) == ("failed", "provider_rejected")
    assert "invalid number ****" in sms.detail and "13800000007" not in sms.detail
    event = [e for e in reminder_events(case) if e.details["channel"] == "sms"][0]
    assert event.details["outcome"] == "failed"


def test_after_the_last_attempt_the_message_fails(night, gateway, settings):
    settings.COLLECTIONS_MESSAGE_MAX_ATTEMPTS = 2
    gateway.answers.extend([(502, {}), (502, {})])
    case = notice_case()
    plan()
    night.move_to(NINE_IN_BEIJING)
    messaging.send_due_now()
    # Without Celery here, the retry is lost: the dispatcher queues the message again 30 minutes after it.
    night.shift(timedelta(minutes=5))
    assert messaging.send_due_now() == {}
    night.shift(timedelta(minutes=30))
    messaging.send_due_now()
    sms = sms_of(case)
    assert (sms.status, sms.reason, sms.attempts) == ("failed", "retries_exhausted", 2)


def test_an_unreachable_gateway_is_a_temporary_failure(night, settings):
    settings.COLLECTIONS_SMS_PROVIDER = "http"
    settings.COLLECTIONS_SMS_GATEWAY_URL = "http://127.0.0.1:9/sms"  # discard port: nobody listens
    settings.COLLECTIONS_SMS_GATEWAY_TIMEOUT = 2
    case = notice_case()
    plan()
    night.move_to(NINE_IN_BEIJING)
    with pytest.raises(messaging.RetryLater):
        messaging.message_send(message_id=sms_of(case).pk)
    assert "gateway unreachable" in sms_of(case).last_error


# --- Killed in the middle of a send -----------------------------------------------------------------


def _die_while_sending(message: OutboundMessage) -> None:
    """What a worker killed between claiming the message and recording the outcome leaves behind."""
    OutboundMessage.objects.filter(pk=message.pk).update(
        status="sending", attempts=1, claimed_until=datetime(2026, 6, 2, 1, 2, tzinfo=UTC)
    )


def test_a_send_cut_off_midway_is_resent_only_through_a_deduplicating_provider(night, outbox):
    case = notice_case()
    plan()
    night.move_to(NINE_IN_BEIJING)
    sms = sms_of(case)
    _die_while_sending(sms)
    assert messaging.message_send(message_id=sms.pk) == "sending"  # the claim still holds
    night.move_to("2026-06-02 09:10 +0800")

    assert messaging.message_send(message_id=sms.pk) == "written"  # the outbox rewrites the same file
    assert len(list((outbox / "sms").iterdir())) == 1


def test_an_email_cut_off_midway_through_smtp_is_not_sent_again(night, settings):
    settings.COLLECTIONS_EMAIL_PROVIDER = "smtp"
    case = notice_case()
    plan()
    night.move_to("2026-06-02 09:10 +0800")
    email = OutboundMessage.objects.get(case=case, channel="email")
    _die_while_sending(email)

    assert messaging.message_send(message_id=email.pk) == "failed"
    email.refresh_from_db()
    assert email.reason == "outcome_unknown"
    assert mail.outbox == []


# --- Dispatching and the Celery tasks (eager) ---------------------------------------------------------


def test_the_dispatcher_queues_each_due_message_once(night, settings, django_capture_on_commit_callbacks):
    notice_case()
    plan()
    assert messaging.due_message_ids() == []  # 02:00: not before 09:00
    night.move_to(NINE_IN_BEIJING)
    queued = []
    with django_capture_on_commit_callbacks(execute=True):
        assert messaging.dispatch_due(send=queued.append) == 2
    assert sorted(queued) == sorted(OutboundMessage.objects.values_list("pk", flat=True))
    assert messaging.due_message_ids() == []  # queued already
    night.shift(timedelta(minutes=31))
    assert len(messaging.due_message_ids()) == 2  # queued long ago and still not sent: lost, queue again


def test_the_send_task_sends_and_is_safe_to_repeat(night, outbox):
    case = notice_case()
    plan()
    night.move_to(NINE_IN_BEIJING)
    sms = sms_of(case)
    assert tasks.message_send.apply(args=[sms.pk]).get() == "written"
    assert tasks.message_send.apply(args=[sms.pk]).get() == "written"
    assert CaseEvent.objects.filter(case=case, kind=EventKind.REMINDER, details__channel="sms").count() == 1


def test_the_every_minute_task_queues_sends_after_commit(
    night, monkeypatch, django_capture_on_commit_callbacks
):
    notice_case()
    plan()
    night.move_to(NINE_IN_BEIJING)
    queued = []
    monkeypatch.setattr(tasks.message_send, "delay", queued.append)
    with django_capture_on_commit_callbacks(execute=True):
        assert tasks.messages_send_due.apply().get() == 2
    assert len(queued) == 2
