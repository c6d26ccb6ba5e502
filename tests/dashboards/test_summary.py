"""The daily summary e-mailed to each supervisor through the messaging provider (the file outbox here)."""

from datetime import date, timedelta

import pytest
import time_machine

from dashboards import summary, tasks
from dashboards.models import DailySummary
from tests.dashboards.conftest import at, call, case_on

pytestmark = pytest.mark.django_db
DAY = date(2026, 5, 6)


@pytest.fixture
def outbox(settings, tmp_path):
    settings.COLLECTIONS_OUTBOX_DIR = str(tmp_path)
    settings.COLLECTIONS_EMAIL_PROVIDER = "file"
    return tmp_path / "email"


@pytest.fixture
def day_of_work(team_a, agent, supervisor):
    supervisor.email = "sup.a@bank.example"
    supervisor.language = "en"
    supervisor.save(update_fields=["email", "language"])
    case = case_on(DAY - timedelta(days=1), team=team_a)
    call(case, agent, at(DAY, 10), "rpc", seconds=90)
    call(case, agent, at(DAY, 15), "no_answer")
    return case


def test_each_supervisor_gets_yesterdays_figures_once(outbox, day_of_work, supervisor):
    with time_machine.travel(at(DAY + timedelta(days=1), 7), tick=False):
        assert summary.daily_summary_send(supervisor_id=supervisor.pk, day=DAY) == "sent"
        assert summary.daily_summary_send(supervisor_id=supervisor.pk, day=DAY) == "skipped"
    (message,) = outbox.iterdir()
    text = message.read_text()
    assert "To: sup.a@bank.example" in text
    assert "Subject: Collections summary 2026-05-06 · Team A" in text
    assert "Contact attempts" in text and " 2\n" in text
    assert "Right-party contact rate (per attempt)  50.0%" in text
    assert "/dashboards/" in text
    assert DailySummary.objects.get(supervisor=supervisor, day=DAY).status == "sent"


def test_the_summary_is_written_in_the_supervisors_language(outbox, day_of_work, supervisor):
    supervisor.language = "zh-hans"
    supervisor.save(update_fields=["language"])
    with time_machine.travel(at(DAY + timedelta(days=1), 7), tick=False):
        summary.daily_summary_send(supervisor_id=supervisor.pk, day=DAY)
    (message,) = outbox.iterdir()
    assert "Language: zh-hans" in message.read_text()


def test_the_scheduled_task_queues_one_summary_per_supervisor_with_an_address(
    outbox, day_of_work, supervisor, settings
):
    from tests.factories import UserFactory

    UserFactory(username="sup_noemail", role="supervisor", email="")
    settings.CELERY_TASK_ALWAYS_EAGER = True
    from config.celery import app

    app.conf.task_always_eager = True
    try:
        with time_machine.travel(at(DAY + timedelta(days=1), 7), tick=False):
            assert tasks.daily_summaries() == 1
    finally:
        app.conf.task_always_eager = False
    assert DailySummary.objects.filter(day=DAY).count() == 1


def test_a_send_that_died_midway_is_not_repeated_through_smtp(outbox, day_of_work, supervisor, settings):
    settings.COLLECTIONS_EMAIL_PROVIDER = "smtp"
    DailySummary.objects.create(supervisor=supervisor, day=DAY, key="k", attempts=1)
    assert summary.daily_summary_send(supervisor_id=supervisor.pk, day=DAY) == "failed"
    assert "outcome unknown" in DailySummary.objects.get(supervisor=supervisor, day=DAY).error
