"""Every list costs a fixed number of queries whatever the page size: the budget is pinned at two page
sizes, with token authentication as integrations use it (two of the queries are knox's)."""

from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from automation import pipeline as nightly
from collections_app import services
from collections_app.models import Case
from collections_app.services import queues
from escalation.models import EscalationRule
from messaging import services as messaging
from repayment_plans import services as plan_services
from tests.factories import AccountFactory, ContactPointFactory, QueueFactory

pytestmark = pytest.mark.django_db

ROWS = 12
SMALL, LARGE = 3, 12


@pytest.fixture
def portfolio(team_a, agent, admin_user):
    """ROWS cases of team A's queue, each with a contact, a payment, a promise, a plan and notes."""
    QueueFactory(name="Team A queue", team=team_a)
    accounts = AccountFactory.create_batch(ROWS, overdue_amount=Decimal("6000.00"))
    for account in accounts:
        ContactPointFactory(cardholder=account.cardholder)
    services.cases_open_for_delinquent_accounts()
    queues.place_cases_in_queues()
    for n, case in enumerate(Case.objects.select_related("account")):
        services.contact_attempt_log(
            case_id=case.pk, actor=agent, data=services.ContactInput(channel="sms", outcome="sent")
        )
        services.payment_record(
            account=case.account, external_ref=f"PAY-{n}", amount=Decimal("10.00"), paid_at=timezone.now()
        )
        plan_services.plan_propose(
            case_id=case.pk,
            actor=agent,
            data=plan_services.PlanInput(
                kind="installment",
                amount=Decimal("1200.00"),
                installments=12,
                first_due_date=date(2026, 6, 9),
            ),
        )
        services.promise_record(
            case_id=case.pk, actor=agent, amount=Decimal("100.00"), due_date=date(2026, 6, 9)
        )
    messaging.plan_reminders(as_of=date(2026, 6, 8))  # a reminder per promise
    for n in range(ROWS):
        EscalationRule.objects.create(
            name=f"rule {n}", conditions=[{"field": "dpd", "operator": "gte", "value": 91 + n}]
        )
        nightly.run_pipeline(as_of=date(2026, 5, 1) + timedelta(days=n), trigger="test", only=["queues"])
    return Case.objects.order_by("pk").first()


def queries_for(client, path: str) -> tuple[int, int]:
    with CaptureQueriesContext(connection) as captured:
        response = client.get(path)
    assert response.status_code == 200, response.content
    return len(captured), len(response.json()["results"])


# (path, budget, rows per page checked). The budget counts knox's two (token, the user's other tokens)
# and the query of the page (+ 1 per prefetch); no COUNT: the lists are cursor-paginated.
LISTS = [
    ("/api/v1/cases/", 3, True),
    ("/api/v1/cases/?search=王伟&ordering=-priority&state=promised", 3, True),
    ("/api/v1/cardholders/", 4, True),
    ("/api/v1/accounts/", 3, True),
    ("/api/v1/contacts/", 3, True),
    ("/api/v1/promises/", 3, True),
    ("/api/v1/payments/", 3, True),
    ("/api/v1/plans/", 4, True),
    ("/api/v1/outbound-messages/", 3, True),
    ("/api/v1/queues/", 3, False),  # one queue
]
ADMIN_LISTS = [
    ("/api/v1/escalation-rules/", 3, True),
    ("/api/v1/nightly-runs/", 4, True),  # + the steps
]
CASES = [(*row, persona) for row in LISTS for persona in ("agent", "admin")] + [
    (*row, "admin") for row in ADMIN_LISTS
]


@pytest.mark.parametrize(("path", "budget", "full_pages", "persona"), CASES)
def test_list_queries_do_not_grow_with_the_page(
    path, budget, full_pages, persona, portfolio, clients, django_assert_num_queries
):
    separator = "&" if "?" in path else "?"
    small, small_rows = queries_for(clients[persona], f"{path}{separator}page_size={SMALL}")
    with django_assert_num_queries(budget):
        large, large_rows = queries_for(clients[persona], f"{path}{separator}page_size={LARGE}")

    assert small == large
    if full_pages:
        assert (small_rows, large_rows) == (SMALL, LARGE)


def test_timeline_queries_do_not_grow_with_the_page(portfolio, clients, django_assert_num_queries):
    for n in range(ROWS):
        services.note_add(case_id=portfolio.pk, actor=None, text=f"note {n}")
    path = f"/api/v1/cases/{portfolio.pk}/timeline/"
    small, _rows = queries_for(clients["agent"], f"{path}?page_size={SMALL}")
    # knox (2), the case through the access policy (1), the events with their actors (1)
    with django_assert_num_queries(4):
        large, rows = queries_for(clients["agent"], f"{path}?page_size={LARGE}")

    assert small == large
    assert rows == LARGE


def test_case_detail_has_a_fixed_budget(portfolio, clients, django_assert_num_queries):
    # knox (2), the case with its hold and promise (1), contact points (1)
    with django_assert_num_queries(4):
        response = clients["agent"].get(f"/api/v1/cases/{portfolio.pk}/")
    assert response.status_code == 200
