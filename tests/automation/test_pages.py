"""The run-records page and the message log: who may see them, what they show, their query budgets."""

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from automation import pipeline as nightly
from automation.models import NightlyRun, RunStatus
from messaging import services as messaging
from tests.automation.conftest import AS_OF, overdue
from tests.factories import ContactPointFactory, UserFactory, open_case

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.urls("tests.automation.urls"),
    pytest.mark.usefixtures("night", "defaults", "outbox"),
]


@pytest.fixture
def runs(portfolio, monkeypatch):
    """A succeeded run, then a failed one (its reminders step raised)."""
    nightly.run_pipeline(as_of=AS_OF)

    def broken(ctx):
        raise RuntimeError("outbox full")

    steps = list(nightly.STEPS)
    at = [step.name for step in steps].index("reminders")
    monkeypatch.setattr(
        nightly, "STEPS", [*steps[:at], nightly.Step("reminders", broken, ""), *steps[at + 1 :]]
    )
    return nightly.run_pipeline(as_of=AS_OF, again=True)


@pytest.mark.parametrize("name", ["automation_runs", "automation_messages"])
def test_anonymous_users_are_sent_to_log_in(client, name):
    response = client.get(reverse(name))
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]


@pytest.mark.parametrize("persona", ["agent", "legal"])
@pytest.mark.parametrize("name", ["automation_runs", "automation_messages"])
def test_agents_and_legal_reviewers_may_not_see_them(client, request, persona, name):
    client.force_login(request.getfixturevalue(persona))
    assert client.get(reverse(name)).status_code == 403


def test_the_runs_page_shows_runs_steps_counts_and_errors(client, supervisor, runs):
    client.force_login(supervisor)
    html = client.get(reverse("automation_runs")).content.decode()
    assert html.count('data-testid="run"') == 2
    assert f"2026-06-02 · #{runs.pk}" in html and "Succeeded" in html and "Failed" in html
    assert "reminders: outbox full" in html  # the run's error
    assert "RuntimeError: outbox full" in html  # the step's traceback
    assert "accounts_updated: <strong>" in html and "opened: <strong>1</strong>" in html
    assert "by_purpose · overdue_notice: <strong>2</strong>" in html


def test_the_runs_page_has_a_query_budget(client, admin_user, runs, django_assert_max_num_queries):
    for _ in range(5):
        nightly.run_pipeline(as_of=AS_OF)
    client.force_login(admin_user)
    with django_assert_max_num_queries(8):
        assert client.get(reverse("automation_runs")).status_code == 200


def test_the_runs_page_answers_htmx_with_the_list_only(client, supervisor, runs):
    client.force_login(supervisor)
    html = client.get(reverse("automation_runs"), HTTP_HX_REQUEST="true").content.decode()
    assert html.lstrip().startswith('<div id="runs">') and "<html" not in html


@pytest.fixture
def sent(night, portfolio):
    flagged = open_case(team=None, **overdue(7, cardholder__do_not_contact=True))
    ContactPointFactory(cardholder=flagged.account.cardholder)
    nightly.run_pipeline(as_of=AS_OF)
    night.move_to("2026-06-02 09:01 +0800")
    messaging.send_due_now()


def test_the_message_log_shows_outcomes_with_recipients_masked(client, admin_user, sent, portfolio):
    client.force_login(admin_user)
    html = client.get(reverse("automation_messages")).content.decode()
    assert portfolio.noticed.reference in html
    assert "+86138****0007" in html and "+8613800000007" not in html
    assert "w***@example.com" in html and "wang.wei@example.com" not in html
    assert "do_not_contact" in html and "flagged do-not-contact" in html  # suppressed, with the reason


def test_the_message_log_filters(client, admin_user, sent, portfolio):
    client.force_login(admin_user)
    query = {"status": "written", "channel": "email"}  # the file provider writes, never sends
    html = client.get(reverse("automation_messages"), query).content.decode()
    assert html.count('data-testid="message"') == 1
    html = client.get(reverse("automation_messages"), {"case": "no-such-case"}).content.decode()
    assert 'data-testid="message"' not in html


def test_a_supervisor_sees_only_the_messages_of_their_teams_cases(
    client, supervisor, sent, portfolio, team_b
):
    other = UserFactory(username="sup_b", role="supervisor", team=team_b)
    client.force_login(other)
    html = client.get(reverse("automation_messages")).content.decode()
    assert 'data-testid="message"' not in html
    client.force_login(supervisor)
    html = client.get(reverse("automation_messages")).content.decode()
    assert portfolio.noticed.reference in html


def test_the_message_log_has_a_query_budget(client, admin_user, sent, django_assert_max_num_queries):
    for _ in range(10):
        open_case()
    client.force_login(admin_user)
    with django_assert_max_num_queries(6):
        assert client.get(reverse("automation_messages")).status_code == 200


# --- Run now, and following a run -----------------------------------------------------------------


@pytest.fixture
def eager_celery():
    """Tasks run in this process when queued (the chain of steps, here)."""
    from config.celery import app

    app.conf.task_always_eager = True
    yield
    app.conf.task_always_eager = False


def test_an_admin_starts_todays_run_from_the_runs_page_and_it_runs_on_the_worker(
    client, admin_user, portfolio, eager_celery, django_capture_on_commit_callbacks
):
    client.force_login(admin_user)
    page = client.get(reverse("automation_runs")).content.decode()
    assert 'data-testid="run-now"' in page and "Run now for 2026-06-02" in page

    with django_capture_on_commit_callbacks(execute=True) as queued:
        response = client.post(reverse("automation_run_start"), follow=True)

    assert len(queued) == 1  # the chain goes to the worker once the run record is committed
    run = NightlyRun.objects.get()
    assert (run.run_date, run.trigger) == (AS_OF, "page:admin")
    assert run.status == RunStatus.SUCCEEDED
    assert list(run.steps.values_list("name", "status")) == [(n, "succeeded") for n in nightly.STEP_NAMES]
    assert f"Run #{run.pk} for 2026-06-02 started" in response.content.decode()


def test_run_now_is_refused_while_a_live_run_works(client, admin_user, django_capture_on_commit_callbacks):
    working = NightlyRun.objects.create(
        run_date=AS_OF, owner="elsewhere:1", started_at=timezone.now(), heartbeat_at=timezone.now()
    )
    client.force_login(admin_user)

    with django_capture_on_commit_callbacks(execute=False) as queued:
        response = client.post(reverse("automation_run_start"), follow=True)

    assert queued == [] and NightlyRun.objects.get() == working
    assert f"Not started: run #{working.pk} for 2026-06-02 is running" in response.content.decode()


def test_run_now_takes_over_a_run_that_went_silent(
    client, admin_user, settings, django_capture_on_commit_callbacks
):
    """A run whose worker died, or whose chain stopped, shows as silent and is taken over by Run now."""
    settings.COLLECTIONS_NIGHTLY_STALE_SECONDS = 300
    silent_since = timezone.now() - timedelta(seconds=301)
    silent = NightlyRun.objects.create(
        run_date=AS_OF, owner="elsewhere:1", started_at=silent_since, heartbeat_at=silent_since
    )
    client.force_login(admin_user)
    page = client.get(reverse("automation_runs")).content.decode()
    assert 'data-testid="run-stale"' in page
    assert 'data-testid="runs-watching"' not in page  # nothing to follow

    with django_capture_on_commit_callbacks(execute=False):
        client.post(reverse("automation_run_start"))

    silent.refresh_from_db()
    assert silent.status == RunStatus.INTERRUPTED
    assert NightlyRun.objects.filter(status=RunStatus.RUNNING, trigger="page:admin").exists()


def test_the_runs_page_follows_a_running_run_and_stops_when_it_is_done(client, supervisor):
    run = NightlyRun.objects.create(
        run_date=AS_OF, owner="elsewhere:1", started_at=timezone.now(), heartbeat_at=timezone.now()
    )
    client.force_login(supervisor)

    full = client.get(reverse("automation_runs")).content.decode()
    fragment = client.get(reverse("automation_runs"), HTTP_HX_REQUEST="true").content.decode()

    assert 'hx-trigger="every 2s"' in full and '<meta http-equiv="refresh"' in full  # the latter without JS
    assert 'hx-trigger="every 2s"' in fragment  # the poll answers with the next poll
    NightlyRun.objects.filter(pk=run.pk).update(status=RunStatus.SUCCEEDED, finished_at=timezone.now())
    fragment = client.get(reverse("automation_runs"), HTTP_HX_REQUEST="true").content.decode()
    assert "every 2s" not in fragment and "Succeeded" in fragment


@pytest.mark.parametrize("persona", ["supervisor", "agent"])
def test_only_admins_may_start_a_run(client, request, persona):
    client.force_login(request.getfixturevalue(persona))
    assert client.post(reverse("automation_run_start")).status_code == 403
    assert not NightlyRun.objects.exists()
    if persona == "supervisor":
        assert 'data-testid="run-now"' not in client.get(reverse("automation_runs")).content.decode()


def test_run_now_needs_a_post_and_a_login(client, admin_user):
    response = client.post(reverse("automation_run_start"))
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]
    client.force_login(admin_user)
    assert client.get(reverse("automation_run_start")).status_code == 405
    assert not NightlyRun.objects.exists()
