"""`manage.py generate_portfolio` and `manage.py bench` run (at a tiny size: speed is what bench prints,
never what a test asserts). The generated portfolio is one the product can work: search hashes kept,
contactability stored on every open case, so Next case and My work see it as `migrate` + the roll would.
The bench's baselines do the same work as the project's steps (the same rows), and its double-claim check
really finds a case handed to a second agent while a first one held it."""

import io
import json
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
)
from collections_app.services import kernel
from core import chains
from demo.bench import claim, nightly_sql
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
        if name != "nightly:escalation_rules":  # no baseline without rules: reported n/a
            assert result["baseline"] is not None and result["ratio"] is not None, name
            assert result["verdict"] in ("PASS", "FAIL"), name
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
