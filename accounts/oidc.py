"""Single sign-on through an OpenID Connect provider (mozilla-django-oidc), configured by environment
(config/settings.py, "Single sign-on"; README "Single sign-on").

The provider is the source of truth for who may sign in and as what: each sign-in reads the groups
claim (settings.OIDC_GROUPS_CLAIM) and takes the highest role a group maps to (OIDC_ROLE_GROUPS), and the
team named by OIDC_TEAM_CLAIM if that is set; someone in no mapped group is refused and no user is made.
Users are found by the provider's `sub`, kept on User.oidc_subject; the first sign-in of an existing
user links them by e-mail address. Every change the provider makes to a user is written to the user's
admin history (LogEntry) and the log.

What stays ours: a sign-in here is the first factor only (the second is asked as after a password,
unless OIDC_TRUSTS_IDP_MFA and the ID token's `amr` says the provider asked one); a user or address
locked out by django-axes is refused here too (accounts.lockout), but a refused or failed sign-in here
is not a password guess and is not counted: a refusal is raised as SignInRefused, which Django's
authenticate() lets through without sending user_login_failed (the signal axes counts)."""

from __future__ import annotations

import hashlib
import logging
import time

import requests
from axes.handlers.proxy import AxesProxyHandler
from django.conf import settings
from django.contrib import messages
from django.contrib.admin.models import ADDITION, CHANGE, LogEntry
from django.core.exceptions import SuspiciousOperation
from django.db import transaction
from django.http import Http404, HttpResponseRedirect
from django.shortcuts import resolve_url
from django.utils import translation
from django.utils.translation import gettext
from mozilla_django_oidc.auth import OIDCAuthenticationBackend
from mozilla_django_oidc.views import OIDCAuthenticationCallbackView, OIDCAuthenticationRequestView

from accounts.lockout import is_locked_out, lockout_message, lockout_response
from accounts.middleware import TwoFactorMiddleware
from accounts.models import Role, Team, User
from accounts.two_factor import sign_in_allowed

log = logging.getLogger(__name__)

# Highest first: a member of several mapped groups gets the highest of their roles.
ROLE_RANK = (Role.ADMIN, Role.HEAD, Role.SUPERVISOR, Role.LEGAL, Role.TEAM_LEAD, Role.AGENT)
MFA_METHODS = {"mfa", "otp"}  # `amr` values (RFC 8176) that say the provider asked a second factor
CLOCK_SKEW_SECONDS = 60


def oidc_enabled() -> bool:
    return bool(getattr(settings, "OIDC_ENABLED", False))


def password_sign_in_closed() -> bool:
    """OIDC_ONLY: the sign-in page offers the provider's button only and refuses a password unchecked."""
    return oidc_enabled() and bool(getattr(settings, "OIDC_ONLY", False))


def provider_name() -> str:
    return settings.OIDC_PROVIDER_NAME or gettext("single sign-on")


class SignInRefused(Exception):
    """The provider vouched for someone this system does not let in; `message` is for the sign-in page."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


def _as_list(value) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, list | tuple):
        return [item for item in value if isinstance(item, str)]
    return []


def role_for_groups(groups: list[str]) -> str | None:
    """The highest role one of `groups` maps to (settings.OIDC_ROLE_GROUPS), or None."""
    held = set(groups)
    for role in ROLE_RANK:
        if held & set(settings.OIDC_ROLE_GROUPS.get(role.value, ())):
            return role.value
    return None


def _team_for(claims: dict) -> tuple[bool, Team | None]:
    """(whether the team is set by the provider at all, the team). Teams are made by admins, never here:
    a name no team has leaves the user without a team, and the log says so."""
    claim = settings.OIDC_TEAM_CLAIM
    if not claim:
        return False, None
    names = _as_list(claims.get(claim))
    if not names:
        log.warning("single sign-on: the claim %r names no team; the user is left without one", claim)
        return True, None
    team = Team.objects.filter(name=names[0]).first()
    if team is None:
        log.warning("single sign-on: no team is named %r; the user is left without one", names[0])
    return True, team


def _free_username(claims: dict, subject: str) -> str:
    wanted = (claims.get("preferred_username") or "").strip()[:150]
    if wanted and not User.objects.filter(username=wanted).exists():
        return wanted
    return f"sso-{hashlib.sha256(subject.encode()).hexdigest()[:16]}"


def _user_for(subject: str, claims: dict) -> User | None:
    """The user the provider's `sub` belongs to; on a first sign-in, an existing user with no subject yet
    and the claims' (verified) e-mail address, if exactly one has it."""
    user = User.objects.filter(oidc_subject=subject).first()
    if user is not None:
        return user
    email = (claims.get("email") or "").strip()
    if not email or claims.get("email_verified") is False:
        return None
    matches = list(User.objects.filter(oidc_subject="", email__iexact=email)[:2])
    if len(matches) > 1:
        log.warning("single sign-on: several users share the e-mail address of subject %s", subject)
        raise SignInRefused(
            gettext("Your account could not be matched to one user here. Ask an administrator.")
        )
    return matches[0] if matches else None


def _record(*, user: User, created: bool, changed: list[str], details: list[str]) -> None:
    """The provider's change to a user, in the user's admin history (by the user, who signed in) and the
    log (field names and roles/teams only: no names or addresses in the log)."""
    with translation.override(None):  # stored untranslated, as the admin stores its own
        fields = [str(User._meta.get_field(name).verbose_name) for name in changed]
    message = [{"added": {}}] if created else [{"changed": {"fields": fields}}]
    LogEntry.objects.log_actions(
        user_id=user.pk,
        queryset=[user],
        action_flag=ADDITION if created else CHANGE,
        change_message=message,
        single_object=True,
    )
    log.info(
        "single sign-on %s user %s: %s",
        "created" if created else "updated",
        user.pk,
        "; ".join(details) or ", ".join(changed),
    )


def oidc_user_sign_in(*, request, subject: str, claims: dict) -> User:
    """The user the provider signs in, made or updated from `claims` (role, team, names, e-mail).

    Raises SignInRefused (nothing written) when the groups map to no role, the user is deactivated, or
    locked out by axes (then `request.axes_locked_out` is set, as axes sets it, and the caller answers
    with the lockout page). Writes a LogEntry and a log line when anything changed."""
    role = role_for_groups(_as_list(claims.get(settings.OIDC_GROUPS_CLAIM)))
    if role is None:
        log.info("single sign-on refused for subject %s: no group maps to a role", subject)
        raise SignInRefused(
            gettext(
                "Your %(provider)s account is not in any group that may use this system. Ask your "
                "administrator for access."
            )
            % {"provider": provider_name()}
        )
    with transaction.atomic():
        user = _user_for(subject, claims)
        if user is not None and not user.is_active:
            log.info("single sign-on refused for user %s: deactivated", user.pk)
            raise SignInRefused(gettext("Your account here is deactivated. Ask an administrator."))
        if user is not None and not sign_in_allowed(request=request, user=user):
            log.info("single sign-on refused for user %s: locked out", user.pk)
            request.axes_locked_out = True
            raise SignInRefused(lockout_message())
        sets_team, team = _team_for(claims)
        wanted = {"oidc_subject": subject, "role": role}
        if sets_team:
            wanted["team"] = team
        for claim, field in (("given_name", "first_name"), ("family_name", "last_name"), ("email", "email")):
            value = claims.get(claim)
            if isinstance(value, str) and value.strip():
                wanted[field] = value.strip()[: User._meta.get_field(field).max_length]
        if user is None:
            user = User(username=_free_username(claims, subject), **wanted)
            user.set_unusable_password()
            user.save()
            _record(user=user, created=True, changed=[], details=[f"role {role}", f"team {team}"])
            return user
        changed = [name for name, value in wanted.items() if getattr(user, name) != value]
        details = [
            f"{name} {getattr(user, name)} -> {wanted[name]}" for name in ("role", "team") if name in changed
        ]
        if changed:
            for name in changed:
                setattr(user, name, wanted[name])
            user.save(update_fields=changed)
            _record(user=user, created=False, changed=changed, details=details)
        return user


class OIDCBackend(OIDCAuthenticationBackend):
    """mozilla-django-oidc's backend with our user matching and rules (oidc_user_sign_in). Listed after
    the lockout and password backends when single sign-on is configured; it answers only the callback
    (a request with `code` and `state`)."""

    def authenticate(self, request, **kwargs):
        if not oidc_enabled():
            return None
        return super().authenticate(request, **kwargs)

    def verify_token(self, token, **kwargs):
        """The library checks the signature and the nonce; OpenID Connect Core 3.1.3.7 also asks that
        the token be meant for us (`aud`) and not expired (`exp`)."""
        payload = super().verify_token(token, **kwargs)
        audience = _as_list(payload.get("aud"))
        if self.OIDC_RP_CLIENT_ID not in audience:
            raise SuspiciousOperation("The ID token is not meant for this client (aud).")
        expires = payload.get("exp")
        if not isinstance(expires, int | float) or expires + CLOCK_SKEW_SECONDS < time.time():
            raise SuspiciousOperation("The ID token has expired (exp).")
        return payload

    def get_or_create_user(self, access_token, id_token, payload):
        user_info = self.get_userinfo(access_token, id_token, payload)
        subject = payload.get("sub")
        if not subject or user_info.get("sub", subject) != subject:
            # OpenID Connect Core 5.3.2: the UserInfo answer is about the ID token's subject, or ignored.
            raise SuspiciousOperation("The UserInfo subject differs from the ID token's.")
        user = oidc_user_sign_in(request=self.request, subject=subject, claims={**payload, **user_info})
        amr = set(_as_list(payload.get("amr")))
        user.second_factor_at_provider = bool(settings.OIDC_TRUSTS_IDP_MFA and amr & MFA_METHODS)
        return user


class AuthenticateView(OIDCAuthenticationRequestView):
    """/oidc/authenticate/: sends the browser to the provider (404 while single sign-on is off)."""

    def dispatch(self, request, *args, **kwargs):
        if not oidc_enabled():
            raise Http404
        return super().dispatch(request, *args, **kwargs)


class CallbackView(OIDCAuthenticationCallbackView):
    """/oidc/callback/: the provider sends the browser back here (404 while single sign-on is off). A
    refusal or a failure goes back to the sign-in page with a message; a lockout gets the lockout page."""

    def dispatch(self, request, *args, **kwargs):
        if not oidc_enabled():
            raise Http404
        try:
            return super().dispatch(request, *args, **kwargs)
        except SignInRefused as refusal:
            if is_locked_out(request):
                return lockout_response(request)
            messages.error(request, refusal.message)
            return HttpResponseRedirect(resolve_url(settings.LOGIN_URL))
        except requests.RequestException:
            log.exception("single sign-on: the provider could not be reached or refused the code")
            messages.error(request, gettext("The sign-in provider could not be reached. Try again later."))
            return HttpResponseRedirect(resolve_url(settings.LOGIN_URL))

    def login_failure(self):
        if is_locked_out(self.request):  # the lockout backend refused this address before the provider
            return lockout_response(self.request)
        messages.error(
            self.request,
            gettext("Signing in with %(provider)s did not complete.") % {"provider": provider_name()},
        )
        return HttpResponseRedirect(resolve_url(settings.LOGIN_URL))

    def login_success(self):
        response = super().login_success()
        session = self.request.session
        if getattr(self.user, "second_factor_at_provider", False):
            session[TwoFactorMiddleware.PROVIDER_VERIFIED_SESSION_KEY] = True
            # The sign-in is complete: the failures counted on this username end (as after a code).
            AxesProxyHandler.reset_attempts(username=self.user.get_username())
        else:
            session.pop(TwoFactorMiddleware.PROVIDER_VERIFIED_SESSION_KEY, None)
        return response
