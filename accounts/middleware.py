import time
from urllib.parse import urlencode, urlsplit

from csp.constants import SELF
from csp.middleware import CSPMiddleware
from django.conf import settings
from django.contrib import messages
from django.contrib.auth import logout
from django.contrib.auth.views import redirect_to_login
from django.http import HttpResponse, HttpResponseRedirect, JsonResponse
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.translation import gettext, ngettext

from accounts.two_factor import authenticator_of, two_factor_required

# Mounted by config/urls.py: the REST API (api/) and automation's nightly runs (api/v1/).
API_PATH_PREFIX = "/api/"
PERMISSIONS_POLICY = ", ".join(
    f"{feature}=()"
    for feature in (
        "accelerometer",
        "autoplay",
        "camera",
        "display-capture",
        "geolocation",
        "gyroscope",
        "magnetometer",
        "microphone",
        "midi",
        "payment",
        "screen-wake-lock",
        "serial",
        "usb",
        "xr-spatial-tracking",
    )
)


class UserPreferencesMiddleware:
    """Shows each signed-in user the app in their own language and time zone (from their profile).
    Anonymous pages keep the language negotiated by LocaleMiddleware (cookie, then Accept-Language)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated:
            translation.activate(user.language)
            request.LANGUAGE_CODE = translation.get_language()
            # Every time on a page is in the viewer's zone (their own, else the bank's); times on the
            # cardholder's clock (the policy panel, callbacks) are converted explicitly (LocalClock).
            timezone.activate(user.zone)
        else:
            timezone.deactivate()
        response = self.get_response(request)
        response.headers.setdefault("Content-Language", translation.get_language())
        return response


class MalformedSessionCookieMiddleware:
    """Drops a session cookie that cannot be a session key (NUL bytes and the like) before the session
    store queries the database with it: such a cookie would turn every page into a server error."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        key = request.COOKIES.get(settings.SESSION_COOKIE_NAME)
        if key is not None and not (key.isascii() and key.isalnum() and len(key) <= 40):
            del request.COOKIES[settings.SESSION_COOKIE_NAME]
        return self.get_response(request)


class ContentSecurityPolicyMiddleware(CSPMiddleware):
    """django-csp's middleware, with one rule of ours: a page may be framed by our own pages only when
    its view allows same-origin framing with Django's `xframe_options_sameorigin` (the escalation rule
    preview). Everything else keeps `frame-ancestors 'none'`, the CSP twin of X_FRAME_OPTIONS = DENY,
    which browsers ignore once a CSP names frame-ancestors."""

    def get_policy_parts(self, request, response, report_only=False):
        parts = super().get_policy_parts(request, response, report_only)
        if response.get("X-Frame-Options", "").upper() == "SAMEORIGIN":
            parts.replace = {**(parts.replace or {}), "frame-ancestors": [SELF]}
        return parts


class PrivateResponseMiddleware:
    """Keeps personal data out of caches: `Cache-Control: no-store` on every response to a signed-in
    user and on every API response (token clients are not signed in to Django). Static files never
    reach it (WhiteNoise answers them earlier in MIDDLEWARE) and stay cacheable. Also sends the
    Permissions-Policy, which Django has no setting for: the app uses no camera, microphone, location,
    payment or other powerful browser feature, so none is allowed to any frame."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        user = getattr(request, "user", None)
        signed_in = user is not None and user.is_authenticated
        if signed_in or request.path_info.startswith(API_PATH_PREFIX):
            response.headers["Cache-Control"] = "no-store"
        response.headers.setdefault("Permissions-Policy", PERMISSIONS_POLICY)
        return response


class IdleTimeoutMiddleware:
    """Signs a user out after settings.IDLE_TIMEOUT_MINUTES[role] minutes without a request (0 or a role
    not listed: no idle limit beyond the session's own age).

    The time of the last request is kept in the session only, and written at most once a minute
    (ACTIVITY_WRITE_SECONDS), so an active user costs one session write a minute, not one per request;
    the limit is therefore kept to within that minute. Requests a page makes by itself (the case page
    renewing its lease every few minutes, IDLE_TIMEOUT_BACKGROUND_URL_NAMES) do not count as activity,
    so a page left open still times out. A page request past the limit is sent to the sign-in page with
    a message; an HTMX request gets 401 with HX-Redirect, which htmx follows, so no fragment is swapped
    in. Needs the session, authentication and messages middleware before it."""

    SESSION_KEY = "_last_activity"
    ACTIVITY_WRITE_SECONDS = 60

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_view(self, request, view_func, view_args, view_kwargs):
        user = getattr(request, "user", None)
        if user is None or not user.is_authenticated:
            return None
        minutes = settings.IDLE_TIMEOUT_MINUTES.get(user.role, 0)
        if minutes <= 0:
            return None
        now = int(time.time())
        last = request.session.get(self.SESSION_KEY)
        if isinstance(last, int) and now - last > minutes * 60:
            return self._signed_out(request, minutes)
        match = request.resolver_match
        if match is not None and match.url_name in settings.IDLE_TIMEOUT_BACKGROUND_URL_NAMES:
            return None
        if not isinstance(last, int) or now - last >= self.ACTIVITY_WRITE_SECONDS:
            request.session[self.SESSION_KEY] = now
        return None

    def _signed_out(self, request, minutes: int):
        if request.headers.get("HX-Request") == "true":
            current = urlsplit(request.headers.get("HX-Current-URL", ""))
            back = current.path + (f"?{current.query}" if current.query else "") if current.path else "/"
        else:
            back = request.get_full_path() if request.method == "GET" else "/"
        logout(request)
        messages.info(
            request,
            ngettext(
                "You were signed out after %(minutes)s minute without activity.",
                "You were signed out after %(minutes)s minutes without activity.",
                minutes,
            )
            % {"minutes": minutes},
        )
        response = redirect_to_login(back)
        if request.headers.get("HX-Request") == "true":
            answer = HttpResponse(status=401)
            answer["HX-Redirect"] = response["Location"]
            return answer
        return response


class TwoFactorMiddleware:
    """Until a user who must give a second factor (accounts.two_factor.two_factor_required) has given it
    in this session (django_otp's OTPMiddleware: `user.is_verified()`), they reach the second-factor
    pages, logout and the language switch only. Pages send them to the code page, or to the set-up page
    if they have no authenticator yet, and come back afterwards (`next`); an HTMX request gets 401 with
    HX-Redirect (as IdleTimeoutMiddleware); the API, reached with this half-open session, answers 403
    in its error envelope. Token clients are not signed in to Django and are not seen here: the token
    endpoint asks for the code itself (api.views.auth). Needs OTPMiddleware before it.

    A single sign-on whose provider asked a second factor itself marks the session instead
    (PROVIDER_VERIFIED_SESSION_KEY, set by accounts.oidc), honoured while OIDC_TRUSTS_IDP_MFA is on."""

    ALLOWED_VIEW_NAMES = {"two_factor_verify", "two_factor_enrol", "logout", "set_language"}
    PROVIDER_VERIFIED_SESSION_KEY = "_second_factor_at_provider"

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_view(self, request, view_func, view_args, view_kwargs):
        user = getattr(request, "user", None)
        if user is None or not two_factor_required(user) or user.is_verified():
            return None
        if settings.OIDC_TRUSTS_IDP_MFA and request.session.get(self.PROVIDER_VERIFIED_SESSION_KEY):
            return None
        match = request.resolver_match
        if match is not None and match.view_name in self.ALLOWED_VIEW_NAMES:
            return None
        if request.path_info.startswith(API_PATH_PREFIX):
            message = gettext("Give the code from your authenticator app first.")
            body = {"code": "otp_required", "rule": "otp_required", "message": message, "details": {}}
            return JsonResponse(body, status=403)
        page = "two_factor_verify" if authenticator_of(user) is not None else "two_factor_enrol"
        if request.headers.get("HX-Request") == "true":
            current = urlsplit(request.headers.get("HX-Current-URL", ""))
            back = current.path + (f"?{current.query}" if current.query else "") if current.path else "/"
        else:
            back = request.get_full_path() if request.method == "GET" else "/"
        target = f"{reverse(page)}?{urlencode({'next': back})}"
        if request.headers.get("HX-Request") == "true":
            answer = HttpResponse(status=401)
            answer["HX-Redirect"] = target
            return answer
        return HttpResponseRedirect(target)
