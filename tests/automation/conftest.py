"""Builders for the automation tests: a small portfolio in which every nightly step has work, the default
templates, an outbox in a temporary folder, and a jurisdiction profile with no contact window ("ZZ") for
tests that must not depend on the time of day. The clock is fixed unless a test moves it.

Personas come from tests/conftest.py."""

import contextlib
import json
import threading
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import SimpleNamespace

import pytest
import time_machine

from collections_app import services
from collections_app.models import Case, CaseEvent, ContactAttempt, CreditAccount, PromiseToPay
from contact_policy.models import ContactPolicy
from messaging import services as messaging
from messaging.models import OutboundMessage
from tests.factories import AccountFactory, ContactPointFactory, QueueFactory, open_case

AS_OF = date(2026, 6, 2)  # a Tuesday


@pytest.fixture
def night():
    """02:00 in Beijing on the business date, after the 01:30 schedule; the clock stands still."""
    with time_machine.travel("2026-06-02 02:00 +0800", tick=False) as traveller:
        yield traveller


@pytest.fixture
def defaults(db):
    messaging.ensure_defaults()


@pytest.fixture
def outbox(tmp_path, settings):
    settings.COLLECTIONS_OUTBOX_DIR = str(tmp_path / "outbox")
    return tmp_path / "outbox"


@pytest.fixture
def always_open(db):
    """A profile without a contact window or caps, for tests about something other than the policy."""
    return ContactPolicy.objects.get_or_create(
        code="ZZ", defaults={"name": "Test profile, no window", "fallback_time_zone": "UTC"}
    )[0]


def overdue(days: int, **fields) -> dict:
    """Account fields for an account `days` past due on AS_OF whose stored DPD is a day old."""
    missed = AS_OF - timedelta(days=days)
    stale = max(days - 1, 0)
    from collections_app.delinquency import bucket_for

    return {
        "first_missed_due_date": missed,
        "days_past_due": stale,
        "bucket": bucket_for(stale),
        "dpd_as_of": AS_OF - timedelta(days=1),
        **fields,
    }


@dataclass
class Portfolio:
    new_delinquent: CreditAccount  # delinquent, no case yet: a case opens
    cured: Case  # the bank's file says its overdue amount is paid: resolved, cured
    paid_off: Case  # nothing left at all: resolved, paid in full
    current: CreditAccount  # never late: untouched
    late: Case  # 75 days past due: DPD and bucket move on (M3)
    promised: Case  # a promise that fell due 5 days ago: broken
    noticed: Case  # 7 days past due today: an overdue notice by SMS and e-mail


def build_portfolio(team) -> Portfolio:
    """Through the real services, with the clock on the day before AS_OF."""
    QueueFactory(name="Early", team=team, order=10, buckets=["M1", "M2"])
    QueueFactory(name="Late", team=team, order=20, buckets=["M3", "M4", "M5", "M6", "M6+"])
    with time_machine.travel("2026-05-25 10:00 +0800", tick=False):
        new_delinquent = AccountFactory(**overdue(3))
        cured = open_case(**overdue(20))
        paid_off = open_case(**overdue(40))
        current = AccountFactory(
            overdue_amount=Decimal("0.00"), first_missed_due_date=None, days_past_due=0, bucket="current"
        )
        late = open_case(**overdue(75))
        promised = open_case(**overdue(50))
        noticed = open_case(**overdue(7))
        ContactPointFactory(cardholder=noticed.account.cardholder, value="+8613800000007")
        noticed.account.cardholder.email = "wang.wei@example.com"
        noticed.account.cardholder.save(update_fields=["email"])
        from accounts.models import User

        agent = User.objects.filter(team=team, role="agent").first()
        promised.queue = QueueFactory(name="Early", team=team)
        promised.save(update_fields=["queue"])
        services.promise_record(
            case_id=promised.pk, actor=agent, amount=Decimal("500.00"), due_date=date(2026, 5, 28)
        )
    # The bank's daily file: two accounts paid up (cured; one with nothing left at all).
    CreditAccount.objects.filter(pk=cured.account_id).update(
        overdue_amount=Decimal("0.00"), minimum_due=Decimal("0.00"), first_missed_due_date=None
    )
    CreditAccount.objects.filter(pk=paid_off.account_id).update(
        overdue_amount=Decimal("0.00"),
        minimum_due=Decimal("0.00"),
        first_missed_due_date=None,
        principal=Decimal("0.00"),
        interest=Decimal("0.00"),
        fees=Decimal("0.00"),
        penalties=Decimal("0.00"),
    )
    return Portfolio(new_delinquent, cured, paid_off, current, late, promised, noticed)


@pytest.fixture
def portfolio(team_a, agent):
    return build_portfolio(team_a)


def snapshot() -> dict:
    """Everything a nightly run may change, to compare before and after a second run."""
    return {
        "accounts": sorted(CreditAccount.objects.values_list("pk", "days_past_due", "bucket", "dpd_as_of")),
        "cases": sorted(
            Case.objects.values_list("pk", "state", "queue_id", "priority", "broken_promise_count", "version")
        ),
        "events": sorted(CaseEvent.objects.values_list("pk", flat=True)),
        "promises": sorted(PromiseToPay.objects.values_list("pk", "status")),
        "messages": sorted(OutboundMessage.objects.values_list("idempotency_key", "status")),
        "contacts": ContactAttempt.objects.count(),
    }


@contextlib.contextmanager
def sms_gateway():
    """An SMS gateway on 127.0.0.1 (a thread of the test process): it answers from `answers` (status, JSON)
    in turn, then 200 with an id, and keeps every request in `received`."""
    answers: list[tuple[int, dict]] = []
    received: list[dict] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            body = self.rfile.read(int(self.headers["Content-Length"]))
            received.append({"path": self.path, "headers": dict(self.headers), "json": json.loads(body)})
            status, answer = answers.pop(0) if answers else (200, {"id": f"gw-{len(received)}"})
            data = json.dumps(answer).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield SimpleNamespace(
            answers=answers, received=received, url=f"http://127.0.0.1:{server.server_port}/v1/sms"
        )
    finally:
        server.shutdown()
        server.server_close()
