"""Personal data leaves only through a logged reveal: what a provider answers about a refused address or
number (servers quote it back) is redacted before it becomes the message's detail, its last error, the
timeline event, the API's answer or a log line. The SMTP server is a real one on 127.0.0.1 (a thread
of the test process) that refuses the way real servers do."""

import socketserver
import threading
from contextlib import contextmanager
from types import SimpleNamespace

import pytest

from collections_app.models import CaseEvent, EventKind
from core.masking import redact
from messaging import services as messaging
from messaging.models import OutboundMessage
from tests.automation.conftest import AS_OF, overdue, sms_gateway
from tests.factories import ContactPointFactory, UserFactory, open_case
from tests.messaging.pii_logs import scan_module_logs

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("night", "defaults", "outbox")]

NINE_IN_BEIJING = "2026-06-02 09:01 +0800"
EMAIL = "wang.wei@example.com"
PHONE = "+8613800000007"
NATIONAL_ID = "110101199003071234"

pii_logs = scan_module_logs((EMAIL, PHONE, "13800000007", NATIONAL_ID))


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("550 5.1.1 <wang.wei@example.com>: unknown", "550 5.1.1 <w***@example.com>: unknown"),
        ("to +8613812345678 failed", "to +86138****5678 failed"),
        ("number 13812345678.", "number 138****5678."),
        ("+86 138 1234 5678", "+86 138****5678"),
        ("ID 110101199003071234 on file", "ID 110***********1234 on file"),
        ("ID 11010119900307123X", "ID 110***********123X"),
        ("call +1 (617) 555-0100", "call +1 (617****0100"),
        ("+16175550100", "+1617****0100"),
        ("617-555-0100", "617****0100"),
        (
            "overdue_notice:12:2026-05-26+7:sms, 3 tries",
            "overdue_notice:12:2026-05-26+7:sms, 3 tries",
        ),
        ("", ""),
    ],
)
def test_redact_masks_addresses_numbers_and_national_ids_in_free_text(text, expected):
    assert redact(text) == expected
    assert redact(expected) == expected  # masked text stays as it is


class _SmtpHandler(socketserver.StreamRequestHandler):
    """Just enough SMTP for Django's backend: it greets, accepts the sender, and answers the recipient
    with the server's `rcpt_answer` - quoting the address back, as Postfix does."""

    def reply(self, line: str) -> None:
        self.wfile.write(line.encode() + b"\r\n")

    def handle(self):
        server = self.server
        self.reply("220 mx.test ESMTP")
        while line := self.rfile.readline():
            command = line.decode().strip()
            server.received.append(command)
            verb = command[:4].upper()
            if verb in ("EHLO", "HELO"):
                self.reply("250 mx.test")
            elif verb == "MAIL":
                self.reply("250 2.1.0 Ok")
            elif verb == "RCPT":
                address = command.partition(":")[2].strip().strip("<>")
                self.reply(server.rcpt_answer.format(address=address))
            elif verb == "RSET":
                self.reply("250 2.0.0 Ok")
            elif verb == "QUIT":
                self.reply("221 2.0.0 Bye")
                return
            else:
                self.reply("502 5.5.2 Error: command not recognized")


@contextmanager
def smtp_server(rcpt_answer: str):
    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), _SmtpHandler)
    server.daemon_threads = True
    server.received, server.rcpt_answer = [], rcpt_answer
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield SimpleNamespace(port=server.server_address[1], received=server.received)
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def smtp(settings):
    def start(rcpt_answer: str):
        context = smtp_server(rcpt_answer)
        server = context.__enter__()
        settings.COLLECTIONS_EMAIL_PROVIDER = "smtp"
        settings.COLLECTIONS_EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
        settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", server.port
        settings.EMAIL_USE_TLS = False
        started.append(context)
        return server

    started = []
    yield start
    for context in started:
        context.__exit__(None, None, None)


def email_case():
    case = open_case(**overdue(7, cardholder__national_id=NATIONAL_ID))
    holder = case.account.cardholder
    holder.email = EMAIL
    holder.save(update_fields=["email"])
    ContactPointFactory(cardholder=holder, value=PHONE)
    messaging.plan_reminders(as_of=AS_OF)
    return case


def assert_nowhere_in_clear(case, message: OutboundMessage, client) -> None:
    message.refresh_from_db()
    for text in (message.detail, message.last_error):
        assert EMAIL not in text and PHONE not in text and "13800000007" not in text
    for event in CaseEvent.objects.filter(case=case, kind=EventKind.REMINDER):
        assert EMAIL not in event.reason and EMAIL not in str(event.details)
    client.force_login(UserFactory(username="admin_redact", role="admin"))
    response = client.get(f"/api/v1/outbound-messages/{message.pk}/")
    assert response.status_code == 200
    body = response.content.decode()
    assert EMAIL not in body and PHONE not in body


def test_an_smtp_550_quoting_the_address_is_stored_redacted(night, smtp, client):
    server = smtp("550 5.1.1 <{address}>: Recipient address rejected: User unknown in virtual mailbox table")
    case = email_case()
    night.move_to(NINE_IN_BEIJING)
    email = OutboundMessage.objects.get(case=case, channel="email")

    assert messaging.message_send(message_id=email.pk) == "failed"

    assert f"rcpt TO:<{EMAIL}>" in server.received  # the real address went to the server
    email.refresh_from_db()
    assert email.reason == "provider_rejected"
    assert "550" in email.detail and "w***@example.com" in email.detail and "User unknown" in email.detail
    event = CaseEvent.objects.get(case=case, kind=EventKind.REMINDER, details__channel="email")
    assert "w***@example.com" in event.reason and EMAIL not in event.reason
    assert_nowhere_in_clear(case, email, client)


def test_a_temporary_smtp_refusal_is_redacted_in_the_last_error(night, smtp, client):
    smtp("450 4.2.0 <{address}>: Recipient address rejected: Greylisted, try again later")
    case = email_case()
    night.move_to(NINE_IN_BEIJING)
    email = OutboundMessage.objects.get(case=case, channel="email")

    with pytest.raises(messaging.RetryLater) as later:
        messaging.message_send(message_id=email.pk)

    assert EMAIL not in str(later.value)
    email.refresh_from_db()
    assert (email.status, email.reason) == ("planned", "temporary_failure")
    assert "450" in email.last_error and "w***@example.com" in email.last_error
    assert_nowhere_in_clear(case, email, client)


def test_a_gateway_echoing_the_number_and_the_national_id_is_redacted(night, settings, client):
    with sms_gateway() as gateway:
        settings.COLLECTIONS_SMS_PROVIDER = "http"
        settings.COLLECTIONS_SMS_GATEWAY_URL = gateway.url
        gateway.answers.append((400, {"error": f"number {PHONE} of {NATIONAL_ID} barred, ask {EMAIL}"}))
        case = email_case()
        night.move_to(NINE_IN_BEIJING)
        sms = OutboundMessage.objects.get(case=case, channel="sms")

        assert messaging.message_send(message_id=sms.pk) == "failed"

    sms.refresh_from_db()
    assert "barred" in sms.detail and NATIONAL_ID not in sms.detail
    assert_nowhere_in_clear(case, sms, client)


def test_the_outbox_log_line_masks_the_recipient(night, caplog):
    case = email_case()
    night.move_to(NINE_IN_BEIJING)
    with caplog.at_level("INFO", logger="messaging.services"):
        messaging.send_due_now()
    assert OutboundMessage.objects.get(case=case, channel="email").status == "written"
    assert "w***@example.com" in caplog.text and EMAIL not in caplog.text


def test_the_admin_redacts_a_detail_stored_before_redaction(night, client):
    case = email_case()
    email = OutboundMessage.objects.get(case=case, channel="email")
    OutboundMessage.objects.filter(pk=email.pk).update(
        status="failed", detail=f"recipient refused: 550 <{EMAIL}>", last_error=f"451 {PHONE} busy"
    )
    client.force_login(UserFactory(username="admin_old_rows", role="admin"))

    html = client.get(f"/admin/messaging/outboundmessage/{email.pk}/change/").content.decode()

    assert "recipient refused: 550 &lt;w***@example.com&gt;" in html and "+86138****0007 busy" in html
    assert EMAIL not in html and PHONE not in html
