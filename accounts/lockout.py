"""Locking sign-in after repeated failures (django-axes; settings under "Authentication").

Every sign-in path calls django.contrib.auth.authenticate() with its request: the login page (the admin's
login sends people there too) and the API's token endpoint. The first authentication backend
(accounts.backends.LockoutBackend) refuses a locked-out client before the password is looked at; axes
records each failure (AccessAttempt, AccessFailureLog), flags the request, and its middleware turns a
flagged answer into lockout_response() below. Admins see the records, and unlock a user by deleting
their access attempts, in the admin pages."""

from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.translation import gettext, gettext_lazy, ngettext


def lockout_minutes() -> int | None:
    """How long a lockout lasts, in whole minutes; None when it lasts until an administrator lifts it."""
    cool_off = settings.AXES_COOLOFF_TIME
    if not cool_off:
        return None
    return max(1, round(cool_off.total_seconds() / 60))


def lockout_message() -> str:
    minutes = lockout_minutes()
    if minutes is None:
        return gettext(
            "Too many failed sign-in attempts. Signing in is locked until an administrator unlocks it."
        )
    return ngettext(
        "Too many failed sign-in attempts. Signing in is locked for %(minutes)s minute; try again "
        "later or ask an administrator to unlock it.",
        "Too many failed sign-in attempts. Signing in is locked for %(minutes)s minutes; try again "
        "later or ask an administrator to unlock it.",
        minutes,
    ) % {"minutes": minutes}


def is_locked_out(request: HttpRequest) -> bool:
    """Whether the sign-in attempted with this request was refused, or has just caused, a lockout."""
    return bool(getattr(request, "axes_locked_out", False))


def lockout_response(
    request: HttpRequest, original_response: HttpResponse | None = None, credentials: dict | None = None
) -> HttpResponse:
    """The answer to a locked-out sign-in (AXES_LOCKOUT_CALLABLE), 429 Too Many Requests.

    A JSON answer is kept as it is: the API's token endpoint answers its own lockouts, in the API's
    error envelope with code `locked_out` (api.views.auth). Everything else gets the sign-in page's
    lockout message."""
    if original_response is not None and original_response.get("Content-Type", "").startswith(
        "application/json"
    ):
        return original_response
    return render(request, "accounts/login_locked.html", {"message": lockout_message()}, status=429)


def name_the_lockout_records() -> None:
    """django-axes ships no Chinese: its app and record types get names of our own, in both languages, in
    the admin (called once from AccountsConfig.ready())."""
    from axes.models import AccessAttempt, AccessAttemptExpiration, AccessFailureLog, AccessLog
    from django.apps import apps

    apps.get_app_config("axes").verbose_name = gettext_lazy("Sign-in lockout")
    names = (
        (AccessAttempt, gettext_lazy("failed sign-in count"), gettext_lazy("failed sign-in counts")),
        (AccessFailureLog, gettext_lazy("failed sign-in"), gettext_lazy("failed sign-ins")),
        (AccessLog, gettext_lazy("sign-in record"), gettext_lazy("sign-in records")),
        (AccessAttemptExpiration, gettext_lazy("lockout expiry"), gettext_lazy("lockout expiries")),
    )
    for model, singular, plural in names:
        model._meta.verbose_name = singular
        model._meta.verbose_name_plural = plural
