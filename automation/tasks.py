"""Celery tasks: thin wrappers that take IDs and dates, reload, and call automation.pipeline or
messaging.services. Each is safe to run twice (acks_late redelivers a task whose worker died).

Queues: `nightly` for the pipeline (long, one at a time), `messages` for sending (many, short), `default`
for the rest, routed by CELERY_TASK_ROUTES in config/settings.py (Celery 6 drops the per-task `queue`):

    CELERY_TASK_ROUTES = {
        "automation.tasks.nightly_*": {"queue": "nightly"},
        "automation.tasks.message*": {"queue": "messages"},
    }

The pipeline as a chain:  nightly_start -> nightly_step(run, name) x 6 -> nightly_finish(run)
A failed step stops the chain and marks the run failed; a killed worker leaves the run `running` until a
later run (the next schedule, the catch-up task, or `manage.py run_nightly`) sees that its process is gone,
marks it interrupted and does what is left.
"""

from __future__ import annotations

import logging
from datetime import date

from celery import chain, shared_task
from django.db import transaction

from automation import pipeline as nightly
from automation.models import NightlyRun, RunStatus
from messaging import services as messaging

logger = logging.getLogger(__name__)

# Soft limits raise inside the task (the step is recorded as failed); hard limits kill the worker child
# (the run is then taken over by the next one). Sized for 1,000,000 accounts on the reference machine.
NIGHTLY_SOFT_LIMIT = 2 * 60 * 60
NIGHTLY_HARD_LIMIT = NIGHTLY_SOFT_LIMIT + 10 * 60
SEND_SOFT_LIMIT = 60
SEND_HARD_LIMIT = 90


def nightly_queue(*, as_of: date | None = None, trigger: str) -> NightlyRun:
    """Begin a run for `as_of` (default today in the bank's zone) in this process and queue its steps on
    the `nightly` queue as a chain (after commit). Raises nightly.RunInProgress when a live run is working;
    a dead or silent one is marked interrupted and taken over (nightly.run_begin). The one way to start a
    run on the worker: the schedule, the catch-up, `run_nightly --queue` and the runs page's "Run now"."""
    with nightly.working():
        run = nightly.run_begin(as_of=as_of or nightly.business_date(), trigger=trigger)
    steps = [nightly_step.si(run.pk, name) for name in nightly.STEP_NAMES]
    transaction.on_commit(lambda: chain(*steps, nightly_finish.si(run.pk)).apply_async())
    return run


@shared_task(acks_late=True, soft_time_limit=300, time_limit=360)
def nightly_start(as_of: str | None = None, trigger: str = "schedule") -> int | None:
    """Begin a run for `as_of` (ISO date; default today in the bank's zone) and queue its steps as a chain.
    Returns the run ID, or None when another run is working."""
    day = date.fromisoformat(as_of) if as_of else nightly.business_date()
    try:
        run = nightly_queue(as_of=day, trigger=trigger)
    except nightly.RunInProgress as exc:
        logger.warning("nightly: not started for %s: %s", day, exc)
        return None
    return run.pk


@shared_task(acks_late=True, soft_time_limit=NIGHTLY_SOFT_LIMIT, time_limit=NIGHTLY_HARD_LIMIT)
def nightly_step(run_id: int, name: str) -> str:
    """One step of a run. Does nothing if the run is no longer running (another run took it over)."""
    with nightly.working():
        run = NightlyRun.objects.get(pk=run_id)
        if run.status != RunStatus.RUNNING:
            # Another run took this one over (or it failed): what is left is that run's to do.
            logger.warning("nightly: run #%s is %s; step %s not run", run_id, run.status, name)
            return "superseded"
        return nightly.run_step(run, name).status


@shared_task(acks_late=True, soft_time_limit=60, time_limit=90)
def nightly_finish(run_id: int) -> str:
    return nightly.run_finish(NightlyRun.objects.get(pk=run_id)).status


@shared_task(acks_late=True, soft_time_limit=60, time_limit=90)
def nightly_catch_up() -> int | None:
    """Every few minutes: start today's run if it was missed or did not finish (see nightly.catch_up_due)."""
    as_of = nightly.catch_up_due()
    if as_of is None:
        return None
    return nightly_start(as_of.isoformat(), trigger="catch-up")


@shared_task(acks_late=True, soft_time_limit=SEND_SOFT_LIMIT, time_limit=SEND_HARD_LIMIT)
def messages_send_due() -> int:
    """Every minute: queue a send task for each due message."""
    return messaging.dispatch_due(send=lambda pk: message_send.delay(pk))


@shared_task(
    bind=True,
    acks_late=True,
    soft_time_limit=SEND_SOFT_LIMIT,
    time_limit=SEND_HARD_LIMIT,
    # The message's own attempt count decides when to give up (COLLECTIONS_MESSAGE_MAX_ATTEMPTS); this is
    # only a backstop above it.
    max_retries=20,
)
def message_send(self, message_id: int) -> str:
    """Send one message; on a temporary failure, retry with exponential back-off (see backoff_seconds)."""
    try:
        return messaging.message_send(message_id=message_id)
    except messaging.RetryLater as later:
        raise self.retry(countdown=later.countdown, exc=later) from None
