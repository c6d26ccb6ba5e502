"""Celery task of the personal-data purge: a thin wrapper over privacy.purge.purge_run (scheduled weekly
by automation's setup_schedules)."""

from celery import shared_task

from privacy.purge import purge_run


@shared_task(acks_late=True, soft_time_limit=3300, time_limit=3600)
def personal_data_purge(dry_run: bool = False) -> int:
    """Idempotent: a retry finds the cardholders already purged and changes nothing."""
    return purge_run(dry_run=dry_run, trigger="schedule").pk
