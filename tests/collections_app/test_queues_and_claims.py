"""Queue placement, the explainable priority score, and Next case (claims with leases)."""

import threading
from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.utils import timezone

from collections_app import services
from collections_app.models import Case
from collections_app.services import queues
from tests.factories import QueueFactory, UserFactory, open_case

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("office_hours")]


def test_cases_go_to_the_first_queue_whose_criteria_they_meet(team_a, team_b):
    early = QueueFactory(name="early", order=1, team=team_a, buckets=["M1", "M2"])
    late = QueueFactory(name="late", order=2, team=team_b, min_dpd=61)
    m2 = open_case(days_past_due=45, bucket="M2")
    m4 = open_case(days_past_due=100, bucket="M4")
    current = open_case(days_past_due=0, bucket="current")
    queues.place_cases_in_queues()
    assert Case.objects.get(pk=m2.pk).queue == early
    assert Case.objects.get(pk=m4.pk).queue == late
    assert Case.objects.get(pk=current.pk).queue is None
    # idempotent: a second run moves nothing
    assert sum(queues.place_cases_in_queues().values()) == 0


def test_a_case_leaves_a_queue_whose_criteria_it_no_longer_meets(team_a):
    early = QueueFactory(name="early", order=1, team=team_a, buckets=["M1"])
    case = open_case(days_past_due=10, bucket="M1")
    queues.place_cases_in_queues()
    assert Case.objects.get(pk=case.pk).queue == early
    case.account.bucket = "M2"
    case.account.save()
    queues.place_cases_in_queues()
    assert Case.objects.get(pk=case.pk).queue is None


def test_queue_criteria_cover_balance_product_jurisdiction_and_state(team_a):
    q = QueueFactory(
        name="us big cards",
        team=team_a,
        min_balance=Decimal("5000"),
        products=["credit_card"],
        jurisdictions=["US"],
        states=["new"],
    )
    hit = open_case(cardholder__jurisdiction="US")
    miss_small = open_case(cardholder__jurisdiction="US", principal=Decimal("100.00"))
    miss_cn = open_case()
    queues.place_cases_in_queues()
    assert set(Case.objects.filter(queue=q).values_list("pk", flat=True)) == {hit.pk}
    assert {miss_small.pk, miss_cn.pk}.isdisjoint(Case.objects.filter(queue=q).values_list("pk", flat=True))


def test_priority_explains_itself_and_sql_agrees_with_python(team_a):
    now = timezone.now()
    case = open_case(team=team_a, days_past_due=45, overdue_amount=Decimal("2500.00"))
    Case.objects.filter(pk=case.pk).update(broken_promise_count=2, next_action_at=now - timedelta(minutes=1))
    case = Case.objects.select_related("account").get(pk=case.pk)
    factors = {f.label: f.points for f in queues.priority_factors(case, now=now)}
    assert factors == {"Days past due": 45, "Overdue amount": 10, "Broken promises": 40, "Callback due": 200}
    queues.refresh_priorities(now=now)
    assert Case.objects.get(pk=case.pk).priority == 295 == queues.priority_score(case, now=now)


def test_next_case_hands_out_the_highest_priority_case_with_a_lease(team_a, agent):
    low = open_case(team=team_a, days_past_due=10)
    high = open_case(team=team_a, days_past_due=90)
    queues.refresh_priorities()
    result = services.case_claim_next(actor=agent)
    assert result.case.pk == high.pk
    high.refresh_from_db()
    assert high.lease_owner == agent
    assert high.lease_expires_at > timezone.now() + timedelta(minutes=14)
    # pressing Next again releases the first and takes the next one
    assert services.case_claim_next(actor=agent).case.pk == low.pk


def test_next_case_skips_cases_leased_by_others_and_callbacks_not_yet_due(team_a, agent):
    colleague = UserFactory(username="colleague", role="agent", team=team_a)
    leased = open_case(team=team_a, days_past_due=90)
    later = open_case(team=team_a, days_past_due=80)
    free = open_case(team=team_a, days_past_due=10)
    queues.refresh_priorities()
    assert services.case_claim_next(actor=colleague).case.pk == leased.pk
    Case.objects.filter(pk=later.pk).update(next_action_at=timezone.now() + timedelta(hours=2))
    assert services.case_claim_next(actor=agent).case.pk == free.pk


def test_an_expired_lease_frees_the_case(team_a, agent):
    colleague = UserFactory(username="colleague", role="agent", team=team_a)
    case = open_case(team=team_a)
    services.case_claim_next(actor=colleague)
    later = timezone.now() + timedelta(minutes=16)
    assert services.case_claim_next(actor=agent, now=later).case.pk == case.pk


def test_flagged_and_held_cases_are_passed_over_and_counted(team_a, agent):
    dnc = open_case(team=team_a, days_past_due=90, cardholder__do_not_contact=True)
    ceased = open_case(team=team_a, days_past_due=80, cardholder__cease_communication=True)
    held = open_case(team=team_a, days_past_due=70)
    services.case_hold(case_id=held.pk, actor=agent, reason="hardship")
    ok = open_case(team=team_a, days_past_due=5)
    queues.refresh_priorities()
    result = services.case_claim_next(actor=agent)
    assert result.case.pk == ok.pk
    assert dnc.pk != ok.pk and ceased.pk != ok.pk
    # Nothing else is ready; the refusal counts the rest by reason (the stored rule, the hold's state).
    refused = services.case_claim_next(actor=agent)
    assert refused.case is None
    assert refused.passed_over == {"do_not_contact": 1, "cease_communication": 1, "state:on_hold": 1}


def test_agents_of_another_team_get_nothing_from_this_teams_queue(team_a, other_agent):
    open_case(team=team_a)
    assert services.case_claim_next(actor=other_agent).case is None


def test_release_returns_the_case_to_the_queue(team_a, agent):
    case = open_case(team=team_a)
    services.case_claim_next(actor=agent)
    assert services.case_release(case_id=case.pk, actor=agent)
    case.refresh_from_db()
    assert case.lease_owner is None


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_many_agents_pressing_next_at_once_never_get_the_same_case(team_a):
    cases = [open_case(team=team_a, days_past_due=d) for d in range(1, 13)]
    queues.refresh_priorities()
    agents = [UserFactory(username=f"rush{i}", role="agent", team=team_a) for i in range(8)]
    barrier = threading.Barrier(len(agents))
    claimed: list[int | None] = []
    lock = threading.Lock()

    def press(agent):
        try:
            barrier.wait()
            result = services.case_claim_next(actor=agent)
            with lock:
                claimed.append(result.case.pk if result.case else None)
        finally:
            connection.close()

    threads = [threading.Thread(target=press, args=(a,)) for a in agents]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    handed_out = [pk for pk in claimed if pk is not None]
    assert len(claimed) == 8
    assert len(handed_out) == len(set(handed_out)) == 8
    assert set(handed_out) <= {c.pk for c in cases}
    assert Case.objects.filter(lease_owner__isnull=False).count() == 8
