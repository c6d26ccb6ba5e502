"""API tokens (django-rest-knox): issuing one, within REST_KNOX["TOKEN_LIMIT_PER_USER"] live tokens a
user may hold. Tokens are stored hashed and expire after REST_KNOX["TOKEN_TTL"]; logout revokes them."""

from __future__ import annotations

from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _
from knox.models import AuthToken
from knox.settings import knox_settings

from core.exceptions import NotAllowed


def token_issue(*, user) -> tuple[AuthToken, str]:
    """A new token for an authenticated, active `user`: the stored row and the token itself (shown to
    the caller once, never stored in clear). Refused (NotAllowed, rule token_limit) when the user holds
    the most live tokens allowed."""
    limit = knox_settings.TOKEN_LIMIT_PER_USER
    if limit is not None:
        live = AuthToken.objects.filter(user=user).filter(
            Q(expiry__gt=timezone.now()) | Q(expiry__isnull=True)
        )
        if live.count() >= limit:
            raise NotAllowed(
                _("You hold %(limit)s live tokens already; log out of one first.") % {"limit": limit},
                rule="token_limit",
            )
    return AuthToken.objects.create(user=user, expiry=knox_settings.TOKEN_TTL)
