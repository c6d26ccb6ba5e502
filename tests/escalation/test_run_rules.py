"""Running escalation rules: what a rule matches, what it does, in which order, and never twice.

Personas (tests/conftest.py): `agent` works team A's cases (puts them on hold here); `supervisor` is team
A's supervisor (receives the rule's notification in their inbox)."""

from datetime import datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from collections_app import services
from collections_app.models import Case, CaseEvent, CaseState, EventKind
from escalation import services as escalation
from escalation.models import EscalationFiring
from legal import services as legal
from legal import services as legal_services
from legal.models import LegalReferral
from tests.escalation.conftest import AS_OF, DPD_OVER_90, make_rule
from tests.factories import QueueFactory, open_case, write_off_approved

pytestmark = [pytest.mark.django_db, pytest.mark.postgres]

BEIJING = ZoneInfo("Asia/Shanghai")
LEGAL_OVER_90 = {"move_to_legal_review": True}


@pytest.fixture
def case_at(as_of, team_a):
    def build(dpd: int, **account_fields) -> Case:
        account_fields.setdefault("first_missed_due_date", as_of - timedelta(days=dpd))
        return open_case(team=team_a, days_past_due=dpd, **account_fields)

    return build


def matched(rule) -> set[int]:
    return set(Case.objects.filter(escalation.rule_q(rule, as_of=AS_OF)).values_list("pk", flat=True))


def fired_on(rule, *, dry_run=False) -> set[int]:
    return set(
        EscalationFiring.objects.filter(rule=rule, outcome="fired", dry_run=dry_run).values_list(
            "case_id", flat=True
        )
    )


# --- What a rule matches -------------------------------------------------------------------------------


def test_conditions_over_the_account_and_the_case(case_at):
    young = case_at(20, overdue_amount=Decimal("800.00"), bucket="M1")
    old = case_at(120, overdue_amount=Decimal("60000.00"), principal=Decimal("90000.00"), bucket="M4")
    middle = case_at(75, product="consumer_credit", bucket="M3")
    Case.objects.filter(pk=middle.pk).update(broken_promise_count=2)

    def rule(*conditions, mode="all"):
        return make_rule(list(conditions), save=False, match_mode=mode, raise_priority=5)

    assert matched(rule({"field": "dpd", "operator": "between", "value": [20, 75]})) == {young.pk, middle.pk}
    assert matched(rule({"field": "bucket", "operator": "in", "value": ["M3", "M4"]})) == {old.pk, middle.pk}
    assert matched(rule({"field": "overdue_amount", "operator": "gte", "value": "60000.00"})) == {old.pk}
    assert matched(rule({"field": "balance", "operator": "lt", "value": 10000})) == {young.pk, middle.pk}
    assert matched(rule({"field": "broken_promises", "operator": "gte", "value": 2})) == {middle.pk}
    assert matched(rule({"field": "product", "operator": "ne", "value": "credit_card"})) == {middle.pk}
    assert matched(rule({"field": "jurisdiction", "operator": "eq", "value": "CN"})) == {
        young.pk,
        old.pk,
        middle.pk,
    }
    assert matched(rule({"field": "state", "operator": "not_in", "value": ["new"]})) == set()
    assert matched(
        rule(
            {"field": "dpd", "operator": "lt", "value": 30},
            {"field": "dpd", "operator": "gt", "value": 100},
            mode="any",
        )
    ) == {young.pk, old.pk}


def test_cases_with_legal_or_closed_are_never_matched(case_at, supervisor):
    with_legal = case_at(120)
    legal_services.legal_refer(case_id=with_legal.pk, actor=supervisor, reason="by hand")
    closed = case_at(120)
    write_off_approved(closed, by=supervisor)
    assert matched(make_rule(DPD_OVER_90, save=False, **LEGAL_OVER_90)) == set()


def test_days_since_the_last_right_party_contact_at_the_day_boundaries(case_at):
    def reached(at):
        case = case_at(40)
        Case.objects.filter(pk=case.pk).update(last_right_party_contact_at=at)
        return case.pk

    # as_of is 2 June 2026 (Beijing): 1 May 23:59 is 32 days ago, 2 May 00:00 and 23:59 are 31 days ago.
    days_32 = reached(datetime(2026, 5, 1, 23, 59, tzinfo=BEIJING))
    days_31 = reached(datetime(2026, 5, 2, 0, 0, tzinfo=BEIJING))
    days_31_late = reached(datetime(2026, 5, 2, 23, 59, tzinfo=BEIJING))
    never = reached(None)

    def rule(operator, value):
        return make_rule(
            [{"field": "days_since_last_rpc", "operator": operator, "value": value}],
            save=False,
            raise_priority=1,
        )

    assert matched(rule("gte", 32)) == {days_32, never}
    assert matched(rule("gt", 31)) == {days_32, never}
    assert matched(rule("gte", 31)) == {days_32, days_31, days_31_late, never}
    assert matched(rule("eq", 31)) == {days_31, days_31_late}
    assert matched(rule("ne", 31)) == {days_32, never}
    assert matched(rule("lte", 31)) == {days_31, days_31_late}
    assert matched(rule("lt", 32)) == {days_31, days_31_late}
    assert matched(rule("between", [31, 32])) == {days_32, days_31, days_31_late}


# --- Preview and run agree -------------------------------------------------------------------------------


def test_the_preview_counts_what_the_run_then_does(case_at, agent):
    earlier = make_rule(
        [{"field": "product", "operator": "eq", "value": "consumer_credit"}],
        name="earlier",
        order=10,
        raise_priority=5,
    )
    claimed = case_at(160, product="consumer_credit")  # the earlier rule takes it
    firing = [case_at(dpd) for dpd in (95, 100, 130)]
    disputed = case_at(110)
    services.case_hold(case_id=disputed.pk, actor=agent, reason="dispute", note="Says the card was stolen")
    time_barred = case_at(1500, first_missed_due_date=AS_OF - timedelta(days=1500))
    case_at(30)  # does not match
    rule = make_rule(DPD_OVER_90, name="legal at 90", order=20, **LEGAL_OVER_90)

    preview = escalation.rule_preview(rule, as_of=AS_OF)
    assert preview.matching == 6
    assert preview.claimed_by_earlier == 1
    assert preview.would_fire == 3
    assert preview.refused == {"open_dispute": 1, "limitation_expired": 1}
    assert {c.pk for c in preview.sample} == {c.pk for c in firing}
    assert [r.name for r in preview.earlier_rules] == ["earlier"]

    result = escalation.run_rules(as_of=AS_OF)
    by_rule = {r["rule"]: r for r in result["rules"]}
    assert by_rule["legal at 90"]["fired"] == preview.would_fire
    assert by_rule["legal at 90"]["refused"] == preview.refused
    assert fired_on(rule) == {c.pk for c in firing}
    assert fired_on(earlier) == {claimed.pk}
    assert set(Case.objects.filter(state="legal_review").values_list("pk", flat=True)) == {
        c.pk for c in firing
    }
    assert Case.objects.get(pk=time_barred.pk).state == "new"

    # The moved cases are with legal now: what is left is the claimed and the two refused ones.
    again = escalation.rule_preview(rule, as_of=AS_OF)
    assert (again.matching, again.claimed_by_earlier, again.would_fire, again.refused_total) == (3, 1, 0, 2)
    assert escalation.run_rules(as_of=AS_OF)["fired"] == 0


def test_a_preview_of_an_unsaved_disabled_rule_counts_as_if_it_were_live(case_at):
    case_at(100)
    case_at(120)
    rule = make_rule(DPD_OVER_90, save=False, enabled=False, dry_run=True, raise_priority=10)
    preview = escalation.rule_preview(rule, as_of=AS_OF)
    assert (preview.matching, preview.would_fire) == (2, 2)
    assert EscalationFiring.objects.count() == 0


# --- Order, once only, dry run ------------------------------------------------------------------------


def test_the_first_rule_wins(case_at):
    queue = QueueFactory(name="Hard collections")
    to_legal = make_rule(DPD_OVER_90, name="legal", order=10, **LEGAL_OVER_90)
    to_queue = make_rule(
        [{"field": "dpd", "operator": "gt", "value": 60}], name="hard", order=20, target_queue=queue
    )
    old = case_at(120)
    middle = case_at(75)

    escalation.run_rules(as_of=AS_OF)

    old.refresh_from_db()
    middle.refresh_from_db()
    assert old.state == "legal_review" and old.queue.name != "Hard collections"
    assert middle.state == "new" and middle.queue == queue
    assert fired_on(to_legal) == {old.pk}
    assert fired_on(to_queue) == {middle.pk}


def test_a_rule_never_fires_twice_on_a_case_for_the_same_reason(case_at, legal):
    rule = make_rule(DPD_OVER_90, **LEGAL_OVER_90, notify_supervisor=True)
    case = case_at(120)
    first = escalation.run_rules(as_of=AS_OF)
    counts = (CaseEvent.objects.count(), LegalReferral.objects.count(), EscalationFiring.objects.count())

    second = escalation.run_rules(as_of=AS_OF)
    assert (first["fired"], second["fired"]) == (1, 0)
    assert (
        CaseEvent.objects.count(),
        LegalReferral.objects.count(),
        EscalationFiring.objects.count(),
    ) == counts

    # Legal sends it back: the same rule, the same reason, so it stays with collections ...
    legal_services.legal_decide(case_id=case.pk, actor=legal, decision="returned", note="Contact found")
    assert escalation.run_rules(as_of=AS_OF + timedelta(days=1))["fired"] == 0
    # ... until the rule says something new (a new version is a new reason).
    rule.conditions = [{"field": "dpd", "operator": "gt", "value": 100}]
    rule.save()
    assert escalation.run_rules(as_of=AS_OF + timedelta(days=1))["fired"] == 1
    assert Case.objects.get(pk=case.pk).state == "legal_review"


def test_a_dry_run_rule_records_what_it_would_do_and_changes_nothing(case_at):
    queue = QueueFactory(name="Hard collections")
    dry = make_rule(
        DPD_OVER_90,
        name="dry",
        order=10,
        dry_run=True,
        target_queue=queue,
        raise_priority=50,
        **LEGAL_OVER_90,
    )
    live = make_rule(DPD_OVER_90, name="live", order=20, raise_priority=7)
    case = case_at(120)
    before = Case.objects.values("state", "queue_id", "priority", "version").get(pk=case.pk)
    events = CaseEvent.objects.count()

    result = escalation.run_rules(as_of=AS_OF)
    escalation.run_rules(as_of=AS_OF)  # and again: recorded once

    assert result["rules"][0] | {"refused": {}} == {
        "rule": "dry",
        "rule_id": dry.pk,
        "version": 1,
        "dry_run": True,
        "fired": 0,
        "would_fire": 1,
        "refused": {},
    }
    assert fired_on(dry, dry_run=True) == {case.pk}
    assert fired_on(dry) == set()
    assert EscalationFiring.objects.filter(rule=dry).count() == 1
    # The dry-run rule claimed nothing: the live rule after it acted.
    assert fired_on(live) == {case.pk}
    after = Case.objects.values("state", "queue_id", "priority", "version").get(pk=case.pk)
    assert after["state"] == before["state"] and after["queue_id"] == before["queue_id"]
    assert after["priority"] == before["priority"] + 7
    assert CaseEvent.objects.count() == events + 1  # the live rule's event only


def test_a_dry_run_of_every_rule_changes_nothing(case_at):
    make_rule(DPD_OVER_90, **LEGAL_OVER_90)
    case = case_at(120)
    result = escalation.run_rules(as_of=AS_OF, dry_run=True)
    assert (result["fired"], result["would_fire"]) == (0, 1)
    assert Case.objects.get(pk=case.pk).state == "new"
    assert not LegalReferral.objects.exists()
    assert EscalationFiring.objects.get().dry_run is True


# --- Refusals -------------------------------------------------------------------------------------------


def test_legal_escalation_is_refused_while_a_dispute_is_open_and_done_once_it_is_released(case_at, agent):
    rule = make_rule(DPD_OVER_90, **LEGAL_OVER_90)
    case = case_at(120)
    services.case_hold(case_id=case.pk, actor=agent, reason="dispute", note="Disputes the fees")

    assert escalation.run_rules(as_of=AS_OF)["refused"] == 1
    escalation.run_rules(as_of=AS_OF)
    refusal = EscalationFiring.objects.get(rule=rule)  # recorded once
    assert (refusal.outcome, refusal.skip_reason, refusal.detail) == (
        "skipped",
        "open_dispute",
        "A dispute is open",
    )
    assert Case.objects.get(pk=case.pk).state == "on_hold"

    services.case_release_hold(case_id=case.pk, actor=agent, note="Fees explained")
    assert escalation.run_rules(as_of=AS_OF)["fired"] == 1
    assert Case.objects.get(pk=case.pk).state == "legal_review"


def test_legal_escalation_is_refused_past_the_limitation_date_until_a_payment_restarts_it(case_at):
    rule = make_rule(DPD_OVER_90, **LEGAL_OVER_90)
    # First missed 3 years and a day before as_of: the limitation date was the day before yesterday.
    first_missed = AS_OF - timedelta(days=3 * 365 + 2)
    case = case_at(1100, first_missed_due_date=first_missed, overdue_amount=Decimal("5000.00"))
    assert legal.limitation_for(case.account, as_of=AS_OF).expired

    escalation.run_rules(as_of=AS_OF)
    assert EscalationFiring.objects.get(rule=rule).skip_reason == "limitation_expired"

    # A part payment (an acknowledgement of the debt) starts the period again.
    services.payment_record(
        account=case.account,
        external_ref="PAY-LIM-1",
        amount=Decimal("100.00"),
        paid_at=datetime(2026, 6, 1, 10, 0, tzinfo=BEIJING),
    )
    assert escalation.run_rules(as_of=AS_OF)["fired"] == 1
    referral = LegalReferral.objects.get(case=case)
    assert referral.limitation_date == legal.add_years(AS_OF - timedelta(days=1), 3)
    assert referral.rule == rule


def test_a_case_put_on_hold_after_the_rule_read_it_is_not_escalated(case_at, agent):
    rule = make_rule(DPD_OVER_90, **LEGAL_OVER_90)
    case = case_at(120)
    evaluation = escalation.rule_evaluation(rule, as_of=AS_OF, earlier=[])
    services.case_hold(case_id=case.pk, actor=agent, reason="dispute")
    assert escalation._fire_chunk(rule, evaluation, [case.pk], as_of=AS_OF, now=None) == 0
    assert not EscalationFiring.objects.exists()


# --- Actions and the timeline -----------------------------------------------------------------------------


def test_each_firing_names_the_rule_on_the_case_timeline(case_at, supervisor):
    queue = QueueFactory(name="Hard collections")
    rule = make_rule(
        DPD_OVER_90, name="M4 and no contact", target_queue=queue, raise_priority=40, notify_supervisor=True
    )
    case = case_at(120)
    priority = case.priority

    escalation.run_rules(as_of=AS_OF)

    case.refresh_from_db()
    assert (case.queue, case.priority) == (queue, priority + 40)
    escalated = CaseEvent.objects.get(case=case, kind=EventKind.ESCALATED)
    assert escalated.details["rule"] == "M4 and no contact"
    assert escalated.details["queue"] == "Hard collections"
    assert escalated.reason.startswith("Escalation rule «M4 and no contact» (v1): dpd > 90")
    request = CaseEvent.objects.get(case=case, kind=EventKind.ESCALATION_REQUESTED)
    assert request.details["target"] == "supervisor"
    assert request.details["rule_id"] == rule.pk


def test_a_legal_move_writes_the_transition_and_the_referral(case_at):
    rule = make_rule(DPD_OVER_90, name="legal at 90", **LEGAL_OVER_90)
    case = case_at(120)
    escalation.run_rules(as_of=AS_OF)
    event = CaseEvent.objects.get(case=case, kind=EventKind.ESCALATED)
    assert (event.from_state, event.to_state, event.actor) == ("new", "legal_review", None)
    assert event.details == {"rule": "legal at 90", "rule_id": rule.pk, "rule_version": 1}
    referral = LegalReferral.objects.get(case=case)
    assert (referral.rule_name, referral.decision) == ("legal at 90", "pending")
    assert "dpd > 90" in referral.reason


def test_a_run_is_set_based(case_at):
    make_rule(DPD_OVER_90, **LEGAL_OVER_90, notify_supervisor=True)
    make_rule([{"field": "dpd", "operator": "lte", "value": 90}], raise_priority=3, order=200)

    def queries_for(n: int) -> int:
        for dpd in range(n):
            case_at(95 + dpd)
            case_at(40 + dpd)
        with CaptureQueriesContext(connection) as captured:
            result = escalation.run_rules(as_of=AS_OF)
        assert result["fired"] == 2 * n
        return len(captured.captured_queries)

    assert queries_for(3) == queries_for(12)
    assert Case.objects.filter(state=CaseState.LEGAL_REVIEW).count() == 15


def test_the_lasting_effects_are_there_for_the_nightly_recompute(case_at):
    """queues.refresh_priorities and place_cases_in_queues recompute assignment every night; the points
    and the queue a rule gave a case are kept on its firings for them to read."""
    queue = QueueFactory(name="Hard collections")
    make_rule(DPD_OVER_90, name="hard", order=10, target_queue=queue, raise_priority=40)
    make_rule([{"field": "dpd", "operator": "gt", "value": 60}], name="nudge", order=20, raise_priority=15)
    old, middle, young = case_at(120), case_at(75), case_at(30)
    escalation.run_rules(as_of=AS_OF)

    annotated = Case.objects.annotate(
        points=escalation.rule_priority_points_sql(), pinned_queue=escalation.rule_queue_sql()
    )
    rows = {c.pk: (c.points, c.pinned_queue) for c in annotated}
    assert rows[old.pk] == (40, queue.pk)
    assert rows[middle.pk] == (15, None)
    assert rows[young.pk] == (0, None)
    assert set(Case.objects.filter(escalation.pinned_by_rule_q()).values_list("pk", flat=True)) == {old.pk}
    assert escalation.rule_priority_factors(old) == [("hard", 40)]
