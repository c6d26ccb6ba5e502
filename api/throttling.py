"""Throttling per user (per client address for the token endpoint).

A client's address is accounts.client_address.client_ip, the rule sign-in lockout uses too: REMOTE_ADDR,
or behind DJANGO_TRUSTED_PROXY_COUNT proxies the address they saw, never what the client wrote into
X-Forwarded-For (DRF's own get_ident trusts that header, so a new made-up value was a fresh counter).

Rates come from REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"] when the settings name them, else from
DEFAULT_RATES below. They are read at request time (DRF's classes read them once at import), so a
changed setting - or a test's override_settings - takes effect at once. Counters live in Django's
cache: with several web processes, configure a shared cache (Redis) or each process counts alone.

The per-user limit, checked on every API call, counts in two fixed windows and weighs the previous
one by how much of it still overlaps the last `duration` seconds (a sliding-window estimate): on Redis
one round trip of three small commands. DRF's own throttle read and rewrote the list of the user's
request times (up to 1,200 of them, pickled) on every call: about a third of a small list request.
A refused call counts too, so a client that keeps calling stays refused until it slows down.
"""

from django.core.cache import cache
from django.core.cache.backends.redis import RedisCache
from rest_framework.settings import api_settings
from rest_framework.throttling import ScopedRateThrottle, SimpleRateThrottle, UserRateThrottle

from accounts.client_address import client_ip

DEFAULT_RATES = {
    "user": "1200/min",  # every API call of one user (a dialer posting outcomes, a report paging)
    "auth": "20/min",  # token requests per client address: slows password guessing
    "imports": "60/hour",  # bulk imports per user
}


def rate_for(scope: str) -> str | None:
    configured = api_settings.DEFAULT_THROTTLE_RATES or {}
    return configured.get(scope, DEFAULT_RATES.get(scope))


class _RatesFromSettings:
    def get_rate(self):
        return rate_for(self.scope)

    def get_ident(self, request):
        return client_ip(request)


def _window_counts(key: str, previous_key: str, duration: int) -> tuple[int, int]:
    """Count one call in window `key`; (calls in it so far, calls in `previous_key`)."""
    if isinstance(cache, RedisCache):
        key, previous_key = cache.make_and_validate_key(key), cache.make_and_validate_key(previous_key)
        client = cache._cache.get_client(key, write=True)
        with client.pipeline(transaction=False) as pipe:
            pipe.incr(key)
            pipe.expire(key, 2 * duration)
            pipe.get(previous_key)
            now, _expiry, before = pipe.execute()
        return int(now), int(before or 0)
    cache.add(key, 0, 2 * duration)
    try:
        now = cache.incr(key)
    except ValueError:  # expired between the two calls
        cache.set(key, 1, 2 * duration)
        now = 1
    return now, int(cache.get(previous_key) or 0)


class UserThrottle(_RatesFromSettings, UserRateThrottle):
    """Every API call of one user: at most `num_requests` in any `duration` seconds (estimated)."""

    scope = "user"

    def allow_request(self, request, view):
        if self.rate is None:
            return True
        key = self.get_cache_key(request, view)
        if key is None:
            return True
        moment = self.timer()
        window, into = divmod(moment, self.duration)
        now, before = _window_counts(f"{key}:{int(window)}", f"{key}:{int(window) - 1}", self.duration)
        self.window_left = self.duration - into
        return before * (1 - into / self.duration) + now <= self.num_requests

    def wait(self):
        return max(1.0, self.window_left)


class ImportThrottle(_RatesFromSettings, ScopedRateThrottle):
    """Scoped by the view's `throttle_scope` ("imports")."""

    def allow_request(self, request, view):
        self.scope = getattr(view, self.scope_attr, None)
        if not self.scope:
            return True
        self.rate = self.get_rate()
        self.num_requests, self.duration = self.parse_rate(self.rate)
        return SimpleRateThrottle.allow_request(self, request, view)


class AuthThrottle(_RatesFromSettings, SimpleRateThrottle):
    """Token requests, per client address (the caller is not authenticated yet)."""

    scope = "auth"

    def get_cache_key(self, request, view):
        return self.cache_format % {"scope": self.scope, "ident": self.get_ident(request)}
