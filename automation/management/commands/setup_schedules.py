"""Default schedules (django-celery-beat, editable by admins), reminder templates and banned phrases."""

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from django_celery_beat.models import CrontabSchedule, IntervalSchedule, PeriodicTask

from automation.pipeline import NIGHTLY_TASK
from messaging import services as messaging


def default_schedules() -> list[dict]:
    hour, _sep, minute = settings.COLLECTIONS_NIGHTLY_AT.partition(":")
    if not (hour.isdigit() and minute.isdigit() and int(hour) < 24 and int(minute) < 60):
        raise CommandError("COLLECTIONS_NIGHTLY_AT must be HH:MM")
    return [
        {
            "name": "Nightly pipeline",
            "task": NIGHTLY_TASK,
            "crontab": {"minute": str(int(minute)), "hour": str(int(hour)), "timezone": settings.TIME_ZONE},
            "kwargs": '{"trigger": "schedule"}',
            "description": "Refresh DPD and buckets, open and resolve cases, check promises and plans, "
            "escalation rules, queues, the day's reminders.",
        },
        {
            "name": "Send due messages",
            "task": "automation.tasks.messages_send_due",
            "interval": {"every": 1, "period": "minutes"},
            "kwargs": "{}",
            "description": "Queue a send for every reminder whose time has come.",
        },
        {
            "name": "Nightly catch-up",
            "task": "automation.tasks.nightly_catch_up",
            "interval": {"every": 5, "period": "minutes"},
            "kwargs": "{}",
            "description": "Run today's pipeline if the scheduled run was missed, failed or was interrupted.",
        },
        {
            "name": "Contact windows",
            "task": "collections_app.tasks.contactability_roll",
            "interval": {"every": 5, "period": "minutes"},
            "kwargs": "{}",
            "description": "Move the cases whose contact window has closed to its next opening (Next case "
            "and My work read the stored answer); compute new cases.",
        },
        {
            "name": "Dashboards: today's rollup",
            "task": "dashboards.tasks.rollups_refresh_today",
            "interval": {"every": 5, "period": "minutes"},
            "kwargs": "{}",
            "description": "Roll up today's work so far, so that the dashboards read today in a few rows.",
        },
        {
            "name": "Monthly partitions",
            "task": "collections_app.tasks.partitions_ensure",
            # Daily, well before the nightly pipeline: the coming months' partitions of contact attempts
            # and case events exist weeks before their first row (collections_app.partitions).
            "crontab": {"minute": "5", "hour": "0", "timezone": settings.TIME_ZONE},
            "kwargs": "{}",
            "description": "Create this month's and the next two months' partitions of contact attempts and "
            "case events where missing.",
        },
        {
            "name": "Daily summary to supervisors",
            "task": "dashboards.tasks.daily_summaries",
            "crontab": {"minute": "30", "hour": "7", "timezone": settings.TIME_ZONE},
            "kwargs": "{}",
            "description": "E-mail each supervisor yesterday's figures of their team and what waits.",
        },
        {
            "name": "Purge idempotency keys",
            "task": "api.tasks.idempotency_keys_purge",
            "crontab": {"minute": "15", "hour": "4", "timezone": settings.TIME_ZONE},
            "kwargs": "{}",
            "description": "Delete API Idempotency-Key records older than API_IDEMPOTENCY_KEY_HOURS.",
        },
        {
            "name": "Purge personal data past retention",
            "task": "privacy.tasks.personal_data_purge",
            # Sundays 03:30: weekly is enough for periods counted in years, and it runs clear of the
            # nightly pipeline.
            "crontab": {"minute": "30", "hour": "3", "day_of_week": "0", "timezone": settings.TIME_ZONE},
            "kwargs": "{}",
            "description": "Anonymise the cardholders whose retention period has run out (no open case, "
            "no legal hold); the runs are recorded as purge runs.",
        },
    ]


class Command(BaseCommand):
    help = (
        "Create the default Celery beat schedules, reminder templates and banned phrases. Idempotent: what "
        "exists (possibly changed by an admin) is left alone; --reset puts the schedules' timing back."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--reset", action="store_true", help="restore the default timing of the schedules"
        )

    def handle(self, *args, reset, **options):
        created = []
        with transaction.atomic():
            for spec in default_schedules():
                timing = {}
                if "crontab" in spec:
                    cron, _ = CrontabSchedule.objects.get_or_create(
                        **{"day_of_week": "*", "day_of_month": "*", "month_of_year": "*", **spec["crontab"]}
                    )
                    timing = {"crontab": cron, "interval": None}
                else:
                    every, _ = IntervalSchedule.objects.get_or_create(**spec["interval"])
                    timing = {"interval": every, "crontab": None}
                task, was_created = PeriodicTask.objects.get_or_create(
                    name=spec["name"],
                    defaults={
                        "task": spec["task"],
                        "kwargs": spec["kwargs"],
                        "description": spec["description"],
                        **timing,
                    },
                )
                if was_created:
                    created.append(spec["name"])
                elif reset:
                    for field, value in {"task": spec["task"], "enabled": True, **timing}.items():
                        setattr(task, field, value)
                    task.save()
            defaults = messaging.ensure_defaults()
        self.stdout.write(
            f"Schedules created: {', '.join(created) or 'none (all present)'}"
            f"{'; timing reset' if reset else ''}. Templates created: {defaults['templates']}; "
            f"banned phrases created: {defaults['banned_phrases']}."
        )
