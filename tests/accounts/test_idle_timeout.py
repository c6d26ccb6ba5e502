"""A signed-in user is signed out after a time without activity that depends on the role
(settings.IDLE_TIMEOUT_MINUTES: admin 15, supervisor and legal 30, agent 60;
accounts.middleware.IdleTimeoutMiddleware). The last activity lives in the session, written at most once
a minute; a page's own background requests (the case page renewing its lease) are not activity.

Personas: `agent` (60 minutes) and `admin_user` (15 minutes)."""

from datetime import timedelta

import pytest
import time_machine
from django.contrib.auth import SESSION_KEY
from django.urls import reverse

from accounts.middleware import IdleTimeoutMiddleware
from config import settings as project_settings

pytestmark = pytest.mark.django_db

HOME = reverse("home")


@pytest.fixture
def clock():
    with time_machine.travel("2026-06-02 10:00 +0800", tick=False) as traveller:
        yield traveller


def signed_in(client) -> bool:
    return SESSION_KEY in client.session


@pytest.fixture(autouse=True)
def _shipped_idle_limits(settings):
    """The limits as shipped (the suite's own settings switch them off: other tests move the clock by
    hours between two requests)."""
    settings.IDLE_TIMEOUT_MINUTES = dict(project_settings.IDLE_TIMEOUT_MINUTES)


def test_an_agent_is_signed_out_after_an_hour_without_activity_with_a_message(client, agent, clock):
    client.force_login(agent)
    assert client.get(HOME).status_code == 200

    clock.shift(timedelta(minutes=61))
    response = client.get(HOME)

    assert response.status_code == 302
    assert response["Location"] == f"{reverse('login')}?next={HOME}"
    assert not signed_in(client)
    login_page = client.get(response["Location"])
    assert "You were signed out after 60 minutes without activity." in login_page.content.decode()


def test_an_agent_working_within_the_hour_stays_signed_in(client, agent, clock):
    client.force_login(agent)
    client.get(HOME)

    for _ in range(3):
        clock.shift(timedelta(minutes=50))
        assert client.get(HOME).status_code == 200

    assert signed_in(client)


def test_an_admin_is_signed_out_after_fifteen_minutes(client, admin_user, clock):
    client.force_login(admin_user)
    client.get(HOME)

    clock.shift(timedelta(minutes=14))
    assert client.get(HOME).status_code == 200
    clock.shift(timedelta(minutes=16))

    assert client.get(reverse("admin:index")).status_code == 302
    assert not signed_in(client)


def test_the_limits_come_from_the_settings(client, agent, clock, settings):
    settings.IDLE_TIMEOUT_MINUTES = {**settings.IDLE_TIMEOUT_MINUTES, "agent": 5}
    client.force_login(agent)
    client.get(HOME)

    clock.shift(timedelta(minutes=6))

    assert client.get(HOME).status_code == 302


def test_zero_minutes_means_no_idle_limit(client, agent, clock, settings):
    settings.IDLE_TIMEOUT_MINUTES = {**settings.IDLE_TIMEOUT_MINUTES, "agent": 0}
    client.force_login(agent)
    client.get(HOME)

    clock.shift(timedelta(hours=8))

    assert client.get(HOME).status_code == 200


def test_an_htmx_request_after_the_limit_gets_401_and_a_redirect_for_the_whole_page(client, agent, clock):
    client.force_login(agent)
    client.get(HOME)

    clock.shift(timedelta(minutes=61))
    response = client.get(
        HOME, headers={"HX-Request": "true", "HX-Current-URL": "http://testserver/queues/?page=2"}
    )

    assert response.status_code == 401
    assert response["HX-Redirect"] == f"{reverse('login')}?next=/queues/%3Fpage%3D2"
    assert not signed_in(client)


def test_the_case_pages_lease_renewals_do_not_count_as_activity(client, agent, clock):
    client.force_login(agent)
    client.get(HOME)

    for _ in range(12):  # the open case page renews its lease every five minutes
        clock.shift(timedelta(minutes=5))
        client.post(reverse("case_renew_lease", args=[999_999]))
    clock.shift(timedelta(minutes=1, seconds=1))

    assert client.get(HOME).status_code == 302


def test_the_last_activity_is_written_at_most_once_a_minute(client, agent, clock):
    client.force_login(agent)
    client.get(HOME)
    first = client.session[IdleTimeoutMiddleware.SESSION_KEY]

    clock.shift(timedelta(seconds=30))
    client.get(HOME)
    assert client.session[IdleTimeoutMiddleware.SESSION_KEY] == first

    clock.shift(timedelta(seconds=31))
    client.get(HOME)
    assert client.session[IdleTimeoutMiddleware.SESSION_KEY] == first + 61


def test_anonymous_pages_are_untouched(client, clock):
    assert client.get(reverse("login")).status_code == 200
    assert IdleTimeoutMiddleware.SESSION_KEY not in client.session
