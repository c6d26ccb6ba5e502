"""The demo portfolio: realistic, covering every bucket and state, built through the services, and
deterministic. The clock starts at a fixed moment and runs (the seed dates each step's writes by the
wall-clock interval it ran in); the seed dates everything from "today". The history is shortened to a
few weeks here (tests/demo/test_demo_coherent.py lives the full ninety days)."""

import re
from datetime import date, timedelta
from io import StringIO
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.core.management import CommandError, call_command
from django.db import transaction
from django.utils import timezone

from collections_app.models import (
    OPEN_STATES,
    Bucket,
    Cardholder,
    Case,
    CaseEvent,
    CaseState,
    ContactAttempt,
    ContactPoint,
    CreditAccount,
    EventKind,
    Payment,
    PromiseToPay,
    Queue,
)
from collections_app.pii import cardholders_matching_pii
from demo.seed import seed_portfolio

pytestmark = [pytest.mark.django_db, pytest.mark.postgres]

NOW = "2026-06-01 10:00 +0800"
TODAY = date(2026, 6, 1)
CHINESE_NAME = re.compile(r"^[\u4e00-\u9fff]{2,4}$")
ENGLISH_NAME = re.compile(r"^[A-Z][a-z]+ [A-Z][A-Za-z']+$")


@pytest.fixture(scope="class")
def portfolio(django_db_setup, django_db_blocker):
    """One seeded portfolio for the read-only checks of a class, rolled back after the class (seeding
    60 cardholders through the services takes seconds; each test runs in a savepoint inside)."""
    with django_db_blocker.unblock(), transaction.atomic():
        with time_machine.travel(NOW, tick=True):
            summary = seed_portfolio(cardholders=60, seed=11, today=TODAY, history_days=30)
        yield summary
        transaction.set_rollback(True)


def snapshot() -> dict:
    """Everything a person would see, keyed by business references (database IDs differ between runs)."""
    return {
        "cardholders": list(
            Cardholder.objects.order_by("external_ref").values_list(
                "external_ref",
                "name",
                "national_id",
                "time_zone",
                "jurisdiction",
                "do_not_contact",
                "vulnerable",
            )
        ),
        "points": sorted(ContactPoint.objects.values_list("cardholder__external_ref", "value", "party_role")),
        "accounts": list(
            CreditAccount.objects.order_by("external_ref").values_list(
                "external_ref", "product", "currency", "principal", "interest", "overdue_amount", "bucket"
            )
        ),
        "cases": list(
            Case.objects.order_by("account__external_ref").values_list(
                "account__external_ref", "state", "resolution_reason", "queue__name"
            )
        ),
        "contacts": sorted(
            ContactAttempt.objects.values_list(
                "case__account__external_ref", "started_at", "channel", "outcome", "agent__username", "notes"
            )
        ),
        "promises": sorted(
            PromiseToPay.objects.values_list("case__account__external_ref", "amount", "due_date")
        ),
        "payments": sorted(Payment.objects.values_list("external_ref", "amount", "paid_at")),
        "events": sorted(
            CaseEvent.objects.values_list("case__account__external_ref", "kind", "from_state", "to_state")
        ),
    }


class TestTheDemoPortfolio:
    def test_a_small_portfolio_holds_every_bucket_and_many_states(self, portfolio):
        assert portfolio.cardholders == 60
        assert set(CreditAccount.objects.values_list("bucket", flat=True)) == set(Bucket.values)
        states = set(Case.objects.values_list("state", flat=True))
        assert {
            CaseState.NEW,
            CaseState.IN_PROGRESS,
            CaseState.PROMISED,
            CaseState.ON_HOLD,
            CaseState.LEGAL_REVIEW,
            CaseState.RESOLVED,
        } <= states
        assert portfolio.states == {s: Case.objects.filter(state=s).count() for s in states}

    def test_every_delinquent_account_has_one_case_and_cured_ones_are_resolved(self, portfolio):
        assert Case.objects.count() == portfolio.cases_opened
        delinquent = CreditAccount.objects.filter(overdue_amount__gt=0)
        assert set(delinquent.values_list("pk", flat=True)) <= set(
            Case.objects.values_list("account_id", flat=True)
        )
        cured = Case.objects.filter(account__overdue_amount=0)
        assert cured.exists()
        assert set(cured.values_list("state", "resolution_reason")) <= {
            (CaseState.RESOLVED, "cured"),
            (CaseState.RESOLVED, "paid_in_full"),
            (CaseState.RESOLVED, "plan_completed"),
        }

    def test_cases_were_opened_the_night_after_the_missed_due_date_and_are_scored(self, portfolio):
        open_cases = Case.objects.filter(state__in=OPEN_STATES).select_related("account")
        for case in open_cases:
            opened_on = timezone.localdate(case.opened_at)
            assert opened_on == case.account.first_missed_due_date + timedelta(days=1), case.reference
            assert case.priority >= min(case.account.days_past_due, 180)
            assert case.events.get(kind=EventKind.OPENED).created_at == case.opened_at

    def test_people_are_chinese_and_american_with_matching_numbers_and_zones(self, portfolio):
        chinese = Cardholder.objects.filter(jurisdiction="CN")
        american = Cardholder.objects.filter(jurisdiction__startswith="US")
        assert chinese.count() > american.count() > 0
        for holder in chinese:
            assert CHINESE_NAME.match(holder.name), holder.name
            assert (holder.language, holder.time_zone) == ("zh-hans", "Asia/Shanghai")
            assert re.fullmatch(r"99\d{15}[\dX]", holder.national_id)
        for holder in american:
            assert ENGLISH_NAME.match(holder.name), holder.name
            assert holder.language == "en"
            assert holder.time_zone in ("", "America/New_York", "America/Chicago", "America/Los_Angeles")
        mobiles = ContactPoint.objects.filter(is_primary=True, kind="phone")
        assert all(
            re.fullmatch(r"\+861[3-9]\d{9}", v)
            for v in mobiles.filter(cardholder__jurisdiction="CN").values_list("value", flat=True)
        )
        assert all(
            re.fullmatch(r"\+1\d{3}55501\d\d", v)
            for v in mobiles.exclude(cardholder__jurisdiction="CN").values_list("value", flat=True)
        )

    def test_people_and_numbers_are_findable_by_their_search_hash(self, portfolio):
        """The admin finds a person by national ID or number through a keyed hash (a POST, never the value
        in a URL): the seed's bulk inserts keep those hashes as save() would."""
        holder = Cardholder.objects.order_by("pk").first()
        point = ContactPoint.objects.order_by("pk").first()
        assert list(cardholders_matching_pii(holder.national_id)) == [holder]
        assert point.cardholder in cardholders_matching_pii(point.value)
        assert not Cardholder.objects.filter(national_id_hash="").exists()
        assert not ContactPoint.objects.filter(value_hash="").exists()

    def test_balances_are_their_components_and_overdue_never_exceeds_them(self, portfolio):
        for account in CreditAccount.objects.all():
            assert account.balance == account.principal + account.interest + account.fees + account.penalties
            assert 0 <= account.overdue_amount <= account.balance
            assert (account.currency == "USD") or account.cardholder.jurisdiction == "CN"

    def test_case_histories_are_written_by_the_services(self, portfolio):
        worked = Case.objects.exclude(state=CaseState.NEW)
        assert worked.count() > Case.objects.count() / 2
        for case in Case.objects.all():
            kinds = list(case.events.order_by("created_at", "id").values_list("kind", flat=True))
            assert kinds[0] == EventKind.OPENED
        for case in worked:
            # Every state change has its event: the last transition event lands on the current state.
            last = case.events.exclude(to_state="").order_by("-created_at", "-id").first()
            assert last.to_state == case.state, case.reference
        attempts = ContactAttempt.objects.all()
        assert attempts.count() == portfolio.contacts > 0
        contact_events = set(
            CaseEvent.objects.filter(kind=EventKind.CONTACT).values_list(
                "details__contact_attempt", flat=True
            )
        )
        assert contact_events == set(attempts.values_list("pk", flat=True))
        assert Payment.objects.count() == portfolio.payments > 0
        assert PromiseToPay.objects.count() == portfolio.promises > 0

    def test_contacts_are_in_the_past_in_working_hours_by_collections_staff(self, portfolio):
        with time_machine.travel(NOW, tick=False):
            now = timezone.now()
        for attempt in ContactAttempt.objects.select_related("cardholder", "agent", "case__queue"):
            assert attempt.started_at < now
            if attempt.cardholder.time_zone:
                local = attempt.started_at.astimezone(ZoneInfo(attempt.cardholder.time_zone))
                assert 9 <= local.hour < 20, (attempt.pk, local)
            if attempt.agent is not None:
                # An agent of a team whose queue held the case then (cases change queues as they roll),
                # or the team's supervisor making a call over a refusal.
                assert attempt.agent.team_id is not None
                assert attempt.agent.role in ("agent", "supervisor")
                assert (attempt.agent.role == "supervisor") == bool(attempt.policy_override_reason)

    def test_the_demo_queues_hold_the_open_cases_and_the_team_agents(self, portfolio):
        early = Queue.objects.get(name="East: early (M1-M2)")
        assert early.team.name == "East team"
        assert set(early.agents.values_list("username", flat=True)) == {"agent1", "agent2", "agent3"}
        open_cases = early.cases.filter(state__in=OPEN_STATES)
        assert open_cases.exists()
        assert set(open_cases.values_list("account__bucket", flat=True)) <= {"M1", "M2"}
        assert set(open_cases.values_list("account__cardholder__jurisdiction", flat=True)) == {"CN"}
        assert Queue.objects.get(name="West: late (M3+)").cases.filter(account__bucket="M6+").exists()
        assert not Case.objects.filter(state__in=OPEN_STATES, queue__isnull=True).exists()


def test_the_same_seed_gives_the_same_portfolio():
    with time_machine.travel(NOW, tick=True):
        with transaction.atomic():
            seed_portfolio(cardholders=20, seed=5, today=TODAY, history_days=20)
            first = snapshot()
            transaction.set_rollback(True)
        seed_portfolio(cardholders=20, seed=5, today=TODAY, history_days=20)
        assert snapshot() == first
        assert first["contacts"] and first["payments"]


@time_machine.travel(NOW, tick=True)
def test_seed_demo_creates_users_and_portfolio_and_prints_a_summary_and_the_logins():
    out = StringIO()
    call_command("seed_demo", "--cardholders=15", "--days=5", stdout=out)
    text = out.getvalue()
    assert "Seeded 15 cardholders" in text
    assert "agent1" in text and "demo-pass-2026" in text
    assert Cardholder.objects.count() == 15


@time_machine.travel(NOW, tick=True)
def test_seed_demo_refuses_a_database_that_already_has_accounts():
    call_command("seed_demo", "--cardholders=5", "--days=3", stdout=StringIO())
    with pytest.raises(CommandError, match="already holds accounts.*--force"):
        call_command("seed_demo", "--cardholders=5", "--days=3", stdout=StringIO())
    assert Cardholder.objects.count() == 5
    call_command("seed_demo", "--cardholders=5", "--days=3", "--if-empty", stdout=StringIO())
    assert Cardholder.objects.count() == 5


@time_machine.travel(NOW, tick=True)
def test_seed_demo_with_force_adds_more_demo_cardholders_after_the_existing_ones():
    call_command("seed_demo", "--cardholders=5", "--days=3", stdout=StringIO())
    call_command("seed_demo", "--cardholders=5", "--days=3", "--force", stdout=StringIO())
    refs = list(Cardholder.objects.order_by("external_ref").values_list("external_ref", flat=True))
    assert refs == [f"DEMO-{n:07d}" for n in range(1, 11)]
