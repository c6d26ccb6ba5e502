"""Planning the day's reminders is set-based: each purpose is one read of the (zone, jurisdiction) pairs
and one INSERT ... SELECT, however many cases; the rows carry the keys and subjects the senders expect."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from messaging import services as messaging
from messaging.models import OutboundMessage
from tests.automation.conftest import AS_OF, overdue
from tests.factories import open_case

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("night", "defaults")]


def test_an_overdue_notice_is_keyed_and_described_as_the_senders_expect():
    case = open_case(**overdue(7))
    assert messaging.plan_reminders(as_of=AS_OF)["overdue_notice"] == 2
    missed = case.account.first_missed_due_date.isoformat()
    planned = OutboundMessage.objects.filter(case=case, purpose="overdue_notice").order_by("channel")
    assert [(m.channel, m.idempotency_key, m.about, m.status) for m in planned] == [
        (
            channel,
            messaging.idempotency_key("overdue_notice", case.pk, f"{missed}+7", channel),
            about,
            "planned",
        )
        for channel, about in (
            ("email", {"due_date": missed, "dpd": 7}),
            ("sms", {"due_date": missed, "dpd": 7}),
        )
    ]


def test_planning_is_one_insert_however_many_cases():
    for _ in range(12):
        open_case(**overdue(7))
    with CaptureQueriesContext(connection) as captured:
        counts = messaging.plan_reminders(as_of=AS_OF)
    assert counts["overdue_notice"] == 24
    statements = [q["sql"].lstrip().split()[0] for q in captured.captured_queries]
    # One INSERT for the one purpose that finds cases; per purpose one read of its (zone, jurisdiction)
    # pairs; the contact policies read once; savepoints. No statement per case.
    assert statements.count("INSERT") == 1
    assert statements.count("SELECT") <= 1 + len(messaging.FINDERS) + 2
