"""Timing helpers shared by the measures."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable

from django.db import transaction


class _RolledBack(Exception):  # noqa: N818 - control flow, not an error
    pass


def timed(work: Callable[[], object]) -> tuple[float, object]:
    """Seconds `work()` took, and what it returned."""
    started = time.perf_counter()
    result = work()
    return time.perf_counter() - started, result


def timed_rolled_back(work: Callable[[], object]) -> tuple[float, object]:
    """Run `work()` in a transaction, time it, then roll the transaction back: a baseline that leaves the
    data as it found it, so the project's step that follows finds the same rows to work on."""
    outcome: list = [0.0, None]
    try:
        with transaction.atomic():
            outcome[0], outcome[1] = timed(work)
            raise _RolledBack
    except _RolledBack:
        pass
    return outcome[0], outcome[1]


def percentile(sorted_values: list[float], share: float) -> float | None:
    if not sorted_values:
        return None
    return sorted_values[min(len(sorted_values) - 1, int(share * (len(sorted_values) - 1) + 0.5))]


def repeat_ms(work: Callable[[], object], *, times: int, warm: int = 1) -> dict:
    """`work()` run `warm` times unmeasured, then `times` times: p50 and p99 in milliseconds."""
    for _ in range(warm):
        work()
    samples = []
    for _ in range(times):
        started = time.perf_counter()
        work()
        samples.append((time.perf_counter() - started) * 1000)
    samples.sort()
    return {"p50": statistics.median(samples), "p99": percentile(samples, 0.99), "n": times}
