"""Operations on staff users."""

from __future__ import annotations

import logging
from importlib import import_module

from django.conf import settings
from django.contrib.auth import SESSION_KEY
from django.utils import timezone
from knox.models import AuthToken

from accounts.models import User

log = logging.getLogger(__name__)


def user_access_revoke(*, user: User) -> tuple[int, int]:
    """Ends every session of `user` and deletes every API token they hold; returns how many of each.

    Called (accounts.signals) when a user's password is set or made unusable, or the user is deactivated:
    whoever held their old password or a stolen session or token is out at their next request. The person
    who changes their own password keeps the page they are on: Django's password views call
    update_session_auth_hash() afterwards, which saves that session again under a new key.

    Sessions are found by reading the stored ones (database-backed session engines only): there is no
    index from user to sessions, and this runs on a password change or a deactivation, not per request.
    With another engine (cache, signed cookies) the sessions end anyway, at their next request, through
    Django's session auth hash (password) or ModelBackend refusing an inactive user."""
    engine = import_module(settings.SESSION_ENGINE)
    store_class = engine.SessionStore
    ended = 0
    if hasattr(store_class, "get_model_class"):
        model = store_class.get_model_class()
        store = store_class()
        owner = str(user.pk)
        live = model.objects.filter(expire_date__gt=timezone.now()).only("session_key", "session_data")
        keys = [
            row.session_key for row in live if str(store.decode(row.session_data).get(SESSION_KEY)) == owner
        ]
        for key in keys:
            store_class(session_key=key).delete()  # through the store: cached_db forgets its copy too
        ended = len(keys)
    revoked, _ = AuthToken.objects.filter(user=user).delete()
    log.info("access revoked for user %s: %s sessions ended, %s API tokens deleted", user.pk, ended, revoked)
    return ended, revoked
