"""The case state machine through the service layer: every transition, its guards, its event."""

import dataclasses
import threading
from datetime import date, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.db import connection
from django.utils import timezone

from collections_app import services
from collections_app.models import Case, CaseEvent, CaseState, CreditAccount, EventKind, PromiseStatus
from collections_app.services import contactability
from collections_app.services.contacts import MAX_CONTACT_SECONDS
from core.exceptions import ConcurrentUpdate, InvalidTransition, NotAllowed, ValidationFailed
from legal import services as legal_services
from tests.factories import AccountFactory, ContactPointFactory, open_case, write_off_approved

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("office_hours")]

RPC = services.ContactInput(
    channel="outbound_call", outcome="rpc", delinquency_reason="job_loss", recording_ref="R1"
)


def events(case, kind=None):
    qs = CaseEvent.objects.filter(case=case)
    return list(qs.filter(kind=kind) if kind else qs)


def test_opening_a_case_writes_the_opened_event():
    case = open_case()
    assert case.state == CaseState.NEW
    assert [e.kind for e in events(case)] == [EventKind.OPENED]


def test_an_account_has_at_most_one_open_case():
    case = open_case()
    with pytest.raises(InvalidTransition, match="already has an open case"):
        services.case_open(account=case.account)


def test_set_based_opening_skips_accounts_with_an_open_case_and_current_accounts():
    open_case()
    AccountFactory(overdue_amount=Decimal("0.00"), first_missed_due_date=None)
    AccountFactory()
    AccountFactory()
    assert services.cases_open_for_delinquent_accounts() == 2
    assert services.cases_open_for_delinquent_accounts() == 0
    assert Case.objects.count() == 3


def test_set_based_opening_numbers_each_case_writes_one_event_each_and_computes_contactability():
    reopened = AccountFactory()
    first = services.case_open(account=reopened)
    Case.objects.filter(pk=first.pk).update(state=CaseState.RESOLVED, closed_at=timezone.now())
    fresh = AccountFactory()
    other = AccountFactory()  # not among the accounts given

    opened = services.cases_open_for_delinquent_accounts(
        account_ids=CreditAccount.objects.filter(pk__in=[reopened.pk, fresh.pk])
    )

    assert opened == 2
    new_cases = Case.objects.filter(state=CaseState.NEW).order_by("account_id")
    assert [c.reference for c in new_cases] == [f"C{reopened.pk:08d}-2", f"C{fresh.pk:08d}-1"]
    assert all(c.contactable_from is not None or c.contact_block_rule for c in new_cases)
    assert [(e.kind, e.to_state, e.actor_id) for c in new_cases for e in events(c)] == [
        (EventKind.OPENED, CaseState.NEW, None)
    ] * 2
    assert not Case.objects.filter(account=other).exists()


def test_first_contact_starts_work_and_records_the_event(team_a, agent):
    case = open_case(team=team_a)
    attempt = services.contact_attempt_log(case_id=case.pk, actor=agent, data=RPC)
    case.refresh_from_db()
    assert case.state == CaseState.IN_PROGRESS
    assert case.last_right_party_contact_at == attempt.started_at
    transition = events(case, EventKind.TRANSITION)[0]
    assert (transition.from_state, transition.to_state, transition.actor) == ("new", "in_progress", agent)
    assert events(case, EventKind.CONTACT)[0].details["contact_attempt"] == attempt.pk


def test_right_party_contact_needs_the_reason_for_delinquency(team_a, agent):
    case = open_case(team=team_a)
    with pytest.raises(ValidationFailed) as refused:
        services.contact_attempt_log(
            case_id=case.pk, actor=agent, data=services.ContactInput(channel="outbound_call", outcome="rpc")
        )
    assert refused.value.field == "delinquency_reason"
    assert not case.contact_attempts.exists()


def test_agent_of_another_team_cannot_act_on_the_case(team_a, other_agent):
    case = open_case(team=team_a)
    with pytest.raises(NotAllowed):
        services.contact_attempt_log(case_id=case.pk, actor=other_agent, data=RPC)
    assert not case.contact_attempts.exists()


NO_ANSWER = services.ContactInput(channel="outbound_call", outcome="no_answer")


@pytest.mark.parametrize("ahead", [timedelta(minutes=6), timedelta(days=1)])
def test_a_contact_cannot_start_in_the_future(team_a, agent, ahead):
    case = open_case(team=team_a)
    data = dataclasses.replace(RPC, started_at=timezone.now() + ahead)
    with pytest.raises(ValidationFailed) as refused:
        services.contact_attempt_log(case_id=case.pk, actor=agent, data=data)
    assert (refused.value.field, refused.value.rule) == ("started_at", "started_in_future")
    assert refused.value.message == "A contact cannot start in the future."
    assert not case.contact_attempts.exists()
    # Refused as input, before the contact policy is asked: no policy refusal on the timeline either.
    assert [e.kind for e in events(case)] == [EventKind.OPENED]


def test_a_clock_a_little_ahead_is_tolerated_and_an_earlier_start_is_kept(team_a, agent):
    case = open_case(team=team_a)
    now = timezone.now()
    slightly_ahead = dataclasses.replace(NO_ANSWER, started_at=now + timedelta(minutes=4))
    services.contact_attempt_log(case_id=case.pk, actor=agent, data=slightly_ahead)
    earlier = now - timedelta(hours=1)
    attempt = services.contact_attempt_log(
        case_id=case.pk, actor=agent, data=dataclasses.replace(NO_ANSWER, started_at=earlier)
    )
    assert attempt.started_at == earlier
    assert case.contact_attempts.count() == 2


def test_a_contact_cannot_last_more_than_a_day(team_a, agent):
    case = open_case(team=team_a)
    too_long = dataclasses.replace(NO_ANSWER, duration_seconds=MAX_CONTACT_SECONDS + 1)
    with pytest.raises(ValidationFailed) as refused:
        services.contact_attempt_log(case_id=case.pk, actor=agent, data=too_long)
    assert (refused.value.field, refused.value.rule) == ("duration_seconds", "duration_too_long")
    assert not case.contact_attempts.exists()
    a_day = dataclasses.replace(NO_ANSWER, duration_seconds=MAX_CONTACT_SECONDS)
    assert services.contact_attempt_log(case_id=case.pk, actor=agent, data=a_day).duration_seconds == 86_400


US_NEW_YORK = {"cardholder__jurisdiction": "US", "cardholder__time_zone": "America/New_York"}
US_ZONE_FROM_PHONE = {"cardholder__jurisdiction": "US", "cardholder__time_zone": ""}


@pytest.mark.parametrize(
    ("holder", "phone", "local", "stored"),
    [
        ({}, "+8613800000001", "2026-06-03 15:00", "2026-06-03T07:00:00+00:00"),
        (US_NEW_YORK, "+12125550123", "2026-06-03 15:00", "2026-06-03T19:00:00+00:00"),  # EDT
        (US_NEW_YORK, "+12125550123", "2026-12-03 15:00", "2026-12-03T20:00:00+00:00"),  # EST
        (US_ZONE_FROM_PHONE, "+12135550100", "2026-06-03 15:00", "2026-06-03T22:00:00+00:00"),  # Los Angeles
    ],
)
def test_a_callback_time_without_an_offset_is_the_cardholders_local_time(
    team_a, agent, holder, phone, local, stored, settings
):
    settings.COLLECTIONS_CALLBACK_HORIZON_DAYS = 365  # winter in New York is more than 90 days ahead
    case = open_case(team=team_a, **holder)
    ContactPointFactory(cardholder=case.account.cardholder, value=phone)
    services.callback_schedule(case_id=case.pk, actor=agent, at=datetime.fromisoformat(local))
    case.refresh_from_db()
    assert case.next_action_at.isoformat() == stored
    assert events(case, EventKind.CALLBACK)[0].details["at"].startswith(local.replace(" ", "T"))


def test_a_callback_time_with_an_offset_is_that_instant(team_a, agent):
    case = open_case(team=team_a, **US_NEW_YORK)
    at = datetime(2026, 6, 3, 15, 0, tzinfo=ZoneInfo("America/Chicago"))  # 16:00 in New York
    assert contactability.cardholder_local_time(case, at) is at
    services.callback_schedule(case_id=case.pk, actor=agent, at=at)
    case.refresh_from_db()
    assert case.next_action_at.isoformat() == "2026-06-03T20:00:00+00:00"


def test_a_callback_on_a_stale_version_is_refused(team_a, agent):
    case = open_case(team=team_a)
    with pytest.raises(ConcurrentUpdate):
        services.callback_schedule(
            case_id=case.pk,
            actor=agent,
            at=datetime(2026, 6, 3, 15, 0),
            expected_version=case.version + 1,
        )
    assert events(case, EventKind.CALLBACK) == []


@time_machine.travel("2026-06-01 10:00 +0800", tick=False)
def test_promise_moves_the_case_to_promised(team_a, agent):
    case = open_case(team=team_a)
    promise = services.promise_record(
        case_id=case.pk, actor=agent, amount=Decimal("500.00"), due_date=date(2026, 6, 10)
    )
    case.refresh_from_db()
    assert case.state == CaseState.PROMISED
    assert promise.status == PromiseStatus.PENDING
    assert events(case, EventKind.PROMISE)[0].to_state == "promised"


@pytest.mark.parametrize(
    ("amount", "days_ahead", "rule"),
    [
        (Decimal("0.00"), 5, "amount_positive"),
        (Decimal("-1.00"), 5, "amount_positive"),
        (Decimal("8900.01"), 5, "amount_above_balance"),
        (Decimal("100.00"), -1, "date_in_past"),
        (Decimal("100.00"), 31, "date_beyond_horizon"),
    ],
)
def test_bad_promises_are_refused_with_the_rule(team_a, agent, amount, days_ahead, rule):
    case = open_case(team=team_a)  # balance 8900.00
    today = date(2026, 6, 1)
    with pytest.raises(ValidationFailed) as refused:
        services.promise_record(
            case_id=case.pk,
            actor=agent,
            amount=amount,
            due_date=today + timedelta(days=days_ahead),
            today=today,
        )
    assert refused.value.rule == rule
    assert not case.promises.exists()


def test_promise_on_the_last_day_of_the_horizon_is_accepted(team_a, agent):
    case = open_case(team=team_a)
    today = date(2026, 6, 1)
    services.promise_record(
        case_id=case.pk,
        actor=agent,
        amount=Decimal("100.00"),
        due_date=today + timedelta(days=30),
        today=today,
    )


def test_a_new_promise_replaces_the_pending_one(team_a, agent):
    case = open_case(team=team_a)
    today = timezone.localdate()
    first = services.promise_record(case_id=case.pk, actor=agent, amount=Decimal("100.00"), due_date=today)
    services.promise_record(case_id=case.pk, actor=agent, amount=Decimal("200.00"), due_date=today)
    first.refresh_from_db()
    assert first.status == PromiseStatus.CANCELLED
    assert case.promises.filter(status=PromiseStatus.PENDING).count() == 1


def test_a_promise_may_cite_a_contact_of_its_case_only(team_a, agent):
    case = open_case(team=team_a)
    other = open_case(team=team_a)
    own_attempt = services.contact_attempt_log(case_id=case.pk, actor=agent, data=RPC)
    foreign_attempt = services.contact_attempt_log(case_id=other.pk, actor=agent, data=RPC)
    today = timezone.localdate()

    with pytest.raises(ValidationFailed) as refused:
        services.promise_record(
            case_id=case.pk,
            actor=agent,
            amount=Decimal("100.00"),
            due_date=today,
            contact_attempt_id=foreign_attempt.pk,
        )
    assert (refused.value.field, refused.value.rule) == ("contact_attempt", "attempt_not_on_case")
    assert str(refused.value) == "That contact attempt is not on this case."
    assert not case.promises.exists()

    promise = services.promise_record(
        case_id=case.pk,
        actor=agent,
        amount=Decimal("100.00"),
        due_date=today,
        contact_attempt_id=own_attempt.pk,
    )
    assert promise.contact_attempt_id == own_attempt.pk


def test_a_promise_on_a_case_that_cannot_be_promised_is_refused_by_the_state_machine(team_a, agent):
    case = open_case(team=team_a)
    services.case_hold(case_id=case.pk, actor=agent, reason="dispute")
    with pytest.raises(InvalidTransition) as refused:
        services.promise_record(
            case_id=case.pk, actor=agent, amount=Decimal("100.00"), due_date=timezone.localdate()
        )
    assert refused.value.rule == "state_machine"
    assert not case.promises.exists()


def test_hold_and_release(team_a, agent):
    case = open_case(team=team_a)
    services.case_hold(case_id=case.pk, actor=agent, reason="dispute", note="Customer disputes a charge")
    case.refresh_from_db()
    assert case.state == CaseState.ON_HOLD
    with pytest.raises(InvalidTransition):
        services.case_hold(case_id=case.pk, actor=agent, reason="hardship")
    services.case_release_hold(case_id=case.pk, actor=agent, note="Dispute answered")
    case.refresh_from_db()
    assert case.state == CaseState.IN_PROGRESS
    assert case.holds.get().released_by == agent


def test_agents_cannot_escalate_directly_but_may_request_it(team_a, agent, supervisor):
    case = open_case(team=team_a)
    with pytest.raises(NotAllowed):
        legal_services.legal_refer(case_id=case.pk, actor=agent, reason="Refuses to pay")
    services.escalation_request(case_id=case.pk, actor=agent, target="legal", reason="Refuses to pay")
    legal_services.legal_refer(case_id=case.pk, actor=supervisor, reason="Refuses to pay")
    case.refresh_from_db()
    assert case.state == CaseState.LEGAL_REVIEW
    assert case.legal_referrals.get().referred_by == supervisor


def test_legal_escalation_is_refused_while_a_dispute_is_open(team_a, agent, supervisor):
    case = open_case(team=team_a)
    services.case_hold(case_id=case.pk, actor=agent, reason="dispute")
    with pytest.raises(InvalidTransition, match="dispute"):
        legal_services.legal_refer(case_id=case.pk, actor=supervisor, reason="x")


def test_legal_decisions(team_a, supervisor, legal, agent):
    returned = open_case(team=team_a)
    sued = open_case(team=team_a)
    for case in (returned, sued):
        legal_services.legal_refer(case_id=case.pk, actor=supervisor, reason="120 DPD, no contact")
    with pytest.raises(NotAllowed):
        legal_services.legal_decide(case_id=returned.pk, actor=agent, decision="returned", note="x")
    legal_services.legal_decide(case_id=returned.pk, actor=legal, decision="returned", note="Contact found")
    with pytest.raises(ValidationFailed):
        legal_services.legal_decide(case_id=sued.pk, actor=legal, decision="litigation")
    legal_services.legal_decide(
        case_id=sued.pk, actor=legal, decision="litigation", court_reference="(2026)京0105民初1号"
    )
    returned.refresh_from_db()
    sued.refresh_from_db()
    assert returned.state == CaseState.IN_PROGRESS
    assert sued.state == CaseState.LITIGATION
    assert sued.legal_referrals.get().court_reference == "(2026)京0105民初1号"


def test_legal_reviewer_cannot_touch_cases_outside_legal_states(team_a, legal):
    case = open_case(team=team_a)
    with pytest.raises(NotAllowed):
        services.note_add(case_id=case.pk, actor=legal, text="hello")


def test_a_write_off_needs_an_approved_request_and_a_reason(team_a, agent, supervisor):
    case = open_case(team=team_a)
    with pytest.raises(NotAllowed):
        services.case_close(case_id=case.pk, actor=agent, write_off=True, resolution_reason="charged_off")
    with pytest.raises(ValidationFailed):
        services.case_close(case_id=case.pk, actor=supervisor, write_off=True, resolution_reason="")
    with pytest.raises(NotAllowed) as alone:  # nobody writes a debt off alone (authority)
        services.case_close(
            case_id=case.pk, actor=supervisor, write_off=True, resolution_reason="charged_off"
        )
    assert alone.value.rule == "authority_required"
    write_off_approved(case, by=supervisor)
    case.refresh_from_db()
    assert case.state == CaseState.WRITTEN_OFF
    assert case.closed_at is not None
    # closed: nothing more happens on it
    with pytest.raises(InvalidTransition):
        services.case_transition(case_id=case.pk, name="start_work", actor=supervisor)


def test_system_only_transitions_cannot_be_asked_for_by_name(team_a, supervisor):
    case = open_case(team=team_a)
    with pytest.raises(InvalidTransition):
        services.case_transition(case_id=case.pk, name="break_promise", actor=supervisor)


def test_stale_version_is_refused(team_a, agent):
    case = open_case(team=team_a)
    services.note_add(case_id=case.pk, actor=agent, text="first")
    with pytest.raises(ConcurrentUpdate):
        services.case_transition(
            case_id=case.pk, name="start_work", actor=agent, expected_version=case.version
        )


def test_available_transitions_follow_role_and_state(team_a, agent, supervisor):
    case = open_case(team=team_a)
    assert services.available_transitions(case, agent) == ["start_work"]
    # No "write_off": a write-off is asked for as an authority request (Request write-off).
    assert services.available_transitions(case, supervisor) == [
        "escalate_to_legal",
        "resolve",
        "start_work",
    ]


# --- Payments -----------------------------------------------------------------------------------


def pay(case, ref, amount, when=None):
    return services.payment_record(
        account=case.account, external_ref=ref, amount=Decimal(amount), paid_at=when or timezone.now()
    )


def test_partial_payment_reduces_overdue_and_allocates_components(team_a):
    case = open_case(team=team_a)  # overdue 1500, penalties 100, fees 200, interest 600
    result = pay(case, "P1", "250.00")
    account = case.account
    account.refresh_from_db()
    assert result.created
    assert account.overdue_amount == Decimal("1250.00")
    assert (account.penalties, account.fees, account.interest) == (
        Decimal("0"),
        Decimal("50.00"),
        Decimal("600.00"),
    )
    assert account.balance == Decimal("8650.00")
    assert result.payment.allocation == {"overdue": "250.00", "penalties": "100.00", "fees": "150.00"}
    case.refresh_from_db()
    assert case.is_open
    assert events(case, EventKind.PAYMENT)[0].details["amount"] == "250.00"


def test_paying_the_overdue_amount_cures_the_account_and_resolves_the_case(team_a):
    case = open_case(team=team_a)
    pay(case, "P1", "1500.00")
    case.refresh_from_db()
    case.account.refresh_from_db()
    assert case.state == CaseState.RESOLVED
    assert case.resolution_reason == "cured"
    assert (case.account.days_past_due, case.account.bucket) == (0, "current")
    assert case.account.first_missed_due_date is None


def test_paying_the_whole_balance_resolves_as_paid_in_full(team_a):
    case = open_case(team=team_a)
    pay(case, "P1", "9000.00")
    case.refresh_from_db()
    assert case.resolution_reason == "paid_in_full"
    payment = case.payments.get()
    assert payment.allocation["unapplied"] == "100.00"


def test_replayed_payment_changes_nothing(team_a):
    case = open_case(team=team_a)
    first = pay(case, "P1", "100.00")
    again = pay(case, "P1", "100.00", when=first.payment.paid_at)
    case.account.refresh_from_db()
    assert not again.created
    assert case.account.overdue_amount == Decimal("1400.00")
    assert case.payments.count() == 1
    assert len(events(case, EventKind.PAYMENT)) == 1


def test_payment_reference_reused_with_other_figures_is_refused(team_a):
    case = open_case(team=team_a)
    pay(case, "P1", "100.00")
    with pytest.raises(ConcurrentUpdate):
        pay(case, "P1", "120.00")


def test_payment_keeps_a_promise_when_it_covers_it(team_a, agent):
    case = open_case(team=team_a)
    today = timezone.localdate()
    promise = services.promise_record(case_id=case.pk, actor=agent, amount=Decimal("300.00"), due_date=today)
    pay(case, "P1", "100.00")
    promise.refresh_from_db()
    assert (promise.status, promise.paid_amount) == (PromiseStatus.PENDING, Decimal("100.00"))
    pay(case, "P2", "200.00")
    promise.refresh_from_db()
    case.refresh_from_db()
    assert promise.status == PromiseStatus.KEPT
    assert case.state == CaseState.IN_PROGRESS


def test_unpaid_promise_breaks_after_the_grace_days_once(team_a, agent, settings):
    settings.COLLECTIONS_PROMISE_GRACE_DAYS = 1
    case = open_case(team=team_a)
    promise = services.promise_record(
        case_id=case.pk,
        actor=agent,
        amount=Decimal("300.00"),
        due_date=date(2026, 6, 10),
        today=date(2026, 6, 1),
    )
    assert services.promises_check_broken(as_of=date(2026, 6, 11)) == 0  # grace day
    assert services.promises_check_broken(as_of=date(2026, 6, 12)) == 1
    assert services.promises_check_broken(as_of=date(2026, 6, 12)) == 0
    promise.refresh_from_db()
    case.refresh_from_db()
    assert promise.status == PromiseStatus.BROKEN
    assert (case.state, case.broken_promise_count) == (CaseState.IN_PROGRESS, 1)
    assert len(events(case, EventKind.PROMISE_BROKEN)) == 1


def test_a_broken_promise_moves_the_case_through_the_kernel_with_one_event_each(team_a, agent, settings):
    settings.COLLECTIONS_PROMISE_GRACE_DAYS = 1
    case = open_case(team=team_a)
    promise = services.promise_record(
        case_id=case.pk,
        actor=agent,
        amount=Decimal("300.00"),
        due_date=date(2026, 6, 3),
        today=date(2026, 6, 2),
    )
    services.payment_record(
        account=case.account, external_ref="P1", amount=Decimal("120.00"), paid_at=timezone.now()
    )

    assert services.promises_check_broken(as_of=date(2026, 6, 5)) == 1

    broken = events(case, EventKind.PROMISE_BROKEN)
    assert [e.details for e in broken] == [
        {"promise": promise.pk, "amount": "300.00", "paid": "120.00", "as_of": "2026-06-05"}
    ]
    (moved,) = CaseEvent.objects.filter(case=case, kind=EventKind.TRANSITION, from_state=CaseState.PROMISED)
    assert (moved.to_state, moved.reason, moved.actor) == (CaseState.IN_PROGRESS, "Promise broken", None)
    assert moved.pk > broken[0].pk  # the timeline reads: promise broken, then back to work


def test_a_broken_promise_of_a_case_put_on_hold_counts_but_leaves_the_hold(team_a, agent, settings):
    settings.COLLECTIONS_PROMISE_GRACE_DAYS = 1
    case = open_case(team=team_a)
    services.promise_record(
        case_id=case.pk,
        actor=agent,
        amount=Decimal("300.00"),
        due_date=date(2026, 6, 3),
        today=date(2026, 6, 2),
    )
    services.case_hold(case_id=case.pk, actor=agent, reason="hardship")
    case.refresh_from_db()
    version = case.version

    assert services.promises_check_broken(as_of=date(2026, 6, 5)) == 1
    assert services.promises_check_broken(as_of=date(2026, 6, 5)) == 0

    case.refresh_from_db()
    assert (case.state, case.broken_promise_count, case.version) == (CaseState.ON_HOLD, 1, version + 1)
    assert len(events(case, EventKind.PROMISE_BROKEN)) == 1
    assert not CaseEvent.objects.filter(case=case, kind=EventKind.TRANSITION, to_state=CaseState.IN_PROGRESS)


def test_the_promise_check_is_set_based(team_a, agent, settings, django_assert_max_num_queries):
    settings.COLLECTIONS_PROMISE_GRACE_DAYS = 1
    cases = [open_case(team=team_a) for _ in range(5)]
    for case in cases:
        services.promise_record(
            case_id=case.pk,
            actor=agent,
            amount=Decimal("100.00"),
            due_date=date(2026, 6, 3),
            today=date(2026, 6, 2),
        )

    with django_assert_max_num_queries(11):  # as many for 500 cases
        assert services.promises_check_broken(as_of=date(2026, 6, 5)) == 5

    assert Case.objects.filter(state=CaseState.IN_PROGRESS, broken_promise_count=1).count() == 5
    assert CaseEvent.objects.filter(kind=EventKind.TRANSITION, reason="Promise broken").count() == 5


# --- Concurrency (PostgreSQL row locks) -------------------------------------------------------


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_writers_at_once_one_wins_the_other_is_refused(team_a, supervisor, agent):
    case = open_case(team=team_a)
    barrier = threading.Barrier(2)
    outcomes: dict[str, object] = {}

    def run(name, fn):
        try:
            barrier.wait()
            fn()
            outcomes[name] = "ok"
        except Exception as exc:  # noqa: BLE001 - the refusal is what we look at
            outcomes[name] = exc
        finally:
            connection.close()

    # The supervisor and the nightly escalation rule (actor None) escalate the same case at once.
    threads = [
        threading.Thread(
            target=run,
            args=(
                name,
                lambda actor=actor: legal_services.legal_refer(case_id=case.pk, actor=actor, reason="x"),
            ),
        )
        for name, actor in (("supervisor", supervisor), ("system", None))
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    winners = [name for name, result in outcomes.items() if result == "ok"]
    losers = [result for result in outcomes.values() if result != "ok"]
    assert len(winners) == 1
    assert len(losers) == 1 and isinstance(losers[0], InvalidTransition)
    case.refresh_from_db()
    assert case.state == "legal_review"
    assert CaseEvent.objects.filter(case=case, kind=EventKind.ESCALATED).count() == 1
    assert case.legal_referrals.count() == 1


def test_escalation_from_hold_is_refused(team_a, agent, supervisor):
    case = open_case(team=team_a)
    services.case_hold(case_id=case.pk, actor=agent, reason="hardship")
    with pytest.raises(InvalidTransition):
        legal_services.legal_refer(case_id=case.pk, actor=supervisor, reason="x")


def test_a_written_off_account_is_not_reopened_by_the_sweep(team_a, supervisor):
    case = open_case(team=team_a)
    write_off_approved(case, by=supervisor)
    assert services.cases_open_for_delinquent_accounts() == 0


def test_same_payment_reference_with_another_date_is_refused(team_a):
    case = open_case(team=team_a)
    first = pay(case, "P1", "100.00")
    with pytest.raises(ConcurrentUpdate):
        pay(case, "P1", "100.00", when=first.payment.paid_at - timedelta(days=1))


def test_a_payment_dated_in_the_future_is_refused(team_a):
    case = open_case(team=team_a)
    with pytest.raises(ValidationFailed):
        pay(case, "P1", "100.00", when=timezone.now() + timedelta(days=2))
