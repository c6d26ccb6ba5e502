"""Query budgets of the case page and My work: the same count whatever the case's history or the
agent's portfolio (issue 15 "API and pages"; issue 17: the case page loads with at most 12 queries).

The case page, for a case the agent works (11): session, user, the case (with its account,
cardholder, queue and team, lease holder, active hold and pending promise), the lease renewal, the
policy profiles, the contact points (with today's calls per number), one page of the timeline, the
cardholder's other accounts, the conversations a promise may be made in, the escalation points of
the priority, the plan with its installments; a profile with frequency limits (the US) adds the
debt's calls this week and its last conversation (12). A supervisor or legal reviewer holds no lease."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from collections_app import services
from collections_app.models import Channel, DelinquencyReason, Outcome, Queue
from collections_app.services import queues
from legal import services as legal_services
from repayment_plans import services as plan_services
from tests.factories import (
    AccountFactory,
    CardholderFactory,
    ContactPointFactory,
    UserFactory,
    open_case,
)

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("office_hours")]

CASE_PAGE_BUDGET = 12


def _rich_case(team, agent):
    """A case the agent works, with a history: 3 contact points, another account of the cardholder,
    10 contacts, 3 promises (one pending), 2 payments, a plan with 12 installments, 40+ events."""
    case = open_case(team=team)
    holder = case.account.cardholder
    phone = ContactPointFactory(cardholder=holder)
    ContactPointFactory(cardholder=holder, is_primary=False)
    ContactPointFactory(cardholder=holder, kind="email", value="wang@example.com", is_primary=False)
    services.case_open(account=AccountFactory(cardholder=holder))
    queues.refresh_priorities()
    assert services.case_claim_next(actor=agent).case == case
    now = timezone.now()
    for i in range(10):
        services.contact_attempt_log(
            case_id=case.pk,
            actor=agent,
            data=services.ContactInput(
                channel=Channel.INBOUND_CALL,
                outcome=Outcome.RIGHT_PARTY_CONTACT,
                delinquency_reason=DelinquencyReason.JOB_LOSS,
                recording_ref=f"REC-{i}",
                contact_point_id=phone.pk,
                started_at=now - timedelta(minutes=60 - i),
            ),
        )
    for i in range(3):
        services.promise_record(
            case_id=case.pk,
            actor=agent,
            amount=Decimal("50.00") + i,
            due_date=case.opened_at.date() + timedelta(days=3 + i),
        )
    for i in range(2):
        services.payment_record(
            account=case.account, external_ref=f"PAY-{case.pk}-{i}", amount=Decimal("20.00"), paid_at=now
        )
    plan_services.plan_propose(
        case_id=case.pk,
        actor=agent,
        data=plan_services.PlanInput(
            kind="installment",
            amount=Decimal("1200.00"),
            installments=12,
            first_due_date=case.opened_at.date() + timedelta(days=7),
        ),
    )
    for i in range(15):
        services.note_add(case_id=case.pk, actor=agent, text=f"note {i}")
    assert case.events.count() >= 30
    return case


def _bare_case(team, agent):
    """A case just opened and claimed: one number, no history."""
    case = open_case(team=team)
    ContactPointFactory(cardholder=case.account.cardholder)
    queues.refresh_priorities()
    assert services.case_claim_next(actor=agent).case == case
    return case


@pytest.fixture
def cases(team_a, agent):
    rich = _rich_case(team_a, agent)  # claimed first: the only case in the queue then
    bare = _bare_case(team_a, UserFactory(username="agent_a2", role="agent", team=team_a))
    rich.refresh_from_db()
    bare.refresh_from_db()
    return rich, bare


def _page_queries(client, user, case) -> list[str]:
    client.force_login(user)
    # The priority weights are cached for minutes (one read per cache expiry, not per page): the count
    # pinned is the page's steady state, whichever test filled or emptied the cache before.
    queues.priority_weights()
    with CaptureQueriesContext(connection) as queries:
        response = client.get(reverse("case_detail", args=[case.pk]))
    assert response.status_code == 200
    return [q["sql"] for q in queries.captured_queries]


def _assert_same_small_count(rich: list[str], bare: list[str], budget: int) -> None:
    listing = "\n".join(f"{n}. {sql[:200]}" for n, sql in enumerate(rich, 1))
    assert len(rich) == len(bare), listing
    assert len(rich) <= budget, listing


def test_the_case_page_costs_an_agent_the_same_for_a_long_history(client, cases):
    rich, bare = cases
    rich_sql = _page_queries(client, rich.lease_owner, rich)
    bare_sql = _page_queries(client, bare.lease_owner, bare)
    _assert_same_small_count(rich_sql, bare_sql, CASE_PAGE_BUDGET)
    assert any(sql.startswith("UPDATE") for sql in rich_sql)  # the agent's lease is renewed


def test_the_case_page_costs_a_supervisor_the_same_for_a_long_history(client, cases, supervisor):
    rich, bare = cases
    _assert_same_small_count(
        _page_queries(client, supervisor, rich), _page_queries(client, supervisor, bare), CASE_PAGE_BUDGET - 1
    )


def test_the_case_page_costs_a_legal_reviewer_the_same_for_a_long_history(client, cases, supervisor, legal):
    rich, bare = cases
    for case in cases:
        legal_services.legal_refer(case_id=case.pk, actor=supervisor, reason="For the court")
    _assert_same_small_count(
        _page_queries(client, legal, rich), _page_queries(client, legal, bare), CASE_PAGE_BUDGET - 1
    )


# Each profile asks the ledger for what its rules count (the US: the debt's calls this week and the
# waiting period after a conversation), read in one query whatever the profile asks.
JURISDICTIONS = [
    ("CN", "Asia/Shanghai", "+8613800000001", "2026-06-02 10:00 +0800"),
    ("US", "America/New_York", "+12125550100", "2026-06-02 10:00 -0400"),
    ("US-MA", "America/New_York", "+16175550100", "2026-06-02 10:00 -0400"),
]


@pytest.mark.parametrize(("jurisdiction", "zone", "number", "at"), JURISDICTIONS)
def test_the_case_page_costs_an_agent_the_same_in_every_jurisdiction(
    client, team_a, agent, office_hours, jurisdiction, zone, number, at
):
    office_hours.move_to(at)  # inside the cardholder's contact window
    holder = CardholderFactory(jurisdiction=jurisdiction, time_zone=zone)
    case = open_case(team=team_a, account=AccountFactory(cardholder=holder))
    phone = ContactPointFactory(cardholder=holder, value=number)
    queues.refresh_priorities()
    assert services.case_claim_next(actor=agent).case == case
    bare = _page_queries(client, agent, case)
    services.contact_attempt_log(
        case_id=case.pk,
        actor=agent,
        data=services.ContactInput(
            channel=Channel.OUTBOUND_CALL,
            outcome=Outcome.RIGHT_PARTY_CONTACT,
            delinquency_reason=DelinquencyReason.JOB_LOSS,
            recording_ref="REC-1",
            contact_point_id=phone.pk,
            duration_seconds=120,
        ),
    )
    after_a_call = _page_queries(client, agent, case)
    _assert_same_small_count(after_a_call, bare, CASE_PAGE_BUDGET)


def test_the_case_page_still_shows_the_history(client, cases):
    """What the joined reads carry reaches the page: the pending promise, the plan, the other account,
    the lease holder, the numbers and their calls today."""
    rich, _bare = cases
    client.force_login(rich.lease_owner)
    html = client.get(reverse("case_detail", args=[rich.pk])).content.decode()
    promised = html.index('data-testid="pending-promise"')
    assert "¥52.00" in html[promised : html.index("</dd>", promised)]
    assert html.count('data-testid="installment"') == 12
    assert "Other accounts of this cardholder" in html
    assert str(rich.lease_owner) in html
    assert 'data-testid="call-allowed"' in html or 'data-testid="call-refused"' in html


# --- My work ---------------------------------------------------------------------------------------


def _portfolio(agent, team, *, queues_count: int, cases_count: int) -> None:
    """`cases_count` open cases spread over `queues_count` queues the agent works; a third of them
    with a callback of the agent's (assigned to them), and one case the agent holds."""
    work_queues = [Queue.objects.create(name=f"{team.name} Q{n}", team=team) for n in range(queues_count)]
    for queue in work_queues:
        queue.agents.add(agent)
    opened = []
    for n in range(cases_count):
        case = open_case()
        case.queue = work_queues[n % queues_count]
        case.save(update_fields=["queue"])
        ContactPointFactory(cardholder=case.account.cardholder)
        opened.append(case)
    queues.refresh_priorities()
    assert services.case_claim_next(actor=agent).case is not None
    for case in opened[::3]:
        services.callback_schedule(case_id=case.pk, actor=agent, at=case.opened_at + timedelta(hours=1))


def _my_work_queries(client, agent) -> int:
    client.force_login(agent)
    with CaptureQueriesContext(connection) as queries:
        response = client.get(reverse("my_work"))
    assert response.status_code == 200
    return len(queries.captured_queries)


def test_my_work_costs_the_same_for_one_queue_or_many(client, team_a, team_b):
    small = UserFactory(username="small", role="agent", team=team_a)
    large = UserFactory(username="large", role="agent", team=team_b)
    _portfolio(small, team_a, queues_count=1, cases_count=5)
    _portfolio(large, team_b, queues_count=4, cases_count=60)
    # Session, user, the queues (2: named, then their rows with the team), counts per queue, the
    # callbacks, assigned cases and the case held (one query), why cases are not handed out (4), the
    # policy profiles.
    counts = (_my_work_queries(client, small), _my_work_queries(client, large))
    assert counts[0] == counts[1] <= 11
