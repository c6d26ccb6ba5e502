"""The idempotency-key purge runs on the default beat schedule, and the scheduled task deletes only the
keys older than API_IDEMPOTENCY_KEY_HOURS."""

from datetime import timedelta

import pytest
from django.core.management import call_command
from django.test import override_settings
from django.utils import timezone
from django_celery_beat.models import PeriodicTask

from api.models import IdempotencyKey
from api.tasks import idempotency_keys_purge

pytestmark = pytest.mark.django_db


def test_setup_schedules_runs_the_idempotency_purge_daily():
    call_command("setup_schedules", verbosity=0)

    task = PeriodicTask.objects.select_related("crontab").get(name="Purge idempotency keys")
    assert task.task == "api.tasks.idempotency_keys_purge"
    assert task.enabled
    assert task.interval is None
    assert (task.crontab.hour, task.crontab.day_of_week, task.crontab.day_of_month) == ("4", "*", "*")


def test_the_scheduled_name_is_a_registered_task():
    from config.celery import app

    assert "api.tasks.idempotency_keys_purge" in app.tasks


@override_settings(API_IDEMPOTENCY_KEY_HOURS=24)
def test_the_task_purges_keys_older_than_the_retention_and_keeps_the_rest(agent):
    now = timezone.now()

    def key(name, age):
        return IdempotencyKey.objects.create(
            user=agent, key=name, fingerprint="f", method="POST", path="/api/v1/x/", created_at=now - age
        )

    key("old", timedelta(hours=25))
    key("older", timedelta(days=30))
    key("fresh", timedelta(hours=23))

    assert idempotency_keys_purge.apply().get() == 2
    assert list(IdempotencyKey.objects.values_list("key", flat=True)) == ["fresh"]
    assert idempotency_keys_purge.apply().get() == 0
