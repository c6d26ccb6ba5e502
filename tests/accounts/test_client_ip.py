"""One rule for the client's address (accounts.client_address.client_ip), used by sign-in lockout and by
the API's token throttle: REMOTE_ADDR, or behind DJANGO_TRUSTED_PROXY_COUNT proxies the entry of
X-Forwarded-For that the outermost trusted proxy wrote. What the client writes into the header itself
never moves it to a fresh counter. Addresses are from the documentation ranges (RFC 5737)."""

import pytest
from axes.models import AccessAttempt
from django.core.cache import cache
from django.test import RequestFactory
from django.urls import reverse
from rest_framework.test import APIClient

from accounts.client_address import client_ip

PROXY = "192.0.2.1"
CLIENT = "203.0.113.7"
FORGED = "198.51.100.66"


def request_from(remote=PROXY, forwarded=None):
    headers = {"REMOTE_ADDR": remote}
    if forwarded is not None:
        headers["HTTP_X_FORWARDED_FOR"] = forwarded
    return RequestFactory().get("/", **headers)


def test_without_trusted_proxies_a_forged_header_is_ignored(settings):
    settings.TRUSTED_PROXY_COUNT = 0

    assert client_ip(request_from(remote=CLIENT, forwarded=FORGED)) == CLIENT


def test_behind_one_proxy_the_right_most_entry_is_the_client(settings):
    settings.TRUSTED_PROXY_COUNT = 1

    assert client_ip(request_from(forwarded=CLIENT)) == CLIENT
    # A client that sends its own header only adds entries to the left of the proxy's.
    assert client_ip(request_from(forwarded=f"{FORGED}, {CLIENT}")) == CLIENT


def test_behind_two_proxies_the_second_entry_from_the_right_is_the_client(settings):
    settings.TRUSTED_PROXY_COUNT = 2

    assert client_ip(request_from(forwarded=f"{FORGED}, {CLIENT}, 192.0.2.2")) == CLIENT


@pytest.mark.parametrize(
    "forwarded",
    [None, "", "not-an-address", "203.0.113.7:5555"],
    ids=["no header", "empty", "garbage", "with a port"],
)
def test_a_missing_or_unreadable_header_counts_the_peer(settings, forwarded):
    settings.TRUSTED_PROXY_COUNT = 1

    assert client_ip(request_from(forwarded=forwarded)) == PROXY


def test_fewer_entries_than_trusted_proxies_counts_the_peer(settings):
    settings.TRUSTED_PROXY_COUNT = 2

    assert client_ip(request_from(forwarded=CLIENT)) == PROXY


def test_ipv6_addresses_are_read_and_written_the_one_way(settings):
    settings.TRUSTED_PROXY_COUNT = 1

    assert client_ip(request_from(forwarded="2001:DB8:0:0::7")) == "2001:db8::7"


# --- the same rule where it counts ----------------------------------------------------------------


@pytest.fixture
def _fresh_throttles(settings):
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": {"auth": "2/min"}}
    cache.clear()
    yield
    cache.clear()


def token_request(remote, forwarded):
    return APIClient().post(
        "/api/v1/auth/token/",
        {"username": "nobody", "password": "guess"},
        format="json",
        REMOTE_ADDR=remote,
        HTTP_X_FORWARDED_FOR=forwarded,
    )


@pytest.mark.django_db
@pytest.mark.usefixtures("_fresh_throttles")
def test_a_new_forged_header_does_not_reset_the_token_throttle(settings):
    settings.TRUSTED_PROXY_COUNT = 0

    statuses = [token_request(CLIENT, f"198.51.100.{n}").status_code for n in range(3)]

    assert statuses == [401, 401, 429]


@pytest.mark.django_db
@pytest.mark.usefixtures("_fresh_throttles")
def test_behind_a_proxy_the_token_throttle_counts_each_client_apart(settings):
    settings.TRUSTED_PROXY_COUNT = 1

    mine = [token_request(PROXY, f"198.51.100.{n}, {CLIENT}").status_code for n in range(3)]
    someone_else = token_request(PROXY, "203.0.113.8").status_code

    assert mine == [401, 401, 429]
    assert someone_else == 401


@pytest.mark.django_db
@pytest.mark.parametrize(("count", "counted"), [(0, PROXY), (1, CLIENT)])
def test_lockout_records_the_address_by_the_same_rule(client, settings, count, counted):
    settings.TRUSTED_PROXY_COUNT = count

    client.post(
        reverse("login"),
        {"username": "nobody", "password": "guess"},
        REMOTE_ADDR=PROXY,
        HTTP_X_FORWARDED_FOR=f"{FORGED}, {CLIENT}",
    )

    assert AccessAttempt.objects.get(username="nobody").ip_address == counted
