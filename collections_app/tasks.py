"""Celery tasks of the casework: thin wrappers around services.contactability and partitions.

`contactability_roll` runs on a beat schedule every few minutes (see automation's setup_schedules) and
in the nightly pipeline; `contactability_recompute_profiles` is queued after an admin edits a contact
policy profile; `partitions_ensure` runs daily from beat. All are safe to run twice: they compute the
same answer again, or find the partitions there.
"""

from __future__ import annotations

from celery import shared_task
from django.utils import timezone

from collections_app import partitions
from collections_app.models import Case
from collections_app.services import contactability

CONTACTABILITY_ROLL_TASK = "collections_app.tasks.contactability_roll"
RECOMPUTE_CHUNK = 2000


@shared_task(acks_late=True, soft_time_limit=240, time_limit=300)
def contactability_roll() -> dict[str, int]:
    """Move the cases whose contact window has closed to its next opening; compute new cases."""
    return contactability.contactability_roll()


@shared_task(acks_late=True, soft_time_limit=600, time_limit=660)
def contactability_recompute_profiles(codes: list[str], after: int = 0) -> int:
    """Recompute the open cases governed by these profiles, one chunk of cases per task run, then queue
    the next chunk (a large jurisdiction is not one long transaction). Returns the cases written."""
    cases = contactability.profile_cases(codes).filter(pk__gt=after).order_by("pk")
    chunk = list(cases.values_list("pk", flat=True)[:RECOMPUTE_CHUNK])
    if not chunk:
        return 0
    written = contactability.contactability_recompute(Case.objects.filter(pk__in=chunk), now=timezone.now())
    if len(chunk) == RECOMPUTE_CHUNK:
        contactability_recompute_profiles.delay(codes, chunk[-1])
    return written


@shared_task(acks_late=True, soft_time_limit=600, time_limit=660)
def partitions_ensure() -> dict[str, list[str]]:
    """Create this month's and the next months' partitions of contact attempts and case events where
    missing (collections_app.partitions); runs daily from beat, so a month exists weeks before its first
    row. Returns the partitions created."""
    return partitions.ensure_partitions()
