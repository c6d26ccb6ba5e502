"""Celery tasks of the dashboards: thin wrappers that take IDs and dates and call dashboards.summary.

The beat schedule runs `daily_summaries` every morning (see setup_schedules); it queues one
`daily_summary_send` per supervisor, each safe to run twice (the DailySummary row).
"""

from __future__ import annotations

from datetime import date, timedelta

from celery import shared_task

from core.clock import bank_today
from dashboards import rollups, summary
from messaging import services as messaging

DAILY_SUMMARY_TASK = "dashboards.tasks.daily_summaries"


@shared_task(acks_late=True, soft_time_limit=120, time_limit=180)
def daily_summaries(day: str | None = None) -> int:
    """Queue the summary of `day` (ISO date; default yesterday in the bank's time zone) for every
    supervisor. Returns how many were queued."""
    target = date.fromisoformat(day) if day else bank_today() - timedelta(days=1)
    ids = list(summary.recipients().values_list("pk", flat=True))
    for supervisor_id in ids:
        daily_summary_send.delay(supervisor_id, target.isoformat())
    return len(ids)


@shared_task(bind=True, acks_late=True, soft_time_limit=120, time_limit=180, max_retries=8)
def daily_summary_send(self, supervisor_id: int, day: str) -> str:
    try:
        return summary.daily_summary_send(supervisor_id=supervisor_id, day=date.fromisoformat(day))
    except messaging.RetryLater as later:
        raise self.retry(countdown=later.countdown, exc=later) from None


@shared_task(acks_late=True, soft_time_limit=2 * 60 * 60, time_limit=2 * 60 * 60 + 600)
def rollups_refresh(as_of: str | None = None) -> dict:
    """The rollup refresh on its own (the nightly pipeline runs it as a step; this is for a backfill)."""
    return rollups.refresh(as_of=date.fromisoformat(as_of) if as_of else bank_today())


@shared_task(acks_late=True, soft_time_limit=240, time_limit=300)
def rollups_refresh_today() -> dict:
    """Every few minutes: roll up today so far (dashboards.rollups.refresh_today)."""
    return rollups.refresh_today()
