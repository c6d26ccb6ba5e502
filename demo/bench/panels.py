"""Dashboards: every panel (dashboards.bench.panels) for the last 30 days, p50 ms, beside the raw-SQL
baseline of the same period's contact figures (dashboards.bench.raw_baseline). Viewed by an administrator
(every team), with today read live from the contact log - the case of a deployment whose intraday rollup
is stale, the slower one."""

from __future__ import annotations

from datetime import timedelta

from core.clock import bank_today
from dashboards import bench as dashboard_bench
from dashboards.scope import Filters, Period
from demo.bench.report import PANEL, Result
from demo.bench.timing import repeat_ms
from demo.bench.web import bench_admin


def measure(*, out, repeat: int, period_days: int = 30) -> list[Result]:
    today = bank_today()
    period = Period(today - timedelta(days=period_days - 1), today)
    filters = Filters(teams=None)
    baseline = repeat_ms(dashboard_bench.raw_baseline(period, None), times=repeat)
    results = []
    for name, panel in dashboard_bench.panels(bench_admin(), filters, period, today_live=True).items():
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
    return results
