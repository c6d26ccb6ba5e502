"""Throttling per user (per client address for the token endpoint).

A client's address is accounts.client_address.client_ip, the rule sign-in lockout uses too: REMOTE_ADDR,
or behind DJANGO_TRUSTED_PROXY_COUNT proxies the address they saw, never what the client wrote into
X-Forwarded-For (DRF's own get_ident trusts that header, so a new made-up value was a fresh counter).

Rates come from REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"] when the settings name them, else from
DEFAULT_RATES below. They are read at request time (DRF's classes read them once at import), so a
changed setting - or a test's override_settings - takes effect at once. Counters live in Django's
cache: with several web processes, configure a shared cache (Redis) or each process counts alone.
"""

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


class UserThrottle(_RatesFromSettings, UserRateThrottle):
    scope = "user"


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
