"""Nightly: each step of automation.pipeline beside its baseline (nightly_sql), interleaved on the same data.

For each step, in the pipeline's order: the baseline runs in a transaction that is rolled back, then the
project's step runs for real (committed), so the next step finds what the pipeline would leave. The
business date is the day after the last one the portfolio was refreshed for, so every bench run is a
night with real work. A share of the accounts with open cases is cured first so that the close has work.
"""

from __future__ import annotations

from datetime import date, timedelta
from types import SimpleNamespace

from django.db import connection, transaction
from django.db.models import Max
from django.utils import timezone

from automation import pipeline
from collections_app.models import CLOSED_STATES, Case, CreditAccount
from dashboards import rollups
from demo.bench import nightly_sql
from demo.bench.report import NIGHTLY_STEP, Result, Target
from demo.bench.timing import timed, timed_rolled_back


def next_business_date() -> date:
    last = CreditAccount.objects.aggregate(last=Max("dpd_as_of"))["last"]
    return (last + timedelta(days=1)) if last else timezone.localdate()


def cure_some_accounts(share: int = 20) -> int:
    """Every `share`-th account with an open case made current (its overdue amount paid), a tenth of
    those paid off entirely: the bank file of a day on which some customers paid."""
    table, cases = CreditAccount._meta.db_table, Case._meta.db_table
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {table} a SET overdue_amount = 0, minimum_due = 0, first_missed_due_date = NULL, "  # noqa: S608
            "principal = CASE WHEN a.id %% %(tenth)s = 0 THEN 0 ELSE a.principal END, "
            "interest = CASE WHEN a.id %% %(tenth)s = 0 THEN 0 ELSE a.interest END, "
            "fees = CASE WHEN a.id %% %(tenth)s = 0 THEN 0 ELSE a.fees END, "
            "penalties = CASE WHEN a.id %% %(tenth)s = 0 THEN 0 ELSE a.penalties END "
            f"WHERE a.id %% %(share)s = 0 AND a.overdue_amount > 0 AND EXISTS (SELECT 1 FROM {cases} c "
            "WHERE c.account_id = a.id AND c.state <> ALL(%(closed)s))",
            {"share": share, "tenth": share * 10, "closed": list(CLOSED_STATES)},
        )
        return cursor.rowcount


def _rows(counts) -> int:
    """A step's counts (a dict of figures, nested by purpose or queue) summed to the rows it wrote."""
    if isinstance(counts, bool):
        return 0
    if isinstance(counts, int):
        return counts
    if isinstance(counts, dict):
        return sum(_rows(v) for k, v in counts.items() if not k.endswith("_by_queue") and k != "by_purpose")
    return 0


def measure(*, out, steps: list[str] | None = None) -> list[Result]:
    """Every nightly step (or `steps`) against its baseline; one Result per step, "nightly:<step>"."""
    as_of = next_business_date()
    cured = cure_some_accounts()
    with connection.cursor() as cursor:
        for table in ("collections_app_creditaccount", "collections_app_case", "messaging_outboundmessage"):
            cursor.execute(f"VACUUM (ANALYZE) {table}")
    out(f"Nightly steps for {as_of} ({cured:,} accounts cured for the close)")
    run = SimpleNamespace(pk=None, run_date=as_of)  # what a step reads of its run
    if rollups.watermark() is None:
        # A first rollup builds a year of days; a night rebuilds the last few. Measure a night.
        out("  (first rollups: building them before the measured night)")
        rollups.refresh(as_of=as_of - timedelta(days=1))
    results = []
    for name in pipeline.STEP_NAMES:
        if steps and name not in steps:
            continue
        now = timezone.now()
        ctx = pipeline.StepContext(run=run, as_of=as_of, now=now)
        baseline = nightly_sql.BASELINES.get(name)
        base_s, base_rows = (
            timed_rolled_back(lambda b=baseline, n=now: b(as_of, n)) if baseline else (None, None)
        )
        step = pipeline.step_named(name)
        project_s, counts = timed(lambda s=step, c=ctx: s.run(c))
        result = Result(
            measure=f"nightly:{name}",
            project=project_s,
            baseline=base_s,
            unit="s",
            target=NIGHTLY_STEP if baseline else Target(text="no baseline"),
            details={"project_rows": _rows(counts), "baseline_rows": base_rows, "counts": counts},
        )
        out(
            f"  {name:<20} {project_s:8.2f} s  baseline {base_s or 0:8.2f} s  "
            f"rows {_rows(counts):,} / {base_rows}"
        )
        results.append(result)
    return results
