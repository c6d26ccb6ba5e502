"""Contactability is stored on the case (Case.contactable_from / contactable_until / contact_block_rule),
computed by the engine when an input changes, rolled on schedule when a window closes, and read by one
predicate (claims.ready_now) for My work, the queue lists and Next case."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.contrib import admin
from django.db import connection
from django.forms.models import model_to_dict
from django.test import RequestFactory
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from collections_app import selectors, services
from collections_app.models import Cardholder, Case, Channel
from collections_app.services import contactability, kernel, queues
from contact_policy.engine import Rule
from tests.factories import ContactPointFactory, UserFactory, open_case

BLOCKED = contactability.CONTACT_BLOCKED_UNTIL_CHANGED
# 10:30 in Beijing (window 08:00-22:00), 22:30 the evening before in New York (window 08:00-21:00).
BEIJING_MORNING = "2026-06-02 02:30 +0000"
# 21:00 in Beijing, 09:00 in New York: both windows open.
BOTH_OPEN = "2026-06-01 13:00 +0000"


def call(case, actor, point, *, outcome="no_answer", reason="", recording=""):
    data = services.ContactInput(
        channel="outbound_call",
        outcome=outcome,
        contact_point_id=point.pk,
        delinquency_reason=reason,
        recording_ref=recording,
    )
    return services.contact_attempt_log(case_id=case.pk, actor=actor, data=data)


def engine_says(case, now):
    """The engine's own answer for a call to the primary number now (what Next case used to ask)."""
    point = case.account.cardholder.contact_points.filter(kind="phone", active=True).order_by(
        "-is_primary", "pk"
    )
    return contactability.decide(
        case=case, channel=Channel.OUTBOUND_CALL, now=now, contact_point=point.first()
    )


def fresh(case) -> Case:
    return Case.objects.select_related("account__cardholder").get(pk=case.pk)


def is_ready(case, now) -> bool:
    return Case.objects.filter(services.ready_now(now), pk=case.pk).exists()


def us_case(team, *, zone="America/New_York", **fields):
    fields = {"cardholder__jurisdiction": "US", "cardholder__time_zone": zone, "currency": "USD", **fields}
    return open_case(team=team, **fields)


# --- Stored after each trigger ------------------------------------------------------------------------


def test_a_new_case_is_stored_as_callable_until_the_window_closes(team_a):
    with time_machine.travel(BEIJING_MORNING, tick=False):
        case = fresh(open_case(team=team_a))
        now = timezone.now()
        assert (case.contactable_from, case.contact_block_rule) == (now, "")
        # 22:00 in Beijing is 14:00 UTC.
        assert case.contactable_until == datetime(2026, 6, 2, 14, 0, tzinfo=UTC)
        assert case.contact_zones == "Asia/Shanghai"
        assert is_ready(case, now)


def test_the_sixth_call_of_the_day_defers_the_case_to_the_engines_allowed_from(team_a, agent):
    with time_machine.travel(BEIJING_MORNING, tick=False):
        case = open_case(team=team_a)
        point = ContactPointFactory(cardholder=case.account.cardholder)
        for _ in range(5):
            call(case, agent, point)
        assert fresh(case).contact_block_rule == ""
        call(case, agent, point)
        now = timezone.now()
        decision = engine_says(fresh(case), now)
        case = fresh(case)
    assert decision.rule == Rule.CALLS_PER_NUMBER_PER_DAY
    assert case.contact_block_rule == Rule.CALLS_PER_NUMBER_PER_DAY
    assert case.contactable_from == decision.allowed_from == datetime(2026, 6, 3, 0, 0, tzinfo=UTC)
    assert not is_ready(case, now)


def test_a_call_about_another_account_counts_against_the_persons_number(team_a, agent):
    with time_machine.travel(BEIJING_MORNING, tick=False):
        first = open_case(team=team_a)
        holder = first.account.cardholder
        second = open_case(team=team_a, cardholder=holder)
        point = ContactPointFactory(cardholder=holder)
        for _ in range(6):
            call(first, agent, point)
        assert fresh(second).contact_block_rule == Rule.CALLS_PER_NUMBER_PER_DAY
        assert not is_ready(second, timezone.now())


def test_the_seventh_call_in_seven_days_and_a_conversation_defer_a_us_case(team_a, agent):
    with time_machine.travel("2026-06-01 14:00 +0000", tick=False):  # 10:00 in New York
        capped = us_case(team_a)
        point = ContactPointFactory(cardholder=capped.account.cardholder, value="+12125550100")
        for _ in range(7):
            call(capped, agent, point)
        talked = us_case(team_a)
        other = ContactPointFactory(cardholder=talked.account.cardholder, value="+12125550101")
        call(talked, agent, other, outcome="rpc", reason="job_loss", recording="rec-1")
        now = timezone.now()
        for case, rule in ((capped, Rule.CALLS_PER_DEBT_PER_7_DAYS), (talked, Rule.QUIET_AFTER_CONVERSATION)):
            decision = engine_says(fresh(case), now)
            stored = fresh(case)
            assert stored.contact_block_rule == decision.rule == rule
            assert stored.contactable_from == decision.allowed_from
            assert stored.contactable_from > now + timedelta(days=5)
            assert not is_ready(stored, now)


def _recompute_cases_with_history(n: int, team, agent) -> int:
    """n US people called seven times this week, n who talked to us, n Chinese numbers called six times
    today, n plain cases: their stored answers wiped, then recomputed at once. Returns the queries."""
    with time_machine.travel("2026-06-01 14:00 +0000", tick=False):  # 10:00 in New York, 22:00 in Beijing
        cases = []
        for i in range(n):
            capped = us_case(team)
            point = ContactPointFactory(cardholder=capped.account.cardholder, value=f"+1212555{n:02d}{i:02d}")
            for _ in range(7):
                call(capped, agent, point)
            talked = us_case(team)
            other = ContactPointFactory(cardholder=talked.account.cardholder, value=f"+1212556{n:02d}{i:02d}")
            call(talked, agent, other, outcome="rpc", reason="job_loss", recording="rec-1")
            cases += [capped, talked, us_case(team)]
    with time_machine.travel("2026-06-02 03:00 +0000", tick=False):  # 11:00 in Beijing
        for i in range(n):
            dialled = open_case(team=team)
            point = ContactPointFactory(
                cardholder=dialled.account.cardholder, value=f"+86138557{n:02d}{i:02d}"
            )
            for _ in range(6):
                call(dialled, agent, point)
            cases.append(dialled)
        ids = [case.pk for case in cases]
        Case.objects.filter(pk__in=ids).update(
            contactable_from=None, contactable_until=None, contact_block_rule=""
        )
        now = timezone.now()
        with CaptureQueriesContext(connection) as queries:
            assert contactability.contactability_recompute(Case.objects.filter(pk__in=ids), now=now) == 4 * n
        rules = set()
        for case in cases:
            stored, decision = fresh(case), engine_says(fresh(case), now)
            assert stored.contact_block_rule == ("" if decision.allowed else decision.rule)
            if not decision.allowed:
                assert stored.contactable_from == decision.allowed_from
            rules.add(stored.contact_block_rule)
        assert {
            Rule.CALLS_PER_DEBT_PER_7_DAYS,
            Rule.QUIET_AFTER_CONVERSATION,
            Rule.CALLS_PER_NUMBER_PER_DAY,
        } <= rules
    kernel.bulk_transition(
        Case.objects.filter(pk__in=ids), "resolve", reason="test", values={"resolution_reason": "cured"}
    )
    return len(queries)


def test_cases_with_contact_history_are_recomputed_as_the_engine_decides_in_a_fixed_number_of_queries(
    team_a, agent
):
    assert _recompute_cases_with_history(1, team_a, agent) == _recompute_cases_with_history(3, team_a, agent)


def _admin_save(holder, **changes):
    """What an admin's save of the cardholder page runs (ModelAdmin.save_model, then save_related)."""
    model_admin = admin.site._registry[Cardholder]
    request = RequestFactory().post("/")
    request.user = UserFactory(username="admin_h1", role="admin", is_staff=True, is_superuser=True)
    form_class = model_admin.get_form(request, holder, change=True)
    form = form_class({**model_to_dict(holder), **changes}, instance=holder)
    assert form.is_valid(), form.errors
    model_admin.save_model(request, form.save(commit=False), form, True)
    model_admin.save_related(request, form, [], True)


def test_a_flag_set_in_the_admin_blocks_the_case_and_clearing_it_frees_it(team_a):
    with time_machine.travel(BEIJING_MORNING, tick=False):
        case = open_case(team=team_a)
        holder = case.account.cardholder
        now = timezone.now()
        _admin_save(holder, cease_communication=True)
        blocked = fresh(case)
        assert (blocked.contactable_from, blocked.contact_block_rule) == (BLOCKED, Rule.CEASE_COMMUNICATION)
        assert not is_ready(blocked, now)
        _admin_save(Cardholder.objects.get(pk=holder.pk), cease_communication=False)
        assert fresh(case).contact_block_rule == ""
        assert is_ready(case, now)


def test_a_hold_blocks_the_case_until_it_is_released(team_a, agent):
    with time_machine.travel(BEIJING_MORNING, tick=False):
        case = open_case(team=team_a)
        now = timezone.now()
        services.case_hold(case_id=case.pk, actor=agent, reason="dispute")
        held = fresh(case)
        assert held.contactable_from == BLOCKED
        assert held.contact_block_rule in (Rule.OPEN_DISPUTE, Rule.ON_HOLD)
        services.case_release_hold(case_id=case.pk, actor=agent)
        released = fresh(case)
        assert (released.contact_block_rule, released.contactable_from) == ("", now)
        assert is_ready(released, now)


def test_cases_opened_in_bulk_are_computed_by_group(team_a):
    from tests.factories import AccountFactory

    with time_machine.travel(BEIJING_MORNING, tick=False):
        plain = [AccountFactory(days_past_due=30) for _ in range(3)]
        flagged = AccountFactory(days_past_due=30, cardholder__do_not_contact=True)
        assert services.cases_open_for_delinquent_accounts() == 4
        rows = dict(
            Case.objects.filter(account__in=[*plain, flagged]).values_list("account_id", "contact_block_rule")
        )
        assert rows == {**{a.pk: "" for a in plain}, flagged.pk: Rule.DO_NOT_CONTACT}
        assert Case.objects.filter(account=flagged).get().contactable_from == BLOCKED


# --- The roll -------------------------------------------------------------------------------------------


def _roll_queries(n: int, team) -> int:
    with time_machine.travel("2026-06-02 13:30 +0000", tick=False):  # 21:30 in Beijing, 09:30 in New York
        for _ in range(n):
            open_case(team=team)
            us_case(team)
    with time_machine.travel("2026-06-02 14:30 +0000", tick=False):  # 22:30 Beijing: the CN window closed
        now = timezone.now()
        assert Case.objects.filter(services.ready_now(now), contact_zones="Asia/Shanghai").count() == 0
        with CaptureQueriesContext(connection) as queries:
            result = contactability.contactability_roll(now=now)
        assert result == {"rolled": n, "initialised": 0}
        rolled = Case.objects.filter(contact_zones="Asia/Shanghai")
        assert set(rolled.values_list("contactable_from", "contactable_until", "contact_block_rule")) == {
            (
                datetime(2026, 6, 3, 0, 0, tzinfo=UTC),
                datetime(2026, 6, 3, 14, 0, tzinfo=UTC),
                "contact_window",
            )
        }
        # The New York cases' window is still open: they were not touched.
        assert Case.objects.filter(services.ready_now(now), contact_zones="America/New_York").count() == n
    # Closed cases are not rolled: the next measure starts from nothing open.
    kernel.bulk_transition(
        Case.objects.all(), "resolve", reason="test", values={"resolution_reason": "cured"}
    )
    return len(queries)


def test_the_roll_moves_closed_windows_to_the_next_opening_in_a_fixed_number_of_queries(team_a):
    assert _roll_queries(2, team_a) == _roll_queries(12, team_a)


def test_the_roll_computes_cases_not_computed_yet(team_a):
    with time_machine.travel(BEIJING_MORNING, tick=False):
        case = open_case(team=team_a)
        Case.objects.filter(pk=case.pk).update(contactable_from=None, contactable_until=None)
        now = timezone.now()
        assert not is_ready(case, now)
        assert services.not_ready_summary([case.queue_id], now=now)[0] == {"not_computed": 1}
        assert contactability.contactability_roll(now=now) == {"rolled": 0, "initialised": 1}
        assert is_ready(case, now)


# --- Next case: one statement -----------------------------------------------------------------------


def test_next_case_is_one_locking_statement_however_many_cases_are_held_back(team_a, agent):
    with time_machine.travel(BEIJING_MORNING, tick=False):
        for _ in range(30):
            open_case(team=team_a, days_past_due=90, cardholder__do_not_contact=True)
        ok = open_case(team=team_a, days_past_due=5)
        queues.refresh_priorities()
        with CaptureQueriesContext(connection) as queries:
            assert services.case_claim_next(actor=agent).case == ok
    locking = [q["sql"] for q in queries if "FOR UPDATE" in q["sql"]]
    assert len(locking) == 1
    assert "SKIP LOCKED" in locking[0] and "JOIN" not in locking[0] and "LIMIT 1" in locking[0]


def test_the_refusal_says_why_and_from_when(team_a, agent, client):
    with time_machine.travel("2026-06-02 14:30 +0000", tick=False):  # 22:30 in Beijing
        open_case(team=team_a)
        result = services.case_claim_next(actor=agent)
        assert result.case is None
        assert result.passed_over == {"contact_window": 1}
        assert result.next_ready_at == datetime(2026, 6, 3, 0, 0, tzinfo=UTC)
        work = selectors.my_work(agent)
        assert [line.ready_now for line in work.queues] == [0] and work.nothing_ready
        held = selectors.held_back(agent)
        assert held.next_ready_at == result.next_ready_at
        assert held.passed_over == result.passed_over


# --- Done when: My work, Next case and the case page agree all day long -----------------------------------


def _portfolio(team_a, team_b, agent):
    """CN and US cardholders in several zones, some flagged, some recently called, in two teams' queues."""
    with time_machine.travel(BOTH_OPEN, tick=False):
        for team in (team_a, team_b):
            open_case(team=team, days_past_due=40)
            open_case(team=team, days_past_due=20, cardholder__time_zone="")  # CN, zone from the profile
            open_case(team=team, days_past_due=60, cardholder__deceased=True)
            us_case(team, zone="America/Los_Angeles", days_past_due=50)
            no_zone = us_case(team, zone="", days_past_due=45)
            ContactPointFactory(cardholder=no_zone.account.cardholder, value="+13105550123")  # Los Angeles
        # Team B works China and the West Coast only: nothing is callable from 22:00 in Beijing to 08:00
        # in Los Angeles (14:00-15:00 UTC). Team A has the East Coast too.
        us_case(team_a, days_past_due=30)
        us_case(team_a, zone="", days_past_due=35, cardholder__jurisdiction="US-MA")
        us_case(team_a, days_past_due=70, cardholder__attorney_represented=True)
        # Recently called: a Beijing number used up today, a New York conversation.
        called = open_case(team=team_a, days_past_due=80)
        point = ContactPointFactory(cardholder=called.account.cardholder)
        for _ in range(6):
            call(called, agent, point)
        talked = us_case(team_a, days_past_due=90)
        other = ContactPointFactory(cardholder=talked.account.cardholder, value="+12125550199")
        call(talked, agent, other, outcome="rpc", reason="job_loss", recording="rec-9")
        contactability.contactability_refresh(case_ids=Case.objects.values_list("pk", flat=True))
        queues.refresh_priorities()


def _instants() -> list[datetime]:
    start = datetime(2026, 6, 1, 13, 5, tzinfo=UTC)
    steps = {start + timedelta(minutes=180 * i) for i in range(9)}  # a day, every three hours
    # The last minute before and the first minute of each change: 08:00 / 22:00 Beijing, 08:00 / 21:00
    # New York and Los Angeles (summer time). The opposite-direction test below covers every hour.
    for hour in (0, 14, 12, 1, 15, 4):
        edge = datetime(2026, 6, 1 if hour >= 13 else 2, hour, 0, tzinfo=UTC)
        steps |= {edge - timedelta(minutes=1), edge}
    return sorted(t for t in steps if start <= t <= start + timedelta(hours=25))


def _why_not_handed(instant, person, shown, handed, claimers) -> tuple:
    """The failure's evidence: the cases still ready, and every lease the claimers hold (one press that
    leased two cases shows here as two leases of one claimer)."""
    now = timezone.now()
    still_ready = Case.objects.filter(services.ready_now(now, queue_ids=services.agent_queue_ids(person)))
    leases = Case.objects.filter(lease_owner__in=claimers).values_list("lease_owner__username", "pk")
    return instant, person.username, shown, handed, list(still_ready.values()), list(leases)


def test_whenever_my_work_shows_a_ready_case_next_case_hands_it_out_and_the_page_allows_the_call(
    team_a, team_b, agent, other_agent
):
    _portfolio(team_a, team_b, agent)
    agents = [agent, UserFactory(username="agent_a2", role="agent", team=team_a), other_agent]
    seen_ready = seen_none = 0
    for instant in _instants():
        with time_machine.travel(instant, tick=False):
            contactability.contactability_roll()  # as beat runs it
            now = timezone.now()
            for person in agents:
                shown = sum(line.ready_now for line in selectors.my_work(person, now=now).queues)
                # Colleagues of the same team press Next after the person, each keeping what they got:
                # exactly `shown` cases are handed out, then nothing.
                claimers = [person] + [
                    UserFactory(username=f"{person.username}-{i}", role="agent", team=person.team)
                    for i in range(shown)
                ]
                handed = []
                for claimer in claimers:
                    case = services.case_claim_next(actor=claimer, now=now).case
                    if case is None:
                        break
                    page = selectors.case_page(fresh(case))
                    panel = contactability.compliance_status(
                        case=fresh(case), contact_points=page.contact_points, now=now
                    )
                    assert panel.call_decision.allowed, (instant, case.reference, panel.call_decision.rule)
                    handed.append((claimer, case.pk))
                assert len(handed) == shown, _why_not_handed(instant, person, shown, handed, claimers)
                for claimer, pk in handed:
                    services.case_release(case_id=pk, actor=claimer)
                seen_ready += bool(shown)
                seen_none += not shown
    # The day had both: hours with work to hand out and hours with none.
    assert seen_ready and seen_none


@pytest.mark.parametrize("step_minutes", [60])
def test_a_case_the_page_allows_is_ready_in_my_work(team_a, team_b, agent, step_minutes):
    """The other direction: every case of the queues whose page allows a call now is counted ready."""
    _portfolio(team_a, team_b, agent)
    start = datetime(2026, 6, 1, 13, 30, tzinfo=UTC)
    for i in range(24 * 60 // step_minutes):
        with time_machine.travel(start + timedelta(minutes=step_minutes * i), tick=False):
            contactability.contactability_roll()
            now = timezone.now()
            for case in Case.objects.filter(queue__isnull=False).select_related("account__cardholder"):
                page = selectors.case_page(case)
                panel = contactability.compliance_status(
                    case=case, contact_points=page.contact_points, now=now
                )
                assert panel.call_decision.allowed == is_ready(case, now), (now, case.reference)
