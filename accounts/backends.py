from axes.backends import AxesStandaloneBackend


class LockoutBackend(AxesStandaloneBackend):
    """django-axes' lockout check, first in AUTHENTICATION_BACKENDS: a locked-out client is refused before
    any password is checked (accounts.lockout). It signs nobody in; ModelBackend, after it, does.

    A call without a request (the shell, Django's test client's login()) comes from no client address and
    is let through to the password check instead of failing: every sign-in over the network passes its
    request, and tests/accounts/test_lockout.py locks out each of them (page, admin, API token)."""

    def authenticate(self, request, username=None, password=None, **kwargs):
        if request is None:
            return None
        return super().authenticate(request, username=username, password=password, **kwargs)
