"""Celery task of the personal-data purge: a thin wrapper over privacy.purge (scheduled weekly by
automation's setup_schedules)."""

from celery import shared_task

from privacy.purge import purge_run, purge_with_dry_run


@shared_task(acks_late=True, soft_time_limit=3300, time_limit=3600)
def personal_data_purge(dry_run: bool = False) -> int:
    """A recorded dry run, then the purge (or the dry run alone). Idempotent: a retry finds the
    cardholders already purged and changes nothing. Returns the id of the last run."""
    if dry_run:
        return purge_run(dry_run=True, trigger="schedule").pk
    _dry, run = purge_with_dry_run(trigger="schedule")
    return run.pk
