"""Receivers connected in AccountsConfig.ready().

The password and the active flag are changed by Django's own code as well as ours (the admin's user form
and set-password page, the changepassword command), none of which calls a service of this project: a
check on save is the one place that sees every path, and it calls the one service that ends a user's
access (accounts.services.user_access_revoke) in the same transaction as the change."""

from __future__ import annotations

import time

from axes.handlers.proxy import AxesProxyHandler
from django.contrib.auth.signals import user_logged_in
from django.db.models.signals import post_save, pre_save
from django.dispatch import receiver

from accounts.middleware import IdleTimeoutMiddleware
from accounts.models import User
from accounts.services import user_access_revoke
from accounts.two_factor import two_factor_required


def _saves(update_fields, name: str) -> bool:
    return update_fields is None or name in update_fields


@receiver(pre_save, sender=User, dispatch_uid="accounts.access_change_noted")
def access_change_noted(sender, instance: User, raw=False, update_fields=None, **kwargs) -> None:
    """Notes on the instance whether this save ends the user's access: a password set through
    set_password() (not a hash upgrade at sign-in, which Django marks by clearing `_password`), a password
    made unusable, or a deactivation. The database is asked only when the instance is inactive or has no
    usable password, so ordinary saves cost nothing."""
    instance._access_revoke = False
    if raw or instance._state.adding or instance.pk is None:
        return  # a new user holds no session or token yet; fixtures load as they are
    if instance._password is not None and _saves(update_fields, "password"):
        instance._access_revoke = True
        return
    deactivating = not instance.is_active and _saves(update_fields, "is_active")
    unusable = not instance.has_usable_password() and _saves(update_fields, "password")
    if deactivating or unusable:
        before = User.objects.filter(pk=instance.pk).values("is_active", "password").first()
        if before is None:
            return
        instance._access_revoke = (deactivating and before["is_active"]) or (
            unusable and before["password"] != instance.password
        )


@receiver(post_save, sender=User, dispatch_uid="accounts.access_revoked_on_change")
def access_revoked_on_change(sender, instance: User, created=False, raw=False, **kwargs) -> None:
    if getattr(instance, "_access_revoke", False):
        instance._access_revoke = False
        user_access_revoke(user=instance)


@receiver(user_logged_in, dispatch_uid="accounts.failures_cleared_on_sign_in")
def failures_cleared_on_sign_in(sender, request, user, **kwargs) -> None:
    """A successful sign-in clears the failed attempts made on this username (the count is of failures in a
    row). Not axes' AXES_RESET_ON_SUCCESS: that also clears every failure from the signing-in address, so
    a colleague could guess at someone else's password from their desk and wipe the count by signing in
    as themselves between guesses. A user who must still give a second factor is cleared only once it is
    given (accounts.two_factor.second_factor_passed): the password alone must not wipe the count of
    wrong codes."""
    if two_factor_required(user):
        return
    AxesProxyHandler.reset_attempts(username=user.get_username())


@receiver(user_logged_in, dispatch_uid="accounts.activity_starts_at_sign_in")
def activity_starts_at_sign_in(sender, request, user, **kwargs) -> None:
    """The idle clock starts at sign-in (saved with the new session), so the first pages after it write
    nothing more to the session."""
    if request is not None and hasattr(request, "session"):
        request.session[IdleTimeoutMiddleware.SESSION_KEY] = int(time.time())
