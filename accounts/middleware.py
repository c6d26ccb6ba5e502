from django.conf import settings
from django.utils import timezone, translation


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
