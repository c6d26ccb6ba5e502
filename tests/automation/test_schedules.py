"""Schedules in the database (django-celery-beat), created by `manage.py setup_schedules`, and the routing
of tasks to the nightly / messages queues."""

import json

import pytest
from django.conf import settings
from django.core.management import call_command
from django_celery_beat.models import PeriodicTask

from messaging.models import BannedPhrase, MessageTemplate

pytestmark = pytest.mark.django_db


def test_setup_schedules_creates_the_defaults_once(capsys):
    call_command("setup_schedules")
    call_command("setup_schedules")

    tasks = {t.name: t for t in PeriodicTask.objects.select_related("crontab", "interval")}
    nightly = tasks["Nightly pipeline"]
    assert nightly.task == "automation.tasks.nightly_start"
    assert (nightly.crontab.hour, nightly.crontab.minute, str(nightly.crontab.timezone)) == (
        "1",
        "30",
        "Asia/Shanghai",
    )
    assert json.loads(nightly.kwargs) == {"trigger": "schedule"}
    sending = tasks["Send due messages"]
    assert (sending.task, sending.interval.every, sending.interval.period) == (
        "automation.tasks.messages_send_due",
        1,
        "minutes",
    )
    assert tasks["Nightly catch-up"].task == "automation.tasks.nightly_catch_up"
    assert tasks["Dashboards: today's rollup"].task == "dashboards.tasks.rollups_refresh_today"
    assert tasks["Daily summary to supervisors"].task == "dashboards.tasks.daily_summaries"
    assert tasks["Contact windows"].task == "collections_app.tasks.contactability_roll"
    assert (tasks["Contact windows"].interval.every, tasks["Contact windows"].interval.period) == (
        5,
        "minutes",
    )
    assert tasks["Purge personal data past retention"].task == "privacy.tasks.personal_data_purge"
    monthly = tasks["Monthly partitions"]
    assert monthly.task == "collections_app.tasks.partitions_ensure"
    assert (monthly.crontab.hour, monthly.crontab.minute, monthly.crontab.day_of_month) == ("0", "5", "*")
    assert len(tasks) == 9
    assert MessageTemplate.objects.count() == 42
    assert BannedPhrase.objects.filter(phrase="黑名单").exists()
    assert "none (all present)" in capsys.readouterr().out


def test_an_admins_changes_survive_setup_schedules_unless_reset():
    from django_celery_beat.models import CrontabSchedule

    call_command("setup_schedules", verbosity=0)
    later, _ = CrontabSchedule.objects.get_or_create(minute="0", hour="3", timezone="Asia/Shanghai")
    PeriodicTask.objects.filter(name="Nightly pipeline").update(crontab=later)
    template = MessageTemplate.objects.get(purpose="due_today", channel="sms", language="en")
    template.body = "{name}: {amount} {currency} due today. {opt_out}"
    template.save()

    call_command("setup_schedules", verbosity=0)
    assert PeriodicTask.objects.get(name="Nightly pipeline").crontab.hour == "3"
    template.refresh_from_db()
    assert template.body.startswith("{name}: ")

    call_command("setup_schedules", "--reset", verbosity=0)
    assert PeriodicTask.objects.get(name="Nightly pipeline").crontab.hour == "1"


def test_tasks_are_routed_to_their_queues():
    routes = getattr(settings, "CELERY_TASK_ROUTES", None)
    if not routes:
        pytest.skip("CELERY_TASK_ROUTES is not in config/settings.py yet (see docs/automation.md)")
    from celery.app.routes import Router, prepare

    from config.celery import app

    router = Router(prepare(routes), queues=app.amqp.queues, create_missing=True, app=app)

    def queue_of(name):
        route = router.route({}, name)
        queue = route.get("queue")
        return getattr(queue, "name", queue)

    for name in ("nightly_start", "nightly_step", "nightly_finish", "nightly_catch_up"):
        assert queue_of(f"automation.tasks.{name}") == "nightly"
    for name in ("messages_send_due", "message_send"):
        assert queue_of(f"automation.tasks.{name}") == "messages"
