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
one script run (one round trip). DRF's own throttle read and rewrote the list of the user's request
times (up to 1,200 of them, pickled) on every call: about a third of a small list request.
A refused call counts too, so a client that keeps calling stays refused until it slows down.

While a user is far below the limit (room for at least 2 x BATCH more calls in the estimate), the
script counts BATCH calls at once and this process serves the other BATCH - 1 from a local stock,
without asking Redis again, until the window ends. The shared count always includes every call
handed out, so all processes together never let more than the limit through; near the limit each
call is counted singly again, as before. The cost: a user just under the limit may be refused by one
process while another still holds a few calls of its stock (at most BATCH - 1 each).
"""

import hashlib
import threading

from django.core.cache import DEFAULT_CACHE_ALIAS, caches
from django.core.cache.backends.redis import RedisCache
from redis.exceptions import NoScriptError
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


BATCH = 10

# KEYS: this window's counter, the previous window's. ARGV: batch, expiry, limit, the weight of the
# previous window. Counts one call, or a batch while the user is far below the limit.
_COUNT_SCRIPT = """
local now = tonumber(redis.call('GET', KEYS[1]) or '0')
local before = tonumber(redis.call('GET', KEYS[2]) or '0')
local take = 1
if tonumber(ARGV[3]) - before * tonumber(ARGV[4]) - now >= 2 * tonumber(ARGV[1]) then
  take = tonumber(ARGV[1])
end
now = redis.call('INCRBY', KEYS[1], take)
redis.call('EXPIRE', KEYS[1], ARGV[2])
return {now, before, take}
"""
_COUNT_SCRIPT_SHA = hashlib.sha1(_COUNT_SCRIPT.encode()).hexdigest()  # noqa: S324 - Redis names scripts so


def _window_counts(
    key: str, previous_key: str, duration: int, *, limit: int = 0, weight: float = 1.0
) -> tuple[int, int, int]:
    """Count calls in window `key`: (calls in it so far, calls in `previous_key`, calls counted now -
    one, or BATCH when `limit` leaves room for twice as many)."""
    # The backend itself: `django.core.cache.cache` is a proxy, never an instance of RedisCache (so the
    # Redis path was never taken, and each call cost three round trips).
    cache = caches[DEFAULT_CACHE_ALIAS]
    if isinstance(cache, RedisCache):
        key, previous_key = cache.make_and_validate_key(key), cache.make_and_validate_key(previous_key)
        client = cache._cache.get_client(key, write=True)
        arguments = (2, key, previous_key, BATCH, 2 * duration, limit, repr(weight))
        try:
            now, before, take = client.evalsha(_COUNT_SCRIPT_SHA, *arguments)
        except NoScriptError:  # a restarted or flushed Redis: load it once more
            client.script_load(_COUNT_SCRIPT)
            now, before, take = client.evalsha(_COUNT_SCRIPT_SHA, *arguments)
        return int(now), int(before), int(take)
    cache.add(key, 0, 2 * duration)
    try:
        now = cache.incr(key)
    except ValueError:  # expired between the two calls
        cache.set(key, 1, 2 * duration)
        now = 1
    return now, int(cache.get(previous_key) or 0), 1


class _Stock:
    """Calls already counted in Redis and not yet served by this process, per user and window."""

    def __init__(self):
        self._lock = threading.Lock()
        self._window: dict[tuple, int] = {}  # (num_requests, duration) -> the window the stock is for
        self._left: dict[tuple, int] = {}  # (num_requests, duration, user key) -> calls left

    def take(self, rate: tuple, window: int, key: str) -> bool:
        with self._lock:
            if self._window.get(rate) != window:
                return False
            left = self._left.get((*rate, key), 0)
            if left <= 0:
                return False
            self._left[(*rate, key)] = left - 1
            return True

    def put(self, rate: tuple, window: int, key: str, calls: int) -> None:
        with self._lock:
            if self._window.get(rate) != window:  # a new window: what is left of the last one lapses
                self._window[rate] = window
                self._left = {k: v for k, v in self._left.items() if k[:2] != rate}
            self._left[(*rate, key)] = calls

    def clear(self) -> None:
        with self._lock:
            self._window.clear()
            self._left.clear()


stock = _Stock()


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
        window = int(window)
        self.window_left = self.duration - into
        rate = (self.num_requests, self.duration)
        if stock.take(rate, window, key):
            return True
        weight = 1 - into / self.duration
        now, before, take = _window_counts(
            f"{key}:{window}", f"{key}:{window - 1}", self.duration, limit=self.num_requests, weight=weight
        )
        if take > 1:
            stock.put(rate, window, key, take - 1)
        return before * weight + now <= self.num_requests

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
