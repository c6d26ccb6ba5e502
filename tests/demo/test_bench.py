"""`manage.py generate_portfolio` and `manage.py bench` run (at a tiny size: speed is what bench prints,
never what a test asserts). The generated portfolio is one the product can work: search hashes kept,
contactability stored on every open case, so Next case and My work see it as `migrate` + the roll would.
The bench's baselines do the same work as the project's steps (the same rows), and its double-claim check
really finds a case handed to a second agent while a first one held it."""

import io
import json
import time
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.db.models import F
from django.utils import timezone

from accounts.models import Role
from collections_app.models import (
    OPEN_STATES,
    Case,
    CaseEvent,
    ContactAttempt,
    ContactPoint,
    CreditAccount,
    EventKind,
    Payment,
    PromiseToPay,
)
from collections_app.services import kernel
from core import chains
from demo.bench import claim, nightly_sql, runner
from demo.bench.report import CLAIM, CLAIM_PACED, Result
from demo.bench.timing import timed_rolled_back
from tests.factories import UserFactory

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def test_generate_portfolio_writes_a_workable_portfolio_of_the_requested_size():
    out = io.StringIO()
    call_command("generate_portfolio", accounts=300, contacts=1000, stdout=out)

    assert CreditAccount.objects.count() == 300
    assert ContactAttempt.objects.count() == 1000
    assert CaseEvent.objects.filter(kind=EventKind.CONTACT).count() == 1000, "each attempt on the timeline"
    assert Payment.objects.exists()
    assert not ContactPoint.objects.filter(value_hash="").exists()
    open_cases = Case.objects.filter(state__in=OPEN_STATES)
    assert open_cases.exists()
    assert not open_cases.filter(queue__isnull=True, account__bucket__in=["M1", "M2", "M3"]).exists(), (
        "a late account's case sits in its bucket's queue"
    )
    assert not open_cases.filter(contactable_from__isnull=True, contact_block_rule="").exists(), (
        "every open case has its contactability computed"
    )
    # Every attempt with its case's cardholder, after the case opened, within the last 90 days.
    attempts = ContactAttempt.objects
    assert not attempts.exclude(cardholder_id=F("case__account__cardholder_id")).exists()
    assert not attempts.filter(started_at__lt=F("case__opened_at")).exists()
    assert not attempts.filter(started_at__lt=timezone.now() - timedelta(days=90, minutes=5)).exists()
    # Each promise was recorded by an agent in its own "ptp" call on its case: it counts in the dashboards.
    promises = PromiseToPay.objects.all()
    assert promises.exists()
    assert not promises.filter(contact_attempt__isnull=True).exists()
    assert not promises.exclude(contact_attempt__case_id=F("case_id")).exists()
    assert not promises.exclude(contact_attempt__outcome="ptp").exists()
    assert not promises.exclude(created_by_id=F("contact_attempt__agent_id")).exists()
    assert not promises.exclude(created_at=F("contact_attempt__started_at")).exists()
    assert "events" in out.getvalue(), "the time the chained events took is printed"
    # The events were hashed set-based with the trigger off: the chains are those the trigger would write,
    # and the trigger goes on from their heads.
    assert [report.broken for report in chains.verify_chains()] == [None] * len(chains.CHAINS)
    case = Case.objects.filter(state__in=OPEN_STATES).order_by("-pk").first()
    kernel.event_write(case=case, kind=EventKind.NOTE, reason="after the load")
    assert chains.verify_chain(CaseEvent).ok


def test_bench_runs_every_measure_and_writes_the_table_as_json(tmp_path):
    path = tmp_path / "bench.json"
    out = io.StringIO()
    call_command(
        "bench",
        accounts=300,
        contacts=1500,
        import_rows=200,
        claim_seconds=1,
        agents="2,3",
        requests=2,
        panel_repeat=1,
        json_path=str(path),
        stdout=out,
    )

    results = {r["measure"]: r for r in json.loads(path.read_text())["results"]}
    groups = {name.partition(":")[0] for name in results}
    assert groups == {"nightly", "claim", "page", "api", "panel", "import"}
    for step in (
        "refresh_delinquency",
        "cases",
        "promises_and_plans",
        "queues",
        "contactability",
        "reminders",
    ):
        assert f"nightly:{step}" in results
    for name in ("cardholders", "accounts", "cases", "promises", "payments", "contacts"):
        assert f"api:{name}" in results
    assert {"claim:2 agents", "claim:3 agents", "page:case", "page:my work", "import:accounts"} <= set(
        results
    )
    for name, result in results.items():
        assert result["project"] is not None, name
        # No baseline without rules (reported n/a); the panels' information rows have no target.
        if name != "nightly:escalation_rules" and result["target"] != "information":
            assert result["baseline"] is not None and result["ratio"] is not None, name
            assert result["verdict"] in ("PASS", "FAIL"), name
    assert results["panel:KPI tiles"]["verdict"] in ("PASS", "FAIL")
    # The baselines did the same work as the steps: the same rows written.
    for step in ("refresh_delinquency", "cases", "promises_and_plans", "queues", "reminders"):
        details = results[f"nightly:{step}"]["details"]
        assert details["project_rows"] == details["baseline_rows"], step
    assert results["nightly:cases"]["details"]["project_rows"] > 0, "the cured accounts' cases were closed"
    for agents in (2, 3):
        figures = results[f"claim:{agents} agents"]["details"]
        assert figures["project"]["claims"] > 0 and figures["baseline"]["claims"] > 0
        assert figures["project"]["double_claims"] == 0 and figures["baseline"]["double_claims"] == 0
        # The same presses at a floor's pace (one every PACE_SECONDS): every agent pressed at least once.
        paced = results[f"claim:paced {agents} agents"]["details"]
        assert paced["project"]["presses"] >= agents and paced["baseline"]["presses"] >= agents
        assert paced["project"]["double_claims"] == 0 and paced["baseline"]["double_claims"] == 0
    assert results["import:accounts"]["details"]["rejected"] == 0
    assert results["import:accounts"]["details"]["peak_rss_mb"] > 0
    assert CreditAccount.objects.filter(external_ref__startswith="IMP").count() == 200, "the import applied"
    assert "verdict" in out.getvalue()


def test_a_baseline_leaves_the_data_as_it_found_it():
    call_command("generate_portfolio", accounts=200, stdout=io.StringIO())
    before = list(Case.objects.order_by("pk").values_list("pk", "state", "queue_id", "priority"))

    seconds, rows = timed_rolled_back(lambda: nightly_sql.queues(timezone.localdate(), timezone.now()))

    assert rows > 0
    assert list(Case.objects.order_by("pk").values_list("pk", "state", "queue_id", "priority")) == before


def _stocks(month):
    from dashboards.models import AccountMonthEnd, PortfolioDaily, RollTransitionMonthly

    fields = ("level", "day", *PortfolioDaily.DIMENSIONS, "state", "cases", "balance", "overdue")
    return (
        sorted(PortfolioDaily.objects.values_list(*fields), key=str),
        sorted(
            AccountMonthEnd.objects.filter(month=month).values_list(
                "account_id", "bucket", "balance", "currency", "team_id", "queue_id", "agent_id", "product"
            ),
            key=str,
        ),
        sorted(
            RollTransitionMonthly.objects.values_list(
                "month", "team_id", "queue_id", "agent_id", "from_bucket", "to_bucket", "accounts", "balance"
            ),
            key=str,
        ),
    )


def test_the_snapshots_baseline_writes_the_rows_the_project_writes():
    from django.db import transaction

    from dashboards import rollups

    call_command("generate_portfolio", accounts=300, stdout=io.StringIO())
    as_of = timezone.localdate()
    month = (as_of - timedelta(days=1)).replace(day=1)
    rollups.snapshot_month_end(rollups.previous_month(month))  # a month-end before, for the transitions
    with transaction.atomic():
        nightly_sql.dashboard_snapshots(as_of, timezone.now())
        baseline = _stocks(month)
        transaction.set_rollback(True)
    rollups.refresh_snapshots(as_of=as_of)
    project = _stocks(month)

    assert project[0] and project[1] and project[2], "every stock has rows"
    assert baseline == project


def _day_tables() -> dict:
    """Every day rollup table's rows (every column but the id), in a stable order."""
    from dashboards.models import (
        ActivityDaily,
        AgentDaily,
        CaseFlowDaily,
        CollectionDaily,
        PromiseDaily,
        ReachDaily,
        ReasonDaily,
    )

    tables = {}
    for model in (
        ActivityDaily,
        PromiseDaily,
        CollectionDaily,
        ReasonDaily,
        CaseFlowDaily,
        ReachDaily,
        AgentDaily,
    ):
        fields = [f.attname for f in model._meta.concrete_fields if f.attname != "id"]
        tables[model.__name__] = sorted(model.objects.values_list(*fields), key=str)
    return tables


def _clone(attempt, **changes):
    """A copy of a contact attempt with some fields changed (a correction, a system attempt)."""
    attempt.pk = None
    attempt._state.adding = True
    for name, value in changes.items():
        setattr(attempt, name, value)
    attempt.save()
    return attempt


def test_the_rollups_baseline_writes_the_rows_the_project_writes(team_a, agent, supervisor):
    """A night after a night: the baseline deletes and writes the same day-table rows as the project's
    step - every level, the days nightly_ranges gives each table (two ranges here), with the facts the
    generated portfolio lacks made by hand: a late contact, a correction, a system attempt, an override,
    complaints, a refusal, promises with and without their contact and one replaced, payments credited
    to an agent, in another currency and without a case, closures, a referral and plans."""
    from datetime import date
    from decimal import Decimal

    import time_machine
    from django.db import transaction

    from collections_app import services
    from collections_app.models import PromiseToPay
    from dashboards import rollups
    from dashboards.models import AccountMonthEnd, ActivityDaily, CaseFlowDaily, CollectionDaily
    from legal.models import LegalReferral
    from repayment_plans.models import RepaymentPlan
    from tests.dashboards.conftest import at, call, case_on, pay, promise

    as_of = date(2026, 6, 5)

    def day(n: int) -> date:  # n days before as_of
        return as_of - timedelta(days=n)

    with time_machine.travel(at(day(2), 12), tick=False):
        call_command("generate_portfolio", accounts=300, contacts=3000, stdout=io.StringIO())
    with time_machine.travel(at(day(1), 2), tick=False):
        rollups.refresh(as_of=day(1))  # the rollups up to 3 June, and the month-ends before
    assert AccountMonthEnd.objects.filter(month=date(2026, 4, 1)).exists()

    # The next day's arrivals, some logged late.
    late, worked = case_on(day(8), team=team_a), case_on(day(8), team=team_a)
    call(late, agent, at(day(6), 10), "rpc", seconds=120, notes="Upset about the calls #Complaint")
    promise(late, agent, "300.00", day(3), at(day(6), 10, 5))  # with its contact, then replaced
    call(late, agent, at(day(5), 11), "ptp", seconds=60)
    kept = promise(late, agent, "200.00", day(2), at(day(5), 11, 5))
    assert PromiseToPay.objects.filter(case=late, status="cancelled").count() == 1
    # Paid beyond its amount: counted up to its amount (paid_capped).
    PromiseToPay.objects.filter(pk=kept.pk).update(status="kept", paid_amount=Decimal("250.00"))
    promise(worked, supervisor, "100.00", day(1), at(day(4), 15))  # no contact behind it
    pay(late, "150.00", at(day(4), 15), "BENCH-P1")  # credited to the agent
    Payment.objects.create(
        external_ref="BENCH-P2",
        account=worked.account,
        case=None,
        amount=Decimal("20.00"),
        currency="USD",
        paid_at=at(day(3), 16),
    )
    wrong = call(worked, agent, at(day(5), 9), "no_answer")
    _clone(
        ContactAttempt.objects.get(pk=wrong.pk), outcome="rpc", delinquency_reason="illness", corrects=wrong
    )
    _clone(
        ContactAttempt.objects.get(pk=wrong.pk),
        agent=None,
        channel="sms",
        outcome="sent",
        started_at=at(day(4), 8),
    )
    _clone(
        ContactAttempt.objects.get(pk=wrong.pk),
        policy_override_reason="Asked to call",
        started_at=at(day(3), 9),
    )
    with time_machine.travel(at(day(4), 16), tick=False):
        services.note_add(case_id=worked.pk, actor=agent, text="#投诉 客户投诉催收方式")
    with time_machine.travel(at(day(3), 17), tick=False):
        kernel.event_write(
            case=worked,
            kind=EventKind.POLICY_REFUSED,
            actor=agent,
            reason="Refused",
            details={"rule": "calls_per_number_per_day"},
        )
    LegalReferral.objects.create(
        case=worked, reason="Refuses to pay", referred_by=supervisor, referred_at=at(day(3), 14)
    )
    plan = {
        "kind": "installment",
        "amount": Decimal("600.00"),
        "payable_amount": Decimal("600.00"),
        "currency": "CNY",
        "installment_count": 2,
        "first_due_date": day(6),
        "approval_role": "agent",
        "proposed_by": agent,
        "accepted_at": at(day(9)),
    }
    RepaymentPlan.objects.create(
        case=late, state="completed", activated_at=at(day(9)), ended_at=at(day(2)), **plan
    )
    RepaymentPlan.objects.create(
        case=worked, state="broken", activated_at=at(day(5)), ended_at=at(day(1)), **plan
    )
    generated = list(Case.objects.filter(state__in=OPEN_STATES, queue__isnull=False).order_by("pk")[:4])
    RepaymentPlan.objects.create(case=generated[3], state="active", activated_at=at(day(3)), **plan)
    for case, state, reason, closed in (
        (generated[0], "resolved", "cured", at(day(7), 11)),  # 29 May: the bucket at the end of April
        (generated[1], "resolved", "settled", at(day(2), 11)),  # June: the bucket at the end of May
        (generated[2], "written_off", "charged_off", at(day(1), 11)),
    ):
        Case.objects.filter(pk=case.pk).update(state=state, resolution_reason=reason, closed_at=closed)
    paid = Payment.objects.filter(paid_at__gte=at(day(7), 0)).values("account_id")
    AccountMonthEnd.objects.filter(account_id__in=paid).update(bucket="M6+")
    AccountMonthEnd.objects.filter(account_id__in=[c.account_id for c in generated[:3]]).update(bucket="M6+")

    with time_machine.travel(at(as_of, 2), tick=False):
        ranges = rollups.nightly_ranges(as_of)
        assert ranges["activity"] == (day(6), day(1)) and ranges["flows"] == (day(7), day(1))
        with transaction.atomic():
            written = nightly_sql.dashboard_rollups(as_of, timezone.now())
            baseline = _day_tables()
            transaction.set_rollback(True)
        rollups.refresh(as_of=as_of, snapshots=False)
    project = _day_tables()

    assert written > 0
    assert all(project.values()), "every table has rows"
    assert baseline == project
    # Every figure of the tables is counted somewhere in the days rebuilt: no comparison is of zeros.
    for model, first in ((ActivityDaily, day(6)), (CollectionDaily, day(6)), (CaseFlowDaily, day(7))):
        rebuilt = model.objects.filter(level="full", day__gte=first)
        measures = [
            f.name
            for f in model._meta.concrete_fields
            if f.name not in ("id", "level", "day", *model.DIMENSIONS)
        ]
        for name in measures:
            assert rebuilt.filter(**{f"{name}__gt": 0}).exists(), (model.__name__, name)
    assert CollectionDaily.objects.filter(currency="USD", team_id__isnull=True, day__gte=day(6)).exists()
    assert CollectionDaily.objects.filter(agent_id=agent.pk, day=day(4)).exists()


def test_the_double_claim_check_finds_a_case_claimed_while_another_agent_held_it():
    call_command("generate_portfolio", accounts=50, stdout=io.StringIO())
    first, second = UserFactory(role=Role.AGENT), UserFactory(role=Role.AGENT)
    handed_on, planted = Case.objects.filter(state__in=OPEN_STATES).order_by("pk")[:2]
    since = claim.last_event_id()

    def event(case, agent, *, released=False):
        details = {"released": True, "lease_owner": agent.pk} if released else {"lease_until": "2026-12-03"}
        CaseEvent.objects.create(case=case, kind=EventKind.ASSIGNMENT, actor=agent, details=details)

    # Claimed, released, claimed by a colleague: fine.
    event(handed_on, first)
    event(handed_on, first, released=True)
    event(handed_on, second)
    assert claim.double_claims(since) == 0

    # Claimed by a colleague while the first agent still held it: a double claim.
    event(planted, first)
    event(planted, second)
    assert claim.double_claims(since) == 1


def test_a_next_case_round_fails_on_a_double_claim_or_a_slow_press():
    """The closed loop is judged by its throughput and its double claims (its p99 is Little's law); the
    paced round by its p99."""
    assert Result("claim:16 agents", 900, 1000, "claims/s", CLAIM, True, value=0).verdict == "PASS"
    assert Result("claim:16 agents", 400, 1000, "claims/s", CLAIM, True, value=0).verdict == "FAIL"
    assert Result("claim:16 agents", 900, 1000, "claims/s", CLAIM, True, value=1).verdict == "FAIL"
    assert Result("claim:paced 16 agents", 12.0, 11.0, "ms (p99)", CLAIM_PACED).verdict == "PASS"
    assert Result("claim:paced 16 agents", 25.0, 22.0, "ms (p99)", CLAIM_PACED).verdict == "FAIL"


def test_the_web_measures_start_at_once_when_no_autovacuum_runs():
    """settle asks pg_stat_activity for this database's autovacuum workers (none on the test database):
    a query that failed or a loop that waited regardless would show here."""
    said = []
    started = time.monotonic()
    assert runner.settle(said.append, limit=30) < 1
    assert time.monotonic() - started < 5 and said == []
