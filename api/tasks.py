"""Celery tasks of the API: thin wrappers. The beat schedule runs `idempotency_keys_purge` daily (see
automation's setup_schedules)."""

from __future__ import annotations

from celery import shared_task

from api import idempotency


@shared_task(acks_late=True, soft_time_limit=300, time_limit=360)
def idempotency_keys_purge() -> int:
    """Delete the Idempotency-Key records older than API_IDEMPOTENCY_KEY_HOURS (api.idempotency.purge_expired,
    one DELETE; running it twice deletes nothing more). Returns how many were deleted."""
    return idempotency.purge_expired()
