"""Dashboards: every panel (dashboards.bench.panels) for the last 30 days, p50 ms, beside the raw-SQL
baseline of the same period's contact figures (dashboards.bench.raw_baseline). Viewed by an administrator
(every team), as a deployment runs: the days up to yesterday from the nightly rollups, today from the
intraday rollup the beat takes every few minutes (taken here first, and timed). A page reads those rows
whether they are fresh or late (it only says which), so the two cost the same. Two more rows, for
information: the intraday rollup itself, and the KPI tiles with today summed from the contact log - what
a page does only before the day's first intraday rollup."""

from __future__ import annotations

from datetime import timedelta

from core.clock import bank_today
from dashboards import bench as dashboard_bench
from dashboards import rollups
from dashboards.scope import Filters, Period
from demo.bench.report import PANEL, Result, Target
from demo.bench.timing import repeat_ms, timed
from demo.bench.web import bench_admin

INFORMATION = Target(text="information")


def measure(*, out, repeat: int, period_days: int = 30) -> list[Result]:
    today = bank_today()
    period = Period(today - timedelta(days=period_days - 1), today)
    filters = Filters(teams=None)
    seconds, counts = timed(rollups.refresh_today)
    out(f"  intraday rollup of today: {seconds:.1f} s ({counts.get('activity', 0):,} activity rows)")
    results = [
        Result(
            measure="panel:intraday rollup of today (beat, every 5 min)",
            project=seconds,
            baseline=None,
            unit="s",
            target=INFORMATION,
        )
    ]
    baseline = repeat_ms(dashboard_bench.raw_baseline(period, None), times=repeat)
    admin = bench_admin()
    for name, panel in dashboard_bench.panels(admin, filters, period).items():
        figures = repeat_ms(panel, times=repeat)
        out(f"  panel {name:<28} p50 {figures['p50']:7.1f} ms  raw contact figures {baseline['p50']:7.1f} ms")
        results.append(
            Result(
                measure=f"panel:{name}",
                project=figures["p50"],
                baseline=baseline["p50"],
                unit="ms p50",
                target=PANEL,
                details={"p99_ms": figures["p99"], "period_days": period_days},
            )
        )
    live = dashboard_bench.panels(admin, filters, period, today_live=True)["KPI tiles"]
    figures = repeat_ms(live, times=max(1, repeat // 4))
    out(f"  KPI tiles, today summed from the contact log: p50 {figures['p50']:7.1f} ms")
    results.append(
        Result(
            measure="panel:KPI tiles before the day's first intraday rollup (today live)",
            project=figures["p50"],
            baseline=baseline["p50"],
            unit="ms p50",
            target=INFORMATION,
        )
    )
    return results
