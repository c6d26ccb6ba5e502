"""Failed sign-ins lock out (django-axes; accounts.lockout): 5 failures in a row lock the username from
any address, and the address for any username, for 15 minutes, on every sign-in path - the login page,
the admin's login (which sends people to the same page) and the API token endpoint. Locked out is a
clear 429 (a page with the message, or the API's `locked_out` error), never a 500, and every failure is
recorded where admins see it.

Personas: `agent` (agent_a) is the one guessed at; `other_agent` (agent_b) signs in from the same desk;
`admin_user` reads the records and unlocks. Addresses are from the documentation ranges (RFC 5737)."""

from datetime import timedelta

import pytest
import time_machine
from axes.models import AccessAttempt, AccessFailureLog, AccessLog
from django.contrib.auth import SESSION_KEY
from django.core.cache import cache
from django.urls import reverse
from knox.models import AuthToken
from rest_framework.test import APIClient

from tests.factories import TEST_PASSWORD

pytestmark = pytest.mark.django_db

DESK = "192.0.2.10"
ELSEWHERE = "198.51.100.20"
LOCKED = "Too many failed sign-in attempts"


@pytest.fixture(autouse=True)
def _fresh_throttles():
    cache.clear()  # the API's token throttle counts in the cache, which outlives a test's transaction
    yield
    cache.clear()


@pytest.fixture(autouse=True)
def _clock():
    with time_machine.travel("2026-06-02 10:00 +0800", tick=False) as traveller:
        yield traveller


def sign_in(client, username, password, address=DESK):
    return client.post(reverse("login"), {"username": username, "password": password}, REMOTE_ADDR=address)


def token_request(username, password, address=DESK):
    return APIClient().post(
        "/api/v1/auth/token/",
        {"username": username, "password": password},
        format="json",
        REMOTE_ADDR=address,
    )


def signed_in(client) -> bool:
    return SESSION_KEY in client.session


def test_the_fifth_wrong_password_locks_the_page_with_a_message(client, agent):
    answers = [sign_in(client, "agent_a", f"guess-{n}") for n in range(5)]

    assert [a.status_code for a in answers[:4]] == [200] * 4
    assert "did not match" in answers[3].content.decode()
    assert answers[4].status_code == 429
    assert LOCKED in answers[4].content.decode()
    assert "15 minutes" in answers[4].content.decode()


def test_the_right_password_is_refused_while_locked_out(client, agent):
    for n in range(5):
        sign_in(client, "agent_a", f"guess-{n}")

    answer = sign_in(client, "agent_a", TEST_PASSWORD)

    assert answer.status_code == 429
    assert LOCKED in answer.content.decode()
    assert not signed_in(client)


def test_the_lockout_ends_after_fifteen_minutes(client, agent, _clock):
    for n in range(5):
        sign_in(client, "agent_a", f"guess-{n}")
    _clock.shift(timedelta(minutes=14))
    assert sign_in(client, "agent_a", TEST_PASSWORD).status_code == 429  # does not prolong the lockout

    _clock.shift(timedelta(minutes=1, seconds=1))
    answer = sign_in(client, "agent_a", TEST_PASSWORD)

    assert answer.status_code == 302
    assert signed_in(client)


def test_a_username_is_locked_whatever_address_the_guesses_come_from(client, agent):
    for n in range(5):
        sign_in(client, "agent_a", f"guess-{n}", address=f"203.0.113.{n + 1}")

    assert sign_in(client, "agent_a", TEST_PASSWORD, address=ELSEWHERE).status_code == 429


def test_an_address_trying_many_usernames_is_locked_but_not_the_users_elsewhere(client, agent):
    for name in ["alice", "bob", "carol", "dave", "erin"]:
        sign_in(client, name, "Spring2026!", address=DESK)

    assert sign_in(client, "agent_a", TEST_PASSWORD, address=DESK).status_code == 429
    assert sign_in(client, "agent_a", TEST_PASSWORD, address=ELSEWHERE).status_code == 302


def test_a_successful_sign_in_clears_the_count_of_that_username(client, agent):
    for n in range(4):
        sign_in(client, "agent_a", f"guess-{n}")
    assert sign_in(client, "agent_a", TEST_PASSWORD).status_code == 302
    client.logout()

    answers = [sign_in(client, "agent_a", f"typo-{n}").status_code for n in range(4)]

    assert answers == [200] * 4


def test_signing_in_as_oneself_does_not_wipe_guesses_at_a_colleague(client, agent, other_agent):
    for n in range(4):
        sign_in(client, "agent_a", f"guess-{n}")
    assert sign_in(client, "agent_b", TEST_PASSWORD).status_code == 302
    client.logout()

    assert sign_in(client, "agent_a", "guess-5").status_code == 429


def test_the_admin_login_sends_people_to_the_one_locked_page(client, agent):
    for n in range(5):
        sign_in(client, "agent_a", f"guess-{n}")

    admin_login = client.post(
        reverse("admin:login"), {"username": "agent_a", "password": TEST_PASSWORD}, REMOTE_ADDR=DESK
    )

    assert admin_login.status_code == 302
    assert admin_login["Location"].startswith(reverse("login"))
    assert not signed_in(client)
    assert sign_in(client, "agent_a", TEST_PASSWORD).status_code == 429


def test_the_api_token_endpoint_locks_out_with_its_error_code(agent):
    answers = [token_request("agent_a", f"guess-{n}") for n in range(5)]

    assert [a.status_code for a in answers[:4]] == [401] * 4
    assert answers[4].status_code == 429
    body = answers[4].json()
    assert body["code"] == "locked_out"
    assert LOCKED in body["message"]
    assert answers[4]["Retry-After"] == "900"

    right = token_request("agent_a", TEST_PASSWORD)
    assert right.status_code == 429
    assert right.json()["code"] == "locked_out"
    assert not AuthToken.objects.filter(user=agent).exists()


def test_guesses_on_the_page_and_the_api_add_up(client, agent):
    for n in range(3):
        sign_in(client, "agent_a", f"guess-{n}")
    for n in range(2):
        token_request("agent_a", f"api-guess-{n}", address=ELSEWHERE)

    assert sign_in(client, "agent_a", TEST_PASSWORD).status_code == 429


def test_every_failure_and_the_lockout_are_recorded(client, agent):
    for n in range(5):
        sign_in(client, "agent_a", f"guess-{n}")
    sign_in(client, "agent_a", TEST_PASSWORD)

    attempt = AccessAttempt.objects.get(username="agent_a")
    assert (attempt.ip_address, attempt.failures_since_start) == (DESK, 5)
    failures = AccessFailureLog.objects.filter(username="agent_a").order_by("attempt_time", "pk")
    assert [f.locked_out for f in failures] == [False, False, False, False, True]
    assert "guess" not in attempt.post_data  # the passwords tried are masked
    assert not AccessLog.objects.filter(username="agent_a").exists()


def test_admins_see_the_lockout_and_unlock_by_deleting_the_attempts(client, agent, admin_user):
    guesser = client.__class__()
    for n in range(5):
        sign_in(guesser, "agent_a", f"guess-{n}")
    client.force_login(admin_user)

    listing = client.get("/admin/axes/accessattempt/")
    failures = client.get("/admin/axes/accessfailurelog/")
    attempt = AccessAttempt.objects.get(username="agent_a")
    deleted = client.post(f"/admin/axes/accessattempt/{attempt.pk}/delete/", {"post": "yes"})

    assert listing.status_code == 200
    assert "agent_a" in listing.content.decode()
    assert failures.status_code == 200
    assert deleted.status_code == 302
    assert sign_in(guesser, "agent_a", TEST_PASSWORD).status_code == 302


def test_only_admins_open_the_sign_in_records(client, supervisor):
    client.force_login(supervisor)

    assert client.get("/admin/axes/accessattempt/").status_code in (302, 403)


def test_a_sign_in_without_a_request_is_not_counted_and_does_not_fail(client, agent):
    # Django's test client's login() and the shell call authenticate() without a request.
    assert client.login(username="agent_a", password=TEST_PASSWORD)
    assert not client.login(username="agent_a", password="wrong")
    assert not AccessAttempt.objects.exists()
