"""Celery queues per kind of work (config/settings.py, CELERY_TASK_QUEUES and CELERY_TASK_ROUTES): each
task waits in the queue of its kind, every such queue is declared (so a worker started without -Q consumes
it), and a task sent through the real broker lands in its queue's Redis list."""

import pytest
import redis
from django.conf import settings

from config.celery import app

# Every task of the project and the queue it must wait in. A new task fails the first test until it is
# placed here - deliberately, after deciding what it may wait behind.
EXPECTED = {
    "automation.tasks.nightly_start": "nightly",
    "automation.tasks.nightly_step": "nightly",
    "automation.tasks.nightly_finish": "nightly",
    "automation.tasks.nightly_catch_up": "nightly",
    "privacy.tasks.personal_data_purge": "nightly",
    "automation.tasks.messages_send_due": "messages",
    "automation.tasks.message_send": "messages",
    "dashboards.tasks.daily_summaries": "messages",
    "dashboards.tasks.daily_summary_send": "messages",
    "dashboards.tasks.rollups_refresh": "rollups",
    "dashboards.tasks.rollups_refresh_today": "rollups",
    "collections_app.tasks.contactability_roll": "default",
    "collections_app.tasks.contactability_recompute_profiles": "default",
    "api.tasks.idempotency_keys_purge": "default",
    "collections_app.tasks.partitions_ensure": "default",
}
DECLARED = {queue.name for queue in settings.CELERY_TASK_QUEUES}


def project_tasks() -> set[str]:
    app.loader.import_default_modules()
    return {name for name in app.tasks if not name.startswith("celery.")}


def queue_of(task_name: str) -> str:
    queue = app.amqp.router.route({}, task_name)["queue"]
    return getattr(queue, "name", queue)


def test_every_task_waits_in_the_queue_of_its_kind():
    assert project_tasks() == set(EXPECTED), "a task was added or removed: place it in EXPECTED"
    assert {name: queue_of(name) for name in EXPECTED} == EXPECTED


def test_every_queue_a_task_is_routed_to_is_declared_so_a_worker_without_q_consumes_it():
    assert sorted(DECLARED) == ["default", "messages", "nightly", "rollups"]
    assert set(EXPECTED.values()) <= DECLARED
    assert settings.CELERY_TASK_DEFAULT_QUEUE in DECLARED
    # What `celery -A config worker` with no -Q consumes: the declared queues, all of them.
    assert set(app.amqp.queues) == DECLARED


def test_the_scheduled_tasks_are_routed_to_declared_queues():
    from automation.management.commands.setup_schedules import default_schedules

    scheduled = {spec["task"] for spec in default_schedules()}
    assert "dashboards.tasks.rollups_refresh_today" in scheduled
    for task in scheduled:
        assert queue_of(task) in DECLARED, task


@pytest.mark.redis
def test_a_task_sent_through_redis_lands_in_its_queue():
    """No worker runs here: each message stays in the Redis list named after its queue."""
    client = redis.Redis.from_url(settings.CELERY_BROKER_URL)
    client.delete(*DECLARED)
    try:
        sent = {
            "dashboards.tasks.rollups_refresh_today": (),
            "automation.tasks.message_send": (1,),
            "automation.tasks.nightly_finish": (1,),
            "collections_app.tasks.contactability_roll": (),
        }
        for name, args in sent.items():
            app.tasks[name].apply_async(args)
        assert {queue: client.llen(queue) for queue in sorted(DECLARED)} == {
            "default": 1,
            "messages": 1,
            "nightly": 1,
            "rollups": 1,
        }
    finally:
        client.delete(*DECLARED)
