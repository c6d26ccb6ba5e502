"""The run-records page and the message log: who may see them, what they show, their query budgets."""

import pytest
from django.urls import reverse

from automation import pipeline as nightly
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
    html = client.get(reverse("automation_messages"), {"status": "sent", "channel": "email"}).content.decode()
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
