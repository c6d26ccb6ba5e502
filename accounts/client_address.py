"""The one rule for "which address is this client": sign-in lockout (django-axes, through
AXES_CLIENT_IP_CALLABLE) and the API throttles count by it, so that they always agree."""

from __future__ import annotations

import ipaddress

from django.conf import settings
from django.http import HttpRequest


def client_ip(request: HttpRequest) -> str | None:
    """The client's address: REMOTE_ADDR, or, behind settings.TRUSTED_PROXY_COUNT proxies that each append
    the address they received from to X-Forwarded-For, the entry that many places from the right.

    Only the entries the trusted proxies appended are believed: everything to their left was written by
    the client and is ignored, so a made-up header cannot move a client to a fresh lockout or throttle
    counter. With the count at 0 (the default) the header is ignored altogether. A request with fewer
    entries than trusted proxies came round them, and an entry that is not an IP address is garbage: both
    are counted by REMOTE_ADDR, the peer that really sent them. DRF's request is accepted too (it hands
    META through)."""
    remote = request.META.get("REMOTE_ADDR") or None
    hops = settings.TRUSTED_PROXY_COUNT
    if hops <= 0:
        return remote
    forwarded = [entry.strip() for entry in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")]
    forwarded = [entry for entry in forwarded if entry]
    if len(forwarded) < hops:
        return remote
    try:
        return str(ipaddress.ip_address(forwarded[-hops]))
    except ValueError:
        return remote
